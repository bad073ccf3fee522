// SysWrapper: a Sys that forwards every call to another Sys (leveldb's
// EnvWrapper). Derive from it and override only the calls you want to
// intercept; everything else reaches the target unchanged.
//
// Contract: the target must outlive the wrapper. The wrapper adds no state
// and no behaviour of its own.
#pragma once

#include "runtime/sys/sys.h"

namespace faultline {

class SysWrapper : public mydocker::Sys {
 public:
  explicit SysWrapper(mydocker::Sys& target) : target_(target) {}
  // A wrapper given another wrapper wraps it (this overload beats the copy
  // constructor, which would silently wrap the other's target instead).
  explicit SysWrapper(SysWrapper& target) : target_(target) {}
  SysWrapper(const SysWrapper&) = delete;
  SysWrapper& operator=(const SysWrapper&) = delete;

  mydocker::Sys& target() const { return target_; }

  mydocker::Status Mount(const mydocker::MountArgs& a) override {
    return target_.Mount(a);
  }
  mydocker::Status Umount2(const std::string& target, int flags) override {
    return target_.Umount2(target, flags);
  }
  mydocker::Status PivotRoot(const std::string& new_root,
                             const std::string& put_old) override {
    return target_.PivotRoot(new_root, put_old);
  }
  mydocker::Result<int> Fsopen(const std::string& fstype,
                               unsigned int flags) override {
    return target_.Fsopen(fstype, flags);
  }
  mydocker::Status Fsconfig(const mydocker::FsconfigArgs& a) override {
    return target_.Fsconfig(a);
  }
  mydocker::Result<int> Fsmount(int fs_fd, unsigned int flags,
                                unsigned int attr_flags) override {
    return target_.Fsmount(fs_fd, flags, attr_flags);
  }
  mydocker::Status MoveMount(const mydocker::MoveMountArgs& a) override {
    return target_.MoveMount(a);
  }
  mydocker::Status Mkdir(const std::string& path, mode_t mode) override {
    return target_.Mkdir(path, mode);
  }
  mydocker::Status Rmdir(const std::string& path) override {
    return target_.Rmdir(path);
  }
  mydocker::Status Unlink(const std::string& path) override {
    return target_.Unlink(path);
  }
  mydocker::Status Rename(const std::string& from,
                          const std::string& to) override {
    return target_.Rename(from, to);
  }
  mydocker::Status Symlink(const std::string& target,
                           const std::string& linkpath) override {
    return target_.Symlink(target, linkpath);
  }
  mydocker::Status Link(const std::string& existing,
                        const std::string& newpath) override {
    return target_.Link(existing, newpath);
  }
  mydocker::Status Mknod(const std::string& path, mode_t mode,
                         dev_t dev) override {
    return target_.Mknod(path, mode, dev);
  }
  mydocker::Status Chmod(const std::string& path, mode_t mode) override {
    return target_.Chmod(path, mode);
  }
  mydocker::Status Lchown(const std::string& path, uid_t uid,
                          gid_t gid) override {
    return target_.Lchown(path, uid, gid);
  }
  mydocker::Result<mydocker::FileStat> Lstat(const std::string& path) override {
    return target_.Lstat(path);
  }
  mydocker::Result<int64_t> Statfs(const std::string& path) override {
    return target_.Statfs(path);
  }
  mydocker::Result<std::vector<mydocker::DirEntry>> ReadDir(
      const std::string& path) override {
    return target_.ReadDir(path);
  }
  mydocker::Result<std::string> Readlink(const std::string& path) override {
    return target_.Readlink(path);
  }
  mydocker::Result<int> Open(const std::string& path, int flags,
                             mode_t mode) override {
    return target_.Open(path, flags, mode);
  }
  mydocker::Status Close(int fd) override { return target_.Close(fd); }
  mydocker::Result<size_t> Read(int fd, void* buf, size_t len) override {
    return target_.Read(fd, buf, len);
  }
  mydocker::Result<size_t> Write(int fd, const void* buf,
                                 size_t len) override {
    return target_.Write(fd, buf, len);
  }
  mydocker::Result<mydocker::PipeFds> Pipe(int flags) override {
    return target_.Pipe(flags);
  }
  mydocker::Status Dup2(int oldfd, int newfd) override {
    return target_.Dup2(oldfd, newfd);
  }
  mydocker::Status Chdir(const std::string& path) override {
    return target_.Chdir(path);
  }
  mydocker::Status Sethostname(const std::string& name) override {
    return target_.Sethostname(name);
  }
  mydocker::Result<pid_t> Clone(const mydocker::CloneFn& fn,
                                int flags) override {
    return target_.Clone(fn, flags);
  }
  mydocker::Status Execve(const char* path, char* const argv[],
                          char* const envp[]) override {
    return target_.Execve(path, argv, envp);
  }
  mydocker::Result<int> Waitpid(pid_t pid, int options) override {
    return target_.Waitpid(pid, options);
  }
  mydocker::Status Kill(pid_t pid, int sig) override {
    return target_.Kill(pid, sig);
  }
  mydocker::Status Signal(int sig,
                          mydocker::SignalDisposition disposition) override {
    return target_.Signal(sig, disposition);
  }
  mydocker::Status Prctl(int option, unsigned long arg2) override {
    return target_.Prctl(option, arg2);
  }
  mydocker::Result<int> Ioctl(int fd, unsigned long request, void* arg) override {
    return target_.Ioctl(fd, request, arg);
  }
  mydocker::Result<pid_t> Setsid() override { return target_.Setsid(); }
  mydocker::Result<int> Poll(struct pollfd* fds, size_t n, int timeout_ms) override {
    return target_.Poll(fds, n, timeout_ms);
  }

 private:
  mydocker::Sys& target_;
};

}  // namespace faultline
