// FakeKernel /proc layer (fakekernel/proc.cc): entries and magic links
// generated from the model, and what /proc refuses.
#include <errno.h>
#include <fcntl.h>
#include <libmount/libmount.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>

#include <cstdio>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fakekernel/fake_kernel.h"
#include "tests/support/fake_kernel_helpers.h"

namespace faultline {
namespace {

using fktest::Names;
using fktest::Overlay;
using fktest::Read;
using fktest::Workspace;
using ::testing::Contains;
using ::testing::HasSubstr;

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
  ASSERT_TRUE(fd.ok());
  EXPECT_EQ(k.Readlink("/proc/self/fd/" + std::to_string(fd.value)).value, "/etc/passwd");
  // 0-2, the pipe's two ends, /etc/passwd, and the reader's own fd of the
  // directory (Linux lists it; h/conform's conformance fixes).
  EXPECT_EQ(Names(k, "/proc/self/fd").size(), 7u);
  std::string stat = Read(k, "/proc/" + std::to_string(rt) + "/stat");
  EXPECT_THAT(stat, HasSubstr(std::to_string(rt) + " (mydocker) R 1 "));
  pid_t c = k.Clone([] { return 0; }, SIGCHLD).value;
  EXPECT_THAT(Read(k, "/proc/" + std::to_string(c) + "/stat"),
              HasSubstr(" S " + std::to_string(rt) + " "));
  EXPECT_NE(k.Readlink("/proc/" + std::to_string(c) + "/ns/mnt").value, "");
}

// Per-process views: status, comm, cmdline, cgroup, cwd and root links
// (which also resolve as paths), namespace links per namespace.
TEST(FakeKernelProc, PerProcessViews) {
  FakeKernel k;
  pid_t rt = k.RuntimePid();
  const std::string self = "/proc/" + std::to_string(rt);
  EXPECT_EQ(Read(k, self + "/comm"), "mydocker\n");
  EXPECT_THAT(Read(k, self + "/status"), HasSubstr("Pid:\t" + std::to_string(rt) + "\n"));
  EXPECT_THAT(Read(k, self + "/cgroup"), HasSubstr(":memory:/\n"));
  ASSERT_EQ(k.Chdir("/etc").err, 0);
  EXPECT_EQ(k.Readlink("/proc/self/cwd").value, "/etc");
  EXPECT_EQ(k.Readlink("/proc/self/root").value, "/");
  EXPECT_EQ(Read(k, "/proc/self/cwd/hostname"), "faultline-host\n");
  // A child in new UTS and mount namespaces shows other ns links.
  std::string uts_in, mnt_in;
  int st = fktest::RunChild(
      k,
      [&] {
        uts_in = k.Readlink("/proc/self/ns/uts").value;
        mnt_in = k.Readlink("/proc/self/ns/mnt").value;
        return 0;
      },
      CLONE_NEWUTS | CLONE_NEWNS);
  EXPECT_EQ(st, 0);
  EXPECT_THAT(uts_in, HasSubstr("uts:["));
  EXPECT_NE(uts_in, k.Readlink("/proc/self/ns/uts").value);
  EXPECT_NE(mnt_in, k.Readlink("/proc/self/ns/mnt").value);
  EXPECT_EQ(k.Readlink("/proc/self/ns/pid").value,
            k.Readlink("/proc/1/ns/pid").value);
  // /proc/mounts: one line per mountinfo line.
  std::string mounts = Read(k, "/proc/mounts");
  std::string info = k.Mountinfo(rt);
  EXPECT_EQ(std::count(mounts.begin(), mounts.end(), '\n'),
            std::count(info.begin(), info.end(), '\n'));
  EXPECT_THAT(mounts, HasSubstr("proc /proc proc rw"));
}

// /proc is generated: nothing can be created, removed or chmod'ed there
// (errnos as Linux gives them to root).
TEST(FakeKernelProc, RefusesChanges) {
  FakeKernel k;
  EXPECT_EQ(k.Mkdir("/proc/x", 0755).err, ENOENT);
  EXPECT_EQ(k.Open("/proc/x", O_CREAT | O_WRONLY, 0644).err, ENOENT);
  EXPECT_EQ(k.Unlink("/proc/self/stat").err, EPERM);
  EXPECT_EQ(k.Rmdir("/proc/self/fd").err, EPERM);
  EXPECT_EQ(k.Chmod("/proc/self/stat", 0600).err, EPERM);
  auto st = k.Lstat("/proc/self/stat");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st.value.mode, S_IFREG | 0444u);
  EXPECT_TRUE(S_ISLNK(k.Lstat("/proc/self").value.mode));
  EXPECT_TRUE(S_ISDIR(k.Lstat("/proc/1").value.mode));
  EXPECT_EQ(k.Lstat("/proc/99999").err, ENOENT);
  EXPECT_THAT(Names(k, "/proc/self/ns"), (std::vector<std::string>{"mnt", "pid", "uts"}));
}

}  // namespace
}  // namespace faultline
