// Privileged tests for runtime/cgroups on the real kernel (root, the host's
// cgroup layout). Every test works under its own parent
// "faultline-test-<pid>-<random>", kills only the child it forked, and ends
// by proving that no directory carrying its parent's name is left anywhere
// under /sys/fs/cgroup (the scan is first shown to see the live cgroup).
#include "runtime/cgroups/cgroups.h"

#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "runtime/sys/fs_util.h"
#include "runtime/sys/linux_sys.h"
#include "runtime/sys/mountinfo.h"

namespace mydocker {
namespace {

using ::testing::HasSubstr;

constexpr const char* kCgroupFs = "/sys/fs/cgroup";

std::string RunParent() {
  std::random_device rd;
  char buf[64];
  snprintf(buf, sizeof buf, "faultline-test-%d-%08x", getpid(), rd());
  return buf;
}

std::string Trimmed(const std::string& s) {
  std::string t = s;
  while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
  return t;
}

double MsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

class CgroupsPrivileged : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root";
    auto layout = DetectCgroupLayout(sys_);
    ASSERT_TRUE(layout.ok()) << layout.error().Message();
    layout_ = *layout;
    parent_ = RunParent();
  }

  void TearDown() override {
    // Whatever a failed assertion left: the child, the cgroup, the parent.
    KillChild();
    if (parent_.empty()) return;
    for (const std::string& root : Roots()) sys_.Rmdir(JoinPath(root, parent_) + "/c1");
    RemoveParent();
    EXPECT_TRUE(Leftovers().empty()) << "left under /sys/fs/cgroup: " << Leftovers().front();
  }

  // The hierarchy roots the layout uses.
  std::vector<std::string> Roots() const {
    std::vector<std::string> roots;
    if (layout_.version == CgroupVersion::kV2) return {layout_.unified};
    for (const auto& [c, m] : layout_.v1_mounts) {
      if (std::find(roots.begin(), roots.end(), m) == roots.end()) roots.push_back(m);
    }
    return roots;
  }

  // Every directory under /sys/fs/cgroup whose name contains the run's parent.
  std::vector<std::string> Leftovers() {
    std::vector<std::string> found;
    Walk(kCgroupFs, &found);
    return found;
  }
  void Walk(const std::string& dir, std::vector<std::string>* found) {
    auto entries = sys_.ReadDir(dir);
    if (!entries.ok()) return;
    for (const DirEntry& e : entries.value) {
      const std::string p = JoinPath(dir, e.name);
      auto st = sys_.Lstat(p);
      if (!st.ok() || !S_ISDIR(st.value.mode)) continue;
      if (p.find(parent_) != std::string::npos) found->push_back(p);
      Walk(p, found);
    }
  }

  void RemoveParent() {
    for (const std::string& root : Roots()) {
      Status st = sys_.Rmdir(JoinPath(root, parent_));
      EXPECT_TRUE(st.ok() || st.err == ENOENT) << JoinPath(root, parent_) << ": " << ErrnoName(st.err);
    }
  }

  // A child that sleeps until killed (and dies with us).
  pid_t ForkSleeper() {
    pid_t pid = fork();
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      for (;;) pause();
    }
    child_ = pid;
    return pid;
  }
  void KillChild() {
    if (child_ <= 0) return;
    kill(child_, SIGKILL);
    int status = 0;
    waitpid(child_, &status, 0);
    child_ = -1;
  }

  std::string Read(const std::string& path) {
    auto r = ReadFile(sys_, path, "test: read");
    EXPECT_TRUE(r.ok()) << r.error().Message();
    return r.ok() ? Trimmed(*r) : "<unreadable>";
  }

  // "/<parent>/<name>" for each controller line of /proc/<pid>/cgroup whose
  // hierarchy carries one of wanted (v1), or the "0::" line (v2).
  std::vector<std::string> ProcCgroupPaths(pid_t pid, CgroupVersion version) {
    std::vector<std::string> out;
    const std::string text = Read("/proc/" + std::to_string(pid) + "/cgroup");
    size_t start = 0;
    while (start < text.size()) {
      size_t end = text.find('\n', start);
      if (end == std::string::npos) end = text.size();
      const std::string line = text.substr(start, end - start);
      start = end + 1;
      const size_t c1 = line.find(':'), c2 = line.find(':', c1 + 1);
      if (c1 == std::string::npos || c2 == std::string::npos) continue;
      const std::string ctrls = "," + line.substr(c1 + 1, c2 - c1 - 1) + ",";
      const std::string path = line.substr(c2 + 1);
      if (version == CgroupVersion::kV2) {
        if (ctrls == ",,") out.push_back(path);
        continue;
      }
      for (const auto& [c, m] : layout_.v1_mounts) {
        if (ctrls.find("," + c + ",") != std::string::npos) {
          out.push_back(c + ":" + path);
        }
      }
    }
    return out;
  }

  LinuxSys sys_;
  CgroupLayout layout_;
  std::string parent_;
  pid_t child_ = -1;
};

