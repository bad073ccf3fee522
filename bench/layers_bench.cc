// What N layers cost beyond the kernel: mydocker's workspace next to the
// bare kernel sequence for the same N layers, paired in one run; and what a
// long layer path (over fsconfig's 255-byte string limit, passed by fd)
// costs.
//
// Benchmarks (manual time = setup + teardown of one workspace, the workspace
// side; counters in microseconds per iteration):
//   Paired/<api>/upper:tmpfs/layers:N
//       api   legacy: mount(2) with one option string (where it fits a page)
//             fsopen: fsopen, fsconfig "lowerdir+" per lower dir, upperdir,
//                     workdir, create, fsmount, move_mount
//       N     image layers: 1, 64, 499 (+ the init layer = N + 1 lower dirs)
//     Each iteration runs one cycle of the floor and one of the workspace
//     (the order alternates), on the same tmpfs, with the same layers:
//       floor: raw libc calls, exactly the kernel steps the workspace needs
//              by design: mkdir init, init/etc; 3 init files (open, write,
//              close); mkdir upper, work, merged; the mount as api says;
//              umount2; rmdir merged, upper, work/work, work; unlink x3;
//              rmdir init/etc, init
//       workspace: mydocker::Workspace::Create + Destroy through LinuxSys
//     counters: ws_us, floor_us (means), ws_setup_us, ws_teardown_us,
//     floor_setup_us, floor_teardown_us, x_floor_n (sum of workspace time /
//     sum of floor time), x_floor_n_median (median of the per-iteration
//     ratios; robust against one slow RCU grace period)
//   LongPath/fsopen/upper:tmpfs/layers:N/path:<short|long>
//       N = 1, 64; the image layers (and the workspace dir, so init, upper
//       and work too) under a path of >= 300 bytes (long: every one goes to
//       fsconfig as a directory fd, FSCONFIG_SET_FD) or the usual short one;
//       both run in each iteration, counters ws_us, short_us and x_short
//       (long / short, paired)
//
// FAULTLINE_BENCH_SMOKE=1 runs the same rows (the layer counts are the
// point); --benchmark_min_time keeps them short.
#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "runtime/sys/linux_sys.h"
#include "runtime/workspace/workspace.h"

namespace fb = faultline::bench;
using mydocker::Expected;
using mydocker::MakeError;
using mydocker::MountApi;
using mydocker::Outcome;

