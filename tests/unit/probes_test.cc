// Unit tests for harness/probes: Compare and Describe (pure), and
// TakeSnapshot against TreeSys, a small read-only file tree behind the Sys
// seam (/proc files with chosen contents, failures injected per path), so
// each probe's selection rules and error reporting are checked without a
// kernel.
#include "harness/probes/probes.h"

#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "runtime/sys/sys_wrapper.h"

namespace faultline {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

// ---- Compare / Describe ------------------------------------------------------

Snapshot Snap(std::map<std::string, std::set<std::string>> probes,
              std::vector<std::string> errors = {}) {
  Snapshot s;
  s.probes = std::move(probes);
  s.errors = std::move(errors);
  return s;
}

TEST(ProbesCompare, EqualSnapshotsGiveNoDiff) {
  Snapshot a = Snap({{"mounts", {"/ ext4 /dev/vda"}}, {"dirs", {"/tmp/x", "/tmp/x/a"}}});
  EXPECT_THAT(Compare(a, a), IsEmpty());
  EXPECT_EQ(Describe(Compare(a, a)), "");
}

TEST(ProbesCompare, ReportsAppearedAndVanishedPerProbe) {
  Snapshot before = Snap({{"mounts", {"/ ext4 /dev/vda"}},
                          {"dirs", {"/tmp/x", "/tmp/x/gone"}},
                          {"fds", {"0 -> /dev/null"}}});
  Snapshot after = Snap({{"mounts", {"/ ext4 /dev/vda", "/tmp/x/merged overlay overlay"}},
                         {"dirs", {"/tmp/x", "/tmp/x/containers/c1"}},
                         {"fds", {"0 -> /dev/null"}}});
  auto diffs = Compare(before, after);
  ASSERT_EQ(diffs.size(), 2u);  // fds unchanged: not listed
  // Probes come in name order.
  EXPECT_EQ(diffs[0].probe, "dirs");
  EXPECT_THAT(diffs[0].appeared, ElementsAre("/tmp/x/containers/c1"));
  EXPECT_THAT(diffs[0].vanished, ElementsAre("/tmp/x/gone"));
  EXPECT_EQ(diffs[1].probe, "mounts");
  EXPECT_THAT(diffs[1].appeared, ElementsAre("/tmp/x/merged overlay overlay"));
  EXPECT_THAT(diffs[1].vanished, IsEmpty());
  EXPECT_EQ(Describe(diffs),
            "dirs: +/tmp/x/containers/c1, -/tmp/x/gone; "
            "mounts: +/tmp/x/merged overlay overlay");
}

TEST(ProbesCompare, AProbeMissingOnOneSideCountsAsEmpty) {
  Snapshot before = Snap({{"cgroups", {"/sys/fs/cgroup/pids/p"}}});
  Snapshot after = Snap({});
  auto diffs = Compare(before, after);
  ASSERT_EQ(diffs.size(), 1u);
  EXPECT_EQ(diffs[0].probe, "cgroups");
  EXPECT_THAT(diffs[0].vanished, ElementsAre("/sys/fs/cgroup/pids/p"));
  EXPECT_THAT(Compare(after, before)[0].appeared, ElementsAre("/sys/fs/cgroup/pids/p"));
}

TEST(ProbesCompare, ErrorsAreNeverADiffFreeResult) {
  // The same error on both sides is still a difference: the probe did not
  // see anything, so "nothing changed" would be a lie.
  Snapshot a = Snap({{"mounts", {}}}, {"probe fds: read directory /proc/self/fd: EMFILE"});
  auto diffs = Compare(a, a);
  ASSERT_EQ(diffs.size(), 1u);
  EXPECT_EQ(diffs[0].probe, "errors");
  EXPECT_THAT(diffs[0].appeared,
              ElementsAre("before: probe fds: read directory /proc/self/fd: EMFILE",
                          "after: probe fds: read directory /proc/self/fd: EMFILE"));
  EXPECT_EQ(Describe(diffs),
            "errors: before: probe fds: read directory /proc/self/fd: EMFILE, "
            "after: probe fds: read directory /proc/self/fd: EMFILE");
}

// ---- TreeSys: a read-only tree behind Sys -----------------------------------

class TreeSys : public mydocker::ErrnoSys {
 public:
  struct Node {
    uint32_t mode = 0;
    uint64_t dev = 1;
    std::string content;  // file content or symlink target
  };

