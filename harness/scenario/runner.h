// The scenario runner: files -> scenarios -> runs on each runtime -> checks.
//
// For each (scenario, runtime), in file order (after sharding):
//   1. not applicable (the scenario names other runtimes; a fault plan on a
//      runtime that cannot inject in-process; isolation checks on the fake
//      kernel): reported as such with the reason, never silently skipped;
//   2. setup: volumes, a host SysV shm segment, a shared parent mount;
//   3. probes: snapshot before; the containers (load.count of them,
//      load.parallel at once); snapshot after; every requested probe must
//      show no difference;
//   4. checks per container: exit status, output patterns, the runtime error
//      (step, errno), isolation sections, the live cgroup, a second teardown;
//   5. an expected difference (scenarios/runtimes/<rt>.yaml) turns the
//      outcome into "expected-different": with an `expect` override the
//      scenario must pass under it; without one it must fail (and a pass is
//      reported as a failure: the difference went away, drop the entry).
//
// Sharding: scenario files sorted by path, file i goes to shard i % N.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "harness/adapters/adapter.h"
#include "harness/report/environment.h"
#include "harness/scenario/scenario.h"

namespace faultline {

enum class ResultStatus { kPassed, kFailed, kExpectedDifferent, kNotApplicable };
const char* StatusName(ResultStatus s);  // "passed", "failed", "expected-different", "not-applicable"

struct CheckResult {
  std::string name;    // "exit", "stdout", "isolation.uts", "probe.mounts", ...
  bool ok = true;
  std::string detail;  // what was seen, when it failed
};

struct ScenarioResult {
  std::string scenario;  // its name ("isolation/uts"), or the file when broken
  std::string file;
  std::string runtime;   // "*" for a file that did not parse
  std::vector<std::string> labels;
  ResultStatus status = ResultStatus::kPassed;
  std::vector<CheckResult> checks;
  std::vector<std::string> failures;  // one line per failed check
  std::string reason;       // not-applicable / expected-different: why
  std::string difference;   // expected-different: what differs
  std::string replay;       // a command that runs it again
  std::string runtime_replay;  // the adapter's own command for one container
  std::string stdout_excerpt, stderr_excerpt;
  std::vector<std::string> notes;
  int containers = 0;
  double seconds = 0;
};

struct RunOptions {
  std::vector<std::string> paths;
  std::vector<std::string> runtimes = {"builtin"};
  int shard_index = 0;  // K of --shard K/N
  int shard_total = 1;  // N
  std::string filter;   // ECMAScript regex on the scenario name; "" = all
  RunEnv env;           // scratch, cgroup parent, image tar, binaries
  std::string self_command = "faultline";  // for replay commands
};

struct RunSummary {
  std::vector<ScenarioResult> results;
  std::vector<std::string> runtimes;
  std::vector<std::string> errors;  // harness-level problems (host leftovers, ...)
  std::string started;              // ISO 8601 UTC
  double seconds = 0;
  // Where it ran (the CLI fills it; harness/report/environment.h).
  Environment environment;
  std::string shard = "0/1";        // K/N of `faultline run --shard`
  int Count(const std::string& runtime, ResultStatus s) const;
  bool ok() const;  // no failed result and no harness error
};

// Parses "K/N" (0 <= K < N); false on anything else.
bool ParseShard(const std::string& text, int* index, int* total);
// GTEST_SHARD_INDEX / GTEST_TOTAL_SHARDS, when both are set and valid.
bool ShardFromEnv(int* index, int* total);
// Whether the i-th file (0-based, in sorted order) belongs to shard K of N.
inline bool InShard(size_t i, int index, int total) {
  return total <= 1 || static_cast<int>(i % static_cast<size_t>(total)) == index;
}

// Removes <hierarchy>/<parent> in every cgroup hierarchy; returns what could
// not be removed ("<dir> (EBUSY)"). A missing directory is fine.
std::vector<std::string> RemoveCgroupParent(mydocker::Sys& sys, const std::string& parent);

// Runs everything. Never throws; every problem is a result or an error.
RunSummary RunScenarios(const RunOptions& options);

// Checks a finished container against the expectations (pure; unit-tested).
std::vector<CheckResult> CheckContainer(const Expectations& e, const ContainerResult& r,
                                        bool real_kernel);

}  // namespace faultline
