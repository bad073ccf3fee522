#include "runtime/cli/args.h"

#include <gtest/gtest.h>

namespace mydocker {
namespace {

Command Parse(std::vector<const char*> args, std::vector<std::string> env = {}) {
  args.insert(args.begin(), "mydocker");
  return ParseArgs(static_cast<int>(args.size()), args.data(), env);
}

TEST(CliArgs, RunTakesEverythingAfterTheImageAsTheCommand) {
  Command c = Parse({"run", "-ti", "--name", "web", "busybox", "sh", "-c", "echo -e hi"});
  ASSERT_FALSE(c.done) << c.output;
  EXPECT_EQ(c.verb, Verb::kRun);
  EXPECT_TRUE(c.run.tty);
  EXPECT_TRUE(c.run.interactive);
  EXPECT_EQ(c.run.name, "web");
  EXPECT_EQ(c.run.image, "busybox");
  EXPECT_EQ(c.run.argv, (std::vector<std::string>{"sh", "-c", "echo -e hi"}));
}

TEST(CliArgs, LimitsVolumesAndEnv) {
  Command c = Parse({"--root", "/tmp/r", "--cgroup-parent", "p", "--log-level", "debug", "run",
                     "-m", "32m", "--cpus", "0.5", "--cpu-shares", "512", "--cpuset-cpus",
                     "0-1", "--pids-limit", "10", "-v", "/srv/data:/data:ro", "-e", "A=1",
                     "-e", "HOME", "--hostname", "box", "busybox", "true"},
                    {"HOME=/root"});
  ASSERT_FALSE(c.done) << c.output;
  EXPECT_EQ(c.root, "/tmp/r");
  EXPECT_EQ(c.cgroup_parent, "p");
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_EQ(*c.run.limits.memory_bytes, 32 << 20);
  EXPECT_DOUBLE_EQ(*c.run.limits.cpus, 0.5);
  EXPECT_EQ(*c.run.limits.cpu_shares, 512u);
  EXPECT_EQ(*c.run.limits.cpuset_cpus, "0-1");
  EXPECT_EQ(*c.run.limits.pids_limit, 10);
  ASSERT_EQ(c.run.volumes.size(), 1u);
  EXPECT_EQ(c.run.volumes[0].host, "/srv/data");
  EXPECT_EQ(c.run.volumes[0].container, "/data");
  EXPECT_TRUE(c.run.volumes[0].read_only);
  EXPECT_EQ(c.run.env, (std::vector<std::string>{"A=1", "HOME=/root"}));
  EXPECT_EQ(c.run.hostname, "box");
  EXPECT_EQ(c.run.argv, (std::vector<std::string>{"true"}));
}

TEST(CliArgs, StateRootDefaultsToEmptyAndIsAGlobalFlag) {
  Command c = Parse({"run", "busybox", "true"});
  ASSERT_FALSE(c.done) << c.output;
  EXPECT_EQ(c.root, "/var/lib/mydocker");
  EXPECT_EQ(c.state, "");  // the containers stay under --root
  c = Parse({"--root", "/var/lib/md", "--state", "/run/md", "ps", "-a"});
  ASSERT_FALSE(c.done) << c.output;
  EXPECT_EQ(c.verb, Verb::kPs);
  EXPECT_EQ(c.root, "/var/lib/md");
  EXPECT_EQ(c.state, "/run/md");
  Command missing = Parse({"--state"});
  EXPECT_TRUE(missing.done);
  EXPECT_EQ(missing.exit_code, 125);
}

TEST(CliArgs, WrongFlagsExit125WithAMessageNamingThem) {
  Command bad_flag = Parse({"run", "--no-such-flag", "busybox", "true"});
  EXPECT_TRUE(bad_flag.done);
  EXPECT_EQ(bad_flag.exit_code, 125);
  EXPECT_NE(bad_flag.output.find("--no-such-flag"), std::string::npos) << bad_flag.output;

  Command bad_mem = Parse({"run", "-m", "lots", "busybox", "true"});
  EXPECT_EQ(bad_mem.exit_code, 125);
  EXPECT_NE(bad_mem.output.find("lots"), std::string::npos) << bad_mem.output;

  Command bad_vol = Parse({"run", "-v", "relative:/data", "busybox", "true"});
  EXPECT_EQ(bad_vol.exit_code, 125);
  EXPECT_NE(bad_vol.output.find("relative:/data"), std::string::npos) << bad_vol.output;

  // No command: the image's config gives it (Entrypoint + Cmd); the run
  // fails naming the image when it has none (runtime.cc).
  Command no_cmd = Parse({"run", "busybox"});
  EXPECT_FALSE(no_cmd.done) << no_cmd.output;
  EXPECT_EQ(no_cmd.verb, Verb::kRun);
  EXPECT_EQ(no_cmd.run.image, "busybox");
  EXPECT_TRUE(no_cmd.run.argv.empty());

  Command shares = Parse({"run", "--cpu-shares", "1", "busybox", "true"});
  EXPECT_EQ(shares.exit_code, 125);
  Command pids = Parse({"run", "--pids-limit", "0", "busybox", "true"});
  EXPECT_EQ(pids.exit_code, 125);
  Command none = Parse({});
  EXPECT_EQ(none.exit_code, 125);
}

TEST(CliArgs, HelpExitsZero) {
  Command c = Parse({"--help"});
  EXPECT_TRUE(c.done);
  EXPECT_EQ(c.exit_code, 0);
  EXPECT_NE(c.output.find("run"), std::string::npos);
}

TEST(CliArgs, OtherVerbs) {
  EXPECT_EQ(Parse({"ps", "-a"}).verb, Verb::kPs);
  EXPECT_TRUE(Parse({"ps", "-a"}).all);
  Command rm = Parse({"rm", "-f", "a", "b"});
  EXPECT_EQ(rm.verb, Verb::kRm);
  EXPECT_TRUE(rm.force);
  EXPECT_EQ(rm.names, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(Parse({"gc"}).verb, Verb::kGc);
  EXPECT_EQ(Parse({"image", "ls"}).verb, Verb::kImageLs);
  Command irm = Parse({"image", "rm", "busybox"});
  EXPECT_EQ(irm.verb, Verb::kImageRm);
  EXPECT_EQ(irm.names, (std::vector<std::string>{"busybox"}));
  Command missing_tar = Parse({"image", "import", "/no/such.tar", "x"});
  EXPECT_EQ(missing_tar.exit_code, 125);
  EXPECT_NE(missing_tar.output.find("/no/such.tar"), std::string::npos);
}

TEST(CliArgs, DetachLogsStopExec) {
  Command c = Parse({"run", "-d", "--name", "web", "busybox", "sleep", "1000"});
  ASSERT_FALSE(c.done) << c.output;
  EXPECT_EQ(c.verb, Verb::kRun);
  EXPECT_TRUE(c.run.detach);
  EXPECT_EQ(c.run.argv, (std::vector<std::string>{"sleep", "1000"}));

  c = Parse({"logs", "web"});
  ASSERT_FALSE(c.done) << c.output;
  EXPECT_EQ(c.verb, Verb::kLogs);
  EXPECT_EQ(c.names, std::vector<std::string>{"web"});

  c = Parse({"stop", "web", "db"});
  ASSERT_FALSE(c.done) << c.output;
  EXPECT_EQ(c.verb, Verb::kStop);
  EXPECT_EQ(c.stop_timeout, 10);  // docker's default
  EXPECT_EQ(c.names, (std::vector<std::string>{"web", "db"}));
  c = Parse({"stop", "-t", "0", "web"});
  ASSERT_FALSE(c.done) << c.output;
  EXPECT_EQ(c.stop_timeout, 0);
  c = Parse({"stop", "-t", "-1", "web"});
  EXPECT_TRUE(c.done);
  EXPECT_EQ(c.exit_code, 125);

  c = Parse({"exec", "-e", "A=1", "-e", "HOME", "-i", "web", "sh", "-c", "echo -n $A"},
            {"HOME=/root"});
  ASSERT_FALSE(c.done) << c.output;
  EXPECT_EQ(c.verb, Verb::kExec);
  EXPECT_EQ(c.names, std::vector<std::string>{"web"});
  EXPECT_TRUE(c.exec.interactive);
  EXPECT_EQ(c.exec.env, (std::vector<std::string>{"A=1", "HOME=/root"}));
  EXPECT_EQ(c.exec.argv, (std::vector<std::string>{"sh", "-c", "echo -n $A"}));

  for (auto args : std::vector<std::vector<const char*>>{
           {"exec", "web"}, {"exec", "web", "--bogus"}, {"logs"}, {"stop"},
           {"logs", "../x"}, {"exec", "a b", "true"}}) {
    c = Parse(args);
    EXPECT_TRUE(c.done) << args[0];
    EXPECT_EQ(c.exit_code, 125) << args[0] << ": " << c.output;
  }
}

TEST(ParseVolume, Forms) {
  auto rw = ParseVolume("/a:/b");
  ASSERT_TRUE(rw.ok());
  EXPECT_FALSE(rw->read_only);
  EXPECT_TRUE(ParseVolume("/a:/b:rw").ok());
  EXPECT_FALSE(ParseVolume("/a").ok());
  EXPECT_FALSE(ParseVolume("/a:/b:rx").ok());
  EXPECT_FALSE(ParseVolume("/a:/").ok());
  EXPECT_FALSE(ParseVolume("/a:b").ok());
  EXPECT_FALSE(ParseVolume("/a:/b/../../etc").ok());
  EXPECT_EQ(ParseVolume("/a:/b/../c").error().detail,
            "the container directory must be absolute, not '/', without '..'");
}

}  // namespace
}  // namespace mydocker
