#include "harness/sweep/sweep.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <cctype>
#include <algorithm>
#include <chrono>
#include <atomic>
#include <map>
#include <mutex>
#include <regex>
#include <thread>
#include <set>
#include <sstream>
#include <cstdio>

#include <spdlog/spdlog.h>

#include "faults/errno_model.h"
#include "harness/report/report.h"
#include "harness/scenario/scenario.h"
#include "runtime/container/runtime.h"

namespace faultline {
namespace {

using mydocker::Error;
using mydocker::MakeError;


bool Contains(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

std::string ProcessName(pid_t pid) {
  if (pid == kSweepRuntimePid) return "runtime";
  if (pid == kSweepInitPid) return "init";
  return "pid " + std::to_string(pid);
}

std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

// Ops whose call names a path (CallInfo::path): an error about them must
// name one too. fd and process ops (read, close, dup2, prctl, ...) need a
// step only.
bool OpHasPath(const std::string& op) {
  static const std::set<std::string> kPathOps = {
      "mount", "umount2", "pivot_root", "move_mount", "mkdir",   "rmdir",
      "unlink", "rename", "symlink",    "link",       "mknod",   "chmod",
      "lchown", "lsetxattr", "lstat",  "statfs",     "readdir",    "readlink", "open",
      "chdir",  "execve",
      // Root-confined and fd-relative calls name a path below a dirfd.
      "openat2", "openat", "mkdirat", "mknodat", "symlinkat", "fchmodat", "unlinkat",
      "fstatat", "open_tree", "mount_setattr"};
  return kPathOps.count(op) != 0;
}

// The last non-empty line of a runtime's stderr.
std::string LastLine(const std::string& text) {
  std::string t = text;
  while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
  const size_t nl = t.rfind('\n');
  return nl == std::string::npos ? t : t.substr(nl + 1);
}

// Does a runtime's message name err: "EIO", or its text ("input/output
// error", any case: Go and C runtimes print strerror)?
bool NamesErrno(const std::string& message, int err) {
  if (Contains(message, mydocker::ErrnoName(err))) return true;
  const char* desc = strerrordesc_np(err);
  if (desc == nullptr) return false;
  auto lower = [](std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  return Contains(lower(message), lower(desc));
}

// Does the message name an errno the way mydocker's errors do ("EBUSY
// (Device or resource busy)")?
bool NamesSomeErrno(const std::string& message) {
  static const std::regex kErrno(R"(\bE[A-Z0-9]{2,} \()");
  return std::regex_search(message, kErrno);
}

struct Point {
  pid_t pid = 0;
  std::string op;
  std::string args;
  std::string path;
  uint64_t nth = 0;
  Reachability reach;
};

// What the classifier needs to know of a call.
ClassifiedCall ToClassified(const SweepCall& c) {
  ClassifiedCall cc;
  cc.pid = c.real_pid ? c.real_pid : c.pid;
  cc.host_paths = c.host_paths;
  cc.op = c.op;
  cc.path = c.path;
  cc.path2 = c.path2;
  cc.fstype = c.fstype;
  cc.flags = c.flags;
  cc.fd = FdFromArgs(c.args);
  cc.handle = c.handle;
  cc.err = c.err;
  return cc;
}

Reachability ReachOf(const CallClassifier& cls, const SweepCall& c) {
  return ErrnoModel::Builtin().Lookup(c.op, cls.Classes(ToClassified(c)));
}

void ObserveCall(CallClassifier& cls, const SweepCall& c) {
  cls.Observe(ToClassified(c));
}

// Is a lie (success, no effect) something a kernel does at this call?
bool LieReachable(const std::string& op, uint64_t flags) {
  if (op == "umount2") return (flags & 2) != 0;  // MNT_DETACH of a busy mount: lazily
  return op == "kill" || op == "pidfd_send_signal";  // a task in D state
}

// "fd=3 len=4096" -> 4096; 0 when the arguments name no length.
size_t LenFromArgs(const std::string& args) {
  const size_t at = args.find("len=");
  if (at == std::string::npos || (at > 0 && args[at - 1] != ' ')) return 0;
  return static_cast<size_t>(std::strtoull(args.c_str() + at + 4, nullptr, 10));
}

// Is a short transfer something a kernel does at this call? (The model's
// short_min for its class: errno_model.yaml.)
bool ShortReachable(const std::string& op, const std::string& args, const Reachability& reach) {
  return (op == "read" || op == "write") && reach.ShortReachable(LenFromArgs(args));
}

// Restores spdlog's level when the sweep ends.
class QuietLogs {
 public:
  explicit QuietLogs(bool verbose) : level_(spdlog::get_level()), active_(!verbose) {
    if (active_) spdlog::set_level(spdlog::level::off);
  }
  ~QuietLogs() {
    if (active_) spdlog::set_level(level_);
  }

 private:
  spdlog::level::level_enum level_;
  bool active_;
};

std::vector<std::string> TraceAround(const SweepRun& run) {
  size_t fired = run.calls.size();
  for (size_t i = 0; i < run.calls.size(); ++i) {
    if (run.calls[i].fired) {
      fired = i;
      break;
    }
  }
  std::vector<std::string> out;
  if (fired == run.calls.size()) return out;
  size_t from = fired >= 3 ? fired - 3 : 0;
  size_t to = std::min(run.calls.size(), fired + 6);
  for (size_t i = from; i < to; ++i) {
    const SweepCall& c = run.calls[i];
    out.push_back(std::to_string(i + 1) + " " + ProcessName(c.pid) + " " + c.op + " " + c.args +
                  " -> " + (c.err ? ErrnoToName(c.err) : std::string("ok")) +
                  (c.fired ? " [fault]" : "") + (c.after_crash ? " [after crash]" : ""));
  }
  return out;
}

}  // namespace

std::vector<std::string> SplitList(const std::vector<std::string>& items) {
  std::vector<std::string> out;
  for (const auto& item : items) {
    std::stringstream ss(item);
    std::string part;
    while (std::getline(ss, part, ',')) {
      part.erase(0, part.find_first_not_of(" \t"));
      part.erase(part.find_last_not_of(" \t") + 1);
      if (!part.empty()) out.push_back(part);
    }
  }
  return out;
}

const char* SweepModeName(SweepMode m) {
  switch (m) {
    case SweepMode::kTransient: return "transient";
    case SweepMode::kPersistent: return "persistent";
    case SweepMode::kPersistentPath: return "persistent-path";
    case SweepMode::kCrash: return "crash";
    case SweepMode::kEintr: return "eintr";
    case SweepMode::kEnosys: return "enosys";
    case SweepMode::kLie: return "lie";
    case SweepMode::kPowerLoss: return "power-loss";
    case SweepMode::kShort: return "short";
    case SweepMode::kPowerLossMetadata: return "power-loss-metadata";
  }
  return "?";
}

bool SweepModeFromName(const std::string& name, SweepMode* m) {
  if (name == "transient" || name == "once") *m = SweepMode::kTransient;
  else if (name == "persistent") *m = SweepMode::kPersistent;
  else if (name == "persistent-path" || name == "persistent_path") *m = SweepMode::kPersistentPath;
  else if (name == "crash") *m = SweepMode::kCrash;
  else if (name == "eintr") *m = SweepMode::kEintr;
  else if (name == "enosys") *m = SweepMode::kEnosys;
  else if (name == "lie") *m = SweepMode::kLie;
  else if (name == "power-loss" || name == "power_loss") *m = SweepMode::kPowerLoss;
  else if (name == "short") *m = SweepMode::kShort;
  else if (name == "power-loss-metadata" || name == "power_loss_metadata")
    *m = SweepMode::kPowerLossMetadata;
  else return false;
  return true;
}

bool IsPowerLoss(SweepMode m) {
  return m == SweepMode::kPowerLoss || m == SweepMode::kPowerLossMetadata;
}

bool ModeTakesErrno(SweepMode m) {
  return m == SweepMode::kTransient || m == SweepMode::kPersistent ||
         m == SweepMode::kPersistentPath;
}

bool HasOlderFallback(const std::string& op) {
  static const std::set<std::string> kNewer = {
      "fsopen",      "fsconfig",       "fsmount",       "fspick", "move_mount",
      "open_tree",   "open_tree_attr", "mount_setattr", "clone3", "openat2",
      "close_range", "pidfd_open"};
  return kNewer.count(op) != 0;
}

mydocker::Expected<std::vector<int>> ParseErrnoList(const std::vector<std::string>& items) {
  std::vector<int> out;
  for (const auto& name : SplitList(items)) {
    int e = 0;
    if (!ErrnoFromName(name, &e) || e <= 0) {
      return MakeError("sweep: --errno", name, EINVAL, "not an errno name (EPERM, EIO, ...)");
    }
    if (std::find(out.begin(), out.end(), e) == out.end()) out.push_back(e);
  }
  if (out.empty()) return MakeError("sweep: --errno", "", EINVAL, "the list is empty");
  return out;
}

mydocker::Expected<std::vector<SweepMode>> ParseModeList(const std::vector<std::string>& items) {
  std::vector<SweepMode> out;
  for (const auto& name : SplitList(items)) {
    SweepMode m;
    if (!SweepModeFromName(name, &m)) {
      return MakeError("sweep: --mode", name, EINVAL,
                       "a mode is transient, persistent, persistent-path, crash, eintr, enosys, "
                       "lie, power-loss, power-loss-metadata or short");
    }
    if (std::find(out.begin(), out.end(), m) == out.end()) out.push_back(m);
  }
  if (out.empty()) return MakeError("sweep: --mode", "", EINVAL, "the list is empty");
  return out;
}

std::vector<int> DefaultSweepErrnos() { return {EPERM, EBUSY, ENOSPC, EINVAL, EIO, ENOMEM}; }
std::vector<SweepMode> AllSweepModes() {
  return {SweepMode::kTransient, SweepMode::kPersistent, SweepMode::kPersistentPath,
          SweepMode::kCrash,     SweepMode::kEintr,      SweepMode::kEnosys};
}

std::vector<std::string> BuiltinWorkloadNames() { return {"run-true", "run-full", "verbs"}; }

std::optional<SweepWorkload> BuiltinWorkload(const std::string& name) {
  SweepWorkload w;
  w.name = name;
  w.source = name;
  w.argv = {"true"};
  if (name == "run-true") return w;
  if (name == "verbs") {
    w.argv = {"sleep", "1000"};
    w.verbs = true;
    return w;
  }
  if (name == "run-full") {
    w.volumes = {SweepVolume{"data", "/data", false, {{"hello", "hello\n"}}},
                 SweepVolume{"config", "/etc/app", true, {{"app.conf", "x=1\n"}}}};
    w.limits.memory_bytes = 64 << 20;
    w.limits.cpu_shares = 512;
    w.limits.cpus = 0.5;
    w.limits.cpuset_cpus = "0";
    w.limits.pids_limit = 64;
    w.hostname = "sweep";
    w.env = {"SWEEP=1"};
    return w;
  }
  return std::nullopt;
}

SweepWorkload WorkloadFromScenario(const Scenario& s) {
  SweepWorkload w;
  w.name = s.name;
  w.source = s.file;
  w.argv = s.command.empty() ? std::vector<std::string>{"true"} : s.command;
  w.env = s.env;
  w.hostname = s.hostname;
  w.limits = s.limits;
  for (const VolumeSpec& v : s.volumes) {
    w.volumes.push_back(SweepVolume{v.host, v.container, v.read_only, v.files});
  }
  return w;
}

FaultPlan PointPlan(pid_t pid, const std::string& op, uint64_t nth, int err, SweepMode mode) {
  Rule r;
  r.match.ops = {op};
  r.match.pid = pid;
  r.when.kind = When::Kind::kNth;
  r.when.nth = nth;
  r.times = Times::kOnce;
  switch (mode) {
    case SweepMode::kCrash:
    case SweepMode::kPowerLoss:
    case SweepMode::kPowerLossMetadata: r.action.kind = ActionKind::kCrash; break;
    case SweepMode::kLie: r.action.kind = ActionKind::kLie; break;
    case SweepMode::kShort: r.action.kind = ActionKind::kShort; break;
    case SweepMode::kEintr:
      // A burst: this call and the next two of op fail EINTR.
      r.action = {ActionKind::kFail, EINTR, 0};
      r.when.kind = When::Kind::kRange;
      r.when.first = nth;
      r.when.last = nth + 2;
      r.when.step = 1;
      r.times = Times::kPersistent;
      break;
    case SweepMode::kEnosys:
      // An older kernel: every call of op from this one on.
      r.action = {ActionKind::kFail, ENOSYS, 0};
      r.times = Times::kPersistent;
      break;
    default:
      r.action = {ActionKind::kFail, err, 0};
      r.times = mode == SweepMode::kPersistent       ? Times::kPersistent
                : mode == SweepMode::kPersistentPath ? Times::kPersistentPath
                                                     : Times::kOnce;
  }
  return FaultPlan({r});
}

std::string CheckErrnoOrigin(const SweepRun& run, const SweepRun& clean,
                             const mydocker::Error& e, std::string* rule) {
  rule->clear();
  size_t faulted = run.calls.size();
  for (size_t i = 0; i < run.calls.size(); ++i) {
    if (run.calls[i].fired) {
      faulted = i;
      break;
    }
  }
  if (e.err == 0) return "the error carries no errno";
  auto same_call = [&](size_t i) {
    return i < clean.calls.size() && run.calls[i].pid == clean.calls[i].pid &&
           run.calls[i].op == clean.calls[i].op && run.calls[i].path == clean.calls[i].path &&
           run.calls[i].path2 == clean.calls[i].path2;
  };
  // The calls that returned the error's errno, and whether the fault
  // caused one: the faulted call itself (any call the rule fired on), or a
  // later call the runtime made on the clean run's path -- it took the
  // fault as a state and went on exactly as in the clean run (the same
  // calls in the same order) up to that call, which then really failed
  // (umount2 EINVAL read as "not mounted", then rmdir of the still mounted
  // directory EBUSY). A call the runtime made off that path (its cleanup
  // after the failure) did not produce the step's errno.
  const SweepCall* before = nullptr;
  const SweepCall* off_path = nullptr;
  size_t off_index = 0;
  bool on_path = true;  // run.calls[faulted+1 .. i] equal the clean run's
  for (size_t i = 0; i < run.calls.size(); ++i) {
    const SweepCall& c = run.calls[i];
    if (i > faulted) on_path = on_path && same_call(i);
    if (c.after_crash || c.err != e.err) continue;
    const std::string where = " (call " + std::to_string(i + 1) + ", " + ProcessName(c.pid) +
                              " " + c.op + (c.path.empty() ? "" : " " + c.path) + ")";
    if (c.fired) {
      *rule = "faulted" + where;
      return "";
    }
    if (i < faulted) {
      if (before == nullptr) before = &c;
      continue;
    }
    if (on_path) {
      *rule = "caused: on the clean run's path after the fault" + where;
      return "";
    }
    if (off_path == nullptr) {
      off_path = &c;
      off_index = i;
    }
  }
  const std::string name = mydocker::ErrnoName(e.err);
  if (off_path != nullptr) {
    return "the error carries " + name + ", which only call " + std::to_string(off_index + 1) +
           " (" + ProcessName(off_path->pid) + " " + off_path->op + " " + off_path->path +
           ") returned, off the clean run's path (the cleanup after the failure): the fault's "
           "errno is lost";
  }
  if (before != nullptr) {
    return "the error carries " + name + ", which only calls before the fault returned (" +
           before->op + " " + before->path + ")";
  }
  return "the error carries " + name +
         ", which no traced call of the run returned (a constant, or a clobbered errno)";
}

PointResult Classify(const SweepRun& run, const SweepRun& clean, pid_t pid, int err,
                     SweepMode mode) {
  PointResult r;
  r.pid = pid;
  r.process = ProcessName(pid);
  r.err = mode == SweepMode::kCrash || mode == SweepMode::kLie || IsPowerLoss(mode) ||
                  mode == SweepMode::kShort
              ? 0
              : err;
  r.mode = mode;
  r.exit_code = run.exit_code;
  r.error = run.returned_error ? run.error.Message() : run.message;
  r.left = Describe(run.left);
  r.left_after_gc = Describe(run.left_after_gc);
  for (const auto& d : run.left) r.left_probes.push_back(d.probe);
  for (const auto& d : run.left_after_gc) r.left_after_gc_probes.push_back(d.probe);
  r.gc_ran = run.gc_ran;
  r.gc_errors = run.gc_errors;
  auto& f = r.failures;
  const bool left = !run.left.empty();
  // What gc must achieve whenever it ran.
  auto gc_must_clean = [&] {
    if (!run.gc_ran) {
      f.push_back("gc did not run");
      return;
    }
    for (const auto& e : run.gc_errors) f.push_back("gc failed: " + e);
    if (!run.left_after_gc.empty()) {
      f.push_back("left after gc: " + Describe(run.left_after_gc));
    }
  };

  if (!run.harness_error.empty()) {
    f.push_back("harness: " + run.harness_error);
  } else if (run.hung) {
    if (run.hang_state.empty()) {
      f.push_back("the runtime hung (killed at the deadline)");
    } else {
      const size_t nl = run.hang_state.find('\n');
      f.push_back("the runtime hung (" + run.hang_state.substr(0, nl == std::string::npos ? run.hang_state.size() : nl - 1) +
                  "; killed)");
    }
    gc_must_clean();
  } else if (!run.fired) {
    r.outcome = "not-fired";
    if ((!run.external && (run.returned_error || !run.message.empty())) ||
        run.exit_code != clean.exit_code) {
      f.push_back("no fault fired, yet the run differs from the clean run: " +
                  (r.error.empty() ? "exit " + std::to_string(run.exit_code) : r.error));
    }
    if (left) f.push_back("no fault fired, yet the run left: " + r.left);
  } else if (mode == SweepMode::kCrash || IsPowerLoss(mode)) {
    if (!run.crashed) f.push_back("the crash rule fired but the runtime did not die");
    gc_must_clean();
    r.outcome = left ? "recovered-by-gc" : "clean";
    if (IsPowerLoss(mode)) {
      // After the reboot and gc, the workload must run as the clean run did.
      if (!run.power_lost) {
        f.push_back("the power was not lost");
      } else if (!run.rerun_ran) {
        f.push_back("the run after the reboot did not run");
      } else {
        const bool ok = !run.rerun_returned_error && run.rerun_error.empty();
        if (!ok) f.push_back("the run after the reboot failed: " + run.rerun_error);
        if (ok && run.rerun_exit_code != clean.exit_code) {
          f.push_back("the run after the reboot exited " + std::to_string(run.rerun_exit_code) +
                      "; the clean run exited " + std::to_string(clean.exit_code));
        }
        if (!run.left_after_rerun.empty()) {
          f.push_back("the run after the reboot left: " + Describe(run.left_after_rerun));
        }
      }
    }
  } else if (mode == SweepMode::kShort && !run.external) {
    // A short read or write is no error: the runtime must go on with the
    // rest, and the run end as the clean run did.
    r.outcome = "handled";
    if (run.returned_error || !run.message.empty()) {
      f.push_back("a short read or write must be continued, yet the run failed: " + r.error);
    } else if (run.exit_code != clean.exit_code) {
      f.push_back("after a short read or write the run exited " + std::to_string(run.exit_code) +
                  "; the clean run exited " + std::to_string(clean.exit_code));
    }
    if (left) f.push_back("after a short read or write the run left: " + r.left);
  } else if (run.external ? run.exit_code == clean.exit_code
                          : !run.returned_error && run.message.empty()) {
    r.outcome = "handled";
    if (run.exit_code != clean.exit_code) {
      f.push_back("the run succeeded with exit " + std::to_string(run.exit_code) +
                  "; the clean run exited " + std::to_string(clean.exit_code));
    }
    if (left && run.external && !run.strict_errno && !run.message.empty()) {
      // A peer runtime that went on, said so, and left what its own
      // cleanup command must remove.
      r.outcome = "recovered-by-gc";
      r.notes.push_back("exited as the clean run but left " + r.left + "; it said: " +
                        LastLine(run.message));
      gc_must_clean();
    } else if (left) {
      f.push_back("the run succeeded but left: " + r.left);
    }
  } else {
    // A failure: the error must say what failed, where, and why.
    const std::string want_errno = mydocker::ErrnoName(err);
    if (run.external) {
      // A binary: its stderr is its error.
      if (run.message.empty()) {
        f.push_back("exited " + std::to_string(run.exit_code) + " and printed nothing on stderr");
      } else if (err != 0 && NamesErrno(run.message, err)) {
        r.errno_origin = "binary: the error names the injected errno (weaker: the supervisor "
                         "does not see which call's errno a binary prints)";
      } else if (err != 0) {
        // The supervisor does not see what continued calls returned, so
        // another errno may be the truthful one of a later call (umount2
        // EINVAL read as "not mounted", then rmdir really EBUSY): a note.
        // Strict (mydocker): the error must name some errno at all.
        const std::string why = "the error does not name " + want_errno + ": " + LastLine(run.message);
        if (run.strict_errno && !NamesSomeErrno(run.message)) f.push_back(why + " (nor any errno)");
        else r.notes.push_back(why);
      }
    } else if (run.returned_error) {
      const Error& e = run.error;
      const SweepCall* faulted = nullptr;
      for (const SweepCall& c : run.calls) {
        if (c.fired) {
          faulted = &c;
          break;
        }
      }
      if (e.step.empty()) f.push_back("the error names no step: " + r.error);
      if (e.path.empty() && faulted != nullptr && OpHasPath(faulted->op)) {
        f.push_back("the error names no path: " + r.error);
      }
      std::string rule;
      std::string why = CheckErrnoOrigin(run, clean, e, &rule);
      if (!why.empty()) f.push_back(why + ": " + r.error);
      r.errno_origin = rule;
      if (pid == kSweepInitPid && e.step.rfind("container init:", 0) != 0) {
        f.push_back("a fault in the container's init must name the init's step: " + r.error);
      }
    } else {
      // Exec failures come back as a RunResult with a message (126/127).
      if (pid != kSweepInitPid || !Contains(run.message, "container init: exec") ||
          !Contains(run.message, want_errno)) {
        f.push_back("unexpected exec failure message: " + run.message);
      }
      if (run.exit_code != mydocker::kExitCannotExecute &&
          run.exit_code != mydocker::kExitNotFound) {
        f.push_back("an exec failure must exit 126 or 127, not " +
                    std::to_string(run.exit_code));
      }
      // The call whose errno the message names (the faulted execve of the
      // PATH search, or a later one on the clean run's path).
      mydocker::Error named;
      named.err = err;
      std::string rule;
      if (CheckErrnoOrigin(run, clean, named, &rule).empty()) r.errno_origin = "exec: " + rule;
    }
    if (!left) {
      r.outcome = "clean";
    } else {
      r.outcome = "recovered-by-gc";
      if (run.external) {
        if (!run.cleanup_hint.empty() && !Contains(r.error, run.cleanup_hint)) {
          f.push_back("left " + r.left + " and the error does not say to run `" +
                      run.cleanup_hint + "`: " + LastLine(r.error));
        }
      } else if (!run.returned_error || !Contains(r.error, "mydocker gc")) {
        f.push_back("left " + r.left + " and the error does not say to run `mydocker gc`: " +
                    r.error);
      }
      gc_must_clean();
    }
  }
  r.passed = f.empty();
  if (!r.passed) {
    r.outcome = "failed";
    r.trace_tail = TraceAround(run);
    if (run.hung && !run.hang_state.empty()) {
      // What every thread was blocked in (wait channel, syscall, stack).
      std::istringstream lines(run.hang_state);
      std::string line;
      std::getline(lines, line);  // the summary, already a failure
      while (std::getline(lines, line)) r.trace_tail.push_back("hang: " + line);
    }
  }
  return r;
}

nlohmann::json PointResultJson(const PointResult& r) {
  nlohmann::json p;
  p["id"] = r.id;
  p["point_id"] = r.point_id;
  p["run"] = r.run;
  p["seq"] = r.point;
  p["pid"] = r.pid;
  p["process"] = r.process;
  p["op"] = r.op;
  p["arguments"] = r.args;
  p["nth"] = r.nth;
  p["errno"] = r.err ? nlohmann::json(mydocker::ErrnoName(r.err)) : nlohmann::json(nullptr);
  p["mode"] = SweepModeName(r.mode);
  p["path"] = r.path;
  p["reachable"] = r.reachable;
  p["modeled"] = r.modeled;
  p["call_class"] = r.call_class;
  if (!r.reach_source.empty()) p["reach_source"] = r.reach_source;
  if (!r.errno_origin.empty()) p["errno_origin"] = r.errno_origin;
  if (r.defect) p["defect"] = r.defect;
  p["outcome"] = r.outcome;
  p["passed"] = r.passed;
  if (!r.failures.empty()) p["failures"] = r.failures;
  if (!r.notes.empty()) p["notes"] = r.notes;
  p["error"] = r.error;
  p["exit_code"] = r.exit_code;
  p["probes"] = {{"after_run", r.left.empty() ? "clean" : r.left},
                 {"after_run_probes", r.left_probes},
                 {"gc_ran", r.gc_ran},
                 {"gc_errors", r.gc_errors},
                 {"after_gc", !r.gc_ran ? "" : r.left_after_gc.empty() ? "clean"
                                                                       : r.left_after_gc},
                 {"after_gc_probes", r.left_after_gc_probes}};
  p["plan"] = r.plan;
  p["replay"] = r.replay;
  if (!r.trace_tail.empty()) p["trace"] = r.trace_tail;
  return p;
}

mydocker::Expected<PointResult> PointResultFromJson(const nlohmann::json& p) {
  PointResult r;
  try {
    r.id = p.value("id", "");
    r.point_id = p.value("point_id", "");
    r.run = p.value("run", size_t{0});
    r.point = p.at("seq").get<size_t>();
    r.pid = p.at("pid").get<pid_t>();
    r.process = p.at("process").get<std::string>();
    r.op = p.at("op").get<std::string>();
    r.args = p.at("arguments").get<std::string>();
    r.nth = p.at("nth").get<uint64_t>();
    if (!p.at("errno").is_null()) {
      const std::string name = p.at("errno").get<std::string>();
      if (!ErrnoFromName(name, &r.err)) {
        return MakeError("sweep report: errno", name, EINVAL, "not an errno name");
      }
    }
    const std::string mode = p.at("mode").get<std::string>();
    if (!SweepModeFromName(mode, &r.mode)) {
      return MakeError("sweep report: mode", mode, EINVAL, "not a sweep mode");
    }
    r.path = p.value("path", "");
    r.reachable = p.value("reachable", true);
    r.modeled = p.value("modeled", true);
    r.call_class = p.value("call_class", "");
    r.reach_source = p.value("reach_source", "");
    r.errno_origin = p.value("errno_origin", "");
    r.defect = p.value("defect", size_t{0});
    r.outcome = p.at("outcome").get<std::string>();
    r.passed = p.at("passed").get<bool>();
    r.failures = p.value("failures", std::vector<std::string>{});
    r.notes = p.value("notes", std::vector<std::string>{});
    r.error = p.at("error").get<std::string>();
    r.exit_code = p.at("exit_code").get<int>();
    const nlohmann::json& pr = p.at("probes");
    r.left = pr.at("after_run").get<std::string>();
    if (r.left == "clean") r.left.clear();
    r.left_probes = pr.value("after_run_probes", std::vector<std::string>{});
    r.gc_ran = pr.at("gc_ran").get<bool>();
    r.gc_errors = pr.at("gc_errors").get<std::vector<std::string>>();
    r.left_after_gc = pr.at("after_gc").get<std::string>();
    if (r.left_after_gc == "clean") r.left_after_gc.clear();
    r.left_after_gc_probes = pr.value("after_gc_probes", std::vector<std::string>{});
    r.plan = p.at("plan").get<std::string>();
    r.replay = p.at("replay").get<std::string>();
    r.trace_tail = p.value("trace", std::vector<std::string>{});
  } catch (const nlohmann::json::exception& e) {
    return MakeError("sweep report: read a run", p.value("id", ""), EINVAL, e.what());
  }
  return r;
}

nlohmann::json SweepReport::ToJson() const {
  nlohmann::json j;
  j["backend"] = backend;
  j["workload"] = workload;
  j["clean_calls"] = clean_calls;
  j["seconds"] = seconds;
  j["errors"] = errors;
  j["errno_model"] = errno_model;
  j["summary"] = {{"points", points},
                  {"runs", runs},
                  {"passed", passed},
                  {"failed", failed},
                  {"distinct_defects", defects.size()},
                  {"unreachable_runs", unreachable_runs},
                  {"unreachable_failures", unreachable_failures}};
  j["sweep"] = {{"planned", planned}, {"setup_runs", setup_runs}, {"digest", digest}};
  j["environment"] = environment.ToJson();
  j["execution"] = {{"shard", execution.shard.ToString()},
                    {"jobs", execution.jobs},
                    {"journal", execution.journal},
                    {"resumed", execution.resumed},
                    {"shards", execution.shards}};
  nlohmann::json ds = nlohmann::json::array();
  for (size_t i = 0; i < defects.size(); ++i) {
    const Defect& d = defects[i];
    ds.push_back({{"defect", i + 1},
                  {"summary", d.summary},
                  {"runs", d.runs},
                  {"points", d.points},
                  {"replay", d.replay},
                  {"failure", d.failure},
                  {"key", d.key}});
  }
  j["defects"] = std::move(ds);
  nlohmann::json pts = nlohmann::json::array();
  for (const PointResult& r : results) pts.push_back(PointResultJson(r));
  j["points"] = std::move(pts);
  return j;
}

mydocker::Expected<SweepReport> SweepReport::FromJson(const nlohmann::json& j) {
  SweepReport r;
  try {
    r.backend = j.at("backend").get<std::string>();
    r.workload = j.at("workload").get<std::string>();
    r.clean_calls = j.at("clean_calls").get<size_t>();
    r.seconds = j.at("seconds").get<double>();
    r.errors = j.at("errors").get<std::vector<std::string>>();
    const nlohmann::json& sum = j.at("summary");
    r.points = sum.at("points").get<size_t>();
    r.runs = sum.at("runs").get<size_t>();
    r.passed = sum.at("passed").get<size_t>();
    r.failed = sum.at("failed").get<size_t>();
    r.unreachable_runs = sum.value("unreachable_runs", size_t{0});
    r.unreachable_failures = sum.value("unreachable_failures", size_t{0});
    r.errno_model = j.value("errno_model", "");
    if (j.contains("sweep")) {
      r.planned = j["sweep"].value("planned", size_t{0});
      r.setup_runs = j["sweep"].value("setup_runs", size_t{0});
      r.digest = j["sweep"].value("digest", "");
    }
    if (j.contains("environment")) r.environment = Environment::FromJson(j["environment"]);
    if (j.contains("execution")) {
      const nlohmann::json& x = j["execution"];
      const std::string shard = x.value("shard", "0/1");
      if (!ParseShardText(shard, &r.execution.shard)) {
        return MakeError("sweep report: execution.shard", shard, EINVAL, "not K/N");
      }
      r.execution.jobs = x.value("jobs", size_t{1});
      r.execution.journal = x.value("journal", "");
      r.execution.resumed = x.value("resumed", size_t{0});
      if (x.contains("shards")) r.execution.shards = x["shards"];
    }
    for (const auto& p : j.at("points")) {
      auto pr = PointResultFromJson(p);
      if (!pr) return pr.error();
      r.results.push_back(std::move(*pr));
    }
    // The defects as written; their members are the runs that name them.
    for (const auto& d : j.value("defects", nlohmann::json::array())) {
      Defect x;
      x.key = d.at("key").get<std::string>();
      x.summary = d.at("summary").get<std::string>();
      x.runs = d.at("runs").get<size_t>();
      x.points = d.at("points").get<std::vector<size_t>>();
      x.replay = d.at("replay").get<std::string>();
      x.failure = d.at("failure").get<std::string>();
      r.defects.push_back(std::move(x));
    }
    for (size_t i = 0; i < r.results.size(); ++i) {
      const size_t d = r.results[i].defect;
      if (d == 0) continue;
      if (d > r.defects.size()) {
        return MakeError("sweep report: defect", r.results[i].id, EINVAL,
                         "run names defect " + std::to_string(d) + " of " +
                             std::to_string(r.defects.size()));
      }
      r.defects[d - 1].members.push_back(i);
    }
  } catch (const nlohmann::json::exception& e) {
    return MakeError("sweep report: read", "", EINVAL, e.what());
  }
  return r;
}

std::string PathClass(const std::string& args) {
  static const std::regex kPath(R"((^|[\s="'<])(/[^\s"']*))");
  std::smatch m;
  if (!std::regex_search(args, m, kPath)) return "";
  const std::string p = m[2];
  auto starts = [&](const char* prefix) {
    const size_t n = strlen(prefix);
    return p.compare(0, n, prefix) == 0 && (p.size() == n || p[n] == '/');
  };
  if (Contains(p, "/sys/fs/cgroup")) return "cgroup";
  if (starts("/proc")) return "proc";
  if (starts("/dev")) return "dev";
  if (starts("/sys")) return "sys";
  if (Contains(p, "/merged") || Contains(p, "/rootfs")) return "rootfs";
  if (Contains(p, "/images")) return "image";
  if (Contains(p, "/volumes/")) return "volume";
  if (Contains(p, "/containers") || Contains(p, "/state")) return "state";
  if (Contains(p, "/bundle")) return "bundle";
  if (starts("/tmp")) return "tmp";
  return "other";
}

std::string PointId(pid_t pid, const std::string& op, uint64_t nth, const std::string& args) {
  std::string id = ProcessName(pid) + ":" + op + "#" + std::to_string(nth);
  const std::string cls = PathClass(args);
  if (!cls.empty()) id += "@" + cls;
  return id;
}

std::string RunId(const std::string& point_id, int err, SweepMode mode) {
  // The modes without an errno of their own are named by the mode alone.
  if (mode == SweepMode::kCrash || mode == SweepMode::kLie || IsPowerLoss(mode) ||
      mode == SweepMode::kShort) {
    return point_id + "/" + SweepModeName(mode);
  }
  return point_id + "/" + mydocker::ErrnoName(err) + "/" + SweepModeName(mode);
}

namespace {

// FNV-1a, 64 bits, as 16 hex digits: names a run list, not a secret.
class Digest {
 public:
  void Add(const std::string& s) {
    for (unsigned char c : s) {
      h_ ^= c;
      h_ *= 1099511628211ull;
    }
    h_ ^= 0xff;  // separator
    h_ *= 1099511628211ull;
  }
  std::string Hex() const {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h_));
    return buf;
  }

