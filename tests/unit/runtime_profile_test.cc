// Runtime profiles (harness/adapters/profile.h): parsing, extends, verbs,
// errors with file/line/field, version constraints, the shipped profiles.
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "harness/adapters/profile.h"

namespace faultline {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

class Profiles : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/faultline-profile-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text) {
    const std::string p = dir_ + "/" + name;
    std::ofstream(p) << text;
    return p;
  }
  std::optional<RuntimeProfile> Load(const std::string& name, ScenarioError* e) {
    return FindProfile(name, {dir_}, e);
  }
  std::string dir_;
};

TEST_F(Profiles, ReadsEveryFieldAndBuildsVerbArgv) {
  Write("youki.yaml", R"(kind: oci
binary: /opt/youki/bin/youki
global_args: [--root, "{root}", --debug]
verbs: [create, start, state, kill, delete, run]
cleanup: [delete, --force, "{id}"]
temp_paths: ["/tmp/youki.*", "{root}/*/notify.sock"]
cgroup_managers: [cgroupfs]
not_found: ["container not found"]
differences:
  a/b: {difference: d, reason: r, versions: "<0.4"}
)");
  ScenarioError e;
  auto p = Load("youki", &e);
  ASSERT_TRUE(p) << e.Message();
  EXPECT_EQ(p->name, "youki");
  EXPECT_EQ(p->family, "youki");
  EXPECT_EQ(p->kind, "oci");
  EXPECT_TRUE(p->HasVerb("run"));
  EXPECT_FALSE(p->HasVerb("exec"));
  EXPECT_THAT(p->VerbArgv("/b", "create", {{"root", "/s"}}, {"--bundle", "B", "id1"}),
              ElementsAre("/b", "--root", "/s", "--debug", "create", "--bundle", "B", "id1"));
  EXPECT_THAT(p->CleanupArgv("/b", {{"root", "/s"}, {"id", "c1"}}),
              ElementsAre("/b", "--root", "/s", "--debug", "delete", "--force", "c1"));
  ASSERT_EQ(p->SharedTempPrefixes().size(), 1u);
  EXPECT_EQ(p->SharedTempPrefixes()[0].first, "/tmp");
  EXPECT_EQ(p->SharedTempPrefixes()[0].second, "youki.");
  EXPECT_THAT(p->not_found, ElementsAre("container not found"));
  EXPECT_EQ(ResolveProfileBinary(*p, ""), "/opt/youki/bin/youki");
  EXPECT_EQ(ResolveProfileBinary(*p, "/x/y"), "/x/y");
  EXPECT_EQ(p->DifferencesFor("0.3.1").size(), 1u);
  EXPECT_EQ(p->DifferencesFor("0.4").size(), 0u);
}

// A verb mapped to another program (a wrapper script): {binary} and
// {global_args} are where the profile puts them.
TEST_F(Profiles, MappedVerbsAndExtends) {
  Write("base.yaml", R"(kind: oci
binary: runc
global_args: [--root, "{root}"]
verbs: [create, start, state, kill, delete, run]
differences:
  x/one: {difference: d1, reason: r1}
  x/two: {difference: d2, reason: r2, versions: "<1.2"}
)");
  Write("wrapped.yaml", R"(extends: base
binary: /usr/sbin/runc
version: "1.3.6"
verbs:
  create: [/w/wrap.sh, create-verb, "{binary}", "{global_args}"]
  start:
  state:
  delete:
  run:
differences:
  x/one: {difference: d1 again, reason: overridden}
)");
  ScenarioError e;
  auto p = Load("wrapped", &e);
  ASSERT_TRUE(p) << e.Message();
  EXPECT_EQ(p->family, "base");
  EXPECT_EQ(p->version, "1.3.6");
  EXPECT_EQ(p->files.size(), 2u);
  EXPECT_FALSE(p->HasVerb("kill"));  // a verbs list replaces the parent's
  EXPECT_THAT(p->VerbArgv("/usr/sbin/runc", "create", {{"root", "/r"}}, {"ID"}),
              ElementsAre("/w/wrap.sh", "create-verb", "/usr/sbin/runc", "--root", "/r", "ID"));
  EXPECT_THAT(p->VerbArgv("/usr/sbin/runc", "start", {{"root", "/r"}}, {"ID"}),
              ElementsAre("/usr/sbin/runc", "--root", "/r", "start", "ID"));
  EXPECT_EQ(p->differences.at("x/one").reason, "overridden");
  auto now = p->DifferencesFor(p->version);
  EXPECT_EQ(now.size(), 1u);  // x/two is for < 1.2 only
  EXPECT_EQ(p->DifferencesFor("1.1.5").size(), 2u);
}