TEST_F(CgroupsPrivileged, CreateWithAllLimitsAttachBusyDestroyLeavesNothing) {
  CgroupLimits limits;
  limits.memory_bytes = 64LL << 20;
  limits.cpu_shares = 512;
  limits.cpus = 0.5;
  limits.cpuset_cpus = "0";
  limits.pids_limit = 32;

  auto t0 = std::chrono::steady_clock::now();
  auto cg = Cgroup::Create(sys_, layout_, parent_, "c1", limits);
  const double create_ms = MsSince(t0);
  ASSERT_TRUE(cg.ok()) << cg.error().Message();
  ASSERT_EQ(cg->paths().size(), Roots().size());

  // The values the kernel holds now.
  if (layout_.version == CgroupVersion::kV1) {
    for (const auto& [c, m] : layout_.v1_mounts) {
      const std::string dir = JoinPath(JoinPath(m, parent_), "c1");
      if (c == "memory") {
        EXPECT_EQ(Read(dir + "/memory.limit_in_bytes"), "67108864");
        if (Exists(sys_, dir + "/memory.memsw.limit_in_bytes")) {
          EXPECT_EQ(Read(dir + "/memory.memsw.limit_in_bytes"), "67108864");
        }
      } else if (c == "cpu") {
        EXPECT_EQ(Read(dir + "/cpu.shares"), "512");
        EXPECT_EQ(Read(dir + "/cpu.cfs_period_us"), "100000");
        EXPECT_EQ(Read(dir + "/cpu.cfs_quota_us"), "50000");
      } else if (c == "cpuset") {
        EXPECT_EQ(Read(dir + "/cpuset.cpus"), "0");
        EXPECT_EQ(Read(dir + "/cpuset.mems"), Read(m + "/cpuset.mems"));
        EXPECT_EQ(Read(JoinPath(m, parent_) + "/cpuset.cpus"), Read(m + "/cpuset.cpus"));
      } else if (c == "pids") {
        EXPECT_EQ(Read(dir + "/pids.max"), "32");
      }
    }
  } else {
    const std::string dir = cg->paths()[0];
    EXPECT_EQ(Read(dir + "/memory.max"), "67108864");
    EXPECT_EQ(Read(dir + "/cpu.weight"), std::to_string(SharesToWeight(512)));
    EXPECT_EQ(Read(dir + "/cpu.max"), "50000 100000");
    EXPECT_EQ(Read(dir + "/cpuset.cpus"), "0");
    EXPECT_EQ(Read(dir + "/pids.max"), "32");
  }

  // The leftover scan sees the live cgroup: the parent and the child in
  // every hierarchy.
  EXPECT_EQ(Leftovers().size(), 2 * Roots().size());

  const pid_t pid = ForkSleeper();
  ASSERT_GT(pid, 0);
  t0 = std::chrono::steady_clock::now();
  Outcome attached = cg->Attach(pid);
  const double attach_ms = MsSince(t0);
  ASSERT_TRUE(attached.ok()) << attached.error().Message();
  const std::string want = "/" + parent_ + "/c1";
  if (layout_.version == CgroupVersion::kV1) {
    std::vector<std::string> expected;
    for (const auto& [c, m] : layout_.v1_mounts) expected.push_back(c + ":" + want);
    EXPECT_THAT(ProcCgroupPaths(pid, CgroupVersion::kV1), ::testing::UnorderedElementsAreArray(expected));
  } else {
    EXPECT_THAT(ProcCgroupPaths(pid, CgroupVersion::kV2), ::testing::ElementsAre(want));
  }

  // Busy while the child lives: every path is tried and kept.
  Outcome busy = cg->Destroy();
  ASSERT_FALSE(busy.ok());
  EXPECT_EQ(busy.error().step, "cgroup: destroy");
  EXPECT_EQ(busy.error().err, EBUSY);
  EXPECT_THAT(busy.error().Message(), HasSubstr(parent_ + "/c1: EBUSY"));
  for (const std::string& p : cg->paths()) EXPECT_TRUE(Exists(sys_, p)) << p;

  KillChild();
  t0 = std::chrono::steady_clock::now();
  Outcome destroyed = cg->Destroy();
  const double destroy_ms = MsSince(t0);
  ASSERT_TRUE(destroyed.ok()) << destroyed.error().Message();
  for (const std::string& root : Roots()) {
    auto entries = sys_.ReadDir(JoinPath(root, parent_));
    ASSERT_TRUE(entries.ok()) << root << ": " << ErrnoName(entries.err);
    for (const DirEntry& e : entries.value) {
      auto st = sys_.Lstat(JoinPath(JoinPath(root, parent_), e.name));
      EXPECT_FALSE(st.ok() && S_ISDIR(st.value.mode)) << "child dir left: " << e.name;
    }
  }
  EXPECT_TRUE(cg->Destroy().ok()) << "Destroy is idempotent";
  RemoveParent();
  EXPECT_TRUE(Leftovers().empty());
  printf("[ measure ] %s: create with 5 limits %.3f ms, attach %.3f ms, destroy %.3f ms (%zu hierarchies)\n",
         layout_.version == CgroupVersion::kV1 ? "v1" : "v2", create_ms, attach_ms, destroy_ms,
         Roots().size());
}

