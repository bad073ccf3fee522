// FakeKernel vfs layer (fakekernel/vfs.cc): the tree, path resolution and
// the file and directory ops on disk filesystems; st_dev and statfs magic
// per superblock.
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fakekernel/fake_kernel.h"
#include "tests/support/fake_kernel_helpers.h"

namespace faultline {
namespace {

using fktest::Names;
using fktest::Read;
using ::testing::ElementsAre;

TEST(FakeKernelTree, FilesDirsSymlinksAndErrors) {
  FakeKernel k;
  EXPECT_EQ(k.Mkdir("/a", 0755).err, 0);
  EXPECT_EQ(k.Mkdir("/a", 0755).err, EEXIST);
  EXPECT_EQ(k.Mkdir("/nope/b", 0755).err, ENOENT);
  ASSERT_TRUE(k.AddFile("/a/f", "hello").ok());
  EXPECT_EQ(k.Mkdir("/a/f/x", 0755).err, ENOTDIR);
  EXPECT_EQ(Read(k, "/a/f"), "hello");
  EXPECT_EQ(k.Rmdir("/a").err, ENOTEMPTY);
  EXPECT_EQ(k.Rmdir("/a/f").err, ENOTDIR);
  EXPECT_EQ(k.Unlink("/a").err, EISDIR);
  EXPECT_EQ(k.Open("/a", O_WRONLY, 0).err, EISDIR);
  EXPECT_EQ(k.Open("/a/f", O_RDONLY | O_DIRECTORY, 0).err, ENOTDIR);
  EXPECT_EQ(k.Open("/a/f", O_CREAT | O_EXCL | O_WRONLY, 0644).err, EEXIST);
  EXPECT_EQ(k.Close(999).err, EBADF);
  // Symlinks: followed in the middle, not by Lstat at the end.
  ASSERT_TRUE(k.Symlink("/a", "/link").ok());
  EXPECT_EQ(Read(k, "/link/f"), "hello");
  auto st = k.Lstat("/link");
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(S_ISLNK(st.value.mode));
  EXPECT_EQ(k.Readlink("/link").value, "/a");
  ASSERT_TRUE(k.Symlink("../a/f", "/a/rel").ok());
  EXPECT_EQ(Read(k, "/a/rel"), "hello");
  ASSERT_TRUE(k.Symlink("loop", "/loop").ok());
  EXPECT_EQ(k.Open("/loop", O_RDONLY, 0).err, ELOOP);
  // Hard links share the inode.
  ASSERT_TRUE(k.Link("/a/f", "/a/g").ok());
  EXPECT_EQ(k.Lstat("/a/g").value.ino, k.Lstat("/a/f").value.ino);
  EXPECT_EQ(k.Lstat("/a/f").value.nlink, 2u);
  // Relative paths resolve against the cwd.
  ASSERT_TRUE(k.Chdir("/a").ok());
  EXPECT_EQ(Read(k, "f"), "hello");
  EXPECT_EQ(Read(k, "../a/./g"), "hello");
  // Rename across mounts is EXDEV.
  EXPECT_EQ(k.Rename("/a/f", "/run/f").err, EXDEV);
  EXPECT_EQ(k.Rename("/a/f", "/a/h").err, 0);
  EXPECT_EQ(k.Lstat("/a/f").err, ENOENT);
  // O_APPEND and O_TRUNC.
  auto fd = k.Open("/a/h", O_WRONLY | O_APPEND, 0);
  ASSERT_TRUE(fd.ok());
  EXPECT_EQ(k.Write(fd.value, "!", 1).value, 1u);
  EXPECT_EQ(k.Close(fd.value).err, 0);
  EXPECT_EQ(Read(k, "/a/h"), "hello!");
  fd = k.Open("/a/h", O_WRONLY | O_TRUNC, 0);
  ASSERT_TRUE(fd.ok());
  EXPECT_EQ(k.Close(fd.value).err, 0);
  EXPECT_EQ(Read(k, "/a/h"), "");
}

TEST(FakeKernelTree, EachMountHasItsOwnDevAndMagic) {
  FakeKernel k;
  EXPECT_EQ(k.Statfs("/").value, fktest::kExt4Magic);
  EXPECT_EQ(k.Statfs("/run").value, fktest::kTmpfsMagic);
  EXPECT_EQ(k.Statfs("/proc").value, fktest::kProcMagic);
  EXPECT_EQ(k.Statfs("/sys/fs/cgroup").value, fktest::kTmpfsMagic);
  EXPECT_EQ(k.Statfs("/sys/fs/cgroup/memory").value, fktest::kCgroupMagic);
  EXPECT_EQ(k.Statfs("/sys/fs/cgroup/unified").value, fktest::kCgroup2Magic);
  EXPECT_NE(k.Lstat("/run").value.dev, k.Lstat("/").value.dev);
  EXPECT_NE(k.Lstat("/run").value.dev, k.Lstat("/dev/shm").value.dev);
  FakeKernel v2(FakeKernelOptions{.cgroups = FakeCgroupMode::kV2Unified});
  EXPECT_EQ(v2.Statfs("/sys/fs/cgroup").value, fktest::kCgroup2Magic);
  EXPECT_EQ(Read(v2, "/sys/fs/cgroup/cgroup.controllers"),
            "cpuset cpu io memory pids\n");
}

// rename(2)'s rules on one filesystem.
TEST(FakeKernelTree, RenameRules) {
  FakeKernel k;
  ASSERT_TRUE(k.AddDir("/r/a/b").ok());
  ASSERT_TRUE(k.AddDir("/r/empty").ok());
  ASSERT_TRUE(k.AddFile("/r/full/x", "x").ok());
  ASSERT_TRUE(k.AddFile("/r/f", "f").ok());
  EXPECT_EQ(k.Rename("/r/a", "/r/a/b/c").err, EINVAL);  // into itself
  EXPECT_EQ(k.Rename("/r/a", "/r/full").err, ENOTEMPTY);
  EXPECT_EQ(k.Rename("/r/a", "/r/f").err, ENOTDIR);
  EXPECT_EQ(k.Rename("/r/f", "/r/a").err, EISDIR);
  EXPECT_EQ(k.Rename("/r/missing", "/r/z").err, ENOENT);
  // Onto another name of the same inode: nothing happens.
  ASSERT_TRUE(k.Link("/r/f", "/r/f2").ok());
  EXPECT_EQ(k.Rename("/r/f", "/r/f2").err, 0);
  EXPECT_EQ(k.Lstat("/r/f").err, 0);
  EXPECT_EQ(k.Lstat("/r/f2").err, 0);
  // A dir over an empty dir replaces it; the moved dir keeps its content.
  EXPECT_EQ(k.Rename("/r/a", "/r/empty").err, 0);
  EXPECT_EQ(k.Lstat("/r/a").err, ENOENT);
  EXPECT_THAT(Names(k, "/r/empty"), ElementsAre("b"));
  // A file over a file replaces it.
  EXPECT_EQ(k.Rename("/r/full/x", "/r/f2").err, 0);
  EXPECT_EQ(Read(k, "/r/f2"), "x");
  EXPECT_TRUE(Names(k, "/r/full").empty());
}

// Trailing slashes, "." and ".." as the kernel resolves them.
TEST(FakeKernelTree, TrailingSlashDotAndDotDot) {
  FakeKernel k;
  ASSERT_TRUE(k.AddFile("/t/f", "f").ok());
  EXPECT_EQ(k.Lstat("/t/f/").err, ENOTDIR);
  EXPECT_EQ(k.Open("/t/f/", O_RDONLY, 0).err, ENOTDIR);
  EXPECT_EQ(k.Open("/t/new/", O_CREAT | O_WRONLY, 0644).err, EISDIR);
  EXPECT_EQ(k.Mkdir("/t/d/", 0755).err, 0);
  EXPECT_EQ(k.Lstat("/..").value.ino, k.Lstat("/").value.ino);
  EXPECT_EQ(k.Lstat("/t/d/../f").value.ino, k.Lstat("/t/f").value.ino);
  EXPECT_EQ(k.Rmdir("/t/d/.").err, EINVAL);
  EXPECT_EQ(k.Rmdir("/t/d/..").err, ENOTEMPTY);
  EXPECT_EQ(k.Rmdir("/").err, EBUSY);
  // ".." at a mount root leaves the mount: /run is a tmpfs.
  EXPECT_EQ(k.Lstat("/run/..").value.ino, k.Lstat("/").value.ino);
  EXPECT_EQ(k.Lstat("/run/..").value.dev, k.Lstat("/").value.dev);
}

// Creating and removing below a symlinked dir follows the link (the parent
// path's last component is an intermediate one).
TEST(FakeKernelTree, ParentThroughASymlink) {
  FakeKernel k;
  ASSERT_TRUE(k.AddDir("/real").ok());
  ASSERT_TRUE(k.Symlink("/real", "/link").ok());
  EXPECT_EQ(k.Mkdir("/link/d", 0755).err, 0);
  EXPECT_TRUE(S_ISDIR(k.Lstat("/real/d").value.mode));
  auto fd = k.Open("/link/f", O_CREAT | O_WRONLY, 0644);
  ASSERT_TRUE(fd.ok());
  EXPECT_EQ(k.Close(fd.value).err, 0);
  EXPECT_EQ(k.Lstat("/real/f").err, 0);
  EXPECT_EQ(k.Rename("/link/f", "/link/g").err, 0);
  EXPECT_EQ(k.Unlink("/link/g").err, 0);
  EXPECT_EQ(k.Rmdir("/link/d").err, 0);
  EXPECT_TRUE(Names(k, "/real").empty());
  // The link itself is still the last component when it is last.
  EXPECT_EQ(k.Unlink("/link").err, 0);
  EXPECT_EQ(k.Lstat("/real").err, 0);
}

// At most 40 symlinks are followed in one resolution.
TEST(FakeKernelTree, FortySymlinksAndNoMore) {
  FakeKernel k;
  ASSERT_TRUE(k.AddFile("/s/target", "t").ok());
  // /s/l1 -> l2 -> ... -> l40 -> target: 40 links.
  for (int i = 1; i <= 40; ++i) {
    std::string to = i == 40 ? "target" : "l" + std::to_string(i + 1);
    ASSERT_TRUE(k.Symlink(to, "/s/l" + std::to_string(i)).ok());
  }
  EXPECT_EQ(Read(k, "/s/l1"), "t");
  ASSERT_TRUE(k.Symlink("l1", "/s/l0").ok());  // 41
  EXPECT_EQ(k.Open("/s/l0", O_RDONLY, 0).err, ELOOP);
  EXPECT_EQ(k.Lstat("/s/l0").err, 0);  // the last link is not followed
  EXPECT_EQ(k.Symlink("", "/s/empty").err, ENOENT);
}

// Modes (umask), owners, device nodes, hard-link rules.
TEST(FakeKernelTree, ModesOwnersNodesAndLinks) {
  FakeKernel k;
  ASSERT_EQ(k.Mkdir("/m", 0777).err, 0);
  EXPECT_EQ(k.Lstat("/m").value.mode, S_IFDIR | 0755u);  // umask 022
  EXPECT_EQ(k.Chmod("/m", 0700).err, 0);
  EXPECT_EQ(k.Lstat("/m").value.mode, S_IFDIR | 0700u);
  ASSERT_TRUE(k.AddFile("/m/f", "", 0644).ok());
  ASSERT_TRUE(k.Symlink("f", "/m/l").ok());
  EXPECT_EQ(k.Chmod("/m/l", 0600).err, 0);  // follows the link
  EXPECT_EQ(k.Lstat("/m/f").value.mode, S_IFREG | 0600u);
  EXPECT_EQ(k.Lchown("/m/f", 1000, 1001).err, 0);
  EXPECT_EQ(k.Lchown("/m/f", static_cast<uid_t>(-1), 5).err, 0);  // -1 keeps
  EXPECT_EQ(k.Lstat("/m/f").value.uid, 1000u);
  EXPECT_EQ(k.Lstat("/m/f").value.gid, 5u);
  EXPECT_EQ(k.Chmod("/m/missing", 0600).err, ENOENT);
  // Device nodes keep their number; fifos are fifos; no dirs by mknod.
  EXPECT_EQ(k.Mknod("/m/null", S_IFCHR | 0666, makedev(1, 3)).err, 0);
  EXPECT_EQ(k.Lstat("/m/null").value.rdev, makedev(1, 3));
  EXPECT_EQ(k.Mknod("/m/fifo", S_IFIFO | 0644, 0).err, 0);
  EXPECT_TRUE(S_ISFIFO(k.Lstat("/m/fifo").value.mode));
  EXPECT_EQ(k.Mknod("/m/dir", S_IFDIR | 0755, 0).err, EPERM);
  // Hard links: no dirs, no existing names.
  EXPECT_EQ(k.Link("/m", "/m2").err, EPERM);
  EXPECT_EQ(k.Link("/m/f", "/m/null").err, EEXIST);
  EXPECT_EQ(k.Link("/m/f", "/run/f").err, EXDEV);
}

}  // namespace
}  // namespace faultline
