// The fake sweep on each cgroup layout FakeKernel models (issue 11, "cgroup
// v2 swept"): `run busybox true` with every reachable errno and every
// default mode passes on v1, v2 and hybrid, with the exact number of points
// of each layout (the runtime's cgroup calls differ: one hierarchy on v2,
// one per controller on v1). A change to the runtime's calls or to the
// fake's layouts updates these counts on purpose.
#include <iostream>
#include <string>

#include <gtest/gtest.h>

#include "harness/sweep/sweep.h"

namespace faultline {
namespace {

struct Layout {
  const char* name;
  FakeCgroupMode mode;
  size_t points;  // run-true
  size_t runs;    // run-true's (point, fault) runs under the reachable model
};

class FakeSweepLayout : public ::testing::TestWithParam<Layout> {};

TEST_P(FakeSweepLayout, RunTruePassesWithExactPoints) {
  const Layout& l = GetParam();
  FakeBackendOptions o;
  o.kernel.cgroups = l.mode;
  auto backend = MakeFakeSweepBackend(std::move(o));
  SweepConfig config;
  config.workload = *BuiltinWorkload("run-true");
  config.replay_prefix = std::string("faultline sweep --backend fake --cgroup ") + l.name;
  SweepReport r = RunSweep(*backend, config);
  std::cout << "run-true on fake, cgroup " << l.name << ": " << r.points << " points, " << r.runs
            << " runs, " << r.seconds << " s\n";
  EXPECT_TRUE(r.ok()) << FailureText(r, 15);
  EXPECT_EQ(r.points, l.points);
  EXPECT_EQ(r.clean_calls, l.points);
  EXPECT_EQ(r.results.size(), l.runs);
  EXPECT_EQ(r.failed, 0u);
}

INSTANTIATE_TEST_SUITE_P(Layouts, FakeSweepLayout,
                         // 290 and 275: the 187 and 156 calls of h/conform's base,
                         // plus the 15 of the store and container locks and the
                         // state's fsyncs, the 104 of the confinement (h/hostile,
                         // h/confine) and the 3 of the store lock the run's
                         // teardown takes to remove its directory (h/actors);
                         // less 3 for the "running" state's directory fsync and,
                         // on v1, 16 for the cpuset files read once (h/start).
                         // Runs: the model's errnos per call in six modes
                         // (FakeSweep.RunTrueEveryPointErrnoAndMode has the
                         // breakdown of 2459); v2 has 15 calls fewer (one hierarchy).
                         ::testing::Values(Layout{"hybrid", FakeCgroupMode::kV1Hybrid, 290, 2459},
                                           Layout{"v1", FakeCgroupMode::kV1, 290, 2459},
                                           Layout{"v2", FakeCgroupMode::kV2Unified, 275, 2334}),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace faultline
