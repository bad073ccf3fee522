// Workspace cost: setup and teardown of the overlay workspace by layer count,
// next to the floor (the bare syscalls a workspace needs) and the copy
// baseline (a runtime without a union filesystem copies the rootfs).
//
// Benchmarks (manual time = setup + teardown of one workspace; counters in
// microseconds per iteration; x_floor = time / floor on the same filesystem):
//   Floor/upper:<fs>                    mkdir x3, mount(2) overlay (1 lower),
//                                       umount2, rmdir x4: raw libc calls
//   Floor/upper:<fs>/init               the floor plus what the workspace
//                                       adds by design: its init layer
//                                       (mkdir init, init/etc, 3 files
//                                       written; unlink x3, rmdir x2) as a
//                                       second lower dir
//   Floor/upper:disk/volatile           the same with the overlay option
//                                       "volatile" (no sync of the upper fs
//                                       at unmount), for comparison
//   Workspace/<api>/upper:<fs>/layers:N/written:W
//       api     legacy (one mount(2) option string, where it fits in a page)
//               or fsopen (fsopen/fsconfig "lowerdir+" per layer/fsmount)
//       fs      tmpfs (the workspace dir on a tmpfs mounted in the private
//               namespace) or disk (under the scratch dir on the root fs)
//       N       image layers: 1 .. 256 and 499 (499 + the init layer = 500
//               lower dirs, the kernel's overlay limit)
//       W       0: teardown of an empty write layer; 1000: the container
//               wrote 1,000 files into merged (outside the timed region);
//               on the disk only for N = 1 and 499, not in smoke runs
//     counters: setup_us, teardown_us, lookup_us (first stat of a file that
//     only the lowest layer holds, on the fresh mount), x_floor,
//     x_floor_init (time / the floor with the init layer); on tmpfs with
//     W = 0 also x_floor_paired, x_floor_init_paired: the same ratios to
//     floor cycles run in the same iterations (robust under load)
//   Workspace/busybox/upper:<fs>        one layer = the busybox image
//   CopyRootfs/upper:<fs>               the busybox rootfs copied (cp -a:
//                                       hardlinks kept) and removed (rm -rf)
//
// Synthetic layers (a few files each) are made once and shared by every
// iteration. FAULTLINE_BENCH_SMOKE=1 keeps N in {1, 128, 499} on tmpfs and
// N = 1 on the disk.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "runtime/sys/fs_util.h"
#include "runtime/sys/linux_sys.h"
#include "runtime/workspace/workspace.h"

namespace fb = faultline::bench;
using mydocker::Expected;
using mydocker::MakeError;
using mydocker::MountApi;
using mydocker::Outcome;

namespace {

constexpr int kMaxLayers = 499;  // + init layer = 500 lower dirs
constexpr int kWrittenFiles = 1000;

struct Globals {
  std::optional<fb::Scratch> scratch;
  std::vector<std::string> layers;  // topmost first; layers[i] = <scratch>/L/<i>
  std::string busybox;              // the imported image's rootfs
  std::string tmpfs_root;           // mounted in the private namespace
  std::string disk_root;
  std::map<std::string, double> floor_ns;       // by fs name
  std::map<std::string, double> floor_init_ns;  // the floor with the init layer
  bool tmpfs_mounted = false;
} g;

const std::string& FsRoot(const std::string& fs) {
  return fs == "tmpfs" ? g.tmpfs_root : g.disk_root;
}

// ---- the floor --------------------------------------------------------------

struct FloorPaths {
  std::string dir, upper, work, workwork, merged, options;
  bool volatile_ = false;
  // With the init layer: <dir>/init/etc/{hostname,hosts,resolv.conf}, the
  // topmost lower dir, as the workspace makes it.
  bool init = false;
  std::string init_dir, init_etc;
  std::vector<std::pair<std::string, std::string>> init_files;  // path, content
};

// What the workspace writes into its init layer for the bench's spec.
constexpr const char kHostname[] = "bench";
constexpr const char kResolvConf[] = "nameserver 127.0.0.1\n";

// volatile: the overlay "volatile" option (Linux 5.10+): no sync of the upper
// filesystem at unmount; overlayfs then also makes work/incompat/volatile/dirty.
FloorPaths FloorFor(const std::string& fs, bool volatile_ = false, bool init = false) {
  FloorPaths p;
  p.dir = FsRoot(fs) + "/floor";
  p.upper = p.dir + "/upper";
  p.work = p.dir + "/work";
  p.workwork = p.work + "/work";  // made by overlayfs inside workdir (with
                                  // incompat/volatile/dirty when volatile)
  p.merged = p.dir + "/merged";
  p.init = init;
  std::string lower = g.layers[0];
  if (init) {
    p.init_dir = p.dir + "/init";
    p.init_etc = p.init_dir + "/etc";
    p.init_files = {{p.init_etc + "/hostname", std::string(kHostname) + "\n"},
                    {p.init_etc + "/hosts", mydocker::HostsFile(kHostname)},
                    {p.init_etc + "/resolv.conf", kResolvConf}};
    lower = p.init_dir + ":" + lower;
  }
  p.options = "lowerdir=" + lower + ",upperdir=" + p.upper + ",workdir=" + p.work;
  if (volatile_) p.options += ",volatile";
  p.volatile_ = volatile_;
  return p;
}

// open(O_CREAT|O_TRUNC), write, close: what the workspace does per file.
Outcome FloorWriteFile(const std::string& path, const std::string& content) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return MakeError("floor: create file", path, errno);
  ssize_t n = write(fd, content.data(), content.size());
  int err = errno;
  if (close(fd) != 0 && n >= 0) return MakeError("floor: close", path, errno);
  if (n != static_cast<ssize_t>(content.size())) {
    return MakeError("floor: write file", path, n < 0 ? err : EIO);
  }
  return Outcome::Ok();
}

