// SeccompSupervisor: real-kernel fault injection into any binary (runc is
// static Go with raw syscalls, so LD_PRELOAD cannot reach it; a seccomp
// filter can).
//
// How a run goes:
//   harness (supervisor, this process)
//     └─ reaper   forked helper: PR_SET_CHILD_SUBREAPER, reaps the whole tree,
//        │        reports the target's wait status and kills what is left
//        └─ target  loads a filter (default ALLOW, NOTIFY for the chosen
//                   syscalls, WAIT_KILLABLE_RECV where the kernel has it),
//                   sends the listener fd to the supervisor over SCM_RIGHTS,
//                   waits for an ack, then execs argv.
// Every process the target starts inherits the filter, so one listener and
// one sequence counter cover the whole process tree. For each notification
// the supervisor reads the path arguments out of the caller with
// process_vm_readv, resolves them through /proc/PID/{cwd,root,fd} (the root
// cached per thread, the cwd read only for relative paths), asks the
// Decider, and answers: continue, fail with an errno, lie (0 without doing
// it), delay then continue, pause (hold the call until the harness releases
// it, at most its bound, then continue), or kill (SIGKILL every descendant
// of the reaper).
//
// The supervisor must outlive the target (a dead listener turns every
// notified call into ENOSYS): Run() returns only after the reaper has seen
// the target and all its descendants exit.
//
// After a kill verdict (or the timeout) nothing more is decided: a call the
// dying tree still makes is failed with EPERM without asking the Decider and
// without a seq (its caller has SIGKILL pending or gets it in the same
// sweep).
//
// Limits:
// - A target that installs its own listener filter gets EBUSY from
//   seccomp(2) (one listener per filter chain); the supervisor notices the
//   attempt when "seccomp" is in the syscall set (SupervisorResult::
//   nested_listener_attempts) and the target reports the EBUSY itself.
// - Lie answers 0. On clone/fork that makes the caller believe it is the
//   child; on openat it returns fd 0. Use it on calls whose success is 0.
// - Only the native architecture is intercepted; 32-bit compat calls run
//   unsupervised (the filter's bad-arch action is ALLOW).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/util/error.h"

namespace faultline::seccomp {

// One intercepted call as the Decider sees it.
struct SyscallEvent {
  uint64_t seq = 0;  // 1, 2, 3... across the whole process tree; a call the
                     // kernel restarted (signal while waiting) keeps its seq
  pid_t pid = 0;     // thread id of the caller, in the supervisor's pid ns
  int nr = -1;
  std::string name;  // "mkdir", "mount", ...
  // Path arguments as the process sees them (absolute, relative to its own
  // root), and the same resolved to a host path through /proc/PID/root,
  // /proc/PID/cwd or /proc/PID/fd/DIRFD. Which argument is "path" per call:
  //   mount: path=target path2=source; pivot_root: new_root, put_old;
  //   move_mount: path=to, path2=from; rename*/link*/symlink*: path=new
  //   (destination), path2=old; fsconfig: path=key, path2=string value;
  //   sethostname: path=the name; setns/write: path=what the fd points at.
  std::string path;
  std::string path2;
  std::string host_path;
  std::string host_path2;
  std::string fstype;  // mount: fstype argument; fsopen: fs name
  uint64_t flags = 0;  // mount/umount2/unlinkat/openat/clone/clone3/unshare/
                       // move_mount/fsmount/...: the call's flags argument;
                       // setns: nstype; fsconfig: cmd
  uint64_t args[6] = {0, 0, 0, 0, 0, 0};  // raw register arguments
};

struct Verdict {
  enum Kind { kContinue, kFail, kLie, kDelay, kKill, kPause } kind = kContinue;
  int err = 0;       // kFail: the errno the caller sees
  int delay_ms = 0;  // kDelay: hold the call this long, then continue;
                     // kPause: hold it at most this long (the bound)

