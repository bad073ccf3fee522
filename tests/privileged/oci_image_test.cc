// Multi-layer images on the real kernel, through the mydocker binary: the
// harness's busybox-layers image (oci_layout.h: busybox + a layer that adds
// files + a layer with a whiteout and an opaque directory) as an OCI layout
// tar, an OCI layout directory and a docker-save tar; run with the image's
// config (Cmd, Env, WorkingDir) and the merged view checked from inside;
// layers shared between images by digest and removed with the last image;
// nothing left on the host.
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "harness/probes/probes.h"
#include "harness/scenario/oci_layout.h"
#include "privileged_env.h"
#include "runtime/sys/fs_util.h"
#include "runtime/sys/linux_sys.h"

namespace faultline {
namespace {

using ::testing::HasSubstr;

class OciImagePrivileged : public PrivilegedTest {};

std::vector<std::string> LayerDirs(const std::string& root) {
  std::vector<std::string> out;
  mydocker::LinuxSys sys;
  auto r = sys.ReadDir(root + "/layers");
  if (!r.ok()) return out;
  for (const auto& e : r.value) {
    if (e.name != ".lock") out.push_back(e.name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST_F(OciImagePrivileged, LayeredImagesImportShareLayersRunWithTheirConfigAndLeaveNothing) {
  Snapshot before = env().TakeSnapshot();
  std::string error;
  const std::string busybox = PrivilegedImageTar(&error);
  ASSERT_FALSE(busybox.empty()) << error;
  auto base = mydocker::ReadFile(env().sys(), busybox, "test: read busybox tar");
  ASSERT_TRUE(base.ok()) << base.error().Message();
  LayeredImageSpec spec = BusyboxLayersSpec(*base);

  const std::string oci_tar = env().scratch() + "/layers-oci.tar";
  const std::string oci_dir = env().scratch() + "/layers-oci";
  const std::string save_tar = env().scratch() + "/layers-save.tar";
  ASSERT_TRUE(WriteLayeredImage(env().sys(), oci_tar, spec).ok());
  spec.format = LayeredImageSpec::Format::kOciDir;
  ASSERT_TRUE(WriteLayeredImage(env().sys(), oci_dir, spec).ok());
  spec.format = LayeredImageSpec::Format::kDockerSave;
  ASSERT_TRUE(WriteLayeredImage(env().sys(), save_tar, spec).ok());

  CommandResult r = env().Mydocker({"image", "import", oci_tar, "layered"});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  const std::vector<std::string> oci_layers = LayerDirs(env().root());
  ASSERT_EQ(oci_layers.size(), 3u);
  // The whiteout is overlayfs's (char 0:0), the opaque dir has its xattr.
  // Layer 3 is the one holding opq/c.
  std::string top;
  for (const auto& l : oci_layers) {
    if (access((env().root() + "/layers/" + l + "/opq/c").c_str(), F_OK) == 0) top = l;
  }
  ASSERT_FALSE(top.empty());
  struct stat st;
  const std::string wh = env().root() + "/layers/" + top + "/gone.txt";
  ASSERT_EQ(lstat(wh.c_str(), &st), 0) << wh;
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(0, 0));
  char val[8] = {};
  const std::string opq = env().root() + "/layers/" + top + "/opq";
  EXPECT_EQ(lgetxattr(opq.c_str(), "trusted.overlay.opaque", val, sizeof val), 1);
  EXPECT_EQ(std::string(val, 1), "y");

  // The same layers from a directory: all three shared, none added.
  r = env().Mydocker({"image", "import", oci_dir, "layered-dir"});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_EQ(LayerDirs(env().root()), oci_layers);
  // docker save: its blobs are the uncompressed tars: layer 2 (plain in the
  // OCI layout too) is shared, busybox (gzip there) and layer 3 (zstd) not.
  r = env().Mydocker({"image", "import", save_tar, "layered-save"});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_EQ(LayerDirs(env().root()).size(), 5u);

  for (const char* image : {"layered", "layered-save"}) {
    SCOPED_TRACE(image);
    // No command: the image's Cmd (cat /etc/faultline/layer: layer 3's).
    r = env().Mydocker({"run", image});
    EXPECT_EQ(r.exit_code, 0) << r.Describe();
    EXPECT_EQ(r.out, "3\n");
    // A command replaces Cmd; Env and WorkingDir still apply.
    r = env().Mydocker(
        {"run", image, "sh", "-c",
         "ls /opq; test -e /gone.txt && echo present || echo absent; pwd; ls;"
         " echo $FAULTLINE_LAYERS; cat /bin/busybox >/dev/null && echo busybox"});
    EXPECT_EQ(r.exit_code, 0) << r.Describe();
    EXPECT_EQ(r.out, "c\nabsent\n/srv/data\nkeep.txt\n3\nbusybox\n");
    // -e overrides the image's Env.
    r = env().Mydocker({"run", "-e", "FAULTLINE_LAYERS=over", image, "sh", "-c",
                        "echo $FAULTLINE_LAYERS"});
    EXPECT_EQ(r.exit_code, 0) << r.Describe();
    EXPECT_EQ(r.out, "over\n");
  }

  // Removing one image keeps the layers the others use.
  ASSERT_EQ(env().Mydocker({"image", "rm", "layered"}).exit_code, 0);
  EXPECT_EQ(LayerDirs(env().root()).size(), 5u);
  ASSERT_EQ(env().Mydocker({"image", "rm", "layered-save"}).exit_code, 0);
  EXPECT_EQ(LayerDirs(env().root()), oci_layers);
  r = env().Mydocker({"run", "layered-dir"});
  EXPECT_EQ(r.out, "3\n") << r.Describe();
  ASSERT_EQ(env().Mydocker({"image", "rm", "layered-dir"}).exit_code, 0);
  EXPECT_TRUE(LayerDirs(env().root()).empty());

  ASSERT_EQ(unlink(oci_tar.c_str()), 0);
  ASSERT_EQ(unlink(save_tar.c_str()), 0);
  ASSERT_TRUE(mydocker::RemoveTree(env().sys(), oci_dir, "test cleanup").ok());
  ASSERT_TRUE(mydocker::RemoveTree(env().sys(), env().root() + "/layers", "test cleanup").ok());
  ExpectHostAsBefore(before, "layered images: import, run, removal");
}

TEST_F(OciImagePrivileged, ATamperedLayerIsRefusedNamingTheBlobAndLeavesNothing) {
  Snapshot before = env().TakeSnapshot();
  std::string error;
  const std::string busybox = PrivilegedImageTar(&error);
  ASSERT_FALSE(busybox.empty()) << error;
  auto base = mydocker::ReadFile(env().sys(), busybox, "test: read busybox tar");
  ASSERT_TRUE(base.ok());
  LayeredImageSpec spec = BusyboxLayersSpec(*base);
  spec.format = LayeredImageSpec::Format::kOciDir;
  const std::string dir = env().scratch() + "/tampered";
  ASSERT_TRUE(WriteLayeredImage(env().sys(), dir, spec).ok());
  // Layer 2 (a plain tar) with one byte changed: a file's content.
  auto files = BuildLayeredImage(spec);
  ASSERT_TRUE(files.ok());
  std::string blob_path;
  for (const auto& [path, data] : *files) {
    if (data.find("keep\n") != std::string::npos && data.find("ustar") != std::string::npos) {
      blob_path = path;
    }
  }
  ASSERT_FALSE(blob_path.empty());
  std::string data = files->at(blob_path);
  data[data.find("keep\n")] = 'K';
  ASSERT_TRUE(mydocker::WriteFile(env().sys(), dir + "/" + blob_path, data, 0644, "t").ok());
  CommandResult r = env().Mydocker({"image", "import", dir, "tampered"});
  EXPECT_EQ(r.exit_code, 125) << r.Describe();
  EXPECT_THAT(r.err, HasSubstr("image import: verify blob " + dir + "/" + blob_path));
  EXPECT_THAT(r.err, HasSubstr("does not match sha256:" + blob_path.substr(13)));
  EXPECT_FALSE(mydocker::Exists(env().sys(), env().root() + "/images/tampered"));
  EXPECT_TRUE(LayerDirs(env().root()).empty());
  ASSERT_TRUE(mydocker::RemoveTree(env().sys(), dir, "test cleanup").ok());
  (void)mydocker::RemoveTree(env().sys(), env().root() + "/layers", "test cleanup");
  ExpectHostAsBefore(before, "tampered layer refused");
}

}  // namespace
}  // namespace faultline
