// FakeKernel: the kernel rules the runtime depends on, checked as mydocker
// would meet them (overlay workspace, EBUSY, pivot_root, clone/exec,
// cgroups, /proc parsed by libmount).
#include "fakekernel/fake_kernel.h"

#include <errno.h>
#include <fcntl.h>
#include <libmount/libmount.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <time.h>

#include <chrono>
#include <cstdio>

#include <spdlog/spdlog.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "faults/fault_injecting_sys.h"
#include "runtime/container/runtime.h"
#include "runtime/sys/fs_util.h"

namespace faultline {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr int64_t kOverlayMagic = 0x794c7630;
constexpr int64_t kTmpfsMagic = 0x01021994;
constexpr int64_t kCgroupMagic = 0x27e0eb;
constexpr int64_t kCgroup2Magic = 0x63677270;
constexpr int64_t kProcMagic = 0x9fa0;
constexpr int64_t kExt4Magic = 0xEF53;

std::string Read(FakeKernel& k, const std::string& path) {
  auto r = k.ReadWholeFile(path);
  EXPECT_TRUE(r.ok()) << path << ": " << strerror(r.err);
  return r.value;
}
int Write(FakeKernel& k, const std::string& path, const std::string& text) {
  auto fd = k.Open(path, O_WRONLY | O_CLOEXEC, 0);
  if (!fd.ok()) return fd.err;
  auto w = k.Write(fd.value, text.data(), text.size());
  k.Close(fd.value);
  return w.err;
}
std::vector<std::string> Names(FakeKernel& k, const std::string& path) {
  std::vector<std::string> out;
  auto r = k.ReadDir(path);
  EXPECT_TRUE(r.ok()) << path << ": " << strerror(r.err);
  for (auto& e : r.value) out.push_back(e.name);
  return out;
}
mydocker::MountArgs Overlay(const std::string& target, const std::string& data) {
  return mydocker::MountArgs{"overlay", target, "overlay", 0, data};
}

// A workspace like mydocker's: image layer, upper, work, merged.
struct Workspace {
  FakeKernel k;
  Workspace() {
    EXPECT_TRUE(k.BuildBusyboxImage("/var/lib/mydocker/images/busybox/rootfs").ok());
    for (const char* d : {"/var/lib/mydocker/c1/upper", "/var/lib/mydocker/c1/work",
                          "/var/lib/mydocker/c1/merged"})
      EXPECT_TRUE(k.AddDir(d).ok());
  }
  static constexpr const char* kData =
      "lowerdir=/var/lib/mydocker/images/busybox/rootfs,"
      "upperdir=/var/lib/mydocker/c1/upper,workdir=/var/lib/mydocker/c1/work";
  static constexpr const char* kMerged = "/var/lib/mydocker/c1/merged";
};

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
  k.Write(fd.value, "!", 1);
  k.Close(fd.value);
  EXPECT_EQ(Read(k, "/a/h"), "hello!");
  fd = k.Open("/a/h", O_WRONLY | O_TRUNC, 0);
  k.Close(fd.value);
  EXPECT_EQ(Read(k, "/a/h"), "");
}

TEST(FakeKernelTree, EachMountHasItsOwnDevAndMagic) {
  FakeKernel k;
  EXPECT_EQ(k.Statfs("/").value, kExt4Magic);
  EXPECT_EQ(k.Statfs("/run").value, kTmpfsMagic);
  EXPECT_EQ(k.Statfs("/proc").value, kProcMagic);
  EXPECT_EQ(k.Statfs("/sys/fs/cgroup").value, kTmpfsMagic);
  EXPECT_EQ(k.Statfs("/sys/fs/cgroup/memory").value, kCgroupMagic);
  EXPECT_EQ(k.Statfs("/sys/fs/cgroup/unified").value, kCgroup2Magic);
  EXPECT_NE(k.Lstat("/run").value.dev, k.Lstat("/").value.dev);
  EXPECT_NE(k.Lstat("/run").value.dev, k.Lstat("/dev/shm").value.dev);
  FakeKernel v2(FakeKernelOptions{.cgroups = FakeCgroupMode::kV2Unified});
  EXPECT_EQ(v2.Statfs("/sys/fs/cgroup").value, kCgroup2Magic);
  EXPECT_EQ(Read(v2, "/sys/fs/cgroup/cgroup.controllers"), "cpuset cpu io memory pids\n");
}

