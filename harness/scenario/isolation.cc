#include "harness/scenario/isolation.h"

#include <algorithm>
#include <cmath>
#include <regex>
#include <set>
#include <sstream>

#include "runtime/rootfs/hardening.h"

namespace faultline {
namespace {

constexpr const char* kMarker = "@@faultline-check ";
constexpr const char* kEnd = "@@faultline-end";

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\n' || s.back() == '\r' ||
                        s.back() == '\t')) {
    s.pop_back();
  }
  size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  return s.substr(i);
}

// The value of "key=value" on its own line, or "" when absent.
std::string Value(const std::string& section, const std::string& key) {
  for (const auto& l : Lines(section)) {
    if (l.rfind(key + "=", 0) == 0) return Trim(l.substr(key.size() + 1));
  }
  return "";
}

std::string Snippet(const std::string& check, const mydocker::CgroupLimits& limits) {
  if (check == "uts") {
    // The hostname as given, then a change inside that must not reach the host.
    return "echo hostname=$(hostname); echo domainname=$(cat /proc/sys/kernel/domainname);"
           " hostname faultline-changed-inside 2>&1; echo changed=$(hostname)";
  }
  if (check == "pid") {
    return "echo pid=$$; echo procs=$(ls /proc | grep -c '^[0-9][0-9]*$');"
           " echo init=$(cat /proc/1/comm)";
  }
  if (check == "mount") return "cat /proc/self/mountinfo";
  if (check == "ipc") return "cat /proc/sysvipc/shm";
  if (check == "net") return "cat /proc/net/dev";
  if (check == "memory") {
    int64_t limit = limits.memory_bytes.value_or(32 << 20);
    // A quarter of the limit must work; twice the limit must get OOM-killed.
    return "dd if=/dev/zero of=/dev/null bs=" + std::to_string(limit / 4) +
           " count=1 2>/dev/null; echo small_rc=$?;"
           " dd if=/dev/zero of=/dev/null bs=" + std::to_string(limit * 2) +
           " count=1 2>/dev/null; echo big_rc=$?";
  }
  if (check == "pids") {
    long long n = limits.pids_limit.value_or(16) + 8;
    return "( i=0; while [ $i -lt " + std::to_string(n) +
           " ]; do sleep 3 & i=$((i+1)); done; echo started=$i ) 2>&1; echo fork_rc=$?";
  }
  if (check == "cpu") {
    return "( time timeout 2 sh -c 'while :; do :; done' ) 2>&1";
  }
  if (check == "cgroup") return "cat /proc/self/cgroup";
  if (check == "cpuset") return "grep Cpus_allowed_list /proc/self/status";
  if (check == "image_layer") {
    return std::string("echo faultline-was-here >> /etc/passwd; echo last=$(tail -n 1 /etc/passwd);"
                       " echo created > /etc/") +
           kImageLayerNewFile + "; echo new=$(cat /etc/" + kImageLayerNewFile + ")";
  }
  if (check == "caps") return "grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb):' /proc/self/status";
  if (check == "no_new_privs") return "grep -E '^NoNewPrivs:' /proc/self/status";
  if (check == "seccomp") {
    // unshare(CLONE_NEWUSER) needs no capability; docker's profile refuses
    // it (EPERM) to a container without CAP_SYS_ADMIN.
    return "grep -E '^Seccomp:' /proc/self/status; unshare -U true 2>&1; echo unshare_rc=$?";
  }
  if (check == "masked_paths") {
    std::string paths;
    for (const char* p : mydocker::MaskedPaths()) paths += std::string(" ") + p;
    // A masked file is the container's /dev/null (char 1:3); a masked
    // directory an empty tmpfs.
    return "for p in" + paths +
           "; do if [ -d $p ]; then echo \"masked $p dir $(ls -A $p | wc -l)\";"
           " elif [ -e $p ]; then echo \"masked $p $(stat -c '%F %t:%T' $p)\"; fi; done";
  }
  if (check == "readonly_paths") {
    std::string paths;
    for (const char* p : mydocker::ReadonlyPaths()) paths += std::string(" ") + p;
    // The fifth field of mountinfo is the mount point, the sixth its options.
    return "for p in" + paths + " /sys; do [ -e $p ] && echo \"exists $p\"; done;"
           " cat /proc/self/mountinfo";
  }
  if (check == "fds") {
    // A child shell lists the first process's fds while that one waits
    // with no redirection of its own (busybox runs some applets in-process
    // and saves redirected fds above 9, so listing from the shell itself,
    // or through a pipe or a file, would show the check's own fds).
    return "sh -c \"ls -1 /proc/$$/fd; true\"";
  }
  return "echo unknown check";
}

