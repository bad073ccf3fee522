// image_format.h: format detection from content, the OCI / docker-save
// documents and the whiteout rules, pure (no archive, no Sys).
#include "runtime/image/image_format.h"

#include <errno.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace mydocker {
namespace {

using ::testing::HasSubstr;

const std::string kHex(64, 'a');
const std::string kHex2(64, 'b');

TEST(ImageFormat, DetectFromTopLevelNamesNotFileNames) {
  EXPECT_EQ(DetectFormat({"oci-layout", "index.json", "blobs"}), ImageFormat::kOciLayout);
  // docker 25+'s save is an OCI layout with a manifest.json: read as OCI.
  EXPECT_EQ(DetectFormat({"blobs", "index.json", "manifest.json", "oci-layout", "repositories"}),
            ImageFormat::kOciLayout);
  EXPECT_EQ(DetectFormat({"manifest.json", kHex + ".json", kHex2, "repositories"}),
            ImageFormat::kDockerSave);
  // A root filesystem, even one holding layout-like names.
  EXPECT_EQ(DetectFormat({"bin", "etc", "index.json"}), ImageFormat::kDockerExport);
  EXPECT_EQ(DetectFormat({"manifest.json", "usr"}), ImageFormat::kDockerExport);
  EXPECT_EQ(DetectFormat({"blobs"}), ImageFormat::kDockerExport);  // neither index nor manifest
  EXPECT_EQ(DetectFormat({kHex.substr(1)}), ImageFormat::kDockerExport);
  EXPECT_EQ(DetectFormat({}), ImageFormat::kDockerExport);
  EXPECT_STREQ(ImageFormatName(ImageFormat::kOciLayout), "oci");
}

TEST(ImageFormat, DigestHex) {
  EXPECT_EQ(DigestHex("sha256:" + kHex), kHex);
  EXPECT_EQ(DigestHex("sha512:" + kHex), "");
  EXPECT_EQ(DigestHex("sha256:" + std::string(64, 'A')), "");
  EXPECT_EQ(DigestHex("sha256:../../etc/passwd"), "");
  EXPECT_EQ(DigestHex("sha256:" + kHex + "0"), "");
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

std::string Desc(const std::string& hex, const std::string& media) {
  return R"({"mediaType":")" + media + R"(","digest":"sha256:)" + hex + R"(","size":1})";
}

TEST(ImageFormat, IndexPicksTheOnlyManifestOrTheHostPlatform) {
  auto one = ParseOciIndex(
      "index.json",
      R"({"schemaVersion":2,"manifests":[)" +
          Desc(kHex, "application/vnd.oci.image.manifest.v1+json") + "]}",
      "amd64");
  ASSERT_TRUE(one.ok()) << one.error().Message();
  EXPECT_EQ(one->manifest.path, "blobs/sha256/" + kHex);
  EXPECT_EQ(one->manifest.field, "index.json: manifests[0]");
  EXPECT_FALSE(one->is_index);
  const std::string two =
      R"({"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:)" +
      kHex + R"(","platform":{"os":"linux","architecture":"arm64"}},)" +
      R"({"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:)" + kHex2 +
      R"(","platform":{"os":"linux","architecture":"amd64"}}]})";
  auto pick = ParseOciIndex("index.json", two, "amd64");
  ASSERT_TRUE(pick.ok());
  EXPECT_EQ(pick->manifest.hex, kHex2);
  auto none = ParseOciIndex("index.json", two, "s390x");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().detail,
            "manifests: 2 manifests and 0 for linux/s390x: cannot tell which image to import");
  auto nested = ParseOciIndex(
      "index.json",
      R"({"manifests":[)" + Desc(kHex, "application/vnd.oci.image.index.v1+json") + "]}", "amd64");
  ASSERT_TRUE(nested.ok());
  EXPECT_TRUE(nested->is_index);
}

