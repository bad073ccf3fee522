// CheckTarEntry: the per-entry rules of the image import, without an archive.
#include <archive_entry.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "runtime/image/image_store.h"

namespace mydocker {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::string File(const std::string& p) { return CheckTarEntry(p, AE_IFREG, "", ""); }
std::string Dir(const std::string& p) { return CheckTarEntry(p, AE_IFDIR, "", ""); }
std::string Sym(const std::string& p, const std::string& t) {
  return CheckTarEntry(p, AE_IFLNK, t, "");
}
std::string Hard(const std::string& p, const std::string& t) {
  return CheckTarEntry(p, AE_IFREG, "", t);
}

TEST(TarSafety, SafeFilesAndDirectories) {
  EXPECT_THAT(File("bin/busybox"), IsEmpty());
  EXPECT_THAT(File("./bin/busybox"), IsEmpty());
  EXPECT_THAT(File("a/./b//c"), IsEmpty());
  EXPECT_THAT(File("etc/..hidden"), IsEmpty());  // ".." only as a whole name
  EXPECT_THAT(File("x..y"), IsEmpty());
  EXPECT_THAT(Dir("bin/"), IsEmpty());
  EXPECT_THAT(Dir("dev/"), IsEmpty());  // docker export's dev/
  EXPECT_THAT(Dir("./"), IsEmpty());    // the layer root as a directory
  EXPECT_THAT(Dir("."), IsEmpty());
}

TEST(TarSafety, RefusesEmptyName) {
  EXPECT_THAT(File(""), HasSubstr("empty entry name"));
}

TEST(TarSafety, RefusesAbsolutePaths) {
  EXPECT_THAT(File("/etc/x"), HasSubstr("absolute path"));
  EXPECT_THAT(Dir("/"), HasSubstr("absolute path"));
  EXPECT_THAT(Sym("/bin/sh", "busybox"), HasSubstr("absolute path"));
}

TEST(TarSafety, RefusesDotDotComponents) {
  EXPECT_THAT(File("../x"), HasSubstr("\"..\" component"));
  EXPECT_THAT(File("a/../../x"), HasSubstr("\"..\" component"));
  // Even when it would stay inside: no archive needs it.
  EXPECT_THAT(File("a/../b"), HasSubstr("\"..\" component"));
  EXPECT_THAT(Dir("a/.."), HasSubstr("\"..\" component"));
  EXPECT_THAT(File("./../x"), HasSubstr("\"..\" component"));
}

TEST(TarSafety, RefusesWhiteouts) {
  EXPECT_THAT(File(".wh.x"), HasSubstr("whiteout"));
  EXPECT_THAT(File("a/b/.wh..wh..opq"), HasSubstr("whiteout"));
  EXPECT_THAT(File("a/x.wh.y"), IsEmpty());
}

TEST(TarSafety, RefusesDevicesFifosSockets) {
  EXPECT_THAT(CheckTarEntry("dev/null", AE_IFCHR, "", ""),
              HasSubstr("character device"));
  EXPECT_THAT(CheckTarEntry("dev/sda", AE_IFBLK, "", ""),
              HasSubstr("block device"));
  EXPECT_THAT(CheckTarEntry("p", AE_IFIFO, "", ""), HasSubstr("FIFO"));
  EXPECT_THAT(CheckTarEntry("s", AE_IFSOCK, "", ""), HasSubstr("socket"));
  EXPECT_THAT(CheckTarEntry("x", 0, "", ""), HasSubstr("unsupported entry type"));
  // A hardlink whose header claims a device is refused as well.
  EXPECT_THAT(CheckTarEntry("d2", AE_IFCHR, "", "dev/null"),
              HasSubstr("character device"));
}

TEST(TarSafety, RefusesNonDirectoryAtRoot) {
  EXPECT_THAT(File("./"), HasSubstr("names the layer root"));
  EXPECT_THAT(Sym(".", "/"), HasSubstr("names the layer root"));
  EXPECT_THAT(Hard(".", "a"), HasSubstr("names the layer root"));
}

TEST(TarSafety, SafeSymlinks) {
  EXPECT_THAT(Sym("bin/sh", "busybox"), IsEmpty());
  EXPECT_THAT(Sym("usr/bin/env", "../../bin/busybox"), IsEmpty());
  EXPECT_THAT(Sym("a/up", ".."), IsEmpty());         // the root itself
  EXPECT_THAT(Sym("a/b/up", "../../."), IsEmpty());  // still the root
  EXPECT_THAT(Sym("self", "."), IsEmpty());
  // Absolute targets resolve in the container's root at run time.
  EXPECT_THAT(Sym("etc/mtab", "/proc/mounts"), IsEmpty());
  EXPECT_THAT(Sym("l", "/"), IsEmpty());
  EXPECT_THAT(Sym("l", "/../../.."), IsEmpty());
}

TEST(TarSafety, RefusesEscapingSymlinks) {
  EXPECT_THAT(Sym("l", ".."), HasSubstr("escapes the layer root"));
  EXPECT_THAT(Sym("l", "../../.."), HasSubstr("escapes the layer root"));
  EXPECT_THAT(Sym("a/l", "../.."), HasSubstr("escapes the layer root"));
  EXPECT_THAT(Sym("a/b/l", "x/../../../../y"), HasSubstr("escapes the layer root"));
  // "./a/l" sits in a/, so "../.." climbs out.
  EXPECT_THAT(Sym("./a/l", "../../etc"), HasSubstr("escapes the layer root"));
  EXPECT_THAT(Sym("l", ""), HasSubstr("empty symlink target"));
}

TEST(TarSafety, SafeHardlinks) {
  EXPECT_THAT(Hard("bin/ls", "bin/busybox"), IsEmpty());
  EXPECT_THAT(Hard("./bin/ls", "./bin/busybox"), IsEmpty());
  EXPECT_THAT(Hard("bin/ls", "bin/x/../busybox"), IsEmpty());
  EXPECT_THAT(CheckTarEntry("bin/ls", 0, "", "bin/busybox"), IsEmpty());
}

TEST(TarSafety, RefusesEscapingHardlinks) {
  EXPECT_THAT(Hard("h", "/etc/passwd"), HasSubstr("is absolute"));
  EXPECT_THAT(Hard("h", "../outside"), HasSubstr("escapes the layer root"));
  EXPECT_THAT(Hard("a/h", "a/../../x"), HasSubstr("escapes the layer root"));
  EXPECT_THAT(Hard("h", "."), HasSubstr("is the layer root"));
  EXPECT_THAT(Hard("h", "a/.."), HasSubstr("is the layer root"));
}

TEST(TarSafety, ValidImageNames) {
  EXPECT_TRUE(ValidImageName("busybox"));
  EXPECT_TRUE(ValidImageName("b1.2_x-y"));
  EXPECT_TRUE(ValidImageName(std::string(128, 'a')));
  EXPECT_FALSE(ValidImageName(""));
  EXPECT_FALSE(ValidImageName(std::string(129, 'a')));
  EXPECT_FALSE(ValidImageName("Busybox"));
  EXPECT_FALSE(ValidImageName(".hidden"));
  EXPECT_FALSE(ValidImageName("-x"));
  EXPECT_FALSE(ValidImageName("a/b"));
  EXPECT_FALSE(ValidImageName(".."));
}

}  // namespace
}  // namespace mydocker
