// mydocker's command line, parsed with CLI11 into a plain Command (so the
// parsing is unit-tested without running anything).
#pragma once

#include <string>
#include <vector>

#include "runtime/container/runtime.h"
#include "runtime/util/error.h"

namespace mydocker {

enum class Verb {
  kNone, kRun, kPs, kRm, kGc, kLogs, kStop, kExec, kImageImport, kImageLs, kImageRm
};

struct Command {
  Verb verb = Verb::kNone;
  std::string root = "/var/lib/mydocker";  // --root: images (and containers by default)
  std::string state;                       // --state: containers; empty: --root
  std::string log_level = "warn";
  std::string cgroup_parent = "mydocker";
  RunSpec run;                     // kRun
  std::vector<std::string> names;  // kRm, kImageRm, kStop; kLogs, kExec: one
  int stop_timeout = 10;           // kStop -t: seconds before SIGKILL
  ExecSpec exec;                   // kExec
  bool force = false;              // kRm -f
  bool all = false;                // kPs -a
  std::string tar_path;            // kImageImport
  std::string image_name;          // kImageImport
  ImportLimits import_limits;      // kImageImport --max-entries/--max-size/--max-depth
  // Set when parsing ends without a command to run: --help output or the
  // error, and the exit status to leave with.
  bool done = false;
  int exit_code = 0;
  std::string output;
};

// argv as main gets it; env for -e KEY lookups. Never exits the process.
Command ParseArgs(int argc, const char* const* argv,
                  const std::vector<std::string>& env);

}  // namespace mydocker
