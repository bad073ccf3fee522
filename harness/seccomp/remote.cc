#include "harness/seccomp/remote.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

namespace faultline::seccomp {
namespace {

constexpr uint64_t kPage = 4096;

// Formats n in decimal into buf (no allocation); returns the length.
int FormatInt(long n, char* buf) {
  char tmp[24];
  int len = 0;
  bool neg = n < 0;
  unsigned long u = neg ? -static_cast<unsigned long>(n) : n;
  do {
    tmp[len++] = static_cast<char>('0' + u % 10);
    u /= 10;
  } while (u != 0);
  int out = 0;
  if (neg) buf[out++] = '-';
  while (len > 0) buf[out++] = tmp[--len];
  buf[out] = '\0';
  return out;
}

// "/proc/<pid>/stat" into buf.
void StatPath(pid_t pid, char* buf) {
  std::memcpy(buf, "/proc/", 6);
  int n = FormatInt(pid, buf + 6);
  std::memcpy(buf + 6 + n, "/stat", 6);
}

// Parent and state letter from /proc/PID/stat; false when gone.
bool ReadStat(pid_t pid, pid_t* ppid, char* state) {
  char path[48];
  StatPath(pid, path);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[512];
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return false;
  buf[n] = '\0';
  // The comm field may hold spaces and parentheses: parse after the last ')'.
  char* close_paren = nullptr;
  for (char* p = buf; *p != '\0'; ++p) {
    if (*p == ')') close_paren = p;
  }
  if (close_paren == nullptr || close_paren[1] != ' ') return false;
  *state = close_paren[2];
  long v = 0;
  const char* p = close_paren + 4;
  while (*p >= '0' && *p <= '9') v = v * 10 + (*p++ - '0');
  *ppid = static_cast<pid_t>(v);
  return true;
}

// True when root is an ancestor of pid right now.
bool DescendsFrom(pid_t pid, pid_t root) {
  pid_t cur = pid;
  for (int depth = 0; depth < 256; ++depth) {
    pid_t ppid;
    char state;
    if (!ReadStat(cur, &ppid, &state)) return false;
    if (ppid == root) return true;
    if (ppid <= 1) return false;
    cur = ppid;
  }
  return false;
}

struct Linux_dirent64 {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

constexpr int kMaxProcs = 1 << 16;

// Fills pids/ppids with every live, non-zombie process; returns the count.
int ScanProc(pid_t* pids, pid_t* ppids) {
  int dfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return 0;
  int count = 0;
  alignas(8) char buf[8192];
  for (;;) {
    long n = syscall(SYS_getdents64, dfd, buf, sizeof(buf));
    if (n <= 0) break;
    for (long off = 0; off < n;) {
      auto* d = reinterpret_cast<Linux_dirent64*>(buf + off);
      off += d->d_reclen;
      long pid = 0;
      const char* p = d->d_name;
      if (*p < '1' || *p > '9') continue;
      while (*p >= '0' && *p <= '9') pid = pid * 10 + (*p++ - '0');
      if (*p != '\0' || count >= kMaxProcs) continue;
      pid_t ppid;
      char state;
      if (!ReadStat(static_cast<pid_t>(pid), &ppid, &state)) continue;
      if (state == 'Z' || state == 'X' || state == 'x') continue;
      pids[count] = static_cast<pid_t>(pid);
      ppids[count] = ppid;
      ++count;
    }
  }
  close(dfd);
  return count;
}

bool Contains(const pid_t* set, int n, pid_t v) {
  for (int i = 0; i < n; ++i) {
    if (set[i] == v) return true;
  }
  return false;
}

}  // namespace

int ReadRemote(pid_t pid, uint64_t addr, void* buf, size_t len) {
  size_t done = 0;
  while (done < len) {
    iovec local{static_cast<char*>(buf) + done, len - done};
    iovec remote{reinterpret_cast<void*>(addr + done), len - done};
    ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
    if (n < 0) return errno;
    if (n == 0) return EFAULT;
    done += static_cast<size_t>(n);
  }
  return 0;
}

int ReadRemoteString(pid_t pid, uint64_t addr, size_t max, std::string* out) {
  out->clear();
  if (addr == 0) return EFAULT;
  char chunk[kPage];
  uint64_t cur = addr;
  while (out->size() < max) {
    // Never cross a page boundary in one read: the next page may be unmapped
    // even though the string ends before it.
    size_t want = kPage - (cur % kPage);
    if (want > max - out->size()) want = max - out->size();
    int err = ReadRemote(pid, cur, chunk, want);
    if (err != 0) return err;
    const void* nul = std::memchr(chunk, '\0', want);
    if (nul != nullptr) {
      out->append(chunk, static_cast<const char*>(nul) - chunk);
      return 0;
    }
    out->append(chunk, want);
    cur += want;
  }
  // A string of exactly max bytes still needs its NUL.
  char c;
  if (ReadRemote(pid, cur, &c, 1) == 0 && c == '\0') return 0;
  return ENAMETOOLONG;
}

std::string ReadProcLink(pid_t pid, const std::string& what) {
  std::string link = "/proc/" + std::to_string(pid) + "/" + what;
  char buf[PATH_MAX];
  ssize_t n = readlink(link.c_str(), buf, sizeof(buf));
  if (n < 0) return {};
  return std::string(buf, static_cast<size_t>(n));
}

pid_t ParentOf(pid_t pid) {
  pid_t ppid;
  char state;
  return ReadStat(pid, &ppid, &state) ? ppid : -1;
}

int KillDescendants(pid_t root, pid_t* pids_out, int max_pids) {
  const size_t bytes = sizeof(pid_t) * kMaxProcs * 4;
  void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return 0;
  pid_t* pids = static_cast<pid_t*>(mem);
  pid_t* ppids = pids + kMaxProcs;
  pid_t* tree = ppids + kMaxProcs;
  pid_t* killed = tree + kMaxProcs;
  int nkilled = 0;
  for (int pass = 0; pass < 64; ++pass) {
    int n = ScanProc(pids, ppids);
    // Grow the tree from root until a sweep adds nothing.
    int ntree = 0;
    for (bool grew = true; grew;) {
      grew = false;
      for (int i = 0; i < n; ++i) {
        if (Contains(tree, ntree, pids[i])) continue;
        if (ppids[i] == root || Contains(tree, ntree, ppids[i])) {
          tree[ntree++] = pids[i];
          grew = true;
        }
      }
    }
    int fresh = 0;
    // Deepest first: tree is in breadth-first order, and a process whose
    // parent died first would be reparented out of reach of the check below.
    for (int i = ntree - 1; i >= 0; --i) {
      pid_t pid = tree[i];
      if (Contains(killed, nkilled, pid) || nkilled >= kMaxProcs) continue;
      int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
      if (pidfd < 0) continue;
      // The pidfd pins whoever holds the pid now; check that it is ours.
      if (DescendsFrom(pid, root) &&
          syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0) == 0) {
        if (pids_out != nullptr && nkilled < max_pids) pids_out[nkilled] = pid;
        killed[nkilled++] = pid;
        ++fresh;
      }
      close(pidfd);
    }
    if (fresh == 0) break;
  }
  munmap(mem, bytes);
  return nkilled;
}

}  // namespace faultline::seccomp
