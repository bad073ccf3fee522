#include "harness/cli/sweep_command.h"
#include "harness/report/report.h"

#include "harness/adapters/profile.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include <spdlog/spdlog.h>

#include "harness/adapters/process.h"
#include "harness/cli/locate.h"
#include "harness/scenario/scenario.h"
#include "harness/report/environment.h"
#include "harness/sweep/sweep.h"
#include "harness/sweep/two_actor.h"
#include "harness/sweep/two_actor_real.h"

namespace faultline {
namespace {

namespace fs = std::filesystem;

struct SweepArgs {
  std::string backend = "fake";
  std::string runtime = "mydocker";
  std::string runtime_binary;
  std::vector<std::string> syscalls;
  int run_timeout = 15;
  std::string report_md;
  std::string report_html;
  std::vector<std::string> errnos;
  std::string errno_model = "reachable";
  std::vector<std::string> modes;
  std::string report_json;
  std::string report_junit;
  std::string point;
  std::string shard;
  std::string journal;
  int jobs = 0;  // 0: the number of cores (kernel, seccomp); fake: its own default
  double quiet = 2.0;
  std::string plan;
  std::string image_tar;
  bool keep_scratch = false;
  bool verbose = false;
  std::string scenario;
  std::string cgroup;  // fake: "v1", "v2", "hybrid" ("" = hybrid)
  std::vector<std::string> second_actors;  // the two-actor sweep (fake)
};

FakeCgroupMode CgroupModeFromName(const std::string& name) {
  if (name == "v2") return FakeCgroupMode::kV2Unified;
  if (name == "v1") return FakeCgroupMode::kV1;
  return FakeCgroupMode::kV1Hybrid;
}

// For the environment fingerprint.
std::string CgroupModeName(FakeCgroupMode m) {
  switch (m) {
    case FakeCgroupMode::kV2Unified: return "fake v2";
    case FakeCgroupMode::kV1: return "fake v1";
    case FakeCgroupMode::kV1Hybrid: break;
  }
  return "fake v1-hybrid";
}

// `--second-actor LIST`: the two-actor sweep (harness/sweep/two_actor.h).
// Its report: printed, and as JSON when asked. The exit status.
int TwoActorReportOut(const SweepArgs& a, const TwoActorReport& r) {
  std::cout << TwoActorText(r, 20);
  std::printf("%.2f s\n", r.seconds);
  if (!a.report_json.empty()) {
    std::ofstream out(a.report_json);
    out << r.ToJson().dump(2) << "\n";
    if (!out) {
      std::cerr << "faultline sweep: cannot write " << a.report_json << "\n";
      return 2;
    }
  }
  if (!r.errors.empty()) return 2;
  return r.failed == 0 ? 0 : 1;
}

// --backend kernel|seccomp --second-actor LIST (harness/sweep/two_actor_real.h).
int RealTwoActorMain(const SweepArgs& a, const SweepConfig& config, const std::string& image_tar) {
  if (!a.plan.empty() || config.only_point_id || !a.journal.empty()) {
    std::cerr << "faultline sweep: --second-actor takes --point N, --shard K/N, --runtime, "
                 "--report-json and --verbose; not --plan, --point ID, --journal\n";
    return 2;
  }
  RealTwoActorConfig tc;
  tc.backend = a.backend;
  tc.workload = config.workload;
  if (!(a.second_actors.size() == 1 && a.second_actors[0] == "all")) {
    auto actors = ParseSecondActors(a.second_actors);
    if (!actors) {
      std::cerr << "faultline sweep: " << actors.error().Message() << "\n";
      return 2;
    }
    tc.actors = *actors;
  }
  tc.only_point = config.only_point;
  tc.shard = config.shard;
  tc.verbose = a.verbose;
  tc.kernel.image_tar = image_tar;
  tc.kernel.keep_scratch = a.keep_scratch;
  tc.seccomp.runtime = a.runtime;
  tc.seccomp.binary = a.runtime_binary;
  tc.seccomp.profile_search = ProfileSearchPath();
  tc.seccomp.syscalls = SplitList(a.syscalls);
  tc.seccomp.image_tar = image_tar;
  tc.seccomp.keep_scratch = a.keep_scratch;
  tc.seccomp.run_timeout_seconds = a.run_timeout;
  tc.seccomp.quiet_seconds = a.quiet;
  if (a.backend == "seccomp") {
    tc.replay_prefix = "faultline sweep --backend seccomp --runtime " + a.runtime;
    if (!a.runtime_binary.empty()) tc.replay_prefix += " --runtime-binary " + a.runtime_binary;
  }
  return TwoActorReportOut(a, RunRealTwoActorSweep(tc));
}

int TwoActorMain(const SweepArgs& a, const SweepConfig& config) {
  if (!a.plan.empty() || config.only_point_id || !a.shard.empty() || !a.journal.empty()) {
    std::cerr << "faultline sweep: --second-actor takes --point N, --cgroup, -j, "
                 "--report-json and --verbose; not --plan, --point ID, --shard, --journal\n";
    return 2;
  }
  auto actors = ParseSecondActors(a.second_actors);
  if (!actors) {
    std::cerr << "faultline sweep: " << actors.error().Message() << "\n";
    return 2;
  }
  TwoActorConfig tc;
  tc.workload = config.workload;
  tc.actors = *actors;
  tc.kernel.cgroups = CgroupModeFromName(a.cgroup);
  tc.only_point = config.only_point;
  if (a.jobs > 0) tc.max_parallel = static_cast<size_t>(a.jobs);
  tc.replay_prefix = config.replay_prefix;
  tc.verbose = a.verbose;
  return TwoActorReportOut(a, RunTwoActorSweep(tc));
}

[[noreturn]] void Exit(int code) { throw CLI::RuntimeError(code); }

int Main(const SweepArgs& a) {
  SweepConfig config;
  // The workload.
  const std::string target = a.scenario.empty() ? "run-true" : a.scenario;
  std::optional<SweepSpec> scenario_sweep;
  if (auto w = BuiltinWorkload(target)) {
    config.workload = *w;
  } else {
    std::vector<std::string> errors;
    auto files = FindScenarioFiles({target}, &errors);
    if (files.size() != 1) {
      std::cerr << "faultline sweep: " << target
                << ": neither a built-in workload (run-true, run-full) nor one scenario file";
      for (const auto& e : errors) std::cerr << "; " << e;
      std::cerr << "\n";
      return 2;
    }
    ScenarioError err;
    auto s = ParseScenarioFile(files[0].path, files[0].root, &err);
    if (!s) {
      std::cerr << "faultline sweep: " << err.Message() << "\n";
      return 2;
    }
    config.workload = WorkloadFromScenario(*s);
    config.workload.source = target;
    scenario_sweep = s->sweep;
  }
  // errnos and modes: the command line, else the scenario's sweep section.
  std::vector<std::string> errnos = a.errnos, modes = a.modes;
  if (errnos.empty() && scenario_sweep) errnos = scenario_sweep->errnos;
  if (modes.empty() && scenario_sweep) modes = scenario_sweep->modes;
  if (!errnos.empty()) {
    auto e = ParseErrnoList(errnos);
    if (!e) {
      std::cerr << "faultline sweep: " << e.error().Message() << "\n";
      return 2;
    }
    config.errnos = *e;
    config.errnos_given = true;
  }
  config.errno_model = a.errno_model == "all" ? ErrnoModelKind::kAll : ErrnoModelKind::kReachable;
  if (!modes.empty()) {
    auto m = ParseModeList(modes);
    if (!m) {
      std::cerr << "faultline sweep: " << m.error().Message() << "\n";
      return 2;
    }
    config.modes = *m;
  }
  if (!a.point.empty()) {
    if (a.point.find_first_not_of("0123456789") == std::string::npos) {
      const size_t n = std::stoul(a.point);
      if (n == 0) {
        std::cerr << "faultline sweep: --point numbers start at 1\n";
        return 2;
      }
      config.only_point = n;
    } else {
      config.only_point_id = a.point;
    }
  }
  // The shard: the flag, else the fleet engine's variables.
  if (!a.shard.empty()) {
    if (!ParseShardText(a.shard, &config.shard)) {
      std::cerr << "faultline sweep: --shard wants K/N with 0 <= K < N, not '" << a.shard
                << "'\n";
      return 2;
    }
  } else {
    bool found = false;
    std::string source, error;
    if (!ShardFromEnvironment(&config.shard, &found, &source, &error)) {
      std::cerr << "faultline sweep: " << error << "\n";
      return 2;
    }
    if (found) spdlog::info("sweep: shard {} from {}", config.shard.ToString(), source);
  }
  config.journal = a.journal;
  if (!a.plan.empty()) {
    auto p = FaultPlan::Parse(a.plan);
    if (!p) {
      std::cerr << "faultline sweep: " << p.error().Message() << "\n";
      return 2;
    }
    config.plan = *p;
  }
  config.verbose = a.verbose;
  config.replay_prefix = "faultline sweep --backend " + a.backend;
  if (!a.cgroup.empty() && a.backend != "fake") {
    std::cerr << "faultline sweep: --cgroup is for --backend fake (the kernel backends use the "
                 "host's layout)\n";
    return 2;
  }
  if (!a.cgroup.empty()) config.replay_prefix += " --cgroup " + a.cgroup;
  if (a.errno_model == "all") config.replay_prefix += " --errno-model all";
  if (!a.second_actors.empty() && a.backend == "fake") return TwoActorMain(a, config);

  // The environment fingerprint: what decides the results.
  config.environment = CollectEnvironment();
  {
    nlohmann::json o;
    o["backend"] = a.backend;
    o["workload"] = target;
    std::vector<std::string> en, mn;
    for (int e : config.errnos) en.push_back(mydocker::ErrnoName(e));
    for (SweepMode m : config.modes) mn.push_back(SweepModeName(m));
    o["errnos"] = en;
    o["modes"] = mn;
    o["errno_model"] = a.errno_model;
    if (!a.point.empty()) o["point"] = a.point;
    if (!a.plan.empty()) o["plan"] = a.plan;
    if (a.backend == "seccomp") {
      o["runtime"] = a.runtime;
      o["syscalls"] = SplitList(a.syscalls);
      o["run_timeout"] = a.run_timeout;
      o["quiet"] = a.quiet;
    }
    config.environment.options = o;
  }
  const size_t jobs = a.jobs > 0 ? static_cast<size_t>(a.jobs)
                                 : std::max<unsigned>(1, std::thread::hardware_concurrency());

  // The backend.
  std::unique_ptr<SweepBackend> backend;
  std::string built_tar;
  auto image_tar = [&]() -> std::string {
    bool built = false;
    std::string error;
    std::string tar = FindOrBuildImageTar(
        a.image_tar, "/tmp/faultline-sweep-image-" + std::to_string(getpid()) + ".tar", &built,
        &error);
    if (tar.empty()) std::cerr << "faultline sweep: " << error << "\n";
    if (built) built_tar = tar;
    return tar;
  };
  if (!a.second_actors.empty()) {
    if (a.backend != "kernel" && a.backend != "seccomp") {
      std::cerr << "faultline sweep: --backend is fake, kernel or seccomp, not " << a.backend
                << "\n";
      return 2;
    }
    const std::string tar = image_tar();
    if (tar.empty()) return 2;
    const int code = RealTwoActorMain(a, config, tar);
    if (!built_tar.empty()) ::unlink(built_tar.c_str());
    return code;
  }
  if (a.backend == "fake") {
    FakeBackendOptions fo;
    if (a.jobs > 0) fo.max_parallel = static_cast<size_t>(a.jobs);
    fo.kernel.cgroups = CgroupModeFromName(a.cgroup);
    config.environment.runtime = "mydocker (in-process core)";
    config.environment.backend_cgroup_layout = CgroupModeName(fo.kernel.cgroups);
    backend = MakeFakeSweepBackend(std::move(fo));
  } else if (a.backend == "kernel") {
    KernelBackendOptions o;
    o.image_tar = image_tar();
    if (o.image_tar.empty()) return 2;
    o.keep_scratch = a.keep_scratch;
    config.environment.runtime = "mydocker (in-process core)";
    backend = MakeParallelSweepBackend(
        [o] { return MakeKernelSweepBackend(o); }, jobs);
  } else if (a.backend == "seccomp") {
    SeccompBackendOptions o;
    o.runtime = a.runtime;
    o.binary = a.runtime_binary;
    if (o.binary.empty() && o.runtime == "mydocker") o.binary = DefaultMydockerBinary();
    o.profile_search = ProfileSearchPath();
    o.syscalls = SplitList(a.syscalls);
    o.image_tar = image_tar();
    if (o.image_tar.empty()) return 2;
    o.keep_scratch = a.keep_scratch;
    o.run_timeout_seconds = a.run_timeout;
    o.quiet_seconds = a.quiet;
    config.environment.runtime = a.runtime;
    config.environment.runtime_binary =
        o.binary.empty() ? FindSystemBinary(a.runtime) : o.binary;
    config.environment.runtime_version = BinaryVersion(config.environment.runtime_binary);
    backend = MakeParallelSweepBackend(
        [o] { return MakeSeccompSweepBackend(o); }, jobs);
    config.replay_prefix += " --runtime " + a.runtime;
    if (!a.runtime_binary.empty()) config.replay_prefix += " --runtime-binary " + a.runtime_binary;
  } else {
    std::cerr << "faultline sweep: --backend is fake, kernel or seccomp, not " << a.backend
              << "\n";
    return 2;
  }

  const bool tty = isatty(STDERR_FILENO) != 0;
  if (tty) {
    config.progress = [](const SweepProgress& p) {
      if (p.done % 16 != 0 && p.done != p.total) return;
      std::fprintf(stderr, "\r\033[K[%zu/%zu] failed %zu  %s", p.done, p.total, p.failed,
                   p.current.c_str());
      std::fflush(stderr);
    };
  }
  SweepReport report = RunSweep(*backend, config);
  backend.reset();
  if (!built_tar.empty()) {
    std::error_code ec;
    fs::remove(built_tar, ec);
  }
  if (a.backend == "seccomp") report.backend = "seccomp/" + a.runtime;
  if (tty) std::fprintf(stderr, "\r\033[K");

  if (report.execution.resumed != 0) {
    std::printf("resumed from %s: %zu runs already made\n", a.journal.c_str(),
                report.execution.resumed);
  }
  std::cout << SweepConsoleText(report, config.plan.has_value());
  if (!WriteSweepReports(report, {a.report_json, a.report_junit, a.report_html, a.report_md},
                         "faultline sweep")) {
    return 2;
  }
  if (!report.errors.empty()) return 2;
  return report.failed == 0 ? 0 : 1;
}

// `faultline sweep-compare A.json B.json ...`: the same fault on each
// runtime side by side. A fault is (syscall family, the call's class, errno,
// mode); each cell: the runs and how many failed, and what the failed runs
// left after the runtime's cleanup.
int CompareMain(const std::vector<std::string>& files) {
  struct Cell {
    size_t runs = 0, failed = 0;
    std::set<std::string> left;
    std::set<size_t> defects;
  };
  std::vector<std::string> names;
  std::map<std::string, std::map<size_t, Cell>> rows;
  for (size_t i = 0; i < files.size(); ++i) {
    std::ifstream in(files[i]);
    nlohmann::json j;
    try {
      in >> j;
    } catch (const std::exception& e) {
      std::cerr << "faultline sweep-compare: " << files[i] << ": " << e.what() << "\n";
      return 2;
    }
    names.push_back(j.value("backend", files[i]));
    for (const auto& p : j["points"]) {
      const std::string cls = p.value("call_class", "");
      const std::string err = p["errno"].is_string() ? p["errno"].get<std::string>() : "-";
      const std::string key = SyscallFamily(p.value("op", ""), cls) + " | " + (cls.empty() ? "-" : cls) +
                              " | " + err + " | " + p.value("mode", "");
      Cell& c = rows[key][i];
      ++c.runs;
      if (!p.value("passed", true)) {
        ++c.failed;
        const std::string after = p["probes"].value("after_gc", "");
        const std::string left = after.empty() || after == "clean" ? p["probes"].value("after_run", "")
                                                                    : after;
        if (!left.empty() && left != "clean") c.left.insert(left.substr(0, left.find(':')));
        if (p.contains("defect")) c.defects.insert(p["defect"].get<size_t>());
      }
    }
  }
  std::cout << "| fault (family, class, errno, mode) |";
  for (const auto& n : names) std::cout << " " << n << " |";
  std::cout << "\n|---|";
  for (size_t i = 0; i < names.size(); ++i) std::cout << "---|";
  std::cout << "\n";
  size_t differing = 0;
  for (const auto& [key, cells] : rows) {
    bool any_fail = false, all_fail = true;
    for (size_t i = 0; i < names.size(); ++i) {
      auto it = cells.find(i);
      const bool f = it != cells.end() && it->second.failed > 0;
      any_fail |= f;
      all_fail &= f;
    }
    if (!any_fail) continue;  // passes everywhere
    differing += !all_fail;
    std::cout << "| " << key << " |";
    for (size_t i = 0; i < names.size(); ++i) {
      auto it = cells.find(i);
      if (it == cells.end()) {
        std::cout << " (no such call) |";
        continue;
      }
      const Cell& c = it->second;
      std::cout << " " << c.failed << "/" << c.runs << " failed";
      if (!c.left.empty()) {
        std::string l;
        for (const auto& x : c.left) l += (l.empty() ? "" : ", ") + x;
        std::cout << ", left " << l;
      }
      if (!c.defects.empty()) {
        std::string d;
        for (size_t x : c.defects) d += (d.empty() ? "" : ",") + std::to_string(x);
        std::cout << " (defects " << d << ")";
      }
      std::cout << " |";
    }
    std::cout << "\n";
  }
  std::cout << "\n" << differing << " faults fail on some runtimes and not on others\n";
  return 0;
}

}  // namespace

void AddSweepCommand(CLI::App& app) {
  auto files = std::make_shared<std::vector<std::string>>();
  CLI::App* cmp = app.add_subcommand(
      "sweep-compare", "The same faults on several runtimes side by side, from sweep JSON reports");
  cmp->add_option("REPORT", *files, "sweep --report-json files")->required();
  cmp->callback([files] {
    int code = CompareMain(*files);
    if (code != 0) Exit(code);
  });
  auto args = std::make_shared<SweepArgs>();
  CLI::App* cmd = app.add_subcommand(
      "sweep", "Fault sweep: fail every call of a run with every errno and mode, check the "
               "error and that nothing is left");
  cmd->add_option("--backend", args->backend,
                  "fake (FakeKernel, default), kernel (the core on the real kernel, root) or "
                  "seccomp (a runtime binary under the seccomp supervisor, root)")
      ->check(CLI::IsMember({"fake", "kernel", "seccomp"}));
  cmd->add_option("--runtime", args->runtime,
                  "seccomp: a runtime profile (`faultline runtimes` lists them: mydocker "
                  "(default), runc, crun, runc-1.3.6, ...)");
  cmd->add_option("--runtime-binary", args->runtime_binary,
                  "seccomp: run this binary instead of the profile's (mydocker: this build's)");
  cmd->add_option("--syscalls", args->syscalls,
                  "seccomp: the syscalls the supervisor sees, comma-separated (default: "
                  "mount, umount2, pivot_root, mkdir(at), rmdir, unlink(at), open(at)(2), "
                  "clone(3), fork, vfork, unshare, setns, the fs* calls, move_mount, open_tree, "
                  "sethostname, seccomp, write)")
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd->add_option("--run-timeout", args->run_timeout,
                  "seccomp: seconds one run may take before it counts as a hang (default 15)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--report-html", args->report_html,
                  "write the report as HTML: the grid of fault points x probes");
  cmd->add_option("--report-md", args->report_md,
                  "write the report as Markdown: summary, outcomes, every leftover and failure "
                  "with its replay command");
  // One value per flag (comma-separated lists, or the flag repeated), so that
  // `--mode crash run-true` leaves run-true to SCENARIO.
  cmd->add_option("--errno", args->errnos,
                  "errnos, comma-separated (default: the reachable ones of each call; with "
                  "--errno-model all: EPERM,EBUSY,ENOSPC,EINVAL,EIO,ENOMEM)")
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd->add_option("--errno-model", args->errno_model,
                  "reachable (default: each call gets the errnos faults/errno_model.yaml says a "
                  "kernel can return there; with --errno, those of the list) or all (the "
                  "--errno list at every call, each run marked reachable or not)")
      ->check(CLI::IsMember({"reachable", "all"}));
  cmd->add_option("--mode", args->modes,
                  "transient,persistent,persistent-path,crash,eintr,enosys,lie,power-loss,"
                  "power-loss-metadata,short (default: the first six; power-loss*: fake "
                  "backend)")
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd->add_option("--report-json", args->report_json, "write the JSON report here");
  cmd->add_option("--point", args->point,
                  "sweep only this point: its number (1-based) or its stable ID "
                  "(runtime:mkdir#4@state)");
  cmd->add_option("--report-junit", args->report_junit,
                  "write the report as JUnit XML (one testcase per run, named by its run ID)");
  cmd->add_option("--shard", args->shard,
                  "K/N: make the K-th (0-based) of N shares of the runs (default: "
                  "GTEST_SHARD_INDEX/GTEST_TOTAL_SHARDS, TEST_SHARD_INDEX/TEST_TOTAL_SHARDS, "
                  "JOB_COMPLETION_INDEX/FAULTLINE_TOTAL_SHARDS); `faultline merge` joins them");
  cmd->add_option("--journal", args->journal,
                  "append every finished run to FILE; started again with it, the sweep "
                  "resumes where it stopped");
  cmd->add_option("-j,--jobs", args->jobs,
                  "runs at once (kernel, seccomp: worker processes, each with its own scratch "
                  "and cgroup parent; default: the number of cores)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--quiet", args->quiet,
                  "seccomp: seconds the whole process tree may sit blocked with no supervised "
                  "call before the run counts as a hang (default 2; 0: wait for --run-timeout)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--plan", args->plan, "one run with this fault plan (compact form)");
  cmd->add_option("--image-tar", args->image_tar,
                  "kernel: the busybox tar (default $FAULTLINE_IMAGE_TAR, else ci/build-image)");
  cmd->add_option("--cgroup", args->cgroup,
                  "fake: the cgroup layout FakeKernel models: hybrid (v1 hierarchies and a "
                  "controller-less cgroup2 at /sys/fs/cgroup/unified; default), v2 (cgroup2 "
                  "at /sys/fs/cgroup) or v1 (v1 hierarchies only)")
      ->check(CLI::IsMember({"v1", "v2", "hybrid"}));
  cmd->add_option("--second-actor", args->second_actors,
                  "the two-actor sweep: A held at every call while this actor runs to its "
                  "end: gc, rm-f, run, image-rm or all (comma-separated). fake; kernel (A "
                  "held by a pause action); seccomp --runtime runc|crun|PEER: rm-f (delete "
                  "--force A) and run (B on A's bundle)");
  cmd->add_flag("--keep-scratch", args->keep_scratch, "kernel: keep the scratch directory");
  cmd->add_flag("--verbose", args->verbose, "keep the runtime's log lines during the runs");
  cmd->add_option("SCENARIO", args->scenario,
                  "a scenario file, or a built-in workload: run-true (default), run-full");
  cmd->callback([args] {
    int code = Main(*args);
    if (code != 0) Exit(code);
  });
}

}  // namespace faultline
