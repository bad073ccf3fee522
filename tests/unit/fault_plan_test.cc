// The fault plan language: parsing (YAML, JSON, compact), errors naming the
// field, matching, and the determinism of nth / range / probability.
#include "faults/plan.h"
#include "tests/support/matchers.h"

#include <errno.h>
#include <sys/mount.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

namespace faultline {
namespace {

using ::testing::HasSubstr;
using faultline::testing_matchers::FailsWith;
using ::testing::_;

CallInfo Call(std::string_view op, std::string_view path = {}, uint64_t flags = 0,
              std::string_view fstype = {}) {
  CallInfo c;
  c.op = op;
  c.path = path;
  c.flags = flags;
  c.fstype = fstype;
  return c;
}

// Which of n calls of op fire, 1-based.
std::vector<int> Fired(FaultPlan& plan, std::string_view op, int n) {
  std::vector<int> out;
  for (int i = 1; i <= n; ++i)
    if (plan.Decide(Call(op)).fired()) out.push_back(i);
  return out;
}

FaultPlan MustCompact(const std::string& text) {
  auto p = FaultPlan::FromCompact(text);
  EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.error().Message());
  return p.ok() ? p.value() : FaultPlan{};
}

TEST(FaultPlanErrno, NamesRoundTrip) {
  EXPECT_EQ(ErrnoToName(EBUSY), "EBUSY");
  EXPECT_EQ(ErrnoToName(ENOSPC), "ENOSPC");
  int e = 0;
  ASSERT_TRUE(ErrnoFromName("EBUSY", &e));
  EXPECT_EQ(e, EBUSY);
  ASSERT_TRUE(ErrnoFromName("5", &e));
  EXPECT_EQ(e, 5);
  ASSERT_TRUE(ErrnoFromName("EWOULDBLOCK", &e));
  EXPECT_EQ(e, EAGAIN);
  EXPECT_FALSE(ErrnoFromName("EBOGUS", &e));
  for (int err = 1; err < 134; ++err) {
    int back = 0;
    ASSERT_TRUE(ErrnoFromName(ErrnoToName(err), &back)) << err;
    EXPECT_EQ(back, err);
  }
}

TEST(FaultPlanCompact, ParsesTheReplayForm) {
  FaultPlan p = MustCompact("op=mount,nth=3,errno=EBUSY,mode=transient");
  ASSERT_EQ(p.rules().size(), 1u);
  const Rule& r = p.rules()[0];
  EXPECT_EQ(r.match.ops, std::vector<std::string>{"mount"});
  EXPECT_EQ(r.when.kind, When::Kind::kNth);
  EXPECT_EQ(r.when.nth, 3u);
  EXPECT_EQ(r.action, (Action{ActionKind::kFail, EBUSY, 0}));
  EXPECT_EQ(r.times, Times::kOnce);
}

TEST(FaultPlanCompact, ToStringRoundTrips) {
  for (const char* text : {
           "op=mount,nth=3,errno=EBUSY,mode=transient",
           "op=mount|umount2,path=/var/lib/mydocker/*/merged,fstype=overlay,flags=0x1000,"
           "first=2,last=9,step=3,counter=per_op,action=crash,mode=persistent",
           "path=/a%2Cb%3Bc%3Dd%25,prob=0.25,seed=42,action=lie,mode=persistent",
           "op=write,pid=7,action=delay,delay_ms=50,mode=transient;op=rmdir,errno=ENOTEMPTY,"
           "mode=persistent",
           "op=mount,pid=101,nth=2,counter=per_op,action=pause,mode=transient",
           "op=rmdir,nth=4,action=pause,pause_ms=5000,mode=transient",
       }) {
    FaultPlan p = MustCompact(text);
    EXPECT_EQ(p.ToString(), text);
    auto again = FaultPlan::FromCompact(p.ToString());
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again.value(), p);
    auto via_json = FaultPlan::FromYaml(p.ToJson());
    ASSERT_TRUE(via_json.ok()) << via_json.error().Message();
    EXPECT_EQ(via_json.value(), p) << p.ToJson();
  }
  EXPECT_EQ(MustCompact("op=mount,path=/a%2Cb,errno=5").rules()[0].match.path, "/a,b");
}