  static Verdict Continue() { return {kContinue, 0, 0}; }
  static Verdict Fail(int err) { return {kFail, err, 0}; }
  static Verdict Lie() { return {kLie, 0, 0}; }
  static Verdict Delay(int ms) { return {kDelay, 0, ms}; }
  static Verdict Kill() { return {kKill, 0, 0}; }
  // Held until SupervisorOptions::pause_release_fd releases it (or bound_ms).
  static Verdict Pause(int bound_ms) { return {kPause, 0, bound_ms}; }
};

// Called once per call (never again for its kernel restarts), on the
// supervisor's thread, while the caller is blocked: keep it quick (a delay
// verdict does not block the supervisor; a slow Decider blocks every
// process of the tree that makes a notified call). If it throws, the tree is
// killed and the exception leaves RunSupervised.
using Decider = std::function<Verdict(const SyscallEvent&)>;

// What the supervisor finally did with a call.
enum class CallOutcome {
  kContinued,  // the kernel ran the call (after the delay for kDelay)
  kFailed,     // the caller got -1/err
  kLied,       // the caller got 0, the kernel did nothing
  kKilled,     // the tree got SIGKILL; the call never ran
  kGone,       // the caller left (killed or died) before the answer landed
};
const char* OutcomeName(CallOutcome o);
std::string VerdictString(const Verdict& v);  // "fail EPERM", "delay 50ms"...

struct TraceEntry {
  SyscallEvent event;
  Verdict verdict;
  CallOutcome outcome = CallOutcome::kContinued;
  int restarts = 0;  // how often the kernel re-sent this call after a signal
};

// One line: "#3 pid 1234 mkdir /tmp/x (host /tmp/x) -> fail EPERM: failed".
std::string FormatTraceEntry(const TraceEntry& e);

// The syscalls notified by default: mount, umount2, pivot_root, mkdir,
// mkdirat, rmdir, unlink, unlinkat, open, openat, openat2, clone, clone3,
// fork, vfork, unshare, setns, fsopen, fsconfig, fsmount, fspick,
// move_mount, open_tree, sethostname, seccomp. Not write (hot) and not
// execve; add them when a plan needs them.
std::vector<std::string> DefaultSyscalls();

struct SupervisorOptions {
  std::vector<std::string> argv;  // argv[0] is looked up in PATH
  std::vector<std::string> env;   // empty: the supervisor's environment
  std::vector<std::string> syscalls = DefaultSyscalls();  // unknown: error
  std::string cwd;                // empty: the supervisor's
  // fds the target gets as stdin/stdout/stderr; -1 keeps the supervisor's.
  int stdin_fd = -1;
  int stdout_fd = -1;
  int stderr_fd = -1;
  // 0: none. When it passes, the tree gets SIGKILL and timed_out is set.
  std::chrono::milliseconds timeout{0};
  // 0: off. A hung tree is recognised sooner (harness/seccomp/hang.h): no
  // notified call for this long while every thread of the tree slept and
  // used no CPU time. Then the tree gets SIGKILL, timed_out and quiet_hang
  // are set and hang_state says what each thread was blocked in.
  std::chrono::milliseconds quiet{0};
  // Keep every TraceEntry (benchmarks turn this off; counts stay).
  bool record_trace = true;
  // Try SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (5.19+). Off: tests of the
  // restart accounting, which needs signals to interrupt waiting calls.
  bool wait_killable = true;
  // Ask for SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (6.6+): the kernel hands the
  // CPU straight from the caller to the supervisor and back, which cuts the
  // round trip; ignored where the kernel refuses it.
  bool sync_wakeup = true;
  // Remember each thread's root (readlink /proc/TID/root) between its calls
  // instead of reading it per call; see harness/seccomp/root_cache.h for
  // when a cached root is trusted. For that the filter also notifies the
  // root-changing calls of RootChangingSyscalls() that are not in syscalls:
  // those are answered "continue" at once, without the Decider, and are not
  // counted in calls/notifications/per_syscall/trace (see
  // SupervisorResult::root_change_notifications). Off: one readlink per
  // call with a path, and the filter notifies exactly syscalls.
  bool cache_roots = true;
  // Pause verdicts (faults/pause_channel.h): when a call is held, one
  // PauseNote {seq, tid, syscall name} is written to pause_note_fd; every
  // byte read from pause_release_fd releases the oldest held call (answered
  // "continue"). The supervisor goes on serving the tree's other calls while
  // one is held. -1: no channel (a pause is then released at once).
  int pause_note_fd = -1;
  int pause_release_fd = -1;
};

// chroot, pivot_root, unshare, setns: the calls that can change a root the
// supervisor resolves host paths against.
std::vector<std::string> RootChangingSyscalls();

struct SupervisorResult {
  pid_t target_pid = 0;
  int wait_status = 0;  // as waitpid gives it, for the target itself
  bool exited = false;
  int exit_code = -1;
  bool signaled = false;
  int term_signal = 0;
  bool timed_out = false;
  bool quiet_hang = false;   // timed out by the quiet rule (options.quiet)
  std::string hang_state;    // DescribeTree at that moment
  bool wait_killable = false;  // the filter was loaded with WAIT_KILLABLE_RECV
  bool sync_wakeup = false;    // the listener runs in synchronous wake-up mode
  std::vector<TraceEntry> trace;
  uint64_t calls = 0;          // distinct calls (the last seq)
  uint64_t notifications = 0;  // received, restarts included
  uint64_t restarts = 0;
  uint64_t nested_listener_attempts = 0;  // target's seccomp() with a listener
  std::map<std::string, uint64_t> per_syscall;  // calls by name
  std::map<Verdict::Kind, uint64_t> per_verdict;
  // Root cache (SupervisorOptions::cache_roots): notifications of
  // RootChangingSyscalls() the filter added only for the cache, and how
  // often a root came from the cache or from a readlink.
  uint64_t root_change_notifications = 0;
  uint64_t root_cache_hits = 0;
  uint64_t root_reads = 0;
  // Descendants still alive when the target exited; the reaper killed them.
  std::vector<pid_t> leftover_pids;
};

// The run as JSON: status, counts and every trace entry (seq, pid, syscall,
// paths, fstype, flags, raw args, verdict, outcome, restarts).
nlohmann::json TraceToJson(const SupervisorResult& r);

// Starts argv under the supervisor and runs until the target and every
// process it started are gone. Runs the loop on the calling thread; the
// reaper dies with that thread (PR_SET_PDEATHSIG), so call it from a thread
// that outlives the run. Errors name the launch step (filter build,
// fork, filter load in the child, fd passing, exec) with its errno; a target
// that runs and fails is not an error: see wait_status.
mydocker::Expected<SupervisorResult> RunSupervised(
    const SupervisorOptions& options, const Decider& decide);

}  // namespace faultline::seccomp
