// The two-actor sweep on FakeKernel (issue 15, harness/sweep/two_actor.h):
// A (`run busybox true`) held at every call of its clean run while a second
// actor (gc, rm -f A, run B, image rm) runs to its end; every interleaving
// must pass, their number is exact.
#include <errno.h>

#include <chrono>
#include <algorithm>
#include <iostream>
#include <map>

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
  EXPECT_EQ(r.points, 290u);
  EXPECT_EQ(r.interleavings, r.points * 4);
  EXPECT_EQ(r.interleavings, 1160u);
  EXPECT_EQ(r.passed, r.interleavings);
  // Exact: which allowed outcome each interleaving had (docs/sweeps.md, "Two
  // actors"). 31 points hold the store lock (from A's first call to its
  // first state write, and its directory's removal at the end), 256 its
  // container's lock without it, 3 neither (A's first two calls and its
  // last). A's init is in its cgroup at 164 of the 256 (from its attach to
  // its exit): rm -f kills it there.
  const std::map<std::string, size_t> want = {
      {"gc a:as-clean-run", 290},        {"gc gc-finds-nothing", 3},
      {"gc gc-skips-a", 256},            {"gc waits-for-store-lock", 31},
      {"image-rm a:as-clean-run", 288},  {"image-rm a:image-gone", 2},
      {"image-rm image-rm-refuses-in-use", 256}, {"image-rm image-rm-removes", 3},
      {"image-rm waits-for-store-lock", 31},     {"rm-f a:as-clean-run", 126},
      {"rm-f a:killed-by-rm-f", 164},    {"rm-f rm-kills-and-refuses", 256},
      {"rm-f rm-no-such-container", 3},  {"rm-f waits-for-store-lock", 31},
      {"run a:as-clean-run", 290},       {"run run-runs", 259},
      {"run waits-for-store-lock", 31}};
  EXPECT_EQ(r.outcomes, want);
}

// The full workload (two volumes, every cgroup limit) on v1 hybrid and
// run-true on cgroup v2: every interleaving passes; the counts are exact.
TEST(TwoActorSweep, RunFullAndCgroupV2) {
  TwoActorConfig full = Config("run-full");
  TwoActorReport f = RunTwoActorSweep(full);
  std::cout << TwoActorText(f, 0) << "wall time " << f.seconds << " s\n";
  EXPECT_TRUE(f.ok()) << TwoActorText(f, 10);
  EXPECT_EQ(f.points, 348u);
  EXPECT_EQ(f.interleavings, 348u * 4);
  EXPECT_EQ(f.passed, f.interleavings);

  TwoActorConfig v2 = Config("run-true");
  v2.kernel.cgroups = FakeCgroupMode::kV2Unified;
  TwoActorReport r = RunTwoActorSweep(v2);
  std::cout << TwoActorText(r, 0) << "wall time " << r.seconds << " s\n";
  EXPECT_TRUE(r.ok()) << TwoActorText(r, 10);
  EXPECT_EQ(r.points, 275u);
  EXPECT_EQ(r.interleavings, 275u * 4);
  EXPECT_EQ(r.passed, r.interleavings);
}

// A runtime without the store lock (every flock of containers.lock
// reports success and locks nothing: a mutant): the sweep must fail, at
// the points where the store lock is what keeps the second actor off A's
// container being created.
class NoStoreLock : public mydocker::SysWrapper {
 public:
  using mydocker::SysWrapper::SysWrapper;
  mydocker::Result<int> Open(const std::string& path, int flags, mode_t mode) override {
    auto r = mydocker::SysWrapper::Open(path, flags, mode);
    if (r.ok() && path.ends_with("/containers.lock")) store_fds_.push_back(r.value);
    return r;
  }
  mydocker::Status Flock(int fd, int op) override {
    if (std::find(store_fds_.begin(), store_fds_.end(), fd) != store_fds_.end()) {
      return mydocker::Status::Ok();
    }
    return mydocker::SysWrapper::Flock(fd, op);
  }

 private:
  std::vector<int> store_fds_;
};

TEST(TwoActorSweep, FailsAMutantWithoutTheStoreLock) {
  TwoActorConfig c = Config("run-true");
  c.wrap = [](mydocker::Sys& k) { return std::make_unique<NoStoreLock>(k); };
  TwoActorReport r = RunTwoActorSweep(c);
  std::cout << TwoActorText(r, 3);
  EXPECT_TRUE(r.errors.empty());
  EXPECT_EQ(r.interleavings, 1160u);
  // Exact: the interleavings the store lock decides (image rm of the image
  // A is about to mount, gc and rm -f of a container being created, ...).
  EXPECT_EQ(r.failed, 29u);
  std::map<std::string, size_t> by_actor;
  for (const TwoActorResult& x : r.results) by_actor[SecondActorName(x.actor)] += !x.passed;
  std::cout << "failed: gc " << by_actor["gc"] << ", rm-f " << by_actor["rm-f"] << ", run "
            << by_actor["run"] << ", image-rm " << by_actor["image-rm"] << "\n";
  EXPECT_GT(by_actor["image-rm"], 0u);
}

// The defect the sweep found first: A's teardown removed its directory
// (its lock file first) without the store lock, so for three calls gc and
// rm -f took A's container for one whose run died and removed it, and
// image rm removed A's image while A's container was listed. Now every
// call of that removal is made under the store lock: the second actor
// waits for it (EDEADLK in FakeKernel), whatever the actor.
TEST(TwoActorSweep, TheRunRemovesItsDirectoryUnderTheStoreLock) {
  TwoActorConfig c = Config("run-true");
  c.only_point = 1;
  const size_t n = RunTwoActorSweep(c).points;
  ASSERT_GT(n, 12u);
  size_t removals = 0;
  for (size_t k = n - 11; k <= n; ++k) {
    c.only_point = k;
    TwoActorReport r = RunTwoActorSweep(c);
    ASSERT_EQ(r.results.size(), 4u);
    for (const TwoActorResult& x : r.results) {
      EXPECT_TRUE(x.passed) << TwoActorText(r, 4);
      const bool in_dir = x.args.find("containers/5ee900000001") != std::string::npos ||
                          x.args.find("path=\"state.json\"") != std::string::npos ||
                          x.args.find("path=\"lock\"") != std::string::npos;
      if ((x.op == "unlinkat" || x.op == "rmdir") && in_dir) {
        ++removals;
        EXPECT_TRUE(x.held.store_lock) << x.point_id << " " << x.args;
        EXPECT_EQ(x.allowed, "waits-for-store-lock") << x.point_id;
      }
    }
  }
  // RemoveTree's rmdir of the directory (ENOTEMPTY), unlinkat of lock and
  // state.json, rmdir again; 4 actors each.
  EXPECT_EQ(removals, 4u * 4u);
}

}  // namespace
}  // namespace faultline
