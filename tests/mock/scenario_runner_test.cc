// The runner end to end on the fake runtime (FakeKernel, no privileges):
// passes, failures, broken files that do not stop the run, expected
// differences both ways, fault plans with a clear error, a crash followed by
// gc, not-applicable reasons, the sweep placeholder, and the shipped mock
// scenarios.
#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "harness/scenario/runner.h"

namespace faultline {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class FakeRunner : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/faultline-runner-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    fs::create_directories(dir_ + "/s/runtimes");
  }
  void TearDown() override { fs::remove_all(dir_); }
  void Write(const std::string& rel, const std::string& text) {
    fs::create_directories((fs::path(dir_) / "s" / rel).parent_path());
    std::ofstream(fs::path(dir_) / "s" / rel) << text;
  }
  RunSummary Run(std::vector<std::string> paths = {}) {
    RunOptions o;
    o.paths = paths.empty() ? std::vector<std::string>{dir_ + "/s"} : paths;
    o.runtimes = {"fake"};
    o.env.scratch = dir_;
    o.env.cgroup_parent = "faultline-test";
    o.env.private_mounts = false;
    return RunScenarios(o);
  }
  const ScenarioResult& Find(const RunSummary& s, const std::string& name) {
    for (const auto& r : s.results) {
      if (r.scenario == name) return r;
    }
    static ScenarioResult none;
    ADD_FAILURE() << "no result for " << name;
    return none;
  }
  std::string dir_;
};

TEST_F(FakeRunner, PassFailAndBrokenFilesAllReported) {
  Write("a/ok.yaml", "labels: [mock]\ncommand: [echo, hello]\nexpect: {exit: 0, stdout: [hello]}\n");
  Write("a/wrong-exit.yaml", "labels: [mock]\ncommand: [sh, -c, \"exit 3\"]\nexpect: {exit: 4}\n");
  Write("a/broken.yaml", "labels: [mock]\ncommand: [true]\nexpect: {exit: 0}\nbogus: 1\n");
  RunSummary s = Run();
  EXPECT_EQ(Find(s, "a/ok").status, ResultStatus::kPassed)
      << ::testing::PrintToString(Find(s, "a/ok").failures);
  const auto& w = Find(s, "a/wrong-exit");
  EXPECT_EQ(w.status, ResultStatus::kFailed);
  ASSERT_FALSE(w.failures.empty());
  EXPECT_THAT(w.failures[0], HasSubstr("exit 3, expected 4"));
  EXPECT_THAT(w.replay, HasSubstr("--runtime fake"));
  bool broken_reported = false;
  for (const auto& r : s.results) {
    if (r.runtime == "*") {
      broken_reported = true;
      EXPECT_THAT(r.failures[0], HasSubstr("broken.yaml:4:1: bogus: unknown key"));
    }
  }
  EXPECT_TRUE(broken_reported);
  EXPECT_FALSE(s.ok());
}

TEST_F(FakeRunner, FaultPlanGivesAClearErrorAndNoLeftovers) {
  Write("f/eio.yaml", R"(labels: [mock]
command: [true]
faults:
  - match: {op: mount, fstype: overlay}
    when: {nth: 1}
    action: {fail: EIO}
expect:
  exit: 125
  error: {step: "workspace: mount overlay", errno: EIO}
)");
  // The same fault with the wrong expectation must fail (the check can fail).
  Write("f/eio-wrong.yaml", R"(labels: [mock]
command: [true]
faults:
  - match: {op: mount, fstype: overlay}
    when: {nth: 1}
    action: {fail: EIO}
expect:
  exit: 125
  error: {step: "cgroup: create", errno: EIO}
)");
  RunSummary s = Run();
  const auto& ok = Find(s, "f/eio");
  EXPECT_EQ(ok.status, ResultStatus::kPassed) << ::testing::PrintToString(ok.failures);
  bool probes = false;
  for (const auto& c : ok.checks) probes |= c.name == "probe.mounts" && c.ok;
  EXPECT_TRUE(probes);
  const auto& bad = Find(s, "f/eio-wrong");
  EXPECT_EQ(bad.status, ResultStatus::kFailed);
  EXPECT_THAT(::testing::PrintToString(bad.failures), HasSubstr("does not name the step"));
}

