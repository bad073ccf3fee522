#include "harness/scenario/steps.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include <spdlog/spdlog.h>

#include "harness/adapters/process.h"
#include "runtime/sys/fs_util.h"
#include "runtime/sys/mountinfo.h"

namespace faultline {
namespace {

using mydocker::Sys;

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

CheckResult Check(const std::string& name, bool ok, const std::string& detail = "") {
  return CheckResult{name, ok, ok ? "" : detail};
}

std::string Tail(const std::string& s, size_t max = 300) {
  std::string t = s;
  while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
  return t.size() <= max ? t : "..." + t.substr(t.size() - max);
}

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
  return s;
}

// The host actions the fake kernel can do (the others need a real kernel).
bool FakeCanDo(const std::string& action) { return action == "sleep" || action == "check"; }

// A process of the harness that unshared its mount namespace (a copy of the
// harness's, with whatever is mounted now) and holds it.
struct Holder {
  pid_t pid = -1;
};

class Executor {
 public:
  Executor(const Scenario& s, RuntimeAdapter& a, const StepsContext& ctx, ScenarioResult* r,
           std::vector<CheckResult>* checks)
      : s_(s), a_(a), ctx_(ctx), r_(r), checks_(checks), sys_(a.ProbeSys()) {}

  std::string Run() {
    scope_ = a_.Scope();
    before_ = TakeSnapshot(sys_, scope_);
    for (const auto& e : before_.errors) r_->notes.push_back("probe before the steps: " + e);
    std::string na;
    for (size_t i = 0; i < s_.steps.size() && na.empty(); ++i) na = DoStep(i);
    if (!na.empty()) {
      End(nullptr);
      return na;
    }
    // ---- the final comparison ----
    if (a_.RealKernel()) ReapOrphans();
    Snapshot after = TakeSnapshot(sys_, scope_);
    std::vector<ProbeDiff> diffs = Compare(before_, after);
    for (const auto& p : s_.expect.probes) {
      std::vector<ProbeDiff> mine;
      for (const auto& d : diffs) {
        if (d.probe == p) mine.push_back(d);
      }
      checks_->push_back(Check("probe." + p, mine.empty(), Describe(mine)));
    }
    for (const auto& d : diffs) {
      if (d.probe == "errors") checks_->push_back(Check("probe.errors", false, Describe({d})));
    }
    End(&diffs);
    return "";
  }

 private:
  std::string Id(const std::string& name) const { return StepContainerId(ctx_.key, name); }

  ContainerRequest Request(const Step& st) const {
    ContainerRequest q;
    q.id = Id(st.target);
    q.image = s_.image;
    q.argv = st.command;
    q.env = s_.env;
    q.hostname = s_.hostname;
    q.cap_add = s_.cap_add;
    q.limits = s_.limits;
    q.timeout_seconds = s_.timeout_seconds;
    return q;
  }

  std::string DoStep(size_t i) {
    const Step& st = s_.steps[i];
    const std::string prefix = "step" + std::to_string(i + 1);
    const std::string label = st.Label(i);
    spdlog::info("{}: {}", s_.name, label);
    StepOutcome o;
    const double t0 = Now();
    if (IsHostAction(st.action)) {
      o = Host(st);
    } else {
      StepRequest q;
      q.action = st.action;
      q.name = st.target;
      if (st.action == "run" || st.action == "create") q.container = Request(st);
      q.container.id = st.target.empty() ? "" : Id(st.target);
      if (st.action == "exec") q.argv = st.command;
      q.detach = st.detach;
      q.force = st.force;
      q.signal = st.signal;
      q.timeout = st.timeout;
      q.pause_at = st.pause_at;
      o = a_.Step(q);
    }
    const double dt = Now() - t0;
    if (!o.not_applicable.empty()) return label + ": " + o.not_applicable;
    char took[32];
    std::snprintf(took, sizeof took, "%.2f s", dt);
    r_->notes.push_back(label + ": exit " + std::to_string(o.exit_code) +
                        (o.timed_out ? " (timed out)" : "") + ", " + took +
                        (o.replay.empty() ? "" : "; " + o.replay));
    for (const auto& n : o.notes) r_->notes.push_back(label + ": " + n);
    if (r_->stdout_excerpt.size() < 4000 && !o.out.empty()) {
      r_->stdout_excerpt += "[" + label + "]\n" + Tail(o.out, 1500) + "\n";
    }
    if (r_->stderr_excerpt.size() < 4000 && !o.err.empty()) {
      r_->stderr_excerpt += "[" + label + "]\n" + Tail(o.err, 1500) + "\n";
    }
    if (r_->runtime_replay.empty() && !o.replay.empty()) r_->runtime_replay = o.replay;
    for (auto& c : CheckStepOutcome(prefix, st.expect, o, dt, a_.RealKernel())) {
      if (!c.ok) c.detail = label + ": " + c.detail;
      checks_->push_back(std::move(c));
    }
    StateChecks(st, prefix, label);
    return "";
  }

