// SharedTmpWatch: who wrote directly in the host's /tmp and /var/tmp, seen
// by fanotify, for the outside probe (probes.h).
//
// Every program on a host writes in /tmp, so a before/after listing of it
// cannot tell an escape from the noise. fanotify can: an inode mark on each
// directory (FAN_EVENT_ON_CHILD, with FAN_REPORT_DFID_NAME: Linux 5.9, needs
// CAP_SYS_ADMIN) reports every entry created, removed, renamed, written or
// changed directly in it, with the pid of the process that did it, as it
// happens (the event is queued by the syscall itself, so nothing a run did
// before its last process ended can be missed).
//
// Whose write is it? A thread reads each event as it is queued and looks
// at the writer:
//   - a process of the run: the watching process (the harness) and every
//     process forked from it since the watch began (its runtimes and their
//     containers, followed by the kernel's proc connector, so even one gone
//     by the time its event is read), an older live descendant, or a
//     process in one of the cgroup parents callers named: logged;
//   - any other process (a compiler, a daemon): the host's, not logged; nor
//     is a later event on a name such a process created;
//   - without the proc connector (or once it lost events), a writer already
//     gone cannot be told apart: logged (its comm "?").
// The watching process's own writes (scratch, reports) are not logged.
//
// One watch per process, made at the first Get() (a forked child makes its
// own); it lives until the process exits. Events are logged in order with a
// sequence number, except those whose path matches a glob some caller said
// to leave out (a runtime's own temp files, such as crun's
// /tmp/crun.XXXXXX: left out for good, so a long sweep of crun keeps a
// short log). More than kMaxEvents logged events, a queue overflow or a
// failed read is an error, never a silently short log.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <set>
#include <string>
#include <vector>

namespace faultline {

struct TmpEvent {
  uint64_t seq = 0;   // 1, 2, ... in the order the kernel queued them
  std::string path;   // "/tmp/NAME"
  std::string what;   // created, removed, renamed away, renamed here, written, changed
  pid_t pid = 0;      // the process that did it (in the harness's pid namespace)
  std::string comm;   // its /proc/PID/comm when the event was read, "?" once gone
  // "/tmp/NAME created by pid 42 (mydocker) [#7]": the sequence number keeps
  // a second creation of the same name apart from the first.
  std::string Item() const;
};

class SharedTmpWatch {
 public:
  static constexpr size_t kMaxEvents = 10000;

  // The directories to watch: those of /tmp and /var/tmp that exist.
  static const std::vector<std::string>& Dirs();
  // Whether dir is one of them and watched: not on a filesystem fanotify
  // cannot name entries on (EOPNOTSUPP, EXDEV or ENODEV from fanotify_mark:
  // 9p, the VM runner's overlayfs on 6.1),
  // which the outside probe lists instead.
  bool Watches(const std::string& dir) const;
  // This process's watch.
  static SharedTmpWatch& Get();

  // Leaves out, from now on, every event whose path matches one of
  // leave_out's globs (fnmatch(3)); counts a process in a cgroup under
  // cgroup_parent ("" for none) as the run's; then reads what the kernel
  // queued and returns the log. *error: why the watch could not be made or
  // read ("" when it is fine); the log holds what was read before.
  std::vector<TmpEvent> Events(const std::vector<std::string>& leave_out,
                               const std::string& cgroup_parent, std::string* error);

  // The reader thread of this process's watch (if it has one) stopped and
  // started again: around a fork() that must happen from one thread (the
  // kernel sweep's runtime process). Events queued meanwhile are read on
  // the restart.
  static void StopReader();
  static void StartReader();
  // The watch's lock (empty when this process has no watch): while it is
  // held the reader opens nothing (the fds probe lists the harness's fds).
  static std::unique_lock<std::mutex> Hold();

  SharedTmpWatch(const SharedTmpWatch&) = delete;
  SharedTmpWatch& operator=(const SharedTmpWatch&) = delete;
  ~SharedTmpWatch();

 private:
  struct Dir {
    std::string path;
    std::string handle;  // its file handle (type + bytes), as events name it
  };
  SharedTmpWatch();
  static std::mutex& ProcessMutex();
  static SharedTmpWatch*& ProcessWatch();
  static SharedTmpWatch* Existing();  // this process's watch, or nullptr
  void StartThread();
  void StopThread();
  void Drain();       // with mu_ held
  void DrainProcs();  // with mu_ held
  void Log(const std::string& path, const char* what, pid_t pid, const std::string& comm);
  // kRun, kHost or kGone (see above).
  enum class Writer { kRun, kHost, kGone };
  Writer Whose(pid_t pid, std::string* comm) const;

  std::mutex mu_;
  int fd_ = -1;
  pid_t owner_ = 0;
  std::vector<Dir> dirs_;
  std::vector<std::string> unwatched_;  // of Dirs(): marks the fs refused
  std::set<std::string> leave_out_;
  std::set<std::string> cgroup_parents_;
  std::set<std::string> host_names_;  // created by a live host process
  int procs_ = -1;          // the proc connector's socket
  bool procs_lost_ = false; // it dropped events (ENOBUFS)
  // The watching process and every process forked from it since (by the
  // proc connector), with when it exited.
  std::map<pid_t, std::optional<std::chrono::steady_clock::time_point>> tree_;
  std::vector<TmpEvent> log_;
  uint64_t seq_ = 0;
  std::string error_;  // sticky: once the log is incomplete it stays so
  int stop_[2] = {-1, -1};  // the reader thread ends on EOF of stop_[0]
  std::thread reader_;
  std::atomic<pid_t> reader_tid_{0};
};

}  // namespace faultline
