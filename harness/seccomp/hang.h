// Recognising a hung process tree early (issue 17): instead of waiting out
// a run's timeout, the supervisor samples the supervised tree (every
// descendant of its reaper, every thread) while no notified call arrives.
// The tree is hung when, for the whole quiet time, no notified call came,
// every thread was asleep (state S or D, or stopped) on every sample, the
// tree used no CPU time (utime + stime of all threads unchanged), and no
// thread sits in a timed sleep (nanosleep, clock_nanosleep: a workload's
// `sleep 5` is waiting for a clock, not hung).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace faultline::seccomp {

struct TreeSample {
  int tasks = 0;             // threads seen
  bool all_asleep = true;    // every thread in S, D, T, t, I (or a zombie)
  bool timed_sleep = false;  // some thread in nanosleep/clock_nanosleep
  uint64_t cpu_ticks = 0;    // utime + stime of every thread
};

// Every live descendant of root (not root), breadth-first.
std::vector<pid_t> DescendantsOf(pid_t root);

TreeSample SampleTree(pid_t root);

// One block per thread of the tree: "pid 12 (runc) tid 14 S wchan
// futex_wait_queue syscall futex(...)" and its kernel stack
// (/proc/TID/stack, indented; absent where the kernel does not offer it).
std::string DescribeTree(pid_t root);

class HangDetector {
 public:
  using Clock = std::chrono::steady_clock;
  explicit HangDetector(std::chrono::milliseconds quiet) : quiet_(quiet) {}

  bool enabled() const { return quiet_.count() > 0; }
  // How often to sample while quiet.
  static constexpr std::chrono::milliseconds kSampleEvery{100};

  // A notified call (or another sign of life) now.
  void Event(Clock::time_point now);
  // A sample of the tree now; true when it is hung by the rule above.
  bool Check(Clock::time_point now, const TreeSample& s);

 private:
  std::chrono::milliseconds quiet_;
  Clock::time_point last_event_{};
  bool streak_ = false;
  Clock::time_point streak_since_{};
  uint64_t streak_ticks_ = 0;
};

}  // namespace faultline::seccomp
