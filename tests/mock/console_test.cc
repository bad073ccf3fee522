// `run -t` on the FakeKernel, which has no pty driver: the run fails at the
// console step with a named error and leaves nothing behind.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fakekernel/fake_kernel.h"
#include "faults/fault_injecting_sys.h"
#include "runtime/container/runtime.h"

namespace faultline {
namespace {

using ::testing::HasSubstr;

TEST(FakeKernelConsole, RunTtyFailsCleanlyWithoutAPtyDriver) {
  FakeKernel k;
  const std::string root = "/var/lib/mydocker";
  ASSERT_TRUE(k.BuildBusyboxImage(root + "/images/busybox/rootfs").ok());
  ASSERT_TRUE(k.AddFile(root + "/images/busybox/image.json",
                        R"({"name":"busybox","source":"fake","size":0,"files":0})")
                  .ok());
  const std::string mounts_before = k.Mountinfo(k.RuntimePid());
  const size_t fds_before = k.OpenFdCount(k.RuntimePid());
  FaultInjectingSys traced(k, FaultPlan{});
  mydocker::RuntimeConfig config;
  config.root = root;
  config.new_id = [] { return std::string("0123456789ab"); };
  mydocker::Runtime rt(traced, config);
  mydocker::RunSpec spec;
  spec.image = "busybox";
  spec.argv = {"true"};
  spec.tty = true;
  spec.interactive = true;
  auto r = rt.Run(spec);
  ASSERT_FALSE(r.ok());
  const std::string msg = r.error().Message();
  EXPECT_THAT(msg, HasSubstr("console: open pty"));
  EXPECT_THAT(msg, HasSubstr("/dev/ptmx"));
  EXPECT_THAT(msg, HasSubstr("ENOTTY"));
  // It got as far as the ioctl, and no container was started.
  bool saw_ioctl = false, saw_clone = false;
  for (const auto& e : traced.trace()) {
    saw_ioctl |= e.op == "ioctl";
    saw_clone |= e.op == "clone";
  }
  EXPECT_TRUE(saw_ioctl) << traced.TraceText();
  EXPECT_FALSE(saw_clone) << traced.TraceText();
  EXPECT_EQ(k.Mountinfo(k.RuntimePid()), mounts_before);
  EXPECT_EQ(k.OpenFdCount(k.RuntimePid()), fds_before);
  auto left = k.ReadDir(root + "/containers");
  ASSERT_TRUE(left.ok());
  EXPECT_TRUE(left.value.empty());
}

TEST(FakeKernelConsole, IoctlSetsidAndPollOnTheFake) {
  FakeKernel k;
  auto p = k.Pipe(0);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(k.Ioctl(p.value.read_fd, 0x5401 /*TCGETS*/, nullptr).err, ENOTTY);
  EXPECT_EQ(k.Ioctl(999, 0x5401, nullptr).err, EBADF);
  EXPECT_TRUE(k.Setsid().ok());
  struct pollfd fds[1] = {{p.value.read_fd, POLLIN, 0}};
  auto none = k.Poll(fds, 1, 100);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none.value, 0);
  EXPECT_EQ(k.Poll(fds, 1, -1).err, EDEADLK);  // nothing will ever come
  ASSERT_TRUE(k.Write(p.value.write_fd, "x", 1).ok());
  auto one = k.Poll(fds, 1, -1);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one.value, 1);
  EXPECT_TRUE(fds[0].revents & POLLIN);
  ASSERT_EQ(k.Close(p.value.write_fd).err, 0);
  char c;
  ASSERT_TRUE(k.Read(p.value.read_fd, &c, 1).ok());
  one = k.Poll(fds, 1, -1);
  ASSERT_TRUE(one.ok());
  EXPECT_TRUE(fds[0].revents & POLLHUP);
  EXPECT_EQ(k.Close(p.value.read_fd).err, 0);
}

}  // namespace
}  // namespace faultline
