// Cgroup cost: create (with and without limits) and remove a container's
// cgroup with runtime/cgroups, v1 and v2, next to the floor (raw mkdir + rmdir
// of the same directories).
//
//   CgroupFloor/<v>              mkdir + rmdir of <mount>/<parent>/floor in
//                                every hierarchy the runtime uses
//   Cgroup/<v>/limits:none       Cgroup::Create without limits + Destroy
//   Cgroup/<v>/limits:all        Create with memory 64m, cpu-shares 512,
//                                cpus 0.5, cpuset 0, pids 64 + Destroy
// counters (microseconds per iteration): create_us, remove_us, x_floor.
//
// v1 uses the host's v1 layout (DetectCgroupLayout). v2 uses the cgroup2
// mount (the unified one on a hybrid host). A v2 mount without the memory,
// cpu, cpuset and pids controllers in its cgroup.controllers (the hybrid
// host: they are bound to v1) cannot take limits: limits:all is then skipped
// with the controllers it found, not failed.
// Everything lives under the per-run parent, removed at exit.
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "runtime/cgroups/cgroups.h"
#include "runtime/sys/linux_sys.h"

namespace fb = faultline::bench;
using mydocker::CgroupLayout;
using mydocker::CgroupLimits;
using mydocker::CgroupVersion;
using mydocker::MakeError;
using mydocker::Outcome;

namespace {

struct Globals {
  std::string parent;
  std::optional<CgroupLayout> v1, v2;
  std::map<std::string, std::vector<std::string>> floor_dirs;  // by version
  std::map<std::string, double> floor_ns;
  std::string v2_controllers;
} g;

const CgroupLayout& LayoutOf(const std::string& v) { return v == "v1" ? *g.v1 : *g.v2; }

CgroupLimits AllLimits() {
  CgroupLimits l;
  l.memory_bytes = 64 << 20;
  l.cpu_shares = 512;
  l.cpus = 0.5;
  l.cpuset_cpus = "0";
  l.pids_limit = 64;
  return l;
}

Outcome FloorCycle(const std::vector<std::string>& dirs) {
  for (const auto& d : dirs) {
    if (mkdir(d.c_str(), 0755) != 0) return MakeError("cgroup floor: mkdir", d, errno);
  }
  for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) {
    if (rmdir(it->c_str()) != 0) return MakeError("cgroup floor: rmdir", *it, errno);
  }
  return Outcome::Ok();
}

void BM_Floor(benchmark::State& state, std::string v) {
  const auto& dirs = g.floor_dirs[v];
  for (auto _ : state) {
    int64_t t0 = fb::NowNs();
    Outcome o = FloorCycle(dirs);
    int64_t t1 = fb::NowNs();
    if (!o) {
      fb::RecordFailure(state, "CgroupFloor/" + v, o.error().Message());
      break;
    }
    state.SetIterationTime((t1 - t0) / 1e9);
  }
  state.counters["hierarchies"] = double(dirs.size());
}

void BM_Cgroup(benchmark::State& state, std::string v, bool limits) {
  const std::string what = "Cgroup/" + v + (limits ? "/limits:all" : "/limits:none");
  if (v == "v2" && limits) {
    for (const char* c : {"memory", "cpu", "cpuset", "pids"}) {
      if ((" " + g.v2_controllers + " ").find(std::string(" ") + c + " ") == std::string::npos) {
        state.SkipWithError(("v2 limits need the " + std::string(c) +
                             " controller; this cgroup2 mount offers: [" + g.v2_controllers +
                             "]").c_str());
        return;
      }
    }
  }
  mydocker::LinuxSys sys;
  const CgroupLimits l = limits ? AllLimits() : CgroupLimits{};
  int64_t create = 0, remove = 0;
  size_t dirs = 0;
  for (auto _ : state) {
    int64_t t0 = fb::NowNs();
    auto cg = mydocker::Cgroup::Create(sys, LayoutOf(v), g.parent, "c", l);
    int64_t t1 = fb::NowNs();
    if (!cg) {
      fb::RecordFailure(state, what, cg.error().Message());
      break;
    }
    dirs = cg->paths().size();
    Outcome d = cg->Destroy();
    int64_t t2 = fb::NowNs();
    if (!d) {
      fb::RecordFailure(state, what, d.error().Message());
      break;
    }
    create += t1 - t0;
    remove += t2 - t1;
    state.SetIterationTime((t2 - t0) / 1e9);
  }
  double n = double(std::max<int64_t>(state.iterations(), 1));
  state.counters["create_us"] = create / n / 1e3;
  state.counters["remove_us"] = remove / n / 1e3;
  state.counters["x_floor"] = (create + remove) / n / g.floor_ns[v];
  state.counters["hierarchies"] = double(dirs);
}

