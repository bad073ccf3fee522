// Container start to exit: `/bin/true` in the busybox image, run by
//   Start/core       the in-process runtime core (Runtime::Run on LinuxSys), the
//                    image on the disk, state and workspace on the tmpfs (as
//                    Start/mydocker: the gap is the binary's own cost)
//   Start/mydocker   the mydocker binary, the way runc and crun run here:
//                    `mydocker --root R --state S run busybox /bin/true`, the
//                    image under R on the disk (as /var/lib/mydocker), the
//                    container's state and workspace under S on a tmpfs (as
//                    runc's /run/runc)
//   Start/mydocker-disk-state   the same without --state: state and workspace
//                    under R on the disk (mydocker's default; the figure
//                    Start/mydocker gave before --state existed)
//   Start/mydocker-tmpfs-root   `--root T`, T on a tmpfs: image, state and
//                    workspace all on the tmpfs
//   Start/mydocker-unconfined   Start/mydocker with `--security-opt
//                    seccomp=unconfined`: what docker's seccomp profile costs
//   Start/mydocker-baseline   with FAULTLINE_BENCH_BASELINE=BIN only:
//                    Start/mydocker run by BIN (an earlier build copied
//                    aside), alternated with the rest: an A/B in one run
//   Start/<rt>       every OCI runtime profile whose binary is here
//                    (harness/adapters/profile.h): the host's runc and crun
//                    (Start/runc, Start/crun: Debian 12's 1.1.5 and 1.8.1)
//                    and the peers ci/install-peers installed
//                    (Start/runc-1.3.6, Start/crun-1.28, ...), each as
//                    `<rt> <global args> run --bundle B ID` (mode: run, one
//                    runtime process, start to exit; warm cache), the
//                    profile's global args with {root} = S, S on a tmpfs, as
//                    their defaults /run/runc and /run/crun; their bundles
//                    have no seccomp profile (config.json without
//                    linux.seccomp), while mydocker applies docker's
//   Start/<rt>-seccomp   the same with docker's profile in linux.seccomp, as
//                    docker gives it to runc (mydocker's default rules, the
//                    same capability set): the like-for-like comparison
// all over the same imported busybox image. Each OCI runtime gets one OCI
// bundle made once by harness/oci (CreateBundle: an overlay workspace over the
// image, config.json mirroring mydocker's containers), reused by every run;
// mydocker makes and removes its workspace in every run, so its figures
// include the workspace. Plus
//   Start/workspace  the busybox workspace alone (setup + teardown, on the
//                    disk where mydocker puts it)
// so the start figures can be read against it.
//
// Run with --benchmark_enable_random_interleaving=true and repetitions (as
// bench/run and bench/start-median do) to alternate the runtimes in one run.
// Time is wall time from spawn (or the Run call) to the reaped exit.
//
// Cgroups: every runtime's containers go under
// the per-run parent, removed at exit. crun 1.8 refuses a hybrid host whose
// cgroup2 mount lists a controller (here: hugetlb) in cgroup.controllers, even
// with its cgroup manager disabled; the private mount namespace gets an empty
// file bind-mounted over /sys/fs/cgroup/unified/cgroup.controllers (the host's
// file is untouched). Every runtime runs under that same view.
#include <errno.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "harness/adapters/profile.h"
#include "harness/oci/bundle.h"
#include "runtime/container/runtime.h"
#include "runtime/rootfs/hardening.h"
#include "runtime/sys/fs_util.h"
#include "runtime/sys/linux_sys.h"
#include "runtime/workspace/workspace.h"

namespace fb = faultline::bench;
using mydocker::MakeError;
using mydocker::Outcome;

