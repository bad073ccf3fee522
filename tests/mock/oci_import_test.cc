// Multi-layer images on FakeKernel: OCI layouts (tar and directory) and
// docker-save tars imported through the real ImageStore, layers shared by
// digest, run with the image's config over N lowerdirs, removed with the
// last image; hostile layouts (one test per rule, each with its exact
// error); and every Sys call of an OCI import faulted in turn.
#include <errno.h>
#include <sys/stat.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fakekernel/fake_kernel.h"
#include "faults/fault_injecting_sys.h"
#include "harness/scenario/oci_layout.h"
#include "runtime/container/runtime.h"
#include "runtime/image/image_store.h"
#include "runtime/sys/fs_util.h"

namespace faultline {
namespace {

using mydocker::Error;
using mydocker::ImageStore;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr const char* kRoot = "/var/lib/mydocker";
constexpr const char* kId = "0123456789ab";

ImageEntry Dir(std::string p) {
  ImageEntry e;
  e.path = std::move(p);
  e.type = ImageEntry::Type::kDir;
  return e;
}
ImageEntry File(std::string p, std::string content, uint32_t mode = 0) {
  ImageEntry e;
  e.path = std::move(p);
  e.content = std::move(content);
  e.mode = mode;
  return e;
}
ImageEntry Link(std::string p, std::string target) {
  ImageEntry e;
  e.path = std::move(p);
  e.type = ImageEntry::Type::kSymlink;
  e.target = std::move(target);
  return e;
}

// FakeKernel's busybox (BuildBusyboxImage) as a docker-export tar.
std::string FakeBusyboxTar() {
  HostileImage img;
  img.name = "fake-busybox";
  for (const char* d : {"bin", "dev", "etc", "proc", "sys", "var", "usr", "usr/bin", "home",
                        "mnt", "run"}) {
    img.entries.push_back(Dir(d));
  }
  ImageEntry root = Dir("root");
  root.mode = 0700;
  img.entries.push_back(root);
  ImageEntry tmp = Dir("tmp");
  tmp.mode = 01777;
  img.entries.push_back(tmp);
  img.entries.push_back(File("bin/busybox", "\x7f" "ELF fake busybox\n", 0755));
  for (const char* a : {"sh", "true", "false", "hostname", "ls", "cat", "echo", "sleep", "env"}) {
    img.entries.push_back(Link(std::string("bin/") + a, "busybox"));
  }
  img.entries.push_back(File("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"));
  img.entries.push_back(File("etc/group", "root:x:0:\n"));
  auto tar = BuildImageTar(img);
  EXPECT_TRUE(tar.ok());
  return tar.ok() ? *tar : "";
}

LayeredImageSpec Spec(LayeredImageSpec::Format f = LayeredImageSpec::Format::kOciTar) {
  LayeredImageSpec s = BusyboxLayersSpec(FakeBusyboxTar());
  s.format = f;
  return s;
}

// Writes files as a layout tar (or directory) into the fake at path.
void Put(FakeKernel& k, const std::string& path, const std::map<std::string, std::string>& files,
         bool dir = false) {
  if (dir) {
    ASSERT_TRUE(mydocker::MkdirAll(k, path.substr(0, path.rfind('/')), 0755, "test").ok());
    ASSERT_TRUE(WriteLayoutDir(k, path, files).ok());
    return;
  }
  auto tar = LayoutTar(files);
  ASSERT_TRUE(tar.ok()) << tar.error().Message();
  ASSERT_TRUE(k.AddFile(path, *tar).ok());
}

std::map<std::string, std::string> Files(const LayeredImageSpec& s) {
  auto f = BuildLayeredImage(s);
  EXPECT_TRUE(f.ok()) << f.error().Message();
  return f.ok() ? *f : std::map<std::string, std::string>{};
}

// The layer directories of the store (without its lock file).
std::vector<std::string> Layers(FakeKernel& k) {
  std::vector<std::string> out;
  auto r = k.ReadDir(std::string(kRoot) + "/layers");
  if (!r.ok()) return out;
  for (const auto& e : r.value) {
    if (e.name != ".lock") out.push_back(e.name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The layer blobs a manifest of files names, bottom first, and the
// manifest's own path.
std::vector<std::string> LayerBlobs(const std::map<std::string, std::string>& files,
                                    std::string* manifest_path = nullptr) {
  for (const auto& [path, data] : files) {
    if (data.find("\"layers\"") == std::string::npos || data.find("schemaVersion") == std::string::npos) continue;
    if (manifest_path) *manifest_path = path;
    auto j = nlohmann::json::parse(data);
    std::vector<std::string> out;
    for (const auto& l : j["layers"]) {
      out.push_back("blobs/sha256/" + l["digest"].get<std::string>().substr(7));
    }
    return out;
  }
  return {};
}

mydocker::RuntimeConfig Config() {
  mydocker::RuntimeConfig c;
  c.root = kRoot;
  c.new_id = [] { return std::string(kId); };
  return c;
}

TEST(OciImport, LayoutsAndDockerSaveImportIntoLayersSharedByDigest) {
  FakeKernel k;
  Put(k, "/in/oci.tar", Files(Spec()));
  Put(k, "/in/oci", Files(Spec()), /*dir=*/true);
  Put(k, "/in/save.tar", Files(Spec(LayeredImageSpec::Format::kDockerSave)));
  ImageStore store(k, kRoot);
  auto a = store.Import("/in/oci.tar", "a");
  ASSERT_TRUE(a.ok()) << a.error().Message();
  EXPECT_EQ(a->format, "oci");
  ASSERT_EQ(a->layers.size(), 3u);
  ASSERT_EQ(a->digests.size(), 3u);
  // Topmost first, each <root>/layers/<hex> of its digest (bottom first).
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(a->layers[i], std::string(kRoot) + "/layers/" + a->digests[2 - i].substr(7));
  }
  EXPECT_EQ(a->rootfs, a->layers[0]);
  EXPECT_EQ(a->config.cmd, (std::vector<std::string>{"cat", "/etc/faultline/layer"}));
  EXPECT_EQ(a->config.working_dir, "/srv/data");
  EXPECT_EQ(a->config.env,
            (std::vector<std::string>{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "FAULTLINE_LAYERS=3"}));
  EXPECT_EQ(Layers(k).size(), 3u);
  EXPECT_EQ(k.Lstat(std::string(kRoot) + "/layers").value.mode & 07777, 0700u);
  // The whiteout is overlayfs's: char 0:0 in the top layer.
  auto wh = k.Lstat(a->layers[0] + "/gone.txt");
  ASSERT_TRUE(wh.ok());
  EXPECT_TRUE(S_ISCHR(wh.value.mode));
  EXPECT_EQ(wh.value.rdev, 0u);
  EXPECT_FALSE(mydocker::Exists(k, a->layers[0] + "/opq/.wh..wh..opq"));
  EXPECT_FALSE(mydocker::Exists(k, a->layers[0] + "/.wh.gone.txt"));
  // Get reads the same back.
  auto got = store.Get("a");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->layers, a->layers);
  EXPECT_EQ(got->config.cmd, a->config.cmd);

  // The same layers from a directory: all shared.
  auto b = store.Import("/in/oci", "b");
  ASSERT_TRUE(b.ok()) << b.error().Message();
  EXPECT_EQ(b->layers, a->layers);
  EXPECT_EQ(Layers(k).size(), 3u);
  // docker save's blobs are the uncompressed tars: the plain layer 2 is
  // shared, busybox (gzip in the OCI layout) and layer 3 (zstd) are not.
  auto c = store.Import("/in/save.tar", "c");
  ASSERT_TRUE(c.ok()) << c.error().Message();
  EXPECT_EQ(c->format, "docker-save");
  EXPECT_EQ(c->layers[1], a->layers[1]);
  EXPECT_NE(c->layers[0], a->layers[0]);
  EXPECT_EQ(Layers(k).size(), 5u);
  auto list = store.List();
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 3u);
}

TEST(OciImport, RunSeesTheMergedLayersAndTheConfig) {
  FakeKernel k;
  Put(k, "/in/oci.tar", Files(Spec()));
  ImageStore store(k, kRoot);
  auto img = store.Import("/in/oci.tar", "layered");
  ASSERT_TRUE(img.ok()) << img.error().Message();
  mydocker::Runtime rt(k, Config());
  auto run = [&](std::vector<std::string> argv) {
    mydocker::RunSpec spec;
    spec.image = "layered";
    spec.argv = std::move(argv);
    const size_t before = k.console().size();
    auto r = rt.Run(spec);
    EXPECT_TRUE(r.ok()) << r.error().Message();
    return std::make_pair(r.ok() ? r->exit_code : -1, k.console().substr(before));
  };
  // No command: Cmd; layer 3's file over layer 2's.
  EXPECT_EQ(run({}), std::make_pair(0, std::string("3\n")));
  // The opaque directory shows only the top layer's entries; the whited-out
  // file is gone, layer 2's others are there.
  EXPECT_EQ(run({"ls", "/opq"}), std::make_pair(0, std::string("c\n")));
  auto root = run({"ls", "/"});
  EXPECT_THAT(root.second, ::testing::Not(HasSubstr("gone.txt")));
  EXPECT_THAT(root.second, HasSubstr("srv\n"));
  EXPECT_THAT(root.second, HasSubstr("bin\n"));
  auto gone = run({"cat", "/gone.txt"});
  EXPECT_EQ(gone.first, 1);
  // WorkingDir is the cwd: ls of "." lists it.
  EXPECT_EQ(run({"ls"}), std::make_pair(0, std::string("keep.txt\n")));
}

TEST(OciImport, ImageRmKeepsLayersOthersUseAndCollectsTheRest) {
  FakeKernel k;
  Put(k, "/in/oci.tar", Files(Spec()));
  Put(k, "/in/save.tar", Files(Spec(LayeredImageSpec::Format::kDockerSave)));
  ImageStore store(k, kRoot);
  auto a = store.Import("/in/oci.tar", "a");
  ASSERT_TRUE(a.ok());
  auto c = store.Import("/in/save.tar", "c");
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(Layers(k).size(), 5u);
  // A container of "c" blocks its removal (Runtime::RemoveImage, under the
  // store lock), and its layers stay.
  {
    mydocker::StateStore st(k, kRoot);
    ASSERT_TRUE(mydocker::MkdirAll(k, st.DirOf("cccccccccccc"), 0700, "t").ok());
    mydocker::ContainerState s;
    s.id = "cccccccccccc";
    s.name = "user";
    s.image = "c";
    s.status = "exited";
    ASSERT_TRUE(st.Write(s).ok());
  }
  mydocker::Runtime rt(k, Config());
  auto busy = rt.RemoveImage("c");
  ASSERT_FALSE(busy.ok());
  EXPECT_EQ(busy.error().err, EBUSY);
  EXPECT_EQ(Layers(k).size(), 5u);
  // "a" goes: its busybox and layer 3 (only it has them) go, layer 2 stays.
  ASSERT_TRUE(rt.RemoveImage("a").ok());
  std::vector<std::string> want;
  for (const auto& d : c->digests) want.push_back(d.substr(7));
  std::sort(want.begin(), want.end());
  EXPECT_EQ(Layers(k), want);
  ASSERT_TRUE(rt.Remove("cccccccccccc", false).ok());
  ASSERT_TRUE(rt.RemoveImage("c").ok());
  EXPECT_TRUE(Layers(k).empty());
  EXPECT_FALSE(mydocker::Exists(k, std::string(kRoot) + "/images/c"));
}

TEST(OciImport, ALayerLeftByACrashedImportIsCollected) {
  FakeKernel k;
  Put(k, "/in/oci.tar", Files(Spec()));
  ImageStore store(k, kRoot);
  ASSERT_TRUE(store.Import("/in/oci.tar", "a").ok());
  // A crashed import's leftovers: a half layer and a layer no image names.
  const std::string layers = std::string(kRoot) + "/layers/";
  ASSERT_TRUE(k.AddDir(layers + std::string(64, 'e') + ".partial", 0755).ok());
  ASSERT_TRUE(k.AddDir(layers + std::string(64, 'f'), 0755).ok());
  ASSERT_EQ(Layers(k).size(), 5u);
  ASSERT_TRUE(store.CollectLayers().ok());
  EXPECT_EQ(Layers(k).size(), 3u);
  ASSERT_TRUE(store.Remove("a").ok());
  EXPECT_TRUE(Layers(k).empty());
}

// ---- hostile layouts: one rule each, the exact error, nothing left -----

struct Refused {
  Error error;
  bool left = false;  // the image directory or a layer is left
};

Refused ImportRefused(const std::map<std::string, std::string>& files, bool dir = false,
                      mydocker::ImportLimits limits = {}) {
  FakeKernel k;
  const std::string path = dir ? "/in/x" : "/in/x.tar";
  Put(k, path, files, dir);
  ImageStore store(k, kRoot);
  auto r = store.Import(path, "x", limits);
  EXPECT_FALSE(r.ok());
  Refused out;
  if (!r.ok()) out.error = r.error();
  out.left = mydocker::Exists(k, std::string(kRoot) + "/images/x") || !Layers(k).empty();
  return out;
}

void ExpectError(const Refused& r, const std::string& step, const std::string& path, int err,
                 const std::string& detail) {
  EXPECT_EQ(r.error.step, step);
  EXPECT_EQ(r.error.path, path);
  EXPECT_EQ(r.error.err, err) << r.error.Message();
  EXPECT_EQ(r.error.detail, detail);
  EXPECT_FALSE(r.left) << "a refused import left something";
}

TEST(OciHostile, ABlobWhoseSha256DoesNotMatchItsNameIsRefusedNamingIt) {
  auto files = Files(Spec());
  std::string manifest;
  const std::vector<std::string> blobs = LayerBlobs(files, &manifest);
  ASSERT_EQ(blobs.size(), 3u);
  std::string& data = files[blobs[1]];  // layer 2: a plain tar
  data[data.find("keep\n")] = 'K';
  const std::string got = mydocker::Sha256Hex(data);
  for (bool dir : {false, true}) {
    Refused r = ImportRefused(files, dir);
    ExpectError(r, "image import: verify blob",
                dir ? "/in/x/" + blobs[1] : "/in/x.tar:" + blobs[1], EINVAL,
                "sha256 " + got + " does not match sha256:" + blobs[1].substr(13) +
                    " (named by " + manifest + ": layers[1])");
  }
  // A small blob (the config) is checked the same way.
  auto files2 = Files(Spec());
  std::string config_path;
  for (auto& [p, d] : files2) {
    if (d.find("\"diff_ids\"") != std::string::npos) config_path = p;
  }
  ASSERT_FALSE(config_path.empty());
  files2[config_path] += " ";
  Refused r = ImportRefused(files2);
  ExpectError(r, "image import: verify blob", "/in/x.tar:" + config_path, EINVAL,
              "sha256 " + mydocker::Sha256Hex(files2[config_path]) + " does not match sha256:" +
                  config_path.substr(13) + " (named by " + manifest + ": config)");
}

TEST(OciHostile, AManifestNamingAMissingBlobIsRefused) {
  auto files = Files(Spec());
  std::string manifest;
  const std::vector<std::string> blobs = LayerBlobs(files, &manifest);
  files.erase(blobs[2]);
  Refused r = ImportRefused(files);
  ExpectError(r, "image import: read layout", "/in/x.tar:" + blobs[2], ENOENT,
              "missing from the layout (named by " + manifest + ": layers[2])");
}

TEST(OciHostile, BadJsonNamesTheFile) {
  auto files = Files(Spec());
  files["index.json"] = "{\"manifests\": [";
  Refused r = ImportRefused(files);
  EXPECT_EQ(r.error.step, "image import: parse");
  EXPECT_EQ(r.error.path, "/in/x.tar:index.json");
  EXPECT_EQ(r.error.err, EINVAL);
  EXPECT_THAT(r.error.detail, ::testing::StartsWith("not valid JSON: "));
  EXPECT_FALSE(r.left);
  auto files2 = Files(Spec());
  files2["oci-layout"] = R"({"imageLayoutVersion": 1})";
  ExpectError(ImportRefused(files2), "image import: parse", "/in/x.tar:oci-layout", EINVAL,
              "imageLayoutVersion: missing or not a string");
}

TEST(OciHostile, ADigestThatIsAPathIsRefusedNamingTheField) {
  auto files = Files(Spec());
  auto j = nlohmann::json::parse(files["index.json"]);
  j["manifests"][0]["digest"] = "sha256:../../../../etc/passwd";
  files["index.json"] = j.dump();
  ExpectError(ImportRefused(files), "image import: parse", "/in/x.tar:index.json", EINVAL,
              "manifests[0].digest: \"sha256:../../../../etc/passwd\" is not sha256:<64 "
              "lowercase hex>");
}

TEST(OciHostile, DockerSaveLayerPathOutsideTheArchiveIsRefused) {
  auto files = Files(Spec(LayeredImageSpec::Format::kDockerSave));
  auto j = nlohmann::json::parse(files["manifest.json"]);
  j[0]["Layers"][1] = "../../var/lib/layer.tar";
  files["manifest.json"] = j.dump();
  ExpectError(ImportRefused(files), "image import: parse", "/in/x.tar:manifest.json", EINVAL,
              "[0].Layers[1]: \"../../var/lib/layer.tar\" is outside the image (absolute or ..)");
}

// A layer (layer 2 of busybox-layers) replaced by entries; returns the
// refusal and the blob's path.
Refused LayerRefused(std::vector<ImageEntry> entries, std::string* blob,
                     mydocker::ImportLimits limits = {}) {
  LayeredImageSpec s = Spec();
  s.layers[0] = std::move(entries);
  auto files = Files(s);
  *blob = LayerBlobs(files)[1];
  return ImportRefused(files, false, limits);
}

TEST(OciHostile, WhiteoutRulesEachRefusedWithTheEntryNamed) {
  struct Case {
    ImageEntry entry;
    std::string entry_name, detail;
  };
  ImageEntry dev;
  dev.path = "etc/null";
  dev.type = ImageEntry::Type::kCharDevice;
  const std::vector<Case> cases = {
      {File("etc/.wh...", ""), "etc/.wh...", "whiteout \".wh...\" names \"..\", not an entry"},
      {File("etc/.wh..", ""), "etc/.wh..", "whiteout \".wh..\" names \".\", not an entry"},
      {File("../.wh.passwd", ""), "../.wh.passwd", "\"..\" component"},
      {File("etc/../../.wh.passwd", ""), "etc/../../.wh.passwd", "\"..\" component"},
      {File("/etc/.wh.passwd", ""), "/etc/.wh.passwd", "absolute path"},
      {File(".wh..wh..opq", ""), ".wh..wh..opq", "opaque marker (.wh..wh..opq) at the layer root"},
      {Dir("etc/.wh.passwd"), "etc/.wh.passwd/", "whiteout \".wh.passwd\" is not a regular file"},
      {Link("etc/.wh.passwd", "x"), "etc/.wh.passwd", "whiteout \".wh.passwd\" is not a regular file"},
      {File("etc/.wh..wh.plnk", ""), "etc/.wh..wh.plnk", "whiteout \".wh..wh.plnk\" of a whiteout name"},
      // The single tar's rules hold in every layer.
      {dev, "etc/null", "character device"},
      {Link("esc", "../../../etc"), "esc", "symlink target \"../../../etc\" escapes the layer root"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.entry_name);
    std::string blob;
    Refused r = LayerRefused({Dir("etc"), c.entry}, &blob);
    ExpectError(r, "image import: refuse entry", "/in/x.tar:" + blob + ":" + c.entry_name, 0,
                c.detail);
  }
  // A whiteout and an entry of the same name in one layer.
  std::string blob;
  Refused r = LayerRefused({File("etc/.wh.passwd", ""), File("etc/passwd", "x")}, &blob);
  ExpectError(r, "image import: refuse entry", "/in/x.tar:" + blob + ":etc/passwd", 0,
              "duplicate entry: the name is already in the layer");
}

TEST(OciHostile, LimitsCountEveryLayer) {
  // busybox-layers: busybox (fake: 25 entries) + 9 + 5; a limit of 36
  // leaves 2 for layer 3, whose third entry is refused.
  LayeredImageSpec s = Spec();
  auto files = Files(s);
  const std::vector<std::string> blobs = LayerBlobs(files);
  mydocker::ImportLimits limits;
  limits.max_entries = 36;
  Refused r = ImportRefused(files, false, limits);
  EXPECT_EQ(r.error.step, "image import: limit");
  EXPECT_EQ(r.error.err, E2BIG);
  EXPECT_THAT(r.error.path, ::testing::StartsWith("/in/x.tar:" + blobs[2] + ":"));
  EXPECT_EQ(r.error.detail, "more than 2 entries (limit --max-entries)");
  EXPECT_FALSE(r.left);
}

TEST(OciHostile, ADirectoryMustBeALayoutAndItsBlobsNoSymlink) {
  FakeKernel k;
  ASSERT_TRUE(k.AddDir("/in/rootfs", 0755).ok());
  ASSERT_TRUE(k.AddDir("/in/rootfs/bin", 0755).ok());
  ImageStore store(k, kRoot);
  auto r = store.Import("/in/rootfs", "x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().Message(),
            "image import: read layout /in/rootfs: EINVAL (Invalid argument): a directory must be "
            "an OCI image layout (oci-layout, index.json, blobs/)");
  auto files = Files(Spec());
  std::map<std::string, std::string> top;
  for (auto& [p, d] : files) {
    if (p.rfind("blobs/", 0) != 0) top[p] = d;
  }
  ASSERT_TRUE(WriteLayoutDir(k, "/in/sym", top).ok());
  ASSERT_TRUE(k.Symlink("/etc", "/in/sym/blobs").ok());
  auto s = store.Import("/in/sym", "x");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().Message(),
            "image import: read layout /in/sym/blobs: ENOTDIR (Not a directory): not a directory "
            "(a symlink is not followed)");
  EXPECT_FALSE(mydocker::Exists(k, std::string(kRoot) + "/images/x"));
}

TEST(OciImport, ABlobOverTheInMemoryLimitIsStreamedFromTheTar) {
  // Blobs up to 4 MiB are held from the scan; a bigger one is read again
  // from the tar, up to its entry. Its digest is checked all the same.
  LayeredImageSpec s = Spec();
  s.layers[0].push_back(File("big", std::string(5 << 20, 'x')));
  FakeKernel k;
  Put(k, "/in/oci.tar", Files(s));
  FaultInjectingSys traced(k, FaultPlan{});
  ImageStore store(traced, kRoot);
  auto img = store.Import("/in/oci.tar", "big");
  ASSERT_TRUE(img.ok()) << img.error().Message();
  auto big = k.Lstat(img->layers[1] + "/big");
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(big.value.size, 5u << 20);
  // The tar was opened twice: the scan (which holds the small files), and
  // once more for the big blob.
  size_t opens = 0;
  for (const auto& t : traced.trace()) opens += t.op == "open" && t.path == "/in/oci.tar";
  EXPECT_EQ(opens, 2u);
  // A changed byte in the big blob is found.
  auto files = Files(s);
  const std::string blob = LayerBlobs(files)[1];
  files[blob][files[blob].find("xxxx") + 7] = 'y';
  Refused r = ImportRefused(files);
  EXPECT_EQ(r.error.step, "image import: verify blob");
  EXPECT_EQ(r.error.path, "/in/x.tar:" + blob);
  EXPECT_FALSE(r.left);
}

// ---- every call of an OCI import, faulted -------------------------------

TEST(OciImportSweep, EveryCallFaultedFailsNamingItOrSucceedsAndLeavesNoHalfImage) {
  const auto files = Files(Spec());
  auto clean_world = [&] {
    FakeKernel k;
    Put(k, "/in/oci.tar", files);
    return k;
  };
  // The clean run: every call point.
  size_t points = 0;
  std::map<std::string, size_t> ops;
  {
    FakeKernel k = clean_world();
    FaultInjectingSys traced(k, FaultPlan{});
    ImageStore store(traced, kRoot);
    auto r = store.Import("/in/oci.tar", "x");
    ASSERT_TRUE(r.ok()) << r.error().Message();
    points = traced.trace().size();
    for (const auto& t : traced.trace()) ++ops[t.op];
  }
  // The exact count of the clean import of busybox-layers (fake busybox):
  // a change to the import's calls shows here.
  EXPECT_EQ(points, 186u) << ::testing::PrintToString(ops);
  EXPECT_GT(ops["lsetxattr"], 0u);
  EXPECT_GT(ops["mknod"], 0u);
  size_t failed = 0, succeeded = 0;
  std::vector<std::string> absorbed;
  for (size_t i = 1; i <= points; ++i) {
    SCOPED_TRACE("call " + std::to_string(i));
    FakeKernel k = clean_world();
    auto plan = FaultPlan::FromCompact("nth=" + std::to_string(i) + ",errno=EIO");
    ASSERT_TRUE(plan.ok());
    FaultInjectingSys faulty(k, *plan);
    ImageStore store(faulty, kRoot);
    auto r = store.Import("/in/oci.tar", "x");
    bool fired = false;
    std::string op;
    for (const auto& t : faulty.trace()) {
      if (t.rule >= 0) {
        fired = true;
        op = t.op;
      }
    }
    ASSERT_TRUE(fired);
    ImageStore plain(k, kRoot);
    if (r.ok()) {
      ++succeeded;
      absorbed.push_back(std::to_string(i) + ":" + op);
      // A call whose failure the import may absorb (a probe, a close of a
      // read-only fd): the image is then whole.
      auto g = plain.Get("x");
      ASSERT_TRUE(g.ok()) << op << ": " << g.error().Message();
      EXPECT_EQ(g->layers.size(), 3u) << op;
      EXPECT_EQ(Layers(k).size(), 3u) << op;
      continue;
    }
    ++failed;
    EXPECT_EQ(r.error().err, EIO) << op << ": " << r.error().Message();
    EXPECT_FALSE(r.error().step.empty()) << op;
    // Nothing half made: no image, no layer.
    EXPECT_FALSE(mydocker::Exists(k, std::string(kRoot) + "/images/x")) << op;
    EXPECT_TRUE(Layers(k).empty()) << op << ": " << ::testing::PrintToString(Layers(k));
    // And the import then works.
    auto again = plain.Import("/in/oci.tar", "x");
    EXPECT_TRUE(again.ok()) << op << ": " << again.error().Message();
  }
  EXPECT_EQ(failed + succeeded, points);
  // Absorbed, each for its reason: the lstat probes of Exists (the image's
  // directory before the import, then per layer the layer and its
  // .partial: a failed probe reads as "not there", which they are, so the
  // import goes on the same way) and the last call, the close of the layer
  // lock's fd when the import returns (close releases the fd and the lock
  // whatever it reports).
  EXPECT_EQ(absorbed, (std::vector<std::string>{"1:lstat", "6:lstat", "30:lstat", "31:lstat",
                                                 "109:lstat", "110:lstat", "154:lstat",
                                                 "155:lstat", "186:close"}));
  EXPECT_EQ(failed, 177u);
}

}  // namespace
}  // namespace faultline
