// The fault model of the sweep (issue 13) on FakeKernel:
// * path-scoped persistence finds an orphaned cgroup that per-syscall
//   persistence hides (a small runtime script that does what the real bug
//   does: it logs a failed cgroup rmdir, goes on, and removes its state);
// * a runtime that reports the wrong errno at a workspace or cgroup step
//   (a mutant of mydocker: the errno of its cleanup, as crun's ENOENT)
//   fails the sweep under the truthful-errno rule;
// * failures group into defects; unreachable faults are never defects.
#include <errno.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fakekernel/fake_kernel.h"
#include "harness/sweep/common.h"
#include "harness/sweep/sweep.h"
#include "runtime/sys/fs_util.h"

namespace faultline {
namespace {

using ::testing::HasSubstr;
using mydocker::MakeError;

constexpr const char* kState = "/var/lib/rt";
constexpr const char* kParent = "faultline-sweep";
const std::string kCgroup = std::string("/sys/fs/cgroup/pids/") + kParent + "/c1";

// The buggy runtime: create the state directory and the cgroup, "run",
// then tear down. A failed cgroup rmdir is only logged (the bug); a failed
// state rmdir keeps the state for gc and says so.
mydocker::Outcome BuggyRun(mydocker::Sys& sys) {
  const std::string state = std::string(kState) + "/c1";
  if (auto s = sys.Mkdir(state, 0700); !s.ok()) return MakeError("create state", state, s.err);
  if (auto s = sys.Mkdir(kCgroup, 0755); !s.ok()) {
    (void)sys.Rmdir(state);
    return MakeError("create cgroup", kCgroup, s.err);
  }
  (void)sys.Rmdir(kCgroup);  // the bug: the error is dropped
  if (auto s = sys.Rmdir(state); !s.ok()) {
    return MakeError("remove state", state, s.err, "run `mydocker gc` to remove what is left");
  }
  return mydocker::Outcome::Ok();
}

// Its gc: every state directory's cgroup, then the state.
std::vector<std::string> BuggyGc(mydocker::Sys& sys) {
  std::vector<std::string> errors;
  auto ents = sys.ReadDir(kState);
  if (!ents.ok()) return errors;
  for (const auto& e : ents.value) {
    if (e.name == "." || e.name == "..") continue;
    const std::string cg = std::string("/sys/fs/cgroup/pids/") + kParent + "/" + e.name;
    if (auto s = sys.Rmdir(cg); !s.ok() && s.err != ENOENT) errors.push_back("rmdir " + cg);
    if (auto s = sys.Rmdir(std::string(kState) + "/" + e.name); !s.ok())
      errors.push_back("rmdir state " + e.name);
  }
  return errors;
}

class ScriptBackend : public SweepBackend {
 public:
  std::string name() const override { return "fake-script"; }
  mydocker::Outcome Prepare(const SweepWorkload&) override {
    if (auto s = world_.AddDir(kState, 0700); !s.ok()) return MakeError("prepare", kState, s.err);
    MYDOCKER_TRY(sweep_internal::EnsureCgroupParentDirs(world_, kParent));
    scope_.dirs = {kState};
    scope_.cgroup_parent = kParent;
    scope_.fds = false;
    scope_.holders = false;
    before_ = TakeSnapshot(world_, scope_);
    return mydocker::Outcome::Ok();
  }
  SweepRun Run(const FaultPlan& plan, bool always_gc) override {
    SweepRun run;
    FakeKernel kernel = world_;
    {
      FaultInjectingSys fis(kernel, plan);
      try {
        auto o = BuggyRun(fis);
        if (!o.ok()) {
          run.returned_error = true;
          run.error = o.error();
        }
      } catch (const Crash&) {
        run.crashed = true;
      }
      for (const TraceEntry& e : fis.trace()) {
        run.calls.push_back(sweep_internal::ToCall(e));
        run.fired = run.fired || run.calls.back().fired;
      }
    }
    run.left = Compare(before_, TakeSnapshot(kernel, scope_));
    if (run.crashed || always_gc || !run.left.empty()) {
      run.gc_ran = true;
      run.gc_errors = BuggyGc(kernel);
      run.left_after_gc = Compare(before_, TakeSnapshot(kernel, scope_));
    }
    return run;
  }

