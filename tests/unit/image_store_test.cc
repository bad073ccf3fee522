// ImageStore on the real kernel (LinuxSys) in a per-test mkdtemp directory:
// crafted archives (libarchive's write API) for every escape kind must be
// refused with the entry named, leave nothing in the store and nothing
// outside it; a good archive and the real busybox.tar import with modes,
// owners, links and hardlinks kept.
#include "runtime/image/image_store.h"

#include <archive.h>
#include <archive_entry.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "runtime/sys/linux_sys.h"
#include "tests/support/matchers.h"

namespace mydocker {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using faultline::testing_matchers::FailsWith;
using ::testing::_;

// One archive entry to write.
struct Ent {
  std::string path;
  unsigned type = AE_IFREG;
  mode_t perm = 0644;
  std::string data;
  std::string symlink;   // AE_IFLNK
  std::string hardlink;  // a hardlink entry when set
  uid_t uid = geteuid();
  gid_t gid = getegid();
  dev_t rdev = 0;
};

Ent F(std::string path, std::string data, mode_t perm = 0644) {
  Ent e;
  e.path = std::move(path);
  e.data = std::move(data);
  e.perm = perm;
  return e;
}
Ent D(std::string path, mode_t perm = 0755) {
  Ent e;
  e.path = std::move(path);
  e.type = AE_IFDIR;
  e.perm = perm;
  return e;
}
Ent L(std::string path, std::string target) {
  Ent e;
  e.path = std::move(path);
  e.type = AE_IFLNK;
  e.perm = 0777;
  e.symlink = std::move(target);
  return e;
}
Ent H(std::string path, std::string target) {
  Ent e;
  e.path = std::move(path);
  e.hardlink = std::move(target);
  return e;
}
Ent Node(std::string path, unsigned type, dev_t rdev = 0) {
  Ent e;
  e.path = std::move(path);
  e.type = type;
  e.rdev = rdev;
  return e;
}

enum class Filter { kNone, kGzip, kXz };

// Writes a pax tar with the entries, in order, through libarchive.
void WriteArchive(const std::string& out, const std::vector<Ent>& ents,
                  Filter filter = Filter::kNone) {
  struct archive* a = archive_write_new();
  ASSERT_NE(a, nullptr);
  ASSERT_EQ(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
  switch (filter) {
    case Filter::kNone: archive_write_add_filter_none(a); break;
    case Filter::kGzip: ASSERT_EQ(archive_write_add_filter_gzip(a), ARCHIVE_OK); break;
    case Filter::kXz: ASSERT_EQ(archive_write_add_filter_xz(a), ARCHIVE_OK); break;
  }
  ASSERT_EQ(archive_write_open_filename(a, out.c_str()), ARCHIVE_OK)
      << archive_error_string(a);
  for (const Ent& x : ents) {
    struct archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, x.path.c_str());
    archive_entry_set_filetype(e, x.type);
    archive_entry_set_perm(e, x.perm);
    archive_entry_set_uid(e, x.uid);
    archive_entry_set_gid(e, x.gid);
    archive_entry_set_mtime(e, 1700000000, 0);
    if (!x.hardlink.empty()) {
      archive_entry_set_hardlink(e, x.hardlink.c_str());
      archive_entry_set_size(e, 0);
    } else if (x.type == AE_IFLNK) {
      archive_entry_set_symlink(e, x.symlink.c_str());
      archive_entry_set_size(e, 0);
    } else if (x.type == AE_IFREG) {
      archive_entry_set_size(e, static_cast<la_int64_t>(x.data.size()));
    } else {
      archive_entry_set_rdev(e, x.rdev);
      archive_entry_set_size(e, 0);
    }
    ASSERT_EQ(archive_write_header(a, e), ARCHIVE_OK)
        << x.path << ": " << archive_error_string(a);
    if (x.hardlink.empty() && x.type == AE_IFREG && !x.data.empty()) {
      ASSERT_EQ(archive_write_data(a, x.data.data(), x.data.size()),
                static_cast<la_ssize_t>(x.data.size()));
    }
    archive_entry_free(e);
  }
  ASSERT_EQ(archive_write_close(a), ARCHIVE_OK);
  archive_write_free(a);
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Everything below dir: relative path -> "type size content|target".
std::map<std::string, std::string> Snapshot(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (auto it = fs::recursive_directory_iterator(dir);
       it != fs::recursive_directory_iterator(); ++it) {
    const fs::path& p = it->path();
    auto st = fs::symlink_status(p);
    std::string v;
    if (fs::is_symlink(st)) {
      v = "link " + fs::read_symlink(p).string();
    } else if (fs::is_directory(st)) {
      v = "dir";
    } else {
      v = "file " + Slurp(p.string());
    }
    out[fs::relative(p, dir).string()] = v;
  }
  return out;
}

struct stat Lst(const std::string& path) {
  struct stat st = {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st;
}

// Runs argv, returns the exit status (-1 when it did not exit normally).
int RunExit(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const std::string& s : args) argv.push_back(const_cast<char*>(s.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  if (posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ) != 0) {
    return -1;
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

class ImageStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/image-store-test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    tmp_ = tmpl;
    store_ = tmp_ + "/store";
    sentinel_ = tmp_ + "/sentinel";
    fs::create_directories(sentinel_);
    std::ofstream(sentinel_ + "/existing") << "keep";
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(tmp_, ec);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_FALSE(fs::exists(tmp_));
  }

  std::string Tar(const std::string& name, const std::vector<Ent>& ents,
                  Filter filter = Filter::kNone) {
    std::string p = tmp_ + "/" + name;
    WriteArchive(p, ents, filter);
    return p;
  }

  // Nothing under <store>/images: no image dir, no partial layer.
  void ExpectStoreEmpty() {
    if (!fs::exists(store_ + "/images")) return;
    EXPECT_TRUE(fs::is_empty(store_ + "/images"))
        << "left behind: " << fs::directory_iterator(store_ + "/images")->path();
  }

  LinuxSys sys_;
  std::string tmp_, store_, sentinel_;
};

// --- refused archives ------------------------------------------------------

struct EscapeCase {
  std::string name;
  // Builds the entries; sentinel is the absolute path of the sentinel dir.
  std::function<std::vector<Ent>(const std::string& sentinel)> entries;
  std::string bad_entry;  // the entry the error must name
  std::string reason;     // a substring of the reason
  std::string outside;    // an absolute path that must not appear ("" none)
};

void PrintTo(const EscapeCase& c, std::ostream* os) { *os << c.name; }

class ImageEscapeTest : public ImageStoreTest,
                        public ::testing::WithParamInterface<EscapeCase> {};

// The layer is unpacked at <tmp>/store/images/<name>/rootfs.partial, so four
// ".." from the layer root reach <tmp>, where the sentinel lives.
const char kUp4[] = "../../../../";

std::vector<Ent> WithPrelude(std::vector<Ent> tail) {
  std::vector<Ent> v = {D("ok/"), F("ok/file", "benign"), L("ok/link", "file")};
  v.insert(v.end(), tail.begin(), tail.end());
  return v;
}

const std::vector<EscapeCase>& EscapeCases() {
  static const std::vector<EscapeCase> cases = {
      {"DotDot", [](auto&) { return WithPrelude({F("../x", "evil")}); }, "../x",
       "\"..\" component", ""},
      {"DotDotToSentinel",
       [](auto&) { return WithPrelude({F(std::string(kUp4) + "sentinel/x", "evil")}); },
       std::string(kUp4) + "sentinel/x", "\"..\" component", ""},
      {"AbsoluteEtc", [](auto&) { return WithPrelude({F("/etc/x", "evil")}); },
       "/etc/x", "absolute path", "/etc/x"},
      {"AbsoluteSentinel",
       [](const std::string& s) { return WithPrelude({F(s + "/abs", "evil")}); },
       "/abs", "absolute path", ""},
      {"InnerDotDot",
       [](auto&) { return WithPrelude({D("a/"), F("a/../../x", "evil")}); },
       "a/../../x", "\"..\" component", ""},
      {"SymlinkEscapes",
       [](auto&) { return WithPrelude({L("l", "../../.."), F("l/evil", "evil")}); },
       ":l", "escapes the layer root", ""},
      {"WriteThroughAbsoluteSymlink",
       [](const std::string& s) {
         return WithPrelude({L("l", s), F("l/evil", "evil")});
       },
       "l/evil", "is a symlink created by this archive", ""},
      {"DirThroughSymlink",
       [](const std::string& s) {
         return WithPrelude({L("l", s), D("l/newdir/"), F("l/newdir/f", "x")});
       },
       "l/newdir", "is a symlink created by this archive", ""},
      {"OverwriteSymlinkWithFile",
       [](const std::string& s) {
         return WithPrelude({L("l", s + "/existing"), F("l", "pwned")});
       },
       ":l", "duplicate entry", ""},
      {"HardlinkDotDot",
       [](auto&) { return WithPrelude({H("h", "../outside")}); }, ":h",
       "escapes the layer root", ""},
      {"HardlinkToSentinel",
       [](auto&) {
         return WithPrelude({H("h", std::string(kUp4) + "sentinel/existing")});
       },
       ":h", "escapes the layer root", ""},
      {"HardlinkAbsolute",
       [](const std::string& s) { return WithPrelude({H("h", s + "/existing")}); },
       ":h", "is absolute", ""},
      {"HardlinkThroughSymlink",
       [](const std::string& s) {
         return WithPrelude({L("l", s), H("h", "l/existing")});
       },
       ":h", "is not in the layer", ""},
      {"HardlinkMissingTarget",
       [](auto&) { return WithPrelude({H("h", "nothere")}); }, ":h",
       "is not in the layer", ""},
      {"HardlinkToDirectory",
       [](auto&) { return WithPrelude({H("h", "ok")}); }, ":h",
       "is a directory", ""},
      {"HardlinkedSymlinkEscapes",
       [](auto&) {
         return WithPrelude({D("a/"), D("a/b/"), L("a/b/l", "../../x"),
                             H("h", "a/b/l")});
       },
       ":h", "hardlink to a symlink", ""},
      {"CharDevice",
       [](auto&) { return WithPrelude({Node("null", AE_IFCHR, makedev(1, 3))}); },
       ":null", "character device", ""},
      {"BlockDevice",
       [](auto&) { return WithPrelude({Node("sda", AE_IFBLK, makedev(8, 0))}); },
       ":sda", "block device", ""},
      {"Fifo", [](auto&) { return WithPrelude({Node("p", AE_IFIFO)}); }, ":p",
       "FIFO", ""},
      {"Whiteout", [](auto&) { return WithPrelude({F(".wh.x", "")}); }, ".wh.x",
       "whiteout", ""},
      {"OpaqueWhiteout",
       [](auto&) { return WithPrelude({F("ok/.wh..wh..opq", "")}); },
       "ok/.wh..wh..opq", "whiteout", ""},
  };
  return cases;
}

TEST_P(ImageEscapeTest, RefusedLeavesNothingInsideOrOutside) {
  const EscapeCase& c = GetParam();
  const std::string tar = Tar("evil.tar", c.entries(sentinel_));

  const auto before = Snapshot(sentinel_);
  // Prove the snapshot sees files there before trusting "nothing new".
  ASSERT_EQ(before.count("existing"), 1u);
  ASSERT_EQ(before.at("existing"), "file keep");
  if (!c.outside.empty()) {
    ASSERT_FALSE(fs::exists(c.outside)) << c.outside;
  }

  ImageStore store(sys_, store_);
  auto r = store.Import(tar, "evil");
  ASSERT_FALSE(r.ok()) << "imported " << c.name;
  const Error& err = r.error();
  EXPECT_EQ(err.step, "image import: refuse entry") << err.Message();
  EXPECT_THAT(err.path, HasSubstr(tar + ":")) << err.Message();
  EXPECT_THAT(err.Message(), HasSubstr(c.bad_entry));
  EXPECT_THAT(err.detail, HasSubstr(c.reason)) << err.Message();

  EXPECT_FALSE(fs::exists(store_ + "/images/evil"));
  ExpectStoreEmpty();
  EXPECT_EQ(Snapshot(sentinel_), before);
  // Nothing landed next to the store or the sentinel either.
  std::vector<std::string> top;
  for (const auto& d : fs::directory_iterator(tmp_)) {
    top.push_back(d.path().filename().string());
  }
  std::sort(top.begin(), top.end());
  EXPECT_EQ(top, (std::vector<std::string>{"evil.tar", "sentinel", "store"}));
  if (!c.outside.empty()) {
    EXPECT_FALSE(fs::exists(c.outside)) << c.outside;
  }
  auto listed = store.List();
  ASSERT_TRUE(listed.ok());
  EXPECT_TRUE(listed->empty());
}

INSTANTIATE_TEST_SUITE_P(
    Escapes, ImageEscapeTest, ::testing::ValuesIn(EscapeCases()),
    [](const ::testing::TestParamInfo<EscapeCase>& i) { return i.param.name; });

// A socket entry cannot be written by the libarchive tar writer (it skips
// sockets), so the socket rule is covered by tar_safety_test only.

TEST_F(ImageStoreTest, GarbageArchiveLeavesNothing) {
  const std::string junk = tmp_ + "/junk.tar";
  std::ofstream(junk) << std::string(10000, 'x');
  ImageStore store(sys_, store_);
  auto r = store.Import(junk, "junk");
  ASSERT_THAT(r, FailsWith(HasSubstr("image import"), _, _));
  EXPECT_THAT(r.error().Message(), HasSubstr(junk));
  ExpectStoreEmpty();
}

TEST_F(ImageStoreTest, TruncatedArchiveLeavesNothing) {
  const std::string tar =
      Tar("good.tar", {D("d/"), F("d/big", std::string(100000, 'b'))});
  fs::resize_file(tar, 50000);  // cut inside d/big's data
  ImageStore store(sys_, store_);
  auto r = store.Import(tar, "cut");
  ASSERT_THAT(r, FailsWith("image import: read archive", _, _));
  EXPECT_THAT(r.error().detail, HasSubstr("d/big"));
  ExpectStoreEmpty();
}

TEST_F(ImageStoreTest, MissingArchiveCreatesNoStore) {
  ImageStore store(sys_, store_);
  auto r = store.Import(tmp_ + "/nope.tar", "x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().err, ENOENT);
  EXPECT_EQ(r.error().path, tmp_ + "/nope.tar");
  EXPECT_FALSE(fs::exists(store_));
}

TEST_F(ImageStoreTest, BadNameRefused) {
  const std::string tar = Tar("good.tar", {F("f", "x")});
  ImageStore store(sys_, store_);
  for (const char* bad : {"", "../x", "A", "a/b", ".x"}) {
    auto r = store.Import(tar, bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().err, EINVAL) << bad;
  }
  EXPECT_FALSE(fs::exists(store_));
  EXPECT_EQ(store.Get("../x").error().err, EINVAL);
  EXPECT_EQ(store.Remove("../x").error().err, EINVAL);
}

TEST_F(ImageStoreTest, EmptyArchiveRefused) {
  const std::string tar = Tar("empty.tar", {});
  ImageStore store(sys_, store_);
  auto r = store.Import(tar, "empty");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().err, EINVAL);
  EXPECT_THAT(r.error().detail, HasSubstr("no entries"));
  ExpectStoreEmpty();
}

// --- good archives ---------------------------------------------------------

TEST_F(ImageStoreTest, GoodArchiveKeepsFilesLinksModesOwners) {
  const bool root = geteuid() == 0;
  Ent owned = F("dir/owned", "mine", 0640);
  Ent sub = D("dir/sub/", 0750);
  if (root) {
    owned.uid = 1234;
    owned.gid = 5678;
    sub.uid = 1000;
    sub.gid = 1001;
  }
  const std::vector<Ent> ents = {
      D("./"),
      D("dir/"),
      sub,
      F("dir/file", "hello\n"),
      F("dir/empty", ""),
      F("dir/setuid", "suid", 04755),
      F("dir/setgid", "sgid", 02711),
      owned,
      D("sticky/", 01777),
      D("ro/", 0555),
      F("ro/inner", "ro", 0444),
      F("implicit/parent/file", "deep", 0600),
      F("./dotted", "dot", 0640),
      D("links/"),
      L("links/rel", "../dir/file"),
      L("links/abs", "/etc/passwd"),
      L("links/up", ".."),
      H("dir/hard", "dir/file"),
      H("links/hardsym", "links/rel"),  // same dir: still inside
      D("dir/"),                         // a directory entry repeated: fine
  };
  const std::string tar = Tar("good.tar", ents);
  ImageStore store(sys_, store_);
  auto r = store.Import(tar, "good");
  ASSERT_TRUE(r.ok()) << r.error().Message();
  const ImageInfo& info = *r;
  const std::string rf = store_ + "/images/good/rootfs";
  EXPECT_EQ(info.name, "good");
  EXPECT_EQ(info.rootfs, rf);
  EXPECT_EQ(info.files, ents.size());
  EXPECT_EQ(info.size, 6u + 0 + 4 + 4 + 4 + 2 + 4 + 3);
  EXPECT_FALSE(fs::exists(store_ + "/images/good/rootfs.partial"));
  EXPECT_TRUE(fs::exists(store_ + "/images/good/image.json"));

  EXPECT_EQ(Slurp(rf + "/dir/file"), "hello\n");
  EXPECT_EQ(Slurp(rf + "/implicit/parent/file"), "deep");
  EXPECT_EQ(Slurp(rf + "/dotted"), "dot");
  EXPECT_EQ(Lst(rf + "/dir/file").st_mode & 07777, 0644u);
  EXPECT_EQ(Lst(rf + "/dir/setuid").st_mode & 07777, 04755u);
  EXPECT_EQ(Lst(rf + "/dir/setgid").st_mode & 07777, 02711u);
  EXPECT_EQ(Lst(rf + "/dir/owned").st_mode & 07777, 0640u);
  EXPECT_EQ(Lst(rf + "/dir/sub").st_mode & 07777, 0750u);
  EXPECT_EQ(Lst(rf + "/sticky").st_mode & 07777, 01777u);
  EXPECT_EQ(Lst(rf + "/ro").st_mode & 07777, 0555u);
  EXPECT_EQ(Lst(rf + "/ro/inner").st_mode & 07777, 0444u);
  EXPECT_EQ(Lst(rf + "/implicit").st_mode & 07777, 0755u);
  EXPECT_EQ(Lst(rf + "/implicit/parent/file").st_mode & 07777, 0600u);
  EXPECT_TRUE(S_ISDIR(Lst(rf + "/sticky").st_mode));
  if (root) {
    EXPECT_EQ(Lst(rf + "/dir/owned").st_uid, 1234u);
    EXPECT_EQ(Lst(rf + "/dir/owned").st_gid, 5678u);
    EXPECT_EQ(Lst(rf + "/dir/sub").st_uid, 1000u);
    EXPECT_EQ(Lst(rf + "/dir/sub").st_gid, 1001u);
    EXPECT_EQ(Lst(rf + "/dir/setuid").st_uid, 0u);
  }

  EXPECT_EQ(fs::read_symlink(rf + "/links/rel"), "../dir/file");
  EXPECT_EQ(fs::read_symlink(rf + "/links/abs"), "/etc/passwd");
  EXPECT_EQ(fs::read_symlink(rf + "/links/up"), "..");
  EXPECT_EQ(Slurp(rf + "/links/rel"), "hello\n");

  struct stat a = Lst(rf + "/dir/file"), b = Lst(rf + "/dir/hard");
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_EQ(a.st_nlink, 2u);
  struct stat s1 = Lst(rf + "/links/rel"), s2 = Lst(rf + "/links/hardsym");
  EXPECT_TRUE(S_ISLNK(s2.st_mode));
  EXPECT_EQ(s1.st_ino, s2.st_ino);

  // List / Get / a second import / Remove.
  auto listed = store.List();
  ASSERT_TRUE(listed.ok()) << listed.error().Message();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].name, "good");
  EXPECT_EQ((*listed)[0].rootfs, rf);
  EXPECT_EQ((*listed)[0].size, info.size);
  EXPECT_EQ((*listed)[0].files, info.files);
  auto got = store.Get("good");
  ASSERT_TRUE(got.ok()) << got.error().Message();
  EXPECT_EQ(got->files, info.files);

  auto again = store.Import(tar, "good");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().err, EEXIST);
  EXPECT_THAT(again.error().Message(), HasSubstr("\"good\""));
  EXPECT_EQ(Slurp(rf + "/dir/file"), "hello\n");  // the old image is intact