Outcome FloorSetup(const FloorPaths& p) {
  if (p.init) {
    if (mkdir(p.init_dir.c_str(), 0755) != 0) return MakeError("floor: mkdir", p.init_dir, errno);
    if (mkdir(p.init_etc.c_str(), 0755) != 0) return MakeError("floor: mkdir", p.init_etc, errno);
    for (const auto& [path, content] : p.init_files) MYDOCKER_TRY(FloorWriteFile(path, content));
  }
  if (mkdir(p.upper.c_str(), 0755) != 0) return MakeError("floor: mkdir", p.upper, errno);
  if (mkdir(p.work.c_str(), 0700) != 0) return MakeError("floor: mkdir", p.work, errno);
  if (mkdir(p.merged.c_str(), 0755) != 0) return MakeError("floor: mkdir", p.merged, errno);
  if (mount("overlay", p.merged.c_str(), "overlay", 0, p.options.c_str()) != 0) {
    return MakeError("floor: mount overlay", p.merged, errno);
  }
  return Outcome::Ok();
}

Outcome FloorTeardown(const FloorPaths& p) {
  if (umount2(p.merged.c_str(), 0) != 0) return MakeError("floor: umount2", p.merged, errno);
  if (p.volatile_) {
    const std::string dirty = p.workwork + "/incompat/volatile/dirty";
    if (unlink(dirty.c_str()) != 0) return MakeError("floor: unlink", dirty, errno);
    for (const std::string& d : {p.workwork + "/incompat/volatile", p.workwork + "/incompat"}) {
      if (rmdir(d.c_str()) != 0) return MakeError("floor: rmdir", d, errno);
    }
  }
  if (rmdir(p.workwork.c_str()) != 0) return MakeError("floor: rmdir", p.workwork, errno);
  if (rmdir(p.work.c_str()) != 0) return MakeError("floor: rmdir", p.work, errno);
  if (rmdir(p.upper.c_str()) != 0) return MakeError("floor: rmdir", p.upper, errno);
  if (rmdir(p.merged.c_str()) != 0) return MakeError("floor: rmdir", p.merged, errno);
  if (p.init) {
    for (const auto& f : p.init_files) {
      if (unlink(f.first.c_str()) != 0) return MakeError("floor: unlink", f.first, errno);
    }
    if (rmdir(p.init_etc.c_str()) != 0) return MakeError("floor: rmdir", p.init_etc, errno);
    if (rmdir(p.init_dir.c_str()) != 0) return MakeError("floor: rmdir", p.init_dir, errno);
  }
  return Outcome::Ok();
}

