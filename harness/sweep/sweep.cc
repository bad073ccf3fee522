#include "harness/sweep/sweep.h"

#include <errno.h>
#include <string.h>

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

#include <spdlog/spdlog.h>

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
      "lchown", "lstat",  "statfs",     "readdir",    "readlink", "open",
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
  uint64_t nth = 0;
};

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
    case SweepMode::kCrash: return "crash";
  }
  return "?";
}

bool SweepModeFromName(const std::string& name, SweepMode* m) {
  if (name == "transient" || name == "once") *m = SweepMode::kTransient;
  else if (name == "persistent") *m = SweepMode::kPersistent;
  else if (name == "crash") *m = SweepMode::kCrash;
  else return false;
  return true;
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
      return MakeError("sweep: --mode", name, EINVAL, "a mode is transient, persistent or crash");
    }
    if (std::find(out.begin(), out.end(), m) == out.end()) out.push_back(m);
  }
  if (out.empty()) return MakeError("sweep: --mode", "", EINVAL, "the list is empty");
  return out;
}

std::vector<int> DefaultSweepErrnos() { return {EPERM, EBUSY, ENOSPC, EINVAL, EIO, ENOMEM}; }
std::vector<SweepMode> AllSweepModes() {
  return {SweepMode::kTransient, SweepMode::kPersistent, SweepMode::kCrash};
}

std::vector<std::string> BuiltinWorkloadNames() { return {"run-true", "run-full"}; }

std::optional<SweepWorkload> BuiltinWorkload(const std::string& name) {
  SweepWorkload w;
  w.name = name;
  w.source = name;
  w.argv = {"true"};
  if (name == "run-true") return w;
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
  if (mode == SweepMode::kCrash) {
    r.action.kind = ActionKind::kCrash;
  } else {
    r.action.kind = ActionKind::kFail;
    r.action.err = err;
  }
  r.times = mode == SweepMode::kPersistent ? Times::kPersistent : Times::kOnce;
  return FaultPlan({r});
}

PointResult Classify(const SweepRun& run, const SweepRun& clean, pid_t pid, int err,
                     SweepMode mode) {
  PointResult r;
  r.pid = pid;
  r.process = ProcessName(pid);
  r.err = mode == SweepMode::kCrash ? 0 : err;
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
    f.push_back("the runtime hung (killed at the deadline)");
    gc_must_clean();
  } else if (!run.fired) {
    r.outcome = "not-fired";
    if ((!run.external && (run.returned_error || !run.message.empty())) ||
        run.exit_code != clean.exit_code) {
      f.push_back("no fault fired, yet the run differs from the clean run: " +
                  (r.error.empty() ? "exit " + std::to_string(run.exit_code) : r.error));
    }
    if (left) f.push_back("no fault fired, yet the run left: " + r.left);
  } else if (mode == SweepMode::kCrash) {
    if (!run.crashed) f.push_back("the crash rule fired but the runtime did not die");
    gc_must_clean();
    r.outcome = left ? "recovered-by-gc" : "clean";
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
      } else if (!NamesErrno(run.message, err)) {
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
      // The faulted call, and the errnos the error may truthfully carry: the
      // injected one, or one a later call really returned (the runtime read
      // the fault as a state, e.g. umount2 EINVAL "not mounted", went on,
      // and failed there).
      const SweepCall* faulted = nullptr;
      std::set<int> truthful = {err};
      for (const SweepCall& c : run.calls) {
        if (c.fired && faulted == nullptr) faulted = &c;
        else if (faulted != nullptr && !c.fired && !c.after_crash && c.err != 0)
          truthful.insert(c.err);
      }
      if (e.step.empty()) f.push_back("the error names no step: " + r.error);
      if (e.path.empty() && faulted != nullptr && OpHasPath(faulted->op)) {
        f.push_back("the error names no path: " + r.error);
      }
      if (truthful.count(e.err) == 0) {
        f.push_back("the error carries " + mydocker::ErrnoName(e.err) + ", the fault was " +
                    want_errno + " and no later call failed so: " + r.error);
      }
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
  j["summary"] = {{"points", points}, {"runs", runs}, {"passed", passed}, {"failed", failed}};
  nlohmann::json pts = nlohmann::json::array();
  for (const PointResult& r : results) {
    nlohmann::json p;
    p["seq"] = r.point;
    p["pid"] = r.pid;
    p["process"] = r.process;
    p["op"] = r.op;
    p["arguments"] = r.args;
    p["nth"] = r.nth;
    p["errno"] = r.err ? nlohmann::json(mydocker::ErrnoName(r.err)) : nlohmann::json(nullptr);
    p["mode"] = SweepModeName(r.mode);
    p["outcome"] = r.outcome;
    p["passed"] = r.passed;
    if (!r.failures.empty()) p["failures"] = r.failures;
    if (!r.notes.empty()) p["notes"] = r.notes;
    p["error"] = r.error;
    p["exit_code"] = r.exit_code;
    p["probes"] = {{"after_run", r.left.empty() ? "clean" : r.left},
                   {"gc_ran", r.gc_ran},
                   {"gc_errors", r.gc_errors},
                   {"after_gc", !r.gc_ran ? "" : r.left_after_gc.empty() ? "clean"
                                                                         : r.left_after_gc}};
    p["plan"] = r.plan;
    p["replay"] = r.replay;
    if (!r.trace_tail.empty()) p["trace"] = r.trace_tail;
    pts.push_back(std::move(p));
  }
  j["points"] = std::move(pts);
  return j;
}

