// The scenario format: parsing, errors with file/line/field, file discovery,
// expected-difference files, sharding, and every shipped scenario file.
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "harness/scenario/runner.h"
#include "harness/scenario/scenario.h"

namespace faultline {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::optional<Scenario> Parse(const std::string& text, ScenarioError* err) {
  return ParseScenarioText(text, "t.yaml", "t", err);
}

TEST(ScenarioParser, ReadsEveryField) {
  ScenarioError err;
  auto s = Parse(R"(
description: all of it
labels: [privileged, mock, isolation]
runtimes: [builtin, runc]
image: busybox
command: [sh, -c, "echo hi"]
hostname: box
env: {A: "1", B: two}
limits: {memory: 32m, cpus: 0.5, cpu_shares: 512, cpuset_cpus: "0-1", pids: 20}
volumes:
  - {host: data, container: /data, read_only: true, files: {f.txt: hello}}
load: {count: 4, parallel: 2, sample_every: 2}
setup: {shared_parent: true, host_shm: true}
timeout: 30
expect:
  exit: 3
  stdout: ["^hi$"]
  stdout_not: bad
  stderr: [warn]
  error: {step: "workspace: mount overlay", errno: EIO}
  probes: [mounts, cgroups]
  cgroup_live: true
  teardown_twice: true
)",
                 &err);
  ASSERT_TRUE(s) << err.Message();
  EXPECT_EQ(s->description, "all of it");
  EXPECT_THAT(s->labels, ElementsAre("privileged", "mock", "isolation"));
  EXPECT_TRUE(s->AppliesTo("runc"));
  EXPECT_FALSE(s->AppliesTo("crun"));
  EXPECT_THAT(s->command, ElementsAre("sh", "-c", "echo hi"));
  EXPECT_THAT(s->env, ElementsAre("A=1", "B=two"));
  EXPECT_EQ(*s->limits.memory_bytes, 32 << 20);
  EXPECT_DOUBLE_EQ(*s->limits.cpus, 0.5);
  EXPECT_EQ(*s->limits.cpu_shares, 512u);
  EXPECT_EQ(*s->limits.cpuset_cpus, "0-1");
  EXPECT_EQ(*s->limits.pids_limit, 20);
  ASSERT_EQ(s->volumes.size(), 1u);
  EXPECT_TRUE(s->volumes[0].read_only);
  EXPECT_EQ(s->volumes[0].files.at("f.txt"), "hello");
  EXPECT_EQ(s->load.count, 4);
  EXPECT_EQ(s->load.parallel, 2);
  EXPECT_TRUE(s->setup.shared_parent);
  EXPECT_EQ(s->timeout_seconds, 30);
  EXPECT_EQ(*s->expect.exit_code, 3);
  ASSERT_EQ(s->expect.stdout_has.size(), 1u);
  EXPECT_EQ(s->expect.stdout_has[0].line, 17);
  EXPECT_EQ(s->expect.error->errno_name, "EIO");
  EXPECT_THAT(s->expect.probes, ElementsAre("mounts", "cgroups"));
  EXPECT_TRUE(s->expect.cgroup_live);
  EXPECT_TRUE(s->expect.teardown_twice);
}

TEST(ScenarioParser, DefaultsAndStringCommand) {
  ScenarioError err;
  auto s = Parse("command: echo hi && true\nexpect: {exit: 0}\n", &err);
  ASSERT_TRUE(s) << err.Message();
  EXPECT_THAT(s->command, ElementsAre("sh", "-c", "echo hi && true"));
  EXPECT_THAT(s->labels, ElementsAre("privileged"));
  EXPECT_EQ(s->expect.probes, KnownProbes());  // every probe by default
  EXPECT_TRUE(s->runtimes.empty());
  EXPECT_TRUE(s->AppliesTo("crun"));
}

TEST(ScenarioParser, SyntaxErrorHasLineAndColumn) {
  ScenarioError err;
  EXPECT_FALSE(Parse("command: [true]\nexpect: {exit: 0\nlabels: [x]\n", &err));
  EXPECT_EQ(err.file, "t.yaml");
  EXPECT_GE(err.line, 2);
  EXPECT_GT(err.column, 0);
  EXPECT_THAT(err.Message(), HasSubstr("t.yaml:"));
}