TEST(ImageFormat, BadDocumentsNameTheFileAndTheField) {
  struct Case {
    std::string text, detail;
  };
  const std::vector<Case> index_cases = {
      {"{", ""},  // detail checked by prefix below
      {"[]", "not an object"},
      {R"({"manifests":{}})", "manifests: missing or not an array"},
      {R"({"manifests":[]})", "manifests: empty: no image to import"},
      {R"({"manifests":[{"digest":7}]})", "manifests[0].digest: missing or not a string"},
      {R"({"manifests":[{"digest":"sha256:../../../etc/passwd"}]})",
       "manifests[0].digest: \"sha256:../../../etc/passwd\" is not sha256:<64 lowercase hex>"},
      {R"({"manifests":[)" + Desc(kHex, "text/plain") + "]}",
       "manifests[0].mediaType: \"text/plain\" is not an image manifest or index"},
  };
  for (const Case& c : index_cases) {
    auto r = ParseOciIndex("index.json", c.text, "amd64");
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_EQ(r.error().step, "image import: parse");
    EXPECT_EQ(r.error().path, "index.json");
    EXPECT_EQ(r.error().err, EINVAL);
    if (c.detail.empty()) {
      EXPECT_THAT(r.error().detail, ::testing::StartsWith("not valid JSON: "));
    } else {
      EXPECT_EQ(r.error().detail, c.detail);
    }
  }
  const std::string m = "blobs/sha256/" + kHex;
  const std::vector<Case> manifest_cases = {
      {R"({"schemaVersion":1})", "schemaVersion: missing or not 2"},
      {R"({"schemaVersion":2})", "config: missing"},
      {R"({"schemaVersion":2,"config":)" + Desc(kHex, "x") + "}", "layers: missing or not an array"},
      {R"({"schemaVersion":2,"config":)" + Desc(kHex, "x") + R"(,"layers":[]})",
       "layers: empty: an image needs a layer"},
      {R"({"schemaVersion":2,"config":)" + Desc(kHex, "x") + R"(,"layers":[)" +
           Desc(kHex2, "application/vnd.oci.image.layer.v1.tar+bzip9") + "]}",
       "layers[0].mediaType: \"application/vnd.oci.image.layer.v1.tar+bzip9\" is not a layer tar "
       "(plain, gzip or zstd)"},
  };
  for (const Case& c : manifest_cases) {
    auto r = ParseOciManifest(m, c.text);
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_EQ(r.error().path, m);
    EXPECT_EQ(r.error().detail, c.detail);
  }
  auto good = ParseOciManifest(
      m, R"({"schemaVersion":2,"config":)" + Desc(kHex, "x") + R"(,"layers":[)" +
             Desc(kHex2, "application/vnd.oci.image.layer.v1.tar+zstd") + "]}");
  ASSERT_TRUE(good.ok()) << good.error().Message();
  ASSERT_EQ(good->layers.size(), 1u);
  EXPECT_EQ(good->layers[0].field, m + ": layers[0]");
  EXPECT_EQ(good->layers[0].path, "blobs/sha256/" + kHex2);
}

TEST(ImageFormat, DockerSaveManifestPathsStayInside) {
  auto good = ParseDockerManifest(R"([{"Config":")" + kHex + R"(.json","Layers":["0/layer.tar",)" +
                                  R"("blobs/sha256/)" + kHex2 + R"("]}])");
  ASSERT_TRUE(good.ok()) << good.error().Message();
  EXPECT_EQ(good->config.hex, kHex);
  EXPECT_EQ(good->layers[0].path, "0/layer.tar");
  EXPECT_EQ(good->layers[0].hex, "");  // checked against the config's diff_ids
  EXPECT_EQ(good->layers[1].hex, kHex2);
  struct Case {
    std::string text, detail;
  };
  const std::vector<Case> cases = {
      {"{}", "not an array of images"},
      {"[{},{}]", "2 images: import takes exactly one"},
      {R"([{"Layers":[]}])", "[0].Config: missing or not a string"},
      {R"([{"Config":"c.json","Layers":["a"]}])",
       "[0].Config: \"c.json\" is neither <64 hex>.json nor blobs/sha256/<64 hex>"},
      {R"([{"Config":")" + kHex + R"(.json","Layers":["../../etc/layer.tar"]}])",
       "[0].Layers[0]: \"../../etc/layer.tar\" is outside the image (absolute or ..)"},
      {R"([{"Config":")" + kHex + R"(.json","Layers":["/etc/layer.tar"]}])",
       "[0].Layers[0]: \"/etc/layer.tar\" is outside the image (absolute or ..)"},
      {R"([{"Config":")" + kHex + R"(.json","Layers":["blobs/md5/x"]}])",
       "[0].Layers[0]: \"blobs/md5/x\": only blobs/sha256/<64 hex> blobs"},
      {R"([{"Config":")" + kHex + R"(.json","Layers":[]}])", "[0].Layers: empty: an image needs a layer"},
  };
  for (const Case& c : cases) {
    auto r = ParseDockerManifest(c.text);
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_EQ(r.error().path, "manifest.json");
    EXPECT_EQ(r.error().detail, c.detail);
  }
}

