// Parallel sweeps on the real kernel (issue 17): `-j N` worker processes,
// each with its own scratch directory and cgroup parent, make the same
// report as one serial backend; and the seccomp supervisor recognises a
// hung process tree by its quiet time instead of the run timeout.
#include <errno.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <regex>
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "harness/sweep/sweep.h"
#include "tests/privileged/privileged_env.h"

namespace faultline {
namespace {

using ::testing::HasSubstr;

// What differs between two backends by construction: the scratch directory
// (mkdtemp), the cgroup parent (named by the worker's pid), pids.
std::string Normalize(std::string s) {
  static const std::regex kScratch(R"(/tmp/faultline-sweep-[A-Za-z0-9]{6})");
  static const std::regex kParent(R"(faultline-sweep-[0-9]+)");
  static const std::regex kPid(R"(\bpid [0-9]+)");
  s = std::regex_replace(s, kScratch, "{scratch}");
  s = std::regex_replace(s, kParent, "{cgroup-parent}");
  static const std::regex kProcPid(R"(/proc/[0-9]+/)");  // the runtime's own, e.g. /proc/N/stat
  s = std::regex_replace(s, kProcPid, "/proc/{n}/");
  static const std::regex kWait(R"(\bwait [0-9]+)");  // "container: wait <pid>: ..."
  s = std::regex_replace(s, kWait, "wait {n}");
  return std::regex_replace(s, kPid, "pid {n}");
}

// The verdict of every run by its stable ID, and the report's counts: what
// -j must not change. (Call arguments and call numbers may: the pids the
// kernel hands out differ between the two sweeps, and with their digits
// the lengths of the pid writes and reads of /proc/<pid>/ files, so a
// crash at the k-th call may land a call earlier or later in the state
// write: which probes saw something is compared, not the items.)
std::string Results(const SweepReport& r) {
  nlohmann::json j = nlohmann::json::object();
  j["summary"] = {{"points", r.points}, {"passed", r.passed}, {"failed", r.failed},
                  {"planned", r.planned}, {"digest", r.digest}};
  for (const PointResult& p : r.results) {
    j["runs"][p.id] = {{"outcome", p.outcome},
                       {"passed", p.passed},
                       {"reachable", p.reachable},
                       {"error", Normalize(p.error)},
                       {"left", p.left_probes},
                       {"left_after_gc", p.left_after_gc_probes}};
  }
  return j.dump(1);
}

std::set<std::string> SweepLeftovers() {
  std::set<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/tmp", ec)) {
    if (e.path().filename().string().rfind("faultline-sweep-", 0) == 0) out.insert(e.path());
  }
  for (const auto& e : std::filesystem::directory_iterator("/sys/fs/cgroup", ec)) {
    std::error_code ec2;
    for (const auto& c : std::filesystem::directory_iterator(e.path(), ec2)) {
      if (c.path().filename().string().rfind("faultline-sweep-", 0) == 0) out.insert(c.path());
    }
    if (e.path().filename().string().rfind("faultline-sweep-", 0) == 0) out.insert(e.path());
  }
  return out;
}

TEST(ParallelKernelSweep, EqualsSerial) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  std::string error;
  const std::string tar = PrivilegedImageTar(&error);
  ASSERT_FALSE(tar.empty()) << error;
  const std::set<std::string> before = SweepLeftovers();
  KernelBackendOptions o;
  o.image_tar = tar;
  SweepConfig config;
  config.workload = *BuiltinWorkload("run-true");
  // EIO at every point, transient, and a crash at every point: the share of
  // the sweep that CI can afford twice (about 720 runs each way; the whole
  // run-true sweep is KernelSweep.RunTrue). Each run is still marked
  // reachable or not: the classifier's view of the calls crosses the worker
  // pipes too.
  config.errnos = {EIO};
  config.errno_model = ErrnoModelKind::kAll;
  config.modes = {SweepMode::kTransient, SweepMode::kCrash};
  config.replay_prefix = "faultline sweep --backend kernel";
  auto t0 = std::chrono::steady_clock::now();
  auto serial_backend = MakeParallelSweepBackend([o] { return MakeKernelSweepBackend(o); }, 1);
  const SweepReport serial = RunSweep(*serial_backend, config);
  serial_backend.reset();
  auto t1 = std::chrono::steady_clock::now();
  auto parallel_backend = MakeParallelSweepBackend([o] { return MakeKernelSweepBackend(o); }, 3);
  const SweepReport parallel = RunSweep(*parallel_backend, config);
  parallel_backend.reset();
  auto t2 = std::chrono::steady_clock::now();
  std::cout << "serial: " << serial.runs << " runs in "
            << std::chrono::duration<double>(t1 - t0).count() << " s; -j 3: " << parallel.runs
            << " runs in " << std::chrono::duration<double>(t2 - t1).count() << " s\n";
  ASSERT_TRUE(serial.ok()) << FailureText(serial, 10);
  EXPECT_EQ(serial.execution.jobs, 1u);
  EXPECT_EQ(parallel.execution.jobs, 3u);
  EXPECT_EQ(serial.results.size(), 2 * serial.points);  // one EIO run and one crash a point
  EXPECT_EQ(serial.digest, parallel.digest);
  EXPECT_EQ(Results(parallel), Results(serial));
  // Every worker removed its scratch directory and its cgroup parent.
  EXPECT_EQ(SweepLeftovers(), before);
}

