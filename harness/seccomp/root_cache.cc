#include "harness/seccomp/root_cache.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>

#include "harness/seccomp/remote.h"

namespace faultline::seccomp {

namespace {
// PIDFD_THREAD (6.9+) is O_EXCL; not in the 6.1 uapi headers.
constexpr unsigned kPidfdThread = O_EXCL;
}  // namespace

bool PidfdExited(int pidfd) {
  pollfd p{pidfd, POLLIN, 0};
  int n = poll(&p, 1, 0);
  return n > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

int OpenThreadPidfd(pid_t tid) {
  long fd = syscall(SYS_pidfd_open, tid, kPidfdThread);
  return fd < 0 ? -1 : static_cast<int>(fd);  // pidfds are always CLOEXEC
}

RootCache::~RootCache() {
  Clear();
  for (const Pending& p : pending_) {
    if (p.pidfd >= 0) close(p.pidfd);
  }
}

void RootCache::Clear() {
  for (auto& [tid, e] : entries_) close(e.pidfd);
  entries_.clear();
}

std::string RootCache::ReadLink(pid_t tid) {
  ++reads_;
  return ReadProcLink(tid, "root");
}

bool RootCache::SettlePending() {
  if (pending_.empty()) return true;
  size_t before = pending_.size();
  pending_.erase(std::remove_if(pending_.begin(), pending_.end(),
                                [](const Pending& p) {
                                  if (p.pidfd < 0 || !PidfdExited(p.pidfd)) return false;
                                  close(p.pidfd);
                                  return true;
                                }),
                 pending_.end());
  if (pending_.size() != before) Clear();
  return pending_.empty();
}

void RootCache::OnCall(pid_t tid) {
  if (pending_.empty()) return;
  auto it = std::find_if(pending_.begin(), pending_.end(),
                         [tid](const Pending& p) { return p.tid == tid; });
  if (it == pending_.end()) return;
  if (it->pidfd >= 0) close(it->pidfd);
  pending_.erase(it);
  Clear();
}

void RootCache::OnRootChange(pid_t tid) {
  Clear();
  for (const Pending& p : pending_) {
    if (p.tid == tid) return;
  }
  pending_.push_back({tid, OpenThreadPidfd(tid)});
}

void RootCache::DropDeadEntries() {
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (PidfdExited(it->second.pidfd)) {
      close(it->second.pidfd);
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
}

std::string RootCache::Get(pid_t tid) {
  if (!SettlePending()) return ReadLink(tid);
  auto it = entries_.find(tid);
  if (it != entries_.end()) {
    if (!PidfdExited(it->second.pidfd)) {
      ++hits_;
      return it->second.root;
    }
    close(it->second.pidfd);  // the tid now belongs to someone else
    entries_.erase(it);
  }
  int pidfd = OpenThreadPidfd(tid);
  std::string root = ReadLink(tid);
  if (pidfd < 0) return root;
  // The link belongs to the pidfd's thread only if that thread still holds
  // the tid after the read.
  if (root.empty() || PidfdExited(pidfd)) {
    close(pidfd);
    return root;
  }
  if (entries_.size() >= kMaxEntries) {
    DropDeadEntries();
    if (entries_.size() >= kMaxEntries) Clear();
  }
  entries_.emplace(tid, Entry{pidfd, root});
  return root;
}

}  // namespace faultline::seccomp