  void AddDir(const std::string& p, uint64_t dev = 1) { Put(p, Node{S_IFDIR | 0755, dev, ""}); }
  void AddFile(const std::string& p, std::string content, uint64_t dev = 1) {
    Put(p, Node{S_IFREG | 0644, dev, std::move(content)});
  }
  void AddLink(const std::string& p, std::string target) {
    Put(p, Node{S_IFLNK | 0777, 1, std::move(target)});
  }
  void Remove(const std::string& p) {
    for (auto it = nodes_.begin(); it != nodes_.end();) {
      if (it->first == p || it->first.rfind(p + "/", 0) == 0) it = nodes_.erase(it);
      else ++it;
    }
  }
  // Every read of path (open, readdir, readlink, lstat) fails with err.
  void FailOn(const std::string& p, int err) { fail_[p] = err; }

  // A process as /proc shows it.
  void Proc(int pid, int ppid, const std::string& comm, const std::string& cgroup,
            const std::string& ns, const std::string& mountinfo = "") {
    const std::string d = "/proc/" + std::to_string(pid);
    AddFile(d + "/stat", std::to_string(pid) + " (" + comm + ") S " + std::to_string(ppid) +
                          " 1 1 0 -1 4194560 0 0 0 0\n");
    AddFile(d + "/cgroup", cgroup);
    AddLink(d + "/ns/mnt", ns);
    AddFile(d + "/mountinfo", mountinfo);
  }

  mydocker::Result<mydocker::FileStat> Lstat(const std::string& path) override {
    if (int e = Failure(path)) return {{}, e};
    auto it = nodes_.find(path);
    if (it == nodes_.end()) return {{}, ENOENT};
    mydocker::FileStat st;
    st.mode = it->second.mode;
    st.dev = it->second.dev;
    st.size = it->second.content.size();
    return {st, 0};
  }
  mydocker::Result<std::vector<mydocker::DirEntry>> ReadDir(const std::string& path) override {
    if (int e = Failure(path)) return {{}, e};
    auto it = nodes_.find(path);
    if (it == nodes_.end()) return {{}, ENOENT};
    if (!S_ISDIR(it->second.mode)) return {{}, ENOTDIR};
    std::vector<mydocker::DirEntry> out;
    const std::string prefix = path == "/" ? "/" : path + "/";
    for (const auto& [p, n] : nodes_) {
      if (p.size() <= prefix.size() || p.compare(0, prefix.size(), prefix) != 0) continue;
      const std::string name = p.substr(prefix.size());
      if (name.find('/') != std::string::npos) continue;
      uint8_t type = S_ISDIR(n.mode) ? DT_DIR : S_ISLNK(n.mode) ? DT_LNK : DT_REG;
      out.push_back({name, type});
    }
    return {out, 0};
  }
  mydocker::Result<std::string> Readlink(const std::string& path) override {
    if (int e = Failure(path)) return {{}, e};
    auto it = nodes_.find(path);
    if (it == nodes_.end()) return {{}, ENOENT};
    if (!S_ISLNK(it->second.mode)) return {{}, EINVAL};
    return {it->second.content, 0};
  }
  mydocker::Result<int> Open(const std::string& path, int, mode_t) override {
    if (int e = Failure(path)) return {-1, e};
    auto it = nodes_.find(path);
    if (it == nodes_.end()) return {-1, ENOENT};
    int fd = next_fd_++;
    open_[fd] = {it->second.content, 0};
    return {fd, 0};
  }
  mydocker::Status Close(int fd) override {
    return open_.erase(fd) ? mydocker::Status::Ok() : mydocker::Status::Errno(EBADF);
  }
  mydocker::Result<size_t> Read(int fd, void* buf, size_t len) override {
    auto it = open_.find(fd);
    if (it == open_.end()) return {0, EBADF};
    auto& [content, off] = it->second;
    size_t n = std::min(len, content.size() - off);
    std::memcpy(buf, content.data() + off, n);
    off += n;
    return {n, 0};
  }
  size_t open_files() const { return open_.size(); }

