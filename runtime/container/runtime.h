// Runtime: one mydocker run, end to end, and the commands around it (ps,
// logs, exec, stop, rm, gc). Every kernel call goes through the Sys given to
// the constructor.
//
// Where things live: images under config.root (on the disk); each container's
// directory (state.json and its workspace: init layer, write layer, overlay)
// under <state root>/containers/<id>/, the state root being config.state_root
// or, when that is empty, config.root. A state root on a tmpfs (as runc's
// /run/runc) keeps the per-run writes off the disk.
//
// Run, in order (each step undone in reverse when a later one fails):
//   0. the store lock (<state root>/containers.lock): the image is looked
//      up, the name checked and step 1 done under it; released after 1
//   1. <state root>/containers/<id>/, its lock (held until Run returns:
//      rm and gc leave a container alone while its run lives) and
//      state.json ("creating"), written durably
//   2. the workspace (init layer, write layer, overlay mount)
//   3. the cgroup with its limits
//   4. pipes; clone(NEWNS|NEWUTS|NEWPID|NEWIPC|NEWNET) running RunInit
//   5. cgroup attach of the child; state "running"; the command written to
//      the command pipe (the child's go signal)
//   6. the report pipe: EOF = exec succeeded; else {step, errno}
//   7. with -t, the console relay (console.h) until the container's side of
//      the pty is closed; waitpid; then teardown: cgroup, workspace, the
//      container directory.
//
// Detached runs (RunSpec::detach, `mydocker run -d`): the caller clones an
// intermediate process that clones the monitor, relays its start report to
// the caller and exits (the monitor is then nobody's child but init's or a
// subreaper's: the container outlives the caller). A report that cannot be
// written comes back as the writer's exit status (the errno). The monitor makes its own session, points its fds 0-2 at
// /dev/null (it never holds the caller's terminal or pipes) and does steps
// 0-6 above itself, with the container's stdout and stderr going to
// <container dir>/stdout.log and stderr.log; it holds the container's lock
// for its whole life. Once the command is exec'd (or failed to start) it
// reports to the caller over a pipe, and Run returns. The monitor then
// waits for the init, records status "exited" and the exit code in
// state.json, tears down the cgroup and the workspace, keeps the container
// directory (state and logs) until `rm`, and exits. The init's
// PR_SET_PDEATHSIG ties it to the monitor: a monitor that dies (a crash)
// takes its container with it, and gc removes the rest.
//
// -t: a pty pair is opened on the host before clone; its slave is the
// container's controlling terminal, fds 0-2 and /dev/console. With -i the
// caller's stdin is relayed to it (the caller's terminal in raw mode, if it
// is one, restored on every path); its output goes to the caller's stdout.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "runtime/cgroups/cgroups.h"
#include "runtime/container/state.h"
#include "runtime/image/image_store.h"
#include "runtime/rootfs/hardening.h"
#include "runtime/rootfs/init.h"
#include "runtime/sys/fs_util.h"
#include "runtime/sys/sys.h"
#include "runtime/util/error.h"
#include "runtime/workspace/workspace.h"