  void StateChecks(const Step& st, const std::string& prefix, const std::string& label) {
    const StepExpect& e = st.expect;
    for (const auto& c : e.running) {
      ContainerView v = a_.Inspect(c);
      checks_->push_back(Check(prefix + ".running." + c, v.known && v.running,
                               label + ": " + c + " is not running (" +
                                   (v.known ? "status " + v.status : "the runtime does not know it") +
                                   ")"));
    }
    for (const auto& c : e.gone) {
      ContainerView v = a_.Inspect(c);
      checks_->push_back(Check(prefix + ".gone." + c, !v.known,
                               label + ": the runtime still has " + c + " (status " + v.status +
                                   ", pid " + std::to_string(v.pid) + ")"));
    }
    for (const auto& c : e.held) {
      const std::string why = a_.HeldCall(c);
      checks_->push_back(Check(prefix + ".held." + c, why.empty(), label + ": " + why));
    }
    if (!e.cgroup_live.empty()) {
      ProbeScope cg;
      cg.cgroup_parent = scope_.cgroup_parent;
      cg.holders = false;
      cg.fds = false;
      Snapshot now = TakeSnapshot(sys_, cg);
      for (const auto& c : e.cgroup_live) {
        const std::string want = a_.ExpectedCgroup(Id(c));
        const bool any = want.size() > 2 && want.substr(want.size() - 2) == "/*";
        bool seen = false;
        for (const auto& l : now.probes["cgroups"]) {
          if (any ? l.find(want.substr(0, want.size() - 1)) != std::string::npos
                  : l.size() >= want.size() &&
                        l.compare(l.size() - want.size(), want.size(), want) == 0) {
            seen = true;
          }
        }
        checks_->push_back(Check(prefix + ".cgroup_live." + c, seen,
                                 label + ": no cgroup " + want + " of " + c + " now"));
      }
    }
    if (!e.probes.empty() || !e.probe_shows.empty()) {
      if (a_.RealKernel()) ReapOrphans();
      Snapshot now = TakeSnapshot(sys_, scope_);
      std::vector<ProbeDiff> diffs = Compare(before_, now);
      for (const auto& p : e.probes) {
        std::vector<ProbeDiff> mine;
        for (const auto& d : diffs) {
          if (d.probe == p) mine.push_back(d);
        }
        checks_->push_back(Check(prefix + ".probe." + p, mine.empty(),
                                 label + ": " + Describe(mine)));
      }
      for (const auto& [p, regex] : e.probe_shows) {
        std::regex re(regex, std::regex::ECMAScript);
        bool found = false;
        for (const auto& d : diffs) {
          if (d.probe != p) continue;
          for (const auto& item : d.appeared) found |= std::regex_search(item, re);
        }
        std::string seen;
        for (const auto& d : diffs) {
          if (d.probe == p) seen = Describe({d});
        }
        checks_->push_back(Check(prefix + ".probe_shows." + p, found,
                                 label + ": the " + p + " probe shows nothing new matching /" +
                                     regex + "/" + (seen.empty() ? "" : " (it shows: " + seen + ")")));
      }
    }
    for (const auto& f : e.files) {
      const std::string path = Replace(f.path, "{scratch}", ctx_.env->scratch);
      const bool exists = mydocker::Exists(sys_, path);
      std::string why;
      if (exists != f.exists) {
        why = path + (exists ? " exists" : " does not exist");
      } else if (exists && !f.contains.empty()) {
        auto text = mydocker::ReadFile(sys_, path, "step: read file");
        if (!text) {
          why = text.error().Message();
        } else if (!std::regex_search(*text, std::regex(f.contains, std::regex::ECMAScript |
                                                                        std::regex::multiline))) {
          why = path + " does not match /" + f.contains + "/: " + Tail(*text);
        }
      }
      checks_->push_back(Check(prefix + ".file", why.empty(), label + ": " + why));
    }
  }

