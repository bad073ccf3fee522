// The container's init, child side: everything between clone and execve.
//
// The parent builds an InitPlan before clone: every path, mount argument,
// environment string, PATH candidate and the seccomp program is prepared
// there, so the child only walks the plan, calls Sys and touches
// preallocated memory (no allocation, no logging: the parent may have had
// threads, and Sys calls are the only async-signal-safe work the child does).
//
// The child:
//   1. sets PR_SET_PDEATHSIG(SIGKILL), so a crashed runtime takes its
//      container with it (gc then finds nothing running);
//   2. reads the command from the command pipe until EOF (as in the series:
//      the parent writes it after the cgroup attach, which also makes this
//      the "go" signal); an empty command means "abort";
//   3. runs the rootfs steps: make / rprivate, bind the merged dir onto
//      itself and open it (O_PATH): the container root. From there on every
//      container path (volume targets and their parents, /dev, /proc, /sys,
//      masked and read-only paths) is resolved inside that root
//      (runtime/sys/confined.h: openat2 RESOLVE_IN_ROOT, never a symlink
//      out of it) and every mount is made onto the resolved fd with the new
//      mount API (open_tree / fsopen+fsmount, then move_mount with
//      MOVE_MOUNT_T_EMPTY_PATH): volumes; a minimal /dev (a fresh tmpfs,
//      populated through its own fd: null zero full random urandom tty, pts,
//      ptmx, shm, console); /proc; /sys (read-only); docker's masked and
//      read-only paths; then fchdir(root), pivot_root(".", "."), detach the
//      old root, sethostname;
//   4. with a console (-t): setsid, the pty slave as controlling terminal
//      (TIOCSCTTY) and as fds 0, 1 and 2;
//   5. hardening (hardening.h): no_new_privs, the capability sets (bounding,
//      ambient, then capset), every fd from 3 up marked close-on-exec
//      (close_range), the seccomp filter last (first when no_new_privs is
//      off: loading it then needs CAP_SYS_ADMIN, which capset drops);
//   6. execs the command, trying each PATH candidate.
// On failure it writes InitReport{step index, errno} to the report pipe
// (close-on-exec: EOF there means the exec succeeded) and exits with 125,
// 126 (cannot execute) or 127 (not found), as docker does.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/sys/confined.h"
#include "runtime/sys/sys.h"
#include "runtime/util/error.h"

namespace mydocker {

enum class InitStepKind : uint8_t {
  kMount,        // mount(2) of host paths (rprivate, the rootfs bind)
  kOpenRoot,     // fds[out] = open(path, O_PATH | O_DIRECTORY | O_NOFOLLOW)
  kMkdirInRoot,  // fds[out] = MkdirAllInRoot(fds[kSlotRoot], target)
  kOpenInRoot,   // fds[out] = OpenInRoot(fds[kSlotRoot], target, open_flags);
                 // optional: a missing path leaves fds[out] = -1 and the
                 // steps on that slot up to its kClose are skipped
  kOpenAt,       // fds[out] = openat(fds[in], path, open_flags | O_NOFOLLOW)
  kOpenTree,     // fds[out] = open_tree(fds[in] or AT_FDCWD, path, tree_flags)
  kNewMount,     // fsopen(fstype), fsconfig(config...), create; fds[out] =
                 // fsmount(attr)
  kSetattr,      // mount_setattr(fds[in], "", AT_EMPTY_PATH | tree_flags, setattr)
  kMoveMount,    // move_mount(fds[in], "", fds[out], "", F/T_EMPTY_PATH)
  kMask,         // fds[in] masked: a directory gets the kNewMount of this
                 // step (a read-only tmpfs), a file the container's /dev/null
  kMkdirAt,      // mkdirat(fds[in], path, mode); EEXIST is fine
  kMknodAt,      // mknodat(fds[in], path, mode, dev)
  kFchmodAt,     // fchmodat(fds[in], path, mode)
  kSymlinkAt,    // symlinkat(path, fds[in], path2)
  kClose,        // close(fds[in])
  kFchdir,       // fchdir(fds[in])
  kChdir,
  kPivotRoot,
  kUmount2,
  kSethostname,
};

// The child's fd registers (InitPlan::fds).
constexpr int kSlotRoot = 0;    // the container root (O_PATH of merged)
constexpr int kSlotDev = 1;     // the root of the container's /dev tmpfs
constexpr int kSlotTarget = 2;  // a resolved mount point
constexpr int kSlotSource = 3;  // a detached mount to move there
constexpr int kSlots = 4;

struct InitStep {
  InitStepKind kind = InitStepKind::kMount;
  std::string name;  // "pivot_root", "mount /proc", ...: used in the error
  MountArgs mount;   // kMount
  std::string path;  // the path the step acts on, as errors show it
  std::string path2; // kSymlinkAt: link name; kPivotRoot: put_old
  ConfinedPath target;  // kMkdirInRoot, kOpenInRoot
  mode_t mode = 0;
  dev_t dev = 0;
  int flags = 0;        // kUmount2
  int open_flags = 0;   // kOpenInRoot, kOpenAt
  unsigned int tree_flags = 0;  // kOpenTree, kSetattr
  int8_t in = -1, out = -1;     // fd slots
  bool optional = false;        // kOpenInRoot
  std::string fstype;           // kNewMount, kMask
  std::vector<FsconfigArgs> config;  // kNewMount, kMask (fd set by the child)
  unsigned int attr = 0;        // kNewMount, kMask: fsmount's MOUNT_ATTR_*
  MountAttr setattr;            // kSetattr
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

// The rootfs steps for spec (pure; unit-tested). Fails (EINVAL) for a
// container path with "..".
Expected<std::vector<InitStep>> BuildRootfsSteps(const RootfsSpec& spec);

// Step indices reported beyond the rootfs steps.
constexpr int32_t kStepReadCommand = -1;
constexpr int32_t kStepExec = -2;
constexpr int32_t kStepStdio = -3;
constexpr int32_t kStepPdeathsig = -4;
constexpr int32_t kStepConsole = -5;  // setsid, TIOCSCTTY or dup2 of the pty slave
constexpr int32_t kStepNoNewPrivs = -6;
constexpr int32_t kStepCaps = -7;      // bounding set, ambient set or capset
constexpr int32_t kStepCloseFds = -8;  // close_range(3, ~0, CLOEXEC)
constexpr int32_t kStepSeccomp = -9;
constexpr int32_t kStepSetns = -10;      // exec: setns into the container
constexpr int32_t kStepExecClone = -11;  // exec: clone of the process in its pid ns

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
  int stdout_fd = -1;             // dup'ed onto 1 when >= 0 (run -d: the log)
  int stderr_fd = -1;             // dup'ed onto 2 when >= 0
  int console_fd = -1;            // -t: the pty slave, made the controlling
                                  // terminal and dup'ed onto 0, 1, 2
  std::vector<int> close_fds;     // parent-side fds the child must close

  // Hardening (hardening.h).
  bool no_new_privs = true;
  bool drop_caps = true;          // false: keep every capability (tests)
  uint64_t caps = 0;              // bounding = effective = permitted
  SeccompBpf seccomp;             // empty: unconfined

  // Preallocated in the parent, used by the child.
  std::vector<char> command_buf;  // NUL-separated argv read from the pipe
  std::vector<char*> argv;        // pointers into command_buf
  std::vector<char*> envp;        // pointers into env
  std::vector<char> exec_path;    // PATH candidate being tried
  int fds[kSlots] = {-1, -1, -1, -1};  // the steps' fd slots
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