  // Nothing below is used by the probes: refuse loudly.

 private:
  int Failure(const std::string& p) const {
    auto it = fail_.find(p);
    return it == fail_.end() ? 0 : it->second;
  }
  void Put(const std::string& p, Node n) {
    // Parents are directories on the same device as the root ("/").
    for (size_t i = p.find('/', 1); i != std::string::npos; i = p.find('/', i + 1)) {
      nodes_.emplace(p.substr(0, i), Node{S_IFDIR | 0755, 1, ""});
    }
    nodes_[p] = std::move(n);
  }

  std::map<std::string, Node> nodes_{{"/", Node{S_IFDIR | 0755, 1, ""}}};
  std::map<std::string, int> fail_;
  std::map<int, std::pair<std::string, size_t>> open_;
  int next_fd_ = 3;
};

constexpr const char* kSelfMountinfo =
    "20 1 8:1 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
    "30 20 0:26 / /sys/fs/cgroup/pids rw shared:2 - cgroup cgroup rw,pids\n"
    "31 20 0:27 / /sys/fs/cgroup/memory rw shared:3 - cgroup cgroup rw,memory\n"
    // The same hierarchy mounted a second time: scanned once.
    "32 20 0:27 / /mnt/memory-again rw - cgroup cgroup rw,memory\n"
    // A bind of a sub-cgroup: not a hierarchy root.
    "33 20 0:26 /sub /mnt/pids-sub rw - cgroup cgroup rw,pids\n"
    "40 20 0:50 / /tmp/scope/c1/merged rw - overlay overlay rw,lowerdir=/tmp/scope/l\n"
    "41 20 0:51 / /tmp/t rw - tmpfs tmpfs rw\n"
    "42 20 0:52 / /tmp/t rw - tmpfs tmpfs rw\n";

class ProbesSnapshot : public ::testing::Test {
 protected:
  void SetUp() override {
    sys_.AddLink("/proc/self", "100");
    sys_.AddFile("/proc/self/mountinfo", kSelfMountinfo);
    sys_.AddLink("/proc/self/ns/mnt", "mnt:[1]");
    sys_.AddDir("/proc/self/fd");
    sys_.AddLink("/proc/self/fd/0", "/dev/null");
    sys_.AddLink("/proc/self/fd/7", "pipe:[123]");
    // The caller itself: never listed.
    sys_.Proc(100, 1, "tests", "0::/\n", "mnt:[1]");
    sys_.Proc(1, 0, "init", "0::/\n", "mnt:[1]");
    scope_.dirs = {"/tmp/scope/"};
    scope_.cgroup_parent = "ft-1";
  }

  Snapshot Take() { return TakeSnapshot(sys_, scope_); }