TEST(FaultPlanCompact, ErrorsNameTheField) {
  struct Case {
    const char* text;
    const char* field;
    const char* detail;
  } cases[] = {
      {"op=mount,nth=0,errno=EBUSY", "rule 1: nth", "positive"},
      {"op=mount,errno=EBOGUS", "rule 1: errno", "EBOGUS"},
      {"op=mount,nth=2", "rule 1", "no action"},
      {"op=mount,colour=red,errno=EIO", "rule 1: colour", "unknown key"},
      {"op=mount,errno=EIO;op=rmdir,mode=sometimes,errno=EIO", "rule 2: mode", "sometimes"},
      {"nth=2,first=3,errno=EIO", "rule 1", "one of"},
      {"action=explode", "rule 1: action", "explode"},
      {"prob=1.5,errno=EIO", "rule 1: prob", "0..1"},
      {"action=fail", "rule 1: errno", "needs errno"},
      {"path=%zz,errno=EIO", "rule 1: path", "escape"},
      {"justtext", "rule 1", "key=value"},
      {"op=mount,pause_ms=0", "rule 1: pause_ms", "milliseconds"},
      {"op=mount,action=lie,pause_ms=10", "rule 1: pause_ms", "only goes with action pause"},
  };
  for (const Case& c : cases) {
    auto p = FaultPlan::FromCompact(c.text);
    ASSERT_THAT(p, FailsWith("fault plan", c.field, _)) << c.text;
    EXPECT_THAT(p.error().detail, HasSubstr(c.detail)) << c.text;
  }
}

TEST(FaultPlanYaml, ParsesTheFullForm) {
  auto p = FaultPlan::FromYaml(R"(
rules:
  - match: {op: [mount, umount2], path: "/var/lib/mydocker/*", fstype: overlay, flags: 0x1000}
    when: {nth: 2, counter: per_op}
    action: {fail: EBUSY}
    times: persistent
  - match: {op: rmdir}
    when: {probability: 0.5, seed: 9}
    action: lie
  - action: {delay_ms: 5}
    when: {first: 3, last: 4}
  - action: kill
)");
  ASSERT_TRUE(p.ok()) << p.error().Message();
  const auto& r = p.value().rules();
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(r[0].match.ops, (std::vector<std::string>{"mount", "umount2"}));
  EXPECT_EQ(r[0].match.flags, 0x1000u);
  EXPECT_EQ(r[0].when.counter, CounterScope::kPerOp);
  EXPECT_EQ(r[0].times, Times::kPersistent);
  EXPECT_EQ(r[1].when.kind, When::Kind::kProbability);
  EXPECT_EQ(r[1].action.kind, ActionKind::kLie);
  EXPECT_EQ(r[2].action, (Action{ActionKind::kDelay, 0, 5}));
  EXPECT_EQ(r[2].when.first, 3u);
  EXPECT_EQ(r[3].action.kind, ActionKind::kCrash);
  EXPECT_EQ(r[3].times, Times::kOnce);
  // JSON is YAML; a bare list is accepted; Parse picks the form.
  auto j = FaultPlan::Parse(R"([{"match": {"op": "mkdir"}, "action": {"errno": "ENOSPC"}}])");
  ASSERT_TRUE(j.ok()) << j.error().Message();
  EXPECT_EQ(j.value().rules()[0].action.err, ENOSPC);
  auto c = FaultPlan::Parse("op=mount,path=/a:b,nth=1,errno=EIO");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c.value().rules()[0].match.path, "/a:b");
  // A scenario's already-parsed `faults:` node.
  YAML::Node node = YAML::Load("- {match: {op: mount}, action: {fail: EPERM}}");
  auto n = FaultPlan::FromYamlNode(node);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n.value().rules()[0].action.err, EPERM);
}