  // ---- host actions ----
  StepOutcome Host(const Step& st) {
    StepOutcome o;
    if (st.action == "check") return o;
    if (st.action == "sleep") {
      std::this_thread::sleep_for(std::chrono::duration<double>(st.seconds));
      return o;
    }
    if (st.action == "sh") {
      const std::string base = ctx_.env->scratch + "/steps-sh-" + ctx_.key;
      SpawnOptions opts;
      opts.argv = st.command;
      opts.stdout_path = base + ".out";
      opts.stderr_path = base + ".err";
      ProcessResult p = RunProcess(opts, s_.timeout_seconds);
      o.exit_code = p.started ? p.exit_code : 127;
      o.timed_out = p.timed_out;
      o.out = ReadTextFile(opts.stdout_path);
      o.err = ReadTextFile(opts.stderr_path) + p.start_error;
      ::unlink(opts.stdout_path.c_str());
      ::unlink(opts.stderr_path.c_str());
      o.replay = ShellJoin(st.command);
      return o;
    }
    if (st.action == "hold_mounts") return Hold(st.target);
    if (st.action == "release") return Release(st.target);
    if (st.action == "freeze" || st.action == "thaw") return Freeze(st.target, st.action == "freeze");
    o.exit_code = 1;
    o.err = "unknown host action " + st.action;
    return o;
  }

