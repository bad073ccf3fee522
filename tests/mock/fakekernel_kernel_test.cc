// The public FakeKernel class (fakekernel/fake_kernel.cc): value semantics,
// seeding, observation, and the whole runtime on it. What copying and a
// lifecycle cost is measured by bench/fake_kernel_bench.cc, not here.
#include <errno.h>
#include <sys/stat.h>

#include <string>

#include <gtest/gtest.h>

#include "fakekernel/fake_kernel.h"
#include "faults/fault_injecting_sys.h"
#include "runtime/container/runtime.h"
#include "tests/support/fake_kernel_helpers.h"

namespace faultline {
namespace {

using fktest::Read;
using fktest::Workspace;

TEST(FakeKernelValue, CopiesAreIndependent) {
  Workspace w;
  FakeKernel copy = w.k;
  ASSERT_TRUE(copy.AddFile("/only-in-copy", "x").ok());
  EXPECT_EQ(w.k.Lstat("/only-in-copy").err, ENOENT);
  ASSERT_TRUE(w.k.AddFile("/only-in-original", "y").ok());
  EXPECT_EQ(copy.Lstat("/only-in-original").err, ENOENT);
  // Processes, mounts and the console are per copy too.
  pid_t c = copy.Clone([] { return 0; }, SIGCHLD).value;
  EXPECT_TRUE(copy.ProcessExists(c));
  EXPECT_FALSE(w.k.ProcessExists(c));
  ASSERT_EQ(copy.Mount({"tmpfs", "/mnt", "tmpfs", 0, ""}).err, 0);
  EXPECT_EQ(copy.MountCount(copy.RuntimePid()), w.k.MountCount(w.k.RuntimePid()) + 1);
  ASSERT_TRUE(copy.Waitpid(c, 0).ok());
  // Assignment replaces the whole state.
  FakeKernel other;
  other = copy;
  EXPECT_EQ(Read(other, "/only-in-copy"), "x");
  EXPECT_EQ(other.Mountinfo(other.RuntimePid()), copy.Mountinfo(copy.RuntimePid()));
}

TEST(FakeKernelSeeding, ParentsAreCreatedAndModesKept) {
  FakeKernel k;
  ASSERT_TRUE(k.AddFile("/a/b/c/f", "data", 0600, 1000, 1000).ok());
  EXPECT_TRUE(S_ISDIR(k.Lstat("/a/b/c").value.mode));
  auto st = k.Lstat("/a/b/c/f");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st.value.mode, S_IFREG | 0600u);
  EXPECT_EQ(st.value.uid, 1000u);
  EXPECT_EQ(Read(k, "/a/b/c/f"), "data");
  ASSERT_TRUE(k.AddSymlink("/a/b", "/ab").ok());
  EXPECT_EQ(k.Readlink("/ab").value, "/a/b");
  ASSERT_TRUE(k.BuildBusyboxImage("/img").ok());
  EXPECT_EQ(k.Readlink("/img/bin/sh").value, "busybox");
  EXPECT_EQ(Read(k, "/img/etc/hostname"), "busybox\n");
  EXPECT_EQ(k.ReadWholeFile("/missing").err, ENOENT);
}

// The whole runtime on the fake kernel: a lifecycle leaves nothing behind.
TEST(FakeKernelRuntime, MydockerRunLifecycleIsClean) {
  FakeKernel base;
  const std::string root = "/var/lib/mydocker";
  ASSERT_TRUE(base.BuildBusyboxImage(root + "/images/busybox/rootfs").ok());
  ASSERT_TRUE(base.AddFile(root + "/images/busybox/image.json",
                           R"({"name":"busybox","source":"fake","size":0,"files":0})")
                  .ok());
  auto run_once = [&](FakeKernel& k, mydocker::Sys& sys, int* exit_code) {
    mydocker::RuntimeConfig config;
    config.root = root;
    config.new_id = [] { return std::string("0123456789ab"); };
    mydocker::Runtime rt(sys, config);
    mydocker::RunSpec spec;
    spec.image = "busybox";
    spec.argv = {"sh", "-c", "exit 3"};
    spec.limits.memory_bytes = 64 << 20;
    auto r = rt.Run(spec);
    if (!r) return r.error().Message();
    *exit_code = r->exit_code;
    return std::string();
  };
  FakeKernel k = base;
  FaultInjectingSys counting(k, FaultPlan{});
  int code = -1;
  std::string err = run_once(k, counting, &code);
  ASSERT_EQ(err, "");
  EXPECT_EQ(code, 3);
  const size_t calls = counting.trace().size();
  RecordProperty("lifecycle_calls", static_cast<int>(calls));
  // Nothing left: mounts, processes, cgroups, container dirs.
  EXPECT_EQ(k.Mountinfo(k.RuntimePid()), base.Mountinfo(base.RuntimePid()));
  EXPECT_EQ(k.Pids(), base.Pids());
  EXPECT_EQ(k.ReadDir("/sys/fs/cgroup/memory").value.size(),
            base.ReadDir("/sys/fs/cgroup/memory").value.size() + 1);  // the parent stays
  EXPECT_EQ(k.OpenFdCount(k.RuntimePid()), 3u);
}

}  // namespace
}  // namespace faultline
