#include "runtime/sys/linux_sys.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace mydocker {
namespace {

Status FromRc(long rc) { return rc == 0 ? Status{} : Status{errno}; }

template <class T>
Result<T> FromValue(long rc) {
  if (rc < 0) return Result<T>{T{}, errno};
  return Result<T>{static_cast<T>(rc), 0};
}

const char* OrNull(const std::string& s) {
  return s.empty() ? nullptr : s.c_str();
}

}  // namespace

Status LinuxSys::Mount(const MountArgs& a) {
  return FromRc(::mount(OrNull(a.source), a.target.c_str(), OrNull(a.fstype),
                        a.flags, OrNull(a.data)));
}

Status LinuxSys::Umount2(const std::string& target, int flags) {
  return FromRc(::umount2(target.c_str(), flags));
}

Status LinuxSys::PivotRoot(const std::string& new_root,
                           const std::string& put_old) {
  return FromRc(::syscall(SYS_pivot_root, new_root.c_str(), put_old.c_str()));
}

Result<int> LinuxSys::Fsopen(const std::string& fstype, unsigned int flags) {
  return FromValue<int>(::fsopen(fstype.c_str(), flags));
}

Status LinuxSys::Fsconfig(const FsconfigArgs& a) {
  return FromRc(::fsconfig(a.fd, a.cmd, OrNull(a.key), OrNull(a.value), a.aux));
}

Result<int> LinuxSys::Fsmount(int fs_fd, unsigned int flags,
                              unsigned int attr_flags) {
  return FromValue<int>(::fsmount(fs_fd, flags, attr_flags));
}

Status LinuxSys::MoveMount(const MoveMountArgs& a) {
  return FromRc(::move_mount(a.from_dirfd, a.from_path.c_str(), a.to_dirfd,
                             a.to_path.c_str(), a.flags));
}

Status LinuxSys::Mkdir(const std::string& path, mode_t mode) {
  return FromRc(::mkdir(path.c_str(), mode));
}
Status LinuxSys::Rmdir(const std::string& path) {
  return FromRc(::rmdir(path.c_str()));
}
Status LinuxSys::Unlink(const std::string& path) {
  return FromRc(::unlink(path.c_str()));
}
Status LinuxSys::Rename(const std::string& from, const std::string& to) {
  return FromRc(::rename(from.c_str(), to.c_str()));
}
Status LinuxSys::Symlink(const std::string& target,
                         const std::string& linkpath) {
  return FromRc(::symlink(target.c_str(), linkpath.c_str()));
}
Status LinuxSys::Link(const std::string& existing, const std::string& newpath) {
  return FromRc(::link(existing.c_str(), newpath.c_str()));
}
Status LinuxSys::Mknod(const std::string& path, mode_t mode, dev_t dev) {
  return FromRc(::mknod(path.c_str(), mode, dev));
}
Status LinuxSys::Chmod(const std::string& path, mode_t mode) {
  return FromRc(::chmod(path.c_str(), mode));
}
Status LinuxSys::Lchown(const std::string& path, uid_t uid, gid_t gid) {
  return FromRc(::lchown(path.c_str(), uid, gid));
}

Result<FileStat> LinuxSys::Lstat(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return {FileStat{}, errno};
  FileStat out;
  out.mode = st.st_mode;
  out.size = static_cast<uint64_t>(st.st_size);
  out.dev = st.st_dev;
  out.ino = st.st_ino;
  out.rdev = st.st_rdev;
  out.uid = st.st_uid;
  out.gid = st.st_gid;
  out.nlink = st.st_nlink;
  out.blocks = static_cast<uint64_t>(st.st_blocks);
  out.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  out.ctime_ns = static_cast<int64_t>(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec;
  return {out, 0};
}

Result<int64_t> LinuxSys::Statfs(const std::string& path) {
  struct statfs sf;
  if (::statfs(path.c_str(), &sf) != 0) return {0, errno};
  return {static_cast<int64_t>(sf.f_type), 0};
}

Result<std::vector<DirEntry>> LinuxSys::ReadDir(const std::string& path) {
  DIR* d = ::opendir(path.c_str());
  if (d == nullptr) return {{}, errno};
  std::vector<DirEntry> out;
  errno = 0;
  while (struct dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.' &&
        (e->d_name[1] == 0 || (e->d_name[1] == '.' && e->d_name[2] == 0)))
      continue;
    out.push_back(DirEntry{e->d_name, e->d_type});
  }
  int err = errno;
  ::closedir(d);
  return {std::move(out), err};
}

