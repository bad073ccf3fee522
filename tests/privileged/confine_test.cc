// Container paths resolve inside the container root (issue 12): an image
// that plants a symlink to a host directory cannot make mydocker write on
// the host. Each test first proves it can see the write it checks for (the
// probe runs on the host path the old code wrote to), and ends with the
// host as before.
//
// FAULTLINE_MYDOCKER=<an older mydocker> runs the same tests against that
// binary: before the fix, HostileSymlinkVolumeTargetStaysInTheRoot fails
// with the directory made on the host.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <filesystem>

#include <gtest/gtest.h>

#include "harness/oci/bundle.h"
#include "runtime/rootfs/hardening.h"
#include "runtime/sys/fs_util.h"
#include "tests/privileged/privileged_env.h"

namespace faultline {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

class Confine : public PrivilegedTest {
 protected:
  // A directory under the scratch dir, outside every container root.
  std::string MakeDir(const std::string& name) {
    const std::string dir = env().scratch() + "/" + name;
    EXPECT_EQ(::mkdir(dir.c_str(), 0755), 0) << dir << ": " << strerror(errno);
    return dir;
  }

  // Imports busybox with, for each {link, target}, the entry link replaced
  // by a symlink to target (absolute host paths) and, when in_root, the
  // directory target itself inside the image, so the link resolves inside
  // the root too.
  void ImportWithSymlinks(const std::string& name,
                          const std::vector<std::pair<std::string, std::string>>& links,
                          bool in_root) {
    std::string error;
    const std::string base = PrivilegedImageTar(&error);
    ASSERT_FALSE(base.empty()) << error;
    const std::string work = MakeDir("tar-" + name);
    const std::string tree = work + "/tree";
    const std::string tar = work + "/image.tar";
    // The import refuses a name twice in one tar: the links replace the
    // base's entries in an unpacked copy, which is packed again.
    ASSERT_EQ(RunCommand({"/bin/mkdir", tree}).exit_code, 0);
    ASSERT_EQ(RunCommand({"/bin/tar", "-xpf", base, "-C", tree}).exit_code, 0);
    for (const auto& [link, target] : links) {
      ASSERT_EQ(RunCommand({"/bin/rm", "-rf", tree + "/" + link}).exit_code, 0);
      ASSERT_EQ(::symlink(target.c_str(), (tree + "/" + link).c_str()), 0) << strerror(errno);
      if (in_root) ASSERT_EQ(RunCommand({"/bin/mkdir", "-p", tree + target}).exit_code, 0);
    }
    std::vector<std::string> argv = {"/bin/tar", "--numeric-owner", "-cf", tar, "-C", tree};
    for (const auto& e : std::filesystem::directory_iterator(tree))
      argv.push_back(e.path().filename().string());
    CommandResult pack = RunCommand(argv);
    ASSERT_EQ(pack.exit_code, 0) << pack.Describe();
    CommandResult imp = env().Mydocker({"image", "import", tar, name});
    ASSERT_EQ(imp.exit_code, 0) << imp.Describe();
    ASSERT_EQ(RunCommand({"/bin/rm", "-rf", work}).exit_code, 0);
  }

