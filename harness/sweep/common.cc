#include "harness/sweep/common.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <iterator>
#include <optional>
#include <set>

#include "harness/probes/tmp_watch.h"
#include "runtime/sys/fs_util.h"
#include "runtime/sys/mountinfo.h"

namespace faultline::sweep_internal {

using mydocker::JoinPath;
using mydocker::MakeError;
using mydocker::Outcome;

mydocker::RunSpec SpecFor(const SweepWorkload& w, const std::string& volume_base) {
  mydocker::RunSpec spec;
  spec.image = "busybox";
  spec.argv = w.argv;
  spec.env = w.env;
  spec.hostname = w.hostname;
  spec.limits = w.limits;
  for (const SweepVolume& v : w.volumes) {
    spec.volumes.push_back(mydocker::Volume{JoinPath(volume_base, v.name), v.container,
                                            v.read_only});
  }
  return spec;
}

Outcome MakeVolumes(mydocker::Sys& sys, const SweepWorkload& w, const std::string& volume_base) {
  for (const SweepVolume& v : w.volumes) {
    const std::string dir = JoinPath(volume_base, v.name);
    MYDOCKER_TRY(mydocker::MkdirAll(sys, dir, 0755, "sweep: create volume"));
    for (const auto& [name, content] : v.files) {
      MYDOCKER_TRY(mydocker::WriteFile(sys, JoinPath(dir, name), content, 0644,
                                       "sweep: write volume file"));
    }
  }
  return Outcome::Ok();
}

Outcome EnsureCgroupParentDirs(mydocker::Sys& sys, const std::string& parent) {
  auto mounts = mydocker::ReadMountinfo(sys, "/proc/self/mountinfo");
  if (!mounts) return mounts.error();
  std::set<std::string> seen;
  for (const auto& m : *mounts) {
    if ((m.fstype != "cgroup" && m.fstype != "cgroup2") || m.root != "/") continue;
    if (!seen.insert(m.target).second) continue;
    const std::string dir = JoinPath(m.target, parent);
    if (auto st = sys.Mkdir(dir, 0755); !st.ok() && st.err != EEXIST) {
      return MakeError("sweep: create cgroup parent", dir, st.err);
    }
    if (m.fstype != "cgroup" || m.super_options.find("cpuset") == std::string::npos) continue;
    for (const char* f : {"cpuset.cpus", "cpuset.mems"}) {
      auto cur = mydocker::ReadFile(sys, JoinPath(dir, f), "sweep: read cpuset");
      if (!cur) return cur.error();
      if (!cur->empty() && *cur != "\n") continue;
      auto top = mydocker::ReadFile(sys, JoinPath(m.target, f), "sweep: read cpuset");
      if (!top) return top.error();
      MYDOCKER_TRY(mydocker::WriteExisting(sys, JoinPath(dir, f), *top, "sweep: fill cpuset"));
    }
  }
  if (seen.empty()) {
    return MakeError("sweep: create cgroup parent", "/proc/self/mountinfo", ENOENT,
                     "no cgroup hierarchy is mounted");
  }
  return Outcome::Ok();
}

SweepCall ToCall(const TraceEntry& e) {
  SweepCall c;
  c.seq = e.seq;
  c.pid = e.pid;
  c.op = e.op;
  c.args = e.args;
  c.path = e.path;
  c.path2 = e.path2;
  c.fstype = e.fstype;
  c.flags = e.flags;
  c.err = e.err;
  c.fired = e.rule >= 0 && e.action != ActionKind::kNone;
  c.after_crash = e.after_crash;
  return c;
}

void TakeOutcome(const mydocker::Expected<mydocker::RunResult>& r, SweepRun* run) {
  if (!r.ok()) {
    run->returned_error = true;
    run->error = r.error();
    return;
  }
  const mydocker::RunResult& ok = r.value();
  run->exit_code = ok.exit_code;
  run->message = ok.message;
  run->id = ok.id;
}

void RunGc(mydocker::Runtime& rt, SweepRun* run) {
  run->gc_ran = true;
  auto gc = rt.Gc();
  if (!gc) {
    run->gc_errors.push_back(gc.error().Message());
    return;
  }
  for (const auto& e : gc->errors) run->gc_errors.push_back(e.Message());
  for (const auto& id : gc->skipped) {
    run->gc_errors.push_back("gc skipped " + id + ": its runtime looks alive");
  }
}

mydocker::Expected<mydocker::RunResult> RunVerbs(mydocker::Runtime& rt, mydocker::Sys& sys,
                                                 mydocker::RunSpec spec) {
  spec.detach = true;
  auto r = rt.Run(spec);
  if (!r || r->exit_code != 0 || !r->message.empty()) return r;
  const std::string id = r->id;
  std::optional<mydocker::Error> first;
  mydocker::ExecSpec ex;
  ex.argv = {"hostname"};
  auto devnull = sys.Open("/dev/null", O_WRONLY | O_CLOEXEC, 0);
  if (!devnull.ok()) {
    first = mydocker::MakeError("verbs: open", "/dev/null", devnull.err);
  } else {
    ex.stdout_fd = devnull.value;
    auto e = rt.Exec(id, ex);
    (void)sys.Close(devnull.value);  // close(2) releases it whatever it says
    if (!e) {
      first = e.error();
    } else if (e->exit_code == mydocker::kExitNotFound ||
               e->exit_code == mydocker::kExitCannotExecute) {
      first = mydocker::MakeError("exec: start " + ex.argv[0], "container " + id, e->err,
                                  e->message);
    } else if (e->exit_code != 0) {
      first = mydocker::MakeError("exec " + ex.argv[0], "container " + id, 0,
                                  "exited " + std::to_string(e->exit_code));
    }
  }
  mydocker::Outcome st = rt.Stop(id, 0);
  if (!st && !first) first = st.error();
  mydocker::Outcome rm = rt.Remove(id, first.has_value());
  if (!rm) {
    // What a script driving mydocker says when its last rm failed.
    if (!first) first = rm.error();
    else first->detail += (first->detail.empty() ? "" : "; ") +
                          std::string("rm failed too: ") + rm.error().Message();
    first->detail += "; `mydocker rm -f " + id + "` and `mydocker gc` remove what is left";
  }
  if (first) return *first;
  return r;
}

namespace {

// rm (force: rm -f) of every container whose StatusText `which` takes; the
// failures go to run->gc_errors. How many were removed.
size_t RemoveWhere(mydocker::Runtime& rt, mydocker::Sys& sys, SweepRun* run, bool force,
                   bool (*which)(const std::string& status)) {
  auto all = rt.List();
  if (!all) {
    run->gc_errors.push_back(all.error().Message());
    return 0;
  }
  size_t n = 0;
  for (const auto& s : *all) {
    if (!which(mydocker::StatusText(sys, s))) continue;
    if (mydocker::Outcome o = rt.Remove(s.id, force); !o) {
      run->gc_errors.push_back((force ? "rm -f " : "rm ") + s.id + ": " + o.error().Message());
    } else {
      ++n;
    }
  }
  return n;
}

}  // namespace

size_t RemoveStopped(mydocker::Runtime& rt, mydocker::Sys& sys, SweepRun* run) {
  return RemoveWhere(rt, sys, run, false, [](const std::string& status) {
    return status.rfind("exited", 0) == 0 || status == "removing";
  });
}

size_t RemoveRunning(mydocker::Runtime& rt, mydocker::Sys& sys, SweepRun* run) {
  return RemoveWhere(rt, sys, run, true,
                     [](const std::string& status) { return status == "running"; });
}

mydocker::Status CloseReleasesFd::Close(int fd) {
  mydocker::Status s = target().Close(fd);
  const auto& trace = fis_.trace();
  if (!s.ok() && !trace.empty() && trace.back().op == "close" && trace.back().rule >= 0 &&
      trace.back().action == ActionKind::kFail) {
    (void)fis_.target().Close(fd);
  }
  return s;
}

std::set<std::string> FdSet(mydocker::Sys& sys) {
  std::set<std::string> out;
  auto entries = sys.ReadDir("/proc/self/fd");
  if (!entries.ok()) {
    out.insert("(cannot read /proc/self/fd: " + mydocker::ErrnoName(entries.err) + ")");
    return out;
  }
  for (const auto& e : entries.value) {
    auto target = sys.Readlink("/proc/self/fd/" + e.name);
    if (target.ok()) out.insert(e.name + " -> " + target.value);
  }
  return out;
}

std::vector<ProbeDiff> FdDiff(const std::set<std::string>& before,
                              const std::set<std::string>& after) {
  ProbeDiff d;
  d.probe = "fds";
  std::set_difference(after.begin(), after.end(), before.begin(), before.end(),
                      std::back_inserter(d.appeared));
  std::set_difference(before.begin(), before.end(), after.begin(), after.end(),
                      std::back_inserter(d.vanished));
  if (d.appeared.empty() && d.vanished.empty()) return {};
  return {d};
}

mydocker::RuntimeConfig ConfigFor(const std::string& root, const std::string& cgroup_parent) {
  mydocker::RuntimeConfig c;
  c.root = root;
  c.cgroup_parent = cgroup_parent;
  c.inherited_env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"};
  c.new_id = [] { return std::string(kSweepId); };
  return c;
}

bool Under(const std::string& path, const std::string& dir) {
  return path == dir || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
                         path[dir.size()] == '/');
}