 private:
  uint64_t h_ = 14695981039346656037ull;
};

// The journal (SweepConfig::journal): a header line naming the sweep, then
// one line per finished run (PointResultJson). Lines are written whole with
// one write(2) on an O_APPEND fd: a killed sweep loses at most the run it
// was writing; a torn last line is dropped when the journal is reopened.
class Journal {
 public:
  ~Journal() {
    if (fd_ >= 0) ::close(fd_);
  }

  // Opens (creates) path. When it holds runs of the same sweep (same
  // header), puts them into *loaded (by run index, checked against ids).
  // "" when fine, else why not.
  std::string Open(const std::string& path, const nlohmann::json& header,
                   const std::vector<std::string>& ids, std::map<size_t, PointResult>* loaded) {
    path_ = path;
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd_ < 0) return "open " + path + ": " + mydocker::ErrnoName(errno);
    std::string text;
    char buf[65536];
    for (;;) {
      ssize_t n = ::pread(fd_, buf, sizeof buf, static_cast<off_t>(text.size()));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return "read " + path + ": " + mydocker::ErrnoName(errno);
      if (n == 0) break;
      text.append(buf, static_cast<size_t>(n));
    }
    // Drop a torn last line.
    const size_t keep = text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1;
    if (keep != text.size()) {
      if (::ftruncate(fd_, static_cast<off_t>(keep)) != 0) {
        return "truncate the torn last line of " + path + ": " + mydocker::ErrnoName(errno);
      }
      text.resize(keep);
    }
    if (text.empty()) return Write(header.dump());
    std::istringstream in(text);
    std::string line;
    std::getline(in, line);
    nlohmann::json got;
    try {
      got = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception&) {
      return path + " is not a sweep journal (its first line is not JSON)";
    }
    if (got != header) {
      return path + " is the journal of another sweep (" + got.dump() + "; this sweep: " +
             header.dump() + "): remove it or name another file";
    }
    size_t number = 1;
    while (std::getline(in, line)) {
      ++number;
      nlohmann::json j;
      try {
        j = nlohmann::json::parse(line);
      } catch (const nlohmann::json::exception& e) {
        return path + " line " + std::to_string(number) + ": " + e.what();
      }
      auto r = PointResultFromJson(j);
      if (!r) return path + " line " + std::to_string(number) + ": " + r.error().Message();
      if (r->run >= ids.size() || ids[r->run] != r->id) {
        return path + " line " + std::to_string(number) + ": run " + std::to_string(r->run) +
               " is " + r->id + ", not a run of this sweep";
      }
      (*loaded)[r->run] = std::move(*r);
    }
    return "";
  }

  // One finished run. "" when written, else why not.
  std::string Append(const PointResult& r) { return Write(DumpJson(PointResultJson(r))); }

 private:
  std::string Write(const std::string& line_in) {
    const std::string line = line_in + "\n";
    size_t off = 0;
    while (off < line.size()) {
      ssize_t n = ::write(fd_, line.data() + off, line.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return "write " + path_ + ": " + mydocker::ErrnoName(errno);
      off += static_cast<size_t>(n);
    }
    return "";
  }

  std::string path_;
  int fd_ = -1;
};

}  // namespace

