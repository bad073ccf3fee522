// Pieces both sweep backends share (internal to harness/sweep).
#pragma once

#include <set>
#include <string>
#include <vector>

#include "harness/sweep/backend.h"
#include "faults/fault_injecting_sys.h"
#include "runtime/container/runtime.h"

namespace faultline::sweep_internal {

// The container id of every sweep run: fixed, so that the traces of the
// clean run and of a faulty run name the same paths.
inline constexpr const char* kSweepId = "5ee900000001";

// The RunSpec of the workload; volume host directories are
// <volume_base>/<name>.
mydocker::RunSpec SpecFor(const SweepWorkload& w, const std::string& volume_base);

// Creates the volume directories and their files (through sys).
mydocker::Outcome MakeVolumes(mydocker::Sys& sys, const SweepWorkload& w,
                              const std::string& volume_base);

// Creates <hierarchy>/<parent> in every cgroup hierarchy of sys's mount
// table (EEXIST is fine) and fills an empty v1 cpuset.cpus/cpuset.mems from
// the hierarchy root, so that the runs' cgroups can take tasks and the
// parent itself is part of the prepared world (not a leftover).
mydocker::Outcome EnsureCgroupParentDirs(mydocker::Sys& sys, const std::string& parent);

// A trace entry as a SweepCall (pid kept as traced).
SweepCall ToCall(const TraceEntry& e);

// Fills run->returned_error/error/exit_code/message/id from Runtime::Run.
void TakeOutcome(const mydocker::Expected<mydocker::RunResult>& r, SweepRun* run);

// Runs gc with rt and records its errors into run->gc_errors.
void RunGc(mydocker::Runtime& rt, SweepRun* run);

// The verbs workload (SweepWorkload::verbs) on rt: run -d spec, exec
// `hostname` (its output to /dev/null), stop -t 0, rm (rm -f after an
// earlier failure). Returns the run's result, or the first failure (an exec
// that cannot start is an Error naming its errno); a failed rm adds how to
// remove what is left.
// sys: the Sys rt runs on (the /dev/null for the exec's output).
mydocker::Expected<mydocker::RunResult> RunVerbs(mydocker::Runtime& rt, mydocker::Sys& sys,
                                                 mydocker::RunSpec spec);

// rm -f of every container still running (its monitor alive: gc keeps it);
// failures go to run->gc_errors. Returns how many it removed.
size_t RemoveRunning(mydocker::Runtime& rt, mydocker::Sys& sys, SweepRun* run);

// rm of every detached container that exited (gc keeps them: rm is their
// cleanup), before gc in the cleanup of a verbs run; failures go to
// run->gc_errors. Never one still running (its monitor's Sys may be gone).
size_t RemoveStopped(mydocker::Runtime& rt, mydocker::Sys& sys, SweepRun* run);

// The top of the runtime's Sys chain in every sweep run. close(2) on Linux
// releases the descriptor even when it reports an error (EIO, EINTR, ...), so
// a close the plan fails is still performed below the FaultInjectingSys
// (untraced): the runtime must not retry it, and the fd must not leak.
class CloseReleasesFd : public SysWrapper {
 public:
  CloseReleasesFd(mydocker::Sys& target, FaultInjectingSys& fis) : SysWrapper(target), fis_(fis) {}
  mydocker::Status Close(int fd) override;

 private:
  FaultInjectingSys& fis_;
};

// "<fd> -> <target>" for the calling process's fds, read through sys
// (/proc/self/fd); the fds probe of harness/probes in the same form.
std::set<std::string> FdSet(mydocker::Sys& sys);

// The fds that appeared or vanished between two FdSet()s; empty when equal.
std::vector<ProbeDiff> FdDiff(const std::set<std::string>& before,
                              const std::set<std::string>& after);

// path is dir or below it (by whole components).
bool Under(const std::string& path, const std::string& dir);

// Detaches (MNT_DETACH) every mount point at or under dir in the caller's
// mount namespace, deepest first, until none is left (8 rounds at most).
void DetachMountsUnder(mydocker::Sys& sys, const std::string& dir);

mydocker::RuntimeConfig ConfigFor(const std::string& root, const std::string& cgroup_parent);

// The fake backend's world (fake_backend.cc), shared by the one-actor sweep
// and the two-actor sweep (two_actor.cc): a FakeKernel with the busybox
// image in the store, the host's resolv.conf, the state root with its store
// lock, the workload's volumes and the cgroup parent; the probes' scope and
// their snapshot of it, and the runtime process's fds.
inline constexpr const char* kFakeRoot = "/var/lib/faultline-sweep";
inline constexpr const char* kFakeVolumes = "/srv/faultline-sweep/volumes";
inline constexpr const char* kFakeCgroupParent = "faultline-sweep";

struct FakeSweepWorld {
  FakeKernel kernel;
  mydocker::RunSpec spec;
  ProbeScope scope;
  Snapshot before;
  std::set<std::string> fds_before;
};

mydocker::Outcome PrepareFakeSweepWorld(const FakeKernelOptions& options,
                                        const SweepWorkload& workload, FakeSweepWorld* world);

// The `mydocker run` process ends (exits, or it was killed): its fds close,
// its zombies go to init, children with a pdeathsig die; a child that never
// ran (FakeKernel runs deferred children only when the parent blocks on
// them) had, on a real kernel, set its pdeathsig first thing and dies with
// it. A fresh runtime process is current afterwards (for a gc).
void EndFakeRuntimeProcess(FakeKernel& kernel);

}  // namespace faultline::sweep_internal
