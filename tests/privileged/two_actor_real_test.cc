// The two-actor sweep on the real kernel (issue 15): A held by a `pause`
// action at its call k, a second actor run to its end (or until it waits
// for a lock A holds), A released, then the probes; outcomes checked
// exactly (harness/sweep/two_actor_real.h, docs/sweeps.md "Two actors on
// the kernel and seccomp backends").
//
// CI runs a share of the points (every Nth: the points of shard 0/N, so
// every phase of the run is in it: builtin every 12th, runc and crun every
// 20th); FAULTLINE_LONG=1 runs every point.
// Counts are exact: interleavings = ShardSize(points, shard) x actors.
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <iostream>

#include <gtest/gtest.h>

#include "harness/adapters/profile.h"
#include "harness/sweep/sweep.h"
#include "harness/sweep/two_actor_real.h"
#include "tests/privileged/privileged_env.h"

namespace faultline {
namespace {

Shard CiShare(int total) {
  const char* long_run = std::getenv("FAULTLINE_LONG");
  return long_run != nullptr && *long_run != '\0' ? Shard{} : Shard{0, total};
}

size_t Count(const TwoActorReport& r, const std::string& key) {
  auto it = r.outcomes.find(key);
  return it == r.outcomes.end() ? 0 : it->second;
}

void Print(const TwoActorReport& r) {
  std::cout << TwoActorText(r, 10);
  std::cout << r.seconds << " s\n";
}

class RealTwoActor : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root";
    std::string error;
    tar_ = PrivilegedImageTar(&error);
    ASSERT_FALSE(tar_.empty()) << error;
  }
  std::string tar_;
};

TEST_F(RealTwoActor, KernelBuiltinRunTrue) {
  RealTwoActorConfig c;
  c.backend = "kernel";
  c.workload = *BuiltinWorkload("run-true");
  c.kernel.image_tar = tar_;
  c.shard = CiShare(12);
  TwoActorReport r = RunRealTwoActorSweep(c);
  Print(r);
  ASSERT_TRUE(r.errors.empty()) << r.errors.front();
  EXPECT_EQ(r.backend, "kernel");
  EXPECT_GT(r.points, 100u);
  EXPECT_EQ(r.planned, r.points * 4);
  EXPECT_EQ(r.interleavings, ShardSize(r.points, c.shard) * 4);
  EXPECT_EQ(r.failed, 0u) << TwoActorText(r, 10);
  EXPECT_EQ(r.passed, r.interleavings);
  // The probes saw every state of A: the outcomes that prove it.
  EXPECT_GT(Count(r, "gc gc-skips-a"), 0u);
  EXPECT_GT(Count(r, "rm-f rm-kills-and-refuses"), 0u);
  EXPECT_GT(Count(r, "rm-f a:killed-by-rm-f"), 0u);
  EXPECT_GT(Count(r, "image-rm image-rm-refuses-in-use"), 0u);
  EXPECT_GT(Count(r, "run run-runs"), 0u);
  size_t waited = 0, init_points = 0;
  for (const auto& x : r.results) {
    waited += x.waited;
    init_points += x.process == "init";
  }
  EXPECT_GT(waited, 0u) << "no second actor waited for the store lock";
  EXPECT_GT(init_points, 0u) << "A's init's calls are points too";
}

class SeccompTwoActor : public RealTwoActor,
                        public ::testing::WithParamInterface<const char*> {};

TEST_P(SeccompTwoActor, RunTrue) {
  const std::string runtime = GetParam();
  {
    ScenarioError err;
    auto p = FindProfile(runtime, ProfileSearchPath(), &err);
    if (!p || ResolveProfileBinary(*p, "").empty()) GTEST_SKIP() << runtime << " not installed";
  }
  RealTwoActorConfig c;
  c.backend = "seccomp";
  c.workload = *BuiltinWorkload("run-true");
  c.seccomp.runtime = runtime;
  c.seccomp.image_tar = tar_;
  c.shard = CiShare(20);
  TwoActorReport r = RunRealTwoActorSweep(c);
  Print(r);
  ASSERT_TRUE(r.errors.empty()) << r.errors.front();
  EXPECT_GT(r.points, 20u);
  EXPECT_EQ(r.planned, r.points * 2);
  EXPECT_EQ(r.interleavings, ShardSize(r.points, c.shard) * 2);
  for (const auto& x : r.results) {
    EXPECT_TRUE(x.hold_fired) << "point " << x.point << " " << x.op << ": A was never held";
    // Every failure is the runtime's finding, never the harness's.
    for (const auto& f : x.failures) {
      EXPECT_NE(f.rfind("harness:", 0), 0u) << "point " << x.point << ": " << f;
    }
  }
  EXPECT_GT(Count(r, "rm-f deleted") + Count(r, "rm-f no-such-container"), 0u);
  // Findings are the runtime's: printed with their replay, asserted in
  // the docs' tables for the version measured (docs/sweeps.md).
  if (r.failed) std::cout << runtime << ": " << r.failed << " interleavings failed\n";
}

INSTANTIATE_TEST_SUITE_P(Runtimes, SeccompTwoActor,
                         ::testing::Values("runc", "crun", "runc-1.3.6", "crun-1.28"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& ch : n) {
                             if (ch == '-' || ch == '.') ch = '_';
                           }
                           return n;
                         });

}  // namespace
}  // namespace faultline