SweepReport RunSweep(SweepBackend& backend, const SweepConfig& config) {
  auto t0 = std::chrono::steady_clock::now();
  SweepReport report;
  report.backend = backend.name();
  report.workload = config.workload.name;
  report.errno_model = config.errno_model == ErrnoModelKind::kAll ? "all" : "reachable";
  report.environment = config.environment;
  if (report.environment.started.empty()) report.environment.started = IsoUtcNow();
  report.execution.shard = config.shard;
  report.execution.journal = config.journal;
  auto finish = [&] {
    backend.Finish();
    // Counted from the results (runs taken from a journal included), once.
    report.runs = report.setup_runs + report.results.size();
    report.unreachable_runs = 0;
    report.unreachable_failures = 0;
    for (const PointResult& r : report.results) {
      if (r.reachable) continue;
      ++report.unreachable_runs;
      if (r.outcome == "unreachable") ++report.unreachable_failures;
    }
    GroupDefects(report);
    report.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return report;
  };
  QuietLogs quiet(config.verbose);
  if (auto p = backend.Prepare(config.workload); !p) {
    report.errors.push_back("prepare: " + p.error().Message());
    return finish();
  }

  // 1. The clean run: it must succeed and leave nothing, gc included.
  SweepRun clean = backend.Run(FaultPlan(), /*always_gc=*/true);
  ++report.setup_runs;
  report.clean_calls = clean.calls.size();
  {
    std::vector<std::string> why;
    if (!clean.harness_error.empty()) why.push_back("harness: " + clean.harness_error);
    if (clean.crashed) why.push_back("it crashed");
    if (clean.returned_error) why.push_back("it failed: " + clean.error.Message());
    if (!clean.message.empty()) why.push_back("it failed: " + clean.message);
    if (!clean.left.empty()) why.push_back("it left: " + Describe(clean.left));
    for (const auto& e : clean.gc_errors) why.push_back("gc failed: " + e);
    if (!clean.left_after_gc.empty()) why.push_back("gc left: " + Describe(clean.left_after_gc));
    if (clean.calls.empty()) why.push_back("no call was traced");
    for (const auto& w : why) report.errors.push_back("the clean run: " + w);
    if (!why.empty()) return finish();
  }

  size_t total_planned = 0;
  size_t done = 0;
  auto record = [&](const PointResult& r) {
    if (r.passed) ++report.passed;
    else ++report.failed;
    ++done;
    if (config.progress) {
      SweepProgress p;
      p.done = done;
      p.total = std::max(total_planned, done);
      p.failed = report.failed;
      p.current = "point " + std::to_string(r.point) + " " + r.process + " " + r.op + " " +
                  (r.err ? mydocker::ErrnoName(r.err) + " " : "") + SweepModeName(r.mode);
      config.progress(p);
    }
  };

  // A replay of one plan: one run, in shard 0.
  if (config.plan) {
    const FaultPlan& plan = *config.plan;
    pid_t pid = 0;
    int err = 0;
    SweepMode mode = SweepMode::kTransient;
    std::string op;
    if (!plan.empty()) {
      const Rule& rule = plan.rules().front();
      pid = rule.match.pid.value_or(0);
      err = rule.action.err;
      if (rule.action.kind == ActionKind::kCrash) mode = SweepMode::kCrash;
      else if (rule.action.kind == ActionKind::kLie) mode = SweepMode::kLie;
      else if (rule.action.kind == ActionKind::kShort) mode = SweepMode::kShort;
      else if (rule.times == Times::kPersistent) mode = SweepMode::kPersistent;
      else if (rule.times == Times::kPersistentPath) mode = SweepMode::kPersistentPath;
      if (rule.match.ops.size() == 1) op = rule.match.ops.front();
    }
    report.points = 1;
    report.planned = 1;
    Digest digest;
    digest.Add(config.workload.name);
    digest.Add("plan " + plan.ToString());
    report.digest = digest.Hex();
    if (!config.shard.Has(0)) return finish();
    total_planned = 1;
    SweepRun run = backend.Run(plan, mode == SweepMode::kCrash);
    PointResult r = Classify(run, clean, pid, err, mode);
    r.op = op;
    r.plan = plan.ToString();
    r.replay = config.replay_prefix + " --plan " + Quote(r.plan) + " " + config.workload.source;
    // The call the plan faulted: its point in the clean run and what the
    // model says about it.
    for (size_t i = 0; i < run.calls.size(); ++i) {
      const SweepCall& c = run.calls[i];
      if (!c.fired) continue;
      r.args = c.args;
      r.path = c.path;
      r.op = c.op;
      r.pid = c.pid;
      r.process = ProcessName(c.pid);
      uint64_t nth = 0;
      for (size_t j = 0; j <= i; ++j) nth += run.calls[j].pid == c.pid && run.calls[j].op == c.op;
      r.nth = nth;
      if (i < clean.calls.size() && clean.calls[i].op == c.op) {
        r.point = i + 1;
        CallClassifier classifier;
        for (size_t j = 0; j < i; ++j) ObserveCall(classifier, clean.calls[j]);
        Reachability reach = ReachOf(classifier, clean.calls[i]);
        r.modeled = reach.modeled;
        r.call_class = reach.cls;
        r.reach_source = reach.source;
        r.reachable = mode == SweepMode::kCrash ? true
                      : mode == SweepMode::kLie   ? LieReachable(c.op, c.flags)
                      : mode == SweepMode::kShort ? ShortReachable(c.op, c.args, reach)
                                                : reach.Reachable(err);
        if (!r.reachable && !r.passed) {
          // Not a defect (counted in finish, with the others).
          r.outcome = "unreachable";
          r.passed = true;
        }
      }
      break;
    }
    r.point_id = "plan";
    r.id = "plan:" + r.plan;
    record(r);
    report.results.push_back(std::move(r));
    return finish();
  }

  // 2. The points: the k-th call of op by each process, each with what the
  // reachable-fault model says about it.
  std::vector<Point> points;
  std::map<std::pair<pid_t, std::string>, uint64_t> count;
  {
    CallClassifier classifier;
    for (const SweepCall& c : clean.calls) {
      uint64_t k = ++count[{c.pid, c.op}];
      points.push_back(Point{c.pid, c.op, c.args, c.path, k, ReachOf(classifier, c)});
      ObserveCall(classifier, c);
    }
  }
  const int probe_err = config.errnos.empty() ? EIO : config.errnos.front();
  const bool one_point = config.only_point || config.only_point_id;
  // 3. Past the end of each (process, op): go on while the fault fires.
  // (Not for a one-point replay: the numbering is the clean run's anyway.)
  for (const auto& [key, last] : count) {
    if (one_point) break;
    for (uint64_t k = last + 1; k < last + 64; ++k) {
      SweepRun run = backend.Run(PointPlan(key.first, key.second, k, probe_err,
                                           SweepMode::kTransient),
                                 false);
      ++report.setup_runs;
      if (!run.harness_error.empty()) {
        report.errors.push_back("end check " + key.second + " #" + std::to_string(k) +
                                ": harness: " + run.harness_error);
        break;
      }
      if (!run.fired) break;
      std::string args, path;
      for (const SweepCall& c : run.calls) {
        if (c.fired) args = c.args, path = c.path;
      }
      spdlog::warn("sweep: {} of {} fired at #{}, past the clean run's {}: a longer run",
                   key.second, ProcessName(key.first), k, last);
      Reachability unknown;
      points.push_back(Point{key.first, key.second, args, path, k, unknown});
    }
  }
  report.points = points.size();
  std::vector<std::string> point_ids;
  for (const Point& pt : points) point_ids.push_back(PointId(pt.pid, pt.op, pt.nth, pt.args));

  std::optional<size_t> only = config.only_point;
  if (config.only_point_id) {
    auto at = std::find(point_ids.begin(), point_ids.end(), *config.only_point_id);
    if (at == point_ids.end()) {
      report.errors.push_back("point " + *config.only_point_id +
                              " does not exist: the clean run has no such call");
      return finish();
    }
    only = static_cast<size_t>(at - point_ids.begin()) + 1;
  }

  // 4. Every (point, mode, errno) run, in canonical order; this shard's
  // share of them, in parallel when the backend allows.
  struct Task {
    size_t number;
    SweepMode mode;
    int err;
    std::string id;
    bool reachable;
  };
  std::vector<Task> tasks;
  for (size_t i = 0; i < points.size(); ++i) {
    const size_t number = i + 1;
    if (only && *only != number) continue;
    const Point& pt = points[i];
    const Reachability& reach = pt.reach;
    auto add = [&](SweepMode mode, int err, bool reachable) {
      tasks.push_back({number, mode, err, RunId(point_ids[i], err, mode), reachable});
    };
    for (SweepMode mode : config.modes) {
      switch (mode) {
        case SweepMode::kCrash:
        case SweepMode::kPowerLoss:
        case SweepMode::kPowerLossMetadata: add(mode, 0, true); break;
        case SweepMode::kLie: {
          uint64_t flags = 0;
          if (i < clean.calls.size()) flags = clean.calls[i].flags;
          add(mode, 0, LieReachable(pt.op, flags));
          break;
        }
        case SweepMode::kEnosys:
          if (HasOlderFallback(pt.op)) add(mode, ENOSYS, true);
          break;
        case SweepMode::kShort:
          if (ShortReachable(pt.op, pt.args, reach)) add(mode, 0, true);
          else if (config.errno_model == ErrnoModelKind::kAll &&
                   (pt.op == "read" || pt.op == "write") && LenFromArgs(pt.args) > 1)
            add(mode, 0, false);
          break;
        case SweepMode::kEintr:
          if (reach.modeled && reach.Reachable(EINTR)) add(mode, EINTR, true);
          else if (config.errno_model == ErrnoModelKind::kAll) add(mode, EINTR, false);
          break;
        default: {
          std::vector<int> errs;
          if (config.errno_model == ErrnoModelKind::kAll) {
            errs = config.errnos;
          } else if (!reach.modeled) {
            errs = config.errnos;  // the model does not know the call: the list
          } else if (config.errnos_given) {
            for (int e : config.errnos)
              if (reach.Reachable(e)) errs.push_back(e);
          } else {
            errs = reach.errnos;
          }
          for (int err : errs) {
            // EINTR (a signal) and a pipe's EAGAIN (full) are transient by
            // nature: no kernel returns them forever, and a runtime that
            // retries them (as it should) would loop. (clone's EAGAIN, a
            // pids limit, does persist.)
            if (mode != SweepMode::kTransient &&
                (err == EINTR || (err == EAGAIN && pt.reach.cls == "pipe-io")))
              continue;
            add(mode, err, reach.Reachable(err));
          }
        }
      }
    }
  }
  report.planned = tasks.size();
  std::vector<std::string> ids;
  {
    // The errno model and each run's reachability are part of the sweep:
    // shards swept under different models (or model versions) do not merge.
    Digest digest;
    digest.Add(config.workload.name);
    digest.Add("errno-model " + report.errno_model);
    for (const Task& t : tasks) {
      digest.Add(t.reachable ? t.id : t.id + " unreachable");
      ids.push_back(t.id);
    }
    report.digest = digest.Hex();
  }
  total_planned = ShardSize(tasks.size(), config.shard);

  std::map<size_t, PointResult> journaled;
  Journal journal;
  bool journal_ok = !config.journal.empty();
  if (journal_ok) {
    const nlohmann::json header = {{"faultline_sweep_journal", 1},
                                   {"workload", config.workload.name},
                                   {"backend", backend.name()},
                                   {"digest", report.digest},
                                   {"planned", report.planned},
                                   {"shard", config.shard.ToString()}};
    if (std::string e = journal.Open(config.journal, header, ids, &journaled); !e.empty()) {
      report.errors.push_back("journal: " + e);
      return finish();
    }
    for (const auto& [t, r] : journaled) {
      if (!config.shard.Has(t)) {
        report.errors.push_back("journal: " + config.journal + " holds run " +
                                std::to_string(t) + ", not of shard " + config.shard.ToString());
        return finish();
      }
    }
    report.execution.resumed = journaled.size();
  }

  std::vector<size_t> mine;  // task indexes of this shard, canonical order
  for (size_t t = 0; t < tasks.size(); ++t) {
    if (config.shard.Has(t)) mine.push_back(t);
  }
  std::vector<PointResult> results(tasks.size());
  std::vector<size_t> todo;
  for (size_t t : mine) {
    if (auto it = journaled.find(t); it != journaled.end()) {
      results[t] = std::move(it->second);
      record(results[t]);
    } else {
      todo.push_back(t);
    }
  }
  std::atomic<size_t> next{0};
  std::mutex mu;
  auto worker = [&] {
    for (size_t i = next++; i < todo.size(); i = next++) {
      const size_t t = todo[i];
      const Task& task = tasks[t];
      const Point& pt = points[task.number - 1];
      FaultPlan plan = PointPlan(pt.pid, pt.op, pt.nth, task.err, task.mode);
      SweepRun run = IsPowerLoss(task.mode)
                         ? backend.RunPowerLoss(plan, task.mode == SweepMode::kPowerLossMetadata)
                         : backend.Run(plan, task.mode == SweepMode::kCrash);
      PointResult r = Classify(run, clean, pt.pid, task.err, task.mode);
      r.id = task.id;
      r.point_id = point_ids[task.number - 1];
      r.run = t;
      r.point = task.number;
      r.op = pt.op;
      r.args = pt.args;
      r.path = pt.path;
      r.nth = pt.nth;
      r.plan = plan.ToString();
      r.reachable = task.reachable;
      r.modeled = pt.reach.modeled;
      r.call_class = pt.reach.modeled ? pt.reach.cls
                                      : (pt.reach.classes.empty() ? "" : pt.reach.classes.front());
      r.reach_source = pt.reach.source;
      if (!r.reachable && !r.passed) {
        // Not a defect: no kernel returns this there.
        r.outcome = "unreachable";
        r.passed = true;
      }
      r.replay = config.replay_prefix + " --point " + std::to_string(task.number) +
                 (ModeTakesErrno(task.mode) ? " --errno " + mydocker::ErrnoName(task.err) : "") +
                 " --mode " + SweepModeName(task.mode) +
                 (task.reachable || Contains(config.replay_prefix, " --errno-model ")
                      ? ""
                      : " --errno-model all") +
                 " " + config.workload.source;
      std::lock_guard<std::mutex> lock(mu);
      if (journal_ok) {
        if (std::string e = journal.Append(r); !e.empty()) {
          report.errors.push_back("journal: " + e);
          journal_ok = false;
        }
      }
      record(r);
      results[t] = std::move(r);
    }
  };
  const size_t threads = std::min(std::max<size_t>(backend.MaxParallelRuns(), 1), todo.size());
  report.execution.jobs = std::max<size_t>(threads, 1);
  if (threads <= 1) {
    worker();
  } else {
    std::vector<std::thread> pool;
    for (size_t i = 0; i < threads; ++i) pool.emplace_back(worker);
    for (auto& th : pool) th.join();
  }
  report.results.clear();
  for (size_t t : mine) report.results.push_back(std::move(results[t]));
  if (only && *only > points.size()) {
    report.errors.push_back("point " + std::to_string(*only) +
                            " does not exist: the sweep has " + std::to_string(points.size()) +
                            " points");
  }
  return finish();
}

