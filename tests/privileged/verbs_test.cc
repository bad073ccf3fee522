// Privileged end-to-end tests of mydocker's verbs around a detached
// container on the real kernel: run -d, ps, logs, exec, stop, rm, gc.
//
// As in mydocker_run_test.cc, each test takes a probe snapshot before
// (PrivilegedTest: private mount namespace, scratch root with busybox, a
// per-run cgroup parent), proves the probes see the running container, and
// ends with ExpectHostAsBefore: nothing left in the mount tables, under the
// scratch dir, in the cgroup trees, among processes and fds. Times are
// bounded only by generous timeouts (a stop with -t 1 must not take 10 s).
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "harness/probes/probes.h"
#include "runtime/cgroups/cgroups.h"
#include "runtime/sys/fs_util.h"
#include "tests/privileged/privileged_env.h"

namespace faultline {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::MatchesRegex;
using ::testing::Not;

constexpr const char* kImage = PrivilegedEnv::kImage;

bool WaitUntil(const std::function<bool()>& pred,
               std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return pred();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

class MydockerVerbs : public PrivilegedTest {
 protected:
  void SetUp() override {
    PrivilegedTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    before_ = env().TakeSnapshot();
    ASSERT_THAT(before_.errors, IsEmpty());
  }

  CommandResult Md(const std::vector<std::string>& args,
                   std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    return env().Mydocker(args, timeout);
  }

  ProbeDiff DiffOf(const Snapshot& now, const std::string& name) {
    for (auto& d : Compare(before_, now)) {
      if (d.probe == name) return d;
    }
    return ProbeDiff{name, {}, {}};
  }

  std::string DirOf(const std::string& id) { return env().root() + "/containers/" + id; }

  nlohmann::json State(const std::string& id) {
    auto text = mydocker::ReadFile(env().sys(), DirOf(id) + "/state.json", "");
    if (!text) return nlohmann::json();
    return nlohmann::json::parse(*text, nullptr, false);
  }

  std::set<std::string> CgroupDirsOf(const std::string& id) {
    std::set<std::string> dirs;
    auto layout = mydocker::DetectCgroupLayout(env().sys());
    EXPECT_TRUE(layout.ok());
    if (!layout) return dirs;
    const std::string rel = env().cgroup_parent() + "/" + id;
    if (layout->version == mydocker::CgroupVersion::kV2) {
      dirs.insert(mydocker::JoinPath(layout->unified, rel));
    } else {
      for (const auto& [controller, mount] : layout->v1_mounts) {
        dirs.insert(mydocker::JoinPath(mount, rel));
      }
    }
    return dirs;
  }

  // run -d; returns the id it printed (12 hex digits and a newline).
  std::string RunDetached(const std::vector<std::string>& args) {
    std::vector<std::string> a = {"run", "-d"};
    a.insert(a.end(), args.begin(), args.end());
    CommandResult r = Md(a);
    EXPECT_EQ(r.exit_code, 0) << r.Describe();
    EXPECT_THAT(r.out, MatchesRegex("[0-9a-f]{12}\n")) << r.Describe();
    EXPECT_EQ(r.err, "");
    return r.out.size() == 13 ? r.out.substr(0, 12) : std::string();
  }

  Snapshot before_;
};

// The whole lifecycle: run -d returns at once with the id while the
// container lives on; ps shows it running; exec runs in its namespaces and
// cgroup; logs has its output; stop (SIGTERM ignored by a pid-1 sleep, then
// SIGKILL after -t 1) records exited (137) and tears down; ps -a shows it
// exited; gc keeps it; rm removes it; nothing is left.
TEST_F(MydockerVerbs, DetachedLifecycle) {
  const std::string id =
      RunDetached({"--name", "web", "--hostname", "box1", kImage, "sh", "-c",
                   "echo started; echo oops >&2; exec sleep 1000"});
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(WaitUntil([&] {
    auto logs = Md({"logs", "web"});
    return logs.out == "started\n";
  })) << "no output in the log";

  // Running, seen by ps and by the probes.
  CommandResult ps = Md({"ps"});
  ASSERT_EQ(ps.exit_code, 0) << ps.Describe();
  EXPECT_THAT(ps.out, HasSubstr(id));
  EXPECT_THAT(ps.out, HasSubstr("running"));
  Snapshot during = env().TakeSnapshot();
  auto cg = DiffOf(during, "cgroups").appeared;
  EXPECT_EQ(std::set<std::string>(cg.begin(), cg.end()), CgroupDirsOf(id));
  EXPECT_THAT(DiffOf(during, "mounts").appeared,
              Contains(DirOf(id) + "/merged overlay overlay"));
  EXPECT_THAT(DiffOf(during, "processes").appeared, Contains(HasSubstr("sleep")));

  // logs: stdout and stderr apart.
  CommandResult logs = Md({"logs", id});
  EXPECT_EQ(logs.exit_code, 0) << logs.Describe();
  EXPECT_EQ(logs.out, "started\n");
  EXPECT_EQ(logs.err, "oops\n");

  // exec: the container's UTS, pid and mount namespaces and its cgroup.
  CommandResult ex = Md({"exec", "web", "hostname"});
  EXPECT_EQ(ex.exit_code, 0) << ex.Describe();
  EXPECT_EQ(ex.out, "box1\n");
  ex = Md({"exec", "web", "cat", "/proc/1/cmdline"});
  EXPECT_EQ(ex.exit_code, 0) << ex.Describe();
  EXPECT_EQ(ex.out, std::string("sleep\0001000\000", 11));
  ex = Md({"exec", "web", "cat", "/proc/self/cgroup"});
  EXPECT_EQ(ex.exit_code, 0) << ex.Describe();
  EXPECT_THAT(ex.out, HasSubstr(env().cgroup_parent() + "/" + id)) << ex.out;
  ex = Md({"exec", "web", "sh", "-c", "ls /; test -e /etc/hostname"});
  EXPECT_EQ(ex.exit_code, 0) << ex.Describe();
  EXPECT_THAT(ex.out, HasSubstr("bin\n"));
  EXPECT_THAT(ex.out, Not(HasSubstr("faultline-priv")));
  // The exec'd process has the container's hardening: no CAP_SYS_ADMIN.
  ex = Md({"exec", "web", "sh", "-c", "grep CapEff /proc/self/status"});
  EXPECT_EQ(ex.exit_code, 0) << ex.Describe();
  EXPECT_EQ(ex.out, "CapEff:\t00000000a80425fb\n");
  // -e and exit statuses as docker's.
  ex = Md({"exec", "-e", "GREETING=hi", "web", "sh", "-c", "echo $GREETING; exit 7"});
  EXPECT_EQ(ex.exit_code, 7) << ex.Describe();
  EXPECT_EQ(ex.out, "hi\n");
  ex = Md({"exec", "web", "no-such-command"});
  EXPECT_EQ(ex.exit_code, 127) << ex.Describe();
  EXPECT_THAT(ex.err, HasSubstr("not found"));

  // gc leaves a live detached container alone.
  CommandResult gc = Md({"gc"});
  EXPECT_EQ(gc.exit_code, 0) << gc.Describe();
  EXPECT_EQ(gc.out, "running " + id + " (kept)\n");

  // stop: SIGTERM (a pid-1 sleep has no handler: ignored), SIGKILL after 1 s.
  CommandResult stop = Md({"stop", "-t", "1", "web"}, std::chrono::seconds(15));
  EXPECT_EQ(stop.exit_code, 0) << stop.Describe();
  EXPECT_EQ(stop.out, "web\n");
  EXPECT_LT(stop.seconds, 8.0) << "stop -t 1 waited for the default 10 s";
  // The grace period is kept: the SIGTERM is ignored, so the SIGKILL
  // comes after the whole second.
  EXPECT_GE(stop.seconds, 1.0) << "stop -t 1 did not wait for the grace period";
  auto st = State(id);
  EXPECT_EQ(st.value("status", ""), "exited") << st.dump();
  EXPECT_EQ(st.value("exit_code", 0), 128 + SIGKILL) << st.dump();
  ps = Md({"ps", "-a"});
  EXPECT_THAT(ps.out, HasSubstr("exited (137)"));
  EXPECT_THAT(Md({"ps"}).out, Not(HasSubstr(id)));
  // Torn down, but the state and the logs stay.
  for (const auto& d : CgroupDirsOf(id)) EXPECT_FALSE(mydocker::Exists(env().sys(), d)) << d;
  EXPECT_FALSE(mydocker::Exists(env().sys(), DirOf(id) + "/merged"));
  EXPECT_EQ(Md({"logs", "web"}).out, "started\n");
  ex = Md({"exec", "web", "true"});
  EXPECT_EQ(ex.exit_code, 125) << ex.Describe();
  EXPECT_THAT(ex.err, HasSubstr("not running"));
  // A second stop of a stopped container succeeds.
  EXPECT_EQ(Md({"stop", "web"}).exit_code, 0);

  gc = Md({"gc"});
  EXPECT_EQ(gc.exit_code, 0) << gc.Describe();
  EXPECT_EQ(gc.out, "exited " + id + " (kept until rm)\n");
  CommandResult rm = Md({"rm", "web"});
  EXPECT_EQ(rm.exit_code, 0) << rm.Describe();
  EXPECT_EQ(Md({"logs", "web"}).exit_code, 125);
  ExpectHostAsBefore(before_, "run -d, exec, stop, rm");
}

// A command that handles SIGTERM ends with it: stop returns well before
// the timeout, and the exit code is the command's.
TEST_F(MydockerVerbs, StopEndsACommandThatHandlesSigterm) {
  const std::string id = RunDetached(
      {kImage, "sh", "-c", "trap 'echo bye; exit 3' TERM; echo up; while true; do sleep 0.1; done"});
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(WaitUntil([&] { return Md({"logs", id}).out == "up\n"; }));
  CommandResult stop = Md({"stop", id}, std::chrono::seconds(20));
  EXPECT_EQ(stop.exit_code, 0) << stop.Describe();
  EXPECT_LT(stop.seconds, 8.0) << "the trap did not end it: SIGKILL after 10 s";
  EXPECT_EQ(State(id).value("exit_code", 0), 3);
  EXPECT_EQ(Md({"logs", id}).out, "up\nbye\n");
  EXPECT_EQ(Md({"rm", id}).exit_code, 0);
  ExpectHostAsBefore(before_, "stop of a trapping command");
}

// A detached command that ends by itself: its monitor records the code and
// tears down; rm without -f removes it. A command that is not found fails
// run -d with 127 and leaves nothing.
TEST_F(MydockerVerbs, DetachedCommandThatEndsAndOneThatCannotStart) {
  const std::string id = RunDetached({kImage, "sh", "-c", "echo done; exit 5"});
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(WaitUntil([&] { return State(id).value("status", "") == "exited"; }));
  EXPECT_EQ(State(id).value("exit_code", 0), 5);
  EXPECT_THAT(Md({"ps", "-a"}).out, HasSubstr("exited (5)"));
  EXPECT_EQ(Md({"logs", id}).out, "done\n");
  EXPECT_EQ(Md({"rm", id}).exit_code, 0);

  CommandResult r = Md({"run", "-d", kImage, "no-such-command"});
  EXPECT_EQ(r.exit_code, 127) << r.Describe();
  EXPECT_THAT(r.err, HasSubstr("not found"));
  EXPECT_EQ(r.out, "");
  ExpectHostAsBefore(before_, "detached runs that end");
}

// A detached container run with a relative seccomp=FILE from one directory
// is exec'd into from another: exec finds the same profile (the state keeps
// its absolute path) and its process gets the container's filter.
TEST_F(MydockerVerbs, ExecFromAnotherDirectoryFindsARelativeSeccompProfile) {
  const std::string dir = env().scratch() + "/profile-dir";
  ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0) << strerror(errno);
  // Everything allowed but mkdir, which fails with EPERM (1).
  const std::string profile =
      R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"],)"
      R"( "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]})";
  ASSERT_TRUE(mydocker::WriteFileAtomic(env().sys(), dir + "/deny-mkdir.json", profile, 0644, "")
                  .ok());
  std::string cmd = "cd '" + dir + "' && exec";
  for (const auto& a : env().MydockerArgv({"run", "-d", "--name", "prof", "--security-opt",
                                            "seccomp=deny-mkdir.json", kImage, "sleep", "1000"})) {
    cmd += " '" + a + "'";
  }
  CommandResult r = RunCommand({"/bin/sh", "-c", cmd}, std::chrono::seconds(30));
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  const std::string id = r.out.size() == 13 ? r.out.substr(0, 12) : "";
  ASSERT_FALSE(id.empty()) << r.Describe();
  EXPECT_EQ(State(id)["seccomp"], dir + "/deny-mkdir.json");
  ASSERT_NE(::access("deny-mkdir.json", F_OK), 0) << "the test must exec from another directory";
  CommandResult ex = Md({"exec", "prof", "sh", "-c", "mkdir /tmp/x; echo status=$?"});
  EXPECT_EQ(ex.exit_code, 0) << ex.Describe();
  EXPECT_THAT(ex.out, HasSubstr("status=1")) << ex.Describe();
  EXPECT_THAT(ex.err, HasSubstr("Operation not permitted")) << ex.Describe();
  CommandResult rm = Md({"rm", "-f", "prof"}, std::chrono::seconds(20));
  EXPECT_EQ(rm.exit_code, 0) << rm.Describe();
  ASSERT_EQ(::unlink((dir + "/deny-mkdir.json").c_str()), 0);
  ASSERT_EQ(::rmdir(dir.c_str()), 0);
  ExpectHostAsBefore(before_, "run with a relative seccomp profile, exec from elsewhere");
}