namespace {

constexpr const char* kUnifiedControllers = "/sys/fs/cgroup/unified/cgroup.controllers";

struct Globals {
  std::optional<fb::Scratch> scratch;
  std::string root;     // mydocker's --root (image store + containers), on the disk
  std::string run;      // a tmpfs: runc/crun state, mydocker's --state and tmpfs --root
  std::string state;    // mydocker's --state, on the tmpfs
  std::string tmpfs_root;  // mydocker's --root on the tmpfs
  std::string rootfs;   // the imported busybox rootfs
  std::string parent;   // per-run cgroup parent
  std::vector<std::string> bundles;  // OCI bundle dirs (each an overlay)
  std::vector<std::pair<faultline::RuntimeProfile, std::string>> oci;  // profile, binary
  bool controllers_masked = false;
  bool run_mounted = false;
  int next_id = 0;
} g;

std::string Describe(int status) {
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "wait status " + std::to_string(status);
}

// Runs argv once per iteration; each iteration's argv gets a fresh container
// id from make_argv.
void RunBinary(benchmark::State& state, const std::string& what,
               const std::function<std::vector<std::string>(const std::string&)>& make_argv) {
  std::string file = what + ".stderr";
  for (char& c : file) c = c == '/' ? '-' : c;
  const std::string log = g.scratch->Sub(file);
  for (auto _ : state) {
    const std::string id = "fb" + std::to_string(g.next_id++);
    const auto argv = make_argv(id);
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
      fb::RecordFailure(state, what, MakeError("bench: open log", log, errno).Message());
      break;
    }
    int64_t t0 = fb::NowNs();
    auto st = fb::SpawnAndWait(argv, fd);
    int64_t t1 = fb::NowNs();
    close(fd);
    if (!st) {
      fb::RecordFailure(state, what, st.error().Message());
      break;
    }
    if (!WIFEXITED(*st) || WEXITSTATUS(*st) != 0) {
      fb::RecordFailure(state, what, argv[0] + ": " + Describe(*st) + ": " + fb::Head(log));
      break;
    }
    state.SetIterationTime((t1 - t0) / 1e9);
  }
}

void BM_Core(benchmark::State& state) {
  mydocker::LinuxSys sys;
  mydocker::RuntimeConfig config;
  config.root = g.root;
  config.state_root = g.state;
  config.cgroup_parent = g.parent;
  config.inherited_env = {"PATH=/bin:/usr/bin:/sbin:/usr/sbin"};
  mydocker::Runtime rt(sys, config);
  mydocker::RunSpec spec;
  spec.image = "busybox";
  spec.argv = {"/bin/true"};
  for (auto _ : state) {
    int64_t t0 = fb::NowNs();
    auto r = rt.Run(spec);
    int64_t t1 = fb::NowNs();
    if (!r) {
      fb::RecordFailure(state, "Start/core", r.error().Message());
      break;
    }
    if (r->exit_code != 0) {
      fb::RecordFailure(state, "Start/core",
                        "exit code " + std::to_string(r->exit_code) + " " + r->message);
      break;
    }
    state.SetIterationTime((t1 - t0) / 1e9);
  }
}

// Where mydocker keeps what: kDiskState is its default (everything under
// --root on the disk), kTmpfsState adds --state on the tmpfs (the image stays
// on the disk), kTmpfsRoot puts --root itself on the tmpfs.
// kBaseline is kTmpfsState with the binary FAULTLINE_BENCH_BASELINE names
// (an earlier build copied aside): an A/B alternated in one run.
enum class MydockerLayout { kTmpfsState, kDiskState, kTmpfsRoot, kUnconfined, kBaseline };

void BM_Mydocker(benchmark::State& state, MydockerLayout layout) {
  std::vector<std::string> global = {FAULTLINE_MYDOCKER_BIN};
  const char* what = "Start/mydocker";
  switch (layout) {
    case MydockerLayout::kTmpfsState:
      global.insert(global.end(), {"--root", g.root, "--state", g.state});
      break;
    case MydockerLayout::kBaseline:
      global = {std::getenv("FAULTLINE_BENCH_BASELINE"), "--root", g.root, "--state", g.state};
      what = "Start/mydocker-baseline";
      break;
    case MydockerLayout::kDiskState:
      global.insert(global.end(), {"--root", g.root});
      what = "Start/mydocker-disk-state";
      break;
    case MydockerLayout::kTmpfsRoot:
      global.insert(global.end(), {"--root", g.tmpfs_root});
      what = "Start/mydocker-tmpfs-root";
      break;
    case MydockerLayout::kUnconfined:
      global.insert(global.end(), {"--root", g.root, "--state", g.state});
      what = "Start/mydocker-unconfined";
      break;
  }
  const bool unconfined = layout == MydockerLayout::kUnconfined;
  RunBinary(state, what, [global, unconfined](const std::string&) {
    std::vector<std::string> argv = global;
    argv.insert(argv.end(), {"--cgroup-parent", g.parent, "run"});
    if (unconfined) argv.insert(argv.end(), {"--security-opt", "seccomp=unconfined"});
    argv.insert(argv.end(), {"busybox", "/bin/true"});
    return argv;
  });
}