TEST(FakeKernelOverlay, MountWriteUmount) {
  Workspace w;
  FakeKernel& k = w.k;
  ASSERT_EQ(k.Mount(Overlay(w.kMerged, w.kData)).err, 0);
  std::string m = w.kMerged;
  EXPECT_EQ(k.Statfs(m).value, kOverlayMagic);
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
  k.Close(mfd.value);
  k.Close(fs.value);
  EXPECT_EQ(Read(k, std::string(w.kMerged) + "/etc/hostname"), "busybox\n");
  EXPECT_EQ(k.Umount2(w.kMerged, 0).err, 0);
  // A mount fd closed without move_mount leaves nothing behind.
  size_t total = k.TotalMountCount();
  fs = k.Fsopen("tmpfs", 0);
  ASSERT_EQ(k.Fsconfig({fs.value, FSCONFIG_CMD_CREATE, "", ""}).err, 0);
  mfd = k.Fsmount(fs.value, 0, 0);
  EXPECT_EQ(k.TotalMountCount(), total + 1);
  k.Close(mfd.value);
  k.Close(fs.value);
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
  k.Close(fd.value);
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
  EXPECT_EQ(k.Statfs("/mnt/dev/pts").value, 0x1cd1);
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
  pid_t child = k.Clone(
      [&]() -> int {
        k.Mount({"", "/", "", MS_REC | MS_PRIVATE, ""});
        k.Mount({m, m, "", MS_BIND | MS_REC, ""});
        k.Chdir(m);
        k.PivotRoot(".", ".");
        k.Umount2(".", MNT_DETACH);
        k.Chdir("/");
        k.Mount({"proc", "/proc", "proc", 0, ""});
        info = Read(k, "/proc/self/mountinfo");
        hostname_file = Read(k, "/etc/hostname");
        return 0;
      },
      CLONE_NEWNS | CLONE_NEWPID | SIGCHLD).value;
  ASSERT_EQ(k.Waitpid(child, 0).value, 0);
  EXPECT_EQ(hostname_file, "busybox\n");
  // Only the new root and its /proc remain.
  EXPECT_THAT(info, HasSubstr(" / / "));
  EXPECT_THAT(info, HasSubstr(" /proc "));
  EXPECT_THAT(info, Not(HasSubstr("/sys/fs/cgroup")));
  EXPECT_EQ(std::count(info.begin(), info.end(), '\n'), 2) << info;
}

TEST(FakeKernelProcesses, CloneRunsWhenTheParentBlocksOnAPipe) {
  FakeKernel k;
  ASSERT_TRUE(k.BuildBusyboxImage("/img").ok());
  auto p = k.Pipe(O_CLOEXEC);
  ASSERT_TRUE(p.ok());
  std::vector<pid_t> seen;
  std::string path = "/img/bin/hostname";
  static char* const argv[] = {const_cast<char*>("hostname"), nullptr};
  static char* const envp[] = {nullptr};
  pid_t child = k.Clone(
      [&]() -> int {
        seen.push_back(k.CurrentPid());
        k.Sethostname("c1");
        k.Dup2(p.value.write_fd, 1);
        k.Execve(path.c_str(), argv, envp);
        return 127;  // not reached
      },
      CLONE_NEWUTS | SIGCHLD).value;
  EXPECT_TRUE(seen.empty());  // deferred
  EXPECT_TRUE(k.ProcessRunnable(child));
  ASSERT_EQ(k.Close(p.value.write_fd).err, 0);
  char buf[64];
  auto r = k.Read(p.value.read_fd, buf, sizeof buf);  // runs the child
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(std::string(buf, r.value), "c1\n");
  EXPECT_EQ(seen, std::vector<pid_t>{child});
  EXPECT_EQ(k.Read(p.value.read_fd, buf, sizeof buf).value, 0u);  // EOF
  auto st = k.Waitpid(child, 0);
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(WIFEXITED(st.value));
  EXPECT_EQ(WEXITSTATUS(st.value), 0);
  EXPECT_EQ(k.Hostname(k.RuntimePid()), "faultline-host");
  EXPECT_EQ(k.Waitpid(child, 0).err, ECHILD);
  k.Close(p.value.read_fd);
}

