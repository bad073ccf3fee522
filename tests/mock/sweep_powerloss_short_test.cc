// Two sweep modes asked for by name (issue 13): power-loss (the machine loses
// power at a call: FakeKernel::PowerLoss; then gc and a fresh run) and short
// (a read or write transfers fewer bytes than asked). And the short action
// of FaultInjectingSys itself.
#include <errno.h>
#include <fcntl.h>

#include <iostream>
#include <map>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "faults/fault_injecting_sys.h"
#include "fakekernel/fake_kernel.h"
#include "harness/sweep/sweep.h"

namespace faultline {
namespace {

using ::testing::HasSubstr;

SweepReport SweepModes(const std::string& workload, std::vector<SweepMode> modes) {
  auto backend = MakeFakeSweepBackend({});
  SweepConfig config;
  config.workload = *BuiltinWorkload(workload);
  config.modes = std::move(modes);
  config.replay_prefix = "faultline sweep --backend fake";
  return RunSweep(*backend, config);
}

std::map<std::string, size_t> Outcomes(const SweepReport& r) {
  std::map<std::string, size_t> out;
  for (const auto& p : r.results) ++out[p.outcome];
  for (const auto& [o, n] : out) std::cout << "  " << o << ": " << n << "\n";
  return out;
}

TEST(ShortAction, AReadOrWriteTransfersHalf) {
  FakeKernel k;
  auto p = k.Pipe(O_CLOEXEC);
  ASSERT_TRUE(p.ok());
  auto plan = FaultPlan::FromCompact("op=write,nth=1,action=short;op=read,nth=1,action=short");
  ASSERT_TRUE(plan) << plan.error().Message();
  EXPECT_EQ(plan->ToString(), "op=write,nth=1,action=short,mode=transient;"
                              "op=read,nth=1,action=short,mode=transient");
  FaultInjectingSys fis(k, *plan);
  auto w = fis.Write(p.value.write_fd, "abcdef", 6);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w.value, 3u);  // "abc"
  ASSERT_EQ(fis.Write(p.value.write_fd, "def", 3).value, 3u);  // the rule fired once
  char buf[16] = {};
  auto r = fis.Read(p.value.read_fd, buf, 6);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value, 3u);
  EXPECT_EQ(std::string(buf, 3), "abc");
  EXPECT_EQ(fis.Read(p.value.read_fd, buf, 6).value, 3u);  // the rest: "def"
  EXPECT_EQ(std::string(buf, 3), "def");
  ASSERT_EQ(fis.trace().size(), 4u);
  EXPECT_EQ(fis.trace()[0].action, ActionKind::kShort);
  EXPECT_EQ(fis.trace()[2].action, ActionKind::kShort);
  EXPECT_EQ(fis.trace()[1].action, ActionKind::kNone);
  // A short rule on another op lets the call run.
  auto other = FaultPlan::FromCompact("op=mkdir,nth=1,action=short");
  ASSERT_TRUE(other);
  FaultInjectingSys fis2(k, *other);
  EXPECT_EQ(fis2.Mkdir("/d", 0755).err, 0);
  EXPECT_TRUE(k.Lstat("/d").ok());
}

// Every call of `run busybox true` as a power loss: after the reboot only
// what was fsync'd is on the disk; gc must remove what is half-made, the
// image and the store must remain (the next run works and leaves nothing).
TEST(FakeSweepPowerLoss, RunTrueEveryPoint) {
  SweepReport r = SweepModes("run-true", {SweepMode::kPowerLoss});
  std::cout << "run-true power-loss: " << r.points << " points, " << r.runs << " runs\n";
  auto outcomes = Outcomes(r);
  EXPECT_TRUE(r.ok()) << FailureText(r, 10);
  EXPECT_EQ(r.points, 290u);
  // One run per point, as crash mode.
  EXPECT_EQ(r.results.size(), 290u);
  size_t gc_ran = 0;
  for (const auto& p : r.results) {
    EXPECT_EQ(p.mode, SweepMode::kPowerLoss);
    EXPECT_THAT(p.id, HasSubstr("/power-loss")) << p.id;
    gc_ran += p.gc_ran;
  }
  EXPECT_EQ(gc_ran, 290u);
  // Nothing the run makes is durable: mydocker fsyncs the state file and
  // its directory (containers/<id>), never containers/ itself, so after
  // the reboot the container's directory is gone with everything in it
  // (workspace, state, lock), and so are its mounts and cgroups: every
  // point is "clean" (gc finds nothing), and the next run works.
  EXPECT_EQ(outcomes["clean"], 290u);
  EXPECT_EQ(outcomes["recovered-by-gc"], 0u);
}

// The same for the verbs of a detached container (run -d, exec, stop, rm).
TEST(FakeSweepPowerLoss, VerbsEveryPoint) {
  SweepReport r = SweepModes("verbs", {SweepMode::kPowerLoss});
  std::cout << "verbs power-loss: " << r.points << " points, " << r.runs << " runs\n";
  auto outcomes = Outcomes(r);
  EXPECT_TRUE(r.ok()) << FailureText(r, 10);
  EXPECT_EQ(r.points, 514u);
  EXPECT_EQ(r.results.size(), 514u);
  // As run-true: the detached container's directory was never durable.
  EXPECT_EQ(outcomes["clean"], 514u);
  EXPECT_EQ(outcomes["recovered-by-gc"], 0u);
}