// The syscall family of an op, the same for every runtime: mkdirat is
// mkdir, openat/openat2 are open, unlinkat is unlink (rmdir with
// AT_REMOVEDIR: its class is cgroup-dir or its path a directory).
std::string SyscallFamily(const std::string& op, const std::string& cls) {
  if (op == "mkdirat") return "mkdir";
  if (op == "openat" || op == "openat2" || op == "creat") return "open";
  if (op == "unlinkat") return cls == "cgroup-dir" ? "rmdir" : "unlink";
  if (op == "clone3" || op == "fork" || op == "vfork") return "clone";
  return op;
}

std::string MaskMessage(const std::string& message) {
  // Go maps first (runc: "map[cpuset:/sys/fs/cgroup/...]": which controller
  // failed is not the defect), timestamps (logrus's time="..."), then
  // paths, a v1 controller's name quoted as crun quotes it ("subsystem
  // `memory`", "`cpuset.cpus`"), hex, then numbers (container ids, pids).
  // Numbers inside words stay ("cgroup2", "v1").
  static const std::regex kGoMap(R"(map\[[^\]]*\])");
  static const std::regex kTime(
      R"([0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9:]+)?)");
  static const std::regex kPath(R"((/[^\s:'"(),`]+)+/?)");
  static const std::regex kController(
      R"(`(name=systemd|systemd|cpuset|cpuacct|cpu|blkio|io|memory|devices|freezer|net_cls|)"
      R"(net_prio|perf_event|hugetlb|pids|rdma|misc)([`.]))");
  static const std::regex kHex(R"(\b0x[0-9a-fA-F]+\b|\b[0-9a-f]{12,64}\b)");
  static const std::regex kNum(R"(\b[0-9]+\b)");
  std::string out = std::regex_replace(message, kGoMap, "map[<...>]");
  out = std::regex_replace(out, kTime, "<time>");
  out = std::regex_replace(out, kPath, "<path>");
  out = std::regex_replace(out, kController, "`<controller>$2");
  out = std::regex_replace(out, kHex, "<n>");
  out = std::regex_replace(out, kNum, "<n>");
  return out;
}

