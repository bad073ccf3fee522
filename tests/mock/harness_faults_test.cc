// The harness itself under faults (issue 13): plan counters shared across
// fork (one counter per rule for the whole process tree), a forked sweep
// child that never runs the sweep loop, and the console summary of a sweep.
// Forks, but needs no privileges (label mock).
#include <errno.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "faults/plan.h"
#include "harness/sweep/backend.h"
#include "harness/sweep/sweep.h"

namespace faultline {
namespace {

using ::testing::HasSubstr;

// Runs fn in a forked child and returns its exit status (or -1).
template <class Fn>
int InChild(Fn fn) {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(fn());
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

CallInfo Call(std::string_view op, std::string_view path = "") {
  CallInfo c;
  c.op = op;
  c.path = path;
  return c;
}

FaultPlan Plan(const std::string& text) {
  auto p = FaultPlan::Parse(text);
  EXPECT_TRUE(p.ok()) << p.error().Message();
  return p.ok() ? *p : FaultPlan{};
}

TEST(PlanCounters, AOnceRuleFiresOnceAcrossFork) {
  FaultPlan plan = Plan("op=close,nth=2,errno=EIO,mode=transient");
  ASSERT_FALSE(plan.Decide(Call("close")).fired());  // call 1, in the "runtime"
  // The "init": a fork after call 1 makes call 2, which fires there.
  EXPECT_EQ(InChild([&] { return plan.Decide(Call("close")).fired() ? 0 : 1; }), 0);
  // Back in the parent: that was the rule's one firing. (Separate counters
  // would make this call 2 too, and fire it a second time.)
  EXPECT_FALSE(plan.Decide(Call("close")).fired());
  EXPECT_EQ(plan.matched(0), 3u);
  EXPECT_EQ(plan.fired(0), 1u);
}

TEST(PlanCounters, PerOpAndPersistentPathCountersAcrossFork) {
  FaultPlan plan = Plan(
      "op=open|read,nth=2,counter=per_op,errno=EIO;"
      "op=rmdir,path=/sys/fs/cgroup/*,nth=1,errno=EBUSY,mode=persistent-path");
  EXPECT_FALSE(plan.Decide(Call("open", "/a")).fired());
  EXPECT_EQ(InChild([&] {
              // The child's second open fires; its first rmdir claims the object.
              const bool open2 = plan.Decide(Call("open", "/b")).fired();
              const bool rm = plan.Decide(Call("rmdir", "/sys/fs/cgroup/x/c1")).fired();
              return open2 && rm ? 0 : 1;
            }),
            0);
  // The parent's first read is read #1; its next open is open #3.
  EXPECT_FALSE(plan.Decide(Call("read")).fired());
  EXPECT_FALSE(plan.Decide(Call("open", "/c")).fired());
  // The object the child's rmdir claimed fails in the parent; another not.
  const Decision same = plan.Decide(Call("rmdir", "/sys/fs/cgroup/x/c1"));
  EXPECT_TRUE(same.fired());
  EXPECT_EQ(same.rule, 1);
  EXPECT_FALSE(plan.Decide(Call("rmdir", "/sys/fs/cgroup/x/c2")).fired());
  EXPECT_EQ(plan.matched(0), 4u);
  EXPECT_EQ(plan.fired(0), 1u);
  EXPECT_EQ(plan.fired(1), 2u);
}

TEST(PlanCounters, ACopyCountsOnItsOwnFromTheSameValuesAndResetForgets) {
  FaultPlan plan = Plan("op=mkdir,nth=2,errno=ENOSPC");
  ASSERT_FALSE(plan.Decide(Call("mkdir")).fired());
  FaultPlan copy = plan;
  EXPECT_TRUE(copy.Decide(Call("mkdir")).fired());  // its call 2
  EXPECT_EQ(plan.matched(0), 1u);                   // the original did not count it
  EXPECT_TRUE(plan.Decide(Call("mkdir")).fired());
  EXPECT_EQ(copy.fired(0), 1u);
  plan.Reset();
  EXPECT_EQ(plan.matched(0), 0u);
  EXPECT_EQ(plan.fired(0), 0u);
  EXPECT_FALSE(plan.Decide(Call("mkdir")).fired());
  EXPECT_TRUE(plan.Decide(Call("mkdir")).fired());
}

// The runtime's closes before its clone (*before) and the init's closes.
void CountCloses(const SweepRun& clean, uint64_t* before, uint64_t* init) {
  bool cloned = false;
  *before = *init = 0;
  for (const SweepCall& c : clean.calls) {
    if (c.op == "clone" && c.pid == kSweepRuntimePid) cloned = true;
    if (c.op != "close") continue;
    if (!cloned) ++*before;
    if (c.pid == kSweepInitPid) ++*init;
  }
}

TEST(FakeSweepCounters, AOnceRuleWithoutPidFiresOnceForTheRuntimeAndItsInit) {
  // FakeKernel runs the init in the runtime's address space: one counter
  // for both, as on the kernel backend now (KernelHarnessFaults.*).
  auto backend = MakeFakeSweepBackend({});
  ASSERT_TRUE(backend->Prepare(*BuiltinWorkload("run-true")).ok());
  SweepRun clean = backend->Run(FaultPlan{}, false);
  ASSERT_TRUE(clean.harness_error.empty()) << clean.harness_error;
  uint64_t before = 0, init = 0;
  CountCloses(clean, &before, &init);
  ASSERT_GT(init, 0u);
  // The close right after the clone: the runtime's next or the init's first.
  const std::string plan = "op=close,nth=" + std::to_string(before + 1) +
                           ",action=delay,delay_ms=0,mode=transient";
  SweepRun run = backend->Run(Plan(plan), false);
  size_t fired = 0;
  for (const SweepCall& c : run.calls) fired += c.fired;
  EXPECT_EQ(fired, 1u) << plan;
  EXPECT_EQ(run.exit_code, clean.exit_code);
  backend->Finish();
}

// ---- forked sweep children ----

// A counter in memory shared with every fork of this process.
std::atomic<int>* SharedCounter() {
  void* mem = ::mmap(nullptr, sizeof(std::atomic<int>), PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return nullptr;
  return new (mem) std::atomic<int>(0);
}

TEST(ForkSweepChild, AChildThatThrowsExitsAndNeverReturnsToTheCaller) {
  std::atomic<int>* returned = SharedCounter();
  ASSERT_NE(returned, nullptr);
  const pid_t parent = ::getpid();
  pid_t child = -1;
  try {
    auto forked = ForkSweepChild("test child", []() -> int { throw std::runtime_error("boom"); });
    returned->fetch_add(1);
    if (::getpid() != parent) ::_exit(99);  // a child came back: counted above
    ASSERT_TRUE(forked.ok()) << forked.error().Message();
    child = *forked;
  } catch (...) {
    returned->fetch_add(1);
    if (::getpid() != parent) ::_exit(98);
    throw;
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), kSweepChildThrew);
  EXPECT_EQ(returned->load(), 1);  // the parent only
  ::munmap(returned, sizeof *returned);
}

TEST(ForkSweepChild, RefusesToForkWithASecondThread) {
  ASSERT_EQ(ThreadCount(), 1);
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::thread t([&] {
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [&] { return done; });
  });
  auto forked = ForkSweepChild("test child", [] { return 0; });
  {
    std::lock_guard<std::mutex> l(mu);
    done = true;
  }
  cv.notify_one();
  t.join();
  ASSERT_FALSE(forked.ok());
  EXPECT_EQ(forked.error().step, "sweep: fork test child");
  EXPECT_THAT(forked.error().Message(), HasSubstr("this process has 2 threads"));
}

// The fake backend, except that a persistent plan throws.
class ThrowingBackend : public SweepBackend {
 public:
  ThrowingBackend() : inner_(MakeFakeSweepBackend({})) {}
  std::string name() const override { return "throwing"; }
  mydocker::Outcome Prepare(const SweepWorkload& w) override { return inner_->Prepare(w); }
  SweepRun Run(const FaultPlan& plan, bool always_gc) override {
    if (!plan.empty() && plan.rules().front().times == Times::kPersistent) {
      throw std::runtime_error("boom at " + plan.ToString());
    }
    return inner_->Run(plan, always_gc);
  }
  void Finish() override { inner_->Finish(); }

