// Issue 12, pure logic: reports that never die on runtime output, the CLI's
// validation of user-given strings, the hostile image description.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "harness/probes/probes.h"
#include "harness/report/report.h"
#include "harness/scenario/hostile_image.h"
#include "harness/scenario/scenario.h"
#include "harness/sweep/sweep.h"
#include "runtime/cli/args.h"

namespace faultline {
namespace {

using ::testing::HasSubstr;

const std::string kBad = "ok \xff\xfe \xc3\x28 \xed\xa0\x80 \xe2\x82 end";  // 4 invalid sequences

TEST(HostileReports, InvalidUtf8IsReplacedNotFatal) {
  nlohmann::json raw = {{"out", kBad}};
  EXPECT_THROW(raw.dump(), nlohmann::json::type_error);  // what the reports used to do
  const std::string dumped = DumpJson(raw);
  EXPECT_THAT(dumped, HasSubstr("ok \xef\xbf\xbd"));      // U+FFFD
  EXPECT_THAT(dumped, HasSubstr(" end"));
  auto back = nlohmann::json::parse(dumped);             // valid JSON, valid UTF-8
  EXPECT_EQ(back["out"].get<std::string>(), ValidUtf8(kBad));
  EXPECT_EQ(ValidUtf8("plain ascii"), "plain ascii");
  EXPECT_EQ(ValidUtf8("caf\xc3\xa9"), "caf\xc3\xa9");    // valid UTF-8 kept
  EXPECT_NO_THROW(nlohmann::json(ValidUtf8(kBad)).dump());
}

TEST(HostileReports, ScenarioReportsWithBadBytesAreWritten) {
  RunSummary s;
  s.runtimes = {"builtin"};
  ScenarioResult r;
  r.scenario = "hostile/bad-utf8";
  r.file = "scenarios/hostile/bad-utf8.yaml";
  r.runtime = "builtin";
  r.status = ResultStatus::kFailed;
  r.failures = {"stdout: " + kBad};
  r.stdout_excerpt = kBad;
  r.stderr_excerpt = "\x80\x81";
  s.results.push_back(r);
  std::string json;
  ASSERT_NO_THROW(json = DumpJson(ReportJson(s), 2));
  EXPECT_NO_THROW(nlohmann::json::parse(json));
  std::string junit, html;
  ASSERT_NO_THROW(junit = ReportJunit(s));
  ASSERT_NO_THROW(html = ReportHtml(s));
  EXPECT_EQ(ValidUtf8(junit), junit);  // the XML is valid UTF-8
  EXPECT_EQ(ValidUtf8(html), html);
}

TEST(HostileReports, SweepReportsWithBadBytesAreWritten) {
  SweepReport rep;
  rep.backend = "fake";
  rep.workload = "run";
  PointResult p;
  p.point = 1;
  p.op = "mkdir";
  p.args = "path=\"/x/\xff\"";
  p.error = kBad;
  p.failures = {kBad};
  p.replay = "faultline sweep --plan 'path=/x/\xff'";
  rep.results.push_back(p);
  rep.failed = 1;
  std::string json, md, html;
  ASSERT_NO_THROW(json = DumpJson(rep.ToJson(), 2));
  EXPECT_NO_THROW(nlohmann::json::parse(json));
  ASSERT_NO_THROW(md = SweepMarkdown(rep));
  ASSERT_NO_THROW(html = SweepHtml(rep));
  EXPECT_EQ(ValidUtf8(md), md);
  EXPECT_EQ(ValidUtf8(html), html);
}

mydocker::Command Parse(std::vector<const char*> args) {
  args.insert(args.begin(), "mydocker");
  return mydocker::ParseArgs(static_cast<int>(args.size()), args.data(), {});
}

TEST(HostileCli, EveryBadStringExits125NamingTheFlag) {
  struct Case {
    std::vector<const char*> args;
    const char* want;
  };
  const std::vector<Case> cases = {
      {{"run", "--name", "bad name", "busybox", "true"}, "parse --name"},
      {{"run", "--name", "_x", "busybox", "true"}, "parse --name"},
      {{"run", "--hostname", "a\nb", "busybox", "true"}, "parse --hostname"},
      {{"run", "--hostname", "x.-y", "busybox", "true"}, "parse --hostname"},
      {{"run", "-e", "A B=1", "busybox", "true"}, "parse --env"},
      {{"run", "-v", "/srv:/a/../b", "busybox", "true"}, "parse -v"},
      {{"run", "-v", "/srv:/d\x01", "busybox", "true"}, "parse --volume"},
      {{"run", "-m", "1k", "busybox", "true"}, "parse --memory"},
      {{"run", "-m", "12x", "busybox", "true"}, "parse --memory"},
      {{"rm", "../x"}, "parse rm"},
      {{"image", "import", "/dev/null", "Bad"}, "parse image import"},
      {{"image", "import", "/dev/null", "x", "--max-size", "lots"}, "parse --max-size"},
  };
  for (const auto& c : cases) {
    auto cmd = Parse(c.args);
    EXPECT_TRUE(cmd.done) << c.want;
    EXPECT_EQ(cmd.exit_code, 125) << c.want;
    EXPECT_THAT(cmd.output, HasSubstr(std::string("mydocker: ") + c.want)) << cmd.output;
    // One line: a newline in a value never reaches the terminal raw.
    EXPECT_EQ(std::count(cmd.output.begin(), cmd.output.end(), '\n'), 1) << cmd.output;
  }
  auto ok = Parse({"run", "--name", "web.1", "--hostname", "box-1.local", "-m", "0", "busybox",
                   "true"});
  EXPECT_FALSE(ok.done) << ok.output;
  EXPECT_FALSE(ok.run.limits.memory_bytes.has_value());  // -m 0: no limit, as docker
  auto lim = Parse({"image", "import", "/dev/null", "x", "--max-entries", "7", "--max-depth", "3",
                    "--max-size", "1m"});
  ASSERT_FALSE(lim.done) << lim.output;
  EXPECT_EQ(lim.import_limits.max_entries, 7u);
  EXPECT_EQ(lim.import_limits.max_depth, 3u);
  EXPECT_EQ(lim.import_limits.max_bytes, 1u << 20);
}

std::optional<Scenario> ParseText(const std::string& text, ScenarioError* err) {
  return ParseScenarioText(text, "hostile/x.yaml", "hostile/x", err);
}

TEST(HostileScenario, ImageDescriptionParses) {
  ScenarioError err;
  auto s = ParseText(R"(labels: [mock]
image:
  entries:
    - {path: srv, type: symlink, target: /etc}
    - {path: "n/caf%ff", content: "a%00b", size: 1m, mode: "4755"}
    - {path: "m/f{i}", count: 3}
command: [true]
expect: {exit: 0}
)", &err);
  ASSERT_TRUE(s) << err.Message();
  ASSERT_TRUE(s->hostile_image);
  EXPECT_EQ(s->image, "hostile-x");
  EXPECT_EQ(s->hostile_image->base, "busybox");
  ASSERT_EQ(s->hostile_image->entries.size(), 3u);
  const ImageEntry& f = s->hostile_image->entries[1];
  EXPECT_EQ(ExpandPaths(f), std::vector<std::string>{"n/caf\xff"});
  EXPECT_EQ(f.content, std::string("a\0b", 3));
  EXPECT_EQ(f.size, 1u << 20);
  EXPECT_EQ(f.mode, 04755u);
  EXPECT_EQ(ExpandPaths(s->hostile_image->entries[2]),
            (std::vector<std::string>{"m/f0", "m/f1", "m/f2"}));
  auto tar = BuildImageTar(*s->hostile_image);
  ASSERT_TRUE(tar.ok()) << tar.error().Message();
  EXPECT_GT(tar->size(), 512u);
}

TEST(HostileScenario, BrokenImageDescriptionsNameFileLineColumnAndField) {
  struct Case {
    const char* text;
    int line;
    const char* field;
  };
  const std::vector<Case> cases = {
      {"image:\n  entries:\n    - {path: a, type: blob}\ncommand: [true]\nexpect: {exit: 0}\n", 3,
       "image.entries[0].type"},
      {"image:\n  entries:\n    - {path: /abs}\ncommand: [true]\nexpect: {exit: 0}\n", 3,
       "image.entries[0].path"},
      {"image:\n  entries:\n    - {path: l, type: symlink}\ncommand: [true]\nexpect: {exit: 0}\n",
       3, "image.entries[0].target"},
      {"image:\n  entries:\n    - {path: 'a%zz'}\ncommand: [true]\nexpect: {exit: 0}\n", 3,
       "image.entries[0].path"},
      {"image:\n  entries:\n    - {path: a, count: 5}\ncommand: [true]\nexpect: {exit: 0}\n", 3,
       "image.entries[0].path"},
      {"image:\n  import: true\n  base: busybox\n  entries: []\nexpect: {exit: 0}\n", 3,
       "image.base"},
      {"image:\n  entries: []\n  limits: {max_entries: 3}\nexpect: {exit: 0}\n", 3,
       "image.limits"},
      {"image:\n  entries: []\n  colour: red\nexpect: {exit: 0}\n", 3, "image.colour"},
      {"command: [true]\nexpect:\n  image_error: x\n", 3, "expect.image_error"},
  };
  for (const auto& c : cases) {
    ScenarioError err;
    auto s = ParseText(c.text, &err);
    ASSERT_FALSE(s) << c.text;
    EXPECT_EQ(err.file, "hostile/x.yaml");
    EXPECT_EQ(err.line, c.line) << err.Message();
    EXPECT_GT(err.column, 0) << err.Message();
    EXPECT_EQ(err.field, c.field) << err.Message();
  }
}

TEST(HostileProbeUnit, OutsidePlacesIncludeTheParentsOfTheScope) {
  auto p = OutsidePlaces({"/tmp/faultline-1/builtin/root"});
  EXPECT_EQ(p, (std::vector<std::string>{"/", "/etc", "/run", "/tmp", "/tmp/faultline-1",
                                         "/tmp/faultline-1/builtin", "/var"}));
}

}  // namespace
}  // namespace faultline
