#include <fcntl.h>
#include <linux/mount.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <algorithm>

#include <gtest/gtest.h>

#include "runtime/rootfs/hardening.h"
#include "runtime/rootfs/init.h"

namespace mydocker {
namespace {

size_t IndexOf(const std::vector<InitStep>& steps, const std::string& name, size_t from = 0) {
  for (size_t i = from; i < steps.size(); ++i) {
    if (steps[i].name == name) return i;
  }
  ADD_FAILURE() << "no step " << name;
  return steps.size();
}

std::vector<InitStep> Steps(const RootfsSpec& spec) {
  auto s = BuildRootfsSteps(spec);
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().Message());
  return s.ok() ? *s : std::vector<InitStep>{};
}

TEST(InitPlan, OrderFollowsTheKernelsRules) {
  auto s = Steps(RootfsSpec{"/r/c/merged", "box", {{"/srv", "/data/in", true}}, ""});
  // rprivate first, before any mount of ours can propagate to the host.
  ASSERT_FALSE(s.empty());
  EXPECT_EQ(s[0].name, "make / rprivate");
  EXPECT_EQ(s[0].mount.flags, static_cast<unsigned long>(MS_REC | MS_PRIVATE));
  const size_t bind = IndexOf(s, "bind rootfs");
  const size_t root = IndexOf(s, "open rootfs");
  const size_t mk = IndexOf(s, "volume: mkdir");
  const size_t ro = IndexOf(s, "volume: read-only");
  const size_t vol = IndexOf(s, "volume: bind /srv");
  const size_t proc = IndexOf(s, "mount /proc");
  const size_t pivot = IndexOf(s, "pivot_root");
  const size_t detach = IndexOf(s, "detach old root");
  EXPECT_LT(bind, root);
  EXPECT_LT(root, mk);
  EXPECT_LT(mk, ro);
  EXPECT_LT(ro, vol);
  // /proc and /sys are mounted before the pivot, onto resolved fds.
  EXPECT_LT(proc, pivot);
  EXPECT_EQ(detach, pivot + 1);
  EXPECT_EQ(s[detach].flags, MNT_DETACH);
  // The volume target is resolved inside the root, by its relative path and
  // its prefixes; the mount goes onto that fd.
  EXPECT_EQ(s[mk].kind, InitStepKind::kMkdirInRoot);
  EXPECT_EQ(s[mk].target.rel, "data/in");
  EXPECT_EQ(s[mk].target.prefixes, (std::vector<std::string>{"data", "data/in"}));
  EXPECT_EQ(s[mk].path, "/data/in");
  EXPECT_EQ(s[vol].kind, InitStepKind::kMoveMount);
  EXPECT_EQ(s[vol].out, kSlotTarget);
  EXPECT_EQ(s[ro].setattr.attr_set, static_cast<uint64_t>(MOUNT_ATTR_RDONLY));
  EXPECT_EQ(s.back().kind, InitStepKind::kSethostname);
  EXPECT_EQ(s.back().path, "box");
}

TEST(InitPlan, NoContainerPathIsUsedAsAHostPath) {
  // After the root is opened no step takes a path as the kernel would
  // resolve it from "/" except the host's own (volume sources, the console)
  // and "/" and "." after the pivot: everything else acts on an fd slot.
  auto s = Steps(RootfsSpec{"/r/m", "h", {{"/srv", "/a/b", false}}, "/dev/pts/9"});
  const size_t root = IndexOf(s, "open rootfs");
  for (size_t i = root + 1; i < s.size(); ++i) {
    EXPECT_NE(s[i].kind, InitStepKind::kMount) << s[i].name;
    if (s[i].kind == InitStepKind::kChdir) {
      EXPECT_EQ(s[i].path, "/");
    }
    if (s[i].kind == InitStepKind::kOpenTree && s[i].in < 0) {
      EXPECT_TRUE(s[i].path2 == "/srv" || s[i].path2 == "/dev/pts/9") << s[i].path2;
    }
  }
}

TEST(InitPlan, DotDotInAVolumeIsRefused) {
  auto s = BuildRootfsSteps(RootfsSpec{"/m", "h", {{"/srv", "/a/../../etc", false}}, ""});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().err, EINVAL);
}

TEST(InitPlan, MinimalDevHasTheIssueList) {
  auto s = Steps(RootfsSpec{"/m", "h", {}, ""});
  for (const char* dev : {"/dev/null", "/dev/zero", "/dev/full", "/dev/random",
                          "/dev/urandom", "/dev/tty"}) {
    size_t i = IndexOf(s, std::string("mknod ") + dev);
    ASSERT_LT(i, s.size());
    EXPECT_TRUE(S_ISCHR(s[i].mode)) << dev;
    EXPECT_EQ(s[i].in, kSlotDev) << dev;
    EXPECT_EQ(s[i + 1].kind, InitStepKind::kFchmodAt) << dev;
  }
  EXPECT_LT(IndexOf(s, "mount /dev/pts"), s.size());
  EXPECT_EQ(s[IndexOf(s, "symlink /dev/ptmx")].path, "pts/ptmx");
}

TEST(InitPlan, MasksAndReadOnlyPathsAreDockers) {
  auto s = Steps(RootfsSpec{"/m", "h", {}, ""});
  for (const char* p : MaskedPaths()) {
    size_t i = IndexOf(s, std::string("mask ") + p);
    ASSERT_LT(i + 1, s.size());
    EXPECT_TRUE(s[i].optional) << p;
    EXPECT_EQ(s[i + 1].kind, InitStepKind::kMask) << p;
  }
  for (const char* p : ReadonlyPaths()) {
    size_t i = IndexOf(s, std::string("read-only ") + p);
    ASSERT_LT(i, s.size());
  }
  const size_t sys = IndexOf(s, "mount /sys");
  EXPECT_TRUE(s[sys].attr & MOUNT_ATTR_RDONLY);
}

TEST(InitPlan, CommandEncodingRoundTrips) {
  std::string enc = EncodeCommand({"sh", "-c", "echo a b"});
  EXPECT_EQ(enc, std::string("sh\0-c\0echo a b\0", 15));
}

}  // namespace
}  // namespace mydocker