TEST(FaultPlanPause, ParsesEveryFormWithItsBound) {
  FaultPlan c = MustCompact("op=mkdir,nth=3,pause_ms=250");  // pause_ms implies pause
  ASSERT_EQ(c.rules().size(), 1u);
  EXPECT_EQ(c.rules()[0].action.kind, ActionKind::kPause);
  EXPECT_EQ(c.rules()[0].action.PauseBoundMs(), 250);
  EXPECT_EQ(c.ToString(), "op=mkdir,nth=3,action=pause,pause_ms=250,mode=transient");
  auto y = FaultPlan::FromYaml(R"(
rules:
  - {match: {op: mount}, when: {nth: 2}, action: pause}
  - {match: {op: rmdir}, action: {pause_ms: 70}}
)");
  ASSERT_TRUE(y.ok()) << y.error().Message();
  const auto& r = y.value().rules();
  EXPECT_EQ(r[0].action.kind, ActionKind::kPause);
  EXPECT_EQ(r[0].action.pause_ms, 0);
  EXPECT_EQ(r[0].action.PauseBoundMs(), kDefaultPauseMs);
  EXPECT_EQ(r[1].action, (Action{ActionKind::kPause, 0, 0, 70}));
  EXPECT_STREQ(ActionName(ActionKind::kPause), "pause");
  auto bad = FaultPlan::FromYaml("rules: [{action: {pause_ms: 0}}]");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().path, "rules[0].action.pause_ms");
  // A pause decides like any action: the rule's nth call fires, once.
  FaultPlan p = MustCompact("op=mount,nth=2,action=pause");
  EXPECT_EQ(Fired(p, "mount", 4), (std::vector<int>{2}));
}

TEST(FaultPlanYaml, ErrorsNameTheField) {
  struct Case {
    const char* text;
    const char* field;
  } cases[] = {
      {"rules: [{match: {op: mount}, when: {nth: -1}, action: lie}]", "rules[0].when.nth"},
      {"rules: [{match: {op: mount}}]", "rules[0].action"},
      {"rules: [{action: lie}, {action: {fail: ENOPE}}]", "rules[1].action.fail"},
      {"rules: [{action: lie, times: twice}]", "rules[0].times"},
      {"rules: [{action: lie, match: {colour: red}}]", "rules[0].match.colour"},
      {"rules: [{action: lie, when: {nth: 1, probability: 0.5}}]", "rules[0].when"},
      {"rules: {a: 1}", "rules"},
      {"ruels: []", "ruels"},
      {"rules: [{action: lie, when: {first: 5, last: 2}}]", "rules[0].when.last"},
  };
  for (const Case& c : cases) {
    auto p = FaultPlan::FromYaml(c.text);
    ASSERT_FALSE(p.ok()) << c.text;
    EXPECT_EQ(p.error().path, c.field) << c.text << ": " << p.error().Message();
  }
  auto broken = FaultPlan::FromYaml("rules: [\n  {action: lie\n");
  ASSERT_FALSE(broken.ok());
  EXPECT_THAT(broken.error().path, HasSubstr("line"));
}

TEST(FaultPlanMatch, OpsGlobFstypeFlagsPid) {
  Match m;
  m.ops = {"mount", "umount2"};
  m.path = "/var/lib/mydocker/*/merged";
  m.fstype = "overlay";
  m.flags = MS_BIND | MS_REC;
  CallInfo c = Call("mount", "/var/lib/mydocker/c1/merged", MS_BIND | MS_REC | MS_RDONLY,
                    "overlay");
  EXPECT_TRUE(Matches(m, c));
  EXPECT_TRUE(Matches(m, Call("mount", "/var/lib/mydocker/a/b/merged", MS_BIND | MS_REC,
                              "overlay")));  // '*' crosses '/'
  EXPECT_FALSE(Matches(m, Call("mount", "/var/lib/mydocker/c1/merged", MS_BIND, "overlay")));
  EXPECT_FALSE(Matches(m, Call("mount", "/var/lib/mydocker/c1/upper", MS_BIND | MS_REC,
                               "overlay")));
  EXPECT_FALSE(Matches(m, Call("mount", "/var/lib/mydocker/c1/merged", MS_BIND | MS_REC,
                               "tmpfs")));
  EXPECT_FALSE(Matches(m, Call("rmdir", "/var/lib/mydocker/c1/merged", MS_BIND | MS_REC,
                               "overlay")));
  Match p;
  p.pid = 7;
  c.pid = 7;
  EXPECT_TRUE(Matches(p, c));
  c.pid = 8;
  EXPECT_FALSE(Matches(p, c));
  EXPECT_TRUE(Matches(Match{}, Call("anything")));
}

