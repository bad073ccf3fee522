// `faultline runtimes`: every runtime profile on the search path, its
// binary, the first line of its --version, and whether it can run here.
#include <unistd.h>

#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>

#include <CLI/CLI.hpp>

#include "harness/adapters/process.h"
#include "harness/adapters/profile.h"
#include "harness/cli/commands.h"
#include "harness/cli/locate.h"

namespace faultline {
namespace {

struct RuntimesArgs {
  std::vector<std::string> profile_dirs;
  std::string mydocker;
};

// Why the profile cannot run here ("" when it can).
std::string CannotRun(const RuntimeProfile& p, const std::string& binary,
                      const std::string& version_error) {
  if (p.kind == "none") return "differences only (kind: none)";
  if (binary.empty()) return "binary '" + p.binary + "' not found";
  if (::access(binary.c_str(), X_OK) != 0) return binary + ": not executable";
  if (!version_error.empty()) return version_error;
  if (p.kind == "oci" &&
      std::find(p.cgroup_managers.begin(), p.cgroup_managers.end(), "cgroupfs") ==
          p.cgroup_managers.end()) {
    return "no cgroupfs cgroup manager (the harness makes the cgroups)";
  }
  if (::geteuid() != 0) return "needs root";
  return "";
}

int Main(const RuntimesArgs& a) {
  std::vector<std::string> search;
  for (const auto& d : a.profile_dirs) search.push_back(d);
  for (const auto& d : ProfileSearchPath()) {
    if (std::find(search.begin(), search.end(), d) == search.end()) search.push_back(d);
  }
  std::vector<std::string> errors;
  auto profiles = LoadAllProfiles(search, &errors);
  std::cout << "profiles from: ";
  for (size_t i = 0; i < search.size(); ++i) std::cout << (i ? ":" : "") << search[i];
  std::cout << "\n";
  std::cout << std::left << std::setw(14) << "NAME" << std::setw(10) << "FAMILY"
            << std::setw(9) << "RUNNABLE" << std::setw(32) << "VERSION" << "BINARY / WHY NOT\n";
  int runnable = 0;
  for (const auto& p : profiles) {
    std::string binary;
    if (p.kind == "mydocker" && p.binary == "mydocker") {
      binary = a.mydocker.empty() ? DefaultMydockerBinary() : a.mydocker;
    } else if (p.kind != "none") {
      binary = ResolveProfileBinary(p, "");
    }
    std::string version_line, version_error;
    if (p.kind != "none" && !binary.empty() && ::access(binary.c_str(), X_OK) == 0) {
      version_line = VersionLine(binary, &version_error);
    }
    const std::string why = CannotRun(p, binary, version_error);
    if (why.empty()) ++runnable;
    std::string shown = version_line.empty() ? "-" : version_line;
    if (!p.version.empty() && VersionNumber(version_line) != p.version) {
      shown += " (profile pins " + p.version + ")";
    }
    std::cout << std::left << std::setw(14) << p.name << std::setw(10) << p.family
              << std::setw(9) << (why.empty() ? "yes" : "no") << std::setw(32) << shown
              << (why.empty() ? binary : why) << "\n";
  }
  for (const auto& e : errors) std::cout << "ERROR " << e << "\n";
  std::cout << profiles.size() << " profiles, " << runnable << " runnable here, "
            << errors.size() << " errors\n";
  return errors.empty() ? 0 : 1;
}

}  // namespace

void AddRuntimesCommand(CLI::App& app) {
  auto args = std::make_shared<RuntimesArgs>();
  CLI::App* cmd = app.add_subcommand(
      "runtimes", "List the runtime profiles found, each binary's --version and whether it can "
                  "run here");
  cmd->add_option("--profiles", args->profile_dirs,
                  "a directory of profiles to search first (repeatable; also "
                  "$FAULTLINE_PROFILE_PATH)");
  cmd->add_option("--mydocker", args->mydocker, "The mydocker binary (default: next to the build)");
  cmd->callback([args] {
    int rc = Main(*args);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace faultline
