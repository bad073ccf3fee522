#include "runtime/container/state.h"

#include <errno.h>
#include <signal.h>

#include <nlohmann/json.hpp>

#include "runtime/sys/fs_util.h"

namespace mydocker {

using nlohmann::json;

std::string StateToJson(const ContainerState& s) {
  json vols = json::array();
  for (const auto& v : s.volumes) {
    vols.push_back({{"host", v.host}, {"container", v.container}, {"read_only", v.read_only}});
  }
  json j = {{"id", s.id},
            {"name", s.name},
            {"image", s.image},
            {"command", s.command},
            {"status", s.status},
            {"pid", s.pid},
            {"pid_start", s.pid_start},
            {"runtime_pid", s.runtime_pid},
            {"runtime_start", s.runtime_start},
            {"cgroup_parent", s.cgroup_parent},
            {"hostname", s.hostname},
            {"volumes", vols},
            {"created_unix", s.created_unix},
            {"exit_code", s.exit_code},
            {"detached", s.detached},
            {"caps", s.caps},
            {"no_new_privs", s.no_new_privs},
            {"seccomp", s.seccomp}};
  return j.dump(2) + "\n";
}

Expected<ContainerState> StateFromJson(const std::string& text,
                                       const std::string& path) {
  try {
    json j = json::parse(text);
    ContainerState s;
    s.id = j.at("id").get<std::string>();
    s.name = j.value("name", s.id);
    s.image = j.value("image", "");
    s.command = j.value("command", std::vector<std::string>{});
    s.status = j.value("status", "");
    s.pid = j.value("pid", 0);
    s.pid_start = j.value("pid_start", uint64_t{0});
    s.runtime_pid = j.value("runtime_pid", 0);
    s.runtime_start = j.value("runtime_start", uint64_t{0});
    s.cgroup_parent = j.value("cgroup_parent", "");
    s.hostname = j.value("hostname", "");
    for (const auto& v : j.value("volumes", json::array())) {
      s.volumes.push_back(Volume{v.at("host").get<std::string>(),
                                 v.at("container").get<std::string>(),
                                 v.value("read_only", false)});
    }
    s.created_unix = j.value("created_unix", int64_t{0});
    s.exit_code = j.value("exit_code", -1);
    s.detached = j.value("detached", false);
    s.caps = j.value("caps", uint64_t{0});
    s.no_new_privs = j.value("no_new_privs", true);
    s.seccomp = j.value("seccomp", "default");
    return s;
  } catch (const std::exception& e) {
    return MakeError("state: parse", path, 0, e.what());
  }
}

std::string StateStore::ContainersDir() const { return JoinPath(root_, "containers"); }
std::string StateStore::DirOf(const std::string& id) const {
  return JoinPath(ContainersDir(), id);
}
std::string StateStore::FileOf(const std::string& id) const {
  return JoinPath(DirOf(id), "state.json");
}

std::string StateStore::StoreLockPath() const { return JoinPath(root_, "containers.lock"); }
std::string StateStore::LockOf(const std::string& id) const {
  return JoinPath(DirOf(id), "lock");
}

Outcome StateStore::Write(const ContainerState& s, Durability d) {
  return WriteFileAtomic(sys_, FileOf(s.id), StateToJson(s), 0644, "state: write",
                         /*sync_dir=*/d == Durability::kNew);
}

Expected<ContainerState> StateStore::Read(const std::string& id) {
  auto text = ReadFile(sys_, FileOf(id), "state: read");
  if (!text) return text.error();
  return StateFromJson(*text, FileOf(id));
}

Expected<std::vector<std::string>> StateStore::Ids() {
  auto entries = sys_.ReadDir(ContainersDir());
  if (!entries.ok()) {
    if (entries.err == ENOENT) return std::vector<std::string>{};
    return MakeError("state: list containers", ContainersDir(), entries.err);
  }
  std::vector<std::string> ids;
  for (const auto& e : entries.value) ids.push_back(e.name);
  std::sort(ids.begin(), ids.end());
  return ids;
}

namespace {
// /proc/PID/stat's state (field 3) and start time (field 22); {0, 0} when
// unreadable. Field 2 (comm) may hold spaces and parentheses: count from
// the last ')'.
struct ProcStat {
  char state = 0;
  uint64_t start = 0;
};

ProcStat ReadProcStat(Sys& sys, pid_t pid) {
  auto text = ReadFile(sys, "/proc/" + std::to_string(pid) + "/stat", "proc: read stat");
  if (!text) return {};
  size_t p = text->rfind(')');
  if (p == std::string::npos || p + 2 >= text->size()) return {};
  ProcStat st;
  st.state = (*text)[p + 2];
  size_t field = 2;
  size_t i = p + 1;
  while (i < text->size() && field < 22) {
    if ((*text)[i] == ' ') ++field;
    ++i;
  }
  if (field == 22) st.start = std::strtoull(text->c_str() + i, nullptr, 10);
  return st;
}
}  // namespace

uint64_t ProcessStartTime(Sys& sys, pid_t pid) { return ReadProcStat(sys, pid).start; }

pid_t SelfPid(Sys& sys) {
  auto r = sys.Readlink("/proc/self");
  if (!r.ok()) return 0;
  return static_cast<pid_t>(std::strtol(r.value.c_str(), nullptr, 10));
}

Liveness ProcessLiveness(Sys& sys, pid_t pid, uint64_t start) {
  if (pid <= 0) return Liveness::kDead;
  Status st = sys.Kill(pid, 0);
  if (!st.ok()) {
    if (st.err == ESRCH) return Liveness::kDead;
    if (st.err != EPERM) return Liveness::kUnknown;
  }
  ProcStat now = ReadProcStat(sys, pid);
  if (now.state == 'Z' || now.state == 'X') return Liveness::kDead;  // exited, not reaped
  if (start == 0 || now.start == 0) return Liveness::kUnknown;
  return now.start == start ? Liveness::kAlive : Liveness::kDead;
}

bool ProcessAlive(Sys& sys, pid_t pid, uint64_t start) {
  return ProcessLiveness(sys, pid, start) == Liveness::kAlive;
}

}  // namespace mydocker
