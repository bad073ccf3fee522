// Fake and kernel sweeps agree: the clean run of the same workload on the
// fake and on the kernel sweep backend (harness/sweep) makes the same calls
// with the same results, op by op, up to the differences listed, with
// their reasons, in tests/conformance/sweep_trace_differences.yaml.
//
// The two traces are normalised (the fake's state root, volumes and cgroup
// parent and the kernel's scratch dir and cgroup parent read $ROOT,
// $VOLUMES and $CGP; the container id reads $ID) and aligned by a longest
// common subsequence per process (runtime, init); every call only one side
// made is a difference. A
// listed difference is one call (role, op, arguments, result) that only
// the named side makes; it must show exactly as often as listed (count,
// default 1), so a listed difference that no longer shows fails the test.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "harness/sweep/backend.h"
#include "harness/sweep/sweep.h"
#include "runtime/sys/fs_util.h"
#include "tests/privileged/privileged_env.h"

namespace faultline {
namespace {

const char* kDifferences = FAULTLINE_SOURCE_DIR "/tests/conformance/sweep_trace_differences.yaml";

struct Listed {
  std::string workload, side, call, why;
  int count = 1;
};

std::string LoadListed(std::vector<Listed>* out) {
  try {
    YAML::Node root = YAML::LoadFile(kDifferences);
    for (const auto& n : root["differences"]) {
      Listed l;
      for (const char* k : {"workload", "side", "call", "why"})
        if (!n[k] || n[k].as<std::string>().empty())
          return std::string(kDifferences) + ": an entry lacks '" + k + "'";
      l.workload = n["workload"].as<std::string>();
      l.side = n["side"].as<std::string>();
      l.call = n["call"].as<std::string>();
      l.why = n["why"].as<std::string>();
      if (n["count"]) l.count = n["count"].as<int>();
      if (l.side != "fake" && l.side != "kernel")
        return std::string(kDifferences) + ": side must be fake or kernel: " + l.call;
      out->push_back(l);
    }
  } catch (const YAML::Exception& e) {
    return std::string(kDifferences) + ": " + e.what();
  }
  return "";
}

std::string Role(pid_t pid) {
  if (pid == kSweepRuntimePid) return "runtime";
  if (pid == kSweepInitPid) return "init";
  return "pid" + std::to_string(pid);
}

void ReplaceAll(std::string* s, const std::string& from, const std::string& to) {
  if (from.empty()) return;
  for (size_t i = 0; (i = s->find(from, i)) != std::string::npos; i += to.size())
    s->replace(i, from.size(), to);
}

std::vector<std::string> Normalise(const SweepRun& run, bool kernel) {
  std::vector<std::string> out;
  static const std::regex scratch("/tmp/faultline-sweep-[A-Za-z0-9]{6}");
  static const std::regex kernel_cgp("faultline-sweep-[0-9]+");
  // Pids: the runtime's and its children's real pids on the kernel, 100 and
  // 101 on the fake.
  static const std::regex proc_pid("/proc/[0-9]+/");
  static const std::regex pid_arg(R"(\bpid=[0-9]+)");
  // The length of a write: the files written hold the state root's path,
  // which is longer on the kernel (a scratch dir) than on the fake.
  static const std::regex write_len(R"(^(\S+ write\(fd=[0-9]+) len=[0-9]+)");
  // The seccomp cache's file name: a digest of what the filter depends on,
  // the kernel release among them (which the fake has none of).
  static const std::regex seccomp_key(R"(/\.seccomp/[0-9a-f]{16}\.bpf)");
  for (const SweepCall& c : run.calls) {
    std::string s = Role(c.pid) + " " + c.op + "(" + c.args + ") = " +
                    (c.err ? mydocker::ErrnoName(c.err) : std::string("ok"));
    if (!run.id.empty()) ReplaceAll(&s, run.id, "$ID");
    if (kernel) {
      s = std::regex_replace(s, scratch, "$$SCRATCH");
      ReplaceAll(&s, "$SCRATCH/root", "$ROOT");
      ReplaceAll(&s, "$SCRATCH/volumes", "$VOLUMES");
      s = std::regex_replace(s, kernel_cgp, "$$CGP");
    } else {
      ReplaceAll(&s, "/var/lib/faultline-sweep", "$ROOT");
      ReplaceAll(&s, "/srv/faultline-sweep/volumes", "$VOLUMES");
      ReplaceAll(&s, "faultline-sweep", "$CGP");
    }
    s = std::regex_replace(s, proc_pid, "/proc/$$PID/");
    s = std::regex_replace(s, pid_arg, "pid=$$PID");
    s = std::regex_replace(s, write_len, "$1");
    s = std::regex_replace(s, seccomp_key, "/.seccomp/$$KEY.bpf");
    out.push_back(s);
  }
  return out;
}

// The calls only a (resp. only b) makes, from a longest common subsequence.
void Diff(const std::vector<std::string>& a, const std::vector<std::string>& b,
          std::vector<std::string>* only_a, std::vector<std::string>* only_b) {
  const size_t n = a.size(), m = b.size();
  std::vector<std::vector<uint16_t>> l(n + 1, std::vector<uint16_t>(m + 1, 0));
  for (size_t i = n; i-- > 0;)
    for (size_t j = m; j-- > 0;)
      l[i][j] = a[i] == b[j] ? l[i + 1][j + 1] + 1 : std::max(l[i + 1][j], l[i][j + 1]);
  size_t i = 0, j = 0;
  while (i < n && j < m) {
    if (a[i] == b[j]) {
      ++i, ++j;
    } else if (l[i + 1][j] >= l[i][j + 1]) {
      only_a->push_back(a[i++]);
    } else {
      only_b->push_back(b[j++]);
    }
  }
  while (i < n) only_a->push_back(a[i++]);
  while (j < m) only_b->push_back(b[j++]);
}

class SweepTraces : public ::testing::TestWithParam<const char*> {};

TEST_P(SweepTraces, FakeAndKernelCleanRunsAgree) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  const std::string workload_name = GetParam();
  std::vector<Listed> listed;
  ASSERT_EQ(LoadListed(&listed), "");
  std::string error;
  const std::string tar = PrivilegedImageTar(&error);
  ASSERT_FALSE(tar.empty()) << error;
  const SweepWorkload workload = *BuiltinWorkload(workload_name);

