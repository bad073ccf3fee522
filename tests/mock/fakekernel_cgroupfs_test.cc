// FakeKernel cgroupfs layer (fakekernel/cgroupfs.cc): v1 hierarchies and the
// v2 unified tree; control files, their values, and the EBUSY rules.
#include <errno.h>
#include <signal.h>

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fakekernel/fake_kernel.h"
#include "runtime/sys/fs_util.h"
#include "tests/support/fake_kernel_helpers.h"

namespace faultline {
namespace {

using fktest::Names;
using fktest::Read;
using fktest::Write;
using ::testing::Contains;
using ::testing::Not;

TEST(FakeKernelCgroups, V1Rules) {
  FakeKernel k;
  const std::string mem = "/sys/fs/cgroup/memory/mydocker/c1";
  ASSERT_TRUE(mydocker::MkdirAll(k, mem, 0755, "t").ok());
  EXPECT_THAT(Names(k, mem), Contains("memory.limit_in_bytes"));
  EXPECT_EQ(Write(k, mem + "/memory.limit_in_bytes", "bogus"), EINVAL);
  EXPECT_EQ(Write(k, mem + "/memory.limit_in_bytes", "32m"), 0);
  EXPECT_EQ(Read(k, mem + "/memory.limit_in_bytes"), "33554432\n");
  pid_t c = k.Clone([] { return 0; }, SIGCHLD).value;
  EXPECT_EQ(Write(k, mem + "/cgroup.procs", std::to_string(c)), 0);
  EXPECT_EQ(Read(k, mem + "/cgroup.procs"), std::to_string(c) + "\n");
  EXPECT_EQ(Write(k, mem + "/cgroup.procs", "99999"), ESRCH);
  EXPECT_EQ(k.Rmdir(mem).err, EBUSY);
  EXPECT_EQ(k.Rmdir("/sys/fs/cgroup/memory/mydocker").err, EBUSY);  // child cgroup
  EXPECT_EQ(k.Unlink(mem + "/memory.limit_in_bytes").err, EPERM);
  // cpuset: empty cpus/mems refuse tasks with ENOSPC.
  const std::string cs = "/sys/fs/cgroup/cpuset/c1";
  ASSERT_EQ(k.Mkdir(cs, 0755).err, 0);
  EXPECT_EQ(Write(k, cs + "/cgroup.procs", std::to_string(c)), ENOSPC);
  // Beyond the machine's cpus (0-1): ERANGE, as Linux says (h/conform's
  // conformance fixes; a cpu the parent lacks would be EINVAL).
  EXPECT_EQ(Write(k, cs + "/cpuset.cpus", "0-7"), ERANGE);
  EXPECT_EQ(Write(k, cs + "/cpuset.cpus", "1"), 0);
  EXPECT_EQ(Write(k, cs + "/cpuset.mems", "0"), 0);
  EXPECT_EQ(Write(k, cs + "/cgroup.procs", std::to_string(c)), 0);
  EXPECT_EQ(Write(k, "/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "10"), EINVAL);
  // The child exits: it leaves its cgroups and rmdir works.
  ASSERT_TRUE(k.Waitpid(c, 0).ok());
  EXPECT_EQ(Read(k, mem + "/cgroup.procs"), "");
  EXPECT_EQ(k.Rmdir(mem).err, 0);
  EXPECT_EQ(k.Rmdir(cs).err, 0);
  EXPECT_EQ(k.Lstat(mem).err, ENOENT);
}

TEST(FakeKernelCgroups, V2SubtreeControl) {
  FakeKernel k(FakeKernelOptions{.cgroups = FakeCgroupMode::kV2Unified});
  ASSERT_EQ(k.Mkdir("/sys/fs/cgroup/mydocker", 0755).err, 0);
  ASSERT_EQ(k.Mkdir("/sys/fs/cgroup/mydocker/c1", 0755).err, 0);
  // memory not enabled in the parent: no memory.max.
  EXPECT_EQ(k.Lstat("/sys/fs/cgroup/mydocker/c1/memory.max").err, ENOENT);
  EXPECT_EQ(Write(k, "/sys/fs/cgroup/mydocker/cgroup.subtree_control", "+memory"), ENOENT);
  EXPECT_EQ(Write(k, "/sys/fs/cgroup/cgroup.subtree_control", "+memory +pids +cpu"), 0);
  EXPECT_EQ(Write(k, "/sys/fs/cgroup/mydocker/cgroup.subtree_control", "+bogus"), EINVAL);
  EXPECT_EQ(Write(k, "/sys/fs/cgroup/mydocker/cgroup.subtree_control", "+memory +cpu"), 0);
  EXPECT_EQ(Write(k, "/sys/fs/cgroup/mydocker/c1/memory.max", "64m"), 0);
  EXPECT_EQ(Write(k, "/sys/fs/cgroup/mydocker/c1/cpu.max", "50000 100000"), 0);
  EXPECT_EQ(Write(k, "/sys/fs/cgroup/mydocker/c1/cpu.weight", "0"), EINVAL);
  EXPECT_EQ(Read(k, "/sys/fs/cgroup/mydocker/c1/cgroup.controllers"), "cpu memory\n");
  // No internal processes: the parent has controllers enabled for children.
  EXPECT_EQ(Write(k, "/sys/fs/cgroup/mydocker/cgroup.procs", "0"), EBUSY);
  EXPECT_EQ(Write(k, "/sys/fs/cgroup/mydocker/c1/cgroup.procs", "0"), 0);
  EXPECT_EQ(Read(k, "/proc/self/cgroup"), "0::/mydocker/c1\n");
  EXPECT_EQ(k.Rmdir("/sys/fs/cgroup/mydocker/c1").err, EBUSY);
  EXPECT_EQ(Write(k, "/sys/fs/cgroup/cgroup.procs", "0"), 0);
  EXPECT_EQ(k.Rmdir("/sys/fs/cgroup/mydocker/c1").err, 0);
}

FakeKernel V2() { return FakeKernel(FakeKernelOptions{.cgroups = FakeCgroupMode::kV2Unified}); }

// A controller's files exist in a child only while the parent enables it in
// cgroup.subtree_control; enabling needs it in the parent's own
// cgroup.controllers; disabling what a child still passes on is EBUSY.
TEST(FakeKernelCgroups, V2SubtreeControlGatesControllerFiles) {
  FakeKernel k = V2();
  const std::string p = "/sys/fs/cgroup/p", c = p + "/c";
  ASSERT_EQ(k.Mkdir(p, 0755).err, 0);
  ASSERT_EQ(k.Mkdir(c, 0755).err, 0);
  EXPECT_EQ(Read(k, p + "/cgroup.controllers"), "");  // empty lists read "" (Linux; h/conform)
  EXPECT_EQ(Write(k, p + "/cgroup.subtree_control", "+pids"), ENOENT);
  ASSERT_EQ(Write(k, "/sys/fs/cgroup/cgroup.subtree_control", "+pids +memory"), 0);
  EXPECT_EQ(Read(k, "/sys/fs/cgroup/cgroup.subtree_control"), "memory pids\n");
  EXPECT_EQ(Read(k, p + "/cgroup.controllers"), "memory pids\n");
  EXPECT_THAT(Names(k, p), Contains("pids.max"));
  EXPECT_THAT(Names(k, c), Not(Contains("pids.max")));
  ASSERT_EQ(Write(k, p + "/cgroup.subtree_control", "+pids"), 0);
  EXPECT_THAT(Names(k, c), Contains("pids.max"));
  EXPECT_EQ(Write(k, c + "/pids.max", "10"), 0);
  EXPECT_EQ(Read(k, c + "/pids.max"), "10\n");
  EXPECT_EQ(Write(k, c + "/pids.max", "-1"), EINVAL);
  // The root cannot drop pids while p passes it on.
  EXPECT_EQ(Write(k, "/sys/fs/cgroup/cgroup.subtree_control", "-pids"), EBUSY);
  ASSERT_EQ(Write(k, p + "/cgroup.subtree_control", "-pids"), 0);
  EXPECT_THAT(Names(k, c), Not(Contains("pids.max")));
  EXPECT_EQ(Write(k, "/sys/fs/cgroup/cgroup.subtree_control", "-pids"), 0);
  EXPECT_THAT(Names(k, p), Not(Contains("pids.max")));
  EXPECT_EQ(Write(k, p + "/cgroup.subtree_control", "memory"), EINVAL);  // no +/-
}

// No internal processes: a non-root cgroup either has processes or enables
// controllers for children, never both. The root is exempt.
TEST(FakeKernelCgroups, V2NoInternalProcessRule) {
  FakeKernel k = V2();
  const std::string p = "/sys/fs/cgroup/p";
  ASSERT_EQ(k.Mkdir(p, 0755).err, 0);
  ASSERT_EQ(k.Mkdir(p + "/c", 0755).err, 0);
  ASSERT_EQ(Write(k, "/sys/fs/cgroup/cgroup.subtree_control", "+memory"), 0);
  EXPECT_EQ(Write(k, "/sys/fs/cgroup/cgroup.procs", "0"), 0);  // root: fine
  // p has a process: enabling for its children is EBUSY.
  pid_t child = k.Clone([] { return 0; }, SIGCHLD).value;
  ASSERT_EQ(Write(k, p + "/cgroup.procs", std::to_string(child)), 0);
  EXPECT_EQ(Write(k, p + "/cgroup.subtree_control", "+memory"), EBUSY);
  // Moved out, p can enable; then no process may join p.
  ASSERT_EQ(Write(k, p + "/c/cgroup.procs", std::to_string(child)), 0);
  EXPECT_EQ(Write(k, p + "/cgroup.subtree_control", "+memory"), 0);
  EXPECT_EQ(Write(k, p + "/cgroup.procs", std::to_string(child)), EBUSY);
  EXPECT_EQ(Read(k, p + "/c/cgroup.procs"), std::to_string(child) + "\n");
  ASSERT_TRUE(k.Waitpid(child, 0).ok());
}

// rmdir of a cgroup with processes or child cgroups is EBUSY; populated
// and pids.current follow the members; control files cannot be removed.
TEST(FakeKernelCgroups, V2RmdirEventsAndCounts) {
  FakeKernel k = V2();
  const std::string p = "/sys/fs/cgroup/p", c = p + "/c";
  ASSERT_EQ(Write(k, "/sys/fs/cgroup/cgroup.subtree_control", "+pids"), 0);
  ASSERT_EQ(k.Mkdir(p, 0755).err, 0);
  ASSERT_EQ(k.Mkdir(c, 0755).err, 0);
  EXPECT_EQ(Read(k, p + "/cgroup.events"), "populated 0\nfrozen 0\n");
  pid_t a = k.Clone([] { return 0; }, SIGCHLD).value;
  pid_t b = k.Clone([] { return 0; }, SIGCHLD).value;
  ASSERT_EQ(Write(k, p + "/cgroup.procs", std::to_string(a)), 0);
  ASSERT_EQ(Write(k, p + "/cgroup.procs", std::to_string(b)), 0);
  EXPECT_EQ(Read(k, p + "/pids.current"), "2\n");
  EXPECT_EQ(Read(k, p + "/cgroup.events"), "populated 1\nfrozen 0\n");
  EXPECT_EQ(k.Rmdir(p).err, EBUSY);  // processes and a child
  EXPECT_EQ(k.Rmdir(c).err, 0);
  EXPECT_EQ(k.Rmdir(p).err, EBUSY);  // processes
  EXPECT_EQ(k.Unlink(p + "/cgroup.procs").err, EPERM);
  EXPECT_EQ(Write(k, p + "/cgroup.procs", "99999"), ESRCH);
  ASSERT_TRUE(k.Waitpid(a, 0).ok());
  EXPECT_EQ(Read(k, p + "/pids.current"), "1\n");
  ASSERT_TRUE(k.Waitpid(b, 0).ok());
  EXPECT_EQ(Read(k, p + "/cgroup.procs"), "");
  EXPECT_EQ(Read(k, p + "/cgroup.events"), "populated 0\nfrozen 0\n");
  EXPECT_EQ(k.Rmdir(p).err, 0);
  EXPECT_EQ(k.Lstat(p).err, ENOENT);
  // Only directories can be made in cgroupfs: kernfs has no create, so a
  // regular file is EACCES (vfs_create; h/conform's conformance fixes).
  EXPECT_EQ(k.Mknod("/sys/fs/cgroup/f", S_IFREG | 0644, 0).err, EACCES);
}

}  // namespace
}  // namespace faultline
