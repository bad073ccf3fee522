// The exhaustive fault sweep (issue 3; pass criteria in docs/sweeps.md).
//
// 1. A clean run of the workload records every call of the runtime process
//    and of the container's init (N calls; each is a "point").
// 2. Point p is the k-th call of op X made by process P. For every point,
//    for every errno of the set and for modes transient and persistent, and
//    once per point in crash mode, one run with one rule:
//      op=X,pid=P,nth=k,errno=E,mode=transient    (that call fails, once)
//      op=X,pid=P,nth=k,errno=E,mode=persistent   (that call and every later
//                                                  X of P fail)
//      op=X,pid=P,nth=k,action=crash              (the runtime dies there)
//    (a crash point of the init kills the runtime while its init is at that
//    call).
// 3. Each run is checked (Classify): the run fails with an Error that names
//    a step, a path and the injected errno (an init point: a
//    "container init: ..." step), or succeeds as the clean run did; and the
//    probes show nothing left ("clean"/"handled"), or what is left the error
//    says and `gc` with faults off removes ("recovered-by-gc"). A crash is
//    followed by gc, which must leave nothing.
// 4. "Stop when the fault no longer fires": for every (process, op) the
//    sweep also runs nth = last+1 and goes on while the fault still fires
//    (new points), so the enumeration is exhaustive even if a run is longer
//    than the clean one.
//
// Entry point for the CLI and for the scenario runner (a scenario's `sweep:`
// section): build a backend (backend.h), a SweepConfig, call RunSweep.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "faults/plan.h"
#include "harness/report/environment.h"
#include "harness/sweep/backend.h"
#include "harness/sweep/shard.h"

