// The sweep on runtime binaries under the seccomp supervisor (issue 5):
// `faultline sweep --backend seccomp --runtime mydocker|runc|crun`.
//
// 1. A shell-script "runtime" with a known leak (it gives up when umount
//    fails and leaves its tmpfs mounted) proves the sweep sees the leftover
//    at exactly that point, names it, and that a cleanup command which
//    removes it turns the point into "recovered-by-gc".
// 2. The mydocker binary: every point (its init's calls included), EIO
//    transient and crash, must pass: mydocker's own bar.
// 3. runc and crun, EIO once at every point: the backend must run them
//    cleanly (clean run, points found, every failure a runtime finding, never
//    a harness problem). Their findings are printed, not asserted: they
//    belong to the runtime's version (the full tables are in docs/sweeps.md;
//    crash mode is scenarios/faults/sweep-crash.yaml, with the known defects
//    in scenarios/runtimes/{runc,crun}.yaml).
#include <errno.h>
#include <unistd.h>

#include <chrono>
#include <iostream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "harness/sweep/sweep.h"
#include "tests/privileged/privileged_env.h"

namespace faultline {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class SeccompSweep : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root";
  }

  std::string Tar() {
    std::string error;
    std::string tar = PrivilegedImageTar(&error);
    EXPECT_FALSE(tar.empty()) << error;
    return tar;
  }

  static SweepReport Sweep(SeccompBackendOptions o, std::vector<SweepMode> modes,
                           const std::string& workload = "run-true",
                           std::vector<int> errnos = {EIO}) {
    auto backend = MakeSeccompSweepBackend(o);
    SweepConfig config;
    config.workload = *BuiltinWorkload(workload);
    config.errnos = std::move(errnos);
    config.errno_model = ErrnoModelKind::kAll;  // the errnos at every point
    config.modes = std::move(modes);
    config.replay_prefix = "faultline sweep --backend seccomp --runtime " + o.runtime;
    auto t0 = std::chrono::steady_clock::now();
    SweepReport r = RunSweep(*backend, config);
    backend->Finish();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::cout << o.runtime << ": " << r.points << " points, " << r.runs << " runs, " << r.passed
              << " passed, " << r.failed << " failed, " << s << " s\n";
    return r;
  }

  static const PointResult* Find(const SweepReport& r, const std::string& op, SweepMode mode) {
    for (const auto& p : r.results) {
      if (p.op == op && p.mode == mode) return &p;
    }
    return nullptr;
  }
};

// mkdir, mount a tmpfs, umount, rmdir; `set -e`: any failure ends it there.
SeccompBackendOptions LeakyScript() {
  SeccompBackendOptions o;
  o.runtime = "custom";
  o.custom_run = {"/bin/sh", "-c",
                  "set -e; mkdir {state}/c; mount -t tmpfs leaky {state}/c; umount {state}/c; "
                  "rmdir {state}/c"};
  return o;
}

TEST_F(SeccompSweep, SeesTheLeakOfAScriptAtItsUmount) {
  // EBUSY: the kernel can return it at both the tmpfs mount and its umount
  // (faults/errno_model.yaml: new-mount, umount-own-mount), so a failure
  // there is the script's defect, not an unreachable fault.
  SweepReport r =
      Sweep(LeakyScript(), {SweepMode::kTransient, SweepMode::kCrash}, "run-true", {EBUSY});
  ASSERT_TRUE(r.errors.empty()) << FailureText(r, 10);
  const PointResult* umount = Find(r, "umount2", SweepMode::kTransient);
  ASSERT_NE(umount, nullptr) << "the sweep must find the umount2 call";
  EXPECT_FALSE(umount->passed);
  // The probes saw the mount and the directory, after the run and after the
  // (absent) cleanup, and the row says so.
  EXPECT_THAT(umount->left, HasSubstr("mounts: +"));
  EXPECT_THAT(umount->left, HasSubstr("/state/c tmpfs leaky"));
  EXPECT_THAT(umount->left, HasSubstr("dirs: +"));
  ASSERT_FALSE(umount->failures.empty());
  EXPECT_THAT(umount->failures[0], HasSubstr("left after gc: "));
  EXPECT_THAT(umount->replay, HasSubstr("--point " + std::to_string(umount->point) +
                                        " --errno EBUSY --mode transient"));
  // The mkdir of c: a clean failure (nothing made, nothing left).
  const PointResult* mkdir = nullptr;
  for (const auto& p : r.results) {
    if (p.op == "mkdir" && p.mode == SweepMode::kTransient &&
        p.args.find("/state/c") != std::string::npos) {
      mkdir = &p;
    }
  }
  ASSERT_NE(mkdir, nullptr);
  EXPECT_TRUE(mkdir->passed) << FailureText(r, 10);
  EXPECT_EQ(mkdir->outcome, "clean");
  // The mount: the script leaves its directory (and only that).
  const PointResult* mount = Find(r, "mount", SweepMode::kTransient);
  ASSERT_NE(mount, nullptr);
  EXPECT_FALSE(mount->passed);
  EXPECT_THAT(mount->left, HasSubstr("/state/c"));
  EXPECT_THAT(mount->left, Not(HasSubstr("mounts:")));
  // A crash right after the mount leaves it too; with no cleanup: a failure.
  const PointResult* crash = Find(r, "umount2", SweepMode::kCrash);
  ASSERT_NE(crash, nullptr);
  EXPECT_FALSE(crash->passed);
  EXPECT_THAT(crash->left, HasSubstr("/state/c tmpfs leaky"));
}