  ASSERT_TRUE(store.Remove("good").ok());
  EXPECT_FALSE(fs::exists(store_ + "/images/good"));
  auto gone = store.Remove("good");
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().err, ENOENT);
  EXPECT_THAT(gone.error().Message(), HasSubstr("\"good\""));
  EXPECT_EQ(store.Get("good").error().err, ENOENT);
  EXPECT_TRUE(store.List()->empty());
}

TEST_F(ImageStoreTest, CompressedArchivesAndSeveralImages) {
  const std::vector<Ent> ents = {D("bin/"), F("bin/tool", "#!/bin/sh\n", 0755),
                                 L("tool", "bin/tool")};
  ImageStore store(sys_, store_);
  auto gz = store.Import(Tar("a.tar.gz", ents, Filter::kGzip), "gz");
  ASSERT_TRUE(gz.ok()) << gz.error().Message();
  auto xz = store.Import(Tar("a.tar.xz", ents, Filter::kXz), "xz");
  ASSERT_TRUE(xz.ok()) << xz.error().Message();
  auto plain = store.Import(Tar("a.tar", ents), "plain");
  ASSERT_TRUE(plain.ok()) << plain.error().Message();
  for (const auto* i : {&*gz, &*xz, &*plain}) {
    EXPECT_EQ(Slurp(i->rootfs + "/bin/tool"), "#!/bin/sh\n") << i->name;
    EXPECT_EQ(Lst(i->rootfs + "/bin/tool").st_mode & 07777, 0755u);
    EXPECT_EQ(i->files, 3u);
  }
  auto listed = store.List();
  ASSERT_TRUE(listed.ok());
  std::vector<std::string> names;
  for (const auto& i : *listed) names.push_back(i.name);
  EXPECT_EQ(names, (std::vector<std::string>{"gz", "plain", "xz"}));
}