// suffix "": the bundle without seccomp; "-seccomp": with docker's profile.
void BM_Oci(benchmark::State& state, faultline::RuntimeProfile profile, std::string bin,
            std::string suffix) {
  const std::string bundle = g.scratch->Sub("bundle-" + profile.name + suffix);
  const std::string state_root = g.run + "/" + profile.name;
  RunBinary(state, "Start/" + profile.name + suffix, [&](const std::string& id) {
    return profile.VerbArgv(bin, "run", {{"root", state_root}}, {"--bundle", bundle, id});
  });
}

void BM_WorkspaceBusybox(benchmark::State& state) {
  mydocker::LinuxSys sys;
  mydocker::WorkspaceSpec spec;
  spec.dir = g.scratch->Sub("ws");
  spec.layers = {g.rootfs};
  spec.hostname = "bench";
  spec.resolv_conf = "nameserver 127.0.0.1\n";
  for (auto _ : state) {
    int64_t t0 = fb::NowNs();
    auto ws = mydocker::Workspace::Create(sys, spec);
    Outcome d = ws ? ws->Destroy() : Outcome(ws.error());
    int64_t t1 = fb::NowNs();
    if (!d) {
      fb::RecordFailure(state, "Start/workspace", d.error().Message());
      break;
    }
    state.SetIterationTime((t1 - t0) / 1e9);
  }
}

// crun's hybrid refusal (see the file comment): mask the v2 controller list
// in this private namespace only, and only when it is not empty.
Outcome MaskUnifiedControllers() {
  struct stat st;
  if (stat(kUnifiedControllers, &st) != 0) return Outcome::Ok();  // not hybrid
  if (fb::Head(kUnifiedControllers, 256).find_first_not_of(" \n") == std::string::npos) {
    return Outcome::Ok();  // already empty: crun accepts it
  }
  const std::string empty = g.scratch->Sub("empty-cgroup.controllers");
  int fd = open(empty.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0444);
  if (fd < 0) return MakeError("bench: create empty controllers file", empty, errno);
  close(fd);
  if (mount(empty.c_str(), kUnifiedControllers, nullptr, MS_BIND, nullptr) != 0) {
    return MakeError("bench: bind empty cgroup.controllers", kUnifiedControllers, errno);
  }
  g.controllers_masked = true;
  return Outcome::Ok();
}

void Register() {
  auto reg = [](const char* name, auto fn, auto... args) {
    fb::Configure(benchmark::RegisterBenchmark(name, fn, args...))
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
  };
  reg("Start/core", BM_Core);
  reg("Start/mydocker", BM_Mydocker, MydockerLayout::kTmpfsState);
  reg("Start/mydocker-disk-state", BM_Mydocker, MydockerLayout::kDiskState);
  reg("Start/mydocker-tmpfs-root", BM_Mydocker, MydockerLayout::kTmpfsRoot);
  reg("Start/mydocker-unconfined", BM_Mydocker, MydockerLayout::kUnconfined);
  if (const char* base = std::getenv("FAULTLINE_BENCH_BASELINE"); base && *base) {
    reg("Start/mydocker-baseline", BM_Mydocker, MydockerLayout::kBaseline);
  }
  for (const auto& [p, bin] : g.oci) {
    for (std::string suffix : {"", "-seccomp"})
      reg(("Start/" + p.name + suffix).c_str(), BM_Oci, p, bin, suffix);
  }
  fb::Configure(benchmark::RegisterBenchmark("Start/workspace", BM_WorkspaceBusybox))
      ->UseManualTime()
      ->Unit(benchmark::kMicrosecond);
}

