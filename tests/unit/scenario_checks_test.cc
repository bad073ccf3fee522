// Isolation validators (on outputs captured from real busybox containers and
// on doctored ones) and the per-container expectation checks.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "harness/scenario/isolation.h"
#include "harness/scenario/runner.h"

namespace faultline {
namespace {

using ::testing::HasSubstr;

IsolationContext Ctx() {
  IsolationContext c;
  c.expected_hostname = "box1";
  c.host_hostname_before = c.host_hostname_after = "host";
  c.shm_key = 1179385856;
  c.shm_visible_on_host = true;
  c.marker_source = "faultline-marker-1";
  c.scratch = "/tmp/faultline-run-x";
  c.expected_cgroup = "/faultline-1/abc";
  c.limits.cpus = 0.5;
  c.limits.cpuset_cpus = "0";
  c.passwd_digest_before = c.passwd_digest_after = "10:123";
  return c;
}

TEST(Isolation, CommandAndSections) {
  mydocker::CgroupLimits l;
  l.memory_bytes = 32 << 20;
  auto cmd = IsolationCommand({"uts", "memory"}, l);
  ASSERT_EQ(cmd.size(), 3u);
  EXPECT_EQ(cmd[0], "sh");
  EXPECT_THAT(cmd[2], HasSubstr("bs=67108864"));  // twice the limit
  EXPECT_THAT(cmd[2], HasSubstr("bs=8388608"));   // a quarter
  auto sections = SplitSections(
      "noise\n@@faultline-check uts\nhostname=box1\n@@faultline-check memory\nsmall_rc=0\n"
      "@@faultline-end\n");
  EXPECT_EQ(sections["uts"], "hostname=box1\n");
  EXPECT_EQ(sections["memory"], "small_rc=0\n");
  EXPECT_TRUE(sections.count("@end"));
}

TEST(Isolation, Uts) {
  // Without CAP_SYS_ADMIN (docker's default set): the change is refused.
  auto c = Ctx();
  const std::string refused =
      "hostname=box1\ndomainname=(none)\nhostname: sethostname: Operation not permitted\n"
      "changed=box1\n";
  EXPECT_EQ(ValidateIsolation("uts", refused, c), "");
  EXPECT_THAT(ValidateIsolation("uts", "hostname=box1\nchanged=faultline-changed-inside\n", c),
              HasSubstr("not refused with EPERM"));
  EXPECT_THAT(ValidateIsolation("uts", "hostname=host\nchanged=host\n", c),
              HasSubstr("expected 'box1'"));
  // With it: the change takes effect inside only.
  c.expected_caps = 1ull << 21;
  const std::string changed = "hostname=box1\ndomainname=(none)\nchanged=faultline-changed-inside\n";
  EXPECT_EQ(ValidateIsolation("uts", changed, c), "");
  EXPECT_THAT(ValidateIsolation("uts", refused, c), HasSubstr("could not set the hostname"));
  c.host_hostname_after = "faultline-changed-inside";
  EXPECT_THAT(ValidateIsolation("uts", changed, c), HasSubstr("reached the host"));
}

TEST(Isolation, Pid) {
  auto c = Ctx();
  EXPECT_EQ(ValidateIsolation("pid", "pid=1\nprocs=3\ninit=sh\n", c), "");
  EXPECT_THAT(ValidateIsolation("pid", "pid=4242\nprocs=3\n", c), HasSubstr("not 1"));
  EXPECT_THAT(ValidateIsolation("pid", "pid=1\nprocs=212\n", c), HasSubstr("212"));
}

TEST(Isolation, Mount) {
  auto c = Ctx();
  const std::string root =
      "100 90 0:50 / / rw,relatime - overlay overlay rw,lowerdir=/x\n"
      "101 100 0:51 / /proc rw - proc proc rw\n";
  EXPECT_EQ(ValidateIsolation("mount", root, c), "");
  EXPECT_THAT(ValidateIsolation("mount",
                                root + "102 100 0:52 / /m rw - tmpfs faultline-marker-1 rw\n", c),
              HasSubstr("host-only tmpfs"));
  EXPECT_THAT(
      ValidateIsolation("mount", root + "103 100 8:1 / /.oldroot rw - ext4 /dev/vda1 rw\n", c),
      HasSubstr("old root"));
  EXPECT_THAT(ValidateIsolation("mount", "1 0 8:1 / / rw - ext4 /dev/vda1 rw\n", c),
              HasSubstr("not the overlay"));
}

TEST(Isolation, IpcNetMemoryPids) {
  auto c = Ctx();
  const std::string header = "       key      shmid perms size\n";
  EXPECT_EQ(ValidateIsolation("ipc", header, c), "");
  EXPECT_THAT(ValidateIsolation("ipc", header + "1179385856 5 600 4096\n", c),
              HasSubstr("visible inside"));
  const std::string lo =
      "Inter-|   Receive |  Transmit\n face |bytes |bytes\n    lo:       0       0\n";
  EXPECT_EQ(ValidateIsolation("net", lo, c), "");
  EXPECT_THAT(ValidateIsolation("net", lo + "  eth0: 1 2 3\n", c), HasSubstr("eth0"));
  EXPECT_EQ(ValidateIsolation("memory", "small_rc=0\nbig_rc=137\n", c), "");
  EXPECT_THAT(ValidateIsolation("memory", "small_rc=0\nbig_rc=0\n", c),
              HasSubstr("not enforced"));
  EXPECT_EQ(ValidateIsolation(
                "pids", "sh: can't fork: Resource temporarily unavailable\nfork_rc=2\n", c),
            "");
  EXPECT_THAT(ValidateIsolation("pids", "started=20\nfork_rc=0\n", c), HasSubstr("not enforced"));
}

TEST(Isolation, CpuCgroupCpusetImageLayer) {
  auto c = Ctx();
  EXPECT_EQ(ValidateIsolation("cpu", "real\t0m 2.00s\nuser\t0m 0.98s\nsys\t0m 0.01s\n", c), "");
  EXPECT_THAT(ValidateIsolation("cpu", "real\t0m 2.00s\nuser\t0m 1.99s\nsys\t0m 0.00s\n", c),
              HasSubstr("expected 0.50"));
  const std::string cg = "4:memory:/faultline-1/abc\n8:pids:/faultline-1/abc\n0::/\n";
  EXPECT_EQ(ValidateIsolation("cgroup", cg, c), "");
  EXPECT_THAT(ValidateIsolation("cgroup", "4:memory:/\n8:pids:/\n", c), HasSubstr("memory"));
  c.expected_cgroup = "/faultline-1/*";
  EXPECT_EQ(ValidateIsolation("cgroup", "4:memory:/faultline-1/x\n8:pids:/faultline-1/x\n", c),
            "");
  EXPECT_EQ(ValidateIsolation("cpuset", "Cpus_allowed_list:\t0\n", c), "");
  EXPECT_THAT(ValidateIsolation("cpuset", "Cpus_allowed_list:\t0-1\n", c), HasSubstr("0-1"));
  const std::string wrote = "last=faultline-was-here\nnew=created\n";
  EXPECT_EQ(ValidateIsolation("image_layer", wrote, c), "");
  c.passwd_digest_after = "11:456";
  EXPECT_THAT(ValidateIsolation("image_layer", wrote, c), HasSubstr("went through"));
}

TEST(Isolation, Requirements) {
  mydocker::CgroupLimits none;
  EXPECT_NE(IsolationRequirement("memory", none, false), "");
  EXPECT_NE(IsolationRequirement("ipc", none, false), "");
  EXPECT_EQ(IsolationRequirement("ipc", none, true), "");
  EXPECT_EQ(IsolationRequirement("uts", none, false), "");
}

TEST(CheckContainer, ExitOutputAndError) {
  Expectations e;
  ContainerResult r;
  r.ran = true;
  r.exit_code = 0;
  r.out = "hello\n";
  auto checks = CheckContainer(e, r, true);  // no exit given: 0 expected
  ASSERT_EQ(checks.size(), 1u);
  EXPECT_TRUE(checks[0].ok);
  r.exit_code = 3;
  EXPECT_FALSE(CheckContainer(e, r, true)[0].ok);
  e.exit_nonzero = true;
  EXPECT_TRUE(CheckContainer(e, r, true)[0].ok);

  Expectations p;
  p.exit_code = 3;
  p.stdout_has = {{"^hel+o$", 1}};
  p.stdout_lacks = {{"bye", 2}};
  for (const auto& c : CheckContainer(p, r, true)) EXPECT_TRUE(c.ok) << c.name << c.detail;
  r.out = "bye\n";
  int failed = 0;
  for (const auto& c : CheckContainer(p, r, true)) failed += !c.ok;
  EXPECT_EQ(failed, 2);

  Expectations err;
  err.exit_code = 125;
  err.error = ExpectedError{"workspace: mount overlay", "EIO"};
  ContainerResult f;
  f.ran = true;
  f.exit_code = 125;
  f.runtime_error = true;
  f.error_step = "workspace: mount overlay";
  f.error_errno = 5;
  for (const auto& c : CheckContainer(err, f, true)) EXPECT_TRUE(c.ok) << c.name << c.detail;
  f.error_errno = 12;
  f.error_step = "cgroup: create";
  f.error_message = "cgroup: create /x: ENOMEM";
  bool error_failed = false;
  for (const auto& c : CheckContainer(err, f, true)) {
    if (c.name == "error") error_failed = !c.ok;
  }
  EXPECT_TRUE(error_failed);
  ContainerResult t;
  t.ran = true;
  t.timed_out = true;
  EXPECT_EQ(CheckContainer(Expectations{}, t, true)[0].name, "timeout");
}

}  // namespace
}  // namespace faultline
