// Calls the supervisor has decided but not finished answering, per thread.
//
// A thread has at most one notified call at a time. When a signal interrupts
// a waiting call (possible without WAIT_KILLABLE_RECV, and before the
// supervisor receives it even with it), the kernel drops the notification:
// responding to its id gives ENOENT, and when the syscall restarts the
// supervisor gets a new id with the same thread, number and arguments. That
// new notification is the same call: it keeps its seq and verdict, and the
// Decider is not asked again. Any other call from the thread proves the old
// one finished, and its record is dropped.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

#include "harness/seccomp/supervisor.h"

namespace faultline::seccomp {

using Clock = std::chrono::steady_clock;

struct InflightCall {
  uint64_t id = 0;  // the kernel's notification id, current incarnation
  int nr = -1;
  uint64_t args[6] = {0, 0, 0, 0, 0, 0};
  uint64_t seq = 0;
  size_t trace_index = 0;  // into the trace, when it is recorded
  Verdict verdict;
  std::optional<Clock::time_point> deadline;  // kDelay: when to continue
  bool gone = false;  // the last answer hit ENOENT; a restart may follow
};

class InflightCalls {
 public:
  // A notification arrived. When it repeats the thread's tracked call (same
  // nr and args), returns that call with id updated: a restart. Otherwise
  // forgets whatever the thread had and returns null.
  InflightCall* OnNotification(pid_t tid, int nr, const uint64_t args[6],
                               uint64_t id);
  void Track(pid_t tid, const InflightCall& call);
  // The answer landed: the call is over.
  void Finish(pid_t tid);
  // The answer hit ENOENT: keep the call to match its restart.
  void MarkGone(pid_t tid);
  InflightCall* Find(pid_t tid);
  // Threads whose delay has passed at now, and the earliest pending deadline.
  std::vector<pid_t> Due(Clock::time_point now) const;
  std::optional<Clock::time_point> NextDeadline() const;
  // Every thread with a call still waiting for its delay.
  std::vector<pid_t> Delayed() const;
  size_t size() const { return calls_.size(); }

 private:
  std::unordered_map<pid_t, InflightCall> calls_;
};

}  // namespace faultline::seccomp