Outcome Setup() {
  auto s = fb::Scratch::Create();
  if (!s) return s.error();
  g.scratch = std::move(*s);
  g.root = g.scratch->Sub("root");
  g.parent = fb::CgroupParentName();
  if (mkdir(g.scratch->Sub("ws").c_str(), 0755) != 0) {
    return MakeError("bench: mkdir", g.scratch->Sub("ws"), errno);
  }
  auto rootfs = fb::ImportBusybox(*g.scratch, g.root, "busybox");
  if (!rootfs) return rootfs.error();
  g.rootfs = *rootfs;
  g.run = g.scratch->Sub("run");
  MYDOCKER_TRY(fb::MountTmpfs(g.run));
  g.run_mounted = true;
  g.state = g.run + "/mydocker-state";
  g.tmpfs_root = g.run + "/mydocker";
  auto tmpfs_rootfs = fb::ImportBusybox(*g.scratch, g.tmpfs_root, "busybox");
  if (!tmpfs_rootfs) return tmpfs_rootfs.error();
  MYDOCKER_TRY(MaskUnifiedControllers());
  mydocker::LinuxSys sys;
  std::vector<std::string> errors;
  for (const auto& p : faultline::LoadAllProfiles(faultline::ProfileSearchPath(), &errors)) {
    if (p.kind != "oci" || !p.HasVerb("run")) continue;
    const std::string bin = faultline::ResolveProfileBinary(p, "");
    if (bin.empty()) {
      // Not a failure: the runtime is not installed here (listed in the context).
      benchmark::AddCustomContext("not_installed_" + p.name, p.binary);
      continue;
    }
    std::string why;
    benchmark::AddCustomContext("version_" + p.name, faultline::VersionLine(bin, &why) + why);
    g.oci.emplace_back(p, bin);
  }
  if (!errors.empty()) return MakeError("bench: runtime profile", "", EINVAL, errors.front());
  benchmark::AddCustomContext("oci_mode", "run --bundle B ID: one runtime process, start to "
                                          "reaped exit; warm cache (the bundle and image reused)");
  // mydocker's default seccomp rules for the -seccomp bundles: docker's
  // profile for its capability set on this kernel.
  auto release = mydocker::ReadFile(sys, "/proc/sys/kernel/osrelease", "bench: kernel release");
  if (!release) return release.error();
  auto seccomp = mydocker::ParseSeccompProfile(mydocker::DefaultSeccompProfile(), "default profile",
                                               mydocker::DockerDefaultCaps(), *release);
  if (!seccomp) return seccomp.error();
  for (const auto& [p, bin] : g.oci) {
    const std::string rt = p.name;
    faultline::OciSpecInput in;
    in.argv = {"/bin/true"};
    in.hostname = "bench";
    in.cgroups_path = "/" + g.parent + "/" + rt;
    // Only capabilities this process can grant (this host's root lacks
    // CAP_SYS_RESOURCE; asking for it fails runc/crun at capset).
    in.cap_bounding = faultline::SelfCapBounding();
    auto b = faultline::CreateBundle(sys, g.scratch->Sub("bundle-" + rt), g.rootfs, in);
    if (!b) return b.error();
    g.bundles.push_back(b->dir);
    in.seccomp = *seccomp;
    b = faultline::CreateBundle(sys, g.scratch->Sub("bundle-" + rt + "-seccomp"), g.rootfs, in);
    if (!b) return b.error();
    g.bundles.push_back(b->dir);
  }
  benchmark::AddCustomContext("cgroup_parent", g.parent);
  benchmark::AddCustomContext("crun_hybrid_workaround",
                              g.controllers_masked ? "empty cgroup.controllers bind-mounted"
                                                   : "not needed");
  Register();
  return Outcome::Ok();
}

Outcome Teardown() {
  Outcome first;
  auto keep = [&](Outcome o) {
    if (!o && first) first = o;
  };
  mydocker::LinuxSys sys;
  for (const auto& b : g.bundles) keep(faultline::DestroyBundle(sys, b));
  if (g.controllers_masked) keep(fb::Unmount(kUnifiedControllers));
  if (!g.parent.empty()) {
    keep(fb::RemoveCgroupTree(g.parent));
    for (const auto& p : fb::LeftoverCgroups(g.parent)) {
      keep(MakeError("host check: cgroup left", p, EEXIST));
    }
  }
  if (g.scratch) {
    // mydocker must have removed every container directory it made.
    for (const auto& root : {g.root, g.state, g.tmpfs_root}) {
      if (root.empty()) continue;
      auto left = sys.ReadDir(root + "/containers");
      if (left.ok() && !left.value.empty()) {
        keep(MakeError("host check: mydocker left container directories", root + "/containers",
                       ENOTEMPTY, std::to_string(left.value.size()) + " left"));
      }
    }
    if (g.run_mounted) keep(fb::Unmount(g.run));
    keep(g.scratch->Remove());
  }
  return first;
}

}  // namespace

int main(int argc, char** argv) { return fb::BenchMain(argc, argv, Setup, Teardown); }