  void RemoveImage(const std::string& name) {
    CommandResult rm = env().Mydocker({"image", "rm", name});
    EXPECT_EQ(rm.exit_code, 0) << rm.Describe();
  }
};

// The hole of issue 12: /esc -> <host dir> in the image, -v HOST:/esc/made.
// The old code made <host dir>/made on the host (mkdir through the link,
// before pivot_root); now the link resolves inside the root, so "made" is
// created in the container's own <host dir> path (the image has it) and the
// host dir stays empty.
TEST_F(Confine, HostileSymlinkVolumeTargetStaysInTheRoot) {
  const std::string outside = MakeDir("outside");
  const std::string vol = MakeDir("vol");
  ASSERT_TRUE(mydocker::WriteFile(env().sys(), vol + "/keep", "kept\n", 0644, "seed").ok());
  ImportWithSymlinks("hostile-volume", {{"esc", outside}}, true);
  if (HasFatalFailure()) return;
  const Snapshot before = env().TakeSnapshot();
  ASSERT_THAT(before.errors, IsEmpty());
  // The probe sees a directory made there.
  ASSERT_EQ(::mkdir((outside + "/made").c_str(), 0755), 0);
  EXPECT_FALSE(Compare(before, env().TakeSnapshot()).empty());
  ASSERT_EQ(::rmdir((outside + "/made").c_str()), 0);

  CommandResult r = env().Mydocker({"run", "-v", vol + ":/esc/made", "hostile-volume", "sh",
                                    "-c", "cat /esc/made/keep && readlink /esc"});
  struct stat st;
  const bool made_on_host = ::lstat((outside + "/made").c_str(), &st) == 0;
  EXPECT_FALSE(made_on_host) << "mydocker made " << outside << "/made on the host";
  if (made_on_host) ::rmdir((outside + "/made").c_str());
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  // The volume is where the container's own view of the link leads.
  EXPECT_EQ(r.out, "kept\n" + outside + "\n");
  ExpectHostAsBefore(before, "hostile volume run");

  // A link whose target is not in the image: refused, naming the step, the
  // container path and ENOENT; nothing made on the host either.
  ImportWithSymlinks("hostile-dangling", {{"esc", outside}}, false);
  if (HasFatalFailure()) return;
  const Snapshot before2 = env().TakeSnapshot();
  r = env().Mydocker({"run", "-v", vol + ":/esc/made", "hostile-dangling", "true"});
  EXPECT_EQ(r.exit_code, 125) << r.Describe();
  EXPECT_THAT(r.err, HasSubstr("volume: mkdir /esc/made: ENOENT"));
  EXPECT_NE(::lstat((outside + "/made").c_str(), &st), 0);
  ExpectHostAsBefore(before2, "hostile dangling volume run");

  RemoveImage("hostile-volume");
  RemoveImage("hostile-dangling");
  ASSERT_EQ(::unlink((vol + "/keep").c_str()), 0);
  ASSERT_EQ(::rmdir(vol.c_str()), 0);
  ASSERT_EQ(::rmdir(outside.c_str()), 0);
}

// /dev, /proc and /sys planted as links to host directories: the mounts and
// device nodes land inside the root (where the links lead in the image), the
// host dirs get nothing, and the container has its /dev/null and /proc.
TEST_F(Confine, HostileSymlinkDevProcSysStayInTheRoot) {
  const std::string outside = MakeDir("outside-dev");
  for (const char* d : {"dev", "proc", "sys"}) MakeDir(std::string("outside-dev/") + d);
  ImportWithSymlinks("hostile-dev",
                     {{"dev", outside + "/dev"}, {"proc", outside + "/proc"},
                      {"sys", outside + "/sys"}},
                     true);
  if (HasFatalFailure()) return;
  const Snapshot before = env().TakeSnapshot();
  ASSERT_THAT(before.errors, IsEmpty());

  CommandResult r = env().Mydocker(
      {"run", "hostile-dev", "sh", "-c",
       "echo x > /dev/null && test -c /dev/null && cat /proc/1/comm && ls /sys/kernel >/dev/null"});
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_EQ(r.out, "sh\n");
  for (const char* d : {"dev", "proc", "sys"}) {
    auto entries = env().sys().ReadDir(outside + "/" + d);
    ASSERT_TRUE(entries.ok());
    EXPECT_THAT(entries.value, IsEmpty()) << outside << "/" << d;
  }
  ExpectHostAsBefore(before, "hostile /dev run");
  RemoveImage("hostile-dev");
  for (const char* d : {"dev", "proc", "sys"}) {
    ASSERT_EQ(::rmdir((outside + "/" + d).c_str()), 0);
  }
  ASSERT_EQ(::rmdir(outside.c_str()), 0);
}

// A container writes a tree deeper than PATH_MAX as the host names it (its
// shell's cd gives up with ENAMETOOLONG around 2000 levels); the teardown
// walks by fd and removes it all. The old path walk failed there with
// ENAMETOOLONG and left the container behind.
TEST_F(Confine, TreeDeeperThanPathMaxIsRemoved) {
  const Snapshot before = env().TakeSnapshot();
  ASSERT_THAT(before.errors, IsEmpty());
  CommandResult r = env().Mydocker(
      {"run", "busybox", "sh", "-c",
       "i=0; while [ $i -lt 2100 ]; do mkdir d && cd d || break; i=$((i+1)); done;"
       " echo depth=$i; [ $i -gt 1500 ]"},
      std::chrono::seconds(120));
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_THAT(r.out, HasSubstr("depth="));
  EXPECT_THAT(r.err, Not(HasSubstr("ENAMETOOLONG"))) << r.Describe();
  ExpectHostAsBefore(before, "deep tree run");
}

// --cap-add ALL gives the container every capability mydocker itself can
// grant (its bounding set, as docker filters ALL), not a capset EPERM on a
// host whose root lacks some (this machine's root has no CAP_SYS_RESOURCE);
// a named capability outside that set is refused before anything is made,
// with the capability named.
TEST_F(Confine, CapAddAllIsTheRuntimesOwnBoundingSet) {
  const uint64_t own = faultline::SelfCapBounding() & ((1ull << 41) - 1);
  const Snapshot before = env().TakeSnapshot();
  ASSERT_THAT(before.errors, IsEmpty());
  CommandResult r =
      env().Mydocker({"run", "--cap-add", "ALL", "busybox", "sh", "-c", "grep CapEff /proc/self/status"});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  char want[64];
  std::snprintf(want, sizeof want, "CapEff:\t%016llx", static_cast<unsigned long long>(own));
  EXPECT_THAT(r.out, HasSubstr(want)) << r.Describe();
  int missing = -1;
  for (int cap = 0; cap <= 40 && missing < 0; ++cap) {
    if (!(own >> cap & 1)) missing = cap;
  }
  if (missing >= 0) {
    const std::string name = mydocker::CapabilityName(missing);
    r = env().Mydocker({"run", "--cap-add", name, "busybox", "true"});
    EXPECT_EQ(r.exit_code, 125) << r.Describe();
    EXPECT_THAT(r.err, HasSubstr("--cap-add " + name)) << r.Describe();
    EXPECT_THAT(r.err, HasSubstr("EPERM")) << r.Describe();
  }
  ExpectHostAsBefore(before, "cap-add runs");
}

}  // namespace
}  // namespace faultline