namespace mydocker {

// docker's exit codes for failures of the runtime itself.
constexpr int kExitRuntimeError = 125;
constexpr int kExitCannotExecute = 126;
constexpr int kExitNotFound = 127;

constexpr int kContainerCloneFlags =
    0x00020000 /*CLONE_NEWNS*/ | 0x04000000 /*CLONE_NEWUTS*/ |
    0x20000000 /*CLONE_NEWPID*/ | 0x08000000 /*CLONE_NEWIPC*/ |
    0x40000000 /*CLONE_NEWNET*/;

struct RunSpec {
  std::string image;
  // Empty: the image config's Entrypoint + Cmd; else Entrypoint + argv
  // (docker's). The image's Env is the base -e overrides; its WorkingDir
  // the init's cwd.
  std::vector<std::string> argv;
  std::vector<std::string> env;  // extra KEY=VAL (-e), after the inherited env
  bool interactive = false;      // -i: keep stdin
  bool tty = false;              // -t: a pty is the console (console.h)
  std::string name;              // default: the id
  std::string hostname;          // default: the id
  CgroupLimits limits;
  std::vector<Volume> volumes;
  MountApi mount_api = MountApi::kAuto;
  SecuritySpec security;         // --cap-add, --cap-drop, --security-opt
  // -d: Run returns once the command is exec'd (RunResult::id names the
  // container, exit_code 0) or failed to start (an Error, or 126/127 with
  // a message, as attached); a monitor process keeps the container (see
  // the top of this file). Not with interactive or tty (EINVAL).
  bool detach = false;
};

// `mydocker exec NAME CMD...`: a process in a running container's
// namespaces (mnt, uts, ipc, net, pid) and cgroup, with the container's
// hardening (the capability set, no_new_privs and seccomp filter its run
// recorded), cwd "/" of the container.
struct ExecSpec {
  std::vector<std::string> argv;
  std::vector<std::string> env;  // extra KEY=VAL (-e), after the inherited env
  bool interactive = false;      // -i: the caller's stdin; else /dev/null
  // The command's stdout and stderr; -1: the caller's fds 1 and 2.
  int stdout_fd = -1;
  int stderr_fd = -1;
};

struct ExecResult {
  int exit_code = 0;    // the command's status (128+signal when killed),
                        // 126 cannot execute, 127 not found
  std::string message;  // set for 126/127
  int err = 0;          // 126/127: the errno of the last execve
};

// A detached container's output (its log files), whole.
struct ContainerLogs {
  std::string out;  // <container dir>/stdout.log
  std::string err;  // <container dir>/stderr.log
};

struct RuntimeConfig {
  std::string root = "/var/lib/mydocker";  // images (and containers by default)
  // Containers' state and workspaces; empty: root. ps, rm and gc must be
  // given the state root the runs had.
  std::string state_root;
  std::string cgroup_parent = "mydocker";
  std::vector<std::string> inherited_env;  // passed through to the container
  // Returns a fresh 12-hex-digit id; default reads /dev/urandom via Sys.
  std::function<std::string()> new_id;
  // Called once the container is running, with its state (tests, probes).
  std::function<void(const ContainerState&)> on_running;
  // How long `rm -f` and `stop` wait for a run that holds its container's
  // lock to let go once its processes are killed (polled every 5 ms); 0:
  // not at all, the lock's EWOULDBLOCK is the answer (a harness whose runs
  // cannot go on while rm waits: FakeKernel's two-actor sweep).
  int rm_wait_ms = 10000;
};

struct RunResult {
  std::string id;
  int exit_code = 0;     // the command's status (128+signal when killed)
  std::string message;   // set when the failure is the runtime's (125/126/127)
};

struct GcReport {
  std::vector<std::string> removed;  // ids cleaned up
  std::vector<std::string> skipped;  // ids still running (their lock is held)
  std::vector<std::string> kept;     // detached containers that exited: their
                                     // state and logs stay until `rm`
  std::vector<Error> errors;
};

// What ps shows for s: "running" (its init is alive, as the recorded start
// time says), "exited (N)" (a detached run that ended; "exited (?)" when
// its monitor could not learn the code), "creating", "stopped", or "dead"
// (recorded running, the init gone: its run or monitor died; gc removes it).
std::string StatusText(Sys& sys, const ContainerState& s);

// Parses "-v /host:/container[:ro]"; errors name the flag value.
Expected<Volume> ParseVolume(const std::string& text);
// Parses "KEY=VAL" (-e); "KEY" alone takes the value from env.
Expected<std::string> ParseEnv(const std::string& text,
                               const std::vector<std::string>& env);

// Runtime::Cleanup's options: keep_dir, the cgroup and the workspace only
// (a detached container that exited keeps its state and logs); lock_store,
// the container's directory is removed under the store lock (its run, which
// does not hold it: from the first entry removed, its lock file among them,
// until the directory is gone, gc, rm and image rm would take the container
// for one whose run died); not set: the caller holds it (gc, rm, a run
// failing before it let go of it).
struct CleanupHow {
  bool keep_dir = false;
  bool lock_store = false;
};

class Runtime {
 public:
  Runtime(Sys& sys, RuntimeConfig config);