  TreeSys sys_;
  ProbeScope scope_;
};

TEST_F(ProbesSnapshot, MountsKeepEveryMountEvenWhenStacked) {
  Snapshot s = Take();
  EXPECT_THAT(s.errors, IsEmpty());
  const auto& m = s.probes["mounts"];
  EXPECT_THAT(m, Contains("/ ext4 /dev/vda"));
  EXPECT_THAT(m, Contains("/tmp/scope/c1/merged overlay overlay"));
  // Two tmpfs stacked on /tmp/t: both are seen.
  EXPECT_THAT(m, Contains("/tmp/t tmpfs tmpfs"));
  EXPECT_THAT(m, Contains("/tmp/t tmpfs tmpfs #2"));
  EXPECT_EQ(m.size(), 8u);
}

TEST_F(ProbesSnapshot, UnreadableMountTableIsAnErrorNotAnEmptySet) {
  sys_.FailOn("/proc/self/mountinfo", EACCES);
  Snapshot s = Take();
  EXPECT_THAT(s.probes["mounts"], IsEmpty());
  ASSERT_FALSE(s.errors.empty());
  EXPECT_THAT(s.errors[0], HasSubstr("/proc/self/mountinfo"));
  EXPECT_THAT(s.errors[0], HasSubstr("EACCES"));
  // The cgroup probe needs the mount table too, and says so.
  EXPECT_THAT(s.errors, Contains(HasSubstr("probe cgroups")));
}

TEST_F(ProbesSnapshot, DirsWalkPrunesAndStopsAtMountPoints) {
  sys_.AddFile("/tmp/scope/state.json", "{}");
  sys_.AddFile("/tmp/scope/images/bb/rootfs/bin/sh", "x");
  sys_.AddDir("/tmp/scope/c1/merged", /*dev=*/2);  // a mount point
  sys_.AddFile("/tmp/scope/c1/merged/etc", "x", 2);
  scope_.dirs_prune = {"/tmp/scope/images/bb/rootfs"};
  Snapshot s = Take();
  EXPECT_THAT(s.errors, IsEmpty());
  EXPECT_THAT(s.probes["dirs"],
              UnorderedElementsAre("/tmp/scope", "/tmp/scope/state.json", "/tmp/scope/images",
                                   "/tmp/scope/images/bb", "/tmp/scope/images/bb/rootfs",
                                   "/tmp/scope/c1", "/tmp/scope/c1/merged"));
  // A pruned layer that disappears still shows.
  Snapshot before = s;
  sys_.Remove("/tmp/scope/images/bb/rootfs");
  auto diffs = Compare(before, Take());
  ASSERT_EQ(diffs.size(), 1u);
  EXPECT_THAT(diffs[0].vanished, ElementsAre("/tmp/scope/images/bb/rootfs"));
}

// A profile's persistent_paths (crun 1.28 keeps <root>/.empty-directory
// after its last container): the exact path may appear, stay and go; a
// name beside it and anything written into it are still leftovers.
TEST_F(ProbesSnapshot, DirsLeaveOutAPersistentPathButNotItsContentOrSiblings) {
  sys_.AddFile("/tmp/scope/state.json", "{}");
  Snapshot before_plain = Take();
  scope_.dirs_persistent = {"/tmp/scope/.empty-directory/"};
  Snapshot before = Take();
  EXPECT_EQ(before.probes["dirs"], before_plain.probes["dirs"]);
  sys_.AddDir("/tmp/scope/.empty-directory");
  // The probe sees the directory: without the exclusion it is a leftover.
  {
    ProbeScope plain = scope_;
    plain.dirs_persistent.clear();
    auto diffs = Compare(before_plain, TakeSnapshot(sys_, plain));
    ASSERT_EQ(diffs.size(), 1u);
    EXPECT_THAT(diffs[0].appeared, ElementsAre("/tmp/scope/.empty-directory"));
  }
  // With it, the directory alone is no difference, appearing or going.
  Snapshot with_dir = Take();
  EXPECT_THAT(with_dir.errors, IsEmpty());
  EXPECT_THAT(Compare(before, with_dir), IsEmpty());
  // A sibling whose name only starts the same, and a file inside it.
  sys_.AddDir("/tmp/scope/.empty-directory2");
  sys_.AddFile("/tmp/scope/.empty-directory/leak", "x");
  sys_.AddDir("/tmp/scope/.empty-directory/sub");
  auto diffs = Compare(before, Take());
  ASSERT_EQ(diffs.size(), 1u);
  EXPECT_EQ(diffs[0].probe, "dirs");
  EXPECT_THAT(diffs[0].appeared,
              UnorderedElementsAre("/tmp/scope/.empty-directory2",
                                   "/tmp/scope/.empty-directory/leak",
                                   "/tmp/scope/.empty-directory/sub"));
  EXPECT_THAT(diffs[0].vanished, IsEmpty());
  // Removing the persistent directory is no difference either.
  sys_.Remove("/tmp/scope/.empty-directory2");
  sys_.Remove("/tmp/scope/.empty-directory/leak");
  sys_.Remove("/tmp/scope/.empty-directory/sub");
  sys_.Remove("/tmp/scope/.empty-directory");
  EXPECT_THAT(Compare(with_dir, Take()), IsEmpty());
}

// "DIR/*": every name directly in DIR (crun's seccomp cache, one file per
// filter digest); below those names, and DIR's siblings, still show.
TEST_F(ProbesSnapshot, DirsLeaveOutTheNamesOfAPersistentCacheDirOnly) {
  sys_.AddFile("/tmp/scope/state.json", "{}");
  scope_.dirs_persistent = {"/tmp/scope/.cache", "/tmp/scope/.cache/seccomp",
                            "/tmp/scope/.cache/seccomp/*"};
  Snapshot before = Take();
  sys_.AddFile("/tmp/scope/.cache/seccomp/caea1e63", "bpf");
  sys_.AddFile("/tmp/scope/.cache/seccomp/0123abcd", "bpf");
  EXPECT_THAT(Compare(before, Take()), IsEmpty());
  // The probe sees them: without the exclusion they are leftovers.
  {
    ProbeScope plain = scope_;
    plain.dirs_persistent.clear();
    Snapshot b = TakeSnapshot(sys_, plain);
    EXPECT_THAT(b.probes["dirs"], Contains("/tmp/scope/.cache/seccomp/caea1e63"));
    EXPECT_THAT(b.probes["dirs"], Contains("/tmp/scope/.cache"));
  }
  sys_.AddDir("/tmp/scope/.cache/seccomp/d");
  sys_.AddFile("/tmp/scope/.cache/seccomp/d/f", "x");
  sys_.AddFile("/tmp/scope/.cache/systemd-missing-properties", "x");
  auto diffs = Compare(before, Take());
  ASSERT_EQ(diffs.size(), 1u);
  EXPECT_THAT(diffs[0].appeared, UnorderedElementsAre("/tmp/scope/.cache/seccomp/d/f",
                                                      "/tmp/scope/.cache/systemd-missing-properties"));
}

TEST_F(ProbesSnapshot, MissingScopeDirIsAStateButAnUnreadableOneIsAnError) {
  Snapshot s = Take();  // /tmp/scope does not exist yet
  EXPECT_THAT(s.errors, IsEmpty());
  EXPECT_THAT(s.probes["dirs"], IsEmpty());
  sys_.AddDir("/tmp/scope");
  sys_.FailOn("/tmp/scope", EIO);
  s = Take();
  EXPECT_THAT(s.errors, ElementsAre(HasSubstr("probe dirs: lstat /tmp/scope: EIO")));
}

TEST_F(ProbesSnapshot, CgroupsListEveryDirectoryUnderTheParentOncePerHierarchy) {
  sys_.AddDir("/sys/fs/cgroup/pids/ft-1/c1");
  sys_.AddFile("/sys/fs/cgroup/pids/ft-1/c1/pids.max", "10");
  sys_.AddDir("/sys/fs/cgroup/memory/ft-1");
  sys_.AddDir("/sys/fs/cgroup/memory/other/ft-1");  // not under the parent
  Snapshot s = Take();
  EXPECT_THAT(s.errors, IsEmpty());
  EXPECT_THAT(s.probes["cgroups"],
              UnorderedElementsAre("/sys/fs/cgroup/pids/ft-1", "/sys/fs/cgroup/pids/ft-1/c1",
                                   "/sys/fs/cgroup/memory/ft-1"));
  scope_.cgroup_parent.clear();
  EXPECT_EQ(Take().probes.count("cgroups"), 0u);
}

TEST_F(ProbesSnapshot, ProcessesAreChildrenOfTheCallerOrInsideTheCgroupParent) {
  sys_.Proc(200, 100, "my child", "0::/user.slice\n", "mnt:[1]");
  sys_.Proc(201, 1, "in (cg)", "5:pids:/ft-1/c1\n4:memory:/ft-1/c1\n", "mnt:[2]");
  sys_.Proc(202, 1, "near", "5:pids:/ft-10/c1\n", "mnt:[1]");  // prefix but not under
  sys_.Proc(203, 1, "other", "0::/\n", "mnt:[1]");
  Snapshot s = Take();
  EXPECT_THAT(s.errors, IsEmpty());
  EXPECT_THAT(s.probes["processes"], UnorderedElementsAre("200 my child", "201 in (cg)"));
  EXPECT_EQ(sys_.open_files(), 0u);  // every file it opened was closed
}

TEST_F(ProbesSnapshot, ProcessThatExitsMidScanIsSkippedSilently) {
  sys_.Proc(200, 100, "child", "0::/\n", "mnt:[1]");
  sys_.FailOn("/proc/200/stat", ESRCH);
  Snapshot s = Take();
  EXPECT_THAT(s.errors, IsEmpty());
  EXPECT_THAT(s.probes["processes"], IsEmpty());
  // ...but an unreadable /proc is an error.
  sys_.FailOn("/proc", EACCES);
  EXPECT_THAT(Take().errors, Contains(HasSubstr("probe processes: read directory /proc: EACCES")));
}

TEST_F(ProbesSnapshot, HoldersAreScopeMountsOfOtherNamespacesOncePerNamespace) {
  const std::string container_ns =
      "90 67 0:39 / / rw - overlay overlay rw,lowerdir=/tmp/scope/c1/init:/tmp/scope/l\n"
      "68 90 0:42 / /proc rw - proc proc rw\n"
      "91 90 8:1 /tmp/scope/vol /data rw - ext4 /dev/vda rw\n";
  sys_.Proc(300, 1, "sh", "0::/\n", "mnt:[3]", container_ns);
  sys_.Proc(301, 300, "sleep", "0::/\n", "mnt:[3]", container_ns);  // same ns: read once
  // A namespace that never names the scope.
  sys_.Proc(302, 1, "svc", "0::/\n", "mnt:[4]", "50 1 8:1 / / rw - ext4 /dev/vda rw\n");
  // The caller's own namespace is the mounts probe's job.
  sys_.Proc(303, 1, "peer", "0::/\n", "mnt:[1]", kSelfMountinfo);
  Snapshot s = Take();
  EXPECT_THAT(s.errors, IsEmpty());
  EXPECT_THAT(s.probes["holders"],
              UnorderedElementsAre("pid=300 / overlay overlay", "pid=300 /data ext4 /dev/vda"));
  // A process that hides its namespace link (not dumpable) is still read.
  sys_.Proc(304, 1, "hidden", "0::/\n", "mnt:[5]",
            "70 1 0:60 / /tmp/scope/h rw - tmpfs held rw\n");
  sys_.FailOn("/proc/304/ns/mnt", EACCES);
  EXPECT_THAT(Take().probes["holders"], Contains("pid=304 /tmp/scope/h tmpfs held"));
  scope_.holders = false;
  EXPECT_EQ(Take().probes.count("holders"), 0u);
}

TEST_F(ProbesSnapshot, FdsListTheCallersDescriptors) {
  Snapshot s = Take();
  EXPECT_THAT(s.probes["fds"], UnorderedElementsAre("0 -> /dev/null", "7 -> pipe:[123]"));
  sys_.FailOn("/proc/self/fd", EMFILE);
  EXPECT_THAT(Take().errors, ElementsAre(HasSubstr("probe fds: read directory /proc/self/fd: EMFILE")));
}

}  // namespace
}  // namespace faultline
