// The `steps:` format: what it reads, every error with file, line, column
// and field, the step outcome checks, and applicability per adapter.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "harness/scenario/scenario.h"
#include "harness/scenario/steps.h"

namespace faultline {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::optional<Scenario> Parse(const std::string& text, ScenarioError* err) {
  return ParseScenarioText(text, "s.yaml", "steps/s", err);
}

TEST(ScenarioSteps, ReadsEveryActionAndCheck) {
  ScenarioError err;
  auto s = Parse(R"(
labels: [privileged, mock, steps]
steps:
  - run: a
    command: [sleep, "30"]
    detach: true
    expect: {running: [a], cgroup_live: [a]}
  - hold_mounts: h
    expect:
      probe_shows: {holders: "merged"}
  - run: b
    command: "echo hi"
    expect: {exit: 0, stdout: ["^hi$"], stderr_not: [error]}
  - exec: a
    command: [cat, /proc/self/cgroup]
  - freeze: a
  - rm: a
    force: true
    expect: {within: 10, gone: [a], exit: 0}
  - thaw: a
  - kill: b
    signal: SIGTERM
  - stop: b
    timeout: 2
  - release: h
  - sleep: 0.5
  - sh: "true"
    expect:
      file: {path: "{scratch}/x", exists: false}
  - gc:
  - ps:
    expect: {stdout_not: [b], exit: nonzero}
  - check:
    expect: {probes: all}
expect:
  probes: [mounts, cgroups]
)",
                 &err);
  ASSERT_TRUE(s) << err.Message();
  ASSERT_EQ(s->steps.size(), 15u);
  EXPECT_TRUE(s->command.empty());
  const Step& run = s->steps[0];
  EXPECT_EQ(run.action, "run");
  EXPECT_EQ(run.target, "a");
  EXPECT_TRUE(run.detach);
  EXPECT_THAT(run.command, ElementsAre("sleep", "30"));
  EXPECT_THAT(run.expect.running, ElementsAre("a"));
  EXPECT_THAT(run.expect.cgroup_live, ElementsAre("a"));
  EXPECT_EQ(run.line, 4);
  EXPECT_EQ(s->steps[1].expect.probe_shows.at("holders"), "merged");
  EXPECT_THAT(s->steps[2].command, ElementsAre("sh", "-c", "echo hi"));
  EXPECT_EQ(s->steps[2].expect.exit_code, 0);
  EXPECT_TRUE(s->steps[5].force);
  EXPECT_EQ(*s->steps[5].expect.within_seconds, 10.0);
  EXPECT_EQ(s->steps[7].signal, "TERM");
  EXPECT_EQ(*s->steps[8].timeout, 2);
  EXPECT_EQ(s->steps[10].seconds, 0.5);
  EXPECT_THAT(s->steps[11].command, ElementsAre("/bin/sh", "-c", "true"));
  ASSERT_EQ(s->steps[11].expect.files.size(), 1u);
  EXPECT_FALSE(s->steps[11].expect.files[0].exists);
  EXPECT_EQ(s->steps[12].action, "gc");
  EXPECT_TRUE(s->steps[13].expect.exit_nonzero);
  EXPECT_EQ(s->steps[14].expect.probes.size(), KnownProbes().size());
  EXPECT_THAT(s->expect.probes, ElementsAre("mounts", "cgroups"));
  EXPECT_TRUE(IsHostAction("freeze"));
  EXPECT_FALSE(IsHostAction("rm"));
  EXPECT_EQ(s->steps[5].Label(5), "step 6 (rm a, line 17)");
}