TEST_F(FakeRunner, CrashThenGcLeavesNothing) {
  Write("f/crash.yaml", R"(labels: [mock]
command: [true]
faults:
  - match: {op: mkdir, path: "/sys/fs/cgroup/*/fl*"}
    when: {nth: 1}
    action: crash
expect: {exit: 137}
)");
  RunSummary s = Run();
  const auto& r = Find(s, "f/crash");
  EXPECT_EQ(r.status, ResultStatus::kPassed) << ::testing::PrintToString(r.failures);
  EXPECT_THAT(::testing::PrintToString(r.notes), HasSubstr("ran gc after the crash"));
}

TEST_F(FakeRunner, ExpectedDifferencesBothWays) {
  Write("d/fails-on-fake.yaml", "command: [sh, -c, \"exit 2\"]\nexpect: {exit: 0}\n");
  Write("d/passes-anyway.yaml", "command: [true]\nexpect: {exit: 0}\n");
  Write("d/override.yaml", "command: [sh, -c, \"exit 2\"]\nexpect: {exit: 0}\n");
  Write("runtimes/fake.yaml", R"(kind: none
differences:
  d/fails-on-fake: {difference: exits 2, reason: by design}
  d/passes-anyway: {difference: used to fail, reason: was a bug}
  d/override: {difference: exits 2, reason: by design, expect: {exit: 2}}
)");

  RunSummary s = Run();
  EXPECT_EQ(Find(s, "d/fails-on-fake").status, ResultStatus::kExpectedDifferent);
  EXPECT_EQ(Find(s, "d/override").status, ResultStatus::kExpectedDifferent);
  const auto& gone = Find(s, "d/passes-anyway");
  EXPECT_EQ(gone.status, ResultStatus::kFailed);
  EXPECT_THAT(::testing::PrintToString(gone.failures),
              HasSubstr("expected difference no longer seen"));
}

TEST_F(FakeRunner, NotApplicableSaysWhyAndSweepRuns) {
  Write("n/runc-only.yaml", "runtimes: [runc]\ncommand: [true]\nexpect: {exit: 0}\n");
  Write("n/isolation.yaml", "hostname: b\nexpect: {isolation: [uts]}\n");
  Write("n/sweep.yaml", "command: [true]\nsweep: {errnos: [EIO], modes: [transient]}\n"
                        "expect: {exit: 0}\n");
  RunSummary s = Run();
  EXPECT_EQ(Find(s, "n/runc-only").status, ResultStatus::kNotApplicable);
  EXPECT_THAT(Find(s, "n/runc-only").reason, HasSubstr("runc"));
  EXPECT_EQ(Find(s, "n/isolation").status, ResultStatus::kNotApplicable);
  EXPECT_THAT(Find(s, "n/isolation").reason, HasSubstr("real kernel"));
  // The sweep engine (harness/sweep) runs the scenario's sweep section.
  const auto& sw = Find(s, "n/sweep");
  EXPECT_EQ(sw.status, ResultStatus::kPassed) << ::testing::PrintToString(sw.failures);
  ASSERT_EQ(sw.checks.size(), 1u);
  EXPECT_EQ(sw.checks[0].name, "sweep");
}

TEST_F(FakeRunner, LiveCgroupSeenThenGone) {
  Write("c/live.yaml", "command: [sleep, \"1\"]\nlimits: {memory: 64m}\n"
                       "expect: {exit: 0, cgroup_live: true}\n");
  RunSummary s = Run();
  const auto& r = Find(s, "c/live");
  EXPECT_EQ(r.status, ResultStatus::kPassed) << ::testing::PrintToString(r.failures);
}

TEST_F(FakeRunner, ShardsSplitTheFiles) {
  for (int i = 0; i < 6; ++i) {
    Write("sh/s" + std::to_string(i) + ".yaml", "command: [true]\nexpect: {exit: 0}\n");
  }
  std::set<std::string> seen;
  for (int k = 0; k < 3; ++k) {
    RunOptions o;
    o.paths = {dir_ + "/s/sh"};
    o.runtimes = {"fake"};
    o.shard_index = k;
    o.shard_total = 3;
    o.env.scratch = dir_;
    o.env.cgroup_parent = "faultline-test";
    o.env.private_mounts = false;
    RunSummary s = RunScenarios(o);
    EXPECT_EQ(s.results.size(), 2u);
    for (const auto& r : s.results) EXPECT_TRUE(seen.insert(r.scenario).second) << r.scenario;
  }
  EXPECT_EQ(seen.size(), 6u);
}

