// Sweep backends: where one run of the sweep happens (FakeKernel in-process,
// or the real kernel), behind one interface so the engine (sweep.h) decides
// what to run and what counts as a pass without knowing the backend.
//
// A backend owns a world prepared once (the busybox image in a store, the
// volume directories, the cgroup parent) and, per run:
//   1. a fresh copy of that world (fake: a copy of the prepared FakeKernel;
//      kernel: the same scratch directory, checked clean before each run);
//   2. mydocker::Runtime::Run of the workload through a FaultInjectingSys
//      carrying the plan (under CloseReleasesFd: a failed close still
//      releases the fd, as on Linux); a Crash (crash action) kills the runtime process
//      right there (fake: FakeKernel::RuntimeCrashed; kernel: the runtime
//      runs in a forked process that SIGKILLs itself);
//   3. the runtime process's fds against those before the run; then the
//      runtime process ends (one run = one `mydocker run` process), and the
//      probes (harness/probes) against the snapshot of the prepared world:
//      mounts, holders, dirs under the runtime's root, cgroups under the
//      cgroup parent, processes;
//   4. when the run crashed, left anything, or always_gc is set: `gc` (a
//      fresh Runtime, no faults) and the probes again.
//
// Trace pids are roles, the same on both backends: kRuntimePid for the
// runtime process and kInitPid for the container's init (FakeKernel numbers
// them so; the kernel backend maps getpid() onto them), so a plan written
// for one backend selects the same calls on the other.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "faults/pause_channel.h"
#include "faults/plan.h"
#include "harness/probes/probes.h"
#include "fakekernel/fake_kernel.h"
#include "runtime/cgroups/cgroups.h"
#include "runtime/sys/sys.h"
#include "runtime/util/error.h"