TEST(FakeKernelProcesses, ExecveErrorsAndExitCodes) {
  FakeKernel k;
  ASSERT_TRUE(k.BuildBusyboxImage("/img").ok());
  ASSERT_TRUE(k.AddFile("/img/noexec", "x", 0644).ok());
  auto run = [&k](std::vector<std::string> args, std::string path) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int exec_err = 0;
    pid_t c = k.Clone(
        [&]() -> int {
          exec_err = k.Execve(path.c_str(), argv.data(), nullptr).err;
          return 100 + exec_err;
        },
        SIGCHLD).value;
    int st = k.Waitpid(c, 0).value;
    return std::make_pair(exec_err, st);
  };
  EXPECT_EQ(run({"true"}, "/img/bin/true"), std::make_pair(0, 0));
  EXPECT_EQ(run({"false"}, "/img/bin/false").second, 1 << 8);
  EXPECT_EQ(run({"sh", "-c", "exit 7"}, "/img/bin/sh").second, 7 << 8);
  EXPECT_EQ(run({"x"}, "/img/missing"), std::make_pair(ENOENT, (100 + ENOENT) << 8));
  EXPECT_EQ(run({"x"}, "/img/noexec").first, EACCES);
  EXPECT_EQ(run({"x"}, "/img/bin").first, EACCES);
}

TEST(FakeKernelProcesses, CloexecFdsCloseOnExecAndHostnameNeedsUts) {
  FakeKernel k;
  EXPECT_EQ(k.Sethostname("x").err, EPERM);
  auto keep = k.Open("/etc/passwd", O_RDONLY, 0);
  auto drop = k.Open("/etc/passwd", O_RDONLY | O_CLOEXEC, 0);
  size_t fds_in_exec = 0;
  k.SetExecHook([&](FakeKernel& kk, const FakeExec& e) { fds_in_exec = kk.OpenFdCount(e.pid); });
  static char* const argv[] = {const_cast<char*>("true"), nullptr};
  pid_t c = k.Clone([&] { return k.Execve("/bin/true", argv, nullptr).err; }, SIGCHLD).value;
  EXPECT_EQ(k.OpenFdCount(c), 5u);  // 0,1,2 + both
  ASSERT_EQ(k.Waitpid(c, 0).value, 0);
  EXPECT_EQ(fds_in_exec, 4u);
  ASSERT_EQ(k.execs().size(), 1u);
  EXPECT_EQ(k.execs()[0].path, "/bin/busybox");
  k.Close(keep.value);
  k.Close(drop.value);
}

TEST(FakeKernelProcesses, KillAndDeadlock) {
  FakeKernel k;
  bool ran = false;
  pid_t c = k.Clone([&] { ran = true; return 0; }, SIGCHLD).value;
  ASSERT_EQ(k.Kill(c, SIGKILL).err, 0);
  auto st = k.Waitpid(c, 0);
  EXPECT_TRUE(WIFSIGNALED(st.value));
  EXPECT_EQ(WTERMSIG(st.value), SIGKILL);
  EXPECT_FALSE(ran);
  EXPECT_EQ(k.Kill(c, SIGKILL).err, ESRCH);
  // A child reading a pipe whose only writer is its blocked parent: EDEADLK.
  auto p = k.Pipe(0);
  int child_read = 0;
  pid_t c2 = k.Clone(
      [&] {
        char b;
        child_read = k.Read(p.value.read_fd, &b, 1).err;
        return 0;
      },
      SIGCHLD).value;
  k.Waitpid(c2, 0);
  EXPECT_EQ(child_read, EDEADLK);
}

