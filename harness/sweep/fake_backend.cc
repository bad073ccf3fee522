// The sweep on FakeKernel: every run is a copy of one prepared kernel, the
// runtime and its init run in-process (FakeKernel runs the clone child on
// the caller's thread), so the trace holds the init's calls too, in the
// order they happen. No privileges, no side effects.
#include <sched.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <set>
#include <thread>

#include "harness/sweep/common.h"
#include "runtime/sys/fs_util.h"

namespace faultline {
namespace {

using mydocker::MakeError;
using mydocker::Outcome;
using namespace sweep_internal;

// The verbs workload's processes in the sweep's two roles: the container's
// init (the process cloned with CLONE_NEWPID) is kSweepInitPid; every
// other one (the caller, the detached run's intermediate and monitor,
// exec's processes) is kSweepRuntimePid, with one call counter for them
// all (as the seccomp backend counts a whole tree), so that the points of
// the clean run name the same calls in every faulty run.
class VerbsRoles : public mydocker::SysWrapper, public ProcessIdentity {
 public:
  VerbsRoles(mydocker::Sys& target, const ProcessIdentity& kernel)
      : SysWrapper(target), kernel_(kernel) {}
  mydocker::Result<pid_t> Clone(const mydocker::CloneFn& fn, int flags) override {
    auto r = SysWrapper::Clone(fn, flags);
    if (r.ok() && (flags & CLONE_NEWPID)) inits_.insert(r.value);
    return r;
  }
  pid_t CurrentPid() const override {
    return inits_.count(kernel_.CurrentPid()) ? kSweepInitPid : kSweepRuntimePid;
  }

 private:
  const ProcessIdentity& kernel_;
  std::set<pid_t> inits_;
};

class FakeSweepBackend : public SweepBackend {
 public:
  explicit FakeSweepBackend(FakeBackendOptions o) : options_(std::move(o)) {}

  std::string name() const override { return "fake"; }

  // Run only reads the prepared world (each run works on its own copy), so
  // runs go in parallel, one per core.
  size_t MaxParallelRuns() const override {
    if (options_.max_parallel > 0) return options_.max_parallel;
    return std::clamp<size_t>(std::thread::hardware_concurrency(), 1, 8);
  }

  Outcome Prepare(const SweepWorkload& workload) override {
    MYDOCKER_TRY(PrepareFakeSweepWorld(options_.kernel, workload, &w_));
    verbs_ = workload.verbs;
    return Outcome::Ok();
  }

  SweepRun Run(const FaultPlan& plan, bool always_gc) override {
    return RunOnce(plan, always_gc, false);
  }

  SweepRun RunPowerLoss(const FaultPlan& plan, bool keep_metadata) override {
    return RunOnce(plan, true, true, keep_metadata);
  }

 private:
  // power_loss: a crash is a power loss (the machine reboots with what was
  // durable, the host's boot makes the cgroup parent again), gc always runs,
  // then the workload once more without faults.
  SweepRun RunOnce(const FaultPlan& plan, bool always_gc, bool power_loss,
                   bool keep_metadata = false) {
    auto t0 = std::chrono::steady_clock::now();
    SweepRun run;
    FakeKernel kernel = w_.kernel;
    std::unique_ptr<mydocker::Sys> wrapper;
    mydocker::Sys* base = &kernel;
    if (options_.wrap) {
      wrapper = options_.wrap(kernel);
      base = wrapper.get();
    }
    const mydocker::RuntimeConfig config = ConfigFor(kFakeRoot, kFakeCgroupParent);
    std::optional<VerbsRoles> roles;
    mydocker::Sys* traced = base;
    if (verbs_) traced = &roles.emplace(*base, kernel);
    std::vector<ProbeDiff> fds;
    {
      FaultInjectingSys fis(*traced, plan);
      CloseReleasesFd top(fis, fis);
      mydocker::Runtime rt(top, config);
      try {
        TakeOutcome(verbs_ ? RunVerbs(rt, top, w_.spec) : rt.Run(w_.spec), &run);
        if (options_.mutate_error && run.returned_error) options_.mutate_error(run.error);
      } catch (const Crash&) {
        run.crashed = true;
      }
      for (const TraceEntry& e : fis.trace()) {
        run.calls.push_back(ToCall(e));
        run.fired = run.fired || run.calls.back().fired;
      }
      if (verbs_ && !(power_loss && run.crashed)) {
        // A container the run could not stop: rm -f now, while the Sys its
        // monitor calls through lives (gc keeps a running container). Not
        // before a power loss: the reboot ends it.
        mydocker::Runtime clean(*base, config);
        RemoveRunning(clean, *base, &run);
      }
    }
    // The runtime is a library here: its fds must be as before the run.
    if (!run.crashed) fds = FdDiff(w_.fds_before, FdSet(kernel));
    // Then the runtime process ends (`mydocker run` exits, or it was killed).
    EndFakeRuntimeProcess(kernel);
    if (power_loss && run.crashed) {
      kernel.PowerLoss(keep_metadata);
      run.power_lost = true;
      // The host's boot: the delegated cgroup parent exists again (as a
      // systemd unit makes it); then the probes see what the disk kept.
      if (Outcome o = EnsureCgroupParentDirs(kernel, kFakeCgroupParent); !o.ok()) {
        run.harness_error = "power loss: make the cgroup parent again: " + o.error().Message();
        return run;
      }
    }
    run.left = Compare(w_.before, TakeSnapshot(kernel, w_.scope));
    for (auto& d : fds) run.left.push_back(std::move(d));
    if (run.crashed || always_gc || !run.left.empty()) {
      mydocker::Runtime gc(*base, config);
      if (verbs_) RemoveStopped(gc, *base, &run);  // exited containers are rm's, not gc's
      RunGc(gc, &run);
      run.left_after_gc = Compare(w_.before, TakeSnapshot(kernel, w_.scope));
    }
    if (run.power_lost) Rerun(kernel, *base, config, &run);
    run.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return run;
  }