// (user+sys)/real from busybox time's "real 0m 2.00s" lines.
bool CpuRatio(const std::string& section, double* ratio, std::string* why) {
  static const std::regex kLine(R"((real|user|sys)\s+(\d+)m\s*([0-9.]+)s)");
  std::map<std::string, double> t;
  for (const auto& l : Lines(section)) {
    std::smatch m;
    if (std::regex_search(l, m, kLine)) {
      t[m[1]] = std::stod(m[2]) * 60 + std::stod(m[3]);
    }
  }
  if (!t.count("real") || !t.count("user") || !t.count("sys") || t["real"] <= 0) {
    *why = "no real/user/sys times in the output";
    return false;
  }
  *ratio = (t["user"] + t["sys"]) / t["real"];
  return true;
}

}  // namespace

std::vector<std::string> IsolationCommand(const std::vector<std::string>& checks,
                                          const mydocker::CgroupLimits& limits) {
  std::string script;
  for (const auto& c : checks) {
    script += "echo '" + std::string(kMarker) + c + "'; " + Snippet(c, limits) + "; ";
  }
  script += "echo '" + std::string(kEnd) + "'";
  return {"sh", "-c", script};
}

std::map<std::string, std::string> SplitSections(const std::string& output) {
  std::map<std::string, std::string> out;
  std::string current;
  bool in = false;
  for (const auto& l : Lines(output)) {
    if (l.rfind(kMarker, 0) == 0) {
      current = Trim(l.substr(std::string(kMarker).size()));
      out[current];
      in = true;
      continue;
    }
    if (l == kEnd) {
      in = false;
      out["@end"] = "";
      continue;
    }
    if (in) out[current] += l + "\n";
  }
  return out;
}

std::string IsolationRequirement(const std::string& check, const mydocker::CgroupLimits& limits,
                                 bool host_shm) {
  if (check == "memory" && !limits.memory_bytes) return "the memory check needs limits.memory";
  if (check == "pids" && !limits.pids_limit) return "the pids check needs limits.pids";
  if (check == "cpu" && !limits.cpus) return "the cpu check needs limits.cpus";
  if (check == "cpuset" && !limits.cpuset_cpus) return "the cpuset check needs limits.cpuset_cpus";
  if (check == "ipc" && !host_shm) return "the ipc check needs setup.host_shm: true";
  return "";
}