Result<std::string> LinuxSys::Readlink(const std::string& path) {
  char buf[PATH_MAX];
  ssize_t n = ::readlink(path.c_str(), buf, sizeof buf);
  if (n < 0) return {{}, errno};
  return {std::string(buf, static_cast<size_t>(n)), 0};
}

Result<int> LinuxSys::Open(const std::string& path, int flags, mode_t mode) {
  return FromValue<int>(::open(path.c_str(), flags, mode));
}
Status LinuxSys::Close(int fd) { return FromRc(::close(fd)); }

Result<size_t> LinuxSys::Read(int fd, void* buf, size_t len) {
  return FromValue<size_t>(::read(fd, buf, len));
}
Result<size_t> LinuxSys::Write(int fd, const void* buf, size_t len) {
  return FromValue<size_t>(::write(fd, buf, len));
}

Result<PipeFds> LinuxSys::Pipe(int flags) {
  int fds[2];
  if (::pipe2(fds, flags) != 0) return {PipeFds{}, errno};
  return {PipeFds{fds[0], fds[1]}, 0};
}

Status LinuxSys::Dup2(int oldfd, int newfd) {
  return ::dup2(oldfd, newfd) < 0 ? Status{errno} : Status{};
}

Status LinuxSys::Chdir(const std::string& path) {
  return FromRc(::chdir(path.c_str()));
}
Status LinuxSys::Sethostname(const std::string& name) {
  return FromRc(::sethostname(name.data(), name.size()));
}

namespace {
int CloneTrampoline(void* arg) {
  const CloneFn* fn = static_cast<const CloneFn*>(arg);
  ::_exit((*fn)());
}
}  // namespace

Result<pid_t> LinuxSys::Clone(const CloneFn& fn, int flags) {
  constexpr size_t kStack = 1 << 20;
  void* stack = ::mmap(nullptr, kStack, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) return {-1, errno};
  pid_t pid = ::clone(CloneTrampoline, static_cast<char*>(stack) + kStack,
                      flags | SIGCHLD, const_cast<CloneFn*>(&fn));
  int err = errno;
  ::munmap(stack, kStack);
  if (pid < 0) return {-1, err};
  return {pid, 0};
}

Status LinuxSys::Execve(const char* path, char* const argv[],
                        char* const envp[]) {
  ::execve(path, argv, envp);
  return Status{errno};
}

Result<int> LinuxSys::Waitpid(pid_t pid, int options) {
  int status = 0;
  pid_t r = ::waitpid(pid, &status, options);
  if (r < 0) return {0, errno};
  if (r == 0) return {0, EAGAIN};  // WNOHANG and still running
  return {status, 0};
}

Status LinuxSys::Kill(pid_t pid, int sig) { return FromRc(::kill(pid, sig)); }

Status LinuxSys::Signal(int sig, SignalDisposition disposition) {
  struct sigaction sa = {};
  sa.sa_handler = disposition == SignalDisposition::kIgnore ? SIG_IGN : SIG_DFL;
  sigemptyset(&sa.sa_mask);
  return FromRc(::sigaction(sig, &sa, nullptr));
}

Status LinuxSys::Prctl(int option, unsigned long arg2) {
  return FromRc(::prctl(option, arg2, 0, 0, 0));
}

Result<int> LinuxSys::Ioctl(int fd, unsigned long request, void* arg) {
  int rc = ::ioctl(fd, request, arg);
  if (rc < 0) return {-1, errno};
  return {rc, 0};
}

Result<pid_t> LinuxSys::Setsid() {
  pid_t sid = ::setsid();
  if (sid < 0) return {-1, errno};
  return {sid, 0};
}

Result<int> LinuxSys::Poll(struct pollfd* fds, size_t n, int timeout_ms) {
  int rc = ::poll(fds, static_cast<nfds_t>(n), timeout_ms);
  if (rc < 0) return {-1, errno};
  return {rc, 0};
}

// Durability and locks.

Status LinuxSys::Fsync(int fd) { return FromRc(::fsync(fd)); }

Status LinuxSys::Syncfs(int fd) { return FromRc(::syncfs(fd)); }

Status LinuxSys::Flock(int fd, int operation) { return FromRc(::flock(fd, operation)); }

Status LinuxSys::Ftruncate(int fd, int64_t length) {
  return FromRc(::ftruncate(fd, static_cast<off_t>(length)));
}

Result<size_t> LinuxSys::Pwrite(int fd, const void* buf, size_t len, int64_t offset) {
  return FromValue<size_t>(::pwrite(fd, buf, len, static_cast<off_t>(offset)));
}

}  // namespace mydocker
