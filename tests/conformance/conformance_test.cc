// The conformance suite's tests.
//
//   Conformance/Script.Agrees/<script>   (labels privileged, conformance)
//       runs the script on Linux and on FakeKernel; fails on a difference
//       not listed in known_differences.yaml, on a listed one that did not
//       show, and when the Linux run left anything on the host.
//   ConformanceFake.*                    (labels mock, conformance)
//       the FakeKernel side alone, on each cgroup layout: every script
//       runs to its end with the exact number of steps.
//   ConformanceFile.*                    (labels mock, conformance)
//       known_differences.yaml parses and names scripts that exist.
#include <unistd.h>

#include <map>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "tests/conformance/runner.h"

namespace faultline::conformance {
namespace {

const char* kKnownDifferences = FAULTLINE_SOURCE_DIR "/tests/conformance/known_differences.yaml";

const Host& TheHost(std::string* error) {
  static Host host;
  static std::string err = DetectHost(&host);
  *error = err;
  return host;
}

std::string SkipReason(const Script& s, const Host& h) {
  switch (s.needs) {
    case Script::Needs::kAny: return "";
    case Script::Needs::kCgroupV1: return h.has_v1 ? "" : "no cgroup v1 hierarchies on this host";
    case Script::Needs::kCgroupV2: return h.v2_root.empty() ? "no cgroup2 mount on this host" : "";
    case Script::Needs::kV2Controllers:
      return h.cgroup_v2 && !h.v2_controllers.empty()
                 ? ""
                 : "the host's cgroup2 root enables no controller (v1 hybrid)";
    case Script::Needs::kOverlayLayerFds:
      // FakeKernel models 6.13's layers by fd; older kernels answer
      // EOPNOTSUPP (6.1) where the fake's overlay_layer_fds=false says EINVAL.
      return h.overlay_layer_fds ? "" : "this kernel's overlayfs takes no layer by fd (Linux 6.13)";
  }
  return "";
}

class Script_ : public ::testing::TestWithParam<size_t> {};

TEST_P(Script_, Agrees) {
  const Script& s = Registry()[GetParam()];
  if (geteuid() != 0) GTEST_SKIP() << "needs root (mounts, cgroups)";
  std::string err;
  const Host& host = TheHost(&err);
  ASSERT_EQ(err, "");
  if (std::string why = SkipReason(s, host); !why.empty()) GTEST_SKIP() << why;
  std::vector<KnownDifference> known;
  ASSERT_EQ(LoadKnownDifferences(kKnownDifferences, &known), "");

  Params p;
  ASSERT_EQ(NewRunParams(host, &p), "");
  conformance::Run lx = RunOnLinux(s, p);
  std::vector<std::string> left = CleanUpLinux(p);
  conformance::Run fk = RunOnFake(s, p);
  for (const auto& l : left) ADD_FAILURE() << "the Linux run left: " << l;

  std::vector<std::string> problems = Compare(s.name, host.layout, lx, fk, known);
  size_t listed = 0;
  for (size_t i = 0; i < lx.steps.size() && i < fk.steps.size(); ++i)
    listed += lx.steps[i].result != fk.steps[i].result;
  std::printf("conformance: %s (%s, layout %s): %zu steps on Linux, %zu on the fake, %zu differ\n",
              s.name.c_str(), s.area.c_str(), host.layout.c_str(), lx.steps.size(),
              fk.steps.size(), listed);
  if (!problems.empty() || getenv("FAULTLINE_CONFORMANCE_VERBOSE")) {
    for (size_t i = 0; i < lx.steps.size(); ++i)
      std::printf("  %-50s linux %s%s\n", lx.steps[i].step.c_str(), lx.steps[i].result.c_str(),
                  i < fk.steps.size() && fk.steps[i].result != lx.steps[i].result
                      ? ("\n  " + std::string(50, ' ') + " fake  " + fk.steps[i].result).c_str()
                      : "");
  }
  for (const auto& pr : problems) ADD_FAILURE() << pr;
  EXPECT_GT(lx.steps.size(), 3u) << "the script made no step beyond the prologue";
}

std::string ParamName(const ::testing::TestParamInfo<size_t>& info) {
  std::string n = Registry()[info.param].name;
  for (char& ch : n)
    if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return n;
}

INSTANTIATE_TEST_SUITE_P(Conformance, Script_,
                         ::testing::Range<size_t>(0, Registry().size()), ParamName);

// ---- the fake side alone ----------------------------------------------------

Params FakeParams(const std::string& layout) {
  Params p;
  p.base = "/tmp/faultline-conf-fake";
  p.cg = "faultline-conf-fake";
  p.cgroup_v2 = layout == "v2";
  p.v2_root = layout == "v2" ? "/sys/fs/cgroup" : layout == "hybrid" ? "/sys/fs/cgroup/unified" : "";
  if (layout == "v2") p.v2_controllers = {"cpuset", "cpu", "io", "memory", "pids"};
  p.cpus = "0-1";
  p.mems = "0";
  return p;
}

// The exact step counts of every script on the fake, per layout: a change
// to a script or to the fake's control flow updates these on purpose.
const std::map<std::string, std::map<std::string, size_t>> kSteps = {
#include "tests/conformance/step_counts.inc"
};

void FakeAlone(const std::string& layout) {
  Host h;
  h.cgroup_v2 = layout == "v2";
  h.has_v1 = layout != "v2";
  h.v2_root = FakeParams(layout).v2_root;
  h.v2_controllers = FakeParams(layout).v2_controllers;
  size_t total = 0;
  for (const Script& s : Registry()) {
    if (!SkipReason(s, h).empty()) continue;
    conformance::Run r = RunOnFake(s, FakeParams(layout));
    EXPECT_EQ(r.failure, "") << s.name;
    if (getenv("FAULTLINE_CONFORMANCE_VERBOSE"))
      for (const auto& st : r.steps)
        std::printf("  %s / %-50s %s\n", s.name.c_str(), st.step.c_str(), st.result.c_str());
    std::set<std::string> names;
    for (const auto& st : r.steps) EXPECT_TRUE(names.insert(st.step).second) << s.name << ": " << st.step;
    auto it = kSteps.find(layout);
    const bool counted = it != kSteps.end() && it->second.count(s.name);
    EXPECT_TRUE(counted) << s.name << " has no step count for " << layout << "; it made "
                         << r.steps.size();
    if (counted) EXPECT_EQ(r.steps.size(), it->second.at(s.name)) << s.name << " on " << layout;
    total += r.steps.size();
  }
  std::printf("conformance: %zu steps on the fake, layout %s\n", total, layout.c_str());
}

TEST(ConformanceFake, HybridLayout) { FakeAlone("hybrid"); }
TEST(ConformanceFake, V2Layout) { FakeAlone("v2"); }
TEST(ConformanceFake, V1Layout) { FakeAlone("v1"); }

TEST(ConformanceFile, KnownDifferencesNameScriptsAndAreUnique) {
  std::vector<KnownDifference> known;
  ASSERT_EQ(LoadKnownDifferences(kKnownDifferences, &known), "");
  std::set<std::string> scripts, seen;
  for (const Script& s : Registry()) scripts.insert(s.name);
  for (const auto& d : known) {
    EXPECT_TRUE(scripts.count(d.script)) << "no script " << d.script;
    EXPECT_TRUE(d.layout.empty() || d.layout == "v1" || d.layout == "v2" || d.layout == "hybrid")
        << d.script << " / " << d.step << ": layout " << d.layout;
    EXPECT_TRUE(seen.insert(d.script + "\n" + d.step + "\n" + d.layout).second)
        << "listed twice: " << d.script << " / " << d.step;
    EXPECT_NE(d.linux, d.fake) << d.script << " / " << d.step;
  }
}

}  // namespace
}  // namespace faultline::conformance
