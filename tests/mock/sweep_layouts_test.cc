// The fake sweep on each cgroup layout FakeKernel models (issue 11, "cgroup
// v2 swept"): `run busybox true` with every errno of the default set and
// every mode passes on v1, v2 and hybrid, with the exact number of points
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
  EXPECT_EQ(r.results.size(), r.points * 13);
  EXPECT_EQ(r.failed, 0u);
}

INSTANTIATE_TEST_SUITE_P(Layouts, FakeSweepLayout,
                         ::testing::Values(Layout{"hybrid", FakeCgroupMode::kV1Hybrid, 187},
                                           Layout{"v1", FakeCgroupMode::kV1, 187},
                                           Layout{"v2", FakeCgroupMode::kV2Unified, 156}),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace faultline