TEST(FaultPlanWhen, NthOnceVersusPersistent) {
  FaultPlan once = MustCompact("op=mount,nth=3,errno=EBUSY,mode=transient");
  EXPECT_EQ(Fired(once, "mount", 6), (std::vector<int>{3}));
  FaultPlan pers = MustCompact("op=mount,nth=3,errno=EBUSY,mode=persistent");
  EXPECT_EQ(Fired(pers, "mount", 6), (std::vector<int>{3, 4, 5, 6}));
  // Other ops do not count.
  FaultPlan p = MustCompact("op=mount,nth=2,errno=EBUSY");
  EXPECT_FALSE(p.Decide(Call("mount")).fired());
  EXPECT_FALSE(p.Decide(Call("rmdir")).fired());
  Decision d = p.Decide(Call("mount"));
  EXPECT_TRUE(d.fired());
  EXPECT_EQ(d.rule, 0);
  EXPECT_EQ(d.action.err, EBUSY);
  EXPECT_EQ(p.matched(0), 2u);
  EXPECT_EQ(p.fired(0), 1u);
  // Reset starts a fresh run.
  p.Reset();
  EXPECT_FALSE(p.Decide(Call("mount")).fired());
  EXPECT_TRUE(p.Decide(Call("mount")).fired());
}

TEST(FaultPlanWhen, GlobalVersusPerOpCounter) {
  FaultPlan global = MustCompact("op=mount|umount2,nth=2,errno=EIO");
  EXPECT_FALSE(global.Decide(Call("mount")).fired());
  EXPECT_TRUE(global.Decide(Call("umount2")).fired());  // 2nd matching call
  FaultPlan per_op = MustCompact("op=mount|umount2,nth=2,counter=per_op,errno=EIO,mode=persistent");
  EXPECT_FALSE(per_op.Decide(Call("mount")).fired());
  EXPECT_FALSE(per_op.Decide(Call("umount2")).fired());
  EXPECT_TRUE(per_op.Decide(Call("mount")).fired());
  EXPECT_TRUE(per_op.Decide(Call("umount2")).fired());
  // No op filter: n is the run's call number (the sweep's point).
  FaultPlan point = MustCompact("nth=4,errno=EIO");
  int fired_at = 0;
  const char* ops[] = {"mkdir", "mount", "open", "write", "close"};
  for (int i = 0; i < 5; ++i)
    if (point.Decide(Call(ops[i])).fired()) fired_at = i + 1;
  EXPECT_EQ(fired_at, 4);
}

TEST(FaultPlanWhen, RangeWithStep) {
  FaultPlan p = MustCompact("op=write,first=2,last=8,step=3,errno=EIO,mode=persistent");
  EXPECT_EQ(Fired(p, "write", 12), (std::vector<int>{2, 5, 8}));
  FaultPlan open_end = MustCompact("op=write,first=10,step=5,errno=EIO,mode=persistent");
  EXPECT_EQ(Fired(open_end, "write", 26), (std::vector<int>{10, 15, 20, 25}));
  FaultPlan once = MustCompact("op=write,first=2,last=8,step=3,errno=EIO,mode=transient");
  EXPECT_EQ(Fired(once, "write", 12), (std::vector<int>{2}));
}

TEST(FaultPlanWhen, ProbabilityIsSeededAndDeterministic) {
  auto run = [](const std::string& text) {
    FaultPlan p = MustCompact(text);
    return Fired(p, "open", 2000);
  };
  auto a = run("op=open,prob=0.2,seed=1,errno=EIO,mode=persistent");
  auto b = run("op=open,prob=0.2,seed=1,errno=EIO,mode=persistent");
  auto c = run("op=open,prob=0.2,seed=2,errno=EIO,mode=persistent");
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_GT(a.size(), 300u);
  EXPECT_LT(a.size(), 500u);
  EXPECT_TRUE(run("op=open,prob=0,errno=EIO,mode=persistent").empty());
  EXPECT_EQ(run("op=open,prob=1,errno=EIO,mode=persistent").size(), 2000u);
}

TEST(FaultPlanWhen, FirstFiringRuleWinsButAllCount) {
  FaultPlan p = MustCompact("op=mount,errno=EPERM,mode=persistent;op=mount,nth=2,errno=EBUSY");
  Decision d1 = p.Decide(Call("mount"));
  Decision d2 = p.Decide(Call("mount"));
  EXPECT_EQ(d1.rule, 0);
  EXPECT_EQ(d2.rule, 0);
  EXPECT_EQ(p.matched(1), 2u);  // counted although rule 0 won
  EXPECT_EQ(p.fired(1), 0u);
}

}  // namespace
}  // namespace faultline
