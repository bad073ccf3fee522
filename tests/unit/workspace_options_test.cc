#include <gtest/gtest.h>

#include "runtime/workspace/workspace.h"

namespace mydocker {
namespace {

std::vector<std::string> Layers(size_t n, size_t len) {
  std::vector<std::string> out;
  for (size_t i = 0; i < n; ++i) {
    std::string p = "/var/lib/mydocker/layers/" + std::to_string(i) + "/";
    p.resize(len, 'x');
    out.push_back(p);
  }
  return out;
}

TEST(WorkspaceOptions, InitLayerIsTheTopmostLower) {
  WorkspacePaths p = PathsFor("/r/c1");
  EXPECT_EQ(p.merged, "/r/c1/merged");
  EXPECT_EQ(OverlayOptions(p, {"/img/a", "/img/b"}),
            "lowerdir=/r/c1/init:/img/a:/img/b,upperdir=/r/c1/upper,workdir=/r/c1/work");
}

TEST(WorkspaceOptions, PageLimitIsExact) {
  // Find a layer length that makes the option string exactly 4095 bytes
  // (fits, with its NUL) and one byte more (does not).
  WorkspacePaths p = PathsFor("/r/c1");
  const std::string base = OverlayOptions(p, {});
  const size_t per_layer_overhead = 1;  // the ':'
  const size_t len = 4095 - base.size() - per_layer_overhead;
  std::string exact = OverlayOptions(p, Layers(1, len));
  ASSERT_EQ(exact.size(), 4095u);
  EXPECT_TRUE(FitsLegacyMount(exact));
  EXPECT_EQ(ChooseMountApi(MountApi::kAuto, exact), MountApi::kLegacy);
  std::string over = OverlayOptions(p, Layers(1, len + 1));
  EXPECT_FALSE(FitsLegacyMount(over));
  EXPECT_EQ(ChooseMountApi(MountApi::kAuto, over), MountApi::kNewApi);
  // An explicit choice is kept.
  EXPECT_EQ(ChooseMountApi(MountApi::kLegacy, over), MountApi::kLegacy);
}

TEST(WorkspaceOptions, ManyLayersNeedTheNewApi) {
  WorkspacePaths p = PathsFor("/var/lib/mydocker/containers/0123456789ab");
  EXPECT_EQ(ChooseMountApi(MountApi::kAuto, OverlayOptions(p, Layers(8, 40))),
            MountApi::kLegacy);
  EXPECT_EQ(ChooseMountApi(MountApi::kAuto, OverlayOptions(p, Layers(128, 40))),
            MountApi::kNewApi);
}

TEST(WorkspaceOptions, HostsFileNamesTheHostname) {
  EXPECT_NE(HostsFile("box").find("127.0.1.1\tbox\n"), std::string::npos);
  EXPECT_NE(HostsFile("box").find("localhost"), std::string::npos);
}

}  // namespace
}  // namespace mydocker
