// Sharding, merging and resuming sweeps on the fake backend (issue 17):
// the shards of a sweep, merged, make the report the unsharded sweep makes
// (JSON, JUnit, HTML and Markdown equal apart from timings and the record
// of how it was split); a sweep killed mid-way resumes from its journal and
// makes only the runs it had not made; run IDs name what a point is.
#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "harness/sweep/sweep.h"
#include "runtime/sys/sys_wrapper.h"
#include "tests/support/leaky_doubles.h"

namespace faultline {
namespace {

using ::testing::HasSubstr;


// Counts the runs the engine asks for.
class CountingBackend : public SweepBackend {
 public:
  CountingBackend(std::unique_ptr<SweepBackend> inner, std::atomic<size_t>* runs)
      : inner_(std::move(inner)), runs_(runs) {}
  std::string name() const override { return inner_->name(); }
  mydocker::Outcome Prepare(const SweepWorkload& w) override { return inner_->Prepare(w); }
  SweepRun Run(const FaultPlan& plan, bool always_gc) override {
    ++*runs_;
    return inner_->Run(plan, always_gc);
  }
  size_t MaxParallelRuns() const override { return inner_->MaxParallelRuns(); }
  void Finish() override { inner_->Finish(); }

 private:
  std::unique_ptr<SweepBackend> inner_;
  std::atomic<size_t>* runs_;
};

// Every mode (lie too) under `--errno-model all`: each run carries its
// reachability, and the runs the model rules out are counted apart, so the
// merge and the journal are proved to carry both (the digest also moves
// with the errno list, which MergeRefusesMissingDoubledAndForeignShards
// needs).
SweepConfig Config(Shard shard = {}) {
  SweepConfig c;
  c.workload = *BuiltinWorkload("run-full");
  c.errno_model = ErrnoModelKind::kAll;
  c.errnos = {EINVAL, EIO};
  c.errnos_given = true;
  c.modes = {SweepMode::kTransient, SweepMode::kPersistent, SweepMode::kPersistentPath,
             SweepMode::kCrash,     SweepMode::kEintr,      SweepMode::kEnosys,
             SweepMode::kLie};
  c.replay_prefix = "faultline sweep --backend fake";
  c.shard = shard;
  c.environment.runtime = "mydocker (in-process core)";
  c.environment.kernel_release = "test";
  c.environment.options = {{"backend", "fake"}, {"errnos", {"EINVAL", "EIO"}}};
  return c;
}

std::unique_ptr<SweepBackend> Backend(std::atomic<size_t>* runs = nullptr) {
  FakeBackendOptions o;
  o.wrap = [](mydocker::Sys& k) { return std::make_unique<SkipCgroupUndo>(k); };
  auto b = MakeFakeSweepBackend(std::move(o));
  if (runs == nullptr) return b;
  return std::make_unique<CountingBackend>(std::move(b), runs);
}

// Timings and how the report was made are not results.
SweepReport WithoutTimings(SweepReport r) {
  r.seconds = 0;
  r.environment.started = "";
  r.execution = SweepExecution{};
  return r;
}

void ExpectSameReport(const SweepReport& got_in, const SweepReport& want_in) {
  const SweepReport got = WithoutTimings(got_in), want = WithoutTimings(want_in);
  EXPECT_EQ(got.ToJson().dump(1), want.ToJson().dump(1));
  EXPECT_EQ(SweepJunit(got), SweepJunit(want));
  EXPECT_EQ(SweepHtml(got), SweepHtml(want));
  EXPECT_EQ(SweepMarkdown(got), SweepMarkdown(want));
}

TEST(SweepShard, MergedShardsEqualTheUnshardedSweep) {
  const SweepReport whole = RunSweep(*Backend(), Config());
  ASSERT_TRUE(whole.errors.empty()) << FailureText(whole, 5);
  // The sweep has failures (with traces) and passes, so both kinds merge.
  ASSERT_GT(whole.failed, 0u);
  ASSERT_GT(whole.passed, whole.failed);
  ASSERT_EQ(whole.results.size(), whole.planned);
  // ... and defects, unreachable runs, and runs that would have failed had
  // the model not ruled their fault out; every run ID once, in every mode.
  ASSERT_GT(whole.defects.size(), 0u);
  ASSERT_GT(whole.unreachable_runs, 0u);
  ASSERT_GT(whole.unreachable_failures, 0u);
  {
    std::set<std::string> ids;
    std::set<SweepMode> modes;
    for (const auto& r : whole.results) {
      EXPECT_TRUE(ids.insert(r.id).second) << r.id;
      modes.insert(r.mode);
    }
    EXPECT_EQ(modes.size(), 7u);
  }
  for (int n : {1, 3, 7}) {
    SCOPED_TRACE("N = " + std::to_string(n));
    std::vector<SweepReport> shards;
    std::set<std::string> ids;
    size_t smallest = SIZE_MAX, largest = 0;
    for (int k = 0; k < n; ++k) {
      SweepReport s = RunSweep(*Backend(), Config(Shard{k, n}));
      ASSERT_TRUE(s.errors.empty()) << FailureText(s, 5);
      EXPECT_EQ(s.digest, whole.digest);
      EXPECT_EQ(s.results.size(), ShardSize(whole.planned, Shard{k, n}));
      smallest = std::min(smallest, s.results.size());
      largest = std::max(largest, s.results.size());
      for (const auto& r : s.results) {
        EXPECT_EQ(r.run % static_cast<size_t>(n), static_cast<size_t>(k)) << r.id;
        EXPECT_TRUE(ids.insert(r.id).second) << r.id << " in two shards";
      }
      // As `faultline merge` reads them: from the JSON files.
      auto back = SweepReport::FromJson(nlohmann::json::parse(s.ToJson().dump()));
      ASSERT_TRUE(back.ok()) << back.error().Message();
      shards.push_back(std::move(*back));
    }
    EXPECT_LE(largest - smallest, 1u);  // balanced
    EXPECT_EQ(ids.size(), whole.planned);
    // In any order.
    std::reverse(shards.begin(), shards.end());
    auto merged = MergeSweepReports(shards);
    ASSERT_TRUE(merged.ok()) << merged.error().Message();
    EXPECT_EQ(merged->execution.shards.size(), static_cast<size_t>(n));
    ExpectSameReport(*merged, whole);
  }
}

TEST(SweepShard, MergeRefusesMissingDoubledAndForeignShards) {
  std::vector<SweepReport> shards;
  for (int k = 0; k < 3; ++k) shards.push_back(RunSweep(*Backend(), Config(Shard{k, 3})));
  auto missing = MergeSweepReports({shards[0], shards[2]});
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.error().Message(), HasSubstr("runs are in no report"));
  auto doubled = MergeSweepReports({shards[0], shards[1], shards[2], shards[1]});
  ASSERT_FALSE(doubled.ok());
  EXPECT_THAT(doubled.error().Message(), HasSubstr("the shards overlap"));
  SweepConfig other = Config(Shard{1, 3});
  other.errnos = {EIO};
  auto foreign = MergeSweepReports({shards[0], RunSweep(*Backend(), other), shards[2]});
  ASSERT_FALSE(foreign.ok());
  EXPECT_THAT(foreign.error().Message(), HasSubstr("digest"));
  // A shard swept under another errno model is of another sweep.
  SweepConfig reachable = Config(Shard{1, 3});
  reachable.errno_model = ErrnoModelKind::kReachable;
  auto model = MergeSweepReports({shards[0], RunSweep(*Backend(), reachable), shards[2]});
  ASSERT_FALSE(model.ok());
  EXPECT_THAT(model.error().Message(), HasSubstr("the errno model"));
}

TEST(SweepShard, KilledSweepResumesFromItsJournal) {
  const SweepReport whole = RunSweep(*Backend(), Config());
  ASSERT_TRUE(whole.errors.empty());
  const std::string journal =
      (std::filesystem::temp_directory_path() / ("faultline-journal-" + std::to_string(getpid())))
          .string();
  std::filesystem::remove(journal);
  // A sweep that is SIGKILLed after 100 runs (in a child process).
  constexpr size_t kKillAfter = 100;
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    SweepConfig c = Config();
    c.journal = journal;
    c.progress = [](const SweepProgress& p) {
      if (p.done == kKillAfter) ::kill(::getpid(), SIGKILL);
    };
    RunSweep(*Backend(), c);
    ::_exit(0);  // not reached
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  // The journal: a header and at least the runs finished before the kill.
  size_t lines = 0;
  {
    std::ifstream in(journal);
    std::string line;
    while (std::getline(in, line)) ++lines;
  }
  ASSERT_GE(lines, 1 + kKillAfter);
  ASSERT_LT(lines, 1 + whole.planned);
  const size_t journaled = lines - 1;
  // Tear the last line as a kill mid-write would.
  {
    std::ofstream out(journal, std::ios::app);
    out << "{\"id\": \"runtime:mkdi";
  }
  std::atomic<size_t> runs{0};
  SweepConfig c = Config();
  c.journal = journal;
  const SweepReport resumed = RunSweep(*Backend(&runs), c);
  ASSERT_TRUE(resumed.errors.empty()) << FailureText(resumed, 5);
  EXPECT_EQ(resumed.execution.resumed, journaled);
  // Only the runs not in the journal were made (plus the clean run and the
  // end checks, which every start makes).
  EXPECT_EQ(runs.load(), resumed.setup_runs + whole.planned - journaled);
  ExpectSameReport(resumed, whole);
  // A second start finds every run in the journal and makes none of them.
  std::atomic<size_t> again{0};
  const SweepReport done = RunSweep(*Backend(&again), c);
  EXPECT_EQ(again.load(), done.setup_runs);
  EXPECT_EQ(done.execution.resumed, whole.planned);
  ExpectSameReport(done, whole);
  // The journal of another sweep is refused, not mixed in.
  SweepConfig other = Config(Shard{0, 2});
  other.journal = journal;
  const SweepReport refused = RunSweep(*Backend(), other);
  ASSERT_FALSE(refused.errors.empty());
  EXPECT_THAT(refused.errors.front(), HasSubstr("the journal of another sweep"));
  std::filesystem::remove(journal);
}

// -j N on the kernel and seccomp backends: each run crosses a pipe from its
// worker (SweepRunJson). The reachable-fault model's classifier reads the
// clean run's calls on the parent's side: every field it reads must cross.
TEST(SweepShard, TheWorkerWireCarriesWhatTheClassifierReads) {
  SweepRun run;
  SweepCall c;
  c.seq = 41;
  c.pid = kSweepInitPid;
  c.op = "rmdir";
  c.args = "path=\"/sys/fs/cgroup/pids/p/c\"";
  c.path = "/sys/fs/cgroup/pids/p/c";
  c.path2 = "/x";
  c.fstype = "cgroup";
  c.flags = 0x2;
  c.handle = 7;
  c.real_pid = 4242;
  c.host_paths = true;
  c.err = EBUSY;
  c.fired = true;
  c.after_crash = true;
  run.calls = {c};
  const SweepRun back = SweepRunFromJson(nlohmann::json::parse(SweepRunJson(run).dump()));
  ASSERT_EQ(back.calls.size(), 1u);
  const SweepCall& b = back.calls[0];
  EXPECT_EQ(b.seq, c.seq);
  EXPECT_EQ(b.pid, c.pid);
  EXPECT_EQ(b.op, c.op);
  EXPECT_EQ(b.args, c.args);
  EXPECT_EQ(b.path, c.path);
  EXPECT_EQ(b.path2, c.path2);
  EXPECT_EQ(b.fstype, c.fstype);
  EXPECT_EQ(b.flags, c.flags);
  EXPECT_EQ(b.handle, c.handle);
  EXPECT_EQ(b.real_pid, c.real_pid);
  EXPECT_EQ(b.host_paths, c.host_paths);
  EXPECT_EQ(b.err, c.err);
  EXPECT_EQ(b.fired, c.fired);
  EXPECT_EQ(b.after_crash, c.after_crash);
}

TEST(SweepShard, RunIdsNameWhatAPointIs) {
  EXPECT_EQ(PathClass("path=\"/var/lib/faultline-sweep/containers\" mode=0700"), "state");
  EXPECT_EQ(PathClass("path=\"/sys/fs/cgroup/memory/p/c\" mode=0755"), "cgroup");
  EXPECT_EQ(PathClass("runc:[2:INIT] 1234: mount /proc <- proc fstype=proc"), "proc");
  EXPECT_EQ(PathClass("target=\"/tmp/faultline-sweep-x/root/containers/5ee9/merged\""),
            "rootfs");
  EXPECT_EQ(PathClass("fd=3"), "");
  EXPECT_EQ(PointId(kSweepRuntimePid, "mkdir", 4, "path=\"/var/lib/faultline-sweep/containers\""),
            "runtime:mkdir#4@state");
  EXPECT_EQ(PointId(kSweepInitPid, "prctl", 1, "option=1"), "init:prctl#1");
  EXPECT_EQ(RunId("runtime:mkdir#4@state", EBUSY, SweepMode::kPersistent),
            "runtime:mkdir#4@state/EBUSY/persistent");
  EXPECT_EQ(RunId("init:prctl#1", 0, SweepMode::kCrash), "init:prctl#1/crash");
  // The modes of the errno model: each its own name.
  EXPECT_EQ(RunId("runtime:umount2#2@rootfs", 0, SweepMode::kLie), "runtime:umount2#2@rootfs/lie");
  EXPECT_EQ(RunId("runtime:read#3", EINTR, SweepMode::kEintr), "runtime:read#3/EINTR/eintr");
  EXPECT_EQ(RunId("runtime:read#3", EINTR, SweepMode::kTransient),
            "runtime:read#3/EINTR/transient");
  EXPECT_EQ(RunId("runtime:openat2#1@state", ENOSYS, SweepMode::kEnosys),
            "runtime:openat2#1@state/ENOSYS/enosys");
  EXPECT_EQ(RunId("runtime:rmdir#1@cgroup", EBUSY, SweepMode::kPersistentPath),
            "runtime:rmdir#1@cgroup/EBUSY/persistent-path");
  // In a sweep: unique, and --point by ID selects the same runs as by number.
  SweepConfig c = Config();
  c.modes = {SweepMode::kTransient};
  const SweepReport all = RunSweep(*Backend(), c);
  std::set<std::string> ids;
  for (const auto& r : all.results) EXPECT_TRUE(ids.insert(r.id).second) << r.id;
  const PointResult& p = all.results[all.results.size() / 2];
  SweepConfig by_id = c;
  by_id.only_point_id = p.point_id;
  const SweepReport one = RunSweep(*Backend(), by_id);
  ASSERT_TRUE(one.errors.empty()) << FailureText(one, 3);
  ASSERT_EQ(one.results.size(), c.errnos.size());
  for (const auto& r : one.results) {
    EXPECT_EQ(r.point, p.point);
    EXPECT_EQ(r.point_id, p.point_id);
  }
}

}  // namespace
}  // namespace faultline
