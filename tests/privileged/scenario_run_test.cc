// `faultline run` on the real kernel, as a user runs it: a passing and a
// failing scenario plus a broken file in one run (the run goes on), the
// reports, the exit status, and the host left as it was (no scratch
// directory, no cgroup parent, no new mount).
#include <dirent.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "harness/adapters/process.h"

namespace faultline {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class FaultlineRun : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "privileged test: run as root";
    char tmpl[] = "/tmp/faultline-run-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    fs::create_directories(dir_ + "/s/runtimes");
    fs::create_directories(dir_ + "/s/a");
  }
  void TearDown() override { fs::remove_all(dir_); }
  void Write(const std::string& rel, const std::string& text) {
    std::ofstream(dir_ + "/s/" + rel) << text;
  }
  ProcessResult Run(const std::vector<std::string>& extra) {
    SpawnOptions o;
    o.argv = {std::string(FAULTLINE_BINARY_DIR) + "/harness/faultline", "run"};
    o.argv.insert(o.argv.end(), extra.begin(), extra.end());
    o.stdout_path = dir_ + "/out.txt";
    o.stderr_path = dir_ + "/err.txt";
    return RunProcess(o, 600);
  }
  std::string dir_;
};

TEST_F(FaultlineRun, BuiltinAndRuncReportsAndACleanHost) {
  Write("a/ok.yaml",
        "hostname: box-t\ncommand: [sh, -c, \"hostname; echo hi > /etc/x\"]\n"
        "expect: {exit: 0, stdout: ['^box-t$']}\n");
  Write("a/wrong.yaml", "command: [sh, -c, \"exit 4\"]\nexpect: {exit: 5}\n");
  Write("a/broken.yaml", "command: [true]\nexpect: {exit: [0]}\n");
  ProcessResult p = Run({"-r", "builtin,runc", "--report-json", dir_ + "/r.json",
                         "--report-junit", dir_ + "/j.xml", "--report-html", dir_ + "/r.html",
                         dir_ + "/s"});
  std::string out = ReadTextFile(dir_ + "/out.txt");
  std::string err = ReadTextFile(dir_ + "/err.txt");
  EXPECT_EQ(p.exit_code, 1) << out << err;  // one failure and one broken file
  EXPECT_THAT(out, HasSubstr("builtin: 1 passed, 1 failed"));
  EXPECT_THAT(out, HasSubstr("runc: 1 passed, 1 failed"));
  EXPECT_THAT(out, HasSubstr("broken scenario files: 1"));
  EXPECT_THAT(out, HasSubstr("exit 4, expected 5"));
  EXPECT_THAT(err, HasSubstr("broken.yaml:2:"));

  auto j = nlohmann::json::parse(ReadTextFile(dir_ + "/r.json"));
  EXPECT_EQ(j["totals"]["builtin"]["passed"], 1);
  EXPECT_EQ(j["totals"]["runc"]["failed"], 1);
  EXPECT_EQ(j["totals"]["*"]["broken"], 1);
  for (const auto& r : j["results"]) {
    if (r["scenario"] == "a/ok") {
      for (const auto& c : r["checks"]) {
        EXPECT_TRUE(c["ok"].get<bool>()) << r["runtime"] << " " << c["name"] << c["detail"];
      }
    }
  }
  EXPECT_THAT(ReadTextFile(dir_ + "/j.xml"), HasSubstr("<testsuite name=\"runc\""));
  EXPECT_THAT(ReadTextFile(dir_ + "/r.html"), HasSubstr("a/wrong"));

  // The host as it was: faultline names its scratch directory and cgroup
  // parent in its log; both are gone, and no mount of ours names them (the
  // private namespace took every mount with it).
  std::smatch m;
  ASSERT_TRUE(std::regex_search(err, m, std::regex(R"(scratch (\S+), cgroup parent (\S+))")))
      << err;
  const std::string scratch = m[1], parent = m[2];
  EXPECT_FALSE(fs::exists(scratch)) << scratch;
  for (const char* h : {"memory", "pids", "cpu", "cpuset", "freezer", "unified"}) {
    EXPECT_FALSE(fs::exists(std::string("/sys/fs/cgroup/") + h + "/" + parent)) << h;
  }
  EXPECT_THAT(ReadTextFile("/proc/self/mountinfo"), ::testing::Not(HasSubstr(scratch)));
}

TEST_F(FaultlineRun, ShardsAndUsageErrors) {
  for (int i = 0; i < 4; ++i) {
    Write("a/s" + std::to_string(i) + ".yaml", "command: [true]\nexpect: {exit: 0}\n");
  }
  ProcessResult p = Run({"--shard", "1/2", "--report-json", dir_ + "/r.json", dir_ + "/s"});
  EXPECT_EQ(p.exit_code, 0) << ReadTextFile(dir_ + "/err.txt");
  auto j = nlohmann::json::parse(ReadTextFile(dir_ + "/r.json"));
  std::set<std::string> names;
  for (const auto& r : j["results"]) names.insert(r["scenario"].get<std::string>());
  EXPECT_EQ(names, (std::set<std::string>{"a/s1", "a/s3"}));
  EXPECT_EQ(Run({"--shard", "2/2", dir_ + "/s"}).exit_code, 2);
  EXPECT_EQ(Run({"-r", "docker", dir_ + "/s"}).exit_code, 2);
}

