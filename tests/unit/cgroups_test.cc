// Unit tests for runtime/cgroups and runtime/sys/mountinfo: value parsing,
// layout detection from mountinfo texts, and Cgroup::Create / Attach /
// Destroy against a small in-memory cgroupfs (CgroupFs below), including the
// undo of every partial failure.
#include "runtime/cgroups/cgroups.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "runtime/sys/mountinfo.h"
#include "runtime/sys/sys_wrapper.h"
#include "tests/support/matchers.h"

namespace mydocker {
namespace {

using ::testing::_;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using faultline::testing_matchers::FailsWith;
using ::testing::Pair;

// ---- value parsing ---------------------------------------------------------

TEST(ParseMemorySize, AcceptsUnitsInAnyCase) {
  EXPECT_EQ(*ParseMemorySize("1048576"), 1048576);
  EXPECT_EQ(*ParseMemorySize("0"), 0);
  EXPECT_EQ(*ParseMemorySize("100b"), 100);
  EXPECT_EQ(*ParseMemorySize("512k"), 512 * 1024);
  EXPECT_EQ(*ParseMemorySize("512K"), 512 * 1024);
  EXPECT_EQ(*ParseMemorySize("2kb"), 2048);
  EXPECT_EQ(*ParseMemorySize("32m"), 32LL << 20);
  EXPECT_EQ(*ParseMemorySize("32MB"), 32LL << 20);
  EXPECT_EQ(*ParseMemorySize("1g"), 1LL << 30);
  EXPECT_EQ(*ParseMemorySize("1Gb"), 1LL << 30);
  EXPECT_EQ(*ParseMemorySize("3t"), 3LL << 40);
  EXPECT_EQ(*ParseMemorySize("8388607t"), 8388607LL << 40);  // largest in t
}

TEST(ParseMemorySize, RejectsBadInputNamingTheValue) {
  struct Case {
    const char* in;
    int err;
    const char* words;
  } cases[] = {
      {"", EINVAL, "empty value"},
      {"-1", EINVAL, "\"-1\": must not be negative"},
      {"-5m", EINVAL, "must not be negative"},
      {"m", EINVAL, "\"m\": expected a number"},
      {" 5m", EINVAL, "expected a number"},
      {"5x", EINVAL, "\"5x\": unknown unit \"x\""},
      {"5mm", EINVAL, "unknown unit \"mm\""},
      {"5m ", EINVAL, "unknown unit"},
      {"1.5g", EINVAL, "unknown unit \".5g\""},
      {"5bk", EINVAL, "unknown unit"},
      {"8388608t", ERANGE, "\"8388608t\": too large"},
      {"9223372036854775808", ERANGE, "too large"},
      {"99999999999999999999999k", ERANGE, "too large"},
  };
  for (const Case& c : cases) {
    auto r = ParseMemorySize(c.in);
    ASSERT_THAT(r, FailsWith("cgroup: parse memory size", _, c.err)) << c.in;
    EXPECT_THAT(r.error().Message(), HasSubstr(c.words)) << c.in;
  }
}

TEST(ParseCpus, AcceptsPositiveDecimals) {
  EXPECT_DOUBLE_EQ(*ParseCpus("1"), 1.0);
  EXPECT_DOUBLE_EQ(*ParseCpus("1.5"), 1.5);
  EXPECT_DOUBLE_EQ(*ParseCpus(".25"), 0.25);
  EXPECT_DOUBLE_EQ(*ParseCpus("0.01"), 0.01);
}

TEST(ParseCpus, RejectsZeroNegativeNonFiniteAndJunk) {
  for (const char* in : {"", "0", "0.0", "-1", "inf", "nan", "1e3", "0x1", "1.5x", "1..5", " 1",
                         "1,5"}) {
    auto r = ParseCpus(in);
    ASSERT_THAT(r, FailsWith("cgroup: parse cpus", _, EINVAL)) << in;
    if (*in != '\0') {
      EXPECT_THAT(r.error().detail, HasSubstr(std::string("\"") + in + "\"")) << in;
    }
  }
  EXPECT_THAT(ParseCpus("0").error().detail, HasSubstr("must be > 0"));
  EXPECT_THAT(ParseCpus("abc").error().detail, HasSubstr("expected a decimal number"));
  EXPECT_EQ(ParseCpus("100000000000000").error().err, ERANGE);
}

TEST(ParseCpuList, AcceptsListsAndRanges) {
  for (const char* in : {"0", "0-3", "0-3,5", "1,3,5-7", "7-7", "999", "8191"}) {
    auto r = ParseCpuList(in);
    ASSERT_TRUE(r.ok()) << in << ": " << r.error().Message();
    EXPECT_EQ(*r, in);
  }
}

TEST(ParseCpuList, RejectsMalformedLists) {
  struct Case {
    const char* in;
    int err;
    const char* words;
  } cases[] = {
      {"", EINVAL, "empty value"},
      {",", EINVAL, "bad item \"\""},
      {"0,", EINVAL, "bad item \"\""},
      {"0-", EINVAL, "bad item \"0-\""},
      {"-1", EINVAL, "bad item \"-1\""},
      {"a", EINVAL, "bad item \"a\""},
      {"0-1-2", EINVAL, "bad item \"0-1-2\""},
      {"0 - 1", EINVAL, "bad item"},
      {"3-1", EINVAL, "range \"3-1\" runs backwards"},
      {"8192", ERANGE, "cpu number above 8191"},
      {"0-99999999999", ERANGE, "above"},
  };
  for (const Case& c : cases) {
    auto r = ParseCpuList(c.in);
    ASSERT_THAT(r, FailsWith("cgroup: parse cpu list", _, c.err)) << c.in;
    EXPECT_THAT(r.error().detail, HasSubstr(c.words)) << c.in;
  }
}

TEST(SharesToWeight, MatchesTheRuncFormulaAndClamps) {
  EXPECT_EQ(SharesToWeight(2), 1u);
  EXPECT_EQ(SharesToWeight(1024), 39u);  // 1 + 1022*9999/262142 = 1 + 38
  EXPECT_EQ(SharesToWeight(262144), 10000u);
  EXPECT_EQ(SharesToWeight(0), 1u);
  EXPECT_EQ(SharesToWeight(1), 1u);
  EXPECT_EQ(SharesToWeight(1u << 30), 10000u);
  EXPECT_EQ(SharesToWeight(512), 1 + (510u * 9999) / 262142);
}

TEST(CpusToMax, QuotaOverPeriod) {
  EXPECT_EQ(CpusToMax(1.5), "150000 100000");
  EXPECT_EQ(CpusToMax(0.5), "50000 100000");
  EXPECT_EQ(CpusToMax(2), "200000 100000");
  EXPECT_EQ(CpusToMax(0.01), "1000 100000");
}

// ---- mountinfo -------------------------------------------------------------

TEST(ParseMountinfo, UnescapesPathsAndKeepsOptionalFields) {
  const std::string text =
      "36 35 98:0 /mnt\\0401 /mnt\\040two rw,noatime master:1 shared:7 - ext3 /dev/root "
      "rw,errors=continue\n"
      "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
  auto r = ParseMountinfo(text);
  ASSERT_TRUE(r.ok()) << r.error().Message();
  ASSERT_EQ(r->size(), 2u);
  const MountEntry& a = (*r)[0];
  EXPECT_EQ(a.id, 36);
  EXPECT_EQ(a.parent, 35);
  EXPECT_EQ(a.root, "/mnt 1");
  EXPECT_EQ(a.target, "/mnt two");
  EXPECT_EQ(a.fstype, "ext3");
  EXPECT_EQ(a.source, "/dev/root");
  EXPECT_EQ(a.options, "rw,noatime");
  EXPECT_EQ(a.super_options, "rw,errors=continue");
  EXPECT_EQ(a.optional_fields, "master:1 shared:7");
  const MountEntry& b = (*r)[1];
  EXPECT_EQ(b.id, 41);
  EXPECT_EQ(b.target, "/sys/fs/cgroup/unified");
  EXPECT_EQ(b.fstype, "cgroup2");
  EXPECT_EQ(b.optional_fields, "");
}

TEST(ParseMountinfo, EmptyTextHasNoEntries) {
  auto r = ParseMountinfo("");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
}

TEST(ParseMountinfo, RejectsBadLinesWithTheLineNumber) {
  auto junk = ParseMountinfo(
      "36 35 98:0 / /mnt rw - ext3 /dev/root rw\n"
      "garbage here\n");
  ASSERT_THAT(junk, FailsWith("mountinfo: parse", _, EINVAL));
  EXPECT_THAT(junk.error().detail, HasSubstr("line 2 is not a mountinfo line: \"garbage here\""));

  auto no_separator = ParseMountinfo("36 35 98:0 /mnt1 /mnt2 rw,noatime\n");
  ASSERT_FALSE(no_separator.ok());
  EXPECT_THAT(no_separator.error().detail, HasSubstr("line 1"));

  // fstab format parses with libmount but is not mountinfo.
  auto fstab = ParseMountinfo("proc /proc proc defaults 0 0\n");
  ASSERT_FALSE(fstab.ok());
  EXPECT_THAT(fstab.error().detail, HasSubstr("line 1 is not a mountinfo line"));
}

TEST(ParseMountinfo, ParsesThisHostsOwnTable) {
  // Whatever this machine mounts, its own table must parse and contain "/".
  FILE* f = fopen("/proc/self/mountinfo", "re");
  ASSERT_NE(f, nullptr);
  std::string text;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
  fclose(f);
  auto r = ParseMountinfo(text);
  ASSERT_TRUE(r.ok()) << r.error().Message();
  size_t lines = std::count(text.begin(), text.end(), '\n');
  EXPECT_EQ(r->size(), lines);
  bool has_root = false;
  for (const MountEntry& e : *r) has_root |= e.target == "/";
  EXPECT_TRUE(has_root);
}

// ---- layout ----------------------------------------------------------------

// This host's table (Debian 12 VM, kernel 6.18): v1 controllers each on
// their own mount, cgroup2 at /sys/fs/cgroup/unified with no controllers.
const char kHybridHost[] =
    "22 27 0:21 / /proc rw,relatime - proc proc rw\n"
    "23 27 0:22 / /sys rw,relatime - sysfs sysfs rw\n"
    "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534\n"
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
    "34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices\n"
    "37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer\n"
    "38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio\n"
    "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
    "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

// A systemd v1 host: cpu and cpuacct co-mounted, net_cls,net_prio too.
const char kCoMountedHost[] =
    "25 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
    "26 25 0:23 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755\n"
    "27 26 0:24 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 "
    "cgroup2 rw,nsdelegate\n"
    "28 26 0:25 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup "
    "cgroup rw,xattr,name=systemd\n"
    "31 26 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:14 - cgroup "
    "cgroup rw,cpu,cpuacct\n"
    "32 26 0:29 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:15 - "
    "cgroup cgroup rw,net_cls,net_prio\n"
    "33 26 0:30 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:16 - cgroup "
    "cgroup rw,memory\n"
    "34 26 0:31 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:17 - cgroup "
    "cgroup rw,cpuset\n";

const char kPureV2Host[] =
    "25 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
    "26 25 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:2 - sysfs sysfs rw\n"
    "27 26 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 "
    "rw,nsdelegate,memory_recursiveprot\n";

TEST(CgroupLayout, ThisHybridHostIsV1WithOwnMounts) {
  auto r = CgroupLayoutFromMountinfo(kHybridHost);
  ASSERT_TRUE(r.ok()) << r.error().Message();
  EXPECT_EQ(r->version, CgroupVersion::kV1);
  EXPECT_EQ(r->unified, "");
  EXPECT_THAT(r->v1_mounts, ElementsAre(Pair("memory", "/sys/fs/cgroup/memory"),
                                        Pair("cpu", "/sys/fs/cgroup/cpu"),
                                        Pair("cpuset", "/sys/fs/cgroup/cpuset"),
                                        Pair("pids", "/sys/fs/cgroup/pids")));
}

TEST(CgroupLayout, CoMountedCpuCpuacctAndMissingPids) {
  auto r = CgroupLayoutFromMountinfo(kCoMountedHost);
  ASSERT_TRUE(r.ok()) << r.error().Message();
  EXPECT_EQ(r->version, CgroupVersion::kV1);
  EXPECT_THAT(r->v1_mounts, ElementsAre(Pair("memory", "/sys/fs/cgroup/memory"),
                                        Pair("cpu", "/sys/fs/cgroup/cpu,cpuacct"),
                                        Pair("cpuset", "/sys/fs/cgroup/cpuset")));
}

TEST(CgroupLayout, PureV2Host) {
  auto r = CgroupLayoutFromMountinfo(kPureV2Host);
  ASSERT_TRUE(r.ok()) << r.error().Message();
  EXPECT_EQ(r->version, CgroupVersion::kV2);
  EXPECT_EQ(r->unified, "/sys/fs/cgroup");
  EXPECT_TRUE(r->v1_mounts.empty());
}

TEST(CgroupLayout, NoCgroupsAtAllIsAnError) {
  auto r = CgroupLayoutFromMountinfo(
      "25 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
      "28 26 0:25 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\n"
      "29 26 0:26 / /somewhere/else rw - cgroup2 cgroup2 rw\n");
  EXPECT_THAT(r, FailsWith("cgroup: detect layout", _, ENOENT));
}

TEST(CgroupLayout, ParseErrorsPassThrough) {
  auto r = CgroupLayoutFromMountinfo("not mountinfo\n");
  EXPECT_THAT(r, FailsWith("mountinfo: parse", _, _));
}

// ---- Create / Attach / Destroy on an in-memory cgroupfs --------------------

// A cgroupfs model: directories under registered mounts get the control
// files of their hierarchy on mkdir; rmdir fails with EBUSY while
// cgroup.procs is non-empty; writes replace a file's content (cgroup.procs
// appends, subtree_control applies +/-). A test can make the write of one
// file fail with an errno, or all of a directory's writes fail.
class CgroupFs : public mydocker::ErrnoSys {
 public:
  // mount: root of a hierarchy; files: control files every directory there has.
  void AddHierarchy(const std::string& mount, std::vector<std::string> files,
                    std::map<std::string, std::string> root_values = {}) {
    hierarchies_[mount] = files;
    dirs_.insert(mount);
    for (const auto& f : files) files_[mount + "/" + f] = "";
    for (const auto& [f, v] : root_values) files_[mount + "/" + f] = v;
  }
  void FailWrite(const std::string& path, int err) { fail_write_[path] = err; }
  std::set<std::string> dirs() const { return dirs_; }
  std::string File(const std::string& path) const {
    auto it = files_.find(path);
    return it == files_.end() ? "<missing>" : it->second;
  }
  void SetFile(const std::string& path, const std::string& v) { files_[path] = v; }
  std::vector<std::string> log;  // "mkdir X", "rmdir X", "write X=V"
  std::vector<std::string> reads;  // every path opened read-only, in order