TEST(ScenarioSteps, ErrorsNameFileLineColumnAndField) {
  struct Case {
    std::string text, field, says;
    int line, column;
  };
  const std::vector<Case> cases = {
      {"steps: []\n", "steps", "non-empty", 1, 8},
      {"steps:\n  - jump: a\n", "steps[0]", "no action", 2, 5},
      {"steps:\n  - run: a\n    command: [true]\n    rm: a\n", "steps[0].rm", "one action", 4, 5},
      {"steps:\n  - run: a\n", "steps[0].command", "needs a command", 2, 5},
      {"steps:\n  - run: A\n    command: [true]\n", "steps[0].run", "a name", 2, 10},
      {"steps:\n  - rm: a\n", "steps[0].rm", "no earlier step runs or creates 'a'", 2, 9},
      {"steps:\n  - run: a\n    command: [true]\n  - run: a\n    command: [true]\n",
       "steps[1].run", "already used", 4, 10},
      {"steps:\n  - run: a\n    command: [true]\n    force: true\n", "steps[0].force",
       "unknown key for run", 4, 5},
      {"steps:\n  - run: a\n    command: [true]\n    expect: {exit: maybe}\n",
       "steps[0].expect.exit", "integer", 4, 20},
      {"steps:\n  - run: a\n    command: [true]\n    expect: {gone: [b]}\n", "steps[0].expect",
       "'b' names no container", 4, 13},
      {"steps:\n  - run: a\n    command: [true]\n    expect: {probes: [smell]}\n",
       "steps[0].expect.probes", "unknown probe", 4, 23},
      {"steps:\n  - run: a\n    command: [true]\n    expect: {probe_shows: {holders: '('}}\n",
       "steps[0].expect.probe_shows.holders", "regular expression", 4, 37},
      {"steps:\n  - sleep: soon\n", "steps[0].sleep", "seconds", 2, 12},
      {"steps:\n  - release: h\n", "steps[0].release", "holds 'h'", 2, 14},
      {"steps:\n  - run: a\n    command: [true]\n  - kill: a\n    signal: PWR\n",
       "steps[1].signal", "TERM, KILL", 5, 13},
      {"steps:\n  - gc: now\n", "steps[0].gc", "no operand", 2, 9},
      {"steps:\n  - run: a\n    command: [true]\n    expect: {file: {path: rel}}\n",
       "steps[0].expect.file.path", "absolute", 4, 27},
      {"steps:\n  - run: a\n    command: [true]\n    expect: {within: -1}\n",
       "steps[0].expect.within", "seconds", 4, 22},
      {"command: [true]\nsteps:\n  - gc:\n", "steps", "not both", 3, 3},
      {"steps:\n  - gc:\nload: {count: 2}\n", "load", "not with steps", 3, 7},
      {"steps:\n  - gc:\nexpect: {exit: 0}\n", "expect.exit", "probes only", 3, 10},
  };
  for (const auto& c : cases) {
    ScenarioError err;
    EXPECT_FALSE(Parse(c.text, &err)) << c.text;
    EXPECT_EQ(err.file, "s.yaml");
    EXPECT_EQ(err.field, c.field) << c.text << " -> " << err.Message();
    EXPECT_THAT(err.message, HasSubstr(c.says)) << c.text << " -> " << err.Message();
    EXPECT_EQ(err.line, c.line) << c.text << " -> " << err.Message();
    EXPECT_EQ(err.column, c.column) << c.text << " -> " << err.Message();
  }
}

TEST(ScenarioSteps, OutcomeChecks) {
  StepExpect e;
  StepOutcome o;
  // Default: exit 0.
  auto c = CheckStepOutcome("step1", e, o, 0.1, true);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].name, "step1.exit");
  EXPECT_TRUE(c[0].ok);
  o.exit_code = 137;
  o.err = "killed";
  c = CheckStepOutcome("step1", e, o, 0.1, true);
  EXPECT_FALSE(c[0].ok);
  EXPECT_THAT(c[0].detail, HasSubstr("exit 137, expected 0: killed"));
  e.exit_nonzero = true;
  e.stdout_has.push_back({"^ok$", 3});
  e.within_seconds = 1.0;
  o.out = "ok\n";
  c = CheckStepOutcome("step2", e, o, 2.5, true);
  ASSERT_EQ(c.size(), 3u);
  EXPECT_TRUE(c[0].ok);
  EXPECT_EQ(c[1].name, "step2.stdout");
  EXPECT_TRUE(c[1].ok);
  EXPECT_EQ(c[2].name, "step2.within");
  EXPECT_FALSE(c[2].ok);
  EXPECT_THAT(c[2].detail, HasSubstr("took 2.50 s, bound 1.00 s"));
  StepExpect any;
  any.exit_any = true;
  EXPECT_TRUE(CheckStepOutcome("s", any, o, 0, true).empty());
  // The fake kernel's one console: stderr patterns also read stdout.
  StepExpect f;
  f.stderr_has.push_back({"boom", 1});
  StepOutcome g;
  g.out = "boom\n";
  EXPECT_FALSE(CheckStepOutcome("s", f, g, 0, true).back().ok);
  EXPECT_TRUE(CheckStepOutcome("s", f, g, 0, false).back().ok);
}

