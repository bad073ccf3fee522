// `faultline run`: safety first (a private mount namespace, a per-run scratch
// directory and cgroup parent), then the scenarios, the reports, the cleanup
// and a last check that the host is as it was.
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <memory>

#include <spdlog/spdlog.h>

#include "harness/adapters/builtin_worker.h"
#include "harness/adapters/process.h"
#include "harness/adapters/profile.h"
#include "harness/cli/commands.h"
#include "harness/cli/locate.h"
#include "harness/report/environment.h"
#include "harness/report/report.h"
#include "harness/scenario/runner.h"
#include "runtime/sys/fs_util.h"
#include "runtime/sys/linux_sys.h"
#include "runtime/sys/mountinfo.h"

namespace faultline {
namespace {

namespace fs = std::filesystem;

struct RunArgs {
  std::vector<std::string> paths;
  std::vector<std::string> runtimes;
  std::vector<std::string> runtime_binaries;
  std::string junit, json, html;
  std::string shard;
  std::string filter;
  std::string image_tar;
  std::string mydocker;
  bool no_unshare = false;
  bool keep_scratch = false;
  std::string log_level = "info";
};

[[noreturn]] void Exit(int code) { throw CLI::RuntimeError(code); }

// "all": builtin and every profile with a binary that is installed.
std::vector<std::string> ExpandRuntimes(const std::vector<std::string>& given,
                                        const std::vector<std::string>& search) {
  std::vector<std::string> out;
  for (const auto& g : given) {
    std::string item;
    std::stringstream ss(g);
    while (std::getline(ss, item, ',')) {
      if (item == "all") {
        out.push_back("builtin");
        std::vector<std::string> errors;
        for (const auto& p : LoadAllProfiles(search, &errors)) {
          if (p.kind == "mydocker" ||
              (p.kind == "oci" && !ResolveProfileBinary(p, "").empty())) {
            out.push_back(p.name);
          }
        }
        for (const auto& e : errors) spdlog::error("runtime profile: {}", e);
      } else if (!item.empty()) {
        out.push_back(item);
      }
    }
  }
  if (out.empty()) out.push_back("builtin");
  std::vector<std::string> uniq;
  for (const auto& r : out) {
    if (std::find(uniq.begin(), uniq.end(), r) == uniq.end()) uniq.push_back(r);
  }
  return uniq;
}

// Makes every mount of this process private, in a mount namespace of its
// own: what the run mounts vanishes with it and nothing propagates to the
// host. Must run before any thread exists (unshare(CLONE_NEWNS) needs an
// unshared fs struct).
bool EnterPrivateMountNamespace(std::string* error) {
  if (unshare(CLONE_NEWNS) != 0) {
    *error = std::string("unshare(CLONE_NEWNS): ") + strerror(errno);
    return false;
  }
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    *error = std::string("mount --make-rprivate /: ") + strerror(errno);
    return false;
  }
  return true;
}

int DoRun(const RunArgs& a) {
  spdlog::set_level(spdlog::level::from_str(a.log_level));
  RunOptions o;
  o.paths = a.paths;
  // Profiles: each scenario root's runtimes/ first, then the search path.
  {
    std::vector<std::string> ignored;
    std::vector<std::string> roots;
    for (const auto& f : FindScenarioFiles(a.paths, &ignored)) {
      if (std::find(roots.begin(), roots.end(), f.root) == roots.end()) roots.push_back(f.root);
    }
    for (const auto& r : roots) o.env.profile_search.push_back(r + "/runtimes");
    for (const auto& d : ProfileSearchPath()) {
      if (std::find(o.env.profile_search.begin(), o.env.profile_search.end(), d) ==
          o.env.profile_search.end()) {
        o.env.profile_search.push_back(d);
      }
    }
  }
  o.runtimes = ExpandRuntimes(a.runtimes, o.env.profile_search);
  o.filter = a.filter;
  o.self_command = SelfExe().empty() ? "faultline" : SelfExe();
  std::vector<std::string> profile_names;
  for (const auto& f : ListProfiles(o.env.profile_search)) profile_names.push_back(f.name);
  for (const auto& rt : o.runtimes) {
    if (rt != "builtin" && rt != "fake" &&
        std::find(profile_names.begin(), profile_names.end(), rt) == profile_names.end()) {
      std::string known = "builtin, fake";
      for (const auto& n : profile_names) known += ", " + n;
      std::cerr << "faultline run: unknown runtime '" << rt << "' (" << known
                << ", all; `faultline runtimes` lists the profiles)\n";
      return 2;
    }
  }
  for (const auto& rb : a.runtime_binaries) {
    const size_t eq = rb.find('=');
    if (eq != std::string::npos && rb.find('/') > eq) {
      o.env.runtime_binaries[rb.substr(0, eq)] = rb.substr(eq + 1);
      continue;
    }
    std::vector<std::string> profiled;
    for (const auto& rt : o.runtimes) {
      if (rt != "builtin" && rt != "fake") profiled.push_back(rt);
    }
    if (profiled.size() != 1) {
      std::cerr << "faultline run: --runtime-binary " << rb
                << ": with several runtimes, say which (NAME=PATH)\n";
      return 2;
    }
    o.env.runtime_binaries[profiled[0]] = rb;
  }
  if (!a.shard.empty()) {
    if (!ParseShard(a.shard, &o.shard_index, &o.shard_total)) {
      std::cerr << "faultline run: --shard wants K/N with 0 <= K < N, not '" << a.shard << "'\n";
      return 2;
    }
  } else {
    ShardFromEnv(&o.shard_index, &o.shard_total);
  }
  bool only_fake = o.runtimes.size() == 1 && o.runtimes[0] == "fake";
  if (!only_fake && geteuid() != 0) {
    std::cerr << "faultline run: the " << o.runtimes[0]
              << " runtime needs root (mounts, cgroups); only --runtime fake runs unprivileged\n";
    return 2;
  }

  // 1. Safety: a private mount namespace (opt out with --no-unshare).
  o.env.private_mounts = false;
  if (!a.no_unshare && geteuid() == 0) {
    std::string error;
    if (!EnterPrivateMountNamespace(&error)) {
      std::cerr << "faultline run: " << error << " (use --no-unshare to run without)\n";
      return 2;
    }
    o.env.private_mounts = true;
  }

  // 2. Per-run scratch directory and cgroup parent.
  char tmpl[] = "/tmp/faultline-run-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) {
    std::cerr << "faultline run: mkdtemp /tmp/faultline-run-XXXXXX: " << strerror(errno) << "\n";
    return 2;
  }
  o.env.scratch = tmpl;
  o.env.cgroup_parent = "faultline-" + std::to_string(getpid());
  o.env.self_exe = SelfExe();
  o.env.mydocker_bin = !a.mydocker.empty() ? a.mydocker : DefaultMydockerBinary();
  spdlog::info("scratch {}, cgroup parent {}", o.env.scratch, o.env.cgroup_parent);

