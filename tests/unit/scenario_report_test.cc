// Reports: JSON totals, JUnit XML, and the HTML page rendered by a real
// headless browser (Debian's chromium): its cells and totals must match the
// JSON.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "harness/adapters/process.h"
#include "harness/oci/bundle.h"
#include "runtime/rootfs/hardening.h"
#include "harness/report/report.h"

namespace faultline {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

RunSummary Sample() {
  RunSummary s;
  s.started = "2026-01-01T00:00:00Z";
  s.seconds = 12.5;
  s.runtimes = {"builtin", "runc"};
  auto add = [&](std::string name, std::string rt, ResultStatus st, std::string why = "") {
    ScenarioResult r;
    r.scenario = name;
    r.file = "scenarios/" + name + ".yaml";
    r.runtime = rt;
    r.status = st;
    r.replay = "faultline run --runtime " + rt + " " + r.file;
    if (st == ResultStatus::kFailed) {
      r.failures = {why};
      r.checks = {{"exit", false, why}};
      r.stderr_excerpt = "boom <&> \"quoted\"\x01";
    } else {
      r.reason = why;
    }
    s.results.push_back(r);
  };
  add("isolation/uts", "builtin", ResultStatus::kPassed);
  add("isolation/uts", "runc", ResultStatus::kPassed);
  add("cleanup/exit", "builtin", ResultStatus::kPassed);
  add("cleanup/exit", "runc", ResultStatus::kFailed, "exit 1, expected 0 <bad>");
  add("regressions/missing", "builtin", ResultStatus::kPassed);
  add("regressions/missing", "runc", ResultStatus::kExpectedDifferent, "create fails");
  add("faults/eio", "builtin", ResultStatus::kPassed);
  add("faults/eio", "runc", ResultStatus::kNotApplicable, "in-process only");
  ScenarioResult broken;
  broken.scenario = broken.file = "scenarios/x.yaml";
  broken.runtime = "*";
  broken.status = ResultStatus::kFailed;
  broken.failures = {"scenarios/x.yaml:3:1: comand: unknown key"};
  s.results.push_back(broken);
  return s;
}

TEST(Report, JsonTotals) {
  auto j = ReportJson(Sample());
  EXPECT_EQ(j["totals"]["builtin"]["passed"], 4);
  EXPECT_EQ(j["totals"]["runc"]["passed"], 1);
  EXPECT_EQ(j["totals"]["runc"]["failed"], 1);
  EXPECT_EQ(j["totals"]["runc"]["expected-different"], 1);
  EXPECT_EQ(j["totals"]["runc"]["not-applicable"], 1);
  EXPECT_EQ(j["totals"]["*"]["broken"], 1);
  EXPECT_EQ(j["results"].size(), 9u);
  EXPECT_NO_THROW(j.dump());  // control bytes in output never break the dump
}

TEST(Report, JunitCountsAndEscapes) {
  std::string x = ReportJunit(Sample());
  EXPECT_THAT(x, HasSubstr("<testsuites name=\"faultline\" tests=\"9\" failures=\"2\" "
                           "skipped=\"1\""));
  EXPECT_THAT(x, HasSubstr("<testsuite name=\"runc\" tests=\"4\" failures=\"1\""));
  EXPECT_THAT(x, HasSubstr("exit 1, expected 0 &lt;bad&gt;"));
  EXPECT_THAT(x, HasSubstr("<skipped message=\"not applicable: in-process only\"/>"));
  EXPECT_THAT(x, HasSubstr("scenario-files"));
  EXPECT_EQ(x.find('\x01'), std::string::npos);
}

TEST(Report, TextEndsWithTheClosingLine) {
  std::string t = ReportText(Sample());
  EXPECT_THAT(t, HasSubstr("runc: 1 passed, 1 failed, 1 expected-different, 1 not-applicable"));
  EXPECT_THAT(t, HasSubstr("\n6 passed, 2 failed\n"));
}

int CountOf(const std::string& dom, const std::string& needle) {
  int n = 0;
  for (size_t at = dom.find(needle); at != std::string::npos; at = dom.find(needle, at + 1)) ++n;
  return n;
}

// The page renders in chromium and what it shows matches the JSON.
TEST(Report, HtmlRendersInChromiumAndMatchesJson) {
  const std::string chromium = "/usr/bin/chromium";
  ASSERT_EQ(access(chromium.c_str(), X_OK), 0)
      << "chromium is needed for this test (ci/install-deps should install it)";
  char tmpl[] = "/tmp/faultline-report-test-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  RunSummary s = Sample();
  ASSERT_EQ(WriteReport(dir + "/r.html", ReportHtml(s)), "");
  SpawnOptions o;
  o.argv = {chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--user-data-dir=" + dir + "/profile",
            "--dump-dom",
            "file://" + dir + "/r.html"};
  o.stdout_path = dir + "/dom.html";
  o.stderr_path = dir + "/chromium.err";
  ProcessResult p = RunProcess(o, 120);
  std::string dom = ReadTextFile(dir + "/dom.html");
  std::string err = ReadTextFile(dir + "/chromium.err");
  fs::remove_all(dir);
  ASSERT_EQ(p.exit_code, 0) << err;
  // The DOM after parsing and layout: the browser produced the whole page.
  EXPECT_THAT(dom, HasSubstr("<title>faultline report</title>"));
  EXPECT_THAT(dom, HasSubstr("</body></html>"));
  auto j = ReportJson(s);
  for (const std::string rt : {"builtin", "runc"}) {
    for (const std::string st : {"passed", "failed", "expected-different", "not-applicable"}) {
      int cells = CountOf(dom, "data-status=\"" + st + "\" data-runtime=\"" + rt + "\"");
      EXPECT_EQ(cells, j["totals"][rt][st].get<int>()) << rt << " " << st;
      std::regex total("data-runtime=\"" + rt + "\"[^>]*data-" + st + "=\"(\\d+)\"");
      std::smatch m;
      ASSERT_TRUE(std::regex_search(dom, m, total)) << rt << " " << st;
      EXPECT_EQ(std::stoi(m[1]), j["totals"][rt][st].get<int>()) << rt << " " << st;
    }
  }
  EXPECT_THAT(dom, HasSubstr("data-broken=\"1\""));
  // Each failure has its details and its replay command.
  EXPECT_THAT(dom, HasSubstr("faultline run --runtime runc scenarios/cleanup/exit.yaml"));
  EXPECT_THAT(dom, HasSubstr("exit 1, expected 0 &lt;bad&gt;"));
}

TEST(OciConfig, MirrorsTheRequest) {
  OciSpecInput in;
  in.argv = {"sh", "-c", "true"};
  in.env = {"A=1"};
  in.hostname = "box";
  in.rootfs = "/b/merged";
  in.cgroups_path = "/faultline-1/c1";
  in.limits.memory_bytes = 32 << 20;
  in.limits.cpus = 0.5;
  in.limits.pids_limit = 10;
  in.limits.cpuset_cpus = "0";
  in.volumes = {{"/host/d", "/data", true}};
  in.cap_bounding = ~(1ull << 24);  // no CAP_SYS_RESOURCE, as on this host
  // Asked for: docker's default set, SYS_ADMIN and SYS_RESOURCE (beyond the bound).
  in.caps = mydocker::DockerDefaultCaps() | (1ull << 21) | (1ull << 24);
  auto j = BuildOciConfig(in);
  EXPECT_EQ(j["process"]["args"][2], "true");
  EXPECT_EQ(j["process"]["env"][0].get<std::string>().rfind("PATH=", 0), 0u);
  EXPECT_EQ(j["root"]["path"], "/b/merged");
  EXPECT_EQ(j["hostname"], "box");
  EXPECT_EQ(j["linux"]["cgroupsPath"], "/faultline-1/c1");
  EXPECT_EQ(j["linux"]["resources"]["memory"]["limit"], 32 << 20);
  EXPECT_EQ(j["linux"]["resources"]["cpu"]["quota"], 50000);
  EXPECT_EQ(j["linux"]["resources"]["cpu"]["period"], 100000);
  EXPECT_EQ(j["linux"]["resources"]["cpu"]["cpus"], "0");
  EXPECT_EQ(j["linux"]["resources"]["pids"]["limit"], 10);
  EXPECT_EQ(j["linux"]["namespaces"].size(), 5u);
  auto caps = j["process"]["capabilities"]["bounding"].dump();
  EXPECT_THAT(caps, HasSubstr("CAP_SYS_ADMIN"));
  EXPECT_THAT(caps, ::testing::Not(HasSubstr("CAP_SYS_RESOURCE")));
  in.caps = 0;  // docker's default set
  auto defaults = BuildOciConfig(in)["process"]["capabilities"]["bounding"];
  EXPECT_EQ(defaults.size(), 14u);
  EXPECT_THAT(defaults.dump(), ::testing::Not(HasSubstr("CAP_SYS_ADMIN")));
  bool bind = false;
  for (const auto& m : j["mounts"]) {
    if (m["destination"] == "/data") {
      bind = m["type"] == "bind" && m["options"][1] == "ro";
    }
  }
  EXPECT_TRUE(bind);
}

}  // namespace
}  // namespace faultline
