// FakeKernel overlay layer (fakekernel/overlay.cc): the merged view, copy-up,
// whiteouts, opaque dirs, and overlay's mount options.
#include <errno.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fakekernel/fake_kernel.h"
#include "runtime/sys/fs_util.h"
#include "tests/support/fake_kernel_helpers.h"

namespace faultline {
namespace {

using fktest::Names;
using fktest::Overlay;
using fktest::Read;
using fktest::Workspace;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::Not;

TEST(FakeKernelOverlay, MountWriteUmount) {
  Workspace w;
  FakeKernel& k = w.k;
  ASSERT_EQ(k.Mount(Overlay(w.kMerged, w.kData)).err, 0);
  std::string m = w.kMerged;
  EXPECT_EQ(k.Statfs(m).value, fktest::kOverlayMagic);
  // Reads see the lower layer.
  EXPECT_EQ(Read(k, m + "/etc/hostname"), "busybox\n");
  EXPECT_THAT(Names(k, m + "/bin"), Contains("sh"));
  // Writes land in upper; the lower layer is untouched.
  ASSERT_TRUE(mydocker::WriteFile(k, m + "/etc/hostname", "c1\n", 0644, "t").ok());
  EXPECT_EQ(Read(k, m + "/etc/hostname"), "c1\n");
  EXPECT_EQ(Read(k, "/var/lib/mydocker/c1/upper/etc/hostname"), "c1\n");
  EXPECT_EQ(Read(k, "/var/lib/mydocker/images/busybox/rootfs/etc/hostname"), "busybox\n");
  // New files and dirs go to upper.
  ASSERT_EQ(k.Mkdir(m + "/data", 0755).err, 0);
  EXPECT_EQ(k.Lstat("/var/lib/mydocker/c1/upper/data").err, 0);
  // Removing a lower file leaves a whiteout and hides it.
  ASSERT_EQ(k.Unlink(m + "/etc/passwd").err, 0);
  EXPECT_EQ(k.Lstat(m + "/etc/passwd").err, ENOENT);
  EXPECT_THAT(Names(k, m + "/etc"), Not(Contains("passwd")));
  auto wh = k.Lstat("/var/lib/mydocker/c1/upper/etc/passwd");
  ASSERT_TRUE(wh.ok());
  EXPECT_TRUE(S_ISCHR(wh.value.mode));
  EXPECT_EQ(wh.value.rdev, 0u);
  // Renaming a lower-only dir needs redirect_dir: EXDEV.
  EXPECT_EQ(k.Rename(m + "/usr", m + "/usr2").err, EXDEV);
  // A dir in use (cwd) makes umount EBUSY; leaving it frees it.
  ASSERT_EQ(k.Chdir(m + "/bin").err, 0);
  EXPECT_EQ(k.Umount2(m, 0).err, EBUSY);
  ASSERT_EQ(k.Chdir("/").err, 0);
  EXPECT_EQ(k.Rmdir(m).err, EBUSY);
  ASSERT_EQ(k.Umount2(m, 0).err, 0);
  EXPECT_EQ(k.Umount2(m, 0).err, EINVAL);  // no longer a mount point
  EXPECT_TRUE(Names(k, m).empty());
  EXPECT_EQ(k.Rmdir(m).err, 0);
  // The layer keeps what was written.
  EXPECT_EQ(Read(k, "/var/lib/mydocker/c1/upper/etc/hostname"), "c1\n");
}

TEST(FakeKernelOverlay, BadOptionsFailLikeTheKernel) {
  Workspace w;
  FakeKernel& k = w.k;
  EXPECT_EQ(k.Mount(Overlay(w.kMerged, "lowerdir=/missing,upperdir=/var/lib/mydocker/c1/upper,"
                                       "workdir=/var/lib/mydocker/c1/work")).err,
            ENOENT);
  ASSERT_TRUE(k.AddFile("/var/lib/mydocker/file", "x").ok());
  EXPECT_EQ(k.Mount(Overlay(w.kMerged, "lowerdir=/var/lib/mydocker/file,upperdir=/var/lib/"
                                       "mydocker/c1/upper,workdir=/var/lib/mydocker/c1/work")).err,
            ENOTDIR);
  ASSERT_TRUE(k.AddDir("/run/work").ok());
  EXPECT_EQ(k.Mount(Overlay(w.kMerged, "lowerdir=/var/lib/mydocker/images/busybox/rootfs,"
                                       "upperdir=/var/lib/mydocker/c1/upper,workdir=/run/work")).err,
            EINVAL);  // upper and work on different filesystems
  EXPECT_EQ(k.Mount(Overlay(w.kMerged, "upperdir=/var/lib/mydocker/c1/upper,"
                                       "workdir=/var/lib/mydocker/c1/work")).err,
            EINVAL);  // no lower
  EXPECT_EQ(k.Mount(Overlay("/missing", w.kData)).err, ENOENT);
  EXPECT_EQ(k.Mount({"x", w.kMerged, "nosuchfs", 0, ""}).err, ENODEV);
}

// A small overlay of our own: lower /l {d/x, e/, f}, upper /u, work /w.
struct SmallOverlay {
  FakeKernel k;
  const std::string m = "/m";
  SmallOverlay() {
    EXPECT_TRUE(k.AddFile("/l/d/x", "x").ok());
    EXPECT_TRUE(k.AddDir("/l/e").ok());
    EXPECT_TRUE(k.AddFile("/l/f", "lower f", 0644).ok());
    for (const char* d : {"/u", "/w", "/m"}) EXPECT_TRUE(k.AddDir(d).ok());
    EXPECT_EQ(k.Mount(Overlay(m, "lowerdir=/l,upperdir=/u,workdir=/w")).err, 0);
  }
};

// rmdir sees only whiteouts as empty; a dir made again over a whiteout is
// opaque and hides what the lower layer still has.
TEST(FakeKernelOverlay, WhiteoutsAndOpaqueDirs) {
  SmallOverlay o;
  FakeKernel& k = o.k;
  EXPECT_EQ(k.Rmdir(o.m + "/d").err, ENOTEMPTY);
  ASSERT_EQ(k.Unlink(o.m + "/d/x").err, 0);
  EXPECT_TRUE(Names(k, o.m + "/d").empty());
  EXPECT_EQ(k.Rmdir(o.m + "/d").err, 0);
  EXPECT_THAT(Names(k, o.m), ElementsAre("e", "f"));
  auto wh = k.Lstat("/u/d");
  ASSERT_TRUE(wh.ok());
  EXPECT_TRUE(S_ISCHR(wh.value.mode));
  EXPECT_EQ(wh.value.rdev, 0u);
  ASSERT_EQ(k.Mkdir(o.m + "/d", 0755).err, 0);
  EXPECT_TRUE(Names(k, o.m + "/d").empty());  // lower d/x stays hidden
  EXPECT_EQ(Read(k, "/l/d/x"), "x");           // and untouched
  EXPECT_TRUE(S_ISDIR(k.Lstat("/u/d").value.mode));
  // A lower-only empty dir is removed with a whiteout too.
  EXPECT_EQ(k.Rmdir(o.m + "/e").err, 0);
  EXPECT_EQ(k.Lstat(o.m + "/e").err, ENOENT);
  EXPECT_EQ(k.Lstat("/l/e").err, 0);
}

// Attribute changes, hard links and renames copy the file up first.
TEST(FakeKernelOverlay, CopyUpOnChmodLinkAndRename) {
  SmallOverlay o;
  FakeKernel& k = o.k;
  EXPECT_EQ(k.Lstat("/u/f").err, ENOENT);
  ASSERT_EQ(k.Chmod(o.m + "/f", 0600).err, 0);
  EXPECT_EQ(k.Lstat("/u/f").value.mode, S_IFREG | 0600u);
  EXPECT_EQ(Read(k, "/u/f"), "lower f");
  EXPECT_EQ(k.Lstat("/l/f").value.mode, S_IFREG | 0644u);
  ASSERT_EQ(k.Link(o.m + "/f", o.m + "/g").err, 0);
  EXPECT_EQ(k.Lstat("/u/g").value.ino, k.Lstat("/u/f").value.ino);
  // Renaming a lower file: copied up, the old name whited out.
  ASSERT_EQ(k.Rename(o.m + "/d/x", o.m + "/d/y").err, 0);
  EXPECT_EQ(k.Lstat(o.m + "/d/x").err, ENOENT);
  EXPECT_EQ(Read(k, o.m + "/d/y"), "x");
  EXPECT_TRUE(S_ISCHR(k.Lstat("/u/d/x").value.mode));
  EXPECT_EQ(Read(k, "/l/d/x"), "x");
  // A lower dir cannot move (no redirect_dir); an upper-only one can.
  EXPECT_EQ(k.Rename(o.m + "/d", o.m + "/d2").err, EXDEV);
  ASSERT_EQ(k.Mkdir(o.m + "/new", 0755).err, 0);
  EXPECT_EQ(k.Rename(o.m + "/new", o.m + "/new2").err, 0);
  EXPECT_THAT(Names(k, o.m), Contains("new2"));
  EXPECT_THAT(Names(k, o.m), Not(Contains("new")));
}

// Without upperdir and workdir the overlay is read-only.
TEST(FakeKernelOverlay, LowerOnlyIsReadOnly) {
  FakeKernel k;
  ASSERT_TRUE(k.AddFile("/l1/a", "1").ok());
  ASSERT_TRUE(k.AddFile("/l2/a", "2").ok());
  ASSERT_TRUE(k.AddFile("/l2/b", "b").ok());
  ASSERT_TRUE(k.AddDir("/m").ok());
  ASSERT_EQ(k.Mount(Overlay("/m", "lowerdir=/l1:/l2")).err, 0);
  EXPECT_EQ(Read(k, "/m/a"), "1");  // the leftmost lower wins
  EXPECT_EQ(Read(k, "/m/b"), "b");
  EXPECT_THAT(Names(k, "/m"), ElementsAre("a", "b"));
  EXPECT_EQ(k.Mkdir("/m/x", 0755).err, EROFS);
  EXPECT_EQ(k.Unlink("/m/a").err, EROFS);
  EXPECT_EQ(k.Open("/m/a", O_WRONLY, 0).err, EROFS);
}

}  // namespace
}  // namespace faultline
