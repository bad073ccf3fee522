// The environment fingerprint every report carries (issue 17): on which
// kernel, cgroup layout, runtime and faultline build a report was made, on
// which machine, when, and with which options, so that reports from a fleet
// (shards, kernels, cgroup layouts) can be told apart and merged.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace faultline {

// Generated at build time (cmake/version.cmake): the project version and
// the git commit ("<12 hex>[-dirty]", "unknown" outside a checkout).
const char* FaultlineVersion();
const char* FaultlineCommit();

struct Environment {
  std::string kernel_release;  // uname -r
  std::string machine;         // uname -n
  std::string arch;            // uname -m
  // The host's cgroup layout: "v1" (only v1 hierarchies), "v2" (cgroup2 at
  // /sys/fs/cgroup), "hybrid" (v1 hierarchies and a cgroup2 mount), "none".
  std::string cgroup_layout;
  // The layout the runs saw, when it is not the host's (the fake backend's
  // model: "fake v1-hybrid", "fake v2"); "" = the host's.
  std::string backend_cgroup_layout;
  std::string runtime;          // "mydocker (in-process core)", "runc", "crun", ...
  std::string runtime_binary;   // "" for the in-process core
  std::string runtime_version;  // first line of `<binary> --version`
  std::string faultline_version;
  std::string faultline_commit;
  std::string started;          // ISO 8601 UTC
  // What the run was asked to do (the options that decide the results);
  // how it was split (shard, jobs, journal) is not an option here.
  nlohmann::json options = nlohmann::json::object();

  nlohmann::json ToJson() const;
  static Environment FromJson(const nlohmann::json& j);
  bool operator==(const Environment&) const = default;
};

// The host part (kernel, machine, arch, cgroup layout, faultline build,
// started = now). mountinfo is read from /proc/self/mountinfo.
Environment CollectEnvironment();

// The cgroup layout from a mountinfo text (see Environment::cgroup_layout).
std::string CgroupLayoutFromMountinfo(const std::string& mountinfo);

// The first line `binary --version` prints ("" when it cannot run).
std::string BinaryVersion(const std::string& binary);

// "2026-12-01T19:47:24Z".
std::string IsoUtcNow();

// Markdown lines ("kernel 6.1.0-30-amd64, cgroup v2, runc 1.1.5 (/usr/sbin/runc), ...").
std::string EnvironmentLine(const Environment& e);

}  // namespace faultline