// A list of differences for one scenario: the first whose versions hold
// for the runtime's version; a child's entry replaces the whole list.
TEST_F(Profiles, ADifferenceListPicksTheFirstForTheVersion) {
  Write("fam.yaml", R"(kind: oci
verbs: [create, start, state, delete]
differences:
  h/dev:
    - {difference: wrote outside, reason: old join, versions: "<1.1.15"}
    - {difference: runs, reason: resolves inside, versions: ">=1.1.15", expect: {exit: 0}}
  h/other: {difference: d, reason: r}
  h/gap:
    - {difference: only old, reason: r, versions: "<1.0"}
)");
  Write("child.yaml", R"(extends: fam
differences:
  h/dev: {difference: child's own, reason: r}
)");
  ScenarioError e;
  auto p = Load("fam", &e);
  ASSERT_TRUE(p) << e.Message();
  EXPECT_TRUE(p->errors.empty());
  auto old_v = p->DifferencesFor("1.1.5");
  ASSERT_EQ(old_v.count("h/dev"), 1u);
  EXPECT_EQ(old_v.at("h/dev").difference, "wrote outside");
  EXPECT_EQ(old_v.at("h/dev").scenario, "h/dev");
  EXPECT_EQ(old_v.at("h/dev").line, 5);
  EXPECT_EQ(old_v.count("h/gap"), 0u);
  auto new_v = p->DifferencesFor("1.3.6");
  ASSERT_EQ(new_v.count("h/dev"), 1u);
  EXPECT_EQ(new_v.at("h/dev").difference, "runs");
  EXPECT_EQ(new_v.at("h/dev").line, 6);
  EXPECT_EQ(new_v.size(), 2u);  // h/dev, h/other; no h/gap
  EXPECT_EQ(p->DifferencesFor("").at("h/dev").difference, "wrote outside");
  auto c = Load("child", &e);
  ASSERT_TRUE(c) << e.Message();
  EXPECT_EQ(c->DifferencesFor("1.1.5").at("h/dev").difference, "child's own");
  EXPECT_EQ(c->DifferencesFor("1.3.6").at("h/dev").difference, "child's own");
}

TEST_F(Profiles, ErrorsNameFileLineAndField) {
  struct Case {
    const char* text;
    int line;
    const char* field;
    const char* says;
  } cases[] = {
      {"kind: oci\nbinary: [a]\n", 2, "binary", "must be a string"},
      {"kind: podman\n", 1, "kind", "must be oci, mydocker or none"},
      {"kind: oci\nverbs: [create, start, state, delete, levitate]\n", 2, "verbs[4]",
       "unknown verb 'levitate'"},
      {"kind: oci\nverbs: [create, start, delete]\n", 2, "verbs", "needs the verb 'state'"},
      {"kind: oci\nverbs: [create, start, state, delete]\ntemp_paths: [\"/tmp/x*y\"]\n", 3,
       "temp_paths[0]", "DIR/PREFIX*"},
      {"kind: oci\nverbs: [create, start, state, delete]\ncleanup: delete\n", 3, "cleanup",
       "must be a list of strings"},
      {"kind: oci\nverbs: [create, start, state, delete]\nbinaries: x\n", 3, "binaries",
       "unknown field"},
      {"extends: nowhere\n", 1, "extends", "no profile 'nowhere'"},
      {"kind: oci\nverbs: [create, start, state, delete]\npersistent_paths: [/var/x]\n", 3,
       "persistent_paths[0]", "must be {root}/NAME"},
      {"kind: oci\nverbs: [create, start, state, delete]\npersistent_paths: [\"{root}/c*\"]\n",
       3, "persistent_paths[0]", "* only as the whole last name"},
      {"kind: oci\nverbs: [create, start, state, delete]\npersistent_paths: [\"{root}/*\"]\n", 3,
       "persistent_paths[0]", "must be {root}/NAME"},
      {"kind: oci\nverbs: [create, start, state, delete]\nhide_unified_controllers: maybe\n", 3,
       "hide_unified_controllers", "true or false"},
      {"kind: oci\nverbs: {create: [], start: , state: , delete: }\n", 2, "verbs.create",
       "an empty argv"},
      {"kind: oci\nverbs: [create\n", -1, "", ""},  // YAML syntax error: the parser's mark
  };
  for (const auto& c : cases) {
    const std::string path = Write("bad.yaml", c.text);
    ScenarioError e;
    EXPECT_FALSE(Load("bad", &e)) << c.text;
    EXPECT_EQ(e.file, path) << c.text;
    if (c.line < 0) {
      EXPECT_GT(e.line, 0) << c.text << e.Message();
    } else {
      EXPECT_EQ(e.line, c.line) << c.text << e.Message();
    }
    EXPECT_EQ(e.field, c.field) << c.text;
    EXPECT_THAT(e.message, HasSubstr(c.says)) << c.text;
  }
  // A bad difference entry is dropped and reported; the profile still loads.
  Write("diffs.yaml", "kind: none\ndifferences:\n  a/b: {difference: x}\n  a/c: {difference: y, "
                      "reason: z, versions: \"about 2\"}\n  a/d: {difference: y, reason: z}\n");
  ScenarioError e;
  auto p = Load("diffs", &e);
  ASSERT_TRUE(p) << e.Message();
  EXPECT_EQ(p->differences.size(), 1u);
  ASSERT_EQ(p->errors.size(), 2u);
  EXPECT_EQ(p->errors[0].line, 3);
  EXPECT_EQ(p->errors[0].field, "differences.a/b");
  EXPECT_EQ(p->errors[1].line, 4);
  EXPECT_EQ(p->errors[1].field, "differences.a/c.versions");
  // The parent's error is reported in the parent's file.
  Write("child.yaml", "extends: parent\n");
  const std::string parent = Write("parent.yaml", "kind: oci\nverbs: 7\n");
  ScenarioError pe;
  EXPECT_FALSE(Load("child", &pe));
  EXPECT_EQ(pe.file, parent);
  EXPECT_EQ(pe.line, 2);
  EXPECT_EQ(pe.field, "verbs");
}

TEST(ProfileVersions, NumberAndConstraints) {
  EXPECT_EQ(VersionNumber("runc version 1.3.6+ds1"), "1.3.6");
  EXPECT_EQ(VersionNumber("crun version 1.28"), "1.28");
  EXPECT_EQ(VersionNumber("mydocker 0.1.0 (faultline)"), "0.1.0");
  EXPECT_EQ(VersionNumber("youki version 0.4.1\ncommit: abc"), "0.4.1");
  EXPECT_EQ(VersionNumber("no version here 7"), "");
  std::string why;
  EXPECT_TRUE(VersionMatches("1.1.5", "<1.2", &why));
  EXPECT_FALSE(VersionMatches("1.3.6", "<1.2", &why));
  EXPECT_TRUE(VersionMatches("1.1.15", ">=1.1.15,<1.3", &why));
  EXPECT_TRUE(VersionMatches("1.21", ">1.8.1", &why));  // numeric, not lexical
  EXPECT_FALSE(VersionMatches("1.8.1", ">1.21", &why));
  EXPECT_TRUE(VersionMatches("1.1.5", "1.1.5", &why));
  EXPECT_TRUE(VersionMatches("1.1", "==1.1.0", &why));
  EXPECT_TRUE(why.empty());
  EXPECT_FALSE(VersionMatches("1.1", "~1.1", &why));
  EXPECT_THAT(why, HasSubstr("not a version constraint"));
  EXPECT_FALSE(VersionMatches("1.1", "", &why));
}

// The shipped profiles load, and each OCI one has what the harness drives.
TEST(ShippedProfiles, LoadAndDescribeTheirRuntimes) {
  const std::string dir = std::string(FAULTLINE_SOURCE_DIR) + "/scenarios/runtimes";
  std::vector<std::string> errors;
  auto all = LoadAllProfiles({dir}, &errors);
  for (const auto& e : errors) ADD_FAILURE() << e;
  std::map<std::string, RuntimeProfile> by;
  for (auto& p : all) by[p.name] = p;
  ASSERT_TRUE(by.count("runc") && by.count("crun") && by.count("mydocker"));
  EXPECT_EQ(by["mydocker"].kind, "mydocker");
  for (const char* rt : {"runc", "crun"}) {
    const auto& p = by[rt];
    EXPECT_EQ(p.kind, "oci");
    for (const char* v : {"create", "start", "state", "kill", "delete", "run"}) {
      EXPECT_TRUE(p.HasVerb(v)) << rt << " " << v;
    }
    EXPECT_THAT(p.cleanup, ElementsAre("delete", "-f", "{id}"));
    EXPECT_FALSE(p.differences.empty());
  }
  EXPECT_TRUE(by["crun"].hide_unified_controllers);
  EXPECT_FALSE(by["runc"].hide_unified_controllers);
  EXPECT_THAT(by["crun"].PersistentPaths("/r"),
              ElementsAre("/r/.empty-directory", "/r/.cache", "/r/.cache/seccomp",
                          "/r/.cache/seccomp/*"));
  EXPECT_THAT(by["runc"].PersistentPaths("/r"), IsEmpty());
  ASSERT_EQ(by["crun"].SharedTempPrefixes().size(), 1u);
  EXPECT_EQ(by["crun"].SharedTempPrefixes()[0].second, "crun.");
}

}  // namespace
}  // namespace faultline