// A runtime written only as a profile file: runc's verbs through a wrapper
// script that logs each call. No C++ names it; `faultline run --runtime
// wrapped` drives it, its expected difference applies, `faultline
// runtimes` lists it, and --runtime-binary swaps the binary.
TEST_F(FaultlineRun, AProfileFromItsFileAloneDrivesAWrappedRuntime) {
  const std::string runc = FindSystemBinary("runc");
  ASSERT_FALSE(runc.empty()) << "runc (ci/install-deps)";
  const std::string log = dir_ + "/verbs.log";
  const std::string wrap = dir_ + "/wrap.sh";
  std::ofstream(wrap) << "#!/bin/sh\n"
                         "# argv: --root R VERB ...: log the verb (not --version's), then be runc\n"
                         "[ \"$1\" = --root ] && echo \"$3\" >> " << log << "\n"
                         "exec " << runc << " \"$@\"\n";
  fs::permissions(wrap, fs::perms::owner_all);
  Write("runtimes/wrapped.yaml",
        "kind: oci\n"
        "binary: " + wrap + "\n"
        "global_args: [--root, \"{root}\"]\n"
        "verbs: [create, start, state, kill, delete, run]\n"
        "differences:\n"
        "  a/four: {difference: exits 4, reason: the test says so, expect: {exit: 4}}\n");
  Write("a/ok.yaml", "runtimes: [wrapped]\ncommand: [sh, -c, \"echo hi\"]\n"
                     "expect: {exit: 0, stdout: ['^hi$'], probes: [mounts, dirs, cgroups]}\n");
  Write("a/four.yaml", "command: [sh, -c, \"exit 4\"]\nexpect: {exit: 0}\n");
  ProcessResult p = Run({"-r", "wrapped", "--report-json", dir_ + "/r.json", dir_ + "/s"});
  std::string out = ReadTextFile(dir_ + "/out.txt");
  std::string err = ReadTextFile(dir_ + "/err.txt");
  EXPECT_EQ(p.exit_code, 0) << out << err;
  EXPECT_THAT(out, HasSubstr("wrapped: 1 passed, 0 failed"));
  auto j = nlohmann::json::parse(ReadTextFile(dir_ + "/r.json"));
  EXPECT_EQ(j["totals"]["wrapped"]["passed"], 1);
  EXPECT_EQ(j["totals"]["wrapped"]["expected-different"], 1);
  // Each of the two containers: create, state, start, delete, in that order.
  EXPECT_EQ(ReadTextFile(log), "create\nstate\nstart\ndelete\ncreate\nstate\nstart\ndelete\n");

  // --runtime-binary: the same profile, another binary (runc itself, so
  // the wrapper's log does not grow).
  fs::remove(log);
  p = Run({"-r", "wrapped", "--runtime-binary", runc, "--filter", "a/ok", dir_ + "/s"});
  EXPECT_EQ(p.exit_code, 0) << ReadTextFile(dir_ + "/out.txt") << ReadTextFile(dir_ + "/err.txt");
  EXPECT_FALSE(fs::exists(log));

  // `faultline runtimes` lists it, runnable, with runc's --version line.
  SpawnOptions o;
  o.argv = {std::string(FAULTLINE_BINARY_DIR) + "/harness/faultline", "runtimes", "--profiles",
            dir_ + "/s/runtimes"};
  o.stdout_path = dir_ + "/rt.txt";
  o.stderr_path = dir_ + "/rt.err";
  ProcessResult r = RunProcess(o, 60);
  const std::string listed = ReadTextFile(dir_ + "/rt.txt");
  EXPECT_EQ(r.exit_code, 0) << listed << ReadTextFile(dir_ + "/rt.err");
  EXPECT_THAT(listed, ::testing::ContainsRegex("\nwrapped +wrapped +yes +runc version 1\\.[0-9]"));
  EXPECT_THAT(listed, ::testing::ContainsRegex("\nrunc +runc +yes +runc version"));
  EXPECT_THAT(listed, ::testing::ContainsRegex("\nmydocker +mydocker +yes"));

  // A broken profile: named with file, line and field, by run and by runtimes.
  Write("runtimes/broken.yaml", "kind: oci\nverbs: [create, start, state, delete]\nbinary: [x]\n");
  p = Run({"-r", "broken", dir_ + "/s"});
  EXPECT_NE(p.exit_code, 0);
  EXPECT_THAT(ReadTextFile(dir_ + "/out.txt") + ReadTextFile(dir_ + "/err.txt"),
              HasSubstr("runtimes/broken.yaml:3:9: binary: must be a string"));
  r = RunProcess(o, 60);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(ReadTextFile(dir_ + "/rt.txt"),
              HasSubstr("ERROR " + dir_ + "/s/runtimes/broken.yaml:3:9: binary: must be a string"));
}

}  // namespace
}  // namespace faultline