// The other bound: every directory change survived, file content not
// fsync'd is lost. gc meets what a run had made half.
TEST(FakeSweepPowerLoss, RunTrueEveryPointMetadataKept) {
  SweepReport r = SweepModes("run-true", {SweepMode::kPowerLossMetadata});
  std::cout << "run-true power-loss-metadata: " << r.points << " points, " << r.runs
            << " runs\n";
  auto outcomes = Outcomes(r);
  EXPECT_TRUE(r.ok()) << FailureText(r, 10);
  EXPECT_EQ(r.points, 290u);
  EXPECT_EQ(r.results.size(), 290u);
  // 15 points before the container's directory is made (and after it is
  // removed) leave nothing; at the other 275 the reboot leaves the
  // directory (state.json, the lock, the workspace's dirs with empty
  // files), and gc removes it; the next run works every time.
  EXPECT_EQ(outcomes["clean"], 15u);
  EXPECT_EQ(outcomes["recovered-by-gc"], 275u);
}

TEST(FakeSweepPowerLoss, VerbsEveryPointMetadataKept) {
  SweepReport r = SweepModes("verbs", {SweepMode::kPowerLossMetadata});
  std::cout << "verbs power-loss-metadata: " << r.points << " points, " << r.runs << " runs\n";
  auto outcomes = Outcomes(r);
  EXPECT_TRUE(r.ok()) << FailureText(r, 10);
  EXPECT_EQ(r.points, 514u);
  EXPECT_EQ(r.results.size(), 514u);
  // 32 points outside the container's life (before run -d makes the
  // directory, after rm removes it); 482 leave it for gc.
  EXPECT_EQ(outcomes["clean"], 32u);
  EXPECT_EQ(outcomes["recovered-by-gc"], 482u);
}

// Short reads and writes where the model says a kernel makes them.
TEST(FakeSweepShort, RunTrueEveryReachablePoint) {
  SweepReport r = SweepModes("run-true", {SweepMode::kShort});
  std::cout << "run-true short: " << r.points << " points, " << r.runs << " runs\n";
  auto outcomes = Outcomes(r);
  EXPECT_TRUE(r.ok()) << FailureText(r, 10);
  EXPECT_EQ(r.points, 290u);
  // 14 reachable points: 6 reads of proc files (4096 bytes each), 2 reads
  // of the pipes between the runtime and its init (8 and 6 bytes asked), 6
  // writes of files on the disk (13 to 3328 bytes: the state, the init
  // layer's files). Writes to pipes here are at most PIPE_BUF (atomic: not
  // swept), reads of disk files are short only at their end.
  EXPECT_EQ(r.results.size(), 14u);
  EXPECT_EQ(outcomes["handled"], 14u);
}

TEST(FakeSweepShort, VerbsEveryReachablePoint) {
  SweepReport r = SweepModes("verbs", {SweepMode::kShort});
  std::cout << "verbs short: " << r.points << " points, " << r.runs << " runs\n";
  auto outcomes = Outcomes(r);
  EXPECT_TRUE(r.ok()) << FailureText(r, 10);
  EXPECT_EQ(r.points, 514u);
  // 28: 12 reads of proc files, 8 reads of pipes (4096, 12, 10, 8 bytes
  // asked: the start report, exec's and the monitor's), 8 writes of disk
  // files.
  EXPECT_EQ(r.results.size(), 28u);
  EXPECT_EQ(outcomes["handled"], 28u);
}

// The power-loss verdict can fail: gc that leaves something, a next run that
// fails, exits otherwise or leaves something, a power that was not lost.
TEST(SweepClassifyPowerLoss, GcAndTheNextRunMustWork) {
  SweepRun clean;
  SweepRun run;
  run.fired = true;
  run.crashed = true;
  run.power_lost = true;
  run.gc_ran = true;
  run.rerun_ran = true;
  EXPECT_TRUE(Classify(run, clean, kSweepRuntimePid, 0, SweepMode::kPowerLoss).passed);
  SweepRun left = run;
  left.left_after_gc.push_back(ProbeDiff{"dirs", {"+/var/lib/x"}, {}});
  EXPECT_FALSE(Classify(left, clean, kSweepRuntimePid, 0, SweepMode::kPowerLoss).passed);
  SweepRun failed = run;
  failed.rerun_returned_error = true;
  failed.rerun_error = "container: create directory /x: EEXIST";
  PointResult p = Classify(failed, clean, kSweepRuntimePid, 0, SweepMode::kPowerLossMetadata);
  EXPECT_FALSE(p.passed);
  EXPECT_THAT(p.failures.front(), HasSubstr("the run after the reboot failed"));
  SweepRun exited = run;
  exited.rerun_exit_code = 1;
  EXPECT_FALSE(Classify(exited, clean, kSweepRuntimePid, 0, SweepMode::kPowerLoss).passed);
  SweepRun rerun_left = run;
  rerun_left.left_after_rerun.push_back(ProbeDiff{"mounts", {"+/x"}, {}});
  EXPECT_FALSE(Classify(rerun_left, clean, kSweepRuntimePid, 0, SweepMode::kPowerLoss).passed);
  SweepRun no_loss = run;
  no_loss.power_lost = false;
  EXPECT_FALSE(Classify(no_loss, clean, kSweepRuntimePid, 0, SweepMode::kPowerLoss).passed);
}

// A short read or write is no error: a run that fails after one fails.
TEST(SweepClassifyShort, TheRunMustGoOn) {
  SweepRun clean;
  SweepRun run;
  run.fired = true;
  EXPECT_TRUE(Classify(run, clean, kSweepRuntimePid, 0, SweepMode::kShort).passed);
  SweepRun failed = run;
  failed.returned_error = true;
  failed.error = mydocker::Error{"state: read", "/x", EIO, ""};
  EXPECT_FALSE(Classify(failed, clean, kSweepRuntimePid, 0, SweepMode::kShort).passed);
}

}  // namespace
}  // namespace faultline