class SeccompHang : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root";
  }
  SweepRun RunCustom(const std::string& script) {
    SeccompBackendOptions o;
    o.runtime = "custom";
    o.custom_run = {"/bin/sh", "-c", script};
    o.run_timeout_seconds = 30;
    o.quiet_seconds = 1;
    auto backend = MakeSeccompSweepBackend(o);
    SweepWorkload w;
    w.name = "custom";
    auto p = backend->Prepare(w);
    EXPECT_TRUE(p.ok()) << p.error().Message();
    SweepRun run = p.ok() ? backend->Run(FaultPlan(), false) : SweepRun{};
    backend->Finish();
    return run;
  }
};

TEST_F(SeccompHang, ABlockedTreeIsAHangAfterTheQuietTime) {
  // cat blocks in the open of a fifo nobody writes: asleep, no CPU, no call.
  const SweepRun run = RunCustom("mkfifo {scratch}/fifo && exec cat {scratch}/fifo");
  ASSERT_TRUE(run.harness_error.empty()) << run.harness_error;
  EXPECT_TRUE(run.hung);
  // Recognised by the quiet rule (1 s), long before the 30 s timeout.
  EXPECT_LT(run.seconds, 10.0);
  EXPECT_THAT(run.hang_state, HasSubstr("no supervised call for 1 s"));
  EXPECT_THAT(run.hang_state, HasSubstr("(cat)"));
  EXPECT_THAT(run.hang_state, HasSubstr("wchan "));
  EXPECT_THAT(run.hang_state, HasSubstr("syscall open"));  // openat
  // The verdict says so and carries the tree's state.
  SweepRun clean;
  PointResult r = Classify(run, clean, kSweepRuntimePid, EIO, SweepMode::kTransient);
  ASSERT_FALSE(r.passed);
  EXPECT_THAT(r.failures.front(), HasSubstr("the runtime hung (every thread asleep"));
  bool stack = false;
  for (const auto& t : r.trace_tail) stack = stack || t.rfind("hang: pid ", 0) == 0;
  EXPECT_TRUE(stack);
}

TEST_F(SeccompHang, ATimedSleepIsNotAHang) {
  // Asleep for 3 s with no call, but on a clock: it ends by itself.
  const SweepRun run = RunCustom("mkdir {scratch}/tmp/x && sleep 3 && rmdir {scratch}/tmp/x");
  ASSERT_TRUE(run.harness_error.empty()) << run.harness_error;
  EXPECT_FALSE(run.hung) << run.hang_state;
  EXPECT_EQ(run.exit_code, 0) << run.message;
  EXPECT_GE(run.seconds, 3.0);
  // The mkdir and the rmdir (and the shell's forks) were supervised.
  size_t mkdirs = 0, rmdirs = 0;
  for (const SweepCall& c : run.calls) {
    mkdirs += c.op == "mkdir" || c.op == "mkdirat";
    rmdirs += c.op == "rmdir" || c.op == "unlinkat";
  }
  EXPECT_EQ(mkdirs, 1u);
  EXPECT_EQ(rmdirs, 1u);
}

}  // namespace
}  // namespace faultline
