// FakeKernel mounts layer (fakekernel/mounts.cc): the mount table, umount's
// EBUSY rules, bind and move, propagation between namespaces, pivot_root and
// the new mount API.
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>

#include <algorithm>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fakekernel/fake_kernel.h"
#include "tests/support/fake_kernel_helpers.h"

namespace faultline {
namespace {

using fktest::Overlay;
using fktest::Read;
using fktest::Workspace;
using ::testing::HasSubstr;
using ::testing::Not;

// fsconfig copies keys and string values of at most 255 bytes (EINVAL
// beyond); overlay layers also go by fd (FSCONFIG_SET_FD, Linux 6.13+).
TEST(FakeKernelOverlay, FsconfigStringLimitAndLayersByFd) {
  Workspace w;
  FakeKernel& k = w.k;
  std::string l255 = "/l", l256 = "/m";
  while (l255.size() < 255) l255 += l255.size() % 50 == 0 ? '/' : 'x';
  while (l256.size() < 256) l256 += l256.size() % 50 == 0 ? '/' : 'y';
  ASSERT_TRUE(k.AddFile(l255 + "/a", "a").ok());
  ASSERT_TRUE(k.AddFile(l256 + "/b", "b").ok());
  auto fs = k.Fsopen("overlay", FSOPEN_CLOEXEC);
  ASSERT_TRUE(fs.ok());
  EXPECT_EQ(k.Fsconfig({fs.value, FSCONFIG_SET_STRING, "lowerdir+", l255}).err, 0);
  EXPECT_EQ(k.Fsconfig({fs.value, FSCONFIG_SET_STRING, "lowerdir+", l256}).err, EINVAL);
  EXPECT_EQ(k.Fsconfig({fs.value, FSCONFIG_SET_FLAG, std::string(256, 'k')}).err, EINVAL);
  auto fd = k.Openat(AT_FDCWD, l256, O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
  auto file = k.Openat(AT_FDCWD, l256 + "/b", O_PATH | O_CLOEXEC, 0);
  ASSERT_TRUE(fd.ok() && file.ok());
  EXPECT_EQ(k.Fsconfig({fs.value, FSCONFIG_SET_FD, "lowerdir+", "x", fd.value}).err, EINVAL);
  EXPECT_EQ(k.Fsconfig({fs.value, FSCONFIG_SET_FD, "lowerdir+", "", 999}).err, EBADF);
  EXPECT_EQ(k.Fsconfig({fs.value, FSCONFIG_SET_FD, "lowerdir+", "", file.value}).err, EINVAL);
  EXPECT_EQ(k.Fsconfig({fs.value, FSCONFIG_SET_FD, "redirect_dir", "", fd.value}).err, EINVAL);
  EXPECT_EQ(k.Fsconfig({fs.value, FSCONFIG_SET_FD, "lowerdir+", "", fd.value}).err, 0);
  EXPECT_EQ(k.Close(fd.value).err, 0);  // the context holds the layer, not the fd
  EXPECT_EQ(k.Close(file.value).err, 0);
  ASSERT_EQ(k.Fsconfig({fs.value, FSCONFIG_SET_STRING, "upperdir", "/var/lib/mydocker/c1/upper"}).err, 0);
  ASSERT_EQ(k.Fsconfig({fs.value, FSCONFIG_SET_STRING, "workdir", "/var/lib/mydocker/c1/work"}).err, 0);
  ASSERT_EQ(k.Fsconfig({fs.value, FSCONFIG_CMD_CREATE, "", ""}).err, 0);
  auto mfd = k.Fsmount(fs.value, FSMOUNT_CLOEXEC, 0);
  ASSERT_TRUE(mfd.ok());
  ASSERT_EQ(k.MoveMount({mfd.value, "", AT_FDCWD, w.kMerged, MOVE_MOUNT_F_EMPTY_PATH}).err, 0);
  EXPECT_EQ(k.Close(mfd.value).err, 0);
  EXPECT_EQ(k.Close(fs.value).err, 0);
  EXPECT_EQ(Read(k, std::string(w.kMerged) + "/a"), "a");
  EXPECT_EQ(Read(k, std::string(w.kMerged) + "/b"), "b");
  EXPECT_THAT(k.Mountinfo(k.RuntimePid()), HasSubstr("lowerdir=" + l255 + ":" + l256));
  EXPECT_EQ(k.Umount2(w.kMerged, 0).err, 0);

  // A kernel before 6.13 takes no layer by fd.
  FakeKernelOptions o;
  o.overlay_layer_fds = false;
  FakeKernel old(o);
  ASSERT_TRUE(old.AddDir(l256).ok());
  fs = old.Fsopen("overlay", FSOPEN_CLOEXEC);
  fd = old.Openat(AT_FDCWD, l256, O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
  ASSERT_TRUE(fs.ok() && fd.ok());
  EXPECT_EQ(old.Fsconfig({fs.value, FSCONFIG_SET_FD, "lowerdir+", "", fd.value}).err, EINVAL);
}

TEST(FakeKernelOverlay, NewMountApi) {
  Workspace w;
  FakeKernel& k = w.k;
  auto fs = k.Fsopen("overlay", FSOPEN_CLOEXEC);
  ASSERT_TRUE(fs.ok());
  EXPECT_EQ(k.Fsconfig({fs.value, FSCONFIG_SET_STRING, "lowerdir+", "/missing"}).err, ENOENT);
  ASSERT_EQ(k.Fsconfig({fs.value, FSCONFIG_SET_STRING, "lowerdir+",
                        "/var/lib/mydocker/images/busybox/rootfs"}).err, 0);
  ASSERT_EQ(k.Fsconfig({fs.value, FSCONFIG_SET_STRING, "upperdir", "/var/lib/mydocker/c1/upper"}).err, 0);
  ASSERT_EQ(k.Fsconfig({fs.value, FSCONFIG_SET_STRING, "workdir", "/var/lib/mydocker/c1/work"}).err, 0);
  EXPECT_EQ(k.Fsconfig({fs.value, FSCONFIG_SET_STRING, "bogus", "1"}).err, EINVAL);
  EXPECT_EQ(k.Fsmount(fs.value, FSMOUNT_CLOEXEC, 0).err, EINVAL);  // not created yet
  ASSERT_EQ(k.Fsconfig({fs.value, FSCONFIG_CMD_CREATE, "", ""}).err, 0);
  auto mfd = k.Fsmount(fs.value, FSMOUNT_CLOEXEC, 0);
  ASSERT_TRUE(mfd.ok());
  size_t before = k.MountCount(k.RuntimePid());
  ASSERT_EQ(k.MoveMount({mfd.value, "", AT_FDCWD, w.kMerged, MOVE_MOUNT_F_EMPTY_PATH}).err, 0);
  EXPECT_EQ(k.MountCount(k.RuntimePid()), before + 1);
  EXPECT_EQ(k.Close(mfd.value).err, 0);
  EXPECT_EQ(k.Close(fs.value).err, 0);
  EXPECT_EQ(Read(k, std::string(w.kMerged) + "/etc/hostname"), "busybox\n");
  EXPECT_EQ(k.Umount2(w.kMerged, 0).err, 0);
  // A mount fd closed without move_mount leaves nothing behind.
  size_t total = k.TotalMountCount();
  fs = k.Fsopen("tmpfs", 0);
  ASSERT_EQ(k.Fsconfig({fs.value, FSCONFIG_CMD_CREATE, "", ""}).err, 0);
  mfd = k.Fsmount(fs.value, 0, 0);
  EXPECT_EQ(k.TotalMountCount(), total + 1);
  EXPECT_EQ(k.Close(mfd.value).err, 0);
  EXPECT_EQ(k.Close(fs.value).err, 0);
  EXPECT_EQ(k.TotalMountCount(), total);
}

TEST(FakeKernelMounts, UmountBusyRules) {
  FakeKernel k;
  ASSERT_TRUE(k.AddDir("/mnt/a").ok());
  ASSERT_EQ(k.Mount({"tmpfs", "/mnt/a", "tmpfs", 0, ""}).err, 0);
  ASSERT_TRUE(k.AddDir("/mnt/a/sub").ok());
  ASSERT_EQ(k.Mount({"tmpfs", "/mnt/a/sub", "tmpfs", 0, ""}).err, 0);
  EXPECT_EQ(k.Umount2("/mnt/a", 0).err, EBUSY);  // has a submount
  EXPECT_EQ(k.Umount2("/mnt", 0).err, EINVAL);   // not a mount point
  EXPECT_EQ(k.Rmdir("/mnt/a/sub").err, EBUSY);   // a mount point
  auto fd = k.Open("/mnt/a/sub/f", O_CREAT | O_WRONLY, 0644);
  ASSERT_TRUE(fd.ok());
  EXPECT_EQ(k.Umount2("/mnt/a/sub", 0).err, EBUSY);  // open fd inside
  EXPECT_EQ(k.Close(fd.value).err, 0);
  EXPECT_EQ(k.Umount2("/mnt/a/sub", 0).err, 0);
  ASSERT_EQ(k.Mount({"tmpfs", "/mnt/a/sub", "tmpfs", 0, ""}).err, 0);
  size_t before = k.MountCount(k.RuntimePid());
  EXPECT_EQ(k.Umount2("/mnt/a", MNT_DETACH).err, 0);  // the whole subtree
  EXPECT_EQ(k.MountCount(k.RuntimePid()), before - 2);
  // Read-only remount: EROFS.
  ASSERT_EQ(k.Mount({"tmpfs", "/mnt/a", "tmpfs", 0, ""}).err, 0);
  ASSERT_EQ(k.Mount({"", "/mnt/a", "", MS_REMOUNT | MS_BIND | MS_RDONLY, ""}).err, 0);
  EXPECT_EQ(k.Mkdir("/mnt/a/x", 0755).err, EROFS);
  EXPECT_EQ(k.Open("/mnt/a/f", O_CREAT | O_WRONLY, 0644).err, EROFS);
}

TEST(FakeKernelMounts, BindRecursiveAndPropagation) {
  FakeKernel k;  // "/" is shared, as on systemd hosts
  ASSERT_TRUE(k.AddDir("/srv/vol").ok());
  ASSERT_TRUE(k.AddFile("/srv/vol/data", "v").ok());
  ASSERT_TRUE(k.AddDir("/mnt/b").ok());
  ASSERT_EQ(k.Mount({"/srv/vol", "/mnt/b", "", MS_BIND, ""}).err, 0);
  EXPECT_EQ(Read(k, "/mnt/b/data"), "v");
  EXPECT_EQ(k.Lstat("/mnt/b/data").value.ino, k.Lstat("/srv/vol/data").value.ino);
  EXPECT_EQ(k.Mount({"/srv/vol/data", "/mnt/b", "", MS_BIND, ""}).err, ENOTDIR);
  // rbind copies submounts.
  ASSERT_TRUE(k.AddDir("/mnt/dev").ok());
  ASSERT_EQ(k.Mount({"/dev", "/mnt/dev", "", MS_BIND | MS_REC, ""}).err, 0);
  EXPECT_EQ(k.Statfs("/mnt/dev/pts").value, fktest::kDevptsMagic);
  // A mount under a shared mount propagates to the peers.
  std::string info = k.Mountinfo(k.RuntimePid());
  EXPECT_THAT(info, HasSubstr("shared:"));
  pid_t child = k.Clone([] { return 0; }, CLONE_NEWNS | SIGCHLD).value;
  size_t child_before = k.MountCount(child);
  ASSERT_TRUE(k.AddDir("/mnt/c").ok());
  ASSERT_EQ(k.Mount({"tmpfs", "/mnt/c", "tmpfs", 0, ""}).err, 0);
  EXPECT_EQ(k.MountCount(child), child_before + 1);  // propagated
  // The other direction: a mount in a child's namespace reaches the host
  // unless the child made its tree private first.
  FakeKernel k2;
  pid_t rt = k2.RuntimePid();
  size_t host = k2.MountCount(rt);
  pid_t a = k2.Clone([&k2] { return k2.Mount({"tmpfs", "/mnt", "tmpfs", 0, ""}).err; },
                     CLONE_NEWNS | SIGCHLD).value;
  EXPECT_EQ(k2.Waitpid(a, 0).value, 0);
  EXPECT_EQ(k2.MountCount(rt), host + 1);  // leaked into the host
  pid_t b = k2.Clone(
      [&k2] {
        int e = k2.Mount({"", "/", "", MS_REC | MS_PRIVATE, ""}).err;
        return e ? e : k2.Mount({"tmpfs", "/opt", "tmpfs", 0, ""}).err;
      },
      CLONE_NEWNS | SIGCHLD).value;
  EXPECT_EQ(k2.Waitpid(b, 0).value, 0);
  EXPECT_EQ(k2.MountCount(rt), host + 1);
  EXPECT_EQ(k2.MountNamespaceCount(), 1u);  // the children's namespaces died
}

TEST(FakeKernelMounts, PivotRootRules) {
  Workspace w;
  FakeKernel& k = w.k;
  std::string m = w.kMerged;
  ASSERT_EQ(k.Mount(Overlay(m, w.kData)).err, 0);
  std::vector<int> errs;
  pid_t child = k.Clone(
      [&]() -> int {
        // Shared propagation (inherited from the host) refuses pivot_root.
        errs.push_back(k.Chdir(m).err);
        errs.push_back(k.PivotRoot(".", ".").err);
        errs.push_back(k.Mount({"", "/", "", MS_REC | MS_PRIVATE, ""}).err);
        // Not a mount point.
        errs.push_back(k.PivotRoot(m + "/etc", m + "/etc").err);
        // put_old outside new_root.
        errs.push_back(k.PivotRoot(m, "/run").err);
        // The current root.
        errs.push_back(k.PivotRoot("/", "/").err);
        // The crun sequence.
        errs.push_back(k.PivotRoot(".", ".").err);
        errs.push_back(k.Umount2(".", MNT_DETACH).err);
        errs.push_back(k.Chdir("/").err);
        return 0;
      },
      CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWPID | SIGCHLD).value;
  size_t host_mounts = k.MountCount(k.RuntimePid());
  auto st = k.Waitpid(child, 0);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(errs, (std::vector<int>{0, EINVAL, 0, EINVAL, EINVAL, EBUSY, 0, 0, 0}));
  EXPECT_EQ(k.MountCount(k.RuntimePid()), host_mounts);  // host untouched
}

TEST(FakeKernelMounts, PivotRootLeavesOnlyTheNewRoot) {
  Workspace w;
  FakeKernel& k = w.k;
  std::string m = w.kMerged;
  ASSERT_EQ(k.Mount(Overlay(m, w.kData)).err, 0);
  std::string info, hostname_file;
  std::vector<int> errs;
  pid_t child = k.Clone(
      [&]() -> int {
        errs.push_back(k.Mount({"", "/", "", MS_REC | MS_PRIVATE, ""}).err);
        errs.push_back(k.Mount({m, m, "", MS_BIND | MS_REC, ""}).err);
        errs.push_back(k.Chdir(m).err);
        errs.push_back(k.PivotRoot(".", ".").err);
        errs.push_back(k.Umount2(".", MNT_DETACH).err);
        errs.push_back(k.Chdir("/").err);
        errs.push_back(k.Mount({"proc", "/proc", "proc", 0, ""}).err);
        info = Read(k, "/proc/self/mountinfo");
        hostname_file = Read(k, "/etc/hostname");
        return 0;
      },
      CLONE_NEWNS | CLONE_NEWPID | SIGCHLD).value;
  ASSERT_EQ(k.Waitpid(child, 0).value, 0);
  EXPECT_EQ(errs, std::vector<int>(7, 0));
  EXPECT_EQ(hostname_file, "busybox\n");
  // Only the new root and its /proc remain.
  EXPECT_THAT(info, HasSubstr(" / / "));
  EXPECT_THAT(info, HasSubstr(" /proc "));
  EXPECT_THAT(info, Not(HasSubstr("/sys/fs/cgroup")));
  EXPECT_EQ(std::count(info.begin(), info.end(), '\n'), 2) << info;
}

// MS_MOVE: the mount moves with what is in it; not out of a shared parent,
// not under itself.
TEST(FakeKernelMounts, MoveRules) {
  FakeKernel shared;  // "/" shared, as on systemd hosts
  ASSERT_TRUE(shared.AddDir("/mnt/src").ok());
  ASSERT_TRUE(shared.AddDir("/mnt/dst").ok());
  ASSERT_EQ(shared.Mount({"tmpfs", "/mnt/src", "tmpfs", 0, ""}).err, 0);
  EXPECT_EQ(shared.Mount({"/mnt/src", "/mnt/dst", "", MS_MOVE, ""}).err, EINVAL);

  FakeKernel k(FakeKernelOptions{.host_root_shared = false});
  ASSERT_TRUE(k.AddDir("/mnt/src").ok());
  ASSERT_TRUE(k.AddDir("/mnt/dst").ok());
  ASSERT_EQ(k.Mount({"tmpfs", "/mnt/src", "tmpfs", 0, ""}).err, 0);
  ASSERT_TRUE(k.AddFile("/mnt/src/f", "moved").ok());
  ASSERT_TRUE(k.AddDir("/mnt/src/sub").ok());
  size_t before = k.MountCount(k.RuntimePid());
  EXPECT_EQ(k.Mount({"/mnt/src", "/mnt/src/sub", "", MS_MOVE, ""}).err, ELOOP);
  EXPECT_EQ(k.Mount({"/mnt", "/mnt/dst", "", MS_MOVE, ""}).err, EINVAL);  // not a mount
  ASSERT_EQ(k.Mount({"/mnt/src", "/mnt/dst", "", MS_MOVE, ""}).err, 0);
  EXPECT_EQ(Read(k, "/mnt/dst/f"), "moved");
  EXPECT_EQ(k.Lstat("/mnt/src/f").err, ENOENT);
  EXPECT_EQ(k.MountCount(k.RuntimePid()), before);
  EXPECT_EQ(k.Umount2("/mnt/src", 0).err, EINVAL);
  EXPECT_EQ(k.Umount2("/mnt/dst", 0).err, 0);
}

// A mount a child makes in its private namespace is gone with the
// namespace; the host never sees it.
TEST(FakeKernelMounts, PrivateNamespaceDiesWithItsLastProcess) {
  FakeKernel k;
  pid_t rt = k.RuntimePid();
  const std::string host_info = k.Mountinfo(rt);
  size_t seen = 0;
  int st = fktest::RunChild(
      k,
      [&] {
        int e = k.Mount({"", "/", "", MS_REC | MS_PRIVATE, ""}).err;
        if (!e) e = k.Mount({"tmpfs", "/mnt", "tmpfs", 0, ""}).err;
        seen = k.MountCount(k.CurrentPid());
        return e;
      },
      CLONE_NEWNS);
  EXPECT_EQ(st, 0);
  EXPECT_EQ(seen, k.MountCount(rt) + 1);
  EXPECT_EQ(k.Mountinfo(rt), host_info);
  EXPECT_EQ(k.MountNamespaceCount(), 1u);
}

}  // namespace
}  // namespace faultline
