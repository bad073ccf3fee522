// The fault sweep on the real kernel (issue 3): FaultInjectingSys over
// LinuxSys, the real probes, a private mount namespace, a scratch root
// under /tmp with the busybox image from ci/build-image, a per-sweep cgroup
// parent (see harness/sweep/backend.h, MakeKernelSweepBackend).
//
// CI time: the full default errno set with every mode; run-true about 6
// minutes on the 2-core CI machine, run-full about 7 (measured:
// docs/sweeps.md). CI runs run-true's shard 0/2 and run-full's shard 0/4
// (every second or fourth run of the canonical order, so every phase of the
// workload is in it); FAULTLINE_LONG=1 runs both whole.
// FAULTLINE_SWEEP_ERRNOS=EIO,EBUSY (one "cannot recover", one "busy" errno)
// cuts the errno list.
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <iostream>

#include <gtest/gtest.h>

#include "harness/sweep/sweep.h"
#include "tests/privileged/privileged_env.h"

namespace faultline {
namespace {

std::string Failures(const SweepReport& r) { return FailureText(r, 15); }

class KernelSweep : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root";
    std::string error;
    tar_ = PrivilegedImageTar(&error);
    ASSERT_FALSE(tar_.empty()) << error;
  }

  SweepReport Sweep(const std::string& workload, Shard shard = {}) {
    KernelBackendOptions o;
    o.image_tar = tar_;
    auto backend = MakeKernelSweepBackend(o);
    SweepConfig config;
    config.workload = *BuiltinWorkload(workload);
    config.replay_prefix = "faultline sweep --backend kernel";
    // The backend under every errno of the list at every point, in the three
    // classic modes (the reachable model's sweep is `faultline sweep`).
    config.errno_model = ErrnoModelKind::kAll;
    config.modes = {SweepMode::kTransient, SweepMode::kPersistent, SweepMode::kCrash};
    if (const char* list = std::getenv("FAULTLINE_SWEEP_ERRNOS")) {
      auto e = ParseErrnoList({list});
      EXPECT_TRUE(e.ok()) << e.error().Message();
      if (e.ok()) config.errnos = *e;
    }
    config.shard = shard;
    per_point_ = config.errnos.size() * 2 + 1;
    auto t0 = std::chrono::steady_clock::now();
    SweepReport r = RunSweep(*backend, config);
    backend->Finish();
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::cout << workload << " on the kernel: " << r.points << " points, " << r.runs
              << " runs, " << r.passed << " passed, " << r.failed << " failed, " << s
              << " s\n";
    return r;
  }

  // The CI share (total shards), or the whole sweep with FAULTLINE_LONG=1.
  static Shard CiShare(int total) {
    const char* long_run = std::getenv("FAULTLINE_LONG");
    return long_run != nullptr && *long_run != '\0' ? Shard{} : Shard{0, total};
  }

  std::string tar_;
  size_t per_point_ = 0;  // runs per point: errnos x (transient, persistent) + crash
};

TEST_F(KernelSweep, RunTrue) {
  const Shard shard = CiShare(2);
  SweepReport r = Sweep("run-true", shard);
  EXPECT_TRUE(r.ok()) << Failures(r);
  // Every call of the clean run is a point (a longer faulted run may add
  // more); the clean trace itself, call by call, is pinned against
  // FakeKernel's by SweepTraces (sweep_traces_test.cc).
  EXPECT_GE(r.points, r.clean_calls);
  EXPECT_GT(r.clean_calls, 0u);
  // Every point with every errno in every mode, this shard's share of it.
  EXPECT_EQ(r.planned, r.points * per_point_);
  EXPECT_EQ(r.results.size(), ShardSize(r.planned, shard));
  bool init_point = false;
  for (const auto& p : r.results) init_point = init_point || p.pid == kSweepInitPid;
  EXPECT_TRUE(init_point) << "the init's calls are part of the sweep";
}

TEST_F(KernelSweep, RunFull) {
  const Shard shard = CiShare(4);
  SweepReport r = Sweep("run-full", shard);
  EXPECT_TRUE(r.ok()) << Failures(r);
  EXPECT_EQ(r.planned, r.points * per_point_);
  EXPECT_EQ(r.results.size(), ShardSize(r.planned, shard));
}

}  // namespace
}  // namespace faultline
