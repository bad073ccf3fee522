// The two-actor sweep on FakeKernel (issue 15, harness/sweep/two_actor.h):
// A (`run busybox true`) held at every call of its clean run while a second
// actor (gc, rm -f A, run B, image rm) runs to its end; every interleaving
// must pass, their number is exact.
#include <errno.h>

#include <chrono>
#include <iostream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "harness/sweep/sweep.h"
#include "harness/sweep/two_actor.h"
#include "runtime/sys/sys_wrapper.h"

namespace faultline {
namespace {

using ::testing::HasSubstr;

TwoActorConfig Config(const std::string& workload) {
  TwoActorConfig c;
  c.workload = *BuiltinWorkload(workload);
  return c;
}

TEST(TwoActorSweep, RunTrueEveryPointAndActor) {
  auto t0 = std::chrono::steady_clock::now();
  TwoActorReport r = RunTwoActorSweep(Config("run-true"));
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << TwoActorText(r, 0) << "wall time " << secs << " s\n";
  EXPECT_TRUE(r.ok()) << TwoActorText(r, 10);
  EXPECT_EQ(r.points, 306u);
  EXPECT_EQ(r.interleavings, r.points * 4);
  EXPECT_EQ(r.passed, r.interleavings);
}

}  // namespace
}  // namespace faultline
