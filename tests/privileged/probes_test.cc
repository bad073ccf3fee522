// Privileged tests for harness/probes on the real kernel: each probe is shown
// to see its thing appear while it exists and vanish once it is gone. Runs in
// the PrivilegedEnv (a private mount namespace, a scratch dir, a per-run
// cgroup parent); every test removes what it made and ends with the snapshot
// it started from.
#include "harness/probes/probes.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "runtime/cgroups/cgroups.h"
#include "runtime/sys/fs_util.h"
#include "tests/privileged/privileged_env.h"

namespace faultline {
namespace {

using ::testing::Contains;
using ::testing::IsEmpty;
using ::testing::Not;

class ProbesPrivileged : public PrivilegedTest {
 protected:
  void SetUp() override {
    PrivilegedTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    before_ = env().TakeSnapshot();
    ASSERT_THAT(before_.errors, IsEmpty());
  }

  // The first diff of probe `name` between before_ and now.
  ProbeDiff DiffOf(const Snapshot& now, const std::string& name) {
    for (auto& d : Compare(before_, now)) {
      if (d.probe == name) return d;
    }
    return ProbeDiff{name, {}, {}};
  }

  Snapshot before_;
};

TEST_F(ProbesPrivileged, SnapshotIsFastAndComplete) {
  auto t0 = std::chrono::steady_clock::now();
  constexpr int kRounds = 10;
  for (int i = 0; i < kRounds; ++i) {
    Snapshot s = env().TakeSnapshot();
    ASSERT_THAT(s.errors, IsEmpty());
    for (const char* probe : {"mounts", "holders", "dirs", "cgroups", "processes", "fds"}) {
      EXPECT_EQ(s.probes.count(probe), 1u) << probe;
    }
  }
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                  .count() / kRounds;
  RecordProperty("snapshot_ms", std::to_string(ms));
  std::printf("TakeSnapshot: %.2f ms on this host (%zu mounts, %zu dirs)\n", ms,
              before_.probes["mounts"].size(), before_.probes["dirs"].size());
  EXPECT_LT(ms, 500.0);
  // The warm-up made the cgroup parent: the probe sees it.
  EXPECT_THAT(before_.probes["cgroups"], Not(IsEmpty()));
  ExpectHostAsBefore(before_, "snapshots only");
}

TEST_F(ProbesPrivileged, MountsSeeATmpfsUnderTheScopeUntilUnmounted) {
  const std::string dir = env().scratch() + "/probe-mnt";
  ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);
  before_ = env().TakeSnapshot();
  ASSERT_EQ(::mount("faultline-probe", dir.c_str(), "tmpfs", 0, "size=1m"), 0) << strerror(errno);
  Snapshot during = env().TakeSnapshot();
  EXPECT_THAT(DiffOf(during, "mounts").appeared,
              ::testing::ElementsAre(dir + " tmpfs faultline-probe"));
  ASSERT_EQ(::umount2(dir.c_str(), 0), 0) << strerror(errno);
  ExpectHostAsBefore(before_, "after umount");
  ASSERT_EQ(::rmdir(dir.c_str()), 0);
}

TEST_F(ProbesPrivileged, HoldersSeeAMountOnlyAnotherNamespaceHas) {
  const std::string dir = env().scratch() + "/probe-held";
  ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);
  before_ = env().TakeSnapshot();
  int ready[2], release[2];
  ASSERT_EQ(::pipe2(ready, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(release, O_CLOEXEC), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Only the parent may hold the write end of `release`: its close is
    // the child's cue.
    ::close(release[1]);
    ::close(ready[0]);
    // Own namespace, private, then a mount the parent cannot see.
    char ok = 0;
    if (::unshare(CLONE_NEWNS) == 0 &&
        ::mount("", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0 &&
        ::mount("faultline-held", dir.c_str(), "tmpfs", 0, "size=1m") == 0) {
      ok = 1;
    }
    if (::write(ready[1], &ok, 1) != 1) ::_exit(2);
    char c;
    ssize_t n = ::read(release[0], &c, 1);  // EOF when the parent closes
    ::_exit(n == 0 ? 0 : 3);
  }
  ::close(ready[1]);
  ::close(release[0]);
  char ok = 0;
  ASSERT_EQ(::read(ready[0], &ok, 1), 1);
  ::close(ready[0]);
  EXPECT_EQ(ok, 1) << "the child could not mount";

  Snapshot during = env().TakeSnapshot();
  EXPECT_THAT(during.errors, IsEmpty());
  const std::string held =
      "pid=" + std::to_string(child) + " " + dir + " tmpfs faultline-held";
  EXPECT_THAT(DiffOf(during, "holders").appeared, Contains(held));
  // The parent's own table does not have it.
  EXPECT_THAT(DiffOf(during, "mounts").appeared, IsEmpty());

  ::close(release[1]);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  ExpectHostAsBefore(before_, "after the holder exited");
  ASSERT_EQ(::rmdir(dir.c_str()), 0);
}

TEST_F(ProbesPrivileged, DirsSeeEveryPathBelowTheScope) {
  const std::string dir = env().scratch() + "/probe-dir";
  ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((dir + "/sub").c_str(), 0755), 0);
  Snapshot during = env().TakeSnapshot();
  EXPECT_THAT(DiffOf(during, "dirs").appeared, ::testing::ElementsAre(dir, dir + "/sub"));
  ASSERT_EQ(::rmdir((dir + "/sub").c_str()), 0);
  ASSERT_EQ(::rmdir(dir.c_str()), 0);
  ExpectHostAsBefore(before_, "after rmdir");
}

// The pids hierarchy's copy of the cgroup parent (made by the warm-up run).
std::string PidsParent(PrivilegedEnv& env) {
  auto layout = mydocker::DetectCgroupLayout(env.sys());
  if (!layout) return "";
  if (layout->version == mydocker::CgroupVersion::kV2) {
    return mydocker::JoinPath(layout->unified, env.cgroup_parent());
  }
  for (const auto& [controller, mount] : layout->v1_mounts) {
    if (controller == "pids") return mydocker::JoinPath(mount, env.cgroup_parent());
  }
  return "";
}

TEST_F(ProbesPrivileged, CgroupsSeeADirectoryUnderTheParent) {
  const std::string parent = PidsParent(env());
  ASSERT_FALSE(parent.empty());
  const std::string cg = parent + "/probe-cg";
  ASSERT_EQ(::mkdir(cg.c_str(), 0755), 0) << strerror(errno);
  Snapshot during = env().TakeSnapshot();
  EXPECT_THAT(DiffOf(during, "cgroups").appeared, ::testing::ElementsAre(cg));
  ASSERT_EQ(::rmdir(cg.c_str()), 0);
  ExpectHostAsBefore(before_, "after rmdir of the cgroup");
}

TEST_F(ProbesPrivileged, ProcessesSeeAChildAndAStrangerInTheCgroupParent) {
  // A sleeping child of the test process.
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::execl("/bin/sleep", "sleep", "30", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  // A process that is not our child: a grandchild, whose parent (our
  // child `mid`) waits for it; it is moved into the cgroup parent.
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  pid_t mid = ::fork();
  ASSERT_GE(mid, 0);
  if (mid == 0) {
    ::close(p[0]);
    pid_t g = ::fork();
    if (g == 0) {
      ::execl("/bin/sleep", "sleep", "30", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    if (::write(p[1], &g, sizeof g) != sizeof g) ::_exit(1);
    ::waitpid(g, nullptr, 0);
    ::_exit(0);
  }
  ::close(p[1]);
  pid_t stranger = -1;
  ASSERT_EQ(::read(p[0], &stranger, sizeof stranger), static_cast<ssize_t>(sizeof stranger));
  ::close(p[0]);
  const std::string cg = PidsParent(env()) + "/probe-procs";
  ASSERT_EQ(::mkdir(cg.c_str(), 0755), 0) << strerror(errno);
  auto moved = mydocker::WriteExisting(env().sys(), cg + "/cgroup.procs",
                                       std::to_string(stranger), "move");
  EXPECT_TRUE(moved.ok()) << moved.error().Message();
  // Let both exec sleep.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto comm = mydocker::ReadFile(env().sys(), "/proc/self/comm", "comm");
  ASSERT_TRUE(comm.ok());
  std::string self_comm = *comm;
  while (!self_comm.empty() && self_comm.back() == '\n') self_comm.pop_back();

  Snapshot during = env().TakeSnapshot();
  EXPECT_THAT(during.errors, IsEmpty());
  EXPECT_THAT(DiffOf(during, "processes").appeared,
              ::testing::UnorderedElementsAre(std::to_string(child) + " sleep",
                                              std::to_string(mid) + " " + self_comm,
                                              std::to_string(stranger) + " sleep"));

  ::kill(child, SIGKILL);
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);
  ::kill(stranger, SIGKILL);  // started by this test; mid reaps it
  ASSERT_EQ(::waitpid(mid, nullptr, 0), mid);
  EXPECT_EQ(::rmdir(cg.c_str()), 0) << cg << ": " << strerror(errno);
  ExpectHostAsBefore(before_, "after both processes ended");
}

TEST_F(ProbesPrivileged, FdsSeeAnOpenDescriptor) {
  int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  Snapshot during = env().TakeSnapshot();
  EXPECT_THAT(DiffOf(during, "fds").appeared,
              ::testing::ElementsAre(std::to_string(fd) + " -> /dev/null"));
  ::close(fd);
  ExpectHostAsBefore(before_, "after close");
}

}  // namespace
}  // namespace faultline
