#include "harness/oci/bundle.h"

#include <cctype>
#include <span>

#include <errno.h>
#include <sys/mount.h>

#include <cmath>
#include <fstream>

#include "runtime/sys/fs_util.h"

namespace faultline {
namespace {

using nlohmann::json;

// Every capability up to CAP_AUDIT_READ, in capability-number order: mydocker's containers are
// full root, so the peers get the same for the same checks to mean the same.
const std::vector<std::string>& AllCaps() {
  static const std::vector<std::string> caps = {
      "CAP_CHOWN",           "CAP_DAC_OVERRIDE",   "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
      "CAP_FSETID",          "CAP_KILL",           "CAP_SETGID",          "CAP_SETUID",
      "CAP_SETPCAP",         "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
      "CAP_NET_ADMIN",       "CAP_NET_RAW",        "CAP_IPC_LOCK",        "CAP_IPC_OWNER",
      "CAP_SYS_MODULE",      "CAP_SYS_RAWIO",      "CAP_SYS_CHROOT",      "CAP_SYS_PTRACE",
      "CAP_SYS_PACCT",       "CAP_SYS_ADMIN",      "CAP_SYS_BOOT",        "CAP_SYS_NICE",
      "CAP_SYS_RESOURCE",    "CAP_SYS_TIME",       "CAP_SYS_TTY_CONFIG",  "CAP_MKNOD",
      "CAP_LEASE",           "CAP_AUDIT_WRITE",    "CAP_AUDIT_CONTROL",   "CAP_SETFCAP",
      "CAP_MAC_OVERRIDE",    "CAP_MAC_ADMIN",      "CAP_SYSLOG",          "CAP_WAKE_ALARM",
      "CAP_BLOCK_SUSPEND",   "CAP_AUDIT_READ"};
  return caps;
}

}  // namespace

uint64_t SelfCapBounding() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("CapBnd:", 0) == 0) return std::strtoull(line.c_str() + 7, nullptr, 16);
  }
  return ~0ull;
}

namespace {

json Paths(std::span<const char* const> paths) {
  json out = json::array();
  for (const char* p : paths) out.push_back(p);
  return out;
}

const char* OciAction(mydocker::SeccompAction a) {
  switch (a) {
    case mydocker::SeccompAction::kAllow: return "SCMP_ACT_ALLOW";
    case mydocker::SeccompAction::kErrno: return "SCMP_ACT_ERRNO";
    case mydocker::SeccompAction::kKillThread: return "SCMP_ACT_KILL";
    case mydocker::SeccompAction::kKillProcess: return "SCMP_ACT_KILL_PROCESS";
    case mydocker::SeccompAction::kTrap: return "SCMP_ACT_TRAP";
    case mydocker::SeccompAction::kLog: return "SCMP_ACT_LOG";
  }
  return "SCMP_ACT_KILL";
}

const char* OciCmp(mydocker::SeccompCmp c) {
  switch (c) {
    case mydocker::SeccompCmp::kNe: return "SCMP_CMP_NE";
    case mydocker::SeccompCmp::kLt: return "SCMP_CMP_LT";
    case mydocker::SeccompCmp::kLe: return "SCMP_CMP_LE";
    case mydocker::SeccompCmp::kEq: return "SCMP_CMP_EQ";
    case mydocker::SeccompCmp::kGe: return "SCMP_CMP_GE";
    case mydocker::SeccompCmp::kGt: return "SCMP_CMP_GT";
    case mydocker::SeccompCmp::kMaskedEq: return "SCMP_CMP_MASKED_EQ";
  }
  return "SCMP_CMP_EQ";
}

}  // namespace

json OciSeccomp(const mydocker::SeccompRules& r) {
  json arches = json::array();
#if defined(__x86_64__)
  arches.push_back("SCMP_ARCH_X86_64");
#elif defined(__aarch64__)
  arches.push_back("SCMP_ARCH_AARCH64");
#endif
  for (const auto& a : r.extra_arches) {
    std::string up = a;
    for (char& c : up) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    arches.push_back("SCMP_ARCH_" + up);
  }
  json syscalls = json::array();
  for (const auto& rule : r.rules) {
    json j = {{"names", {rule.syscall}}, {"action", OciAction(rule.action)}};
    if (rule.action == mydocker::SeccompAction::kErrno) j["errnoRet"] = rule.errno_ret;
    if (!rule.conditions.empty()) {
      json args = json::array();
      for (const auto& c : rule.conditions) {
        args.push_back({{"index", c.index},
                        {"value", c.value},
                        {"valueTwo", c.value_two},
                        {"op", OciCmp(c.op)}});
      }
      j["args"] = args;
    }
    syscalls.push_back(j);
  }
  return {{"defaultAction", OciAction(r.default_action)},
          {"defaultErrnoRet", r.default_errno},
          {"architectures", arches},
          {"syscalls", syscalls}};
}