  Status Mkdir(const std::string& path, mode_t) override {
    log.push_back("mkdir " + path);
    if (dirs_.count(path) || files_.count(path)) return Status::Errno(EEXIST);
    const std::string parent = path.substr(0, path.rfind('/'));
    if (!dirs_.count(parent)) return Status::Errno(ENOENT);
    dirs_.insert(path);
    for (const auto& [mount, files] : hierarchies_) {
      if (path.rfind(mount + "/", 0) != 0) continue;
      for (const auto& f : files) {
        // v2: controller files appear once the parent enables the controller.
        const std::string ctrl = f.substr(0, f.find('.'));
        if (!v2_ || ctrl == "cgroup" || Enabled(parent, ctrl)) files_[path + "/" + f] = "";
      }
      if (v2_) files_[path + "/cgroup.controllers"] = files_[parent + "/cgroup.subtree_control"];
    }
    return Status::Ok();
  }
  Status Rmdir(const std::string& path) override {
    log.push_back("rmdir " + path);
    if (!dirs_.count(path)) return Status::Errno(ENOENT);
    if (!File(path + "/cgroup.procs").empty()) return Status::Errno(EBUSY);
    for (const auto& d : dirs_) {
      if (d.rfind(path + "/", 0) == 0) return Status::Errno(EBUSY);
    }
    dirs_.erase(path);
    for (auto it = files_.begin(); it != files_.end();) {
      it = it->first.rfind(path + "/", 0) == 0 ? files_.erase(it) : std::next(it);
    }
    return Status::Ok();
  }
  Result<FileStat> Lstat(const std::string& path) override {
    if (dirs_.count(path)) return {{S_IFDIR | 0755}, 0};
    if (files_.count(path)) return {{S_IFREG | 0644}, 0};
    return {{}, ENOENT};
  }
  Result<int> Open(const std::string& path, int flags, mode_t) override {
    if ((flags & O_ACCMODE) == O_RDONLY) reads.push_back(path);
    if (!files_.count(path)) return {-1, ENOENT};
    int fd = next_fd_++;
    open_[fd] = {path, 0};
    return {fd, 0};
  }
  Status Close(int fd) override { return open_.erase(fd) ? Status::Ok() : Status::Errno(EBADF); }
  Result<size_t> Read(int fd, void* buf, size_t len) override {
    auto& [path, off] = open_.at(fd);
    const std::string& s = files_[path];
    size_t n = std::min(len, s.size() - off);
    memcpy(buf, s.data() + off, n);
    off += n;
    return {n, 0};
  }
  Result<size_t> Write(int fd, const void* buf, size_t len) override {
    const std::string path = open_.at(fd).first;
    const std::string v(static_cast<const char*>(buf), len);
    log.push_back("write " + path + "=" + v);
    auto f = fail_write_.find(path);
    if (f != fail_write_.end()) return {0, f->second};
    const std::string base = path.substr(path.rfind('/') + 1);
    if (base == "cgroup.procs") {
      files_[path] += v + "\n";
    } else if (base == "cgroup.subtree_control") {
      std::string& cur = files_[path];
      for (size_t i = 0; i < v.size();) {
        size_t end = v.find(' ', i);
        std::string tok = v.substr(i, end == std::string::npos ? std::string::npos : end - i);
        i = end == std::string::npos ? v.size() : end + 1;
        if (tok.size() < 2 || tok[0] != '+') return {0, EINVAL};
        cur += (cur.empty() ? "" : " ") + tok.substr(1);
      }
      // Existing children see the controllers and get their files.
      const std::string dir = path.substr(0, path.rfind('/'));
      for (const auto& d : dirs_) {
        if (d.rfind(dir + "/", 0) != 0 || d.find('/', dir.size() + 1) != std::string::npos) continue;
        files_[d + "/cgroup.controllers"] = cur;
        for (const auto& [mount, hfiles] : hierarchies_) {
          if (d.rfind(mount + "/", 0) != 0) continue;
          for (const auto& hf : hfiles) {
            if (Enabled(dir, hf.substr(0, hf.find('.'))) && !files_.count(d + "/" + hf)) {
              files_[d + "/" + hf] = "";
            }
          }
        }
      }
    } else {
      files_[path] = v;
    }
    return {len, 0};
  }

