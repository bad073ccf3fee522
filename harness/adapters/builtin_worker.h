// The builtin adapter's worker: `faultline __run-builtin REQUEST RESULT`.
//
// Reads a JSON request (root, cgroup_parent, id, image, argv, env,
// hostname, limits, volumes, faults as YAML text), runs mydocker::Runtime
// over LinuxSys (under FaultInjectingSys when faults are given), and writes
// a JSON result: exit_code, runtime_error, error_step, error_errno,
// error_message, live_checked, live_cgroups (the cgroups probe taken from
// the runtime's on_running hook, while the container runs), notes. The
// container's stdout/stderr are the worker's.
//
// Exit status: the container's, or 125 for a runtime failure (as mydocker).
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "harness/adapters/adapter.h"
#include "harness/adapters/profile.h"

namespace faultline {

int RunBuiltinWorker(const std::string& request_path, const std::string& result_path);

nlohmann::json LimitsToJson(const mydocker::CgroupLimits& l);
mydocker::CgroupLimits LimitsFromJson(const nlohmann::json& j);

std::unique_ptr<RuntimeAdapter> MakeBuiltinAdapter(const RunEnv& env);
std::unique_ptr<RuntimeAdapter> MakeFakeAdapter(const RunEnv& env);
std::unique_ptr<RuntimeAdapter> MakeMydockerAdapter(const RunEnv& env, std::string name = "mydocker");
std::unique_ptr<RuntimeAdapter> MakeOciAdapter(const RuntimeProfile& profile, const RunEnv& env);

}  // namespace faultline