TEST(ScenarioParser, FieldErrorsNameTheFieldAndLine) {
  struct Case {
    std::string text, field, says;
    int line;
  };
  std::vector<Case> cases = {
      {"command: [true]\nexpect: {exit: 0}\ncomand: [x]\n", "comand", "unknown key", 3},
      {"command: [true]\nlimits:\n  memory: lots\nexpect: {exit: 0}\n", "limits.memory", "EINVAL",
       3},
      {"command: [true]\nexpect:\n  exit: maybe\n", "expect.exit", "integer", 3},
      {"command: [true]\nexpect:\n  stdout: ['(']\n", "expect.stdout", "regular expression", 3},
      {"command: [true]\nruntimes: [docker]\nexpect: {exit: 0}\n", "runtimes", "unknown runtime",
       2},
      {"labels:\n  - privileged\ncommand: [true]\nexpect: {exit: 0}\n", "labels", "one-line", 2},
      {"expect:\n  isolation: [memory]\n", "expect.isolation", "limits.memory", 2},
      {"command: [true]\nexpect:\n  isolation: [uts]\n", "command", "not both", 1},
      {"command: [true]\n", "expect", "missing", 1},
      {"command: [true]\nvolumes: [{host: ../etc, container: /x}]\nexpect: {exit: 0}\n",
       "volumes[0].host", "a name", 2},
      {"command: [true]\nsweep: {modes: [sideways]}\nexpect: {exit: 0}\n", "sweep.modes",
       "transient", 2},
      {"command: [true]\ncap_add:\n  - SYS_ADMIN\n  - FLY\nexpect: {exit: 0}\n", "cap_add[1]",
       "unknown capability 'FLY'", 4},
  };
  for (const auto& c : cases) {
    ScenarioError err;
    EXPECT_FALSE(Parse(c.text, &err)) << c.text;
    EXPECT_EQ(err.field, c.field) << c.text << " -> " << err.Message();
    EXPECT_THAT(err.message, HasSubstr(c.says)) << c.text;
    EXPECT_EQ(err.line, c.line) << c.text << " -> " << err.Message();
  }
}

TEST(ScenarioParser, CapAddTakesDockersNames) {
  ScenarioError err;
  auto s = Parse("command: [true]\ncap_add: [sys_admin, CAP_NET_ADMIN]\nexpect: {exit: 0}\n", &err);
  ASSERT_TRUE(s) << err.Message();
  EXPECT_EQ(s->cap_add, (std::vector<std::string>{"sys_admin", "CAP_NET_ADMIN"}));
  auto one = Parse("command: [true]\ncap_add: SYS_ADMIN\nexpect: {exit: 0}\n", &err);
  ASSERT_TRUE(one) << err.Message();
  EXPECT_EQ(one->cap_add.size(), 1u);
}

TEST(ScenarioParser, FaultsSectionIsKeptAsANode) {
  ScenarioError err;
  auto s = Parse(R"(command: [true]
faults:
  - match: {op: mount, fstype: overlay}
    when: {nth: 1}
    action: {fail: EIO}
expect: {exit: 125}
)",
                 &err);
  ASSERT_TRUE(s) << err.Message();
  ASSERT_TRUE(s->faults.IsSequence());
  EXPECT_EQ(s->faults[0]["match"]["op"].as<std::string>(), "mount");
  EXPECT_EQ(s->faults[0]["action"]["fail"].as<std::string>(), "EIO");
}

TEST(ScenarioParser, JsonIsAccepted) {
  ScenarioError err;
  auto s = ParseScenarioText(
      R"({"labels": ["mock"], "command": ["true"], "expect": {"exit": 0}})", "t.json", "t",
      &err);
  ASSERT_TRUE(s) << err.Message();
  EXPECT_THAT(s->labels, ElementsAre("mock"));
}

class ScenarioFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/faultline-scenario-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  void Write(const std::string& rel, const std::string& text) {
    fs::create_directories((fs::path(dir_) / rel).parent_path());
    std::ofstream(fs::path(dir_) / rel) << text;
  }
  std::string dir_;
};

TEST_F(ScenarioFiles, FindsFilesSkipsRuntimesAndNamesByPath) {
  Write("runtimes/runc.yaml", "{}\n");
  Write("b/two.yml", "command: [true]\nexpect: {exit: 0}\n");
  Write("a/one.yaml", "command: [true]\nexpect: {exit: 0}\n");
  Write("a/notes.txt", "not a scenario");
  std::vector<std::string> errors;
  auto files = FindScenarioFiles({dir_}, &errors);
  ASSERT_EQ(files.size(), 2u);
  EXPECT_TRUE(errors.empty());
  EXPECT_EQ(fs::path(files[0].path).filename(), "one.yaml");
  ScenarioError err;
  auto s = ParseScenarioFile(files[0].path, files[0].root, &err);
  ASSERT_TRUE(s) << err.Message();
  EXPECT_EQ(s->name, "a/one");
  // A single file given directly keeps its name relative to the root.
  auto single = FindScenarioFiles({dir_ + "/b/two.yml"}, &errors);
  ASSERT_EQ(single.size(), 1u);
  EXPECT_EQ(single[0].root, fs::absolute(dir_).string());
  auto missing = FindScenarioFiles({dir_ + "/nope"}, &errors);
  EXPECT_TRUE(missing.empty());
  EXPECT_EQ(errors.size(), 1u);
}

