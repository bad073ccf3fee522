#include "harness/adapters/builtin_worker.h"
#include "harness/report/report.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <optional>

#include <spdlog/spdlog.h>

#include "harness/adapters/fault_bridge.h"
#include "harness/adapters/process.h"
#include "faults/fault_injecting_sys.h"
#include "faults/init_crash.h"
#include "faults/pause_channel.h"
#include "runtime/container/runtime.h"
#include "runtime/sys/linux_sys.h"

namespace faultline {

nlohmann::json LimitsToJson(const mydocker::CgroupLimits& l) {
  nlohmann::json j = nlohmann::json::object();
  if (l.memory_bytes) j["memory_bytes"] = *l.memory_bytes;
  if (l.cpu_shares) j["cpu_shares"] = *l.cpu_shares;
  if (l.cpus) j["cpus"] = *l.cpus;
  if (l.cpuset_cpus) j["cpuset_cpus"] = *l.cpuset_cpus;
  if (l.pids_limit) j["pids_limit"] = *l.pids_limit;
  return j;
}

mydocker::CgroupLimits LimitsFromJson(const nlohmann::json& j) {
  mydocker::CgroupLimits l;
  if (j.contains("memory_bytes")) l.memory_bytes = j["memory_bytes"].get<int64_t>();
  if (j.contains("cpu_shares")) l.cpu_shares = j["cpu_shares"].get<uint64_t>();
  if (j.contains("cpus")) l.cpus = j["cpus"].get<double>();
  if (j.contains("cpuset_cpus")) l.cpuset_cpus = j["cpuset_cpus"].get<std::string>();
  if (j.contains("pids_limit")) l.pids_limit = j["pids_limit"].get<int64_t>();
  return l;
}

int RunBuiltinWorker(const std::string& request_path, const std::string& result_path) {
  nlohmann::json q, r;
  try {
    q = nlohmann::json::parse(ReadTextFile(request_path));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "faultline __run-builtin: bad request %s: %s\n", request_path.c_str(),
                 e.what());
    return mydocker::kExitRuntimeError;
  }
  auto finish = [&](int code) {
    r["exit_code"] = code;
    WriteTextFile(result_path, DumpJson(r, 2));
    return code;
  };

  mydocker::LinuxSys linux_sys;
  mydocker::Sys* sys = &linux_sys;
  std::unique_ptr<mydocker::Sys> faulty;
  if (q.contains("faults")) {
    std::string error;
    YAML::Node plan;
    try {
      plan = YAML::Load(q["faults"].get<std::string>());
    } catch (const YAML::Exception& e) {
      error = e.what();
    }
    if (error.empty()) faulty = MakeFaultySys(linux_sys, plan, &error);
    if (!faulty) {
      r["runtime_error"] = true;
      r["error_step"] = "fault plan";
      r["error_message"] = error;
      std::fprintf(stderr, "faultline: %s\n", error.c_str());
      return finish(mydocker::kExitRuntimeError);
    }
    sys = faulty.get();
    if (q.value("pause_channel", false)) {
      // A steps scenario's pause_at: the held call (the runtime's, or its
      // init's across clone) notes the harness and waits for its release.
      auto channel = PauseChannel::FromEnv();
      auto* fis = dynamic_cast<FaultInjectingSys*>(faulty.get());
      if (!channel || fis == nullptr) {
        r["runtime_error"] = true;
        r["error_step"] = "pause channel";
        r["error_message"] = std::string("pause channel: ") + kPauseFdsEnv +
                             " is unset or malformed: '" +
                             (std::getenv(kPauseFdsEnv) ? std::getenv(kPauseFdsEnv) : "") + "'";
        std::fprintf(stderr, "faultline: %s\n", r["error_message"].get<std::string>().c_str());
        return finish(mydocker::kExitRuntimeError);
      }
      fis->set_pauser(channel->AsPauser());
      ::unsetenv(kPauseFdsEnv);
      // The init inherits them across clone; nothing exec'd keeps them.
      ::fcntl(channel->notify_fd(), F_SETFD, FD_CLOEXEC);
      ::fcntl(channel->release_fd(), F_SETFD, FD_CLOEXEC);
    }
  }
  // A crash rule in the container's init kills this process (the runtime)
  // at that call, as on FakeKernel and the kernel sweep backend: the init
  // asks the killer thread (faults/init_crash.h), never unwinds.
  // Only a plan with a crash rule gets the thread: nothing else runs beside
  // the runtime while it clones its init.
  std::optional<InitCrash> init_crash;
  auto* crash_fis = dynamic_cast<FaultInjectingSys*>(faulty.get());
  const bool has_crash =
      crash_fis != nullptr &&
      std::any_of(crash_fis->plan().rules().begin(), crash_fis->plan().rules().end(),
                  [](const Rule& rule) { return rule.action.kind == ActionKind::kCrash; });
  if (auto* fis = has_crash ? crash_fis : nullptr) {
    auto killer = StartKillerThread();
    auto made = killer ? InitCrash::Make(*killer) : mydocker::Expected<InitCrash>(killer.error());
    if (!made) {
      r["runtime_error"] = true;
      r["error_step"] = made.error().step;
      r["error_message"] = made.error().Message();
      std::fprintf(stderr, "faultline: %s\n", made.error().Message().c_str());
      return finish(mydocker::kExitRuntimeError);
    }
    init_crash.emplace(std::move(*made));
    init_crash->Attach(*fis);
  }

