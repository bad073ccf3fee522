// The fault sweep on the real kernel (issue 3): FaultInjectingSys over
// LinuxSys, the real probes, a private mount namespace, a scratch root
// under /tmp with the busybox image from ci/build-image, a per-sweep cgroup
// parent (see harness/sweep/backend.h, MakeKernelSweepBackend).
//
// CI time: the full default errno set with every mode, about 1-2 minutes
// per sweep on the 2-core CI machine (measured: docs/sweeps.md). To cut it,
// FAULTLINE_SWEEP_ERRNOS=EIO,EBUSY (one "cannot recover", one "busy" errno)
// runs a subset.
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

  SweepReport Sweep(const std::string& workload) {
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

  std::string tar_;
  size_t per_point_ = 0;  // runs per point: errnos x (transient, persistent) + crash
};

TEST_F(KernelSweep, RunTrue) {
  SweepReport r = Sweep("run-true");
  EXPECT_TRUE(r.ok()) << Failures(r);
  EXPECT_GT(r.points, 50u);
  // Every point ran with every errno in every mode.
  EXPECT_EQ(r.results.size(), r.points * per_point_);
  bool init_point = false;
  for (const auto& p : r.results) init_point = init_point || p.pid == kSweepInitPid;
  EXPECT_TRUE(init_point) << "the init's calls are part of the sweep";
}

TEST_F(KernelSweep, RunFull) {
  SweepReport r = Sweep("run-full");
  EXPECT_TRUE(r.ok()) << Failures(r);
  EXPECT_EQ(r.results.size(), r.points * per_point_);
}

}  // namespace
}  // namespace faultline
