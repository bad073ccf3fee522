// MockSys: a gMock double of every Sys call, for ordering and argument
// expectations ("umount2 of merged happens before rmdir of the workspace").
//
// Header-only on purpose: the faultline_mocks library links without gtest;
// only test binaries include this. Default actions return success with a
// value-initialized result (gMock's default for Status/Result structs), so a
// NiceMock<MockSys> behaves like a kernel that accepts everything.
#pragma once

#include <gmock/gmock.h>

#include "runtime/sys/sys.h"

namespace faultline {

class MockSys : public mydocker::Sys {
 public:
  MOCK_METHOD(mydocker::Status, Mount, (const mydocker::MountArgs& a),
              (override));
  MOCK_METHOD(mydocker::Status, Umount2, (const std::string& target, int flags),
              (override));
  MOCK_METHOD(mydocker::Status, PivotRoot,
              (const std::string& new_root, const std::string& put_old),
              (override));
  MOCK_METHOD(mydocker::Result<int>, Fsopen,
              (const std::string& fstype, unsigned int flags), (override));
  MOCK_METHOD(mydocker::Status, Fsconfig, (const mydocker::FsconfigArgs& a),
              (override));
  MOCK_METHOD(mydocker::Result<int>, Fsmount,
              (int fs_fd, unsigned int flags, unsigned int attr_flags),
              (override));
  MOCK_METHOD(mydocker::Status, MoveMount, (const mydocker::MoveMountArgs& a),
              (override));
  MOCK_METHOD(mydocker::Status, Mkdir, (const std::string& path, mode_t mode),
              (override));
  MOCK_METHOD(mydocker::Status, Rmdir, (const std::string& path), (override));
  MOCK_METHOD(mydocker::Status, Unlink, (const std::string& path), (override));
  MOCK_METHOD(mydocker::Status, Rename,
              (const std::string& from, const std::string& to), (override));
  MOCK_METHOD(mydocker::Status, Symlink,
              (const std::string& target, const std::string& linkpath),
              (override));
  MOCK_METHOD(mydocker::Status, Link,
              (const std::string& existing, const std::string& newpath),
              (override));
  MOCK_METHOD(mydocker::Status, Mknod,
              (const std::string& path, mode_t mode, dev_t dev), (override));
  MOCK_METHOD(mydocker::Status, Chmod, (const std::string& path, mode_t mode),
              (override));
  MOCK_METHOD(mydocker::Status, Lchown,
              (const std::string& path, uid_t uid, gid_t gid), (override));
  MOCK_METHOD(mydocker::Result<mydocker::FileStat>, Lstat,
              (const std::string& path), (override));
  MOCK_METHOD(mydocker::Result<int64_t>, Statfs, (const std::string& path),
              (override));
  MOCK_METHOD(mydocker::Result<std::vector<mydocker::DirEntry>>, ReadDir,
              (const std::string& path), (override));
  MOCK_METHOD(mydocker::Result<std::string>, Readlink,
              (const std::string& path), (override));
  MOCK_METHOD(mydocker::Result<int>, Open,
              (const std::string& path, int flags, mode_t mode), (override));
  MOCK_METHOD(mydocker::Status, Close, (int fd), (override));
  MOCK_METHOD(mydocker::Result<size_t>, Read, (int fd, void* buf, size_t len),
              (override));
  MOCK_METHOD(mydocker::Result<size_t>, Write,
              (int fd, const void* buf, size_t len), (override));
  MOCK_METHOD(mydocker::Result<mydocker::PipeFds>, Pipe, (int flags),
              (override));
  MOCK_METHOD(mydocker::Status, Dup2, (int oldfd, int newfd), (override));
  MOCK_METHOD(mydocker::Status, Chdir, (const std::string& path), (override));
  MOCK_METHOD(mydocker::Status, Sethostname, (const std::string& name),
              (override));
  MOCK_METHOD(mydocker::Result<pid_t>, Clone,
              (const mydocker::CloneFn& fn, int flags), (override));
  MOCK_METHOD(mydocker::Status, Execve,
              (const char* path, char* const argv[], char* const envp[]),
              (override));
  MOCK_METHOD(mydocker::Result<int>, Waitpid, (pid_t pid, int options),
              (override));
  MOCK_METHOD(mydocker::Status, Kill, (pid_t pid, int sig), (override));
  MOCK_METHOD(mydocker::Status, Signal,
              (int sig, mydocker::SignalDisposition disposition), (override));
  MOCK_METHOD(mydocker::Status, Prctl, (int option, unsigned long arg2),
              (override));
  MOCK_METHOD(mydocker::Result<int>, Ioctl, (int fd, unsigned long request, void* arg),
              (override));
  MOCK_METHOD(mydocker::Result<pid_t>, Setsid, (), (override));
  MOCK_METHOD(mydocker::Result<int>, Poll, (struct pollfd* fds, size_t n, int timeout_ms),
              (override));
};

}  // namespace faultline