  const std::string id = q["id"].get<std::string>();
  const std::string cgroup_parent = q["cgroup_parent"].get<std::string>();
  mydocker::RuntimeConfig config;
  config.root = q["root"].get<std::string>();
  config.cgroup_parent = cgroup_parent;
  config.inherited_env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                          "HOME=/root"};
  config.new_id = [id] { return id; };
  config.on_running = [&](const mydocker::ContainerState&) {
    // The probes read the real kernel, never through the fault plan.
    ProbeScope scope;
    scope.cgroup_parent = cgroup_parent;
    scope.holders = false;
    scope.fds = false;
    Snapshot s = TakeSnapshot(linux_sys, scope);
    r["live_checked"] = true;
    r["live_cgroups"] = s.probes["cgroups"];
    for (const auto& e : s.errors) r["notes"].push_back("live probe: " + e);
  };
  mydocker::Runtime rt(*sys, config);

  mydocker::RunSpec spec;
  spec.image = q["image"].get<std::string>();
  spec.argv = q["argv"].get<std::vector<std::string>>();
  spec.env = q["env"].get<std::vector<std::string>>();
  spec.hostname = q.value("hostname", "");
  spec.security.cap_add = q.value("cap_add", std::vector<std::string>{});
  spec.limits = LimitsFromJson(q["limits"]);
  for (const auto& v : q["volumes"]) {
    spec.volumes.push_back(mydocker::Volume{v["host"].get<std::string>(),
                                            v["container"].get<std::string>(),
                                            v["ro"].get<bool>()});
  }
  std::fflush(stdout);
  std::optional<mydocker::Expected<mydocker::RunResult>> ran;
  try {
    ran.emplace(rt.Run(spec));
  } catch (const Crash& c) {
    // The plan's crash action: die as a crashed runtime does, with no
    // cleanup of any kind (the container's init has PDEATHSIG). The adapter
    // sees the signal and runs gc, the documented recovery.
    std::fprintf(stderr, "faultline: crash injected: %s\n", c.what());
    std::fflush(stderr);
    kill(getpid(), SIGKILL);
    _exit(128 + SIGKILL);
  }
  auto& result = *ran;
  if (!result) {
    const mydocker::Error& e = result.error();
    r["runtime_error"] = true;
    r["error_step"] = e.step;
    r["error_errno"] = e.err;
    r["error_message"] = e.Message();
    std::fprintf(stderr, "mydocker: %s\n", e.Message().c_str());
    return finish(mydocker::kExitRuntimeError);
  }
  r["runtime_error"] = false;
  if (!result->message.empty()) {
    r["error_message"] = result->message;
    std::fprintf(stderr, "mydocker: %s\n", result->message.c_str());
  }
  return finish(result->exit_code);
}

}  // namespace faultline