 private:
  std::unique_ptr<SweepBackend> inner_;
};

TEST(ParallelSweepWorker, ABackendThatThrowsIsAHarnessErrorAndTheSweepRunsOnce) {
  std::atomic<int>* sweeps = SharedCounter();
  ASSERT_NE(sweeps, nullptr);
  const pid_t parent = ::getpid();
  auto backend = MakeParallelSweepBackend([] { return std::make_unique<ThrowingBackend>(); }, 2);
  SweepConfig config;
  config.workload = *BuiltinWorkload("run-true");
  config.errno_model = ErrnoModelKind::kAll;
  config.errnos = {EIO};
  config.errnos_given = true;
  config.modes = {SweepMode::kTransient, SweepMode::kPersistent};
  config.only_point = 3;
  SweepReport r = RunSweep(*backend, config);
  backend->Finish();
  sweeps->fetch_add(1);
  if (::getpid() != parent) ::_exit(97);  // a worker ran the sweep loop
  EXPECT_EQ(sweeps->load(), 1);
  // The clean run (a setup run) and point 3's transient and persistent run.
  EXPECT_EQ(r.setup_runs, 1u);
  EXPECT_EQ(r.runs, 3u);
  ASSERT_EQ(r.results.size(), 2u);
  size_t harness = 0;
  for (const auto& p : r.results) {
    std::string why;
    for (const auto& f : p.failures) why += f + "\n";
    if (p.mode == SweepMode::kPersistent) {
      EXPECT_FALSE(p.passed);
      EXPECT_THAT(why, HasSubstr("harness: worker: the throwing backend threw: boom at "));
      ++harness;
    } else {
      EXPECT_THAT(why, ::testing::Not(HasSubstr("harness:")));
    }
  }
  EXPECT_EQ(harness, 1u);
  ::munmap(sweeps, sizeof *sweeps);
}

// ---- the console summary ----

TEST(SweepConsole, AReplayPrintsTheCallItFaulted) {
  auto backend = MakeFakeSweepBackend({});
  SweepConfig config;
  config.workload = *BuiltinWorkload("run-true");
  config.replay_prefix = "faultline sweep --backend fake";
  config.plan = Plan("op=pivot_root,pid=" + std::to_string(kSweepInitPid) +
                     ",nth=1,errno=EINVAL,mode=transient");
  SweepReport r = RunSweep(*backend, config);
  ASSERT_EQ(r.results.size(), 1u);
  const PointResult& p = r.results.front();
  ASSERT_GT(p.point, 0u);
  const std::string text = SweepConsoleText(r, true);
  EXPECT_THAT(text, HasSubstr("faulted: point " + std::to_string(p.point) + " (init pivot_root #1 "));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("point 0")));
  EXPECT_THAT(text, HasSubstr("sweep run-true on fake: 1 points"));
}