TEST_F(ScenarioFiles, ExpectedDifferences) {
  Write("runtimes/runc.yaml", R"(kind: none
differences:
  a/one:
    difference: exits 1
    reason: by design
    expect: {exit: 1}
  a/two:
    difference: fails
    reason: known
  a/bad:
    difference: no reason given
)");
  std::vector<ScenarioError> errors;
  auto d = LoadExpectedDifferences(dir_, "runc", &errors);
  EXPECT_EQ(d.size(), 2u);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].line, 10);
  EXPECT_EQ(errors[0].field, "differences.a/bad");
  EXPECT_TRUE(d.at("a/one").expect.has_value());
  EXPECT_FALSE(d.at("a/two").expect.has_value());
  Expectations base;
  base.exit_code = 0;
  ScenarioError err;
  auto e = ApplyExpectOverride(base, *d.at("a/one").expect, "runc.yaml", &err);
  ASSERT_TRUE(e);
  EXPECT_EQ(*e->exit_code, 1);
  EXPECT_TRUE(LoadExpectedDifferences(dir_, "crun", &errors).empty());
}

TEST(Shards, ParseAndPartition) {
  int k = -1, n = -1;
  EXPECT_TRUE(ParseShard("1/3", &k, &n));
  EXPECT_EQ(k, 1);
  EXPECT_EQ(n, 3);
  EXPECT_FALSE(ParseShard("3/3", &k, &n));
  EXPECT_FALSE(ParseShard("1/0", &k, &n));
  EXPECT_FALSE(ParseShard("a/b", &k, &n));
  // Every file lands in exactly one shard.
  for (int total = 1; total <= 5; ++total) {
    for (size_t i = 0; i < 40; ++i) {
      int owners = 0;
      for (int idx = 0; idx < total; ++idx) owners += InShard(i, idx, total);
      EXPECT_EQ(owners, 1);
    }
  }
  setenv("GTEST_SHARD_INDEX", "2", 1);
  setenv("GTEST_TOTAL_SHARDS", "4", 1);
  EXPECT_TRUE(ShardFromEnv(&k, &n));
  EXPECT_EQ(k, 2);
  EXPECT_EQ(n, 4);
  unsetenv("GTEST_SHARD_INDEX");
  unsetenv("GTEST_TOTAL_SHARDS");
}

// Every shipped scenario parses, there are enough of them, and the labels
// line that scenarios/CMakeLists.txt reads gives the parser's labels.
TEST(ShippedScenarios, AllParseAndCMakeSeesTheSameLabels) {
  const std::string root = std::string(FAULTLINE_SOURCE_DIR) + "/scenarios";
  std::vector<std::string> errors;
  auto files = FindScenarioFiles({root}, &errors);
  EXPECT_TRUE(errors.empty());
  EXPECT_GE(files.size(), 25u);
  std::set<std::string> folders;
  const std::regex line_re(R"(^[ \t]*"?labels"?[ \t]*:.*\[([^\]]*)\])");
  for (const auto& f : files) {
    ScenarioError err;
    auto s = ParseScenarioFile(f.path, f.root, &err);
    ASSERT_TRUE(s) << err.Message();
    folders.insert(s->name.substr(0, s->name.find('/')));
    std::ifstream in(f.path);
    std::string line;
    std::vector<std::string> cmake_labels = {"privileged"};
    while (std::getline(in, line)) {
      std::smatch m;
      if (std::regex_search(line, m, line_re)) {
        cmake_labels.clear();
        std::string inner = m[1];
        std::string item;
        for (char c : inner + ",") {
          if (c == ',') {
            if (!item.empty()) cmake_labels.push_back(item);
            item.clear();
          } else if (c != ' ' && c != '"' && c != '\'') {
            item += c;
          }
        }
        break;
      }
    }
    EXPECT_EQ(cmake_labels, s->labels) << f.path;
  }
  for (const char* need : {"isolation", "cleanup", "faults", "regressions"}) {
    EXPECT_TRUE(folders.count(need)) << need;
  }
  std::vector<ScenarioError> diff_errors;
  for (const char* rt : {"runc", "crun", "mydocker", "builtin"}) {
    LoadExpectedDifferences(root, rt, &diff_errors);
  }
  for (const auto& e : diff_errors) ADD_FAILURE() << e.Message();
}

}  // namespace
}  // namespace faultline
