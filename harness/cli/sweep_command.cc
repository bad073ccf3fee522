#include "harness/cli/sweep_command.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>

#include <spdlog/spdlog.h>

#include "harness/adapters/process.h"
#include "harness/scenario/scenario.h"
#include "harness/sweep/sweep.h"

namespace faultline {
namespace {

namespace fs = std::filesystem;

struct SweepArgs {
  std::string backend = "fake";
  std::vector<std::string> errnos;
  std::vector<std::string> modes;
  std::string report_json;
  size_t point = 0;
  std::string plan;
  std::string image_tar;
  bool keep_scratch = false;
  bool verbose = false;
  std::string scenario;
};

[[noreturn]] void Exit(int code) { throw CLI::RuntimeError(code); }

// The source tree: the nearest ancestor of the binary holding ci/build-image.
std::string FindBuildImage() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  for (fs::path start : {exe.parent_path(), fs::current_path(ec)}) {
    for (fs::path d = start; !d.empty(); d = d.parent_path()) {
      if (fs::exists(d / "ci" / "build-image", ec)) return (d / "ci" / "build-image").string();
      if (d == d.parent_path()) break;
    }
  }
  return "";
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

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
  }
  if (!modes.empty()) {
    auto m = ParseModeList(modes);
    if (!m) {
      std::cerr << "faultline sweep: " << m.error().Message() << "\n";
      return 2;
    }
    config.modes = *m;
  }
  if (a.point > 0) config.only_point = a.point;
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

  // The backend.
  std::unique_ptr<SweepBackend> backend;
  std::string built_tar;
  if (a.backend == "fake") {
    backend = MakeFakeSweepBackend();
  } else if (a.backend == "kernel") {
    KernelBackendOptions o;
    o.image_tar = a.image_tar;
    if (o.image_tar.empty() && std::getenv("FAULTLINE_IMAGE_TAR") != nullptr) {
      o.image_tar = std::getenv("FAULTLINE_IMAGE_TAR");
    }
    if (o.image_tar.empty()) {
      const std::string script = FindBuildImage();
      if (script.empty()) {
        std::cerr << "faultline sweep: no image: give --image-tar or FAULTLINE_IMAGE_TAR "
                     "(ci/build-image not found near the binary or the working directory)\n";
        return 2;
      }
      built_tar = "/tmp/faultline-sweep-image-" + std::to_string(getpid()) + ".tar";
      const std::string err_path = built_tar + ".err";
      ProcessResult p = RunProcess({{"/bin/bash", script, built_tar}, {}, "", err_path, true}, 300);
      std::string err_text = ReadText(err_path);
      std::error_code ec;
      fs::remove(err_path, ec);
      if (p.exit_code != 0) {
        std::cerr << "faultline sweep: ci/build-image failed (exit " << p.exit_code
                  << "): " << err_text << "\n";
        fs::remove(built_tar, ec);
        return 2;
      }
      o.image_tar = built_tar;
    }
    o.keep_scratch = a.keep_scratch;
    backend = MakeKernelSweepBackend(o);
  } else {
    std::cerr << "faultline sweep: --backend is fake or kernel, not " << a.backend << "\n";
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
  if (tty) std::fprintf(stderr, "\r\033[K");

  for (const auto& r : report.results) {
    if (r.passed) continue;
    std::cout << "FAIL point " << r.point << " (" << r.process << " " << r.op << " #" << r.nth
              << " " << r.args << ") " << (r.err ? mydocker::ErrnoName(r.err) + " " : "")
              << SweepModeName(r.mode) << ": " << (r.failures.empty() ? "" : r.failures.front())
              << "\n  replay: " << r.replay << "\n";
  }
  for (const auto& e : report.errors) std::cout << "ERROR " << e << "\n";
  size_t clean = 0, handled = 0, gc = 0, not_fired = 0;
  for (const auto& r : report.results) {
    if (r.outcome == "clean") ++clean;
    else if (r.outcome == "handled") ++handled;
    else if (r.outcome == "recovered-by-gc") ++gc;
    else if (r.outcome == "not-fired") ++not_fired;
  }
  std::printf(
      "sweep %s on %s: %zu points (clean run: %zu calls), %zu runs, %zu passed, %zu failed "
      "(clean %zu, handled %zu, recovered by gc %zu, not fired %zu) in %.2f s\n",
      report.workload.c_str(), report.backend.c_str(), report.points, report.clean_calls,
      report.runs, report.passed, report.failed, clean, handled, gc, not_fired, report.seconds);
  if (!a.report_json.empty()) {
    std::ofstream out(a.report_json);
    out << report.ToJson().dump(2) << "\n";
    if (!out) {
      std::cerr << "faultline sweep: cannot write " << a.report_json << "\n";
      return 2;
    }
  }
  if (!report.errors.empty()) return 2;
  return report.failed == 0 ? 0 : 1;
}

}  // namespace

void AddSweepCommand(CLI::App& app) {
  auto args = std::make_shared<SweepArgs>();
  CLI::App* cmd = app.add_subcommand(
      "sweep", "Fault sweep: fail every call of a run with every errno and mode, check the "
               "error and that nothing is left");
  cmd->add_option("--backend", args->backend, "fake (FakeKernel, default) or kernel (root)")
      ->check(CLI::IsMember({"fake", "kernel"}));
  // One value per flag (comma-separated lists, or the flag repeated), so that
  // `--mode crash run-true` leaves run-true to SCENARIO.
  cmd->add_option("--errno", args->errnos,
                  "errnos, comma-separated (default EPERM,EBUSY,ENOSPC,EINVAL,EIO,ENOMEM)")
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd->add_option("--mode", args->modes, "transient,persistent,crash (default: all)")
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd->add_option("--report-json", args->report_json, "write the JSON report here");
  cmd->add_option("--point", args->point, "sweep only this point (1-based)");
  cmd->add_option("--plan", args->plan, "one run with this fault plan (compact form)");
  cmd->add_option("--image-tar", args->image_tar,
                  "kernel: the busybox tar (default $FAULTLINE_IMAGE_TAR, else ci/build-image)");
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