  bool v2_ = false;

 private:
  bool Enabled(const std::string& dir, const std::string& ctrl) {
    const std::string& on = files_[dir + "/cgroup.subtree_control"];
    return (" " + on + " ").find(" " + ctrl + " ") != std::string::npos;
  }
  std::map<std::string, std::vector<std::string>> hierarchies_;
  std::set<std::string> dirs_;
  std::map<std::string, std::string> files_;
  std::map<std::string, int> fail_write_;
  std::map<int, std::pair<std::string, size_t>> open_;
  int next_fd_ = 3;
};

const std::string kMem = "/sys/fs/cgroup/memory";
const std::string kCpu = "/sys/fs/cgroup/cpu,cpuacct";
const std::string kCpuset = "/sys/fs/cgroup/cpuset";
const std::string kPids = "/sys/fs/cgroup/pids";

CgroupLayout V1Layout() {
  CgroupLayout l;
  l.version = CgroupVersion::kV1;
  l.v1_mounts = {{"memory", kMem}, {"cpu", kCpu}, {"cpuset", kCpuset}, {"pids", kPids}};
  return l;
}

void AddV1(CgroupFs& fs, bool memsw) {
  std::vector<std::string> mem = {"cgroup.procs", "memory.limit_in_bytes"};
  if (memsw) mem.push_back("memory.memsw.limit_in_bytes");
  fs.AddHierarchy(kMem, mem);
  fs.AddHierarchy(kCpu, {"cgroup.procs", "cpu.shares", "cpu.cfs_period_us", "cpu.cfs_quota_us"});
  fs.AddHierarchy(kCpuset, {"cgroup.procs", "cpuset.cpus", "cpuset.mems"},
                  {{"cpuset.cpus", "0-1\n"}, {"cpuset.mems", "0\n"}});
  fs.AddHierarchy(kPids, {"cgroup.procs", "pids.max"});
}

CgroupLimits AllLimits() {
  CgroupLimits l;
  l.memory_bytes = 64LL << 20;
  l.cpu_shares = 512;
  l.cpus = 0.5;
  l.cpuset_cpus = "1";
  l.pids_limit = 32;
  return l;
}

TEST(CgroupV1, CreateWritesEveryLimitAndFillsCpusets) {
  CgroupFs fs;
  AddV1(fs, /*memsw=*/true);
  auto cg = Cgroup::Create(fs, V1Layout(), "/mydocker/", "c1", AllLimits());
  ASSERT_TRUE(cg.ok()) << cg.error().Message();
  EXPECT_THAT(cg->paths(), ElementsAre(kMem + "/mydocker/c1", kCpu + "/mydocker/c1",
                                       kCpuset + "/mydocker/c1", kPids + "/mydocker/c1"));
  EXPECT_EQ(fs.File(kMem + "/mydocker/c1/memory.limit_in_bytes"), "67108864");
  EXPECT_EQ(fs.File(kMem + "/mydocker/c1/memory.memsw.limit_in_bytes"), "67108864");
  EXPECT_EQ(fs.File(kCpu + "/mydocker/c1/cpu.shares"), "512");
  EXPECT_EQ(fs.File(kCpu + "/mydocker/c1/cpu.cfs_period_us"), "100000");
  EXPECT_EQ(fs.File(kCpu + "/mydocker/c1/cpu.cfs_quota_us"), "50000");
  EXPECT_EQ(fs.File(kCpuset + "/mydocker/cpuset.cpus"), "0-1");  // from the root
  EXPECT_EQ(fs.File(kCpuset + "/mydocker/cpuset.mems"), "0");
  EXPECT_EQ(fs.File(kCpuset + "/mydocker/c1/cpuset.cpus"), "1");
  EXPECT_EQ(fs.File(kCpuset + "/mydocker/c1/cpuset.mems"), "0");
  EXPECT_EQ(fs.File(kPids + "/mydocker/c1/pids.max"), "32");

  ASSERT_TRUE(cg->Attach(4242).ok());
  for (const auto& p : cg->paths()) EXPECT_EQ(fs.File(p + "/cgroup.procs"), "4242\n");
  auto busy = cg->Destroy();
  ASSERT_THAT(busy, FailsWith("cgroup: destroy", _, EBUSY));
  // Every path was tried, not just the first.
  for (const auto& p : cg->paths()) {
    EXPECT_EQ(std::count(fs.log.begin(), fs.log.end(), "rmdir " + p), 1) << p;
  }
  for (const auto& p : cg->paths()) fs.SetFile(p + "/cgroup.procs", "");
  ASSERT_TRUE(cg->Destroy().ok());
  ASSERT_TRUE(cg->Destroy().ok()) << "a second Destroy finds nothing and is fine";
  for (const auto& p : cg->paths()) EXPECT_FALSE(fs.dirs().count(p)) << p;
  EXPECT_TRUE(fs.dirs().count(kMem + "/mydocker")) << "the shared parent stays";
}

TEST(CgroupV1, NoSwapAccountingAndNoCpusetLimitCopiesTheParent) {
  CgroupFs fs;
  AddV1(fs, /*memsw=*/false);
  CgroupLimits l;
  l.memory_bytes = 1 << 20;
  auto cg = Cgroup::Create(fs, V1Layout(), "a/b", "c", l);
  ASSERT_TRUE(cg.ok()) << cg.error().Message();
  EXPECT_EQ(fs.File(kMem + "/a/b/c/memory.limit_in_bytes"), "1048576");
  EXPECT_EQ(fs.File(kMem + "/a/b/c/memory.memsw.limit_in_bytes"), "<missing>");
  EXPECT_EQ(fs.File(kCpuset + "/a/cpuset.cpus"), "0-1");
  EXPECT_EQ(fs.File(kCpuset + "/a/b/cpuset.cpus"), "0-1");
  EXPECT_EQ(fs.File(kCpuset + "/a/b/c/cpuset.cpus"), "0-1");
  EXPECT_EQ(fs.File(kCpuset + "/a/b/c/cpuset.mems"), "0");
  EXPECT_EQ(fs.File(kCpu + "/a/b/c/cpu.shares"), "") << "no limit, no write";
}

// Each cpuset file of a level is read once: the parent's values are read
// (or, for a level this call filled, known) and written into the new
// cgroup without reading it or the parent again.
TEST(CgroupV1, CpusetFilesAreReadOncePerLevel) {
  CgroupFs fs;
  AddV1(fs, false);
  ASSERT_TRUE(fs.Mkdir(kCpuset + "/p", 0755).ok());  // an existing parent, filled
  fs.SetFile(kCpuset + "/p/cpuset.cpus", "0-1\n");
  fs.SetFile(kCpuset + "/p/cpuset.mems", "0\n");
  auto cg = Cgroup::Create(fs, V1Layout(), "p", "c", {});
  ASSERT_TRUE(cg.ok()) << cg.error().Message();
  std::vector<std::string> cpuset_reads;
  for (const auto& r : fs.reads) {
    if (r.rfind(kCpuset + "/", 0) == 0) cpuset_reads.push_back(r);
  }
  EXPECT_THAT(cpuset_reads, ElementsAre(kCpuset + "/p/cpuset.cpus", kCpuset + "/p/cpuset.mems"));
  EXPECT_EQ(fs.File(kCpuset + "/p/c/cpuset.cpus"), "0-1");
  EXPECT_EQ(fs.File(kCpuset + "/p/c/cpuset.mems"), "0");

  // A new parent chain: each level read once, the root once; every value
  // below comes from the level above.
  CgroupFs fresh;
  AddV1(fresh, false);
  auto cg2 = Cgroup::Create(fresh, V1Layout(), "a/b", "c", {});
  ASSERT_TRUE(cg2.ok()) << cg2.error().Message();
  cpuset_reads.clear();
  for (const auto& r : fresh.reads) {
    if (r.rfind(kCpuset + "/", 0) == 0) cpuset_reads.push_back(r);
  }
  EXPECT_THAT(cpuset_reads,
              ElementsAre(kCpuset + "/a/cpuset.cpus", kCpuset + "/cpuset.cpus",
                          kCpuset + "/a/cpuset.mems", kCpuset + "/cpuset.mems",
                          kCpuset + "/a/b/cpuset.cpus", kCpuset + "/a/b/cpuset.mems"));
  EXPECT_EQ(fresh.File(kCpuset + "/a/b/c/cpuset.cpus"), "0-1");
  EXPECT_EQ(fresh.File(kCpuset + "/a/b/c/cpuset.mems"), "0");
}

TEST(CgroupV1, FailedLimitWriteRemovesEverythingThisCallMade) {
  CgroupFs fs;
  AddV1(fs, true);
  const auto before = fs.dirs();
  fs.FailWrite(kPids + "/p/c/pids.max", EINVAL);  // the very last step
  auto cg = Cgroup::Create(fs, V1Layout(), "p", "c", AllLimits());
  ASSERT_THAT(cg, FailsWith("cgroup: write limit", kPids + "/p/c/pids.max", EINVAL));
  EXPECT_THAT(cg.error().Message(),
              HasSubstr("cgroup: write limit /sys/fs/cgroup/pids/p/c/pids.max: EINVAL"));
  EXPECT_THAT(cg.error().detail, HasSubstr("\"32\""));
  EXPECT_EQ(fs.dirs(), before);
  // Newest first: the pids child, then the pids parent, ..., the memory parent.
  std::vector<std::string> rmdirs;
  for (const auto& l : fs.log) if (l.rfind("rmdir ", 0) == 0) rmdirs.push_back(l.substr(6));
  EXPECT_THAT(rmdirs, ElementsAre(kPids + "/p/c", kPids + "/p", kCpuset + "/p/c", kCpuset + "/p",
                                  kCpu + "/p/c", kCpu + "/p", kMem + "/p/c", kMem + "/p"));
}

TEST(CgroupV1, ExistingParentIsKeptOnFailure) {
  CgroupFs fs;
  AddV1(fs, true);
  ASSERT_TRUE(fs.Mkdir(kMem + "/p", 0755).ok());
  fs.FailWrite(kCpuset + "/p/c/cpuset.cpus", EINVAL);
  auto cg = Cgroup::Create(fs, V1Layout(), "p", "c", AllLimits());
  ASSERT_FALSE(cg.ok());
  EXPECT_EQ(cg.error().path, kCpuset + "/p/c/cpuset.cpus");
  EXPECT_EQ(fs.dirs().count(kMem + "/p"), 1u);
  EXPECT_EQ(fs.dirs().count(kMem + "/p/c"), 0u);
  EXPECT_EQ(fs.dirs().count(kCpu + "/p"), 0u);
  EXPECT_EQ(fs.dirs().count(kCpuset + "/p"), 0u);
}

TEST(CgroupV1, ExistingChildIsEexistAndUntouched) {
  CgroupFs fs;
  AddV1(fs, true);
  ASSERT_TRUE(fs.Mkdir(kMem + "/p", 0755).ok());
  ASSERT_TRUE(fs.Mkdir(kMem + "/p/c", 0755).ok());
  auto cg = Cgroup::Create(fs, V1Layout(), "p", "c", {});
  ASSERT_THAT(cg, FailsWith("cgroup: create", _, EEXIST));
  EXPECT_EQ(fs.dirs().count(kMem + "/p/c"), 1u);
}

TEST(CgroupV1, MissingControllerFailsBeforeAnythingIsMade) {
  CgroupFs fs;
  AddV1(fs, true);
  CgroupLayout l = V1Layout();
  l.v1_mounts.pop_back();  // no pids
  CgroupLimits lim;
  lim.pids_limit = 5;
  const auto before = fs.dirs();
  auto cg = Cgroup::Create(fs, l, "p", "c", lim);
  ASSERT_FALSE(cg.ok());
  EXPECT_EQ(cg.error().err, ENOENT);
  EXPECT_THAT(cg.error().detail, HasSubstr("no v1 pids hierarchy"));
  EXPECT_EQ(fs.dirs(), before);
  EXPECT_TRUE(fs.log.empty());
}

TEST(CgroupV1, RejectsBadNamesAndLimits) {
  CgroupFs fs;
  AddV1(fs, true);
  EXPECT_THAT(Cgroup::Create(fs, V1Layout(), "p", "", {}), FailsWith("cgroup: check name", _, _));
  EXPECT_THAT(Cgroup::Create(fs, V1Layout(), "p", "a/b", {}), FailsWith("cgroup: check name", _, _));
  EXPECT_THAT(Cgroup::Create(fs, V1Layout(), "p/../..", "c", {}), FailsWith("cgroup: check name", _, _));
  CgroupLimits neg;
  neg.memory_bytes = -1;
  EXPECT_THAT(Cgroup::Create(fs, V1Layout(), "p", "c", neg), FailsWith("cgroup: check limits", _, _));
  CgroupLimits tiny;
  tiny.cpus = 0.001;
  EXPECT_THAT(Cgroup::Create(fs, V1Layout(), "p", "c", tiny).error().detail, HasSubstr(">= 0.01"));
  EXPECT_TRUE(fs.log.empty());
}

TEST(CgroupV1, ExistingRebuildsThePaths) {
  CgroupFs fs;
  Cgroup cg = Cgroup::Existing(fs, V1Layout(), "/p//q/", "c");
  EXPECT_THAT(cg.paths(), ElementsAre(kMem + "/p/q/c", kCpu + "/p/q/c", kCpuset + "/p/q/c",
                                      kPids + "/p/q/c"));
  EXPECT_TRUE(fs.log.empty());
}

const std::string kV2 = "/sys/fs/cgroup";

CgroupLayout V2Layout() {
  CgroupLayout l;
  l.version = CgroupVersion::kV2;
  l.unified = kV2;
  return l;
}

void AddV2(CgroupFs& fs, const std::string& root_controllers) {
  fs.v2_ = true;
  fs.AddHierarchy(kV2,
                  {"cgroup.procs", "cgroup.controllers", "cgroup.subtree_control", "memory.max",
                   "cpu.weight", "cpu.max", "cpuset.cpus", "pids.max"},
                  {{"cgroup.controllers", root_controllers}});
}

TEST(CgroupV2, EnablesControllersDownTheChainAndWritesLimits) {
  CgroupFs fs;
  AddV2(fs, "cpuset cpu io memory hugetlb pids rdma misc\n");
  auto cg = Cgroup::Create(fs, V2Layout(), "mydocker", "c1", AllLimits());
  ASSERT_TRUE(cg.ok()) << cg.error().Message();
  EXPECT_THAT(cg->paths(), ElementsAre(kV2 + "/mydocker/c1"));
  EXPECT_EQ(fs.File(kV2 + "/cgroup.subtree_control"), "memory cpu cpuset pids");
  EXPECT_EQ(fs.File(kV2 + "/mydocker/cgroup.subtree_control"), "memory cpu cpuset pids");
  const std::string c = kV2 + "/mydocker/c1/";
  EXPECT_EQ(fs.File(c + "memory.max"), "67108864");
  EXPECT_EQ(fs.File(c + "cpu.weight"), std::to_string(SharesToWeight(512)));
  EXPECT_EQ(fs.File(c + "cpu.max"), "50000 100000");
  EXPECT_EQ(fs.File(c + "cpuset.cpus"), "1");
  EXPECT_EQ(fs.File(c + "pids.max"), "32");
  ASSERT_TRUE(cg->Attach(7).ok());
  EXPECT_EQ(fs.File(c + "cgroup.procs"), "7\n");
}

TEST(CgroupV2, EnablesOnlyAvailableControllersAndSkipsEnabledOnes) {
  CgroupFs fs;
  AddV2(fs, "memory pids");
  fs.SetFile(kV2 + "/cgroup.subtree_control", "memory");
  auto cg = Cgroup::Create(fs, V2Layout(), "p", "c", {});
  ASSERT_TRUE(cg.ok()) << cg.error().Message();
  EXPECT_EQ(fs.File(kV2 + "/cgroup.subtree_control"), "memory pids");
  EXPECT_EQ(std::count(fs.log.begin(), fs.log.end(), "write " + kV2 + "/cgroup.subtree_control=+pids"), 1);
}

TEST(CgroupV2, NoControllersAnywhereStillCreatesWithoutLimits) {
  // The hybrid host's /sys/fs/cgroup/unified.
  CgroupFs fs;
  AddV2(fs, "");
  auto cg = Cgroup::Create(fs, V2Layout(), "p", "c", {});
  ASSERT_TRUE(cg.ok()) << cg.error().Message();
  for (const auto& l : fs.log) EXPECT_EQ(l.rfind("write", 0), std::string::npos) << l;
  CgroupLimits lim;
  lim.memory_bytes = 1 << 20;
  auto limited = Cgroup::Create(fs, V2Layout(), "p", "d", lim);
  ASSERT_FALSE(limited.ok());
  EXPECT_EQ(limited.error().path, kV2 + "/p/d/memory.max");
  EXPECT_EQ(limited.error().err, ENOENT);
  EXPECT_THAT(limited.error().detail, HasSubstr("controller is not available"));
  EXPECT_EQ(fs.dirs().count(kV2 + "/p/d"), 0u);
  EXPECT_EQ(fs.dirs().count(kV2 + "/p"), 1u) << "p existed before this call";
}

TEST(CgroupV2, FailedEnableUndoesTheParent) {
  CgroupFs fs;
  AddV2(fs, "memory");
  fs.FailWrite(kV2 + "/p/cgroup.subtree_control", EBUSY);
  auto cg = Cgroup::Create(fs, V2Layout(), "p", "c", {});
  ASSERT_THAT(cg, FailsWith("cgroup: enable controllers", kV2 + "/p/cgroup.subtree_control",
                            EBUSY));
  EXPECT_EQ(fs.dirs(), std::set<std::string>{kV2});
}

TEST(DetectCgroupLayout, ReadsProcSelfMountinfoThroughSys) {
  CgroupFs fs;  // no /proc here: the read fails and names the file
  auto r = DetectCgroupLayout(fs);
  EXPECT_THAT(r, FailsWith("cgroup: detect layout", "/proc/self/mountinfo", ENOENT));
}

TEST(DetectCgroupLayout, ParsesTheFileItReads) {
  CgroupFs fs;
  fs.SetFile("/proc/self/mountinfo", kHybridHost);
  auto r = DetectCgroupLayout(fs);
  ASSERT_TRUE(r.ok()) << r.error().Message();
  EXPECT_EQ(r->version, CgroupVersion::kV1);
  EXPECT_EQ(r->v1_mounts.size(), 4u);
}

}  // namespace
}  // namespace mydocker