  auto fake = MakeFakeSweepBackend();
  auto prep_fake = fake->Prepare(workload);
  ASSERT_TRUE(prep_fake.ok()) << prep_fake.error().Message();
  SweepRun f = fake->Run(FaultPlan{}, false);
  fake->Finish();

  KernelBackendOptions o;
  o.image_tar = tar;
  auto kernel = MakeKernelSweepBackend(o);
  auto prep_kernel = kernel->Prepare(workload);
  ASSERT_TRUE(prep_kernel.ok()) << prep_kernel.error().Message();
  SweepRun k = kernel->Run(FaultPlan{}, false);
  kernel->Finish();
  ASSERT_EQ(f.harness_error, "");
  ASSERT_EQ(k.harness_error, "");
  ASSERT_FALSE(f.returned_error) << f.error.Message();
  ASSERT_FALSE(k.returned_error) << k.error.Message();

  const auto fa = Normalise(f, false), ka = Normalise(k, true);
  // Per role: the fake runs the init when the runtime blocks on it, the
  // kernel beside it, so how the two processes' calls interleave differs
  // by design; the order within each process must not.
  std::vector<std::string> only_fake, only_kernel;
  for (const char* role : {"runtime ", "init "}) {
    auto of = [&](const std::vector<std::string>& all) {
      std::vector<std::string> out;
      for (const auto& c : all)
        if (c.rfind(role, 0) == 0) out.push_back(c);
      return out;
    };
    Diff(of(fa), of(ka), &only_fake, &only_kernel);
  }
  std::printf("%s: %zu calls on the fake, %zu on the kernel; %zu only on the fake, %zu only on "
              "the kernel\n",
              workload_name.c_str(), fa.size(), ka.size(), only_fake.size(), only_kernel.size());
  if (getenv("FAULTLINE_TRACE_VERBOSE")) {
    for (const auto& s : fa) std::printf("  fake   %s\n", s.c_str());
    for (const auto& s : ka) std::printf("  kernel %s\n", s.c_str());
  }
  auto check = [&](const char* side, const std::vector<std::string>& only) {
    std::map<std::string, int> seen;
    for (const auto& s : only) ++seen[s];
    std::map<std::string, int> want;
    for (const auto& l : listed)
      if (l.workload == workload_name && l.side == side) want[l.call] += l.count;
    for (const auto& [call, n] : seen) {
      auto it = want.find(call);
      if (it == want.end())
        ADD_FAILURE() << "only on the " << side << " (" << n << "x), not listed: " << call;
      else if (it->second != n)
        ADD_FAILURE() << "only on the " << side << " " << n << "x, listed " << it->second
                      << "x: " << call;
    }
    for (const auto& [call, n] : want)
      if (!seen.count(call))
        ADD_FAILURE() << "listed as only on the " << side << ", no longer shows: " << call;
  };
  check("fake", only_fake);
  check("kernel", only_kernel);
}

INSTANTIATE_TEST_SUITE_P(Workloads, SweepTraces, ::testing::Values("run-true", "run-full"),
                         [](const auto& info) {
                           std::string n = info.param;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

}  // namespace
}  // namespace faultline