// Every shipped scenario with the mock label passes on the fake runtime.
TEST_F(FakeRunner, ShippedMockScenariosPass) {
  RunSummary s = Run({std::string(FAULTLINE_SOURCE_DIR) + "/scenarios"});
  int ran = 0;
  for (const auto& r : s.results) {
    bool mock = std::find(r.labels.begin(), r.labels.end(), "mock") != r.labels.end();
    if (!mock) continue;
    ++ran;
    EXPECT_NE(r.status, ResultStatus::kFailed)
        << r.scenario << ": " << ::testing::PrintToString(r.failures);
  }
  // Exact: the shipped scenarios labelled mock (scenarios/**: 16 with
  // faults/init-crash, 8 in hostile/, 10 in steps/: 8 relabelled mock and
  // exec-status-and-streams added with detached runs on the fake adapter);
  // adding or relabelling one changes it.
  EXPECT_EQ(ran, 34);
}

}  // namespace
}  // namespace faultline

namespace faultline {
namespace {

// Steps on the fake runtime: attached runs, rm, gc, ps and checks run (and
// a failing check fails the scenario); a detached run, a host action or a
// verb the fake lacks makes the scenario not applicable, naming the step.
TEST_F(FakeRunner, StepsRunOrAreNotApplicableWithTheStep) {
  Write("steps-ok.yaml", R"(labels: [mock]
steps:
  - run: a
    command: [true]
    expect: {exit: 0, gone: [a]}
  - run: b
    command: "exit 4"
    expect: {exit: 4}
  - ps:
    expect: {stdout_not: ["-a\\b"]}
  - gc:
  - check:
    expect: {probes: all}
)");
  Write("steps-wrong.yaml", R"(labels: [mock]
steps:
  - run: a
    command: "exit 2"
  - rm: a
    expect: {exit: 0}
)");
  Write("steps-detach.yaml", R"(labels: [mock]
steps:
  - run: a
    command: [sleep, "5"]
    detach: true
    expect: {running: [a]}
  - exec: a
    command: "exit 3"
    expect: {exit: 3, running: [a]}
  - stop: a
    expect: {exit: 0}
  - rm: a
    expect: {gone: [a]}
  - check:
    expect: {probes: all}
)");
  Write("steps-host.yaml", R"(labels: [mock]
steps:
  - run: a
    command: [true]
  - hold_mounts: h
)");
  Write("steps-kill.yaml", R"(labels: [mock]
steps:
  - run: a
    command: [true]
  - kill: a
)");
  RunSummary s = Run();
  ASSERT_EQ(s.results.size(), 5u);
  const auto& ok = Find(s, "steps-ok");
  EXPECT_EQ(ok.status, ResultStatus::kPassed) << ::testing::PrintToString(ok.failures);
  EXPECT_EQ(ok.containers, 2);
  const auto& wrong = Find(s, "steps-wrong");
  EXPECT_EQ(wrong.status, ResultStatus::kFailed);
  // The run's exit 2 is not the default 0; rm of a removed container fails.
  ASSERT_EQ(wrong.failures.size(), 2u) << ::testing::PrintToString(wrong.failures);
  EXPECT_THAT(wrong.failures[0], HasSubstr("step1.exit: step 1 (run a, line 3): exit 2"));
  EXPECT_THAT(wrong.failures[1], HasSubstr("step2.exit: step 2 (rm a, line 5)"));
  const auto& detach = Find(s, "steps-detach");
  // Detached runs, exec, stop and rm on the fake kernel (the monitor lives
  // on in the kernel between the steps).
  EXPECT_EQ(detach.status, ResultStatus::kPassed) << ::testing::PrintToString(detach.failures);
  const auto& host = Find(s, "steps-host");
  EXPECT_EQ(host.status, ResultStatus::kNotApplicable);
  EXPECT_THAT(host.reason, HasSubstr("step 2 (hold_mounts h, line 5): the host action "
                                     "hold_mounts needs a real kernel"));
  const auto& kill = Find(s, "steps-kill");
  EXPECT_EQ(kill.status, ResultStatus::kNotApplicable);
  EXPECT_THAT(kill.reason, HasSubstr("step 2 (kill a, line 5)"));
  EXPECT_THAT(kill.reason, HasSubstr("has no kill"));
}

}  // namespace
}  // namespace faultline