namespace {

// What went wrong, without the injected errno (a runtime that says the
// injected errno, whichever it is, is one defect, not six).
std::string MaskedError(const PointResult& r) {
  std::string m = LastLine(r.error);
  if (r.err != 0) {
    const std::string name = mydocker::ErrnoName(r.err);
    for (size_t at; (at = m.find(name)) != std::string::npos;) m.replace(at, name.size(), "<errno>");
    if (const char* desc = strerrordesc_np(r.err)) {
      std::string d = desc;
      for (size_t at; (at = m.find(d)) != std::string::npos;) m.replace(at, d.size(), "<errno>");
      // Go and C runtimes print strerror in lower case.
      for (char& c : d) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      for (size_t at; (at = m.find(d)) != std::string::npos;) m.replace(at, d.size(), "<errno>");
    }
  }
  return MaskMessage(m);
}

std::string FailureKind(const std::string& failure) {
  // The sentence before the first ':' (the runtime's words follow it).
  std::string f = failure.substr(0, failure.find(": "));
  return MaskMessage(f);
}

std::string Joined(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  std::string out;
  for (const auto& x : v) out += (out.empty() ? "" : ",") + x;
  return out.empty() ? "-" : out;
}

}  // namespace

void GroupDefects(SweepReport& report) {
  report.defects.clear();
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < report.results.size(); ++i) {
    PointResult& r = report.results[i];
    r.defect = 0;
    if (r.passed) continue;
    // A hang: where its threads sleep ("wchan W syscall S", each once).
    std::vector<std::string> asleep;
    for (const auto& line : r.trace_tail) {
      if (line.rfind("hang: pid ", 0) != 0) continue;
      const size_t w = line.find(" wchan ");
      if (w != std::string::npos) asleep.push_back(line.substr(w + 1));
    }
    std::vector<std::string> kinds;
    for (const auto& f : r.failures) kinds.push_back(FailureKind(f));
    const std::string cls = r.call_class.empty() ? "-" : r.call_class;
    // A crash is a window: the runtime killed at any call from where it
    // made something to where it recorded it leaves the same thing, so the
    // call it died at is not part of the key (the summary gives the points).
    const bool crash = r.mode == SweepMode::kCrash;
    // A run whose only failure is what it left: what it left is the defect,
    // not the words of its error (crun words each cgroup file's failure
    // differently and leaves the same cgroups after each), nor which call
    // of a class and family failed (openat or openat2 of a cgroup file).
    const bool left_only =
        !r.failures.empty() && std::all_of(r.failures.begin(), r.failures.end(), [](const std::string& f) {
          return f.rfind("left after gc: ", 0) == 0 || f.rfind("the run succeeded but left: ", 0) == 0;
        });
    std::string key = "outcome=" + std::string(crash                ? "crash"
                                               : IsPowerLoss(r.mode) ? "power-loss"
                                                                     : "fault") +
                      " | failures=" + Joined(kinds) +
                      " | left=" + Joined(r.left_probes) +
                      " | left_after_cleanup=" + Joined(r.left_after_gc_probes);
    if (!left_only) key += " | error=" + MaskedError(r);
    // Not the calls after the fault: they are the runtime's way out, and
    // split one defect by where its cleanup stopped (runc's rmdir of the
    // last of seven hierarchies).
    if (!crash) key += " | call=" + (left_only ? SyscallFamily(r.op, r.call_class) : r.op) + " " + cls;
    if (!asleep.empty()) key += " | asleep=" + Joined(asleep);
    auto it = index.find(key);
    if (it == index.end()) {
      Defect d;
      d.key = key;
      d.replay = r.replay;
      d.failure = r.failures.empty() ? "" : r.failures.front();
      report.defects.push_back(std::move(d));
      it = index.emplace(key, report.defects.size() - 1).first;
    }
    Defect& d = report.defects[it->second];
    ++d.runs;
    d.members.push_back(i);
    if (std::find(d.points.begin(), d.points.end(), r.point) == d.points.end())
      d.points.push_back(r.point);
    r.defect = it->second + 1;
  }
  // Most runs first; ties by first point.
  std::vector<size_t> order(report.defects.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return report.defects[a].runs > report.defects[b].runs;
  });
  std::vector<Defect> sorted;
  std::vector<size_t> renumber(order.size());
  for (size_t k = 0; k < order.size(); ++k) {
    renumber[order[k]] = k + 1;
    sorted.push_back(std::move(report.defects[order[k]]));
  }
  for (auto& d : sorted) {
    std::sort(d.points.begin(), d.points.end());
    const PointResult& first = report.results[d.members.front()];
    std::vector<std::string> ops, modes;
    for (size_t m : d.members) {
      ops.push_back(report.results[m].op);
      modes.push_back(SweepModeName(report.results[m].mode));
    }
    if (first.mode == SweepMode::kCrash && d.points.size() >= 2) {
      // A crash window: the points it spans and the calls the runtime died at.
      d.summary = "crash at any of " + std::to_string(d.points.size()) + " points from " +
                  std::to_string(d.points.front()) + " to " + std::to_string(d.points.back()) +
                  " (" + Joined(ops) + "): " + FailureKind(d.failure);
    } else {
      // Every op and mode of the members, not only the first member's.
      d.summary = Joined(ops) + " (" + (first.call_class.empty() ? "-" : first.call_class) +
                  "), " + Joined(modes) + ": " + FailureKind(d.failure);
    }
  }
  report.defects = std::move(sorted);
  for (auto& r : report.results) {
    if (r.defect) r.defect = renumber[r.defect - 1];
  }
}

std::string FailureText(const SweepReport& report, size_t max) {
  std::string out;
  for (const auto& e : report.errors) out += "error: " + e + "\n";
  size_t n = 0;
  for (const auto& p : report.results) {
    if (p.passed) continue;
    if (++n > max) break;
    out += "point " + std::to_string(p.point) + " " + p.process + " " + p.op + " " + p.args +
           " " + (p.err ? mydocker::ErrnoName(p.err) : "") + " " + SweepModeName(p.mode) + ":\n";
    for (const auto& f : p.failures) out += "    " + f + "\n";
    out += "    replay: " + p.replay + "\n";
  }
  return out;
}

}  // namespace faultline