TEST_F(SeccompSweep, TheRuntimesCleanupRecoversTheLeak) {
  SeccompBackendOptions o = LeakyScript();
  o.custom_cleanup = {"/bin/sh", "-c",
                      "if mountpoint -q {state}/c; then umount {state}/c; fi; "
                      "if [ -d {state}/c ]; then rmdir {state}/c; fi"};
  SweepReport r = Sweep(o, {SweepMode::kTransient, SweepMode::kCrash});
  EXPECT_TRUE(r.ok()) << FailureText(r, 10);
  const PointResult* umount = Find(r, "umount2", SweepMode::kTransient);
  ASSERT_NE(umount, nullptr);
  EXPECT_EQ(umount->outcome, "recovered-by-gc");
  EXPECT_THAT(umount->left, HasSubstr("tmpfs leaky"));
  EXPECT_TRUE(umount->left_after_gc.empty());
}

TEST_F(SeccompSweep, MydockerPassesEveryPoint) {
  SeccompBackendOptions o;
  o.runtime = "mydocker";
  o.binary = std::string(FAULTLINE_BINARY_DIR) + "/runtime/mydocker";
  o.image_tar = Tar();
  SweepReport r = Sweep(o, {SweepMode::kTransient, SweepMode::kCrash});
  EXPECT_TRUE(r.ok()) << FailureText(r, 15);
  EXPECT_GT(r.points, 50u);
  EXPECT_EQ(r.results.size(), r.points * 2);
  size_t init_points = 0, not_fired = 0;
  for (const auto& p : r.results) {
    if (p.args.find("pivot_root") != std::string::npos) ++init_points;
    if (p.outcome == "not-fired") ++not_fired;
  }
  EXPECT_GT(init_points, 0u) << "the container init's calls are points too";
  EXPECT_EQ(not_fired, 0u) << "the same calls in the same order in every run";
}

void PeerWithEioOnce(const std::string& runtime, SeccompBackendOptions o) {
  o.runtime = runtime;
  SweepReport r = [&] {
    auto backend = MakeSeccompSweepBackend(o);
    SweepConfig config;
    config.workload = *BuiltinWorkload("run-true");
    config.errnos = {EIO};
    config.errno_model = ErrnoModelKind::kAll;
    config.modes = {SweepMode::kTransient};
    SweepReport rep = RunSweep(*backend, config);
    backend->Finish();
    return rep;
  }();
  std::cout << runtime << " (EIO once): " << r.points << " points, " << r.runs << " runs, "
            << r.failed << " failed\n"
            << SweepMarkdown(r);
  ASSERT_TRUE(r.errors.empty()) << FailureText(r, 10);
  EXPECT_GT(r.points, 30u);
  for (const auto& p : r.results) {
    for (const auto& f : p.failures) {
      EXPECT_EQ(f.rfind("harness:", 0), std::string::npos) << "point " << p.point << ": " << f;
    }
    EXPECT_NE(p.outcome, "not-fired") << "point " << p.point << " " << p.args;
  }
}

TEST_F(SeccompSweep, RuncWithEioOnce) {
  SeccompBackendOptions o;
  o.image_tar = Tar();
  if (access("/usr/sbin/runc", X_OK) != 0 && access("/usr/bin/runc", X_OK) != 0) {
    GTEST_SKIP() << "runc is not installed (ci/install-deps installs it)";
  }
  PeerWithEioOnce("runc", o);
}

TEST_F(SeccompSweep, CrunWithEioOnce) {
  SeccompBackendOptions o;
  o.image_tar = Tar();
  if (access("/usr/bin/crun", X_OK) != 0 && access("/usr/sbin/crun", X_OK) != 0) {
    GTEST_SKIP() << "crun is not installed (ci/install-deps installs it)";
  }
  PeerWithEioOnce("crun", o);
}

}  // namespace
}  // namespace faultline
