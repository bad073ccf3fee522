// LinuxSys: Sys on the real kernel. The only code under runtime/ that makes
// syscalls. Every method is a thin call: no allocation on the way to the
// kernel, errno captured right after the call.
#pragma once

#include "runtime/sys/sys.h"

namespace mydocker {

class LinuxSys final : public Sys {
 public:
  Status Mount(const MountArgs& a) override;
  Status Umount2(const std::string& target, int flags) override;
  Status PivotRoot(const std::string& new_root,
                   const std::string& put_old) override;
  Result<int> Fsopen(const std::string& fstype, unsigned int flags) override;
  Status Fsconfig(const FsconfigArgs& a) override;
  Result<int> Fsmount(int fs_fd, unsigned int flags,
                      unsigned int attr_flags) override;
  Status MoveMount(const MoveMountArgs& a) override;
  Status Mkdir(const std::string& path, mode_t mode) override;
  Status Rmdir(const std::string& path) override;
  Status Unlink(const std::string& path) override;
  Status Rename(const std::string& from, const std::string& to) override;
  Status Symlink(const std::string& target,
                 const std::string& linkpath) override;
  Status Link(const std::string& existing, const std::string& newpath) override;
  Status Mknod(const std::string& path, mode_t mode, dev_t dev) override;
  Status Chmod(const std::string& path, mode_t mode) override;
  Status Lchown(const std::string& path, uid_t uid, gid_t gid) override;
  Result<FileStat> Lstat(const std::string& path) override;
  Result<int64_t> Statfs(const std::string& path) override;
  Result<std::vector<DirEntry>> ReadDir(const std::string& path) override;
  Result<std::string> Readlink(const std::string& path) override;
  Result<int> Open(const std::string& path, int flags, mode_t mode) override;
  Status Close(int fd) override;
  Result<size_t> Read(int fd, void* buf, size_t len) override;
  Result<size_t> Write(int fd, const void* buf, size_t len) override;
  Result<PipeFds> Pipe(int flags) override;
  Status Dup2(int oldfd, int newfd) override;
  Status Chdir(const std::string& path) override;
  Status Sethostname(const std::string& name) override;
  Result<pid_t> Clone(const CloneFn& fn, int flags) override;
  Status Execve(const char* path, char* const argv[],
                char* const envp[]) override;
  Result<int> Waitpid(pid_t pid, int options) override;
  Status Kill(pid_t pid, int sig) override;
  Status Signal(int sig, SignalDisposition disposition) override;
  Status Prctl(int option, unsigned long arg2) override;
  Result<int> Ioctl(int fd, unsigned long request, void* arg) override;
  Result<pid_t> Setsid() override;
  Result<int> Poll(struct pollfd* fds, size_t n, int timeout_ms) override;
};

}  // namespace mydocker
