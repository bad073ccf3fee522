// Sys: the one seam between the mydocker runtime and the kernel.
//
// Contract:
//  * Every side effect of the runtime (mounts, files, directories, processes,
//    cgroups, hostnames) goes through one of these virtuals. LinuxSys
//    (linux_sys.h) is the only code under runtime/ that makes syscalls; the
//    unit test `SysSeam.OnlyLinuxSysCallsTheKernel` enforces that.
//  * Arguments are value structs or plain values so a double can record,
//    print and match them. Results carry the errno (0 on success); callers
//    turn a failure into an Error that names the step and the path (error.h).
//  * Methods never allocate in LinuxSys on the success or failure path, so
//    they may be called in a cloned child between clone and execve (the
//    runtime prepares every argument before clone).
//  * Paths are absolute or relative to the calling process's cwd, as the
//    kernel sees them.
#pragma once

#include <errno.h>
#include <poll.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace mydocker {

// One entry per kernel operation the runtime performs. Keep in sync with
// OpName() and with every Sys implementation.
enum class Op : uint8_t {
  kMount,
  kUmount2,
  kPivotRoot,
  kFsopen,
  kFsconfig,
  kFsmount,
  kMoveMount,
  kMkdir,
  kRmdir,
  kUnlink,
  kRename,
  kSymlink,
  kLink,
  kMknod,
  kChmod,
  kLchown,
  kLstat,
  kStatfs,
  kReadDir,
  kReadlink,
  kOpen,
  kClose,
  kRead,
  kWrite,
  kPipe,
  kDup2,
  kChdir,
  kSethostname,
  kClone,
  kExecve,
  kWaitpid,
  kKill,
  kSignal,
  kPrctl,
  kIoctl,
  kSetsid,
  kPoll,
  kCount,  // not an op: the number of ops
};

// "mount", "umount2", ... as in the syscall's name.
const char* OpName(Op op);
// Inverse of OpName; returns false for an unknown name.
bool OpFromName(std::string_view name, Op* op);

// The result of one call: a value and an errno (0 on success).
template <class T>
struct Result {
  T value{};
  int err = 0;
  bool ok() const { return err == 0; }
};

struct Status {
  int err = 0;
  bool ok() const { return err == 0; }
  static Status Ok() { return {}; }
  static Status Errno(int e) { return Status{e}; }
};

struct MountArgs {
  std::string source;
  std::string target;
  std::string fstype;
  unsigned long flags = 0;
  std::string data;
};

struct FsconfigArgs {
  int fd = -1;
  unsigned int cmd = 0;  // FSCONFIG_SET_STRING, FSCONFIG_CMD_CREATE, ...
  std::string key;       // empty for FSCONFIG_CMD_*
  std::string value;     // empty when the command takes none
  int aux = 0;
};

struct MoveMountArgs {
  int from_dirfd = -1;
  std::string from_path;  // "" with MOVE_MOUNT_F_EMPTY_PATH
  int to_dirfd = -100;    // AT_FDCWD
  std::string to_path;
  unsigned int flags = 0;
};

struct FileStat {
  uint32_t mode = 0;  // st_mode, type bits included
  uint64_t size = 0;
  uint64_t dev = 0;
  uint64_t ino = 0;
  uint64_t rdev = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint64_t nlink = 0;
};

struct DirEntry {
  std::string name;   // never "." or ".."
  uint8_t type = 0;   // DT_REG, DT_DIR, DT_LNK, ... (DT_UNKNOWN allowed)
};

struct PipeFds {
  int read_fd = -1;
  int write_fd = -1;
};

enum class SignalDisposition : uint8_t { kDefault, kIgnore };

// A child of Clone runs this and exits with its return value. It must only
// make Sys calls and touch memory prepared before the clone.
using CloneFn = std::function<int()>;

class Sys {
 public:
  virtual ~Sys() = default;