SweepReport RunSweep(SweepBackend& backend, const SweepConfig& config) {
  auto t0 = std::chrono::steady_clock::now();
  SweepReport report;
  report.backend = backend.name();
  report.workload = config.workload.name;
  auto finish = [&] {
    backend.Finish();
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
  ++report.runs;
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

  // A replay of one plan.
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
      else if (rule.times == Times::kPersistent) mode = SweepMode::kPersistent;
      if (rule.match.ops.size() == 1) op = rule.match.ops.front();
    }
    total_planned = 1;
    SweepRun run = backend.Run(plan, mode == SweepMode::kCrash);
    ++report.runs;
    PointResult r = Classify(run, clean, pid, err, mode);
    r.op = op;
    r.plan = plan.ToString();
    r.replay = config.replay_prefix + " --plan " + Quote(r.plan) + " " + config.workload.source;
    for (const SweepCall& c : run.calls) {
      if (c.fired) {
        r.args = c.args;
        break;
      }
    }
    report.points = 1;
    record(r);
    report.results.push_back(std::move(r));
    return finish();
  }

  // 2. The points: the k-th call of op by each process.
  std::vector<Point> points;
  std::map<std::pair<pid_t, std::string>, uint64_t> count;
  for (const SweepCall& c : clean.calls) {
    uint64_t k = ++count[{c.pid, c.op}];
    points.push_back(Point{c.pid, c.op, c.args, k});
  }
  const int probe_err = config.errnos.empty() ? EIO : config.errnos.front();
  // 3. Past the end of each (process, op): go on while the fault fires.
  // (Not for a one-point replay: the numbering is the clean run's anyway.)
  for (const auto& [key, last] : count) {
    if (config.only_point) break;
    for (uint64_t k = last + 1; k < last + 64; ++k) {
      SweepRun run = backend.Run(PointPlan(key.first, key.second, k, probe_err,
                                           SweepMode::kTransient),
                                 false);
      ++report.runs;
      if (!run.harness_error.empty()) {
        report.errors.push_back("end check " + key.second + " #" + std::to_string(k) +
                                ": harness: " + run.harness_error);
        break;
      }
      if (!run.fired) break;
      std::string args;
      for (const SweepCall& c : run.calls) {
        if (c.fired) args = c.args;
      }
      spdlog::warn("sweep: {} of {} fired at #{}, past the clean run's {}: a longer run",
                   key.second, ProcessName(key.first), k, last);
      points.push_back(Point{key.first, key.second, args, k});
    }
  }
  report.points = points.size();

  size_t per_point = 0;
  for (SweepMode m : config.modes) per_point += m == SweepMode::kCrash ? 1 : config.errnos.size();
  total_planned = config.only_point ? per_point : per_point * points.size();

  // 4. Every (point, mode, errno) run; in parallel when the backend allows.
  struct Task {
    size_t number;
    SweepMode mode;
    int err;
  };
  std::vector<Task> tasks;
  for (size_t i = 0; i < points.size(); ++i) {
    const size_t number = i + 1;
    if (config.only_point && *config.only_point != number) continue;
    for (SweepMode mode : config.modes) {
      if (mode == SweepMode::kCrash) {
        tasks.push_back({number, mode, 0});
      } else {
        for (int err : config.errnos) tasks.push_back({number, mode, err});
      }
    }
  }
  std::vector<PointResult> results(tasks.size());
  std::atomic<size_t> next{0};
  std::mutex mu;
  auto worker = [&] {
    for (size_t t = next++; t < tasks.size(); t = next++) {
      const Task& task = tasks[t];
      const Point& pt = points[task.number - 1];
      FaultPlan plan = PointPlan(pt.pid, pt.op, pt.nth, task.err, task.mode);
      SweepRun run = backend.Run(plan, task.mode == SweepMode::kCrash);
      PointResult r = Classify(run, clean, pt.pid, task.err, task.mode);
      r.point = task.number;
      r.op = pt.op;
      r.args = pt.args;
      r.nth = pt.nth;
      r.plan = plan.ToString();
      r.replay = config.replay_prefix + " --point " + std::to_string(task.number) +
                 (task.mode == SweepMode::kCrash
                      ? ""
                      : " --errno " + mydocker::ErrnoName(task.err)) +
                 " --mode " + SweepModeName(task.mode) + " " + config.workload.source;
      std::lock_guard<std::mutex> lock(mu);
      ++report.runs;
      record(r);
      results[t] = std::move(r);
    }
  };
  const size_t threads = std::min(std::max<size_t>(backend.MaxParallelRuns(), 1), tasks.size());
  if (threads <= 1) {
    worker();
  } else {
    std::vector<std::thread> pool;
    for (size_t i = 0; i < threads; ++i) pool.emplace_back(worker);
    for (auto& th : pool) th.join();
  }
  report.results.clear();
  for (auto& r : results) report.results.push_back(std::move(r));
  if (config.only_point && *config.only_point > points.size()) {
    report.errors.push_back("point " + std::to_string(*config.only_point) +
                            " does not exist: the sweep has " + std::to_string(points.size()) +
                            " points");
  }
  return finish();
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
