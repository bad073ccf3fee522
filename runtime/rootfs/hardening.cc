#include "runtime/rootfs/hardening.h"

#include <errno.h>

#include <algorithm>
#include <bit>
#include <cctype>
#include <cstdio>
#include <cstdlib>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "runtime/sys/fs_util.h"

namespace mydocker {
namespace {

// Capability numbers (linux/capability.h), by name without "CAP_".
constexpr const char* kCapNames[kLastKnownCap + 1] = {
    "CHOWN",           "DAC_OVERRIDE",   "DAC_READ_SEARCH", "FOWNER",         "FSETID",
    "KILL",            "SETGID",         "SETUID",          "SETPCAP",        "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN",       "NET_RAW",        "IPC_LOCK",
    "IPC_OWNER",       "SYS_MODULE",     "SYS_RAWIO",       "SYS_CHROOT",     "SYS_PTRACE",
    "SYS_PACCT",       "SYS_ADMIN",      "SYS_BOOT",        "SYS_NICE",       "SYS_RESOURCE",
    "SYS_TIME",        "SYS_TTY_CONFIG", "MKNOD",           "LEASE",          "AUDIT_WRITE",
    "AUDIT_CONTROL",   "SETFCAP",        "MAC_OVERRIDE",    "MAC_ADMIN",      "SYSLOG",
    "WAKE_ALARM",      "BLOCK_SUSPEND",  "AUDIT_READ",      "PERFMON",        "BPF",
    "CHECKPOINT_RESTORE",
};

constexpr const char* kDockerDefault[] = {
    "CHOWN",  "DAC_OVERRIDE", "FSETID",  "FOWNER",           "MKNOD",      "NET_RAW", "SETGID",
    "SETUID", "SETFCAP",      "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL",    "AUDIT_WRITE",
};

constexpr const char* kMasked[] = {
    "/proc/asound",      "/proc/acpi",        "/proc/interrupts", "/proc/kcore",
    "/proc/keys",        "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
    "/proc/sched_debug", "/proc/scsi",        "/sys/firmware",    "/sys/devices/virtual/powercap",
};
constexpr const char* kReadonly[] = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// docker's arch names (Go's GOARCH) for includes/excludes.arches, and the
// libseccomp name of the native arch in archMap.
#if defined(__x86_64__)
constexpr const char* kNativeArch = "amd64";
constexpr const char* kNativeScmpArch = "SCMP_ARCH_X86_64";
#elif defined(__aarch64__)
constexpr const char* kNativeArch = "arm64";
constexpr const char* kNativeScmpArch = "SCMP_ARCH_AARCH64";
#else
constexpr const char* kNativeArch = "";
constexpr const char* kNativeScmpArch = "";
#endif

// "6.1.0-18-amd64" >= "4.8"?
bool KernelAtLeast(const std::string& release, const std::string& min) {
  int a = 0, b = 0, x = 0, y = 0;
  if (std::sscanf(release.c_str(), "%d.%d", &a, &b) < 1) return true;
  if (std::sscanf(min.c_str(), "%d.%d", &x, &y) < 1) return true;
  return a != x ? a > x : b >= y;
}

}  // namespace

int CapabilityNumber(const std::string& name) {
  std::string n = Upper(name);
  if (n.rfind("CAP_", 0) == 0) n = n.substr(4);
  for (int i = 0; i <= kLastKnownCap; ++i) {
    if (n == kCapNames[i]) return i;
  }
  return -1;
}

std::string CapabilityName(int cap) {
  if (cap < 0 || cap > kLastKnownCap) return "";
  return std::string("CAP_") + kCapNames[cap];
}

uint64_t DockerDefaultCaps() {
  uint64_t set = 0;
  for (const char* c : kDockerDefault) set |= uint64_t{1} << CapabilityNumber(c);
  return set;
}

Expected<uint64_t> ResolveCaps(const std::vector<std::string>& add,
                               const std::vector<std::string>& drop, uint64_t grantable) {
  const uint64_t kAll = ((uint64_t{1} << (kLastKnownCap + 1)) - 1) & grantable;
  auto set_of = [](const std::vector<std::string>& names, const char* flag, bool* all)
      -> Expected<uint64_t> {
    uint64_t set = 0;
    for (const auto& n : names) {
      if (Upper(n) == "ALL") {
        *all = true;
        continue;
      }
      int c = CapabilityNumber(n);
      if (c < 0) return MakeError(std::string("parse ") + flag, n, EINVAL, "unknown capability");
      set |= uint64_t{1} << c;
    }
    return set;
  };
  bool add_all = false, drop_all = false;
  auto adds = set_of(add, "--cap-add", &add_all);
  if (!adds) return adds.error();
  if (uint64_t missing = *adds & ~grantable) {
    return MakeError("parse --cap-add", CapabilityName(std::countr_zero(missing)), EPERM,
                     "not in mydocker's own bounding set (/proc/self/status CapBnd): "
                     "the container cannot be given it");
  }
  auto drops = set_of(drop, "--cap-drop", &drop_all);
  if (!drops) return drops.error();
  // docker's order: --cap-drop ALL keeps only what --cap-add names;
  // --cap-add ALL starts from every capability; named drops apply last.
  if (drop_all) return add_all ? kAll & ~*drops : *adds;
  uint64_t set = add_all ? kAll : DockerDefaultCaps() | *adds;
  return set & ~*drops;
}

uint64_t OwnCapBounding(Sys& sys) {
  auto status = ReadFile(sys, "/proc/self/status", "read own capabilities");
  if (!status) return ~uint64_t{0};
  size_t at = status->find("\nCapBnd:");
  if (at == std::string::npos) return ~uint64_t{0};
  char* end = nullptr;
  const char* begin = status->c_str() + at + 8;
  uint64_t bnd = std::strtoull(begin, &end, 16);
  return end == begin ? ~uint64_t{0} : bnd;
}

Outcome ApplySecurityOpt(SecuritySpec* spec, const std::string& opt) {
  size_t eq = opt.find_first_of("=:");
  std::string key = opt.substr(0, eq);
  std::string value = eq == std::string::npos ? "" : opt.substr(eq + 1);
  if (key == "seccomp") {
    if (value.empty()) {
      return MakeError("parse --security-opt", opt, EINVAL, "seccomp needs =unconfined or =FILE");
    }
    if (value == "unconfined") {
      spec->seccomp = SeccompMode::kUnconfined;
    } else {
      spec->seccomp = SeccompMode::kFile;
      spec->seccomp_file = value;
    }
    return Outcome::Ok();
  }
  if (key == "no-new-privileges") {
    if (value.empty() || value == "true") spec->no_new_privs = true;
    else if (value == "false") spec->no_new_privs = false;
    else return MakeError("parse --security-opt", opt, EINVAL, "want no-new-privileges[=true|false]");
    return Outcome::Ok();
  }
  return MakeError("parse --security-opt", opt, EINVAL,
                   "mydocker supports seccomp=unconfined|FILE and no-new-privileges[=true|false]");
}

std::span<const char* const> MaskedPaths() { return kMasked; }
std::span<const char* const> ReadonlyPaths() { return kReadonly; }

namespace {

Expected<SeccompAction> ParseAction(const std::string& a, const std::string& where) {
  if (a == "SCMP_ACT_ALLOW") return SeccompAction::kAllow;
  if (a == "SCMP_ACT_ERRNO") return SeccompAction::kErrno;
  if (a == "SCMP_ACT_KILL" || a == "SCMP_ACT_KILL_THREAD") return SeccompAction::kKillThread;
  if (a == "SCMP_ACT_KILL_PROCESS") return SeccompAction::kKillProcess;
  if (a == "SCMP_ACT_TRAP") return SeccompAction::kTrap;
  if (a == "SCMP_ACT_LOG") return SeccompAction::kLog;
  return MakeError("seccomp profile", where, EINVAL,
                   "unsupported action '" + a + "' (SCMP_ACT_TRACE and NOTIFY are not)");
}

Expected<SeccompCmp> ParseCmp(const std::string& op, const std::string& where) {
  if (op == "SCMP_CMP_NE") return SeccompCmp::kNe;
  if (op == "SCMP_CMP_LT") return SeccompCmp::kLt;
  if (op == "SCMP_CMP_LE") return SeccompCmp::kLe;
  if (op == "SCMP_CMP_EQ") return SeccompCmp::kEq;
  if (op == "SCMP_CMP_GE") return SeccompCmp::kGe;
  if (op == "SCMP_CMP_GT") return SeccompCmp::kGt;
  if (op == "SCMP_CMP_MASKED_EQ") return SeccompCmp::kMaskedEq;
  return MakeError("seccomp profile", where, EINVAL, "unknown op '" + op + "'");
}

std::vector<std::string> Strings(const nlohmann::json& j, const char* key) {
  std::vector<std::string> out;
  if (j.contains(key) && j[key].is_array()) {
    for (const auto& v : j[key]) out.push_back(v.get<std::string>());
  }
  return out;
}

bool Has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// Do the rule's includes and excludes let it apply here?
bool Applies(const nlohmann::json& rule, uint64_t caps, const std::string& kernel) {
  auto has_cap = [&](const std::string& c) {
    int n = CapabilityNumber(c);
    return n >= 0 && (caps >> n & 1) != 0;
  };
  if (rule.contains("includes") && rule["includes"].is_object()) {
    const auto& inc = rule["includes"];
    auto arches = Strings(inc, "arches");
    if (!arches.empty() && !Has(arches, kNativeArch)) return false;
    for (const auto& c : Strings(inc, "caps")) {
      if (!has_cap(c)) return false;
    }
    if (inc.contains("minKernel") && inc["minKernel"].is_string() &&
        !KernelAtLeast(kernel, inc["minKernel"].get<std::string>()))
      return false;
  }
  if (rule.contains("excludes") && rule["excludes"].is_object()) {
    const auto& exc = rule["excludes"];
    if (Has(Strings(exc, "arches"), kNativeArch)) return false;
    for (const auto& c : Strings(exc, "caps")) {
      if (has_cap(c)) return false;
    }
  }
  return true;
}

}  // namespace

Expected<std::string> ComposeSeccompProfile(const std::string& base, const std::string& overlay) {
  nlohmann::json b = nlohmann::json::parse(base, nullptr, false);
  nlohmann::json o = nlohmann::json::parse(overlay, nullptr, false);
  if (b.is_discarded() || !b.is_object() || !b.contains("syscalls") || !b["syscalls"].is_array())
    return MakeError("compose seccomp profile", "base", EINVAL, "not a profile with a syscalls array");
  if (o.is_discarded() || !o.is_object())
    return MakeError("compose seccomp profile", "overlay", EINVAL, "not a JSON object");
  try {
    std::vector<std::string> gone = Strings(o, "remove");
    const nlohmann::json rules = o.value("syscalls", nlohmann::json::array());
    for (const auto& r : rules) {
      for (const auto& n : Strings(r, "names")) gone.push_back(n);
    }
    nlohmann::json kept = nlohmann::json::array();
    for (auto r : b["syscalls"]) {
      if (!r.contains("names") || !r["names"].is_array()) {
        kept.push_back(r);
        continue;
      }
      nlohmann::json names = nlohmann::json::array();
      for (const auto& n : r["names"]) {
        if (!n.is_string() || !Has(gone, n.get<std::string>())) names.push_back(n);
      }
      if (names.empty()) continue;
      r["names"] = names;
      kept.push_back(r);
    }
    for (const auto& r : rules) kept.push_back(r);
    b["syscalls"] = kept;
    if (o.contains("defaultErrnoRet")) b["defaultErrnoRet"] = o["defaultErrnoRet"];
  } catch (const nlohmann::json::exception& e) {
    return MakeError("compose seccomp profile", "overlay", EINVAL, e.what());
  }
  return b.dump();
}

const std::string& DefaultSeccompProfile() {
  static const std::string kProfile = [] {
    auto p = ComposeSeccompProfile(SeccompBaseProfile(), SeccompDockerOverlay());
    if (p) return *p;
    spdlog::error("default seccomp profile: {}", p.error().Message());
    return std::string();
  }();
  return kProfile;
}

Expected<SeccompRules> ParseSeccompProfile(const std::string& json, const std::string& where,
                                           uint64_t caps, const std::string& kernel_release) {
  nlohmann::json j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return MakeError("seccomp profile", where, EINVAL, "not a JSON object");
  }
  SeccompRules out;
  try {
    auto def = ParseAction(j.value("defaultAction", std::string()), where);
    if (!def) return def.error();
    out.default_action = *def;
    out.default_errno = j.value("defaultErrnoRet", 1u);
    if (j.contains("archMap") && j["archMap"].is_array()) {
      for (const auto& m : j["archMap"]) {
        if (m.value("architecture", std::string()) != kNativeScmpArch) continue;
        for (const auto& sub : Strings(m, "subArchitectures")) {
          std::string name = sub.rfind("SCMP_ARCH_", 0) == 0 ? sub.substr(10) : sub;
          for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          out.extra_arches.push_back(name);
        }
      }
    }
    if (j.contains("syscalls") && !j["syscalls"].is_array()) {
      return MakeError("seccomp profile", where, EINVAL, "syscalls must be an array");
    }
    size_t index = 0;
    for (const auto& rule : j.value("syscalls", nlohmann::json::array())) {
      const std::string at = where + ": syscalls[" + std::to_string(index++) + "]";
      if (!Applies(rule, caps, kernel_release)) continue;
      auto names = Strings(rule, "names");
      if (rule.contains("name") && rule["name"].is_string()) names.push_back(rule["name"]);
      auto action = ParseAction(rule.value("action", std::string()), at);
      if (!action) return action.error();
      const uint32_t err = rule.value("errnoRet", out.default_errno);
      std::vector<SeccompCondition> conds;
      for (const auto& a : rule.value("args", nlohmann::json::array())) {
        SeccompCondition c;
        c.index = a.value("index", 0u);
        if (c.index > 5) return MakeError("seccomp profile", at, EINVAL, "args index over 5");
        auto op = ParseCmp(a.value("op", std::string()), at);
        if (!op) return op.error();
        c.op = *op;
        c.value = a.value("value", uint64_t{0});
        // SCMP_CMP_MASKED_EQ: value is the mask, valueTwo the datum.
        c.value_two = a.value("valueTwo", uint64_t{0});
        conds.push_back(c);
      }
      // Conditions on distinct arguments all hold (one rule); several on the
      // same argument are alternatives (a rule each), as runc does.
      bool distinct = true;
      for (size_t a = 0; a < conds.size(); ++a)
        for (size_t b = a + 1; b < conds.size(); ++b)
          if (conds[a].index == conds[b].index) distinct = false;
      for (const auto& name : names) {
        if (distinct) {
          out.rules.push_back(SeccompRule{name, *action, err, conds});
        } else {
          for (const auto& c : conds) out.rules.push_back(SeccompRule{name, *action, err, {c}});
        }
      }
    }
  } catch (const nlohmann::json::exception& e) {
    return MakeError("seccomp profile", where, EINVAL, e.what());
  }
  return out;
}

}  // namespace mydocker
