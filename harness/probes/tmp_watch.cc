// SharedTmpWatch: see tmp_watch.h.
#include "harness/probes/tmp_watch.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <sstream>
#include <utility>

#include <spdlog/spdlog.h>

#include "runtime/util/error.h"

namespace faultline {
namespace {

// The handle of a directory as fanotify's DFID records carry it.
std::string HandleOf(const std::string& path, int* err) {
  struct {
    file_handle fh;
    unsigned char bytes[MAX_HANDLE_SZ];
  } h{};
  h.fh.handle_bytes = MAX_HANDLE_SZ;
  int mount_id = 0;
  if (name_to_handle_at(AT_FDCWD, path.c_str(), &h.fh, &mount_id, 0) != 0) {
    *err = errno;
    return {};
  }
  std::string out(reinterpret_cast<const char*>(&h.fh.handle_type), sizeof h.fh.handle_type);
  out.append(reinterpret_cast<const char*>(h.fh.f_handle), h.fh.handle_bytes);
  return out;
}

// A small /proc file, read with an O_CLOEXEC fd (the reader thread must
// not leak a descriptor into a process another thread spawns); "" when gone.
std::string ReadProcFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  close(fd);
  return out;
}

std::string CommOf(pid_t pid) {
  std::string comm = ReadProcFile("/proc/" + std::to_string(pid) + "/comm");
  if (comm.empty()) return "?";
  if (comm.back() == '\n') comm.pop_back();
  return comm;
}

// The kernel's process events (the proc connector: every fork and exit on
// the host, as root), so that a writer gone by the time its event is read
// can still be told to be the run's or not. -1 with *err set on failure.
int OpenProcConnector(int* err) {
  const int s = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_CONNECTOR);
  if (s < 0) {
    *err = errno;
    return -1;
  }
  sockaddr_nl addr{};
  addr.nl_family = AF_NETLINK;
  addr.nl_groups = CN_IDX_PROC;
  const int size = 8 << 20;  // bursts of forks (a parallel sweep) fit
  (void)setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
  // nlmsghdr, cn_msg (its data is the op), the op.
  alignas(nlmsghdr) char msg[NLMSG_SPACE(sizeof(cn_msg) + sizeof(proc_cn_mcast_op))] = {};
  auto* nl = reinterpret_cast<nlmsghdr*>(msg);
  nl->nlmsg_len = NLMSG_LENGTH(sizeof(cn_msg) + sizeof(proc_cn_mcast_op));
  nl->nlmsg_type = NLMSG_DONE;
  auto* cn = static_cast<cn_msg*>(NLMSG_DATA(nl));
  cn->id.idx = CN_IDX_PROC;
  cn->id.val = CN_VAL_PROC;
  cn->len = sizeof(proc_cn_mcast_op);
  const proc_cn_mcast_op op = PROC_CN_MCAST_LISTEN;
  std::memcpy(cn->data, &op, sizeof op);
  if (bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      send(s, msg, nl->nlmsg_len, 0) != static_cast<ssize_t>(nl->nlmsg_len)) {
    *err = errno;
    close(s);
    return -1;
  }
  return s;
}

// The events watched, as the log names them.
constexpr std::pair<uint64_t, const char*> kKinds[] = {
    {FAN_CREATE, "created"},          {FAN_DELETE, "removed"}, {FAN_MOVED_FROM, "renamed away"},
    {FAN_MOVED_TO, "renamed here"}, {FAN_MODIFY, "written"}, {FAN_ATTRIB, "changed"}};

std::string Errno(const char* step, const std::string& path, int err) {
  return mydocker::MakeError(step, path, err).Message();
}

}  // namespace

std::string TmpEvent::Item() const {
  return path + " " + what + " by pid " + std::to_string(pid) + " (" + comm + ") [#" +
         std::to_string(seq) + "]";
}

const std::vector<std::string>& SharedTmpWatch::Dirs() {
  static const std::vector<std::string> dirs = [] {
    std::vector<std::string> v;
    for (const char* d : {"/tmp", "/var/tmp"}) {
      struct stat st {};
      if (lstat(d, &st) == 0 && S_ISDIR(st.st_mode)) v.emplace_back(d);
    }
    return v;
  }();
  return dirs;
}

std::mutex& SharedTmpWatch::ProcessMutex() {
  static std::mutex mu;
  return mu;
}