namespace {

constexpr int kMaxLayers = 499;
constexpr const char kHostname[] = "bench";
constexpr const char kResolvConf[] = "nameserver 127.0.0.1\n";

struct Globals {
  std::optional<fb::Scratch> scratch;
  std::string tmpfs_root;
  bool tmpfs_mounted = false;
  std::vector<std::string> layers;       // <tmpfs>/L/<i>
  std::vector<std::string> long_layers;  // <tmpfs>/<long>/L/<i>, each >= 300 bytes
  std::string long_root;                 // <tmpfs>/<long>
} g;

const char* ApiName(MountApi api) { return api == MountApi::kLegacy ? "legacy" : "fsopen"; }

mydocker::WorkspaceSpec SpecFor(const std::string& dir, const std::vector<std::string>& all,
                                int n, MountApi api) {
  mydocker::WorkspaceSpec spec;
  spec.dir = dir;
  spec.layers.assign(all.begin(), all.begin() + n);
  spec.hostname = kHostname;
  spec.resolv_conf = kResolvConf;
  spec.api = api;
  return spec;
}

// ---- the N-layer floor: the workspace's kernel steps, raw --------------------

struct FloorN {
  mydocker::WorkspacePaths p;
  std::vector<std::string> lowers;  // init first, then the image layers
  std::string options;              // for mount(2)
  MountApi api;
  std::string etc;
  std::vector<std::pair<std::string, std::string>> files;
};

FloorN MakeFloor(const mydocker::WorkspaceSpec& spec) {
  FloorN f;
  f.p = mydocker::PathsFor(spec.dir);
  f.lowers.push_back(f.p.init);
  f.lowers.insert(f.lowers.end(), spec.layers.begin(), spec.layers.end());
  f.options = mydocker::OverlayOptions(f.p, spec.layers);
  f.api = spec.api;
  f.etc = f.p.init + "/etc";
  f.files = {{f.etc + "/hostname", std::string(kHostname) + "\n"},
             {f.etc + "/hosts", mydocker::HostsFile(kHostname)},
             {f.etc + "/resolv.conf", kResolvConf}};
  return f;
}

Outcome Fail(const char* step, const std::string& path) { return MakeError(step, path, errno); }

Outcome FloorSetup(const FloorN& f) {
  if (mkdir(f.p.init.c_str(), 0755) != 0) return Fail("floor: mkdir", f.p.init);
  if (mkdir(f.etc.c_str(), 0755) != 0) return Fail("floor: mkdir", f.etc);
  for (const auto& [path, content] : f.files) {
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return Fail("floor: open", path);
    ssize_t n = write(fd, content.data(), content.size());
    if (close(fd) != 0 || n != static_cast<ssize_t>(content.size()))
      return Fail("floor: write", path);
  }
  if (mkdir(f.p.upper.c_str(), 0755) != 0) return Fail("floor: mkdir", f.p.upper);
  if (mkdir(f.p.work.c_str(), 0700) != 0) return Fail("floor: mkdir", f.p.work);
  if (mkdir(f.p.merged.c_str(), 0755) != 0) return Fail("floor: mkdir", f.p.merged);
  if (f.api == MountApi::kLegacy) {
    if (mount("overlay", f.p.merged.c_str(), "overlay", 0, f.options.c_str()) != 0)
      return Fail("floor: mount", f.p.merged);
    return Outcome::Ok();
  }
  int fs = fsopen("overlay", FSOPEN_CLOEXEC);
  if (fs < 0) return Fail("floor: fsopen", f.p.merged);
  auto set = [&](const char* key, const std::string& v) {
    return fsconfig(fs, FSCONFIG_SET_STRING, key, v.c_str(), 0) == 0;
  };
  bool ok = true;
  for (const auto& l : f.lowers) ok = ok && set("lowerdir+", l);
  ok = ok && set("upperdir", f.p.upper) && set("workdir", f.p.work) &&
       fsconfig(fs, FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) == 0;
  int mnt = ok ? fsmount(fs, FSMOUNT_CLOEXEC, 0) : -1;
  int err = errno;
  close(fs);
  if (mnt < 0) {
    errno = err;
    return Fail("floor: fsconfig/fsmount", f.p.merged);
  }
  int rc = move_mount(mnt, "", AT_FDCWD, f.p.merged.c_str(), MOVE_MOUNT_F_EMPTY_PATH);
  err = errno;
  close(mnt);
  errno = err;
  if (rc != 0) return Fail("floor: move_mount", f.p.merged);
  return Outcome::Ok();
}

Outcome FloorTeardown(const FloorN& f) {
  if (umount2(f.p.merged.c_str(), 0) != 0) return Fail("floor: umount2", f.p.merged);
  if (rmdir(f.p.merged.c_str()) != 0) return Fail("floor: rmdir", f.p.merged);
  if (rmdir(f.p.upper.c_str()) != 0) return Fail("floor: rmdir", f.p.upper);
  const std::string ww = f.p.work + "/work";
  if (rmdir(ww.c_str()) != 0) return Fail("floor: rmdir", ww);
  if (rmdir(f.p.work.c_str()) != 0) return Fail("floor: rmdir", f.p.work);
  for (const auto& file : f.files)
    if (unlink(file.first.c_str()) != 0) return Fail("floor: unlink", file.first);
  if (rmdir(f.etc.c_str()) != 0) return Fail("floor: rmdir", f.etc);
  if (rmdir(f.p.init.c_str()) != 0) return Fail("floor: rmdir", f.p.init);
  return Outcome::Ok();
}

struct Cycle {
  int64_t setup = 0, teardown = 0;
  int64_t total() const { return setup + teardown; }
};

// probe: the bottom layer's file, looked up between setup and teardown
// (untimed) as the workspace cycle does: the lookup fills the overlay's
// dentry cache, which the unmount then has to shrink.
Expected<Cycle> FloorCycle(const FloorN& f, const std::string& probe) {
  Cycle c;
  int64_t t0 = fb::NowNs();
  MYDOCKER_TRY(FloorSetup(f));
  int64_t t1 = fb::NowNs();
  struct stat st;
  const std::string target = f.p.merged + "/" + probe;
  if (lstat(target.c_str(), &st) != 0) {
    Outcome e = MakeError("floor: check bottom layer", target, errno);
    (void)FloorTeardown(f);
    return e.error();
  }
  int64_t t2 = fb::NowNs();
  MYDOCKER_TRY(FloorTeardown(f));
  c.setup = t1 - t0;
  c.teardown = fb::NowNs() - t2;
  return c;
}

// One Create + Destroy; the layers must be there (the bottom layer's file).
Expected<Cycle> WorkspaceCycle(mydocker::Sys& sys, const mydocker::WorkspaceSpec& spec,
                               const std::string& probe) {
  Cycle c;
  int64_t t0 = fb::NowNs();
  auto ws = mydocker::Workspace::Create(sys, spec);
  int64_t t1 = fb::NowNs();
  if (!ws) return ws.error();
  if (ws->api_used() != spec.api) {
    (void)ws->Destroy();
    return MakeError("bench: workspace api", spec.dir, EINVAL,
                     std::string("used ") + ApiName(ws->api_used()));
  }
  struct stat st;
  const std::string target = ws->paths().merged + "/" + probe;
  if (lstat(target.c_str(), &st) != 0) {
    Outcome e = MakeError("bench: check bottom layer", target, errno);
    (void)ws->Destroy();
    return e.error();
  }
  int64_t t2 = fb::NowNs();
  MYDOCKER_TRY(ws->Destroy());
  c.setup = t1 - t0;
  c.teardown = fb::NowNs() - t2;
  return c;
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

void BM_Paired(benchmark::State& state, MountApi api, int n) {
  mydocker::LinuxSys sys;
  const auto spec = SpecFor(g.tmpfs_root + "/ws", g.layers, n, api);
  const FloorN floor = MakeFloor(SpecFor(g.tmpfs_root + "/floor", g.layers, n, api));
  const std::string probe = "only-" + std::to_string(n - 1);
  Cycle ws_sum, floor_sum;
  std::vector<double> ratios;
  int64_t i = 0;
  for (auto _ : state) {
    Expected<Cycle> a = Cycle{}, b = Cycle{};
    if (i++ % 2 == 0) {
      a = FloorCycle(floor, probe);
      if (a) b = WorkspaceCycle(sys, spec, probe);
    } else {
      b = WorkspaceCycle(sys, spec, probe);
      if (b) a = FloorCycle(floor, probe);
    }
    if (!a || !b) {
      fb::RecordFailure(state, std::string("Paired/") + ApiName(api),
                        (!a ? a.error() : b.error()).Message());
      break;
    }
    ws_sum.setup += b->setup;
    ws_sum.teardown += b->teardown;
    floor_sum.setup += a->setup;
    floor_sum.teardown += a->teardown;
    ratios.push_back(double(b->total()) / double(a->total()));
    state.SetIterationTime(b->total() / 1e9);
  }
  const double it = double(std::max<int64_t>(state.iterations(), 1));
  state.counters["layers"] = n;
  state.counters["ws_us"] = ws_sum.total() / it / 1e3;
  state.counters["floor_us"] = floor_sum.total() / it / 1e3;
  state.counters["ws_setup_us"] = ws_sum.setup / it / 1e3;
  state.counters["ws_teardown_us"] = ws_sum.teardown / it / 1e3;
  state.counters["floor_setup_us"] = floor_sum.setup / it / 1e3;
  state.counters["floor_teardown_us"] = floor_sum.teardown / it / 1e3;
  if (floor_sum.total() > 0) {
    state.counters["x_floor_n"] = double(ws_sum.total()) / double(floor_sum.total());
    state.counters["x_floor_n_median"] = Median(ratios);
  }
}

// ---- long layer paths ------------------------------------------------------

void BM_LongPath(benchmark::State& state, int n) {
  mydocker::LinuxSys sys;
  const auto lng = SpecFor(g.long_root + "/ws", g.long_layers, n, MountApi::kNewApi);
  const auto shrt = SpecFor(g.tmpfs_root + "/ws", g.layers, n, MountApi::kNewApi);
  const std::string probe = "only-" + std::to_string(n - 1);
  int64_t long_ns = 0, short_ns = 0;
  std::vector<double> ratios;
  for (auto _ : state) {
    auto a = WorkspaceCycle(sys, lng, probe);
    auto b = a ? WorkspaceCycle(sys, shrt, probe) : a;
    if (!a || !b) {
      fb::RecordFailure(state, "LongPath", (!a ? a.error() : b.error()).Message());
      break;
    }
    long_ns += a->total();
    short_ns += b->total();
    ratios.push_back(double(a->total()) / double(b->total()));
    state.SetIterationTime(a->total() / 1e9);
  }
  const double it = double(std::max<int64_t>(state.iterations(), 1));
  state.counters["layers"] = n;
  state.counters["path_bytes"] = double(lng.layers[0].size());
  state.counters["ws_us"] = long_ns / it / 1e3;
  state.counters["short_us"] = short_ns / it / 1e3;
  if (short_ns > 0) {
    state.counters["x_short"] = double(long_ns) / double(short_ns);
    state.counters["x_short_median"] = Median(ratios);
  }
}

void Register() {
  for (int n : {1, 64, kMaxLayers}) {
    std::vector<MountApi> apis = {MountApi::kNewApi};
    const auto spec = SpecFor(g.tmpfs_root + "/ws", g.layers, n, MountApi::kAuto);
    if (mydocker::FitsLegacyMount(
            mydocker::OverlayOptions(mydocker::PathsFor(spec.dir), spec.layers)))
      apis.insert(apis.begin(), MountApi::kLegacy);
    for (MountApi api : apis) {
      const std::string name = std::string("Paired/") + ApiName(api) +
                               "/upper:tmpfs/layers:" + std::to_string(n);
      fb::Configure(benchmark::RegisterBenchmark(name.c_str(), BM_Paired, api, n))
          ->UseManualTime()
          ->Unit(benchmark::kMicrosecond);
    }
  }
  for (int n : {1, 64}) {
    const std::string name =
        "LongPath/fsopen/upper:tmpfs/layers:" + std::to_string(n) + "/path:long";
    fb::Configure(benchmark::RegisterBenchmark(name.c_str(), BM_LongPath, n))
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
  }
}

Outcome Setup() {
  auto s = fb::Scratch::Create();
  if (!s) return s.error();
  g.scratch = std::move(*s);
  g.tmpfs_root = g.scratch->Sub("tmpfs");
  MYDOCKER_TRY(fb::MountTmpfs(g.tmpfs_root));
  g.tmpfs_mounted = true;
  for (const char* d : {"/ws", "/floor"}) MYDOCKER_TRY(fb::MakeDir(g.tmpfs_root + d, 0755));
  MYDOCKER_TRY(fb::MakeLayers(g.tmpfs_root + "/L", kMaxLayers, &g.layers));
  // A root whose every path below is over 255 bytes: 5 components of 60.
  g.long_root = g.tmpfs_root;
  for (int i = 0; i < 5; ++i) {
    g.long_root += "/" + std::string(59, static_cast<char>('a' + i));
    MYDOCKER_TRY(fb::MakeDir(g.long_root, 0755));
  }
  MYDOCKER_TRY(fb::MakeDir(g.long_root + "/ws", 0755));
  MYDOCKER_TRY(fb::MakeLayers(g.long_root + "/L", 64, &g.long_layers));
  if (mydocker::FitsFsconfigString(g.long_layers[0]) ||
      mydocker::FitsFsconfigString(mydocker::PathsFor(g.long_root + "/ws").init)) {
    return MakeError("bench: long layer paths", g.long_layers[0], EINVAL,
                     "not over fsconfig's string limit");
  }
  benchmark::AddCustomContext("long_layer_path_bytes", std::to_string(g.long_layers[0].size()));
  Register();
  return Outcome::Ok();
}

Outcome Teardown() {
  Outcome first;
  if (g.tmpfs_mounted) {
    if (Outcome o = fb::Unmount(g.tmpfs_root); !o && first) first = o;
  }
  if (g.scratch) {
    if (Outcome o = g.scratch->Remove(); !o && first) first = o;
  }
  return first;
}

}  // namespace

int main(int argc, char** argv) { return fb::BenchMain(argc, argv, Setup, Teardown); }