  // Mounts.
  virtual Status Mount(const MountArgs& a) = 0;
  virtual Status Umount2(const std::string& target, int flags) = 0;
  virtual Status PivotRoot(const std::string& new_root,
                           const std::string& put_old) = 0;
  // The new mount API (fsopen/fsconfig/fsmount/move_mount).
  virtual Result<int> Fsopen(const std::string& fstype, unsigned int flags) = 0;
  virtual Status Fsconfig(const FsconfigArgs& a) = 0;
  virtual Result<int> Fsmount(int fs_fd, unsigned int flags,
                              unsigned int attr_flags) = 0;
  virtual Status MoveMount(const MoveMountArgs& a) = 0;

  // Files and directories.
  virtual Status Mkdir(const std::string& path, mode_t mode) = 0;
  virtual Status Rmdir(const std::string& path) = 0;
  virtual Status Unlink(const std::string& path) = 0;
  virtual Status Rename(const std::string& from, const std::string& to) = 0;
  virtual Status Symlink(const std::string& target,
                         const std::string& linkpath) = 0;
  virtual Status Link(const std::string& existing,
                      const std::string& newpath) = 0;
  virtual Status Mknod(const std::string& path, mode_t mode, dev_t dev) = 0;
  virtual Status Chmod(const std::string& path, mode_t mode) = 0;
  virtual Status Lchown(const std::string& path, uid_t uid, gid_t gid) = 0;
  virtual Result<FileStat> Lstat(const std::string& path) = 0;
  // f_type of the filesystem holding path (statfs(2)).
  virtual Result<int64_t> Statfs(const std::string& path) = 0;
  virtual Result<std::vector<DirEntry>> ReadDir(const std::string& path) = 0;
  virtual Result<std::string> Readlink(const std::string& path) = 0;

  // File descriptors.
  virtual Result<int> Open(const std::string& path, int flags, mode_t mode) = 0;
  virtual Status Close(int fd) = 0;
  virtual Result<size_t> Read(int fd, void* buf, size_t len) = 0;
  virtual Result<size_t> Write(int fd, const void* buf, size_t len) = 0;
  virtual Result<PipeFds> Pipe(int flags) = 0;
  virtual Status Dup2(int oldfd, int newfd) = 0;

  // Processes.
  virtual Status Chdir(const std::string& path) = 0;
  virtual Status Sethostname(const std::string& name) = 0;
  // Starts a child in new namespaces (CLONE_NEW* in flags) running fn;
  // returns its pid as the caller sees it.
  virtual Result<pid_t> Clone(const CloneFn& fn, int flags) = 0;
  // Returns only on failure.
  virtual Status Execve(const char* path, char* const argv[],
                        char* const envp[]) = 0;
  // value: the raw wait status.
  virtual Result<int> Waitpid(pid_t pid, int options) = 0;
  virtual Status Kill(pid_t pid, int sig) = 0;
  virtual Status Signal(int sig, SignalDisposition disposition) = 0;
  virtual Status Prctl(int option, unsigned long arg2) = 0;

  // Terminals (mydocker run -t). These three default to ENOSYS so that a
  // double modelling only files (the probes' and cgroups' unit tests) need
  // not implement them; LinuxSys, SysWrapper, MockSys, FaultInjectingSys
  // and FakeKernel override them.
  // ioctl(2) with a pointer argument (TCGETS, TIOCGPTN, ...; nullptr for
  // the integer 0 of TIOCSCTTY); value: ioctl's return value.
  virtual Result<int> Ioctl(int fd, unsigned long request, void* arg) {
    return {-1, ENOSYS};
  }
  // setsid(2); value: the new session id.
  virtual Result<pid_t> Setsid() { return {-1, ENOSYS}; }
  // poll(2) over n entries; value: the number of entries with revents.
  virtual Result<int> Poll(struct pollfd* fds, size_t n, int timeout_ms) {
    return {-1, ENOSYS};
  }
};

}  // namespace mydocker