TEST(ImageFormat, ConfigGivesEnvCmdEntrypointWorkingDirAndDiffIds) {
  auto c = ParseImageConfig(
      "cfg", R"({"config":{"Env":["PATH=/bin","A=b=c"],"Cmd":["sh"],"Entrypoint":null,)"
             R"("WorkingDir":"/srv"},"rootfs":{"type":"layers","diff_ids":["sha256:)" +
                 kHex + R"("]}})");
  ASSERT_TRUE(c.ok()) << c.error().Message();
  EXPECT_EQ(c->config.env, (std::vector<std::string>{"PATH=/bin", "A=b=c"}));
  EXPECT_EQ(c->config.cmd, (std::vector<std::string>{"sh"}));
  EXPECT_TRUE(c->config.entrypoint.empty());
  EXPECT_EQ(c->config.working_dir, "/srv");
  EXPECT_EQ(c->diff_ids, (std::vector<std::string>{kHex}));
  struct Case {
    std::string text, detail;
  };
  const std::string rootfs = R"("rootfs":{"diff_ids":[]})";
  const std::vector<Case> cases = {
      {R"({"config":{"Env":["NOEQUALS"]},)" + rootfs + "}", "config.Env: \"NOEQUALS\" is not KEY=VALUE"},
      {R"({"config":{"Env":"A=1"},)" + rootfs + "}", "config.Env: not an array of strings"},
      {R"({"config":{"Cmd":[1]},)" + rootfs + "}", "config.Cmd[0]: not a string"},
      {R"({"config":{"WorkingDir":"srv"},)" + rootfs + "}",
       "config.WorkingDir: \"srv\" is not an absolute path"},
      {R"({"config":{}})", "rootfs: missing or not an object"},
      {R"({"rootfs":{"diff_ids":["md5:x"]}})", "rootfs.diff_ids[0]: not sha256:<64 lowercase hex>"},
  };
  for (const Case& k : cases) {
    auto r = ParseImageConfig("cfg", k.text);
    ASSERT_FALSE(r.ok()) << k.text;
    EXPECT_EQ(r.error().path, "cfg");
    EXPECT_EQ(r.error().detail, k.detail);
  }
  // The stored form reads back the same.
  auto back = ImageConfigFromJson("image.json", ImageConfigJson(c->config));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->env, c->config.env);
  EXPECT_EQ(back->cmd, c->config.cmd);
  EXPECT_EQ(back->working_dir, "/srv");
}

TEST(ImageFormat, Whiteouts) {
  Whiteout w;
  EXPECT_EQ(ClassifyWhiteout("etc/passwd", true, &w), "");
  EXPECT_EQ(w.kind, Whiteout::Kind::kNone);
  EXPECT_EQ(ClassifyWhiteout("./etc/.wh.passwd", true, &w), "");
  EXPECT_EQ(w.kind, Whiteout::Kind::kFile);
  EXPECT_EQ(w.dir, (std::vector<std::string>{"etc"}));
  EXPECT_EQ(w.name, "passwd");
  EXPECT_EQ(ClassifyWhiteout(".wh.gone", true, &w), "");
  EXPECT_TRUE(w.dir.empty());
  EXPECT_EQ(w.name, "gone");
  EXPECT_EQ(ClassifyWhiteout("a/b/.wh..wh..opq", true, &w), "");
  EXPECT_EQ(w.kind, Whiteout::Kind::kOpaque);
  EXPECT_EQ(w.dir, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(ClassifyWhiteout(".wh..wh..opq", true, &w),
            "opaque marker (.wh..wh..opq) at the layer root");
  EXPECT_EQ(ClassifyWhiteout("etc/.wh...", true, &w), "whiteout \".wh...\" names \"..\", not an entry");
  EXPECT_EQ(ClassifyWhiteout("etc/.wh..", true, &w), "whiteout \".wh..\" names \".\", not an entry");
  EXPECT_EQ(ClassifyWhiteout("etc/.wh.", true, &w), "whiteout \".wh.\" names \"\", not an entry");
  EXPECT_EQ(ClassifyWhiteout("etc/.wh..wh.plnk", true, &w),
            "whiteout \".wh..wh.plnk\" of a whiteout name");
  EXPECT_EQ(ClassifyWhiteout("etc/.wh.x", false, &w), "whiteout \".wh.x\" is not a regular file");
}

}  // namespace
}  // namespace mydocker
