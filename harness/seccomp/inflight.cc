#include "harness/seccomp/inflight.h"

#include <cstring>

namespace faultline::seccomp {

InflightCall* InflightCalls::OnNotification(pid_t tid, int nr,
                                            const uint64_t args[6],
                                            uint64_t id) {
  auto it = calls_.find(tid);
  if (it == calls_.end()) return nullptr;
  InflightCall& c = it->second;
  if (c.nr == nr && std::memcmp(c.args, args, sizeof(c.args)) == 0) {
    c.id = id;
    c.gone = false;
    return &c;
  }
  calls_.erase(it);
  return nullptr;
}

void InflightCalls::Track(pid_t tid, const InflightCall& call) {
  calls_[tid] = call;
}

void InflightCalls::Finish(pid_t tid) { calls_.erase(tid); }

void InflightCalls::MarkGone(pid_t tid) {
  auto it = calls_.find(tid);
  if (it == calls_.end()) return;
  it->second.gone = true;
  it->second.deadline.reset();
}

InflightCall* InflightCalls::Find(pid_t tid) {
  auto it = calls_.find(tid);
  return it == calls_.end() ? nullptr : &it->second;
}

std::vector<pid_t> InflightCalls::Due(Clock::time_point now) const {
  std::vector<pid_t> due;
  for (const auto& [tid, c] : calls_) {
    if (!c.gone && c.deadline && *c.deadline <= now) due.push_back(tid);
  }
  return due;
}

std::optional<Clock::time_point> InflightCalls::NextDeadline() const {
  std::optional<Clock::time_point> next;
  for (const auto& [tid, c] : calls_) {
    if (c.gone || !c.deadline) continue;
    if (!next || *c.deadline < *next) next = c.deadline;
  }
  return next;
}

std::vector<pid_t> InflightCalls::Delayed() const {
  std::vector<pid_t> out;
  for (const auto& [tid, c] : calls_) {
    if (!c.gone && c.deadline) out.push_back(tid);
  }
  return out;
}

}  // namespace faultline::seccomp