SharedTmpWatch*& SharedTmpWatch::ProcessWatch() {
  static SharedTmpWatch* watch = nullptr;
  return watch;
}

SharedTmpWatch& SharedTmpWatch::Get() {
  std::lock_guard<std::mutex> lock(ProcessMutex());
  SharedTmpWatch*& watch = ProcessWatch();
  if (watch != nullptr && watch->owner_ != getpid()) {
    // A forked child: the inherited fd reads the parent's queue, and the
    // parent's reader thread is not here. Drop this process's reference to
    // its fds and make the child's own watch; the parent's object, copied by
    // fork, is left as it is (its thread object must not be destroyed).
    for (int* fd : {&watch->fd_, &watch->procs_, &watch->stop_[0], &watch->stop_[1]}) {
      if (*fd >= 0) close(*fd);
      *fd = -1;
    }
    watch = nullptr;
  }
  if (watch == nullptr) watch = new SharedTmpWatch();
  return *watch;
}

SharedTmpWatch::SharedTmpWatch() : owner_(getpid()) {
  fd_ = fanotify_init(FAN_CLASS_NOTIF | FAN_REPORT_DFID_NAME | FAN_CLOEXEC | FAN_NONBLOCK,
                      O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) {
    error_ = Errno("probe outside: fanotify_init (FAN_REPORT_DFID_NAME)", "/tmp", errno);
    return;
  }
  const uint64_t mask = FAN_CREATE | FAN_DELETE | FAN_MOVED_FROM | FAN_MOVED_TO | FAN_ATTRIB |
                        FAN_MODIFY | FAN_ONDIR | FAN_EVENT_ON_CHILD;
  for (const std::string& d : Dirs()) {
    if (fanotify_mark(fd_, FAN_MARK_ADD, mask, AT_FDCWD, d.c_str()) != 0) {
      const int err = errno;
      // A filesystem without file handles for fanotify (9p, an overlayfs
      // of Linux 6.1: the VM runner's /var/tmp): listed instead (probes.cc).
      if (err == EOPNOTSUPP || err == EXDEV || err == ENODEV) {
        spdlog::info("probe outside: {} is not watched by fanotify ({}): its entries are listed",
                     d, mydocker::ErrnoName(err));
        unwatched_.push_back(d);
        continue;
      }
      error_ = Errno("probe outside: fanotify_mark", d, err);
      return;
    }
    int err = 0;
    std::string handle = HandleOf(d, &err);
    if (handle.empty()) {
      error_ = Errno("probe outside: name_to_handle_at", d, err);
      return;
    }
    dirs_.push_back({d, std::move(handle)});
  }
  int err = 0;
  procs_ = OpenProcConnector(&err);
  if (procs_ < 0) {
    spdlog::info("probe outside: no proc connector ({}): a /tmp writer gone before its event "
                 "is read counts as the run's",
                 mydocker::ErrnoName(err));
  }
  tree_[owner_] = {};
  StartThread();
}

// Reads each event as it is queued, while its writer most likely runs.
// With mu_ held (or from the constructor).
void SharedTmpWatch::StartThread() {
  if (fd_ < 0 || reader_.joinable() || !error_.empty()) return;
  if (pipe2(stop_, O_CLOEXEC) != 0) {
    error_ = Errno("probe outside: pipe for the fanotify reader", "/tmp", errno);
    return;
  }
  reader_ = std::thread([this] {
    reader_tid_ = gettid();
    pollfd p[3] = {{fd_, POLLIN, 0}, {stop_[0], POLLIN, 0}, {procs_, POLLIN, 0}};
    while (true) {
      if (poll(p, procs_ >= 0 ? 3 : 2, -1) < 0) {
        if (errno == EINTR) continue;
        std::lock_guard<std::mutex> lock(mu_);
        if (error_.empty()) error_ = Errno("probe outside: poll fanotify", "/tmp", errno);
        return;
      }
      if (p[1].revents != 0) return;
      std::lock_guard<std::mutex> lock(mu_);
      Drain();
    }
  });
}

// Without mu_ held: the thread may be waiting for it.
void SharedTmpWatch::StopThread() {
  if (!reader_.joinable()) return;
  close(stop_[1]);
  reader_.join();
  close(stop_[0]);
  stop_[0] = stop_[1] = -1;
  // join returns when the thread has released its stack, a moment before
  // the kernel stops counting it among the process's threads.
  const std::string task = "/proc/self/task/" + std::to_string(reader_tid_.load());
  for (int i = 0; i < 10000 && access(task.c_str(), F_OK) == 0; ++i) usleep(100);
}