namespace faultline {

struct Scenario;

// transient      op=X,pid=P,nth=k,errno=E,mode=transient: that one call fails
// persistent     mode=persistent: that call and every later X of P fail
// persistent-path  mode=persistent-path: that call and every later X of P on
//                the same object (path; a cgroup directory) fail, other X
//                calls run
// crash          action=crash: the runtime dies at that call
// eintr          a burst: calls k..k+2 of X fail EINTR (only where the
//                model says EINTR is reachable)
// enosys         ENOSYS once, only at the newer APIs with a fallback (fsopen,
//                fsconfig, fsmount, fspick, move_mount, open_tree,
//                open_tree_attr, mount_setattr, clone3, openat2, close_range,
//                pidfd_open): an older kernel or a seccomp profile
// lie            action=lie: the call reports success and does nothing (no
//                errno; reachable only where a real kernel can "succeed
//                without effect": umount2(MNT_DETACH) of a busy mount, kill
//                of a task in uninterruptible sleep)
// power-loss     action=crash, and the machine loses power right there: what
//                was not made durable (fsync) is gone, every process, mount
//                and cgroup with it (FakeKernel::PowerLoss); after the
//                reboot gc must leave nothing and the workload must run again
//                as the clean run did (fake backend only; asked for by name)
// power-loss-metadata  the same, but the journal had committed every
//                directory change (creates, unlinks, renames survive) and
//                only file content not fsync'd is lost: what gc meets
//                half-made
// short          action=short: a read or write transfers half of what was
//                asked (at least a byte), where the model (short_min in
//                errno_model.yaml) says the kernel may: reads of pipes and
//                proc files, writes to the disk, pipe writes above PIPE_BUF;
//                the run must end as the clean run did (asked for by name)
enum class SweepMode : uint8_t {
  kTransient, kPersistent, kPersistentPath, kCrash, kEintr, kEnosys, kLie, kPowerLoss, kShort,
  kPowerLossMetadata
};
const char* SweepModeName(SweepMode m);
bool SweepModeFromName(const std::string& name, SweepMode* m);
// Does the mode take an errno from the errno set (transient, persistent,
// persistent-path)? The others make one run per point where they apply.
bool ModeTakesErrno(SweepMode m);
// power-loss or power-loss-metadata.
bool IsPowerLoss(SweepMode m);

// Which errnos a point is swept with: the reachable ones (faults/
// errno_model.yaml) or the sweep's whole list at every point.
enum class ErrnoModelKind : uint8_t { kReachable, kAll };

// "a,b" "c" -> {a, b, c}: comma-separated items, also given repeatedly;
// blanks trimmed, empty items dropped.
std::vector<std::string> SplitList(const std::vector<std::string>& items);

// Parses "EPERM,EBUSY" / "transient,crash" (comma-separated, also given
// repeatedly). Errors name the bad item.
mydocker::Expected<std::vector<int>> ParseErrnoList(const std::vector<std::string>& items);
mydocker::Expected<std::vector<SweepMode>> ParseModeList(const std::vector<std::string>& items);

// The errno list of `--errno-model all`: EPERM EBUSY ENOSPC EINVAL EIO ENOMEM.
std::vector<int> DefaultSweepErrnos();
// The default modes: transient, persistent, persistent-path, crash, eintr,
// enosys (lie, power-loss and short are asked for by name).
std::vector<SweepMode> AllSweepModes();

// Built-in workloads: "run-true" (busybox true), "run-full" (two volumes,
// one read-only, and every cgroup limit: memory, cpu shares, cpus, cpuset,
// pids).
std::vector<std::string> BuiltinWorkloadNames();
std::optional<SweepWorkload> BuiltinWorkload(const std::string& name);
// A scenario's container as a workload (command, env, hostname, limits,
// volumes); source = the scenario's file.
SweepWorkload WorkloadFromScenario(const Scenario& s);

struct SweepProgress {
  size_t done = 0;   // runs finished
  size_t total = 0;  // runs planned (grows when points are found past the end)
  size_t failed = 0;
  std::string current;  // "point 17 umount2 EBUSY persistent"
};

struct SweepConfig {
  SweepWorkload workload;
  // reachable: each point gets the model's errnos for its call (when
  // errnos_given: those of `errnos` the model lists); all: `errnos` at every
  // point, each run marked reachable or not.
  ErrnoModelKind errno_model = ErrnoModelKind::kReachable;
  std::vector<int> errnos = DefaultSweepErrnos();
  bool errnos_given = false;  // errnos came from --errno or a scenario
  std::vector<SweepMode> modes = AllSweepModes();
  // Sweep only this point (1-based, numbered as in the clean run).
  std::optional<size_t> only_point;
  // Sweep only the point with this stable ID ("runtime:mkdir#4@state",
  // PointId): the same point on every machine.
  std::optional<std::string> only_point_id;
  // This process's share of the runs (shard.h): run i of the canonical
  // order (points in clean-run order, then modes, then errnos, as
  // configured) when i mod N == K. The clean run and the end checks run in
  // every shard (each needs the point list; the report's digest proves
  // they agreed).
  Shard shard;
  // A journal file (JSON lines): every finished run is appended; a sweep
  // started with a journal that holds runs of the same sweep (same digest
  // and shard) takes them from it and makes only the others. "" = none.
  std::string journal;
  // The environment fingerprint of the report (the caller fills what it
  // knows: runtime, options; "started" is set when empty).
  Environment environment;
  // Instead of points: one run with exactly this plan (a replay). Its first
  // rule says the mode: crash action -> crash, persistent -> persistent,
  // else transient; its errno is the expected one.
  std::optional<FaultPlan> plan;
  // Called after every run (the CLI draws a progress line); calls are
  // serialized, but may come from the sweep's worker threads.
  std::function<void(const SweepProgress&)> progress;
  // Start of a replay command, e.g. "faultline sweep --backend fake".
  std::string replay_prefix = "faultline sweep";
  // Keep spdlog at its level during runs (default: runs are quiet; the
  // runtime logs every failed cleanup at error level).
  bool verbose = false;
};

struct PointResult {
  // The stable run ID: PointId "/" errno "/" mode, or PointId "/crash"
  // ("runtime:mkdir#4@state/EBUSY/persistent"); the same on every machine
  // whose clean run made the same calls.
  std::string id;
  std::string point_id;  // PointId of the point
  size_t run = 0;        // index in the unsharded sweep's canonical run order
  size_t point = 0;      // 1-based; 0 for a --plan run
  pid_t pid = 0;         // kSweepRuntimePid / kSweepInitPid
  std::string process;   // "runtime" / "init"
  std::string op;
  std::string args;      // as traced in the clean run
  uint64_t nth = 0;      // the k-th call of op by the process
  int err = 0;           // 0 in crash mode
  SweepMode mode = SweepMode::kTransient;
  std::string path;      // the faulted call's path ("" none)
  // The reachable-fault model's word on this fault (errno_model.h): a fault
  // no kernel can produce there is never a defect (outcome "unreachable"
  // when the run would have failed; its failures stay in `failures`).
  bool reachable = true;
  bool modeled = true;   // the model has an entry for this call
  std::string call_class;  // the entry's class ("cgroup-dir", "disk", ...)
  std::string reach_source;
  // The call whose errno the runtime's error carries, and the rule that
  // accepted it: "faulted", "caused (same object)", "binary (weaker: the
  // error names the errno)", ...; "" when the run did not fail.
  std::string errno_origin;
  size_t defect = 0;     // 1-based index into SweepReport::defects (0: none)
  // "handled" (succeeded, nothing left), "clean" (a good error, nothing
  // left), "recovered-by-gc", "not-fired", "failed".
  std::string outcome;
  bool passed = false;
  std::vector<std::string> failures;  // why it failed
  // Worth a look, not a failure (external runtimes: an error that does not
  // name the injected errno).
  std::vector<std::string> notes;
  std::string error;     // the runtime's message ("" when it succeeded)
  int exit_code = 0;
  std::string left;           // Describe(probe diffs after the run)
  std::string left_after_gc;  // Describe(after gc); "" when clean
  std::vector<std::string> left_probes;           // probes that saw something after the run
  std::vector<std::string> left_after_gc_probes;  // ... and after gc
  bool gc_ran = false;
  std::vector<std::string> gc_errors;
  std::string plan;      // compact form
  std::string replay;    // one command that replays exactly this run
  std::vector<std::string> trace_tail;  // the calls around the fault (failures only)
};

// How a report was made (not part of its result: a merged or resumed
// report equals the unsharded, uninterrupted one apart from this and the
// timings).
struct SweepExecution {
  Shard shard;           // the shard this report is (0/1: all)
  size_t jobs = 1;       // runs at once
  std::string journal;   // the journal file, "" none
  size_t resumed = 0;    // runs taken from the journal
  // Merged reports: one entry per merged report ({"shard", "machine",
  // "kernel_release", "cgroup_layout", "started", "seconds", "runs"}).
  nlohmann::json shards = nlohmann::json::array();
};

// Failed runs that have their root cause in common (Group): the same outcome,
// the same set of leftovers (probes, after the run and after the cleanup),
// the same error with paths and numbers masked, the same faulted syscall
// and path class, the same calls after the fault (ops only).
struct Defect {
  std::string key;       // what the members share, printable
  std::string summary;   // one line: op + class + what went wrong
  size_t runs = 0;
  std::vector<size_t> points;  // member points (sorted, distinct)
  std::vector<size_t> members; // indices into SweepReport::results
  std::string replay;    // the representative run's replay command
  std::string failure;   // its first failure
};

struct SweepReport {
  std::string backend;
  std::string workload;
  size_t points = 0;  // distinct calls swept
  size_t runs = 0;    // runs made, clean run and end checks included
  // The unsharded sweep: how many (point, fault) runs it has, how many runs
  // before them (clean run, end checks), and a digest of its run IDs in
  // canonical order (shards and journals must agree on it).
  size_t planned = 0;
  size_t setup_runs = 0;
  std::string digest;
  Environment environment;
  SweepExecution execution;
  size_t passed = 0;
  size_t failed = 0;
  size_t clean_calls = 0;  // calls of the clean run
  std::vector<PointResult> results;  // one per (point, errno, mode) run
  std::vector<Defect> defects;       // the failed runs grouped (Group)
  size_t unreachable_runs = 0;       // runs whose fault the model rules out
  size_t unreachable_failures = 0;   // ... of them, runs that would have failed
  std::string errno_model;           // "reachable" or "all"
  std::vector<std::string> errors;   // the sweep could not run (clean run failed, ...)
  double seconds = 0;
  bool ok() const { return errors.empty() && failed == 0; }
  nlohmann::json ToJson() const;
  // The inverse of ToJson (merge, journal); errors name the field.
  static mydocker::Expected<SweepReport> FromJson(const nlohmann::json& j);
};

// One run's entry of the JSON report, and back.
nlohmann::json PointResultJson(const PointResult& r);
mydocker::Expected<PointResult> PointResultFromJson(const nlohmann::json& j);

// Stable names (issue 17). The path class of a call is what its first path
// names: cgroup, proc, dev, sys, rootfs, image, volume, state, bundle, tmp,
// other; "" when it names no path.
std::string PathClass(const std::string& args);
// "<process>:<op>#<nth>[@<path class>]", e.g. "runtime:mkdir#4@state",
// "init:prctl#1".
std::string PointId(pid_t pid, const std::string& op, uint64_t nth, const std::string& args);
// PointId "/" errno "/" mode, or PointId "/crash" ("/lie", "/power-loss").
std::string RunId(const std::string& point_id, int err, SweepMode mode);

// Combines reports of the shards of one sweep (the same digest) into the
// report the unsharded sweep makes: results in canonical order, counts
// summed. Fails (naming them) when the reports are of different sweeps,
// when a run is missing or when one is in two reports.
// (harness/sweep/merge.cc)
mydocker::Expected<SweepReport> MergeSweepReports(const std::vector<SweepReport>& shards);

// The report as JUnit XML: one testsuite per sweep, one testcase per run
// (its name the run ID), a failure per failed run with its replay command.
std::string SweepJunit(const SweepReport& report);

// Writes the report in each form whose path is not "" (JSON, JUnit, HTML,
// Markdown; parent directories made); false (and a line on stderr naming
// who and the path) when one cannot be written.
struct SweepReportPaths {
  std::string json, junit, html, md;
};
bool WriteSweepReports(const SweepReport& report, const SweepReportPaths& paths,
                       const std::string& who);

// Groups the failed runs of report into defects (fills report.defects and
// each result's `defect`). RunSweep calls it.
void GroupDefects(SweepReport& report);

// The syscall family of an op, the same for every runtime: mkdirat is
// mkdir, openat/openat2 are open, unlinkat is unlink (rmdir when its class
// is cgroup-dir). Defects and `sweep-compare` group by it.
std::string SyscallFamily(const std::string& op, const std::string& cls);

// The error with paths, hex and numbers masked ("<path>", "<n>"): the part
// of a grouping key that says what went wrong.
std::string MaskMessage(const std::string& message);

// Runs the sweep. backend must not be Prepared yet. Never throws.
SweepReport RunSweep(SweepBackend& backend, const SweepConfig& config);

// What `faultline sweep` prints when it is done: "N distinct defects", one
// entry per defect (runs, points, summary, failure, replay); for a --plan
// replay (replay true) the call the plan faulted (its point, process, op,
// k-th call and arguments, the outcome and first failure) or that it fired
// on none; every run with notes (up to 20, each note of the run and its
// replay), the report's errors, and the one-line summary.
std::string SweepConsoleText(const SweepReport& report, bool replay);

// The report's errors and its first `max` failed points, each with every
// failure and its replay command, one per line (for test messages and logs).
std::string FailureText(const SweepReport& report, size_t max);

// The report as Markdown, for a reader: the summary (points, runs, passed,
// failed, outcomes, runs that left something), then one table row per run
// that failed, left something or carries a note (what was left after the
// run and after the cleanup, the error, the replay command).
// (harness/sweep/sweep_report.cc)
std::string SweepMarkdown(const SweepReport& report);

// The report as one self-contained HTML page: the summary, then the grid of
// fault points x probes: one row per point, one column per probe (mounts,
// holders, dirs, cgroups, processes, fds, tmp), each cell the worst of the
// point's runs: nothing left, left after the run but removed by the
// cleanup, or left after the cleanup; then the outcome per mode and every
// failure with its replay command.
std::string SweepHtml(const SweepReport& report);

// The verdict for one run (pure; exposed for tests). clean is the clean
// run; err is 0 in crash mode.
PointResult Classify(const SweepRun& run, const SweepRun& clean, pid_t pid, int err,
                     SweepMode mode);

// The errno rule (docs/sweeps.md, "A truthful errno"): the Error's errno
// must have been returned by the faulted call (any call the rule fired on),
// or by a later call the runtime made on the clean run's path (the same
// calls as the clean run from the fault up to it, the init's included);
// not by a call before the fault, nor by one off that path (the cleanup
// after the failure), nor by none. Returns "" and names the call and the
// rule that accepted it in *rule, else why not.
std::string CheckErrnoOrigin(const SweepRun& run, const SweepRun& clean,
                             const mydocker::Error& e, std::string* rule);

// The one-rule plan of a point.
FaultPlan PointPlan(pid_t pid, const std::string& op, uint64_t nth, int err, SweepMode mode);

// The newer APIs with an older fallback (the enosys mode's ops).
bool HasOlderFallback(const std::string& op);

}  // namespace faultline