// pause_at: the fault plan's match and when keys, read by the plan parser
// (FaultPlan::PausePointFromYamlNode) into one pause rule.
TEST(ScenarioSteps, PauseAtIsOnePauseRule) {
  ScenarioError err;
  auto s = Parse(
      "steps:\n"
      "  - run: a\n"
      "    command: [sleep, '1']\n"
      "    detach: true\n"
      "    pause_at: {op: mkdir, path: '/sys/fs/cgroup/*', nth: 2, counter: per_op, pause_ms: 9000}\n"
      "    expect: {held: [a]}\n"
      "  - run: b\n"
      "    command: [true]\n"
      "    detach: true\n"
      "    pause_at: {op: pivot_root}\n"
      "  - release_call: a\n"
      "  - check:\n"
      "    expect: {held: [b]}\n",
      &err);
  ASSERT_TRUE(s) << err.Message();
  ASSERT_EQ(s->steps.size(), 4u);
  const auto& a = s->steps[0].pause_at.rules();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].match.ops, std::vector<std::string>{"mkdir"});
  EXPECT_EQ(a[0].match.path, "/sys/fs/cgroup/*");
  EXPECT_EQ(a[0].when.kind, When::Kind::kNth);
  EXPECT_EQ(a[0].when.nth, 2u);
  EXPECT_EQ(a[0].when.counter, CounterScope::kPerOp);
  EXPECT_EQ(a[0].action.kind, ActionKind::kPause);
  EXPECT_EQ(a[0].action.pause_ms, 9000);
  EXPECT_EQ(a[0].times, Times::kOnce);
  EXPECT_THAT(s->steps[0].expect.held, ElementsAre("a"));
  const auto& b = s->steps[1].pause_at.rules();
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].when.nth, 1u);  // the first matching call by default
  EXPECT_EQ(b[0].action.PauseBoundMs(), kDefaultPauseMs);
  EXPECT_EQ(s->steps[2].action, "release_call");
  EXPECT_EQ(s->steps[2].target, "a");
  EXPECT_TRUE(s->steps[3].pause_at.empty());
}