SharedTmpWatch* SharedTmpWatch::Existing() {
  std::lock_guard<std::mutex> lock(ProcessMutex());
  SharedTmpWatch* w = ProcessWatch();
  return w != nullptr && w->owner_ == getpid() ? w : nullptr;
}

void SharedTmpWatch::StopReader() {
  if (SharedTmpWatch* w = Existing()) w->StopThread();
}

void SharedTmpWatch::StartReader() {
  if (SharedTmpWatch* w = Existing()) {
    std::lock_guard<std::mutex> lock(w->mu_);
    w->StartThread();
  }
}

std::unique_lock<std::mutex> SharedTmpWatch::Hold() {
  SharedTmpWatch* w = Existing();
  if (w == nullptr) return {};
  return std::unique_lock<std::mutex>(w->mu_);
}

bool SharedTmpWatch::Watches(const std::string& dir) const {
  return std::find(unwatched_.begin(), unwatched_.end(), dir) == unwatched_.end() &&
         std::find(Dirs().begin(), Dirs().end(), dir) != Dirs().end();
}

SharedTmpWatch::~SharedTmpWatch() {
  StopThread();
  if (procs_ >= 0) close(procs_);
  if (fd_ >= 0) close(fd_);
}

void SharedTmpWatch::DrainProcs() {
  if (procs_ < 0) return;
  const auto now = std::chrono::steady_clock::now();
  alignas(nlmsghdr) char buf[16 * 1024];
  while (true) {
    const ssize_t n = recv(procs_, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == ENOBUFS) {  // events lost: gone writers are unknown from now on
        if (!procs_lost_) spdlog::warn("probe outside: the proc connector lost events (ENOBUFS)");
        procs_lost_ = true;
        continue;
      }
      break;  // EAGAIN: all read
    }
    int len = static_cast<int>(n);
    for (auto* nh = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(nh, len); nh = NLMSG_NEXT(nh, len)) {
      const auto* cn = static_cast<const cn_msg*>(NLMSG_DATA(nh));
      const auto* ev = reinterpret_cast<const proc_event*>(cn->data);
      if (ev->what == proc_event::PROC_EVENT_FORK) {
        const auto& f = ev->event_data.fork;
        if (f.child_pid != f.child_tgid) continue;  // a thread
        if (tree_.count(f.parent_tgid) != 0) tree_[f.child_tgid] = {};
      } else if (ev->what == proc_event::PROC_EVENT_EXIT) {
        const auto& e = ev->event_data.exit;
        auto it = tree_.find(e.process_tgid);
        if (e.process_pid == e.process_tgid && it != tree_.end()) it->second = now;
      }
    }
  }
  // A pid that exited a while ago may be another process's by now.
  for (auto it = tree_.begin(); it != tree_.end();) {
    if (it->second && now - *it->second > std::chrono::seconds(5)) it = tree_.erase(it);
    else ++it;
  }
}

SharedTmpWatch::Writer SharedTmpWatch::Whose(pid_t pid, std::string* comm) const {
  *comm = CommOf(pid);
  if (tree_.count(pid) != 0) return Writer::kRun;  // forked in the tree since the watch began
  if (*comm != "?") {
    // Alive. Up the parents (for processes older than the watch): the
    // watching process among them makes it the run's.
    pid_t p = pid;
    for (int depth = 0; p > 1 && depth < 64; ++depth) {
      if (p == owner_) return Writer::kRun;
      const std::string stat = ReadProcFile("/proc/" + std::to_string(p) + "/stat");
      const size_t paren = stat.rfind(')');
      if (paren == std::string::npos) break;
      std::istringstream rest(stat.substr(paren + 1));
      char state = 0;
      pid_t ppid = 0;
      if (!(rest >> state >> ppid)) break;
      p = ppid;
    }
    std::istringstream in(ReadProcFile("/proc/" + std::to_string(pid) + "/cgroup"));
    for (std::string line; std::getline(in, line);) {
      const std::string path = line.substr(line.rfind(':') + 1) + "/";
      for (const std::string& parent : cgroup_parents_) {
        if (path.find("/" + parent + "/") != std::string::npos) return Writer::kRun;
      }
    }
    if (CommOf(pid) != "?") return Writer::kHost;
  }
  // Gone: the proc connector saw every fork of the tree, so it is not the
  // run's; without it (or after it lost events) nobody can tell.
  return procs_ >= 0 && !procs_lost_ ? Writer::kHost : Writer::kGone;
}