std::string ValidateIsolation(const std::string& check, const std::string& section,
                              const IsolationContext& ctx) {
  if (check == "uts") {
    std::string h = Value(section, "hostname");
    if (!ctx.expected_hostname.empty() && h != ctx.expected_hostname) {
      return "hostname inside is '" + h + "', expected '" + ctx.expected_hostname + "'";
    }
    if (h.empty()) return "no hostname printed";
    if (h == ctx.host_hostname_before) return "the container sees the host's hostname '" + h + "'";
    // Without CAP_SYS_ADMIN (docker's default set) the change must be
    // refused (EPERM); with it, it must take effect inside only.
    constexpr int kCapSysAdmin = 21;
    if ((ctx.expected_caps >> kCapSysAdmin & 1) == 0) {
      if (section.find("Operation not permitted") == std::string::npos) {
        return "setting the hostname without CAP_SYS_ADMIN was not refused with EPERM: " +
               Trim(section);
      }
      if (Value(section, "changed") != h) {
        return "the hostname changed inside without CAP_SYS_ADMIN (changed=" +
               Value(section, "changed") + ")";
      }
    } else if (Value(section, "changed") != "faultline-changed-inside") {
      return "could not set the hostname inside (changed=" + Value(section, "changed") + ")";
    }
    if (ctx.host_hostname_after != ctx.host_hostname_before) {
      return "the host's hostname changed from '" + ctx.host_hostname_before + "' to '" +
             ctx.host_hostname_after + "': a change inside the container reached the host";
    }
    return "";
  }
  if (check == "pid") {
    std::string pid = Value(section, "pid");
    if (pid != "1") return "the container's shell is pid " + pid + ", not 1";
    std::string procs = Value(section, "procs");
    int n = procs.empty() ? -1 : std::atoi(procs.c_str());
    // sh, ls and grep (and maybe the subshell): host processes would be many more.
    if (n < 1 || n > 5) return "the container sees " + procs + " processes (expected <= 5)";
    return "";
  }
  if (check == "mount") {
    int count = 0;
    bool root_seen = false;
    for (const auto& l : Lines(section)) {
      std::istringstream in(l);
      std::string id, parent, devs, root, point;
      if (!(in >> id >> parent >> devs >> root >> point)) continue;
      ++count;
      size_t dash = l.find(" - ");
      std::string tail = dash == std::string::npos ? "" : l.substr(dash + 3);
      std::istringstream t(tail);
      std::string fstype, source;
      t >> fstype >> source;
      if (!ctx.marker_source.empty() && source == ctx.marker_source) {
        return "the host-only tmpfs " + ctx.marker_source + " is visible inside: " + l;
      }
      if (!ctx.scratch.empty() && point.rfind(ctx.scratch, 0) == 0) {
        return "a host path is mounted inside: " + l;
      }
      if (point.find("old") != std::string::npos && point.find("root") != std::string::npos) {
        return "the old root is still mounted: " + l;
      }
      if (point == "/") {
        root_seen = true;
        if (fstype != "overlay") return "the container's / is " + fstype + ", not the overlay";
      }
    }
    if (count == 0) return "no mountinfo printed";
    if (!root_seen) return "no / in the container's mount table";
    if (count > 40) return std::to_string(count) + " mounts inside: host mounts leaked in";
    return "";
  }
  if (check == "ipc") {
    if (ctx.shm_key == 0) return "the harness made no host segment (setup.host_shm)";
    if (!ctx.shm_visible_on_host) return "the host segment was not visible on the host";
    for (const auto& l : Lines(section)) {
      std::istringstream in(l);
      std::string key;
      if (in >> key && key == std::to_string(ctx.shm_key)) {
        return "the host's shm segment (key " + key + ") is visible inside: " + l;
      }
    }
    if (section.find("key") == std::string::npos) return "no /proc/sysvipc/shm header printed";
    return "";
  }
  if (check == "net") {
    std::set<std::string> ifaces;
    for (const auto& l : Lines(section)) {
      size_t colon = l.find(':');
      if (colon == std::string::npos || l.find('|') != std::string::npos) continue;
      ifaces.insert(Trim(l.substr(0, colon)));
    }
    if (ifaces.empty()) return "no interfaces listed";
    if (ifaces != std::set<std::string>{"lo"}) {
      std::string all;
      for (const auto& i : ifaces) all += (all.empty() ? "" : ", ") + i;
      return "interfaces inside: " + all + " (expected only lo)";
    }
    return "";
  }
  if (check == "memory") {
    if (Value(section, "small_rc") != "0") {
      return "an allocation of a quarter of the limit failed (rc " + Value(section, "small_rc") +
             ")";
    }
    std::string big = Value(section, "big_rc");
    if (big != "137") {
      return "allocating twice the memory limit gave rc " + (big.empty() ? "?" : big) +
             ", not 137 (OOM kill): the limit is not enforced";
    }
    return "";
  }
  if (check == "pids") {
    if (section.find("can't fork") == std::string::npos &&
        section.find("Resource temporarily unavailable") == std::string::npos) {
      return "every fork succeeded (" + Trim(section) + "): the pids limit is not enforced";
    }
    if (Value(section, "fork_rc") == "0") return "the forking shell exited 0";
    return "";
  }
  if (check == "cpu") {
    double ratio = 0;
    std::string why;
    if (!CpuRatio(section, &ratio, &why)) return why + ": " + Trim(section);
    double cpus = ctx.limits.cpus.value_or(1.0);
    double lo = cpus * 0.5, hi = cpus + 0.2;
    if (ratio < lo || ratio > hi) {
      char buf[160];
      std::snprintf(buf, sizeof buf, "cpu use %.2f of a cpu, expected %.2f (%.2f..%.2f)", ratio,
                    cpus, lo, hi);
      return buf;
    }
    return "";
  }
  if (check == "cgroup") {
    if (ctx.expected_cgroup.empty()) return "the adapter gave no expected cgroup path";
    std::set<std::string> found;
    for (const auto& l : Lines(section)) {
      // "4:memory:/faultline-1/abc" or "0::/faultline-1/abc"
      size_t c1 = l.find(':');
      size_t c2 = c1 == std::string::npos ? c1 : l.find(':', c1 + 1);
      if (c2 == std::string::npos) continue;
      std::string ctrls = l.substr(c1 + 1, c2 - c1 - 1);
      std::string path = l.substr(c2 + 1);
      const std::string& want = ctx.expected_cgroup;
      const bool any = want.size() > 2 && want.compare(want.size() - 2, 2, "/*") == 0;
      const std::string prefix = any ? want.substr(0, want.size() - 1) : "";
      if (any ? (path.rfind(prefix, 0) == 0 && path.size() > prefix.size()) : path == want) {
        std::istringstream cs(ctrls);
        std::string c;
        while (std::getline(cs, c, ',')) found.insert(c);
      }
    }
    for (const char* need : {"memory", "pids"}) {
      if (!found.count(need)) {
        return std::string("the ") + need + " controller's cgroup is not " +
               ctx.expected_cgroup + ": " + Trim(section);
      }
    }
    return "";
  }
  if (check == "cpuset") {
    std::string want = ctx.limits.cpuset_cpus.value_or("");
    std::string line = Trim(section);
    size_t colon = line.find(':');
    std::string got = colon == std::string::npos ? "" : Trim(line.substr(colon + 1));
    if (got != want) return "Cpus_allowed_list is '" + got + "', expected '" + want + "'";
    return "";
  }
  if (check == "image_layer") {
    if (Value(section, "last") != "faultline-was-here") {
      return "the write inside did not take effect (last line: " + Value(section, "last") + ")";
    }
    if (Value(section, "new") != "created") return "a new file could not be created inside";
    if (ctx.passwd_digest_before.empty() || ctx.passwd_digest_after.empty()) {
      return "the image layer's etc/passwd could not be read";
    }
    if (ctx.passwd_digest_after != ctx.passwd_digest_before) {
      return "the image layer's etc/passwd changed: the write went through to the image";
    }
    if (ctx.new_file_in_layer) return "the file created inside appeared in the image layer";
    if (!ctx.upper_dir.empty() && !ctx.upper_has_write) {
      return "the write is not in the write layer " + ctx.upper_dir;
    }
    return "";
  }
  if (check == "caps") {
    // docker's default set (hardening.h): bounding = permitted = effective,
    // nothing inheritable or ambient.
    const uint64_t want = ctx.expected_caps;
    std::map<std::string, uint64_t> sets;
    for (const auto& l : Lines(section)) {
      size_t colon = l.find(':');
      if (colon == std::string::npos) continue;
      sets[l.substr(0, colon)] = std::stoull(Trim(l.substr(colon + 1)), nullptr, 16);
    }
    for (const char* k : {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"}) {
      if (!sets.count(k)) return std::string("no ") + k + " line: " + Trim(section);
    }
    char buf[64];
    auto hex = [&](uint64_t v) {
      std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
      return std::string(buf);
    };
    for (const char* k : {"CapPrm", "CapEff", "CapBnd"}) {
      if (sets[k] != want) return std::string(k) + " is " + hex(sets[k]) + ", expected " + hex(want);
    }
    for (const char* k : {"CapInh", "CapAmb"}) {
      if (sets[k] != 0) return std::string(k) + " is " + hex(sets[k]) + ", expected empty";
    }
    return "";
  }
  if (check == "no_new_privs") {
    std::string v = Trim(section);
    if (v.rfind("NoNewPrivs:", 0) != 0) return "no NoNewPrivs line: " + v;
    if (Trim(v.substr(11)) != "1") return "no_new_privs is off: " + v;
    return "";
  }
  if (check == "seccomp") {
    bool mode2 = false;
    for (const auto& l : Lines(section)) {
      if (l.rfind("Seccomp:", 0) == 0) mode2 = Trim(l.substr(8)) == "2";
    }
    if (!mode2) return "no seccomp filter (Seccomp: is not 2): " + Trim(section);
    if (Value(section, "unshare_rc") == "0") {
      return "unshare(CLONE_NEWUSER) succeeded: the default profile is not applied";
    }
    if (section.find("Operation not permitted") == std::string::npos) {
      return "unshare(CLONE_NEWUSER) failed, but not with EPERM: " + Trim(section);
    }
    return "";
  }
  if (check == "masked_paths") {
    int seen = 0;
    for (const auto& l : Lines(section)) {
      std::istringstream in(l);
      std::string word, path;
      if (!(in >> word >> path) || word != "masked") continue;
      ++seen;
      std::string rest;
      std::getline(in, rest);
      rest = Trim(rest);
      if (rest.rfind("dir ", 0) == 0) {
        if (Trim(rest.substr(4)) != "0") return path + " is not masked: it lists " + rest;
      } else if (rest != "character special file 1:3") {
        return path + " is not masked with /dev/null: " + rest;
      }
    }
    // /proc/kcore and /proc/keys exist on every kernel this runs on.
    if (seen < 2) return "fewer than two masked paths exist inside: " + Trim(section);
    return "";
  }
  if (check == "readonly_paths") {
    std::set<std::string> want;
    for (const auto& l : Lines(section)) {
      if (l.rfind("exists ", 0) == 0) want.insert(l.substr(7));
    }
    if (!want.count("/sys") || !want.count("/proc/sys")) {
      return "/sys or /proc/sys is missing inside: " + Trim(section);
    }
    std::map<std::string, std::string> opts;  // mount point -> options (last mount wins)
    for (const auto& l : Lines(section)) {
      std::istringstream in(l);
      std::string id, parent, devs, root, point, options;
      if (in >> id >> parent >> devs >> root >> point >> options) opts[point] = options;
    }
    for (const auto& p : want) {
      auto it = opts.find(p);
      if (it == opts.end()) return p + " is not a mount of its own (not bound read-only)";
      if (it->second != "ro" && it->second.rfind("ro,", 0) != 0) {
        return p + " is mounted " + it->second + ", not read-only";
      }
    }
    return "";
  }
  if (check == "fds") {
    std::set<std::string> fds;
    for (const auto& l : Lines(section)) {
      std::string t = Trim(l);
      if (!t.empty() && t.find_first_not_of("0123456789") == std::string::npos) fds.insert(t);
    }
    if (fds.empty()) return "no fds listed: " + Trim(section);
    if (fds != std::set<std::string>{"0", "1", "2"}) {
      std::string all;
      for (const auto& f : fds) all += (all.empty() ? "" : " ") + f;
      return "the container's first process has fds " + all + " (expected only 0 1 2)";
    }
    return "";
  }
  return "unknown check '" + check + "'";
}

}  // namespace faultline
