#include "harness/seccomp/paths.h"

#include <gtest/gtest.h>

namespace faultline::seccomp {
namespace {

TEST(SeccompPaths, NormalizeCollapsesSlashesAndDots) {
  EXPECT_EQ(NormalizePath("/a//b/./c/"), "/a/b/c");
  EXPECT_EQ(NormalizePath("a/./b"), "a/b");
  EXPECT_EQ(NormalizePath("/"), "/");
  EXPECT_EQ(NormalizePath("/a/../b"), "/a/../b") << ".. is the kernel's business";
  EXPECT_EQ(NormalizePath("./"), ".");
  EXPECT_EQ(NormalizePath(""), "");
}

TEST(SeccompPaths, AbsolutePathGoesThroughTheRoot) {
  ResolvedPath host = ResolvePath("/etc/x", "/", "/ignored");
  EXPECT_EQ(host.seen, "/etc/x");
  EXPECT_EQ(host.host, "/etc/x");
  ResolvedPath jailed = ResolvePath("/etc//x", "/var/c1/rootfs", "/ignored");
  EXPECT_EQ(jailed.seen, "/etc/x");
  EXPECT_EQ(jailed.host, "/var/c1/rootfs/etc/x");
}

TEST(SeccompPaths, RelativePathGoesThroughTheBase) {
  ResolvedPath r = ResolvePath("X", "/", "/tmp/work");
  EXPECT_EQ(r.seen, "/tmp/work/X");
  EXPECT_EQ(r.host, "/tmp/work/X");
  ResolvedPath jailed = ResolvePath("./sub/X", "/var/c1/rootfs", "/var/c1/rootfs/home");
  EXPECT_EQ(jailed.seen, "/home/sub/X");
  EXPECT_EQ(jailed.host, "/var/c1/rootfs/home/sub/X");
  ResolvedPath at_root = ResolvePath("X", "/var/c1/rootfs", "/var/c1/rootfs");
  EXPECT_EQ(at_root.seen, "/X");
}

TEST(SeccompPaths, UnknownBaseKeepsTheRawPath) {
  ResolvedPath r = ResolvePath("a/b", "/", "");
  EXPECT_EQ(r.seen, "a/b");
  EXPECT_EQ(r.host, "a/b");
  EXPECT_EQ(ResolvePath("", "/", "/tmp").seen, "");
}

TEST(SeccompPaths, StripRootOnlyOnAComponentBoundary) {
  EXPECT_EQ(StripRoot("/var/c1/rootfs/etc", "/var/c1/rootfs"), "/etc");
  EXPECT_EQ(StripRoot("/var/c1/rootfs", "/var/c1/rootfs/"), "/");
  EXPECT_EQ(StripRoot("/var/c1/rootfs2/etc", "/var/c1/rootfs"), "/var/c1/rootfs2/etc");
  EXPECT_EQ(StripRoot("/tmp", "/"), "/tmp");
}

}  // namespace
}  // namespace faultline::seccomp