void SharedTmpWatch::Log(const std::string& path, const char* what, pid_t pid,
                         const std::string& comm) {
  for (const std::string& g : leave_out_) {
    if (fnmatch(g.c_str(), path.c_str(), 0) == 0) return;
  }
  if (log_.size() >= kMaxEvents) {
    if (error_.empty()) {
      error_ = "probe outside: more than " + std::to_string(kMaxEvents) +
               " writes in /tmp and /var/tmp by other processes since the watch started; "
               "the log is cut there";
    }
    return;
  }
  log_.push_back({++seq_, path, what, pid, comm});
}

void SharedTmpWatch::Drain() {
  alignas(fanotify_event_metadata) char buf[64 * 1024];
  while (true) {
    ssize_t n = read(fd_, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && error_.empty()) error_ = Errno("probe outside: read fanotify", "/tmp", errno);
      DrainProcs();
      return;
    }
    if (n == 0) {
      DrainProcs();
      return;
    }
    // Then the forks: a process forked before it wrote, so the fork event
    // of every writer in this batch is queued by now.
    DrainProcs();
    auto* m = reinterpret_cast<fanotify_event_metadata*>(buf);
    for (; FAN_EVENT_OK(m, n); m = FAN_EVENT_NEXT(m, n)) {
      if (m->fd >= 0) close(m->fd);  // FID reporting gives FAN_NOFD; be safe
      if (m->vers != FANOTIFY_METADATA_VERSION) {
        if (error_.empty()) error_ = "probe outside: fanotify metadata version " + std::to_string(m->vers);
        continue;
      }
      if ((m->mask & FAN_Q_OVERFLOW) != 0) {
        if (error_.empty()) error_ = "probe outside: the fanotify queue of /tmp overflowed; events lost";
        continue;
      }
      if (m->pid == owner_) continue;  // the harness's own writes
      // The DFID_NAME record: the directory's handle, then the entry's name.
      const char* p = reinterpret_cast<const char*>(m) + m->metadata_len;
      const char* end = reinterpret_cast<const char*>(m) + m->event_len;
      while (p + sizeof(fanotify_event_info_header) <= end) {
        auto* hdr = reinterpret_cast<const fanotify_event_info_header*>(p);
        if (hdr->len == 0) break;
        if (hdr->info_type == FAN_EVENT_INFO_TYPE_DFID_NAME) {
          auto* fid = reinterpret_cast<const fanotify_event_info_fid*>(p);
          auto* fh = reinterpret_cast<const file_handle*>(fid->handle);
          std::string handle(reinterpret_cast<const char*>(&fh->handle_type), sizeof fh->handle_type);
          handle.append(reinterpret_cast<const char*>(fh->f_handle), fh->handle_bytes);
          const char* name = reinterpret_cast<const char*>(fh->f_handle) + fh->handle_bytes;
          std::string dir = "?";
          for (const Dir& d : dirs_) {
            if (d.handle == handle) dir = d.path;
          }
          const std::string path = dir + "/" + name;
          const uint64_t mk = m->mask;
          std::string comm;
          const Writer who = Whose(m->pid, &comm);
          if (who == Writer::kHost && (mk & (FAN_CREATE | FAN_MOVED_TO)) != 0)
            host_names_.insert(path);
          const bool log = who == Writer::kRun ||
                           (who == Writer::kGone && host_names_.count(path) == 0);
          if (log) {
            for (const auto& [bit, what] : kKinds) {
              if ((mk & bit) != 0) Log(path, what, m->pid, comm);
            }
          }
        }
        p += hdr->len;
      }
    }
  }
}

std::vector<TmpEvent> SharedTmpWatch::Events(const std::vector<std::string>& leave_out,
                                             const std::string& cgroup_parent,
                                             std::string* error) {
  std::lock_guard<std::mutex> lock(mu_);
  leave_out_.insert(leave_out.begin(), leave_out.end());
  if (!cgroup_parent.empty()) cgroup_parents_.insert(cgroup_parent);
  if (fd_ >= 0) Drain();
  *error = error_;
  return log_;
}

}  // namespace faultline
