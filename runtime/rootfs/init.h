// The container's init, child side: everything between clone and execve.
//
// The parent builds an InitPlan before clone: every path, mount argument,
// environment string and PATH candidate is prepared there, so the child only
// walks the plan, calls Sys and touches preallocated memory (no allocation,
// no logging: the parent may have had threads, and Sys calls are the only
// async-signal-safe work the child does).
//
// The child:
//   1. sets PR_SET_PDEATHSIG(SIGKILL), so a crashed runtime takes its
//      container with it (gc then finds nothing running);
//   2. reads the command from the command pipe until EOF (as in the series:
//      the parent writes it after the cgroup attach, which also makes this
//      the "go" signal); an empty command means "abort";
//   3. runs the rootfs steps: make / rprivate, bind the merged dir onto
//      itself, volumes, a minimal /dev (tmpfs: null zero full random urandom
//      tty, pts, ptmx, shm, console), pivot_root(".", "."), detach the old
//      root, /proc, /sys, sethostname;
//   4. with a console (-t): setsid, the pty slave as controlling terminal
//      (TIOCSCTTY) and as fds 0, 1 and 2;
//   5. execs the command, trying each PATH candidate.
// On failure it writes InitReport{step index, errno} to the report pipe
// (close-on-exec: EOF there means the exec succeeded) and exits with 125,
// 126 (cannot execute) or 127 (not found), as docker does.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/sys/sys.h"

namespace mydocker {

enum class InitStepKind : uint8_t {
  kMount,
  kMkdir,   // EEXIST is fine
  kMknod,
  kChmod,
  kSymlink,
  kChdir,
  kPivotRoot,
  kUmount2,
  kSethostname,
};

struct InitStep {
  InitStepKind kind = InitStepKind::kMount;
  std::string name;  // "pivot_root", "mount /proc", ...: used in the error
  MountArgs mount;   // kMount
  std::string path;  // the path the step acts on (target, new root, ...)
  std::string path2; // kSymlink: link path; kPivotRoot: put_old
  mode_t mode = 0;
  dev_t dev = 0;
  int flags = 0;     // kUmount2
};

struct Volume {
  std::string host;
  std::string container;
  bool read_only = false;
};

struct RootfsSpec {
  std::string merged;      // the workspace's merged dir, absolute
  std::string hostname;
  std::vector<Volume> volumes;
  std::string console;     // host pty slave path for -t; "" for none
};

// The rootfs steps for spec (pure; unit-tested).
std::vector<InitStep> BuildRootfsSteps(const RootfsSpec& spec);

// Step indices reported beyond the rootfs steps.
constexpr int32_t kStepReadCommand = -1;
constexpr int32_t kStepExec = -2;
constexpr int32_t kStepStdio = -3;
constexpr int32_t kStepPdeathsig = -4;
constexpr int32_t kStepConsole = -5;  // setsid, TIOCSCTTY or dup2 of the pty slave

struct InitReport {
  int32_t step = 0;  // index into steps, or one of kStep*
  int32_t err = 0;
};

struct InitPlan {
  std::vector<InitStep> steps;
  std::vector<std::string> env;   // KEY=VAL, the container's environment
  std::string path_dirs;          // PATH of the container, ':'-separated
  int command_fd = -1;            // read end of the command pipe
  int report_fd = -1;             // write end of the report pipe (CLOEXEC)
  int stdin_fd = -1;              // dup'ed onto 0 when >= 0
  int console_fd = -1;            // -t: the pty slave, made the controlling
                                  // terminal and dup'ed onto 0, 1, 2
  std::vector<int> close_fds;     // parent-side fds the child must close

  // Preallocated in the parent, used by the child.
  std::vector<char> command_buf;  // NUL-separated argv read from the pipe
  std::vector<char*> argv;        // pointers into command_buf
  std::vector<char*> envp;        // pointers into env
  std::vector<char> exec_path;    // PATH candidate being tried
};

// Prepares the preallocated buffers for a command of command_bytes (as
// EncodeCommand makes it); call in the parent before clone.
void PrepareInitPlan(InitPlan* plan, size_t command_bytes);

// The child's body (run by Sys::Clone). Returns the exit code on failure;
// does not return when exec succeeds.
int RunInit(Sys& sys, InitPlan& plan);

// Serializes argv for the command pipe: NUL after each argument.
std::string EncodeCommand(const std::vector<std::string>& argv);

}  // namespace mydocker