TEST_F(ImageStoreTest, IncompleteImageIsSkippedByListAndBlocksImport) {
  fs::create_directories(store_ + "/images/half/rootfs.partial");
  ImageStore store(sys_, store_);
  auto listed = store.List();
  ASSERT_TRUE(listed.ok());
  EXPECT_TRUE(listed->empty());
  auto got = store.Get("half");
  ASSERT_FALSE(got.ok());
  EXPECT_THAT(got.error().Message(), HasSubstr("image.json"));
  auto r = store.Import(Tar("t.tar", {F("f", "x")}), "half");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().err, EEXIST);
  EXPECT_TRUE(fs::exists(store_ + "/images/half/rootfs.partial"));  // not ours
  ASSERT_TRUE(store.Remove("half").ok());
  EXPECT_FALSE(fs::exists(store_ + "/images/half"));
}

// --- the real busybox image ------------------------------------------------

bool BusyboxStaticInstalled() {
  return access("/bin/busybox", X_OK) == 0 &&
         std::system("dpkg-query -W -f='${Status}' busybox-static 2>/dev/null"
                     " | grep -q 'install ok installed'") == 0;
}

TEST_F(ImageStoreTest, BusyboxImageFromBuildImageRuns) {
  if (!BusyboxStaticInstalled()) GTEST_SKIP() << "busybox-static not installed";
  if (geteuid() != 0) GTEST_SKIP() << "busybox.tar is owned by 0:0: needs root";
  const std::string tar = tmp_ + "/busybox.tar";
  const std::string cmd = std::string(FAULTLINE_SOURCE_DIR) + "/ci/build-image " +
                          tar + " >/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;

  ImageStore store(sys_, store_);
  const auto t0 = std::chrono::steady_clock::now();
  auto r = store.Import(tar, "busybox");
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(r.ok()) << r.error().Message();
  RecordProperty("busybox_import_ms", static_cast<int>(ms));
  const std::string rf = r->rootfs;

  std::vector<std::string> top;
  for (const auto& d : fs::directory_iterator(rf)) {
    top.push_back(d.path().filename().string());
  }
  std::sort(top.begin(), top.end());
  EXPECT_EQ(top, (std::vector<std::string>{"bin", "dev", "etc", "home", "proc",
                                           "root", "sys", "tmp", "usr", "var"}));
  EXPECT_GT(r->files, 250u);
  struct stat bb = Lst(rf + "/bin/busybox"), sh = Lst(rf + "/bin/sh");
  EXPECT_EQ(bb.st_ino, sh.st_ino);
  EXPECT_GT(bb.st_nlink, 250u);
  EXPECT_EQ(bb.st_mode & 07777, 0755u);
  EXPECT_EQ(Lst(rf + "/tmp").st_mode & 07777, 01777u);
  EXPECT_EQ(Lst(rf + "/root").st_mode & 07777, 0700u);
  EXPECT_EQ(fs::read_symlink(rf + "/etc/mtab"), "/proc/mounts");
  EXPECT_EQ(fs::file_size(rf + "/etc/hostname"), 0u);
  EXPECT_THAT(Slurp(rf + "/etc/passwd"), HasSubstr("root:x:0:0"));

  EXPECT_EQ(RunExit({rf + "/bin/busybox", "true"}), 0);
  EXPECT_EQ(RunExit({rf + "/bin/busybox", "false"}), 1);
  EXPECT_EQ(RunExit({rf + "/bin/sh", "-c", "exit 7"}), 7);

  ASSERT_TRUE(store.Remove("busybox").ok());
  ExpectStoreEmpty();
}

}  // namespace
}  // namespace mydocker