void BM_Floor(benchmark::State& state, std::string fs, bool volatile_, bool init) {
  const FloorPaths p = FloorFor(fs, volatile_, init);
  int64_t setup = 0, teardown = 0;
  for (auto _ : state) {
    int64_t t0 = fb::NowNs();
    Outcome o = FloorSetup(p);
    int64_t t1 = fb::NowNs();
    if (o) o = FloorTeardown(p);
    int64_t t2 = fb::NowNs();
    if (!o) {
      fb::RecordFailure(state,
                        "Floor/" + fs + (volatile_ ? "/volatile" : "") + (init ? "/init" : ""),
                        o.error().Message());
      break;
    }
    setup += t1 - t0;
    teardown += t2 - t1;
    state.SetIterationTime((t2 - t0) / 1e9);
  }
  double n = double(std::max<int64_t>(state.iterations(), 1));
  state.counters["setup_us"] = setup / n / 1e3;
  state.counters["teardown_us"] = teardown / n / 1e3;
  state.counters["x_floor"] = (setup + teardown) / n / g.floor_ns[fs];
  state.counters["x_floor_init"] = (setup + teardown) / n / g.floor_init_ns[fs];
}

// ---- the workspace ----------------------------------------------------------

mydocker::WorkspaceSpec SpecFor(const std::string& fs, std::vector<std::string> layers,
                                MountApi api) {
  mydocker::WorkspaceSpec spec;
  spec.dir = FsRoot(fs) + "/ws";
  spec.layers = std::move(layers);
  spec.hostname = kHostname;
  spec.resolv_conf = kResolvConf;
  spec.api = api;
  return spec;
}

Outcome WriteFiles(const std::string& merged, int count) {
  const std::string dir = merged + "/w";
  MYDOCKER_TRY(fb::MakeDir(dir, 0755));
  const std::string content(128, 'w');
  char name[32];
  for (int i = 0; i < count; ++i) {
    std::snprintf(name, sizeof name, "/f%04d", i);
    MYDOCKER_TRY(fb::WriteNewFile(dir + name, content));
  }
  return Outcome::Ok();
}

const char* ApiName(MountApi api) {
  return api == MountApi::kLegacy ? "legacy" : api == MountApi::kNewApi ? "fsopen" : "auto";
}

// One cycle of a floor (setup + teardown), in ns.
Expected<int64_t> FloorCycleNs(const FloorPaths& p) {
  int64_t t0 = fb::NowNs();
  MYDOCKER_TRY(FloorSetup(p));
  MYDOCKER_TRY(FloorTeardown(p));
  return fb::NowNs() - t0;
}

// One iteration: setup (timed), first lookup (own counter), optional writes
// (untimed), teardown (timed). On tmpfs with nothing written, each iteration
// also runs one cycle of each floor (not timed): x_floor_paired and
// x_floor_init_paired divide by floors run under the same load, one cycle
// apart, where x_floor divides by the median taken at start (on a busy
// machine the unmount's RCU grace period swings by 2-4x within seconds).
void RunWorkspace(benchmark::State& state, const std::string& what, const std::string& fs,
                  const mydocker::WorkspaceSpec& spec, const std::string& lookup,
                  int written) {
  mydocker::LinuxSys sys;
  int64_t setup = 0, teardown = 0, lookups = 0, floor = 0, floor_init = 0;
  const bool paired = fs == "tmpfs" && written == 0;
  const FloorPaths plain_floor = FloorFor(fs), init_floor = FloorFor(fs, false, true);
  for (auto _ : state) {
    if (paired) {
      auto a = FloorCycleNs(plain_floor);
      auto b = a ? FloorCycleNs(init_floor) : Expected<int64_t>(a.error());
      if (!b) {
        fb::RecordFailure(state, what + " (paired floor)", b.error().Message());
        break;
      }
      floor += *a;
      floor_init += *b;
    }
    int64_t t0 = fb::NowNs();
    auto ws = mydocker::Workspace::Create(sys, spec);
    int64_t t1 = fb::NowNs();
    if (!ws) {
      fb::RecordFailure(state, what, ws.error().Message());
      break;
    }
    if (spec.api != MountApi::kAuto && ws->api_used() != spec.api) {
      fb::RecordFailure(state, what, std::string("workspace used ") + ApiName(ws->api_used()));
      (void)ws->Destroy();
      break;
    }
    struct stat st;
    const std::string target = ws->paths().merged + "/" + lookup;
    int64_t l0 = fb::NowNs();
    int rc = lstat(target.c_str(), &st);
    int64_t l1 = fb::NowNs();
    if (rc != 0) {
      fb::RecordFailure(state, what, MakeError("bench: first lookup", target, errno).Message());
      (void)ws->Destroy();
      break;
    }
    if (written > 0) {
      Outcome o = WriteFiles(ws->paths().merged, written);
      // The files must have landed in the write layer.
      char last_name[32];
      std::snprintf(last_name, sizeof last_name, "/w/f%04d", written - 1);
      const std::string last = ws->paths().upper + last_name;
      if (o && lstat(last.c_str(), &st) != 0) {
        o = MakeError("bench: check write layer", last, errno);
      }
      if (!o) {
        fb::RecordFailure(state, what, o.error().Message());
        (void)ws->Destroy();
        break;
      }
    }
    int64_t t2 = fb::NowNs();
    Outcome d = ws->Destroy();
    int64_t t3 = fb::NowNs();
    if (!d) {
      fb::RecordFailure(state, what, d.error().Message());
      break;
    }
    setup += t1 - t0;
    lookups += l1 - l0;
    teardown += t3 - t2;
    state.SetIterationTime(((t1 - t0) + (t3 - t2)) / 1e9);
  }
  double n = double(std::max<int64_t>(state.iterations(), 1));
  state.counters["setup_us"] = setup / n / 1e3;
  state.counters["teardown_us"] = teardown / n / 1e3;
  state.counters["lookup_us"] = lookups / n / 1e3;
  state.counters["x_floor"] = (setup + teardown) / n / g.floor_ns[fs];
  state.counters["x_floor_init"] = (setup + teardown) / n / g.floor_init_ns[fs];
  if (paired && floor > 0 && floor_init > 0) {
    state.counters["x_floor_paired"] = double(setup + teardown) / floor;
    state.counters["x_floor_init_paired"] = double(setup + teardown) / floor_init;
  }
}

