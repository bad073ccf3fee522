// RootCache: the supervisor's per-thread memory of readlink /proc/TID/root,
// so a notified call with an absolute path costs no readlink (about 2.5 us
// of a ~15 us round trip on the bench machine).
//
// A cached root is only handed out while both of these hold:
// - The thread is the one the entry was made for: each entry holds a
//   pidfd of the thread (PIDFD_THREAD), and the entry is dropped as soon as
//   that pidfd reports the thread gone, so a recycled tid never inherits a
//   dead thread's root. Where the kernel refuses a thread pidfd (before
//   6.9, for a non-leader thread) that tid is never cached.
// - No call that can change a root is in flight. chroot changes the root
//   of every thread sharing the caller's fs_struct; pivot_root every
//   process of the mount namespace whose root was the old one; unshare and
//   setns (mount namespace) the caller's. The supervisor therefore has the
//   filter notify chroot, pivot_root, unshare and setns always (see
//   SupervisorOptions::cache_roots) and calls OnRootChange before it
//   answers one. From then on the cache is bypassed (every Get reads the
//   link) until that thread's next notified call proves the call is over,
//   or the thread is gone; then the whole cache is dropped.
//
// Not thread-safe: one per notification loop.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace faultline::seccomp {

class RootCache {
 public:
  RootCache() = default;
  RootCache(const RootCache&) = delete;
  RootCache& operator=(const RootCache&) = delete;
  ~RootCache();

  // The root of tid as readlink /proc/TID/root gives it; empty when the
  // thread is gone. Call it only while tid is blocked in a notification
  // (and check the notification id afterwards, as for any /proc read).
  std::string Get(pid_t tid);

  // A new (not restarted) notified call from tid arrived: if tid had a
  // root-changing call pending, that call is over and the cache is dropped.
  void OnCall(pid_t tid);

  // tid is about to be let through a call that may change roots (chroot,
  // pivot_root, unshare, setns): bypass the cache until OnCall(tid) or tid's
  // exit.
  void OnRootChange(pid_t tid);

  // Drops every entry (closes the pidfds).
  void Clear();

  uint64_t hits() const { return hits_; }
  uint64_t reads() const { return reads_; }  // readlinks done
  size_t size() const { return entries_.size(); }

  static constexpr size_t kMaxEntries = 128;  // each holds an fd

 private:
  struct Entry {
    int pidfd = -1;
    std::string root;
  };
  struct Pending {
    pid_t tid;
    int pidfd;  // -1: the kernel gave none; only OnCall ends it
  };

  // Drops pending calls whose thread is gone; true when none is left.
  bool SettlePending();
  void DropDeadEntries();
  std::string ReadLink(pid_t tid);

  std::unordered_map<pid_t, Entry> entries_;
  std::vector<Pending> pending_;
  uint64_t hits_ = 0;
  uint64_t reads_ = 0;
};

// True when the thread behind pidfd has exited (poll says readable or hung
// up); false while it runs or when the poll fails.
bool PidfdExited(int pidfd);

// pidfd_open(tid, PIDFD_THREAD): a pidfd for this thread only, or -1.
int OpenThreadPidfd(pid_t tid);

}  // namespace faultline::seccomp