  StepOutcome Hold(const std::string& name) {
    StepOutcome o;
    const std::string unshare = FindSystemBinary("unshare");
    const std::string sleep = FindSystemBinary("sleep");
    if (unshare.empty() || sleep.empty()) {
      o.exit_code = 1;
      o.err = "hold_mounts: unshare(1) or sleep(1) is not installed";
      return o;
    }
    SpawnOptions opts;
    // A private copy of the harness's mount namespace: what is mounted now
    // (a container's workspace) stays mounted there until the holder ends.
    opts.argv = {unshare, "--mount", "--propagation", "private", sleep, "3600"};
    std::string error;
    pid_t pid = Spawn(opts, &error);
    o.replay = ShellJoin(opts.argv);
    if (pid < 0) {
      o.exit_code = 1;
      o.err = "hold_mounts: " + error;
      return o;
    }
    holders_[name].pid = pid;
    // In place once its mount namespace is no longer ours and it runs sleep.
    struct stat mine {}, its {};
    ::stat("/proc/self/ns/mnt", &mine);
    const double until = Now() + 10;
    bool ready = false;
    while (Now() < until && !ready) {
      const std::string comm = ReadTextFile("/proc/" + std::to_string(pid) + "/comm");
      ready = ::stat(("/proc/" + std::to_string(pid) + "/ns/mnt").c_str(), &its) == 0 &&
              its.st_ino != mine.st_ino && comm == "sleep\n";
      if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (!ready) {
      o.exit_code = 1;
      o.err = "hold_mounts: pid " + std::to_string(pid) + " did not reach its own mount "
              "namespace within 10 s";
    }
    o.notes.push_back("holder " + name + ": pid " + std::to_string(pid));
    return o;
  }

  StepOutcome Release(const std::string& name) {
    StepOutcome o;
    auto it = holders_.find(name);
    if (it == holders_.end() || it->second.pid < 0) {
      o.exit_code = 1;
      o.err = "release: " + name + " is not held";
      return o;
    }
    ::kill(it->second.pid, SIGKILL);
    WaitFor(it->second.pid, 10);
    it->second.pid = -1;
    return o;
  }

  // The freezer of the container's cgroup: v1 freezer.state, else v2
  // cgroup.freeze, found from /proc/<init>/cgroup and the mount table.
  StepOutcome Freeze(const std::string& name, bool freeze) {
    StepOutcome o;
    if (!freeze && frozen_.count(name)) {
      // Thaw what this scenario froze, even once the container is gone.
      const std::string file = frozen_[name];
      const bool v1 = file.size() > 14 && file.substr(file.size() - 14) == "/freezer.state";
      o.replay = std::string("echo ") + (v1 ? "THAWED" : "0") + " > " + file;
      if (!mydocker::Exists(sys_, file)) {
        o.notes.push_back(file + " is gone: the runtime removed the cgroup; nothing to thaw");
      } else if (auto w = mydocker::WriteExisting(sys_, file, v1 ? "THAWED" : "0", "thaw"); !w) {
        o.exit_code = 1;
        o.err = w.error().Message();
      }
      frozen_.erase(name);
      DropHarnessFreezer(name, freezer_root_, &o.notes);
      return o;
    }
    ContainerView v = a_.Inspect(name);
    if (v.pid <= 0) {
      o.exit_code = 1;
      o.err = std::string(freeze ? "freeze" : "thaw") + ": " + name + " has no init pid (status " +
              v.status + ")";
      return o;
    }
    auto cg = mydocker::ReadFile(sys_, "/proc/" + std::to_string(v.pid) + "/cgroup", "freeze");
    auto mounts = mydocker::ReadMountinfo(sys_);
    if (!cg || !mounts) {
      o.exit_code = 1;
      o.err = !cg ? cg.error().Message() : mounts.error().Message();
      return o;
    }
    std::string v1, v2, pids_path;
    std::istringstream in(*cg);
    for (std::string line; std::getline(in, line);) {
      const size_t a = line.find(':'), b = line.find(':', a + 1);
      if (a == std::string::npos || b == std::string::npos) continue;
      const std::string ctl = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
      if (ctl == "freezer") v1 = path;
      if (ctl == "pids") pids_path = path;
      if (line.compare(0, 3, "0::") == 0) v2 = path;
    }
    std::string file, want, freezer_root, pids_root;
    for (const auto& m : *mounts) {
      if (m.fstype == "cgroup" && m.root == "/" &&
          m.super_options.find("freezer") != std::string::npos) {
        freezer_root = m.target;
      }
      if (m.fstype == "cgroup" && m.root == "/" &&
          m.super_options.find("pids") != std::string::npos) {
        pids_root = m.target;
      }
      if (v1.empty() && !v2.empty() && m.fstype == "cgroup2" && file.empty()) {
        file = mydocker::JoinPath(m.target, v2) + "/cgroup.freeze";
        want = freeze ? "1" : "0";
      }
    }
    if (!v1.empty() && !freezer_root.empty()) {
      want = freeze ? "FROZEN" : "THAWED";
      std::string dir = mydocker::JoinPath(freezer_root, v1);
      if (freeze && (v1 == "/" || v1.find("/" + scope_.cgroup_parent + "/") == std::string::npos)) {
        // The runtime joins no freezer cgroup of its own (mydocker on v1):
        // the harness makes one under the run's parent and moves the
        // container's processes (its pids cgroup's members) into it; thaw
        // moves them back and removes it.
        dir = freezer_root + "/" + scope_.cgroup_parent + "/" + Id(name) + "-harness-freezer";
        if (mydocker::Status m = sys_.Mkdir(dir, 0755); !m.ok() && m.err != EEXIST) {
          o.exit_code = 1;
          o.err = "freeze: mkdir " + dir + ": " + mydocker::ErrnoName(m.err);
          return o;
        }
        made_freezer_[name] = dir;
        freezer_root_ = freezer_root;
        std::string procs = std::to_string(v.pid) + "\n";
        if (!pids_root.empty() && !pids_path.empty()) {
          if (auto t = mydocker::ReadFile(sys_, mydocker::JoinPath(pids_root, pids_path) +
                                                     "/cgroup.procs", "freeze")) {
            procs = *t;
          }
        }
        std::istringstream pl(procs);
        for (std::string pid; std::getline(pl, pid);) {
          if (pid.empty()) continue;
          (void)mydocker::WriteExisting(sys_, dir + "/cgroup.procs", pid, "freeze: move");
        }
        o.notes.push_back("the runtime has no freezer cgroup for " + name +
                          ": the harness froze its processes in " + dir);
      } else if (!freeze && made_freezer_.count(name)) {
        dir = made_freezer_[name];
      }
      file = dir + "/freezer.state";
    }
    if (auto w = mydocker::WriteExisting(sys_, file, want, "freeze"); !w) {
      o.exit_code = 1;
      o.err = w.error().Message();
      return o;
    }
    o.replay = "echo " + want + " > " + file;
    // v1: FREEZING until every task stopped; v2: cgroup.events frozen 1.
    const std::string state_file =
        want.size() == 1 ? file.substr(0, file.rfind('/')) + "/cgroup.events" : file;
    const std::string done = want.size() == 1 ? std::string("frozen ") + want : want;
    const double until = Now() + 10;
    std::string seen;
    while (Now() < until) {
      auto t = mydocker::ReadFile(sys_, state_file, "freeze");
      seen = t ? *t : "";
      if (seen.find(done) != std::string::npos) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (seen.find(done) == std::string::npos) {
      o.exit_code = 1;
      o.err = state_file + " did not reach " + done + " within 10 s: " + Tail(seen);
    }
    if (freeze) {
      frozen_[name] = file;
    } else {
      frozen_.erase(name);
      DropHarnessFreezer(name, freezer_root, &o.notes);
    }
    return o;
  }

  // Moves what is left in a freezer cgroup the harness made back to the
  // hierarchy's root and removes it.
  void DropHarnessFreezer(const std::string& name, const std::string& freezer_root,
                          std::vector<std::string>* notes) {
    auto it = made_freezer_.find(name);
    if (it == made_freezer_.end()) return;
    const std::string dir = it->second;
    // A thawed task with a pending SIGKILL exits after the move loop read
    // cgroup.procs; until its parent reaps it the kernel still counts it and
    // rmdir fails with EBUSY. Move and retry for a bounded time, as runc's
    // cgroup removal does.
    const double until = Now() + 5;
    mydocker::Status st;
    for (;;) {
      if (auto t = mydocker::ReadFile(sys_, dir + "/cgroup.procs", "thaw")) {
        std::istringstream pl(*t);
        for (std::string pid; std::getline(pl, pid);) {
          if (!pid.empty()) {
            (void)mydocker::WriteExisting(sys_, freezer_root + "/cgroup.procs", pid,
                                          "thaw: move");
          }
        }
      }
      st = sys_.Rmdir(dir);
      if (st.ok() || st.err != EBUSY || Now() >= until) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (!st.ok()) {
      notes->push_back("thaw: rmdir " + dir + ": " + mydocker::ErrnoName(st.err));
    }
    made_freezer_.erase(it);
  }

  void End(const std::vector<ProbeDiff>* diffs) {
    for (const auto& [name, file] : frozen_) {
      const bool v1 = file.size() > 14 && file.substr(file.size() - 14) == "/freezer.state";
      if (mydocker::WriteExisting(sys_, file, v1 ? "THAWED" : "0", "thaw")) {
        r_->notes.push_back("harness thawed " + name + " after the last step");
      }
    }
    frozen_.clear();
    for (auto it = made_freezer_.begin(); it != made_freezer_.end();) {
      const std::string name = (it++)->first;
      DropHarnessFreezer(name, freezer_root_, &r_->notes);
    }
    for (auto& [name, h] : holders_) {
      if (h.pid < 0) continue;
      ::kill(h.pid, SIGKILL);
      WaitFor(h.pid, 10);
      r_->notes.push_back("harness ended holder " + name + " (pid " + std::to_string(h.pid) +
                          ") after the last step");
    }
    a_.EndSteps(&r_->notes);
    if (a_.RealKernel()) ReapOrphans();
    if (diffs != nullptr && ctx_.clean_leftovers) ctx_.clean_leftovers(*diffs);
  }

  const Scenario& s_;
  RuntimeAdapter& a_;
  const StepsContext& ctx_;
  ScenarioResult* r_;
  std::vector<CheckResult>* checks_;
  Sys& sys_;
  ProbeScope scope_;
  Snapshot before_;
  std::map<std::string, Holder> holders_;
  std::map<std::string, std::string> frozen_;  // name -> its freezer file
  std::map<std::string, std::string> made_freezer_;  // name -> a freezer cgroup the harness made
  std::string freezer_root_;
};

}  // namespace

std::string StepContainerId(const std::string& key, const std::string& name) {
  std::string id = key + "-" + name;
  for (char& c : id) {
    if (c == '_') c = '-';
  }
  return id;
}

std::string StepsNotApplicable(const Scenario& s, const RuntimeAdapter& a) {
  for (size_t i = 0; i < s.steps.size(); ++i) {
    const Step& st = s.steps[i];
    std::string why;
    if (IsHostAction(st.action)) {
      if (!a.RealKernel() && !FakeCanDo(st.action)) {
        why = "the host action " + st.action + " needs a real kernel";
      }
    } else {
      why = a.StepLacks(st.action, st.detach);
      if (why.empty() && !st.pause_at.empty()) why = a.PauseLacks();
    }
    if (!why.empty()) return st.Label(i) + ": " + why;
  }
  return "";
}

std::vector<CheckResult> CheckStepOutcome(const std::string& prefix, const StepExpect& e,
                                          const StepOutcome& o, double seconds,
                                          bool real_kernel) {
  std::vector<CheckResult> out;
  const std::string said = Tail(o.err.empty() ? o.out : o.err);
  if (o.timed_out) out.push_back(Check(prefix + ".timeout", false, "the step passed its timeout"));
  if (e.exit_code) {
    out.push_back(Check(prefix + ".exit", o.exit_code == *e.exit_code,
                        "exit " + std::to_string(o.exit_code) + ", expected " +
                            std::to_string(*e.exit_code) + (said.empty() ? "" : ": " + said)));
  } else if (e.exit_nonzero) {
    out.push_back(Check(prefix + ".exit", o.exit_code != 0, "exit 0, expected a failure"));
  } else if (e.exit_any) {
    // the status is recorded in the notes, not checked
  } else {
    out.push_back(Check(prefix + ".exit", o.exit_code == 0,
                        "exit " + std::to_string(o.exit_code) + ", expected 0" +
                            (said.empty() ? "" : ": " + said)));
  }
  auto patterns = [&](const std::string& name, const std::vector<OutputPattern>& list,
                      const std::string& text, bool want) {
    for (const auto& p : list) {
      bool found = std::regex_search(
          text, std::regex(p.regex, std::regex::ECMAScript | std::regex::multiline));
      if (found != want) {
        out.push_back(Check(prefix + "." + name, false,
                            std::string(want ? "no match for /" : "unwanted match of /") +
                                p.regex + "/ (line " + std::to_string(p.line) + ") in: " +
                                Tail(text)));
        return;
      }
    }
    if (!list.empty()) out.push_back(Check(prefix + "." + name, true));
  };
  patterns("stdout", e.stdout_has, o.out, true);
  patterns("stdout_not", e.stdout_lacks, o.out, false);
  const std::string err_text = real_kernel ? o.err : o.out + o.err;
  patterns("stderr", e.stderr_has, err_text, true);
  patterns("stderr_not", e.stderr_lacks, err_text, false);
  if (e.within_seconds) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "took %.2f s, bound %.2f s", seconds, *e.within_seconds);
    out.push_back(Check(prefix + ".within", seconds <= *e.within_seconds, buf));
  }
  return out;
}

std::string RunSteps(const Scenario& s, RuntimeAdapter& a, const StepsContext& ctx,
                     ScenarioResult* r, std::vector<CheckResult>* checks) {
  Executor x(s, a, ctx, r, checks);
  return x.Run();
}

}  // namespace faultline