Outcome MakeParent(const std::string& mount) {
  const std::string p = mount + "/" + g.parent;
  if (mkdir(p.c_str(), 0755) != 0 && errno != EEXIST) {
    return MakeError("bench: create cgroup parent", p, errno);
  }
  return Outcome::Ok();
}

Outcome Setup() {
  mydocker::LinuxSys sys;
  g.parent = fb::CgroupParentName();
  auto detected = mydocker::DetectCgroupLayout(sys);
  if (!detected) return detected.error();
  if (detected->version == CgroupVersion::kV1) {
    g.v1 = *detected;
    const std::string unified = fb::Cgroup2Mount();
    if (!unified.empty()) g.v2 = CgroupLayout{CgroupVersion::kV2, unified, {}};
  } else {
    g.v2 = *detected;
  }
  if (g.v1) {
    std::set<std::string> mounts;
    for (const auto& [controller, mount] : g.v1->v1_mounts) mounts.insert(mount);
    for (const auto& m : mounts) {
      MYDOCKER_TRY(MakeParent(m));
      g.floor_dirs["v1"].push_back(m + "/" + g.parent + "/floor");
    }
  }
  if (g.v2) {
    MYDOCKER_TRY(MakeParent(g.v2->unified));
    g.floor_dirs["v2"].push_back(g.v2->unified + "/" + g.parent + "/floor");
    g.v2_controllers = fb::Head(g.v2->unified + "/cgroup.controllers", 512);
    while (!g.v2_controllers.empty() && g.v2_controllers.back() == '\n') {
      g.v2_controllers.pop_back();
    }
    benchmark::AddCustomContext("v2_mount", g.v2->unified);
    benchmark::AddCustomContext("v2_controllers", g.v2_controllers);
  }
  const int rounds = fb::Smoke() ? 20 : 500;
  for (const auto& [v, dirs] : g.floor_dirs) {
    auto med = fb::MedianNs(rounds, [&] { return FloorCycle(dirs); });
    if (!med) return med.error();
    g.floor_ns[v] = *med;
    benchmark::AddCustomContext("floor_ns_" + v, std::to_string(*med));
  }
  benchmark::AddCustomContext("cgroup_parent", g.parent);
  for (const std::string v : {"v1", "v2"}) {
    if (!g.floor_dirs.count(v)) continue;
    fb::Configure(benchmark::RegisterBenchmark(("CgroupFloor/" + v).c_str(), BM_Floor, v))
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
    for (bool limits : {false, true}) {
      std::string name = "Cgroup/" + v + (limits ? "/limits:all" : "/limits:none");
      fb::Configure(benchmark::RegisterBenchmark(name.c_str(), BM_Cgroup, v, limits))
          ->UseManualTime()
          ->Unit(benchmark::kMicrosecond);
    }
  }
  return Outcome::Ok();
}

Outcome Teardown() {
  if (g.parent.empty()) return Outcome::Ok();
  Outcome first = fb::RemoveCgroupTree(g.parent);
  for (const auto& p : fb::LeftoverCgroups(g.parent)) {
    if (first) first = MakeError("host check: cgroup left", p, EEXIST);
  }
  return first;
}

}  // namespace

int main(int argc, char** argv) { return fb::BenchMain(argc, argv, Setup, Teardown); }