// rm -f of a running detached container kills it, waits for its monitor's
// teardown and removes everything.
TEST_F(MydockerVerbs, RmForceOfARunningDetachedContainer) {
  const std::string id = RunDetached({kImage, "sleep", "1000"});
  ASSERT_FALSE(id.empty());
  CommandResult rm = Md({"rm", id});
  EXPECT_EQ(rm.exit_code, 125) << rm.Describe();
  EXPECT_THAT(rm.err, HasSubstr("running"));
  rm = Md({"rm", "-f", id}, std::chrono::seconds(20));
  EXPECT_EQ(rm.exit_code, 0) << rm.Describe();
  EXPECT_FALSE(mydocker::Exists(env().sys(), DirOf(id)));
  ExpectHostAsBefore(before_, "rm -f of a detached container");
}

// The monitor killed (a crash): PDEATHSIG takes the container with it; its
// lock is free and its state says running, so gc removes it.
TEST_F(MydockerVerbs, GcRemovesAContainerWhoseMonitorDied) {
  const std::string id = RunDetached({kImage, "sleep", "1000"});
  ASSERT_FALSE(id.empty());
  const int monitor = State(id).value("runtime_pid", 0);
  ASSERT_GT(monitor, 1);
  ASSERT_EQ(::kill(monitor, SIGKILL), 0);
  ASSERT_TRUE(WaitUntil([&] { return ::kill(monitor, 0) != 0; }));
  ASSERT_TRUE(WaitUntil([&] { return Md({"ps", "-a"}).out.find("dead") != std::string::npos; }))
      << Md({"ps", "-a"}).out;
  CommandResult gc = Md({"gc"});
  EXPECT_EQ(gc.exit_code, 0) << gc.Describe();
  EXPECT_EQ(gc.out, "removed " + id + "\n");
  ExpectHostAsBefore(before_, "gc after a monitor died");
}

}  // namespace
}  // namespace faultline