  // 3. The image: given, from the environment, or built now.
  std::vector<std::string> setup_errors;
  if (!only_fake) {
    bool built = false;  // inside the scratch directory: removed with it
    std::string error;
    o.env.image_tar =
        FindOrBuildImageTar(a.image_tar, o.env.scratch + "/busybox.tar", &built, &error);
    if (o.env.image_tar.empty()) setup_errors.push_back(error);
  } else {
    o.env.image_tar = a.image_tar;
  }

  RunSummary sum;
  if (setup_errors.empty()) sum = RunScenarios(o);
  for (auto& e : setup_errors) sum.errors.push_back(e);
  if (sum.runtimes.empty()) sum.runtimes = o.runtimes;
  sum.environment = CollectEnvironment();
  if (!sum.started.empty()) sum.environment.started = sum.started;
  sum.environment.runtime = [&] {
    std::string all;
    for (const auto& rt : o.runtimes) all += (all.empty() ? "" : ",") + rt;
    return all;
  }();
  sum.environment.options = {{"paths", a.paths}, {"runtimes", o.runtimes},
                             {"filter", a.filter}};
  sum.shard = std::to_string(o.shard_index) + "/" + std::to_string(o.shard_total);

  // 4. Cleanup, then check the host is as we found it.
  mydocker::LinuxSys sys;
  ReapOrphans();
  if (!only_fake) {
    for (const auto& left : RemoveCgroupParent(sys, o.env.cgroup_parent)) {
      sum.errors.push_back("host cleanup: cgroup left behind: " + left);
    }
  }
  if (a.keep_scratch) {
    std::cerr << "faultline run: kept the scratch directory " << o.env.scratch << "\n";
  } else {
    // Anything still mounted below the scratch directory is a leftover; in
    // the private namespace it goes with the process, but it is reported.
    auto mounts = mydocker::ReadMountinfo(sys);
    if (mounts) {
      for (const auto& m : *mounts) {
        if (m.target.rfind(o.env.scratch + "/", 0) == 0 && m.fstype != "tmpfs") {
          sum.errors.push_back("host cleanup: still mounted: " + m.target + " (" + m.fstype +
                               ")");
        }
      }
    }
    if (auto rm = mydocker::RemoveTree(sys, o.env.scratch, "remove scratch"); !rm) {
      sum.errors.push_back("host cleanup: " + rm.error().Message());
    }
  }