namespace faultline {

constexpr pid_t kSweepRuntimePid = 100;
constexpr pid_t kSweepInitPid = 101;

// A volume of the workload: a directory the backend creates (and fills)
// under its scratch area, bound at `container`.
struct SweepVolume {
  std::string name;  // one path component
  std::string container;
  bool read_only = false;
  std::map<std::string, std::string> files;
};

// What every run of a sweep does: one `mydocker run busybox ARGV`.
struct SweepWorkload {
  std::string name;    // "run-true", "run-full", or the scenario's name
  std::string source;  // how a replay command names it: "run-true" or a file
  std::vector<std::string> argv = {"true"};
  std::vector<std::string> env;  // KEY=VAL
  std::string hostname;          // "" -> the runtime's default (the id)
  mydocker::CgroupLimits limits;
  std::vector<SweepVolume> volumes;
  // The verbs of a detached container instead of one run (fake backend):
  // run -d ARGV, exec hostname, stop -t 0, rm (sweep_internal::RunVerbs);
  // the outcome is the first failure. A container the run could not stop
  // is removed with rm -f before the probes (gc keeps a live one).
  bool verbs = false;
};

// One call of a run, as the FaultInjectingSys traced it.
struct SweepCall {
  uint64_t seq = 0;  // the tracer's sequence number (per process on the
                     // kernel backend: the init's copy of the tracer goes on
                     // from the clone); 0 unknown
  pid_t pid = 0;     // kSweepRuntimePid or kSweepInitPid
  std::string op;    // mydocker::OpName
  std::string args;  // printable arguments
  // What a plan matches on (seccomp: path is the host path when known).
  std::string path, path2, fstype;
  uint64_t flags = 0;
  int64_t handle = -1;  // the fd an open returned (-1: unknown)
  // The process as the kernel names it, when the trace pid is a role for
  // the whole tree (seccomp: every process is kSweepRuntimePid); 0: pid.
  pid_t real_pid = 0;
  bool host_paths = false;  // paths are resolved host paths (seccomp)
  int err = 0;       // what the caller got
  bool fired = false;        // a plan rule fired on this call
  bool after_crash = false;  // refused: the runtime had already crashed
};

// Everything a backend learned from one run.
struct SweepRun {
  std::vector<SweepCall> calls;  // runtime calls in order, init calls where
                                 // the backend knows them (see its header)
  bool fired = false;            // some rule of the plan fired
  bool crashed = false;          // a crash action killed the runtime
  // The run's outcome when it did not crash.
  bool returned_error = false;   // Runtime::Run returned an Error
  mydocker::Error error;
  int exit_code = 0;             // RunResult::exit_code
  std::string message;           // RunResult::message (exec failures)
  std::string id;                // the container id
  std::vector<ProbeDiff> left;           // after the run vs the prepared world
  bool gc_ran = false;
  std::vector<std::string> gc_errors;    // gc's own errors (GcReport, Error)
  std::vector<ProbeDiff> left_after_gc;  // after gc vs the prepared world
  // A problem of the harness, not of the runtime (the world could not be
  // restored, the runtime process vanished): the run proves nothing.
  std::string harness_error;
  // The runtime is a binary run under the seccomp supervisor, not
  // Runtime::Run: its outcome is its exit status, and its error is what it
  // printed on stderr (message); returned_error stays false. A failed run is
  // one whose exit status differs from the clean run's.
  bool external = false;
  // External: what the runtime's error must tell the user to run when it
  // leaves something behind ("mydocker gc"); "" when the runtime promises
  // nothing (runc, crun: their cleanup command is run anyway).
  std::string cleanup_hint;
  // External: an error that does not name the injected errno (by name or by
  // its strerror text) is noted (a later call may truly have failed with
  // another: the supervisor cannot see results); strict: an error that names
  // no errno at all fails.
  bool strict_errno = false;
  // External: the runtime did not finish within the backend's deadline
  // (killed): a hang, a defect of the runtime.
  bool hung = false;
  // A hang: what every thread of the tree was blocked in when it was
  // recognised ("pid 123 runc:[2:INIT] tid 125 S futex_wait_queue\n  stack..."),
  // one line per thread; "" otherwise.
  std::string hang_state;
  // A pause action held a call and the backend released it (PauseContext).
  bool paused = false;
  // Power-loss runs (SweepBackend::RunPowerLoss): the machine lost power at
  // the crash and rebooted before gc; then the workload ran once more, with
  // no faults (rerun_*), and the probes after it.
  bool power_lost = false;
  bool rerun_ran = false;
  bool rerun_returned_error = false;
  std::string rerun_error;  // its Error's message, or its RunResult message
  int rerun_exit_code = 0;
  std::vector<ProbeDiff> left_after_rerun;  // after the rerun vs the prepared world
  double seconds = 0;
};

// A run held by a `pause` action (the two-actor sweeps on the kernel and
// seccomp backends, harness/sweep/two_actor_real.h): what the harness knows
// while the held call waits. The hook runs on a harness thread while A's
// call is held (kernel: the backend's loop; seccomp: a thread next to the
// supervisor, which goes on serving A's other calls); when it returns, the
// backend releases the call. What it returns runs after A's run ended,
// before the probes (e.g. waiting for a second actor that was blocked on a
// lock A held); null: nothing. A pause with no hook is released at once.
struct PauseContext {
  PauseNote note;           // the held call (seq, pid as traced, op)
  pid_t runtime_pid = 0;    // A: the forked runtime process (kernel) or the
                            // runtime binary (seccomp)
  std::string root;         // mydocker's --root, or the OCI runtime's --root
  std::string cgroup_parent;
  std::string scratch;
  std::string bundle;       // OCI: A's bundle; "" otherwise
  std::string container;    // A's id (kernel: kSweepId) or name (seccomp)
  std::string kind;         // "builtin" (kernel), "mydocker", "oci"
  // seccomp: the runtime's argv for `verb operands...` (its global flags,
  // --root), e.g. verb_argv("delete", {"--force", name}); null on kernel.
  std::function<std::vector<std::string>(const std::string& verb,
                                         const std::vector<std::string>& operands)>
      verb_argv;
};
using PauseHook = std::function<std::function<void()>(const PauseContext&)>;

class SweepBackend {
 public:
  virtual ~SweepBackend() = default;
  virtual std::string name() const = 0;  // "fake" or "kernel"
  // Builds the world for the workload; once, before any Run.
  virtual mydocker::Outcome Prepare(const SweepWorkload& workload) = 0;
  // One run under plan (empty: the clean run). Never throws.
  virtual SweepRun Run(const FaultPlan& plan, bool always_gc) = 0;
  // One run under plan (a crash rule) in which the crash is a power loss:
  // the runtime dies at that call, the machine reboots with only what was
  // durable (FakeKernel::PowerLoss), the host's boot makes the cgroup parent
  // again, gc runs (always), then the workload once more without faults,
  // then the probes. Backends that cannot lose power return a run with
  // harness_error set. Never throws.
  // keep_metadata: every directory change survives, only file content not
  // fsync'd is lost (FakeKernel::PowerLoss).
  virtual SweepRun RunPowerLoss(const FaultPlan& plan, bool keep_metadata) {
    (void)plan;
    (void)keep_metadata;
    SweepRun run;
    run.harness_error = "the " + name() + " backend has no power-loss mode (fake only)";
    return run;
  }
  // How many Runs may execute at once (from different threads) after
  // Prepare. 1: Run is not thread-safe.
  virtual size_t MaxParallelRuns() const { return 1; }
  // Removes what Prepare made. Idempotent; the destructor calls it too.
  virtual void Finish() {}
};

struct FakeBackendOptions {
  FakeKernelOptions kernel;
  // Wraps the prepared kernel for every run: the runtime and its gc see the
  // wrapper (a test double, e.g. one that skips an umount2), the probes see
  // the kernel itself. Null: no wrapper.
  std::function<std::unique_ptr<mydocker::Sys>(mydocker::Sys& kernel)> wrap;
  // Runs at once (threads, each on its own copy of the world); 0: one per
  // core, at most 8.
  size_t max_parallel = 0;
  // A mutant of the runtime (tests): rewrites the Error Runtime::Run
  // returned, e.g. to the wrong errno. Null: none.
  std::function<void(mydocker::Error&)> mutate_error;
};

std::unique_ptr<SweepBackend> MakeFakeSweepBackend(FakeBackendOptions options = {});

struct KernelBackendOptions {
  // The busybox docker-export tar (ci/build-image); required.
  std::string image_tar;
  // Parent of the per-sweep scratch directory (mkdtemp).
  std::string tmp = "/tmp";
  // Keep the scratch directory (debugging).
  bool keep_scratch = false;
  // Runs while a pause action holds a call of the runtime or its init
  // (PauseContext); the call is released when it returns.
  PauseHook on_pause;
};

// Needs root. Prepare unshares a private mount namespace for the whole
// process (unshare(CLONE_NEWNS) + "/" rprivate), makes the process a child
// subreaper (orphans of a crashed runtime become its children: visible to
// the probes, reaped by the backend), a scratch directory under tmp and a
// cgroup parent "faultline-sweep-<pid>" in every hierarchy. Each Run forks
// the runtime process. Finish removes the scratch and the cgroup parent.
std::unique_ptr<SweepBackend> MakeKernelSweepBackend(KernelBackendOptions options);

// The seccomp backend (harness/sweep/seccomp_backend.cc): the runtime is a
// binary (mydocker, runc, crun, or a command given here) run under the
// seccomp supervisor (harness/seccomp/supervisor.h) on the real kernel; the
// plan decides each notified call of the whole process tree.
//
// What is a point: the notified calls "in scope", counted across the whole
// tree (pid kSweepRuntimePid for every process: one counter, not one per
// process), in the order the supervisor saw them:
//   mount, umount2, pivot_root, mkdir(at), rmdir, unlink(at), unshare,
//   setns, sethostname, the new mount API calls: always;
//   clone/clone3/fork/vfork: unless CLONE_THREAD (a Go runtime starts
//   threads at will: their number changes from run to run);
//   open/openat/openat2/write: when the host path (for write: what the fd
//   points at) is under a cgroup mount or under the sweep's scratch
//   directory (state, bundle, volumes, TMPDIR); not the runtime's stdout and
//   stderr files, not /proc, /dev, libraries.
// Calls out of scope run untouched and uncounted, so the numbering is the
// same in every run as long as the runtime does the same in-scope work.
// A rule's `path` matches the path as the calling process sees it.
//
// One run: a fresh bundle (runc, crun: an overlay workspace over the
// busybox image and config.json; mydocker: its own store under the scratch),
// `<runtime> run` under the supervisor with stdin /dev/null and stdout and
// stderr in files; a crash rule SIGKILLs the whole tree at that call. Then
// the probes (mounts, holders, dirs under the state root, cgroups under the
// per-sweep parent, processes the supervisor had to kill, the harness's own
// fds), and when the run crashed or left something: the runtime's own
// cleanup (`mydocker gc`, `runc delete -f`, `crun delete -f`) and the probes
// again. A run that left what the cleanup did not remove is scrubbed by
// the harness (processes of the cgroup parent killed, mounts under the
// scratch detached, state and cgroup directories removed) before the next.
struct SeccompBackendOptions {
  // A runtime profile's name (harness/adapters/profile.h: mydocker, runc,
  // crun, runc-1.3.6, ...; an oci profile needs the verb `run`), or
  // "custom" (custom_run below).
  std::string runtime = "mydocker";
  // Where profiles are found; empty: ProfileSearchPath().
  std::vector<std::string> profile_search;
  // The runtime binary; "" takes the profile's (a kind: mydocker profile
  // whose binary is "mydocker" needs it: this build's).
  std::string binary;
  // The busybox docker-export tar (ci/build-image); required except for a
  // custom runtime.
  std::string image_tar;
  // custom: the run and cleanup commands; "{scratch}" and "{state}" in an
  // argument are replaced by the scratch directory and the state root
  // (<scratch>/state, created empty; probed).
  std::vector<std::string> custom_run;
  std::vector<std::string> custom_cleanup;
  // Syscalls the supervisor is notified of; empty: DefaultSyscalls() and
  // write.
  std::vector<std::string> syscalls;
  std::string tmp = "/tmp";
  bool keep_scratch = false;
  // A run that takes longer is killed and counts as a hang.
  int run_timeout_seconds = 15;
  // A hang is recognised sooner: when every thread of the run's process
  // tree has been blocked (sleeping, no CPU time used) and the supervisor
  // saw no call for this long, the tree is killed and the run is a hang
  // (its wait channels and kernel stacks go into the report). 0: off.
  double quiet_seconds = 2.0;
  // Runs while a pause action holds a call of the tree (PauseContext); the
  // supervisor keeps serving the tree's other calls meanwhile.
  PauseHook on_pause;
  // Containers a second actor may make besides the run's own (OCI: run B on
  // the same bundle): the cleanup removes them too (`delete -f NAME`).
  std::vector<std::string> extra_containers;
};

// Needs root. Prepare unshares a private mount namespace for the whole
// process (as the kernel backend does), makes the scratch directory and the
// cgroup parent "faultline-sweep-<pid>" in every hierarchy, imports the
// image. Finish removes them.
std::unique_ptr<SweepBackend> MakeSeccompSweepBackend(SeccompBackendOptions options);

// Runs `jobs` backends at once (harness/sweep/parallel_backend.cc), each in
// its own worker process made by fork in Prepare: each worker builds its
// backend with make() and Prepares it, so it has its own mount namespace,
// scratch directory and cgroup parent ("faultline-sweep-<worker pid>"), is
// its own child subreaper and sees only its own children. Run sends the
// plan to an idle worker and returns the SweepRun it sends back, so the
// engine's threads (MaxParallelRuns() == jobs) keep every worker busy.
// Results do not depend on which worker made a run: a worker's paths are
// its own, but what a run does and leaves is decided by the plan alone
// (the privileged test ParallelKernelSweep.EqualsSerial compares).
// jobs <= 1: make() itself, no worker process.
std::unique_ptr<SweepBackend> MakeParallelSweepBackend(
    std::function<std::unique_ptr<SweepBackend>()> make, size_t jobs);

// Forks a child of the sweep (the kernel backend's runtime process, a
// parallel worker, a second actor): body runs in the child, which then
// _exits with body's value. Whatever body throws, the child prints it to
// stderr and _exits 70 (kSweepChildThrew): it never returns into the
// caller, where it would go on running the sweep as a second harness. The
// fork needs this process to have one thread (a child could inherit a lock
// another thread held): the outside probe's /tmp reader (tmp_watch.h)
// pauses for it; with any other thread running nothing is forked and the
// error says how many threads there are. In the parent: the child's pid.
constexpr int kSweepChildThrew = 70;
mydocker::Expected<pid_t> ForkSweepChild(const std::string& what,
                                         const std::function<int()>& body);
// Threads of this process (/proc/self/status); 0 when unknown.
int ThreadCount();

// A SweepRun as JSON and back (the parallel backend's wire format).
nlohmann::json SweepRunJson(const SweepRun& run);
SweepRun SweepRunFromJson(const nlohmann::json& j);

}  // namespace faultline