TEST(ScenarioSteps, PauseAtErrorsNameLineColumnAndField) {
  struct Case {
    std::string text, field, says;
    int line, column;
  };
  const std::string run = "steps:\n  - run: a\n    command: [true]\n    detach: true\n";
  const std::vector<Case> cases = {
      {run + "    pause_at: {op: pivot_root, nth: 0}\n", "steps[0].pause_at.nth",
       "positive integer", 5, 37},
      {run + "    pause_at: {op: pivot_root, when: 3}\n", "steps[0].pause_at.when",
       "unknown key", 5, 32},
      {run + "    pause_at: {op: pivot_root, pid: 101}\n", "steps[0].pause_at.pid",
       "unknown key", 5, 32},
      {run + "    pause_at: {path: /x}\n", "steps[0].pause_at.op", "missing", 5, 15},
      {run + "    pause_at: {op: pivot_root, pause_ms: 0}\n", "steps[0].pause_at.pause_ms",
       "milliseconds", 5, 42},
      {run + "    pause_at: {op: pivot_root, counter: mine}\n", "steps[0].pause_at.counter",
       "global or per_op", 5, 41},
      {run + "    pause_at: pivot_root\n", "steps[0].pause_at", "mapping", 5, 15},
      {"steps:\n  - run: a\n    command: [true]\n    pause_at: {op: pivot_root}\n",
       "steps[0].pause_at", "detach: true", 4, 15},
      {"steps:\n  - gc:\n    pause_at: {op: mkdir}\n", "steps[0].pause_at",
       "unknown key for gc", 3, 5},
      {"steps:\n  - run: a\n    command: [true]\n  - release_call: a\n",
       "steps[1].release_call", "holds a call", 4, 19},
      {run + "    pause_at: {op: pivot_root}\n  - release_call: a\n  - release_call: a\n",
       "steps[2].release_call", "holds a call", 7, 19},
      {"steps:\n  - run: a\n    command: [true]\n    expect: {held: [a]}\n",
       "steps[0].expect.held", "not held here", 4, 20},
  };
  for (const auto& c : cases) {
    ScenarioError err;
    EXPECT_FALSE(Parse(c.text, &err)) << c.text;
    EXPECT_EQ(err.file, "s.yaml");
    EXPECT_EQ(err.field, c.field) << c.text << " -> " << err.Message();
    EXPECT_THAT(err.message, HasSubstr(c.says)) << c.text << " -> " << err.Message();
    EXPECT_EQ(err.line, c.line) << c.text << " -> " << err.Message();
    EXPECT_EQ(err.column, c.column) << c.text << " -> " << err.Message();
  }
}

// An adapter that has every step action; whether it can hold a call is given.
class ActionsOnly : public RuntimeAdapter {
 public:
  explicit ActionsOnly(bool holds) : holds_(holds) {}
  std::string name() const override { return "actions-only"; }
  mydocker::Outcome Prepare() override { return mydocker::Outcome::Ok(); }
  mydocker::Outcome AddImage(const HostileImage&) override { return mydocker::Outcome::Ok(); }
  ContainerResult Run(const ContainerRequest&) override { return {}; }
  std::string TeardownAgain(const std::string&, bool*) override { return ""; }
  std::string ExpectedCgroup(const std::string&) const override { return ""; }
  mydocker::Sys& ProbeSys() override { std::abort(); }
  ProbeScope Scope() const override { return {}; }
  std::string ImageLayer() const override { return ""; }
  std::string HostHostname() override { return ""; }
  std::string StepLacks(const std::string&, bool) const override { return ""; }
  std::string PauseLacks() const override {
    return holds_ ? "" : RuntimeAdapter::PauseLacks();
  }

 private:
  bool holds_;
};

TEST(ScenarioSteps, PauseAtNotApplicableWithTheAdaptersReason) {
  ScenarioError err;
  auto s = Parse(
      "steps:\n  - run: a\n    command: [true]\n    detach: true\n"
      "    pause_at: {op: pivot_root}\n  - release_call: a\n",
      &err);
  ASSERT_TRUE(s) << err.Message();
  EXPECT_EQ(StepsNotApplicable(*s, ActionsOnly(true)), "");
  EXPECT_EQ(StepsNotApplicable(*s, ActionsOnly(false)),
            "step 1 (run a, line 2): the actions-only adapter cannot hold a call of a run "
            "(pause_at): its steps run the runtime binary as a plain process, not under the "
            "seccomp supervisor whose Verdict::Pause would hold it");
  // Without pause_at the same run applies.
  auto plain = Parse("steps:\n  - run: a\n    command: [true]\n    detach: true\n", &err);
  ASSERT_TRUE(plain) << err.Message();
  EXPECT_EQ(StepsNotApplicable(*plain, ActionsOnly(false)), "");
}

TEST(ScenarioSteps, ContainerIds) {
  EXPECT_EQ(StepContainerId("fl0000beef", "web_1"), "fl0000beef-web-1");
}

}  // namespace
}  // namespace faultline