  // Runs spec to completion. A runtime failure (before the command runs)
  // is an Error; the caller exits 125. A command that cannot be found or
  // executed gives a RunResult with 127 / 126 and a message.
  // With spec.detach, returns once the command started (see RunSpec). On
  // a backend that runs clone children in-process (FakeKernel), the
  // monitor runs on inside later calls: the Sys given to this Runtime must
  // outlive the container (until it is stopped or removed).
  Expected<RunResult> Run(const RunSpec& spec);

  Expected<std::vector<ContainerState>> List();
  // The container's stdout and stderr (detached runs; an attached run's
  // go to the caller and are not kept: both empty). ENOENT: no such
  // container.
  Expected<ContainerLogs> Logs(const std::string& name_or_id);
  // Runs spec.argv in the running container name_or_id (see ExecSpec) and
  // waits for it. Errors: ENOENT no such container, ESRCH it is not
  // running (the caller exits 125); 126/127 in the ExecResult as for run.
  Expected<ExecResult> Exec(const std::string& name_or_id, const ExecSpec& spec);
  // docker stop: SIGTERM to the container's init; after timeout_seconds
  // (0: at once) SIGKILL to every member of its cgroup; then waits for its
  // monitor (or attached run) to record the end and tear down (it takes the
  // container's lock once they let go). A container whose monitor died is
  // torn down here, under its lock, and recorded "exited". Stopping a
  // container that is not running succeeds. ENOENT: no such container.
  Outcome Stop(const std::string& name_or_id, int timeout_seconds);
  // Removes a stopped container's leftovers; with force, kills a running
  // one first: every member of its cgroup (never a recorded pid), then
  // waits (config.rm_wait_ms) for its run (or monitor) to let go of the
  // container's lock. An exited detached container is first recorded
  // "removing", so that what a failed rm leaves is gc's (the error says so).
  Outcome Remove(const std::string& name_or_id, bool force);
  // Removes what runs that are no longer alive left behind. Skips a
  // container whose lock is held (a run or monitor alive) and keeps a
  // detached container that exited (GcReport::kept) for `rm`.
  Expected<GcReport> Gc();
  // Removes an image no container of this state root uses (EBUSY naming
  // the container otherwise), under the store lock, so no run can start on
  // it meanwhile. Containers of another state root are not seen.
  Outcome RemoveImage(const std::string& name);

  ImageStore& images() { return images_; }
  StateStore& states() { return states_; }
  const RuntimeConfig& config() const { return config_; }
  // config.state_root, or config.root when that is empty.
  const std::string& StateRoot() const;

 private:
  std::string NewId();
  Expected<CgroupLayout> Layout();
  // The seccomp program for sec (the default profile or a file) and caps.
  Expected<SeccompBpf> SeccompFor(const SecuritySpec& sec, uint64_t caps);
  // Teardown of everything a container may have: cgroup, workspace, dir;
  // every step runs even when another fails, and every failure is reported
  // (how: what it keeps, which lock it takes).
  Outcome Cleanup(const ContainerState& s, CleanupHow how = {});
  // The body of Run. started_fd (detached, in the monitor; else null):
  // once the command is exec'd, "ok" and the id are written to *started_fd,
  // which is closed and set to -1; the monitor then waits for the init,
  // records "exited" and tears down. A failure to start leaves *started_fd
  // open for the caller to report the outcome on.
  Expected<RunResult> RunContainer(const RunSpec& spec_in, int* started_fd);
  Expected<RunResult> RunDetached(const RunSpec& spec);
  // The container named name_or_id (by name or id), read now.
  Expected<ContainerState> Find(const std::string& name_or_id);
  Cgroup CgroupOf(const ContainerState& s, const CgroupLayout& layout);
  // The store lock (StateStore::StoreLockPath), waiting for it.
  Expected<FileLock> LockStore();

  Sys& sys_;
  RuntimeConfig config_;
  ImageStore images_;
  StateStore states_;
  bool have_layout_ = false;
  CgroupLayout layout_;
  std::string kernel_release_;
};

}  // namespace mydocker