json BuildOciConfig(const OciSpecInput& in) {
  std::vector<std::string> env = in.env;
  bool has_path = false;
  for (const auto& e : env) has_path |= e.rfind("PATH=", 0) == 0;
  if (!has_path) {
    env.insert(env.begin(), "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  }
  json caps = json::array();
  const uint64_t want = in.caps != 0 ? in.caps : mydocker::DockerDefaultCaps();
  for (size_t i = 0; i < AllCaps().size(); ++i) {
    if ((in.cap_bounding & want) & (1ull << i)) caps.push_back(AllCaps()[i]);
  }
  json process = {{"terminal", false},
                  {"user", {{"uid", 0}, {"gid", 0}}},
                  {"args", in.argv},
                  {"env", env},
                  {"cwd", "/"},
                  {"capabilities",
                   {{"bounding", caps},
                    {"effective", caps},
                    {"permitted", caps},
                    {"inheritable", json::array()},
                    {"ambient", json::array()}}},
                  {"rlimits", json::array({{{"type", "RLIMIT_NOFILE"},
                                            {"hard", 1024},
                                            {"soft", 1024}}})},
                  {"noNewPrivileges", in.no_new_privs}};
  json mounts = json::array({
      {{"destination", "/proc"}, {"type", "proc"}, {"source", "proc"}},
      {{"destination", "/dev"},
       {"type", "tmpfs"},
       {"source", "tmpfs"},
       {"options", {"nosuid", "strictatime", "mode=755", "size=65536k"}}},
      {{"destination", "/dev/pts"},
       {"type", "devpts"},
       {"source", "devpts"},
       {"options", {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}}},
      {{"destination", "/dev/shm"},
       {"type", "tmpfs"},
       {"source", "shm"},
       {"options", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}}},
      {{"destination", "/dev/mqueue"},
       {"type", "mqueue"},
       {"source", "mqueue"},
       {"options", {"nosuid", "noexec", "nodev"}}},
      {{"destination", "/sys"},
       {"type", "sysfs"},
       {"source", "sysfs"},
       {"options", {"nosuid", "noexec", "nodev", "ro"}}},
  });
  for (const auto& v : in.volumes) {
    mounts.push_back({{"destination", v.container},
                      {"type", "bind"},
                      {"source", v.host},
                      {"options", {"rbind", v.read_only ? "ro" : "rw"}}});
  }
  json resources = {{"devices", json::array({{{"allow", false}, {"access", "rwm"}}})}};
  const auto& l = in.limits;
  if (l.memory_bytes) {
    // No swap beyond the limit, as mydocker (memsw = limit where it exists).
    resources["memory"] = {{"limit", *l.memory_bytes}, {"swap", *l.memory_bytes}};
  }
  json cpu = json::object();
  if (l.cpu_shares) cpu["shares"] = *l.cpu_shares;
  if (l.cpus) {
    cpu["period"] = 100000;
    cpu["quota"] = static_cast<int64_t>(std::llround(*l.cpus * 100000));
  }
  if (l.cpuset_cpus) cpu["cpus"] = *l.cpuset_cpus;
  if (!cpu.empty()) resources["cpu"] = cpu;
  if (l.pids_limit) resources["pids"] = {{"limit", *l.pids_limit <= 0 ? -1 : *l.pids_limit}};
  json linux_section = {
      {"cgroupsPath", in.cgroups_path},
      {"resources", resources},
      {"namespaces",
       json::array({{{"type", "pid"}},
                    {{"type", "network"}},
                    {{"type", "ipc"}},
                    {{"type", "uts"}},
                    {{"type", "mount"}}})},
      {"maskedPaths", Paths(mydocker::MaskedPaths())},
      {"readonlyPaths", Paths(mydocker::ReadonlyPaths())}};
  if (in.seccomp) linux_section["seccomp"] = OciSeccomp(*in.seccomp);
  return {{"ociVersion", "1.0.2"},
          {"process", process},
          {"root", {{"path", in.rootfs}, {"readonly", false}}},
          {"hostname", in.hostname},
          {"mounts", mounts},
          {"linux", linux_section}};
}

mydocker::Expected<Bundle> CreateBundle(mydocker::Sys& sys, const std::string& dir,
                                        const std::string& layer, OciSpecInput in) {
  if (auto st = sys.Mkdir(dir, 0700); !st.ok()) {
    return mydocker::MakeError("oci bundle: create directory", dir, st.err);
  }
  mydocker::WorkspaceSpec ws;
  ws.dir = dir;
  ws.layers = {layer};
  ws.hostname = in.hostname;
  auto w = mydocker::Workspace::Create(sys, ws);
  if (!w) {
    (void)mydocker::RemoveTree(sys, dir, "oci bundle: remove directory");
    return w.error();
  }
  in.rootfs = w->paths().merged;
  mydocker::Outcome o = mydocker::WriteFile(sys, mydocker::JoinPath(dir, "config.json"),
                                            BuildOciConfig(in).dump(2) + "\n", 0600,
                                            "oci bundle: write config.json");
  if (!o) {
    (void)DestroyBundle(sys, dir);
    return o.error();
  }
  return Bundle{dir, w->paths()};
}

mydocker::Outcome DestroyBundle(mydocker::Sys& sys, const std::string& dir) {
  if (!mydocker::Exists(sys, dir)) return mydocker::Outcome::Ok();
  MYDOCKER_TRY(mydocker::Workspace::At(sys, dir).Destroy());
  return mydocker::RemoveTree(sys, dir, "oci bundle: remove directory");
}

mydocker::Outcome HideUnifiedControllers(mydocker::Sys& sys, const std::string& empty_file,
                                         std::string* hidden) {
  static constexpr const char* kControllers = "/sys/fs/cgroup/unified/cgroup.controllers";
  hidden->clear();
  if (!mydocker::Exists(sys, kControllers)) return mydocker::Outcome::Ok();
  auto text = mydocker::ReadFile(sys, kControllers, "crun: read unified controllers");
  if (!text) return text.error();
  std::string controllers = *text;
  while (!controllers.empty() && controllers.back() == '\n') controllers.pop_back();
  if (controllers.empty()) return mydocker::Outcome::Ok();
  MYDOCKER_TRY(mydocker::WriteFile(sys, empty_file, "", 0444, "crun: write empty controllers"));
  if (auto st = sys.Mount({empty_file, kControllers, "", MS_BIND, ""}); !st.ok()) {
    return mydocker::MakeError("crun: bind empty cgroup.controllers", kControllers, st.err);
  }
  *hidden = controllers;
  return mydocker::Outcome::Ok();
}

}  // namespace faultline