TEST_F(CgroupsPrivileged, RefusedLimitLeavesNothingBehind) {
  CgroupLimits limits;
  limits.memory_bytes = 64LL << 20;
  limits.cpuset_cpus = "999";  // a cpu this machine lacks
  limits.pids_limit = 8;
  auto cg = Cgroup::Create(sys_, layout_, parent_, "c1", limits);
  ASSERT_FALSE(cg.ok());
  EXPECT_EQ(cg.error().step, "cgroup: write limit");
  EXPECT_THAT(cg.error().path, HasSubstr(parent_ + "/c1/cpuset.cpus"));
  // Measured: the kernel refuses a cpu number >= nr_cpu_ids with ERANGE
  // (v1 on 6.18 and 6.1, v2 on 6.1 in ci/vm-test); a cpu that exists but is
  // outside the parent's set is EACCES on v1 (measured on 6.18).
  EXPECT_EQ(cg.error().err, ERANGE) << cg.error().Message();
  EXPECT_THAT(cg.error().Message(), HasSubstr("\"999\""));
  EXPECT_TRUE(Leftovers().empty()) << Leftovers().front();
}

TEST_F(CgroupsPrivileged, ExistingParentSurvivesAFailedCreate) {
  for (const std::string& root : Roots()) {
    ASSERT_TRUE(sys_.Mkdir(JoinPath(root, parent_), 0755).ok()) << root;
  }
  CgroupLimits limits;
  limits.cpuset_cpus = "999";
  auto cg = Cgroup::Create(sys_, layout_, parent_, "c1", limits);
  ASSERT_FALSE(cg.ok());
  EXPECT_EQ(Leftovers().size(), Roots().size()) << "only the parents, which existed before";
  for (const std::string& root : Roots()) {
    EXPECT_TRUE(Exists(sys_, JoinPath(root, parent_)));
    EXPECT_FALSE(Exists(sys_, JoinPath(root, parent_) + "/c1"));
  }
}

// The v2 code path on the real kernel. On this hybrid host the cgroup2 mount
// (/sys/fs/cgroup/unified) has none of memory, cpu, cpuset, pids (they are
// bound to v1), so only creation, attach and destroy can be checked there,
// and a limit must fail cleanly.
TEST_F(CgroupsPrivileged, V2PathOnTheHostsCgroup2Mount) {
  if (layout_.version == CgroupVersion::kV2) {
    GTEST_SKIP() << "pure v2 host: the main test already runs the v2 path";
  }
  auto mounts = ReadMountinfo(sys_);
  ASSERT_TRUE(mounts.ok()) << mounts.error().Message();
  std::string unified;
  for (const MountEntry& e : *mounts) {
    if (e.fstype == "cgroup2" && e.target.rfind(std::string(kCgroupFs) + "/", 0) == 0) unified = e.target;
  }
  if (unified.empty()) GTEST_SKIP() << "no cgroup2 mount under /sys/fs/cgroup";
  layout_ = CgroupLayout{CgroupVersion::kV2, unified, {}};

  // This host's lists only "hugetlb" (bound to no v1 hierarchy).
  const std::string controllers = " " + Read(unified + "/cgroup.controllers") + " ";
  if (controllers.find(" pids ") != std::string::npos) {
    GTEST_SKIP() << unified << " has the pids controller; the limit case below assumes not";
  }
  CgroupLimits limited;
  limited.pids_limit = 8;
  auto refused = Cgroup::Create(sys_, layout_, parent_, "c1", limited);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().path, unified + "/" + parent_ + "/c1/pids.max");
  EXPECT_EQ(refused.error().err, ENOENT);
  EXPECT_TRUE(Leftovers().empty());

  auto cg = Cgroup::Create(sys_, layout_, parent_, "c1", {});
  ASSERT_TRUE(cg.ok()) << cg.error().Message();
  EXPECT_EQ(Leftovers().size(), 2u);
  const pid_t pid = ForkSleeper();
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(cg->Attach(pid).ok());
  EXPECT_THAT(ProcCgroupPaths(pid, CgroupVersion::kV2), ::testing::ElementsAre("/" + parent_ + "/c1"));
  Outcome busy = cg->Destroy();
  ASSERT_FALSE(busy.ok());
  EXPECT_EQ(busy.error().err, EBUSY);
  KillChild();
  Outcome destroyed = cg->Destroy();
  ASSERT_TRUE(destroyed.ok()) << destroyed.error().Message();
  RemoveParent();
  EXPECT_TRUE(Leftovers().empty());
}

}  // namespace
}  // namespace mydocker
