// The harness itself under faults on the real kernel (issue 13), through the
// kernel sweep backend: a crash rule in the container's init kills the
// runtime at that call (faults/init_crash.h, the builtin worker's path too:
// scenarios/faults/init-crash.yaml), a `once` rule without a pid fires once
// for the runtime and its init together (the plan's counters are shared
// across clone), and the short mode on run-true.
#include <errno.h>
#include <unistd.h>

#include <iostream>
#include <map>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "harness/sweep/sweep.h"
#include "tests/privileged/privileged_env.h"

namespace faultline {
namespace {

class KernelHarnessFaults : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root";
    std::string error;
    tar_ = PrivilegedImageTar(&error);
    ASSERT_FALSE(tar_.empty()) << error;
  }
  std::unique_ptr<SweepBackend> Backend() {
    KernelBackendOptions o;
    o.image_tar = tar_;
    return MakeKernelSweepBackend(o);
  }
  static FaultPlan Plan(const std::string& text) {
    auto p = FaultPlan::Parse(text);
    EXPECT_TRUE(p.ok()) << p.error().Message();
    return p.ok() ? *p : FaultPlan{};
  }
  std::string tar_;
};

TEST_F(KernelHarnessFaults, ACrashInTheInitKillsTheRuntimeAtThatCall) {
  auto backend = Backend();
  ASSERT_TRUE(backend->Prepare(*BuiltinWorkload("run-true")).ok());
  SweepRun run = backend->Run(
      Plan("op=pivot_root,pid=" + std::to_string(kSweepInitPid) + ",nth=1,action=crash"), true);
  EXPECT_EQ(run.harness_error, "");
  EXPECT_TRUE(run.crashed);
  EXPECT_FALSE(run.returned_error);  // the runtime died: no error, no exit status
  // The init's trace ends at the crash: pivot_root fired, nothing after it.
  const SweepCall* last = nullptr;
  for (const SweepCall& c : run.calls) {
    if (c.pid == kSweepInitPid) last = &c;
  }
  ASSERT_NE(last, nullptr);
  EXPECT_EQ(last->op, "pivot_root");
  EXPECT_TRUE(last->fired);
  EXPECT_TRUE(run.gc_ran);
  EXPECT_TRUE(run.left_after_gc.empty()) << Describe(run.left_after_gc);
  backend->Finish();
}

TEST_F(KernelHarnessFaults, AOnceRuleWithoutPidFiresOnceForTheRuntimeAndItsInit) {
  auto backend = Backend();
  ASSERT_TRUE(backend->Prepare(*BuiltinWorkload("run-true")).ok());
  SweepRun clean = backend->Run(FaultPlan{}, false);
  ASSERT_EQ(clean.harness_error, "");
  // The runtime's closes before its clone; the next close of either process
  // is the rule's. Both make closes right after the clone: with a counter
  // per process (before) the runtime's and the init's next close were each
  // "the k-th", and the rule fired twice.
  uint64_t before = 0, init_closes = 0;
  bool cloned = false;
  for (const SweepCall& c : clean.calls) {
    if (c.op == "clone" && c.pid == kSweepRuntimePid) cloned = true;
    if (c.op != "close") continue;
    if (!cloned) ++before;
    if (c.pid == kSweepInitPid) ++init_closes;
  }
  ASSERT_TRUE(cloned);
  ASSERT_GT(init_closes, 0u);
  const std::string plan =
      "op=close,nth=" + std::to_string(before + 1) + ",action=delay,delay_ms=0,mode=transient";
  SweepRun run = backend->Run(Plan(plan), false);
  EXPECT_EQ(run.harness_error, "");
  size_t fired = 0;
  for (const SweepCall& c : run.calls) fired += c.fired;
  EXPECT_EQ(fired, 1u) << plan;
  EXPECT_EQ(run.exit_code, clean.exit_code);
  backend->Finish();
}

// Measured (docs/sweeps.md "Short reads and writes"): 16 points where a
// kernel may shorten the call: the runtime's 9 reads (proc files, its
// init's report pipe), its 6 writes (where errno_model.yaml's short_min
// allows: disk writes of 2 bytes or more, pipe writes above PIPE_BUF), the
// init's read of its command pipe; 68 runs with
// the clean run and the end checks.
constexpr size_t kShortPoints = 16;
constexpr size_t kShortRuns = 68;

TEST_F(KernelHarnessFaults, ShortModeOnRunTrue) {
  auto backend = Backend();
  SweepConfig config;
  config.workload = *BuiltinWorkload("run-true");
  config.modes = {SweepMode::kShort};
  config.replay_prefix = "faultline sweep --backend kernel";
  SweepReport r = RunSweep(*backend, config);
  backend->Finish();
  std::map<std::string, size_t> ops;
  for (const auto& p : r.results) {
    ++ops[p.process + " " + p.op];
    std::cout << "  point " << p.point << " " << p.process << " " << p.op << " " << p.args
              << ": " << p.outcome << "\n";
  }
  for (const auto& [k, n] : ops) std::cout << "  " << k << ": " << n << "\n";
  std::cout << "short on the kernel: " << r.runs << " runs, " << r.failed << " failed, "
            << r.seconds << " s\n";
  EXPECT_TRUE(r.ok()) << FailureText(r, 10);
  EXPECT_EQ(r.results.size(), kShortPoints);
  EXPECT_EQ(r.runs, kShortRuns) << "setup runs " << r.setup_runs;
}

}  // namespace
}  // namespace faultline