TEST(FakeKernelProcesses, SleepParksPdeathsigKillsOnCrash) {
  FakeKernel k;
  static char* const argv[] = {const_cast<char*>("sleep"), const_cast<char*>("100"), nullptr};
  // Like the runtime: the child holds the close-on-exec write end of a report
  // pipe; the parent reads it, which runs the child until its exec.
  auto start_sleeper = [&k](bool pdeathsig) {
    auto p = k.Pipe(O_CLOEXEC).value;
    pid_t pid = k.Clone(
                     [&k, pdeathsig] {
                       if (pdeathsig) k.Prctl(PR_SET_PDEATHSIG, SIGKILL);
                       return k.Execve("/bin/sleep", argv, nullptr).err;
                     },
                     SIGCHLD)
                    .value;
    k.Close(p.write_fd);
    char b;
    EXPECT_EQ(k.Read(p.read_fd, &b, 1).value, 0u);  // EOF: the exec closed it
    k.Close(p.read_fd);
    return pid;
  };
  pid_t guarded = start_sleeper(true);
  pid_t orphan = start_sleeper(false);
  pid_t waited = start_sleeper(false);
  EXPECT_TRUE(k.ProcessParked(guarded));
  EXPECT_TRUE(k.ProcessParked(orphan));
  // Waiting finishes a sleeper (time passes): exit 0.
  EXPECT_EQ(k.Waitpid(waited, 0).value, 0);
  // Killing one ends it with the signal.
  pid_t killed = start_sleeper(false);
  ASSERT_EQ(k.Kill(killed, SIGTERM).err, 0);
  EXPECT_EQ(k.Waitpid(killed, 0).value, SIGTERM);
  // The runtime crashes: the pdeathsig child dies, the other is orphaned.
  pid_t old = k.RuntimePid();
  pid_t fresh = k.RuntimeCrashed();
  EXPECT_NE(fresh, old);
  EXPECT_FALSE(k.ProcessExists(old));
  EXPECT_FALSE(k.ProcessExists(guarded));
  EXPECT_TRUE(k.ProcessParked(orphan));
  EXPECT_THAT(Read(k, "/proc/" + std::to_string(orphan) + "/stat"), HasSubstr(" S 1 "));
  EXPECT_EQ(k.OpenFdCount(fresh), 3u);
  // The new runtime (gc) can kill the orphan; init reaps it.
  ASSERT_EQ(k.Kill(orphan, SIGKILL).err, 0);
  EXPECT_FALSE(k.ProcessExists(orphan));
}

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
  EXPECT_EQ(Write(k, cs + "/cpuset.cpus", "0-7"), EINVAL);  // host has 0-1
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

TEST(FakeKernelProc, MountinfoParsesWithLibmount) {
  Workspace w;
  FakeKernel& k = w.k;
  ASSERT_EQ(k.Mount(Overlay(w.kMerged, w.kData)).err, 0);
  std::string info = Read(k, "/proc/self/mountinfo");
  EXPECT_EQ(info, k.Mountinfo(k.RuntimePid()));
  FILE* f = fmemopen(info.data(), info.size(), "r");
  ASSERT_NE(f, nullptr);
  libmnt_table* tb = mnt_new_table();
  ASSERT_EQ(mnt_table_parse_stream(tb, f, "mountinfo"), 0);
  fclose(f);
  EXPECT_EQ(static_cast<size_t>(mnt_table_get_nents(tb)), k.MountCount(k.RuntimePid()));
  libmnt_fs* fs = mnt_table_find_target(tb, w.kMerged, MNT_ITER_BACKWARD);
  ASSERT_NE(fs, nullptr);
  EXPECT_STREQ(mnt_fs_get_fstype(fs), "overlay");
  EXPECT_THAT(mnt_fs_get_fs_options(fs), HasSubstr("upperdir=/var/lib/mydocker/c1/upper"));
  libmnt_fs* root = mnt_table_find_target(tb, "/", MNT_ITER_BACKWARD);
  ASSERT_NE(root, nullptr);
  EXPECT_STREQ(mnt_fs_get_fstype(root), "ext4");
  EXPECT_STREQ(mnt_fs_get_optional_fields(root), "shared:1");
  mnt_unref_table(tb);
}

