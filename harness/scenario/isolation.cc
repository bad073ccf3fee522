#include "harness/scenario/isolation.h"

#include <algorithm>
#include <cmath>
#include <regex>
#include <set>
#include <sstream>

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
           " hostname faultline-changed-inside; echo changed=$(hostname)";
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
    if (Value(section, "changed") != "faultline-changed-inside") {
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
  return "unknown check '" + check + "'";
}

}  // namespace faultline