 private:
  FakeKernel world_;
  ProbeScope scope_;
  Snapshot before_;
};

SweepReport SweepScript(SweepMode mode) {
  ScriptBackend backend;
  SweepConfig config;
  config.workload.name = "buggy-script";
  config.workload.source = "buggy-script";
  config.errnos = {EBUSY};
  config.errnos_given = true;
  config.modes = {mode};
  return RunSweep(backend, config);
}

const PointResult* At(const SweepReport& r, const std::string& op, const std::string& path) {
  for (const auto& p : r.results) {
    if (p.op == op && p.path == path) return &p;
  }
  return nullptr;
}

TEST(PathScopedPersistence, FindsTheOrphanedCgroupThatPerSyscallPersistenceHides) {
  // Per syscall: the cgroup rmdir fails, and so does the state rmdir; the
  // state is kept, gc finds it and removes the cgroup: the bug is hidden.
  SweepReport per_op = SweepScript(SweepMode::kPersistent);
  ASSERT_TRUE(per_op.errors.empty()) << FailureText(per_op, 5);
  const PointResult* p = At(per_op, "rmdir", kCgroup);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(p->passed) << FailureText(per_op, 5);
  EXPECT_EQ(p->outcome, "recovered-by-gc");
  EXPECT_TRUE(p->reachable);  // EBUSY: cgroup_destroy_locked, a task still in it
  EXPECT_EQ(per_op.failed, 0u) << FailureText(per_op, 5);

  // Path-scoped: only that cgroup stays busy; the state goes, the run
  // "succeeds", and nothing can find the cgroup any more.
  SweepReport per_path = SweepScript(SweepMode::kPersistentPath);
  ASSERT_TRUE(per_path.errors.empty()) << FailureText(per_path, 5);
  const PointResult* q = At(per_path, "rmdir", kCgroup);
  ASSERT_NE(q, nullptr);
  EXPECT_FALSE(q->passed);
  EXPECT_EQ(q->outcome, "failed");
  EXPECT_EQ(q->plan, "op=rmdir,pid=100,nth=1,errno=EBUSY,mode=persistent-path");
  std::string why;
  for (const auto& f : q->failures) why += f + "\n";
  EXPECT_THAT(why, HasSubstr("the run succeeded but left: cgroups: +" + kCgroup)) << why;
  EXPECT_EQ(per_path.failed, 1u) << FailureText(per_path, 5);
  ASSERT_EQ(per_path.defects.size(), 1u);
  EXPECT_EQ(per_path.defects[0].runs, 1u);
  EXPECT_THAT(per_path.defects[0].replay, HasSubstr("--mode persistent-path"));
}

// mydocker with one mutation: the error of a failed cgroup or workspace
// step carries ENOENT whatever the kernel said (the errno of a cleanup
// call, as crun's "creating cgroup directory: No such file or directory").
void MutateToEnoent(mydocker::Error& e) {
  if (e.step.find("cgroup") != std::string::npos || e.step.find("workspace") != std::string::npos)
    e.err = ENOENT;
}

SweepConfig MutantConfig() {
  SweepConfig config;
  config.workload = *BuiltinWorkload("run-full");
  config.errnos = {ENOMEM, EIO};  // reachable at cgroup mkdirs / workspace mkdirs
  config.errnos_given = true;
  config.modes = {SweepMode::kTransient};
  config.replay_prefix = "faultline sweep --backend fake";
  return config;
}

TEST(TruthfulErrno, AMutantThatReportsTheWrongErrnoAtACgroupOrWorkspaceStepFails) {
  FakeBackendOptions o;
  o.mutate_error = MutateToEnoent;
  auto backend = MakeFakeSweepBackend(std::move(o));
  SweepReport r = RunSweep(*backend, MutantConfig());
  ASSERT_TRUE(r.errors.empty()) << FailureText(r, 5);
  EXPECT_FALSE(r.ok());
  size_t cgroup = 0, workspace = 0;
  for (const auto& p : r.results) {
    if (p.passed) continue;
    std::string why;
    for (const auto& f : p.failures) why += f + "\n";
    if (why.find("the error carries ENOENT") == std::string::npos) continue;
    cgroup += p.error.find("cgroup") != std::string::npos;
    workspace += p.error.find("workspace") != std::string::npos;
  }
  EXPECT_GT(cgroup, 0u) << FailureText(r, 10);
  EXPECT_GT(workspace, 0u) << FailureText(r, 10);
  // Grouped: fewer defects than failed runs; every failed run in one.
  EXPECT_LT(r.defects.size(), r.failed);
  size_t members = 0;
  for (const auto& d : r.defects) members += d.runs;
  EXPECT_EQ(members, r.failed);
  for (const auto& p : r.results) EXPECT_EQ(p.passed, p.defect == 0) << p.replay;

  // The unmutated runtime passes the same sweep, each errno from its call.
  auto good = MakeFakeSweepBackend();
  SweepReport g = RunSweep(*good, MutantConfig());
  EXPECT_TRUE(g.ok()) << FailureText(g, 10);
  EXPECT_TRUE(g.defects.empty());
  size_t attributed = 0;
  for (const auto& p : g.results) {
    if (!p.error.empty()) {
      EXPECT_FALSE(p.errno_origin.empty()) << p.replay;
      ++attributed;
    }
  }
  EXPECT_GT(attributed, 0u);
}

TEST(ErrnoModelSweep, AnUnreachableFaultIsNeverADefect) {
  // Under --errno-model all the mutant's EIO at a cgroup mkdir runs too, but
  // no kernel returns EIO there: those runs are "unreachable", not failed.
  FakeBackendOptions o;
  o.mutate_error = MutateToEnoent;
  auto backend = MakeFakeSweepBackend(std::move(o));
  SweepConfig config = MutantConfig();
  config.errno_model = ErrnoModelKind::kAll;
  config.errnos = {EIO};
  SweepReport r = RunSweep(*backend, config);
  ASSERT_TRUE(r.errors.empty()) << FailureText(r, 5);
  size_t unreachable_cgroup = 0;
  for (const auto& p : r.results) {
    if (p.op == "mkdir" && p.path.rfind("/sys/fs/cgroup/", 0) == 0) {
      EXPECT_FALSE(p.reachable) << p.replay;
      EXPECT_EQ(p.call_class, "cgroup-dir");
      if (p.outcome == "unreachable") {
        ++unreachable_cgroup;
        EXPECT_TRUE(p.passed);
        EXPECT_EQ(p.defect, 0u);
        EXPECT_THAT(p.replay, HasSubstr("--errno-model all"));
      }
    }
  }
  EXPECT_GT(unreachable_cgroup, 0u);
  EXPECT_EQ(r.unreachable_failures, [&] {
    size_t n = 0;
    for (const auto& p : r.results) n += p.outcome == "unreachable";
    return n;
  }());
  nlohmann::json j = r.ToJson();
  EXPECT_EQ(j["summary"]["distinct_defects"], r.defects.size());
  for (const auto& p : j["points"]) EXPECT_TRUE(p.contains("reachable"));
}

}  // namespace
}  // namespace faultline
