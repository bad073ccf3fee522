// FakeKernel's power-loss model (FakeKernel::PowerLoss, Sync; tasks.cc):
// what the persistent disk keeps is what fsync (of the file, of the parent
// directory) or syncfs made durable; everything else is as booted.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fakekernel/fake_kernel.h"
#include "tests/support/fake_kernel_helpers.h"

namespace faultline {
namespace {

using fktest::Names;
using fktest::Read;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::Not;

// Creates path with content through the Sys calls (not seeding): nothing
// of it is durable until synced.
void Create(FakeKernel& k, const std::string& path, const std::string& content) {
  auto fd = k.Open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_TRUE(fd.ok()) << path;
  ASSERT_EQ(k.Write(fd.value, content.data(), content.size()).err, 0);
  ASSERT_EQ(k.Close(fd.value).err, 0);
}

int FsyncPath(FakeKernel& k, const std::string& path, int flags = O_RDONLY) {
  auto fd = k.Open(path, flags | O_CLOEXEC, 0);
  if (!fd.ok()) return fd.err;
  int err = k.Fsync(fd.value).err;
  EXPECT_EQ(k.Close(fd.value).err, 0);
  return err;
}

bool Exists(FakeKernel& k, const std::string& path) { return k.Lstat(path).ok(); }

TEST(FakeKernelPowerLoss, SeededFilesSurviveAndUnsyncedCreatesVanish) {
  FakeKernel k;
  ASSERT_TRUE(k.AddFile("/var/lib/x/seeded", "old").ok());
  ASSERT_EQ(k.Mkdir("/var/lib/x/new", 0755).err, 0);
  Create(k, "/var/lib/x/file", "data");
  // The probe sees them before the power loss.
  ASSERT_TRUE(Exists(k, "/var/lib/x/new"));
  ASSERT_EQ(Read(k, "/var/lib/x/file"), "data");
  k.PowerLoss();
  EXPECT_EQ(Read(k, "/var/lib/x/seeded"), "old");
  EXPECT_FALSE(Exists(k, "/var/lib/x/new"));
  EXPECT_FALSE(Exists(k, "/var/lib/x/file"));
  EXPECT_THAT(Names(k, "/var/lib/x"), ElementsAre("seeded"));
}

TEST(FakeKernelPowerLoss, AFileNeedsItsFsyncAndItsDirectorysFsync) {
  FakeKernel k;
  ASSERT_TRUE(k.AddDir("/d").ok());
  // Entry durable (the dir fsync'd), content not: an empty file.
  Create(k, "/d/a", "aaa");
  ASSERT_EQ(FsyncPath(k, "/d", O_RDONLY | O_DIRECTORY), 0);
  // Both: kept whole.
  Create(k, "/d/c", "ccc");
  ASSERT_EQ(FsyncPath(k, "/d/c", O_WRONLY), 0);
  ASSERT_EQ(FsyncPath(k, "/d", O_RDONLY | O_DIRECTORY), 0);
  // Content durable, entry not (made after the directory's last fsync): gone.
  Create(k, "/d/b", "bbb");
  ASSERT_EQ(FsyncPath(k, "/d/b", O_WRONLY), 0);
  // A later unsynced write to c reverts to its synced content.
  auto fd = k.Open("/d/c", O_WRONLY | O_APPEND, 0);
  ASSERT_TRUE(fd.ok());
  ASSERT_EQ(k.Write(fd.value, "more", 4).err, 0);
  ASSERT_EQ(k.Close(fd.value).err, 0);
  ASSERT_EQ(Read(k, "/d/c"), "cccmore");
  k.PowerLoss();
  EXPECT_THAT(Names(k, "/d"), ElementsAre("a", "c"));
  EXPECT_EQ(Read(k, "/d/a"), "");
  EXPECT_EQ(Read(k, "/d/c"), "ccc");
  EXPECT_EQ(k.Lstat("/d/c").value.nlink, 1u);
}

TEST(FakeKernelPowerLoss, UnsyncedRenamesAndUnlinksRevert) {
  FakeKernel k;
  ASSERT_TRUE(k.AddFile("/d/state.json", "v1").ok());
  ASSERT_TRUE(k.AddFile("/d/gone", "g").ok());
  // The atomic replace without the directory's fsync: the rename reverts,
  // the temporary file's entry was never durable.
  Create(k, "/d/state.json.tmp", "v2");
  ASSERT_EQ(FsyncPath(k, "/d/state.json.tmp", O_WRONLY), 0);
  ASSERT_EQ(k.Rename("/d/state.json.tmp", "/d/state.json").err, 0);
  ASSERT_EQ(k.Unlink("/d/gone").err, 0);
  ASSERT_EQ(Read(k, "/d/state.json"), "v2");
  FakeKernel lost = k;
  lost.PowerLoss();
  EXPECT_THAT(Names(lost, "/d"), ElementsAre("gone", "state.json"));
  EXPECT_EQ(Read(lost, "/d/state.json"), "v1");
  EXPECT_EQ(Read(lost, "/d/gone"), "g");
  // With the directory's fsync the replace and the unlink are durable.
  ASSERT_EQ(FsyncPath(k, "/d", O_RDONLY | O_DIRECTORY), 0);
  k.PowerLoss();
  EXPECT_THAT(Names(k, "/d"), ElementsAre("state.json"));
  EXPECT_EQ(Read(k, "/d/state.json"), "v2");
}

TEST(FakeKernelPowerLoss, RenamedDirectoriesMoveBackWithTheirContent) {
  FakeKernel k;
  ASSERT_TRUE(k.AddFile("/a/sub/f", "x").ok());
  ASSERT_TRUE(k.AddDir("/b").ok());
  ASSERT_EQ(k.Rename("/a/sub", "/b/sub").err, 0);
  ASSERT_EQ(FsyncPath(k, "/b", O_RDONLY | O_DIRECTORY), 0);  // not /a
  k.PowerLoss();
  // /a's entry is back and /b's durable entry names the same directory:
  // the model keeps both (the worst case: a journal would keep one).
  EXPECT_EQ(Read(k, "/a/sub/f"), "x");
  EXPECT_EQ(Read(k, "/b/sub/f"), "x");
  // Its parent is one of the two (".." resolves).
  EXPECT_TRUE(k.Lstat("/a/sub/..").ok());
}

TEST(FakeKernelPowerLoss, SyncfsAndSyncMakeEverythingDurable) {
  FakeKernel k;
  ASSERT_TRUE(k.AddDir("/d").ok());
  Create(k, "/d/a", "a");
  auto fd = k.Open("/d", O_RDONLY | O_DIRECTORY, 0);
  ASSERT_TRUE(fd.ok());
  ASSERT_EQ(k.Syncfs(fd.value).err, 0);
  ASSERT_EQ(k.Close(fd.value).err, 0);
  Create(k, "/d/b", "b");
  FakeKernel synced = k;
  synced.Sync();
  k.PowerLoss();
  synced.PowerLoss();
  EXPECT_THAT(Names(k, "/d"), ElementsAre("a"));
  EXPECT_EQ(Read(k, "/d/a"), "a");
  EXPECT_THAT(Names(synced, "/d"), ElementsAre("a", "b"));
}

TEST(FakeKernelPowerLoss, TheRestIsAsBooted) {
  FakeKernel k;
  const size_t boot_mounts = k.MountCount(k.RuntimePid());
  const std::string boot_mountinfo = k.Mountinfo(k.RuntimePid());
  // tmpfs content, a mount, a cgroup, a process, an fd, a lock.
  Create(k, "/run/pidfile", "1");
  ASSERT_TRUE(k.AddDir("/mnt/t").ok());
  ASSERT_EQ(k.Mount({"tmpfs", "/mnt/t", "tmpfs", 0, ""}).err, 0);
  ASSERT_EQ(k.Mkdir("/sys/fs/cgroup/memory/c1", 0755).err, 0);
  pid_t other = k.StartHostProcess({"sleep", "1000"});
  auto fd = k.Open("/etc/passwd", O_RDONLY, 0);
  ASSERT_TRUE(fd.ok());
  ASSERT_EQ(k.Flock(fd.value, LOCK_EX).err, 0);
  ASSERT_TRUE(k.ProcessExists(other));
  ASSERT_GT(k.MountCount(k.RuntimePid()), boot_mounts);
  ASSERT_TRUE(Exists(k, "/sys/fs/cgroup/memory/c1"));
  ASSERT_TRUE(Exists(k, "/run/pidfile"));
  k.PowerLoss();
  EXPECT_EQ(k.CurrentPid(), k.RuntimePid());
  EXPECT_FALSE(k.ProcessExists(other));
  EXPECT_EQ(k.Mountinfo(k.RuntimePid()), boot_mountinfo);
  EXPECT_FALSE(Exists(k, "/run/pidfile"));
  EXPECT_FALSE(Exists(k, "/sys/fs/cgroup/memory/c1"));
  EXPECT_TRUE(Exists(k, "/sys/fs/cgroup/memory/cgroup.procs"));
  EXPECT_TRUE(k.FlockHolders("/etc/passwd").empty());
  EXPECT_TRUE(Exists(k, "/mnt/t"));  // the mount point was seeded
  EXPECT_EQ(k.OpenFdCount(k.RuntimePid()), 3u);  // the console
  // The kernel works after the reboot.
  Create(k, "/mnt/t/f", "f");
  EXPECT_EQ(Read(k, "/mnt/t/f"), "f");
}

// The other bound: the journal committed every directory change; file
// content not fsync'd is still lost (a new file is empty).
TEST(FakeKernelPowerLoss, KeepMetadataKeepsEntriesAndLosesUnsyncedContent) {
  FakeKernel k;
  ASSERT_TRUE(k.AddFile("/d/state.json", "v1").ok());
  ASSERT_TRUE(k.AddFile("/d/gone", "g").ok());
  ASSERT_TRUE(k.AddFile("/d/kept", "k").ok());
  ASSERT_EQ(k.Mkdir("/d/sub", 0755).err, 0);
  Create(k, "/d/sub/new", "unsynced");
  Create(k, "/d/state.json.tmp", "v2");
  ASSERT_EQ(FsyncPath(k, "/d/state.json.tmp", O_WRONLY), 0);
  ASSERT_EQ(k.Rename("/d/state.json.tmp", "/d/state.json").err, 0);
  ASSERT_EQ(k.Unlink("/d/gone").err, 0);
  auto fd = k.Open("/d/kept", O_WRONLY | O_TRUNC, 0);
  ASSERT_TRUE(fd.ok());
  ASSERT_EQ(k.Write(fd.value, "changed", 7).err, 0);
  ASSERT_EQ(k.Close(fd.value).err, 0);
  k.PowerLoss(/*keep_metadata=*/true);
  EXPECT_THAT(Names(k, "/d"), ElementsAre("kept", "state.json", "sub"));
  EXPECT_EQ(Read(k, "/d/state.json"), "v2");
  EXPECT_EQ(Read(k, "/d/kept"), "k");
  EXPECT_THAT(Names(k, "/d/sub"), ElementsAre("new"));
  EXPECT_EQ(Read(k, "/d/sub/new"), "");
}

TEST(FakeKernelPowerLoss, OverlayCopyUpNeedsTheUpperSynced) {
  fktest::Workspace w;
  FakeKernel& k = w.k;
  ASSERT_EQ(k.Mount(fktest::Overlay("/var/lib/mydocker/c1/merged",
                                    "lowerdir=/var/lib/mydocker/images/busybox/rootfs,"
                                    "upperdir=/var/lib/mydocker/c1/upper,"
                                    "workdir=/var/lib/mydocker/c1/work"))
                .err,
            0);
  Create(k, "/var/lib/mydocker/c1/merged/etc/new", "n");
  ASSERT_THAT(Names(k, "/var/lib/mydocker/c1/upper"), Contains("etc"));
  k.PowerLoss();
  EXPECT_THAT(Names(k, "/var/lib/mydocker/c1/upper"), Not(Contains("etc")));
  EXPECT_EQ(Read(k, "/var/lib/mydocker/images/busybox/rootfs/etc/hostname"), "busybox\n");
}

}  // namespace
}  // namespace faultline