TEST(SweepConsole, EveryNoteOfARunIsPrinted) {
  SweepReport r;
  r.workload = "run-true";
  r.backend = "seccomp/crun";
  PointResult p;
  p.point = 7;
  p.process = "runtime";
  p.op = "rmdir";
  p.nth = 2;
  p.err = EBUSY;
  p.mode = SweepMode::kTransient;
  p.passed = true;
  p.outcome = "handled";
  p.notes = {"the error does not name EBUSY: rmdir: Device or resource busy?",
             "exited as the clean run but left cgroups: /x; it said: oops"};
  p.replay = "faultline sweep --backend seccomp --runtime crun --point 7 run-true";
  r.results.push_back(p);
  const std::string text = SweepConsoleText(r, false);
  EXPECT_THAT(text, HasSubstr("NOTE point 7 (runtime rmdir #2) EBUSY transient:\n"
                              "  - the error does not name EBUSY: "));
  EXPECT_THAT(text, HasSubstr("\n  - exited as the clean run but left cgroups: /x; it said: oops\n"
                              "  replay: faultline sweep --backend seccomp --runtime crun "
                              "--point 7 run-true\n"));
  EXPECT_THAT(text, HasSubstr("1 runs with notes"));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("faulted:")));
}

}  // namespace
}  // namespace faultline
