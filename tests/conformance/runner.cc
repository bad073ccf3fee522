#include "tests/conformance/runner.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <linux/mount.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include <yaml-cpp/yaml.h>

#include "fakekernel/fake_kernel.h"
#include "runtime/sys/linux_sys.h"
#include "runtime/sys/mountinfo.h"

namespace faultline::conformance {

namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// The prologue of both runs: a private mount tree, a tmpfs scratch, our pid.
void Prologue(Ctx& c) {
  (void)c.Mount("prologue: make / rprivate", "", "/", "", MS_REC | MS_PRIVATE);
  (void)c.Mount("prologue: tmpfs on base", "conformance", c.P(""), "tmpfs", 0, "mode=755");
  (void)c.SelfPid("prologue: readlink /proc/self");
}

}  // namespace

std::string DetectHost(Host* h) {
  auto mi = mydocker::ParseMountinfo(Slurp("/proc/self/mountinfo"));
  if (!mi.ok()) return "parse /proc/self/mountinfo: " + mi.error().Message();
  for (const auto& m : *mi) {
    if (m.fstype == "cgroup2" && m.root == "/" &&
        (m.target == "/sys/fs/cgroup" || m.target == "/sys/fs/cgroup/unified")) {
      h->v2_root = m.target;
      h->cgroup_v2 = m.target == "/sys/fs/cgroup";
    }
    if (m.fstype == "cgroup") h->has_v1 = true;
  }
  h->layout = h->cgroup_v2 ? "v2" : h->v2_root.empty() ? "v1" : "hybrid";
  if (!h->v2_root.empty()) {
    std::istringstream in(Slurp(h->v2_root + "/cgroup.subtree_control"));
    const std::set<std::string> fake_knows = {"cpuset", "cpu", "io", "memory", "pids"};
    for (std::string w; in >> w;)
      if (fake_knows.count(w)) h->v2_controllers.push_back(w);
  }
  if (h->cgroup_v2) {
    h->cpus = Trim(Slurp("/sys/fs/cgroup/cpuset.cpus.effective"));
    h->mems = Trim(Slurp("/sys/fs/cgroup/cpuset.mems.effective"));
  } else if (h->has_v1) {
    h->cpus = Trim(Slurp("/sys/fs/cgroup/cpuset/cpuset.cpus"));
    h->mems = Trim(Slurp("/sys/fs/cgroup/cpuset/cpuset.mems"));
  }
  if (h->cpus.empty()) h->cpus = "0";
  if (h->mems.empty()) h->mems = "0";
  mydocker::LinuxSys sys;
  if (auto fs = sys.Fsopen("overlay", FSOPEN_CLOEXEC); fs.ok()) {
    if (auto dir = sys.Openat(AT_FDCWD, "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0); dir.ok()) {
      h->overlay_layer_fds =
          sys.Fsconfig(mydocker::FsconfigArgs{fs.value, FSCONFIG_SET_FD, "lowerdir+", "", dir.value})
              .ok();
      ::close(dir.value);
    }
    ::close(fs.value);
  }
  return "";
}

std::string NewRunParams(const Host& h, Params* p) {
  char tmpl[] = "/tmp/faultline-conf-XXXXXX";
  if (!mkdtemp(tmpl)) return std::string("mkdtemp /tmp/faultline-conf-XXXXXX: ") + strerror(errno);
  p->base = tmpl;
  std::random_device rd;
  char buf[64];
  snprintf(buf, sizeof buf, "faultline-conf-%d-%08x", getpid(), rd());
  p->cg = buf;
  p->cgroup_v2 = h.cgroup_v2;
  p->v2_root = h.v2_root;
  p->v2_controllers = h.v2_controllers;
  p->cpus = h.cpus;
  p->mems = h.mems;
  return "";
}

Run RunOnLinux(const Script& s, const Params& p) {
  StepLog log;
  pid_t pid = fork();
  if (pid < 0) return Run{{}, std::string("fork: ") + strerror(errno)};
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    umask(022);  // as FakeKernel's processes start
    if (unshare(CLONE_NEWNS) != 0) {
      log.Fail(std::string("unshare(CLONE_NEWNS): ") + strerror(errno));
      _exit(1);
    }
    close_range(3, ~0U, 0);
    mydocker::LinuxSys sys;
    Ctx c(sys, p, &log);
    Prologue(c);
    s.run(c);
    _exit(0);
  }
  int status = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  Run run;
  for (;;) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      run.failure = "the Linux run timed out (60 s)";
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  run.steps = log.Steps();
  if (run.failure.empty()) run.failure = log.failure();
  if (run.failure.empty() && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
    run.failure = "the Linux run ended with status " + std::to_string(status);
  return run;
}

Run RunOnFake(const Script& s, const Params& p) {
  StepLog log;
  FakeKernelOptions o;
  o.cgroups = p.cgroup_v2          ? FakeCgroupMode::kV2Unified
              : p.v2_root.empty() ? FakeCgroupMode::kV1
                                  : FakeCgroupMode::kV1Hybrid;
  o.cpus = p.cpus;
  o.mems = p.mems;
  FakeKernel fk(o);
  Run run;
  if (auto st = fk.AddDir(p.base, 0700); !st.ok())
    return Run{{}, "fake: AddDir " + p.base + ": " + ErrName(st.err)};
  if (p.cgroup_v2) {
    // The host's root enables these (the VM does as systemd does).
    for (const auto& ctrl : p.v2_controllers) {
      auto fd = fk.Open(p.v2_root + "/cgroup.subtree_control", O_WRONLY, 0);
      std::string w = "+" + ctrl;
      auto r = fk.Write(fd.value, w.data(), w.size());
      (void)fk.Close(fd.value);
      if (!fd.ok() || !r.ok())
        return Run{{}, "fake: enable " + ctrl + " in the v2 root: " + ErrName(fd.err ? fd.err : r.err)};
    }
  }
  mydocker::CloneFn fn = [&]() {
    Ctx c(fk, p, &log);
    Prologue(c);
    s.run(c);
    return 0;
  };
  auto child = fk.Clone(fn, CLONE_NEWNS);
  if (!child.ok()) return Run{{}, "fake: clone: " + ErrName(child.err)};
  auto w = fk.Waitpid(child.value, 0);
  run.steps = log.Steps();
  run.failure = log.failure();
  if (run.failure.empty() && (!w.ok() || !WIFEXITED(w.value) || WEXITSTATUS(w.value) != 0))
    run.failure = "the fake run ended with " + ErrName(w.err) + " status " + std::to_string(w.value);
  return run;
}

namespace {

void CgroupDirsPostOrder(const std::string& top, std::vector<std::string>* out) {
  mydocker::LinuxSys sys;
  auto r = sys.ReadDir(top);
  for (const auto& e : r.value)
    if (e.type == DT_DIR) CgroupDirsPostOrder(top + "/" + e.name, out);
  out->push_back(top);
}

}  // namespace

std::vector<std::string> CleanUpLinux(const Params& p) {
  std::vector<std::string> left;
  mydocker::LinuxSys sys;
  auto mi = mydocker::ParseMountinfo(Slurp("/proc/self/mountinfo"));
  std::vector<std::string> roots;
  if (mi.ok()) {
    for (const auto& m : *mi) {
      if ((m.fstype == "cgroup" || m.fstype == "cgroup2") && m.root == "/")
        if (std::find(roots.begin(), roots.end(), m.target) == roots.end())
          roots.push_back(m.target);
      if (m.target == p.base || m.target.rfind(p.base + "/", 0) == 0)
        left.push_back("mount left on the host: " + m.target);
    }
  } else {
    left.push_back("mountinfo: " + mi.error().Message());
  }
  for (const auto& r : roots) {
    std::string top = r + "/" + p.cg;
    if (!sys.Lstat(top).ok()) continue;
    std::vector<std::string> dirs;
    CgroupDirsPostOrder(top, &dirs);
    for (const auto& d : dirs) {
      left.push_back("cgroup left: " + d);
      if (auto st = sys.Rmdir(d); !st.ok())
        left.push_back("cgroup could not be removed: " + d + ": " + ErrName(st.err));
    }
  }
  auto entries = sys.ReadDir(p.base);
  for (const auto& e : entries.value) left.push_back("left in the scratch dir: " + e.name);
  if (entries.ok() && entries.value.empty()) {
    if (auto st = sys.Rmdir(p.base); !st.ok())
      left.push_back("rmdir " + p.base + ": " + ErrName(st.err));
  } else if (!entries.ok()) {
    left.push_back("readdir " + p.base + ": " + ErrName(entries.err));
  }
  return left;
}

std::string LoadKnownDifferences(const std::string& path, std::vector<KnownDifference>* out) {
  try {
    YAML::Node root = YAML::LoadFile(path);
    YAML::Node list = root["differences"];
    if (!list) return path + ": no 'differences' list";
    if (!list.IsSequence()) return path + ": 'differences' is not a list";
    for (const auto& n : list) {
      KnownDifference d;
      for (const char* key : {"script", "step", "linux", "fake", "why"})
        if (!n[key] || n[key].as<std::string>().empty())
          return path + ": an entry lacks '" + key + "'";
      d.script = n["script"].as<std::string>();
      d.step = n["step"].as<std::string>();
      d.linux = n["linux"].as<std::string>();
      d.fake = n["fake"].as<std::string>();
      d.why = n["why"].as<std::string>();
      if (n["layout"]) d.layout = n["layout"].as<std::string>();
      for (const auto& k : n)
        if (std::set<std::string>{"script", "step", "linux", "fake", "why", "layout"}.count(
                k.first.as<std::string>()) == 0)
          return path + ": unknown key '" + k.first.as<std::string>() + "' in " + d.script +
                 " / " + d.step;
      out->push_back(d);
    }
  } catch (const YAML::Exception& e) {
    return path + ": " + e.what();
  }
  return "";
}

std::vector<std::string> Compare(const std::string& script, const std::string& layout,
                                 const Run& lx, const Run& fk,
                                 const std::vector<KnownDifference>& known) {
  std::vector<std::string> problems;
  if (!lx.failure.empty()) problems.push_back("Linux run: " + lx.failure);
  if (!fk.failure.empty()) problems.push_back("fake run: " + fk.failure);
  std::set<std::string> names;
  for (const auto& s : lx.steps)
    if (!names.insert(s.step).second) problems.push_back("step name used twice: " + s.step);
  std::map<std::string, const KnownDifference*> listed;
  for (const auto& d : known)
    if (d.script == script && (d.layout.empty() || d.layout == layout)) listed[d.step] = &d;
  std::set<std::string> shown;
  size_t n = std::max(lx.steps.size(), fk.steps.size());
  for (size_t i = 0; i < n; ++i) {
    if (i >= lx.steps.size() || i >= fk.steps.size() || lx.steps[i].step != fk.steps[i].step) {
      problems.push_back("step " + std::to_string(i) + ": the runs diverged: Linux '" +
                         (i < lx.steps.size() ? lx.steps[i].step : "<end>") + "', fake '" +
                         (i < fk.steps.size() ? fk.steps[i].step : "<end>") + "'");
      break;
    }
    const StepResult& a = lx.steps[i];
    const StepResult& b = fk.steps[i];
    auto it = listed.find(a.step);
    if (a.result == b.result) {
      if (it != listed.end())
        problems.push_back("listed difference no longer shows: " + script + " / " + a.step +
                           " (both: " + a.result + ")");
      continue;
    }
    if (it != listed.end() && it->second->linux == a.result && it->second->fake == b.result) {
      shown.insert(a.step);
      continue;
    }
    problems.push_back("difference: " + script + " / " + a.step + " (" + a.op + "):\n    linux: " +
                       a.result + "\n    fake:  " + b.result +
                       (it != listed.end() ? "\n    (listed with linux: " + it->second->linux +
                                                 ", fake: " + it->second->fake + ")"
                                           : ""));
    if (it != listed.end()) shown.insert(a.step);
  }
  for (const auto& [step, d] : listed) {
    if (shown.count(step)) continue;
    bool ran = std::any_of(lx.steps.begin(), lx.steps.end(),
                           [&](const StepResult& s) { return s.step == step; });
    if (!ran) problems.push_back("listed difference names no step of the run: " + script + " / " + step);
  }
  return problems;
}

}  // namespace faultline::conformance
