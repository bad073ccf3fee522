#include "harness/seccomp/hang.h"

#include <dirent.h>
#include <sys/syscall.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <seccomp.h>

namespace faultline::seccomp {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<pid_t> Numbers(const std::string& dir) {
  std::vector<pid_t> out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    char* end = nullptr;
    long v = std::strtol(e->d_name, &end, 10);
    if (end != e->d_name && *end == '\0' && v > 0) out.push_back(static_cast<pid_t>(v));
  }
  ::closedir(d);
  return out;
}

// From /proc/.../stat: state, ppid, utime + stime. False when gone.
bool ParseStat(const std::string& text, char* state, pid_t* ppid, uint64_t* ticks) {
  const size_t rp = text.rfind(')');
  if (rp == std::string::npos) return false;
  std::istringstream in(text.substr(rp + 2));
  std::string f[13];
  // state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
  for (auto& x : f) {
    if (!(in >> x)) return false;
  }
  *state = f[0].empty() ? '?' : f[0][0];
  *ppid = static_cast<pid_t>(std::atol(f[1].c_str()));
  *ticks = std::strtoull(f[11].c_str(), nullptr, 10) + std::strtoull(f[12].c_str(), nullptr, 10);
  return true;
}

std::string Comm(const std::string& base) {
  std::string c = ReadAll(base + "/comm");
  while (!c.empty() && c.back() == '\n') c.pop_back();
  return c;
}

// The syscall a thread is blocked in ("futex", "-" when not in one).
std::string BlockedSyscall(const std::string& task_dir, long* nr_out) {
  std::string s = ReadAll(task_dir + "/syscall");
  *nr_out = -1;
  if (s.empty() || s.rfind("running", 0) == 0) return "running";
  const long nr = std::strtol(s.c_str(), nullptr, 10);
  *nr_out = nr;
  if (nr < 0) return "-";
  char* name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, static_cast<int>(nr));
  std::string out = name != nullptr ? name : "syscall " + std::to_string(nr);
  std::free(name);
  return out;
}

}  // namespace

std::vector<pid_t> DescendantsOf(pid_t root) {
  std::map<pid_t, pid_t> parent;
  for (pid_t p : Numbers("/proc")) {
    char state;
    pid_t ppid;
    uint64_t ticks;
    if (ParseStat(ReadAll("/proc/" + std::to_string(p) + "/stat"), &state, &ppid, &ticks)) {
      parent[p] = ppid;
    }
  }
  std::vector<pid_t> tree;
  std::set<pid_t> in = {root};
  for (bool grew = true; grew;) {
    grew = false;
    for (const auto& [p, pp] : parent) {
      if (in.count(p) == 0 && in.count(pp) != 0) {
        in.insert(p);
        tree.push_back(p);
        grew = true;
      }
    }
  }
  return tree;
}

TreeSample SampleTree(pid_t root) {
  TreeSample s;
  for (pid_t pid : DescendantsOf(root)) {
    const std::string base = "/proc/" + std::to_string(pid) + "/task";
    for (pid_t tid : Numbers(base)) {
      const std::string dir = base + "/" + std::to_string(tid);
      char state;
      pid_t ppid;
      uint64_t ticks;
      if (!ParseStat(ReadAll(dir + "/stat"), &state, &ppid, &ticks)) continue;
      ++s.tasks;
      s.cpu_ticks += ticks;
      if (state == 'R') s.all_asleep = false;
      if (state == 'S' || state == 'D') {
        long nr = -1;
        BlockedSyscall(dir, &nr);
        if (nr == SYS_nanosleep || nr == SYS_clock_nanosleep) s.timed_sleep = true;
      }
    }
  }
  return s;
}

std::string DescribeTree(pid_t root) {
  std::string out;
  for (pid_t pid : DescendantsOf(root)) {
    const std::string base = "/proc/" + std::to_string(pid) + "/task";
    for (pid_t tid : Numbers(base)) {
      const std::string dir = base + "/" + std::to_string(tid);
      char state = '?';
      pid_t ppid = 0;
      uint64_t ticks = 0;
      if (!ParseStat(ReadAll(dir + "/stat"), &state, &ppid, &ticks)) continue;
      long nr = -1;
      std::string wchan = ReadAll(dir + "/wchan");
      if (wchan.empty() || wchan == "0") wchan = "-";
      out += "pid " + std::to_string(pid) + " (" + Comm(dir) + ") tid " + std::to_string(tid) +
             " " + state + " wchan " + wchan + " syscall " + BlockedSyscall(dir, &nr) + "\n";
      std::istringstream stack(ReadAll(dir + "/stack"));
      std::string line;
      while (std::getline(stack, line)) {
        if (!line.empty()) out += "    " + line + "\n";
      }
    }
  }
  return out;
}

void HangDetector::Event(Clock::time_point now) {
  last_event_ = now;
  streak_ = false;
}

bool HangDetector::Check(Clock::time_point now, const TreeSample& s) {
  if (!enabled()) return false;
  const bool asleep = s.tasks > 0 && s.all_asleep && !s.timed_sleep;
  if (!asleep || (streak_ && s.cpu_ticks != streak_ticks_)) {
    // Something ran: start over from this sample.
    streak_ = asleep;
    streak_since_ = now;
    streak_ticks_ = s.cpu_ticks;
    return false;
  }
  if (!streak_) {
    streak_ = true;
    streak_since_ = now;
    streak_ticks_ = s.cpu_ticks;
    return false;
  }
  return now - streak_since_ >= quiet_ && now - last_event_ >= quiet_;
}

}  // namespace faultline::seccomp
