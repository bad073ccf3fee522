// The overlay's layer limit on the real kernel (issue 17: checked on every
// kernel of the VM matrix). mount(2) takes one page of options; more layers
// need fsconfig's "lowerdir+" (Linux 6.8+). On a kernel before 6.8 the
// workspace must fail with a clear error naming the layer count and leave
// nothing; on 6.8+ every layer must be there. Never a layer dropped.
#include <errno.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "runtime/sys/linux_sys.h"
#include "runtime/sys/mountinfo.h"
#include "runtime/workspace/workspace.h"
#include "tests/privileged/privileged_env.h"

namespace faultline {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

bool KernelAtLeast(int major, int minor) {
  utsname u{};
  if (uname(&u) != 0) return false;
  int ma = 0, mi = 0;
  if (std::sscanf(u.release, "%d.%d", &ma, &mi) != 2) return false;
  return ma > major || (ma == major && mi >= minor);
}

class WorkspaceLayers : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root";
    PrivilegedEnv& env = PrivilegedEnv::Get();
    ASSERT_TRUE(env.error().empty()) << env.error();
    base_ = env.scratch() + "/layers-test";
    fs::create_directories(base_ + "/c");
  }
  void TearDown() override {
    std::error_code ec;
    if (!base_.empty()) fs::remove_all(base_, ec);
  }

  // n layers, each with its own file "layer-<i>", paths ~120 bytes long.
  std::vector<std::string> MakeLayers(size_t n) {
    std::vector<std::string> out;
    const std::string pad(100, 'l');
    for (size_t i = 0; i < n; ++i) {
      const std::string dir = base_ + "/" + pad + "-" + std::to_string(i);
      fs::create_directories(dir);
      std::ofstream(dir + "/layer-" + std::to_string(i)) << i;
      out.push_back(dir);
    }
    return out;
  }

  bool MountedUnder(const std::string& dir) {
    auto table = mydocker::ReadMountinfo(sys_, "/proc/self/mountinfo");
    if (!table) return true;
    for (const auto& m : *table) {
      if (m.target.rfind(dir, 0) == 0) return true;
    }
    return false;
  }

  std::set<std::string> Entries(const std::string& dir) {
    std::set<std::string> out;
    for (const auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename());
    return out;
  }

  void ExpectEveryLayer(const mydocker::Workspace& ws, size_t n) {
    for (size_t i = 0; i < n; ++i) {
      EXPECT_TRUE(fs::exists(ws.paths().merged + "/layer-" + std::to_string(i)))
          << "layer " << i << " of " << n << " is missing from " << ws.paths().merged;
    }
  }

  mydocker::LinuxSys sys_;
  std::string base_;
};

TEST_F(WorkspaceLayers, LayersThatFitOnePageUseMount2) {
  const auto layers = MakeLayers(20);
  mydocker::WorkspaceSpec spec{base_ + "/c", layers, "h", ""};
  ASSERT_TRUE(mydocker::FitsLegacyMount(
      mydocker::OverlayOptions(mydocker::PathsFor(spec.dir), layers)));
  auto ws = mydocker::Workspace::Create(sys_, spec);
  ASSERT_TRUE(ws.ok()) << ws.error().Message();
  EXPECT_EQ(ws->api_used(), mydocker::MountApi::kLegacy);
  ExpectEveryLayer(*ws, layers.size());
  ASSERT_TRUE(ws->Destroy().ok());
  EXPECT_FALSE(MountedUnder(spec.dir));
  EXPECT_TRUE(Entries(spec.dir).empty());
}