void BM_Workspace(benchmark::State& state, std::string fs, MountApi api, int layers,
                  int written) {
  std::vector<std::string> ls(g.layers.begin(), g.layers.begin() + layers);
  RunWorkspace(state, "Workspace", fs, SpecFor(fs, std::move(ls), api),
               "only-" + std::to_string(layers - 1), written);
  state.counters["layers"] = layers;
}

void BM_WorkspaceBusybox(benchmark::State& state, std::string fs) {
  RunWorkspace(state, "Workspace/busybox", fs, SpecFor(fs, {g.busybox}, MountApi::kAuto),
               "bin/busybox", 0);
}

// ---- the copy baseline ------------------------------------------------------

void BM_CopyRootfs(benchmark::State& state, std::string fs) {
  mydocker::LinuxSys sys;
  const std::string dst = FsRoot(fs) + "/copy";
  int64_t setup = 0, teardown = 0;
  for (auto _ : state) {
    std::map<ino_t, std::string> links;
    int64_t t0 = fb::NowNs();
    Outcome o = fb::CopyTree(g.busybox, dst, links);
    int64_t t1 = fb::NowNs();
    struct stat st;
    if (o && lstat((dst + "/bin/busybox").c_str(), &st) != 0) {
      o = MakeError("copy: check", dst + "/bin/busybox", errno);
    }
    int64_t t2 = fb::NowNs();
    if (o) o = mydocker::RemoveTree(sys, dst, "copy: remove");
    int64_t t3 = fb::NowNs();
    if (!o) {
      fb::RecordFailure(state, "CopyRootfs/" + fs, o.error().Message());
      (void)mydocker::RemoveTree(sys, dst, "copy: remove");
      break;
    }
    setup += t1 - t0;
    teardown += t3 - t2;
    state.SetIterationTime(((t1 - t0) + (t3 - t2)) / 1e9);
  }
  double n = double(std::max<int64_t>(state.iterations(), 1));
  state.counters["setup_us"] = setup / n / 1e3;
  state.counters["teardown_us"] = teardown / n / 1e3;
  state.counters["x_floor"] = (setup + teardown) / n / g.floor_ns[fs];
}

// ---- registration -----------------------------------------------------------

// Smoke: legacy and fsopen at 1 layer, fsopen only at 128 and at the limit;
// on the disk (each overlay unmount syncs the upper filesystem: tens of ms)
// only 1 layer.
std::vector<int> LayerCounts(const std::string& fs) {
  if (fb::Smoke()) return fs == "disk" ? std::vector<int>{1} : std::vector<int>{1, 128, kMaxLayers};
  return {1, 2, 4, 8, 16, 32, 64, 128, 256, kMaxLayers};
}