TEST(FakeKernelProc, PidsFdsAndStat) {
  FakeKernel k;
  pid_t rt = k.RuntimePid();
  EXPECT_EQ(k.Readlink("/proc/self").value, std::to_string(rt));
  EXPECT_THAT(Names(k, "/proc"), Contains(std::to_string(rt)));
  auto p = k.Pipe(O_CLOEXEC);
  EXPECT_THAT(k.Readlink("/proc/self/fd/" + std::to_string(p.value.read_fd)).value,
              HasSubstr("pipe:["));
  auto fd = k.Open("/etc/passwd", O_RDONLY, 0);
  EXPECT_EQ(k.Readlink("/proc/self/fd/" + std::to_string(fd.value)).value, "/etc/passwd");
  EXPECT_EQ(Names(k, "/proc/self/fd").size(), 6u);
  std::string stat = Read(k, "/proc/" + std::to_string(rt) + "/stat");
  EXPECT_THAT(stat, HasSubstr(std::to_string(rt) + " (mydocker) R 1 "));
  pid_t c = k.Clone([] { return 0; }, SIGCHLD).value;
  EXPECT_THAT(Read(k, "/proc/" + std::to_string(c) + "/stat"),
              HasSubstr(" S " + std::to_string(rt) + " "));
  EXPECT_NE(k.Readlink("/proc/" + std::to_string(c) + "/ns/mnt").value, "");
}

TEST(FakeKernelValue, CopiesAreIndependentAndCheap) {
  Workspace w;
  FakeKernel copy = w.k;
  ASSERT_TRUE(copy.AddFile("/only-in-copy", "x").ok());
  EXPECT_EQ(w.k.Lstat("/only-in-copy").err, ENOENT);
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 200; ++i) {
    FakeKernel c = w.k;
    (void)c;
  }
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                std::chrono::steady_clock::now() - t0).count() / 200;
  RecordProperty("copy_us", static_cast<int>(us));
  EXPECT_LT(us, 500);
}

}  // namespace
}  // namespace faultline

namespace faultline {
namespace {

double ThreadCpuUs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

double MonoUs() {
  return std::chrono::duration<double, std::micro>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Measures the time spent inside the target's calls only: a cloned child
// runs inside its parent's call, and the runtime code it runs there is not
// the kernel's time. Uses the vDSO clock (cheap); a run's total is noisy on
// a loaded host, so the caller takes a median.
class KernelTimeSys : public SysWrapper {
 public:
  using SysWrapper::SysWrapper;
  double kernel_us = 0;

 private:
  struct Scope {
    KernelTimeSys* t;
    explicit Scope(KernelTimeSys* s) : t(s) {
      double now = MonoUs();
      if (t->depth_ > 0) t->kernel_us += now - t->mark_;
      ++t->depth_;
      t->mark_ = now;
    }
    ~Scope() {
      double now = MonoUs();
      t->kernel_us += now - t->mark_;
      --t->depth_;
      t->mark_ = now;
    }
  };
  int depth_ = 0;
  double mark_ = 0;
 protected:
  void Intercept(mydocker::SysCall& call) override {
    Scope scope_(this);
    call.Proceed();
  }
};

// The whole runtime on the fake kernel: a lifecycle, and what it costs.
TEST(FakeKernelRuntime, MydockerRunLifecycleIsCleanAndFast) {
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
  // Cost: copying a prepared kernel (thread CPU time) and the kernel's own
  // share of a lifecycle (the runtime's code, also when it runs as a cloned
  // child inside a call, is excluded); medians over the runs.
  constexpr int kRuns = 200;
  auto level = spdlog::get_level();
  spdlog::set_level(spdlog::level::warn);  // measure the kernel, not the log
  std::vector<double> copies, kernels;
  for (int i = 0; i < kRuns; ++i) {
    double t0 = ThreadCpuUs();
    FakeKernel kk = base;
    copies.push_back(ThreadCpuUs() - t0);
    KernelTimeSys timed(kk);
    int c = 0;
    ASSERT_EQ(run_once(kk, timed, &c), "");
    kernels.push_back(timed.kernel_us);
  }
  spdlog::set_level(level);
  std::sort(copies.begin(), copies.end());
  std::sort(kernels.begin(), kernels.end());
  double copy_us = copies[kRuns / 2], kernel_us = kernels[kRuns / 2];
  RecordProperty("copy_us", static_cast<int>(copy_us));
  RecordProperty("kernel_us", static_cast<int>(kernel_us));
  std::printf("lifecycle: %zu calls; median copy %.1f us, median kernel work %.1f us\n",
              calls, copy_us, kernel_us);
  EXPECT_LT(copy_us + kernel_us, 1000.0);  // generous: debug and sanitizer builds
}

}  // namespace
}  // namespace faultline