void DetachMountsUnder(mydocker::Sys& sys, const std::string& dir) {
  for (int round = 0; round < 8; ++round) {
    auto table = mydocker::ReadMountinfo(sys, "/proc/self/mountinfo");
    if (!table) return;
    std::vector<std::string> targets;
    for (const auto& m : *table) {
      if (Under(m.target, dir)) targets.push_back(m.target);
    }
    if (targets.empty()) return;
    std::sort(targets.begin(), targets.end(),
              [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
    for (const auto& t : targets) ::umount2(t.c_str(), MNT_DETACH);
  }
}

}  // namespace faultline::sweep_internal

namespace faultline {

int ThreadCount() {
  FILE* f = ::fopen("/proc/self/status", "r");
  if (f == nullptr) return 0;
  char line[256];
  int n = 0;
  while (::fgets(line, sizeof line, f) != nullptr) {
    if (::strncmp(line, "Threads:", 8) == 0) n = ::atoi(line + 8);
  }
  ::fclose(f);
  return n;
}

mydocker::Expected<pid_t> ForkSweepChild(const std::string& what,
                                         const std::function<int()>& body) {
  SharedTmpWatch::StopReader();
  if (const int threads = ThreadCount(); threads != 1) {
    SharedTmpWatch::StartReader();
    return mydocker::MakeError("sweep: fork " + what, "", 0,
                               "this process has " + std::to_string(threads) +
                                   " threads; a sweep forks from one only");
  }
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    int code = kSweepChildThrew;
    try {
      code = body();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "faultline: sweep %s (pid %d) threw: %s\n", what.c_str(),
                   static_cast<int>(::getpid()), e.what());
    } catch (...) {
      std::fprintf(stderr, "faultline: sweep %s (pid %d) threw a non-std exception\n",
                   what.c_str(), static_cast<int>(::getpid()));
    }
    std::fflush(nullptr);
    ::_exit(code);
  }
  const int err = errno;
  SharedTmpWatch::StartReader();
  if (pid < 0) return mydocker::MakeError("sweep: fork " + what, "", err);
  return pid;
}

}  // namespace faultline