TEST_F(WorkspaceLayers, PastOnePageNewApiOrAClearError) {
  const auto layers = MakeLayers(60);
  mydocker::WorkspaceSpec spec{base_ + "/c", layers, "h", ""};
  const std::string options = mydocker::OverlayOptions(mydocker::PathsFor(spec.dir), layers);
  ASSERT_FALSE(mydocker::FitsLegacyMount(options)) << options.size() << " bytes";
  auto ws = mydocker::Workspace::Create(sys_, spec);
  if (KernelAtLeast(6, 8)) {
    ASSERT_TRUE(ws.ok()) << ws.error().Message();
    EXPECT_EQ(ws->api_used(), mydocker::MountApi::kNewApi);
    ExpectEveryLayer(*ws, layers.size());
    ASSERT_TRUE(ws->Destroy().ok());
  } else {
    ASSERT_FALSE(ws.ok()) << "a kernel before 6.8 has no lowerdir+: the mount cannot have "
                             "all 60 layers";
    const std::string m = ws.error().Message();
    EXPECT_THAT(m, HasSubstr("workspace: mount overlay"));
    EXPECT_THAT(m, HasSubstr(spec.dir + "/merged"));
    EXPECT_THAT(m, HasSubstr("61 layers do not fit"));
    EXPECT_THAT(m, HasSubstr("needs Linux 6.8"));
    EXPECT_NE(ws.error().err, 0);
  }
  // Nothing left either way: no mount, no init/upper/work/merged.
  EXPECT_FALSE(MountedUnder(spec.dir));
  EXPECT_TRUE(Entries(spec.dir).empty());
}

TEST_F(WorkspaceLayers, Mount2PastOnePageIsRefusedNotCut) {
  const auto layers = MakeLayers(60);
  mydocker::WorkspaceSpec spec{base_ + "/c", layers, "h", "", mydocker::MountApi::kLegacy};
  auto ws = mydocker::Workspace::Create(sys_, spec);
  ASSERT_FALSE(ws.ok());
  EXPECT_EQ(ws.error().err, E2BIG);
  EXPECT_THAT(ws.error().Message(), HasSubstr("60 layers need"));
  EXPECT_FALSE(MountedUnder(spec.dir));
  EXPECT_TRUE(Entries(spec.dir).empty());
}

// fsconfig takes string values of at most 255 bytes: a layer path of 300
// bytes and a container dir whose init/upper/work paths are over 255 go by
// directory fd (FSCONFIG_SET_FD, Linux 6.13+); before 6.13 the error names the
// string limit, not a missing lowerdir+.
TEST_F(WorkspaceLayers, LayerPathsOver255BytesGoByFd) {
  auto long_dir = [&](const std::string& tag, size_t len) {
    std::string p = base_ + "/" + tag;
    while (p.size() < len) p += "/" + std::string(std::min<size_t>(len - p.size(), 61) - 1, 'q');
    fs::create_directories(p);
    return p;
  };
  const std::string layer = long_dir("layer", 300);
  const std::string edge = long_dir("edge", 256);
  ASSERT_EQ(layer.size(), 300u);
  ASSERT_EQ(edge.size(), 256u);
  std::ofstream(layer + "/deep-file") << "deep";
  std::ofstream(edge + "/edge-file") << "edge";
  const std::string dir = long_dir("cdir", 270);
  mydocker::WorkspaceSpec spec{dir, {layer, edge}, "h", "", mydocker::MountApi::kNewApi};
  auto ws = mydocker::Workspace::Create(sys_, spec);
  if (KernelAtLeast(6, 13)) {
    ASSERT_TRUE(ws.ok()) << ws.error().Message();
    EXPECT_EQ(ws->api_used(), mydocker::MountApi::kNewApi);
    std::ifstream f(ws->paths().merged + "/deep-file");
    std::string got;
    f >> got;
    EXPECT_EQ(got, "deep");
    EXPECT_TRUE(fs::exists(ws->paths().merged + "/edge-file"));
    EXPECT_TRUE(fs::exists(ws->paths().merged + "/etc/hostname"));
    // The kernel names the layers by their full paths.
    auto table = mydocker::ReadMountinfo(sys_, "/proc/self/mountinfo");
    ASSERT_TRUE(table.ok());
    bool seen = false;
    for (const auto& m : *table) {
      if (m.target != ws->paths().merged) continue;
      seen = true;
      EXPECT_THAT(m.super_options, HasSubstr(layer));
      EXPECT_THAT(m.super_options, HasSubstr(ws->paths().upper));
    }
    EXPECT_TRUE(seen) << ws->paths().merged << " is not in mountinfo";
    ASSERT_TRUE(ws->Destroy().ok());
  } else {
    ASSERT_FALSE(ws.ok());
    EXPECT_THAT(ws.error().Message(), HasSubstr("over fsconfig's 255-byte string limit"));
    EXPECT_THAT(ws.error().Message(), HasSubstr("needs Linux 6.13"));
  }
  EXPECT_FALSE(MountedUnder(dir));
  EXPECT_TRUE(Entries(dir).empty());
}

}  // namespace
}  // namespace faultline
