#include "harness/report/environment.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <set>
#include <sstream>

#include "harness/adapters/process.h"

namespace faultline {

nlohmann::json Environment::ToJson() const {
  return {{"kernel_release", kernel_release},
          {"machine", machine},
          {"arch", arch},
          {"cgroup_layout", cgroup_layout},
          {"backend_cgroup_layout", backend_cgroup_layout},
          {"runtime", runtime},
          {"runtime_binary", runtime_binary},
          {"runtime_version", runtime_version},
          {"faultline_version", faultline_version},
          {"faultline_commit", faultline_commit},
          {"started", started},
          {"options", options}};
}

Environment Environment::FromJson(const nlohmann::json& j) {
  Environment e;
  if (!j.is_object()) return e;
  e.kernel_release = j.value("kernel_release", "");
  e.machine = j.value("machine", "");
  e.arch = j.value("arch", "");
  e.cgroup_layout = j.value("cgroup_layout", "");
  e.backend_cgroup_layout = j.value("backend_cgroup_layout", "");
  e.runtime = j.value("runtime", "");
  e.runtime_binary = j.value("runtime_binary", "");
  e.runtime_version = j.value("runtime_version", "");
  e.faultline_version = j.value("faultline_version", "");
  e.faultline_commit = j.value("faultline_commit", "");
  e.started = j.value("started", "");
  if (j.contains("options")) e.options = j["options"];
  return e;
}

std::string CgroupLayoutFromMountinfo(const std::string& mountinfo) {
  // mountinfo: "36 35 0:31 / /sys/fs/cgroup rw,... shared:9 - cgroup2 cgroup2 rw"
  bool v1 = false, v2 = false, v2_at_top = false;
  std::istringstream in(mountinfo);
  std::string line;
  while (std::getline(in, line)) {
    const size_t dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream head(line.substr(0, dash)), tail(line.substr(dash + 3));
    std::string id, parent, dev, root, target, fstype;
    head >> id >> parent >> dev >> root >> target;
    tail >> fstype;
    if (fstype == "cgroup") v1 = true;
    if (fstype == "cgroup2") {
      v2 = true;
      if (target == "/sys/fs/cgroup") v2_at_top = true;
    }
  }
  if (v2_at_top && !v1) return "v2";
  if (v1 && v2) return "hybrid";
  if (v1) return "v1";
  if (v2) return "v2";
  return "none";
}

std::string BinaryVersion(const std::string& binary) {
  if (binary.empty() || ::access(binary.c_str(), X_OK) != 0) return "";
  char tmpl[] = "/tmp/faultline-version-XXXXXX";
  const int fd = ::mkstemp(tmpl);
  if (fd < 0) return "";
  ::close(fd);
  ProcessResult r = RunProcess({{binary, "--version"}, {}, tmpl, "", true}, 10);
  std::string text = ReadTextFile(tmpl);
  ::unlink(tmpl);
  if (r.exit_code != 0) return "";
  const size_t nl = text.find('\n');
  return nl == std::string::npos ? text : text.substr(0, nl);
}

std::string IsoUtcNow() {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Environment CollectEnvironment() {
  Environment e;
  utsname u{};
  if (::uname(&u) == 0) {
    e.kernel_release = u.release;
    e.machine = u.nodename;
    e.arch = u.machine;
  }
  e.cgroup_layout = CgroupLayoutFromMountinfo(ReadTextFile("/proc/self/mountinfo"));
  e.faultline_version = FaultlineVersion();
  e.faultline_commit = FaultlineCommit();
  e.started = IsoUtcNow();
  return e;
}

std::string EnvironmentLine(const Environment& e) {
  std::string s = "kernel " + (e.kernel_release.empty() ? "?" : e.kernel_release) + " (" +
                  e.arch + "), cgroup " + e.cgroup_layout;
  if (!e.backend_cgroup_layout.empty()) s += " (runs: " + e.backend_cgroup_layout + ")";
  s += ", runtime " + (e.runtime.empty() ? "?" : e.runtime);
  if (!e.runtime_version.empty()) s += " [" + e.runtime_version + "]";
  if (!e.runtime_binary.empty()) s += " (" + e.runtime_binary + ")";
  s += ", faultline " + e.faultline_version + " " + e.faultline_commit + ", machine " +
       e.machine + ", started " + e.started;
  if (!e.options.empty()) s += ", options " + e.options.dump();
  return s;
}

}  // namespace faultline