void Register() {
  for (const std::string fs : {"tmpfs", "disk"}) {
    fb::Configure(benchmark::RegisterBenchmark(("Floor/upper:" + fs).c_str(), BM_Floor, fs,
                                               false, false))
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
    fb::Configure(benchmark::RegisterBenchmark(("Floor/upper:" + fs + "/init").c_str(),
                                               BM_Floor, fs, false, true))
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
  }
  // What the "volatile" option would save where the unmount syncs a disk.
  fb::Configure(benchmark::RegisterBenchmark("Floor/upper:disk/volatile", BM_Floor,
                                             std::string("disk"), true, false))
      ->UseManualTime()
      ->Unit(benchmark::kMicrosecond);
  for (const std::string fs : {"tmpfs", "disk"}) {
    for (int n : LayerCounts(fs)) {
      std::vector<std::string> ls(g.layers.begin(), g.layers.begin() + n);
      const auto spec = SpecFor(fs, ls, MountApi::kAuto);
      const bool fits = mydocker::FitsLegacyMount(
          mydocker::OverlayOptions(mydocker::PathsFor(spec.dir), ls));
      std::vector<MountApi> apis = {MountApi::kNewApi};
      if (fits) apis.insert(apis.begin(), MountApi::kLegacy);
      for (MountApi api : apis) {
        for (int written : {0, kWrittenFiles}) {
          // On the disk the unmount syncs the 1,000 dirty files (seconds on a
          // busy disk): written:1000 there only at the ends of the range.
          if (written > 0 && fs == "disk" && (fb::Smoke() || (n != 1 && n != kMaxLayers))) {
            continue;
          }
          std::string name = std::string("Workspace/") + ApiName(api) + "/upper:" + fs +
                             "/layers:" + std::to_string(n) +
                             "/written:" + std::to_string(written);
          fb::Configure(benchmark::RegisterBenchmark(name.c_str(), BM_Workspace, fs, api, n,
                                                     written))
              ->UseManualTime()
              ->Unit(benchmark::kMicrosecond);
        }
      }
    }
  }
  for (const std::string fs : {"tmpfs", "disk"}) {
    fb::Configure(benchmark::RegisterBenchmark(("Workspace/busybox/upper:" + fs).c_str(),
                                               BM_WorkspaceBusybox, fs))
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
    fb::Configure(benchmark::RegisterBenchmark(("CopyRootfs/upper:" + fs).c_str(),
                                               BM_CopyRootfs, fs))
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
  }
}

double MedianOf(std::vector<int64_t> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? double(v[n / 2]) : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

Outcome Setup() {
  auto s = fb::Scratch::Create();
  if (!s) return s.error();
  g.scratch = std::move(*s);
  g.disk_root = g.scratch->Sub("disk");
  g.tmpfs_root = g.scratch->Sub("tmpfs");
  MYDOCKER_TRY(fb::MakeDir(g.disk_root, 0755));
  MYDOCKER_TRY(fb::MountTmpfs(g.tmpfs_root));
  g.tmpfs_mounted = true;
  for (const std::string fs : {"tmpfs", "disk"}) {
    MYDOCKER_TRY(fb::MakeDir(FsRoot(fs) + "/ws", 0755));
    MYDOCKER_TRY(fb::MakeDir(FsRoot(fs) + "/floor", 0755));
  }
  MYDOCKER_TRY(fb::MakeLayers(g.scratch->Sub("L"), kMaxLayers, &g.layers));
  auto bb = fb::ImportBusybox(*g.scratch, g.scratch->Sub("store"), "busybox");
  if (!bb) return bb.error();
  g.busybox = *bb;

  // The floors each figure is divided by: the median of many raw cycles,
  // the plain floor and the floor with the init layer alternating so that
  // load hits both alike.
  const int rounds = fb::Smoke() ? 10 : 500;
  for (const std::string fs : {"tmpfs", "disk"}) {
    const FloorPaths plain = FloorFor(fs), init = FloorFor(fs, false, true);
    std::vector<int64_t> plain_ns, init_ns;
    for (int i = 0; i < rounds; ++i) {
      for (const FloorPaths* p : {&plain, &init}) {
        int64_t t0 = fb::NowNs();
        MYDOCKER_TRY(FloorSetup(*p));
        MYDOCKER_TRY(FloorTeardown(*p));
        (p == &plain ? plain_ns : init_ns).push_back(fb::NowNs() - t0);
      }
    }
    g.floor_ns[fs] = MedianOf(plain_ns);
    g.floor_init_ns[fs] = MedianOf(init_ns);
    benchmark::AddCustomContext("floor_ns_" + fs, std::to_string(g.floor_ns[fs]));
    benchmark::AddCustomContext("floor_init_ns_" + fs, std::to_string(g.floor_init_ns[fs]));
  }
  benchmark::AddCustomContext("max_lower_dirs", "500 (499 image layers + init layer)");
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