  // 5. Reports.
  int rc = sum.ok() ? 0 : 1;
  if (!a.json.empty()) {
    if (auto e = WriteReport(a.json, DumpJson(ReportJson(sum), 2) + "\n"); !e.empty()) {
      std::cerr << "faultline run: " << e << "\n";
      rc = 2;
    }
  }
  if (!a.junit.empty()) {
    if (auto e = WriteReport(a.junit, ReportJunit(sum)); !e.empty()) {
      std::cerr << "faultline run: " << e << "\n";
      rc = 2;
    }
  }
  if (!a.html.empty()) {
    if (auto e = WriteReport(a.html, ReportHtml(sum)); !e.empty()) {
      std::cerr << "faultline run: " << e << "\n";
      rc = 2;
    }
  }
  std::cout << ReportText(sum) << std::flush;
  return rc;
}

}  // namespace

void AddRunCommand(CLI::App& app) {
  auto args = std::make_shared<RunArgs>();
  CLI::App* run = app.add_subcommand(
      "run", "Run scenario files (or directories of them) on one or more runtimes");
  run->add_option("paths", args->paths, "Scenario files or directories")->required();
  run->add_option("--runtime,-r", args->runtimes,
                  "builtin (default), fake, a runtime profile (`faultline runtimes`: mydocker, "
                  "runc, crun, runc-1.3.6, ...), or all; repeat or comma-separate");
  run->add_option("--runtime-binary", args->runtime_binaries,
                  "PATH (one profiled runtime) or NAME=PATH: run this binary instead of the "
                  "profile's; repeatable");
  run->add_option("--report-junit", args->junit, "Write a JUnit XML report");
  run->add_option("--report-json", args->json, "Write a JSON report");
  run->add_option("--report-html", args->html, "Write an HTML report");
  run->add_option("--shard", args->shard,
                  "K/N: run the K-th of N shards (default: GTEST_SHARD_INDEX/GTEST_TOTAL_SHARDS)");
  run->add_option("--filter", args->filter, "Only scenarios whose name matches this regex");
  run->add_option("--image-tar", args->image_tar,
                  "busybox docker-export tar (default: $FAULTLINE_IMAGE_TAR, else ci/build-image)");
  run->add_option("--mydocker", args->mydocker, "The mydocker binary (default: next to the build)");
  run->add_flag("--no-unshare", args->no_unshare,
                "Do not enter a private mount namespace first (mounts may reach the host)");
  run->add_flag("--keep-scratch", args->keep_scratch, "Keep the per-run scratch directory");
  run->add_option("--log-level", args->log_level, "trace, debug, info, warn, error")
      ->capture_default_str();
  run->callback([args] {
    int rc = DoRun(*args);
    if (rc != 0) Exit(rc);
  });
}

void AddBuiltinWorkerCommand(CLI::App& app) {
  auto req = std::make_shared<std::string>();
  auto res = std::make_shared<std::string>();
  CLI::App* w = app.add_subcommand("__run-builtin", "");  // hidden: no description
  w->group("");
  w->add_option("request", *req)->required();
  w->add_option("result", *res)->required();
  w->callback([req, res] {
    int rc = RunBuiltinWorker(*req, *res);
    if (rc != 0) Exit(rc);
  });
}

}  // namespace faultline
