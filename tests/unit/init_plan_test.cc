#include <sys/mount.h>
#include <sys/stat.h>

#include <algorithm>

#include <gtest/gtest.h>

#include "runtime/rootfs/init.h"

namespace mydocker {
namespace {

size_t IndexOf(const std::vector<InitStep>& steps, const std::string& name) {
  for (size_t i = 0; i < steps.size(); ++i) {
    if (steps[i].name == name) return i;
  }
  ADD_FAILURE() << "no step " << name;
  return steps.size();
}

TEST(InitPlan, OrderFollowsTheKernelsRules) {
  auto s = BuildRootfsSteps(RootfsSpec{"/r/c/merged", "box", {{"/srv", "/data/in", true}}, ""});
  // rprivate first, before any mount of ours can propagate to the host.
  ASSERT_FALSE(s.empty());
  EXPECT_EQ(s[0].name, "make / rprivate");
  EXPECT_EQ(s[0].mount.flags, static_cast<unsigned long>(MS_REC | MS_PRIVATE));
  const size_t bind = IndexOf(s, "bind rootfs");
  const size_t vol = IndexOf(s, "volume: bind /srv");
  const size_t ro = IndexOf(s, "volume: remount read-only");
  const size_t pivot = IndexOf(s, "pivot_root");
  const size_t detach = IndexOf(s, "detach old root");
  const size_t proc = IndexOf(s, "mount /proc");
  EXPECT_LT(bind, vol);
  EXPECT_LT(vol, ro);
  EXPECT_LT(ro, pivot);
  EXPECT_EQ(detach, pivot + 1);
  EXPECT_LT(detach, proc);
  EXPECT_EQ(s[detach].flags, MNT_DETACH);
  EXPECT_EQ(s[vol].mount.target, "/r/c/merged/data/in");
  // Volume parents are made first, one component at a time.
  EXPECT_EQ(s[vol - 2].path, "/r/c/merged/data");
  EXPECT_EQ(s[vol - 1].path, "/r/c/merged/data/in");
  EXPECT_EQ(s.back().kind, InitStepKind::kSethostname);
  EXPECT_EQ(s.back().path, "box");
}

TEST(InitPlan, MinimalDevHasTheIssueList) {
  auto s = BuildRootfsSteps(RootfsSpec{"/m", "h", {}, ""});
  for (const char* dev : {"/dev/null", "/dev/zero", "/dev/full", "/dev/random",
                          "/dev/urandom", "/dev/tty"}) {
    size_t i = IndexOf(s, std::string("mknod ") + dev);
    ASSERT_LT(i, s.size());
    EXPECT_TRUE(S_ISCHR(s[i].mode)) << dev;
    EXPECT_EQ(s[i + 1].kind, InitStepKind::kChmod) << dev;
  }
  EXPECT_LT(IndexOf(s, "mount /dev/pts"), s.size());
  EXPECT_EQ(s[IndexOf(s, "symlink /dev/ptmx")].path, "pts/ptmx");
}

TEST(InitPlan, CommandEncodingRoundTrips) {
  std::string enc = EncodeCommand({"sh", "-c", "echo a b"});
  EXPECT_EQ(enc, std::string("sh\0-c\0echo a b\0", 15));
}

}  // namespace
}  // namespace mydocker