  // After a power loss and gc: the workload once more, no faults; then the
  // probes (against the prepared world, as every run).
  void Rerun(FakeKernel& kernel, mydocker::Sys& sys, const mydocker::RuntimeConfig& config,
             SweepRun* run) {
    SweepRun again;
    {
      FaultInjectingSys fis(sys, FaultPlan{});
      CloseReleasesFd top(fis, fis);
      mydocker::Runtime rt(top, config);
      try {
        TakeOutcome(verbs_ ? RunVerbs(rt, top, w_.spec) : rt.Run(w_.spec), &again);
      } catch (const Crash&) {
        again.message = "crashed (no fault was planned)";
      }
      if (verbs_) {
        mydocker::Runtime clean(sys, config);
        RemoveRunning(clean, sys, &again);
      }
    }
    EndFakeRuntimeProcess(kernel);
    run->rerun_ran = true;
    run->rerun_returned_error = again.returned_error;
    run->rerun_error = again.returned_error ? again.error.Message() : again.message;
    run->rerun_exit_code = again.exit_code;
    run->left_after_rerun = Compare(w_.before, TakeSnapshot(kernel, w_.scope));
  }

  FakeBackendOptions options_;
  FakeSweepWorld w_;
  bool verbs_ = false;
};

}  // namespace

namespace sweep_internal {

Outcome PrepareFakeSweepWorld(const FakeKernelOptions& options, const SweepWorkload& workload,
                              FakeSweepWorld* w) {
  w->kernel = FakeKernel(options);
  FakeKernel& world = w->kernel;
  const std::string image = std::string(kFakeRoot) + "/images/busybox";
  if (auto s = world.BuildBusyboxImage(image + "/rootfs"); !s.ok()) {
    return MakeError("sweep: build busybox image", image, s.err);
  }
  if (auto s = world.AddFile(image + "/image.json",
                             R"({"name":"busybox","source":"fake","size":0,"files":0})");
      !s.ok()) {
    return MakeError("sweep: write image.json", image, s.err);
  }
  // A host has a resolver config (Debian always does), which the runtime
  // copies into the init layer: without it the fake runs missed the four
  // calls of that copy that the kernel runs make.
  if (auto s = world.AddFile("/etc/resolv.conf", "nameserver 10.0.2.3\n"); !s.ok()) {
    return MakeError("sweep: write the host's resolv.conf", "/etc/resolv.conf", s.err);
  }
  // The state root exists before a run, as after `mydocker` ran once.
  if (auto s = world.AddDir(std::string(kFakeRoot) + "/containers", 0700); !s.ok()) {
    return MakeError("sweep: create state root", kFakeRoot, s.err);
  }
  // ... with its store lock (StateStore::StoreLockPath), made by the first run.
  if (auto s = world.AddFile(std::string(kFakeRoot) + "/containers.lock", "", 0600); !s.ok()) {
    return MakeError("sweep: create store lock", kFakeRoot, s.err);
  }
  MYDOCKER_TRY(MakeVolumes(world, workload, kFakeVolumes));
  MYDOCKER_TRY(EnsureCgroupParentDirs(world, kFakeCgroupParent));
  w->spec = SpecFor(workload, kFakeVolumes);
  w->scope = ProbeScope{};
  w->scope.dirs = {kFakeRoot};
  w->scope.dirs_prune = {std::string(kFakeRoot) + "/images"};
  w->scope.cgroup_parent = kFakeCgroupParent;
  w->scope.fds = false;  // checked before the runtime process ends (Run)
  w->scope = WithOutside(std::move(w->scope));
  // What the world made is on disk (a power-loss run keeps it).
  world.Sync();
  w->fds_before = FdSet(world);
  w->before = TakeSnapshot(world, w->scope);
  if (!w->before.errors.empty()) {
    return MakeError("sweep: probe the prepared world", kFakeRoot, 0, w->before.errors.front());
  }
  return Outcome::Ok();
}

void EndFakeRuntimeProcess(FakeKernel& kernel) {
  kernel.RuntimeCrashed();
  for (pid_t pid : kernel.Pids()) {
    if (kernel.ProcessRunnable(pid)) (void)kernel.Kill(pid, SIGKILL);
  }
}

}  // namespace sweep_internal

std::unique_ptr<SweepBackend> MakeFakeSweepBackend(FakeBackendOptions options) {
  return std::make_unique<FakeSweepBackend>(std::move(options));
}

}  // namespace faultline
