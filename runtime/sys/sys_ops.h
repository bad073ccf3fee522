// The one list of Sys operations. Everything that has a method per op is
// generated from it: the Sys interface and the Op enum with OpName
// (sys.h/sys.cc), SysWrapper and ErrnoSys (sys_wrapper.h), MockSys
// (tests/support/mock_sys.h), FaultInjectingSys's call description and
// lies (faults/), FakeKernel's forwarding (fakekernel/). Adding an op is one
// line here plus its LinuxSys body and its FakeKernel model.
//
//   X(Method, "name", Ret, (params), (args), (path, path2, fstype, flags), lie)
//
//   Method  the Sys virtual; the Op enumerator is k##Method
//   "name"  the op's name in plans, traces and reports (the syscall's name)
//   Ret     Status or Result<T>
//   params  the parameter list, with names (the forwarding code uses them)
//   args    the same names, as a call's argument list
//   (path, path2, fstype, flags)
//           what a fault plan matches on, as expressions of the params:
//           the primary path, a second path, an fstype, the flags argument
//   lie     what the call returns when a fault plan says "lie" (report
//           success, do nothing): a harmless value; a call that returns a
//           handle returns one that does not exist (kLieHandle + k), so later
//           calls on it fail EBADF/ESRCH
//
// The printable arguments of a trace are derived from params by type and
// name (sys_wrapper.h, SysCall::Args): strings quoted, "*flags", "request",
// "options" and "dev" in hex, "mode" in octal, buffers and callbacks left out.
#pragma once

// MYDOCKER_SYS_OPS(X) expands X once per op, in the order of the Op enum.
#define MYDOCKER_SYS_OPS(X)                                                              \
  /* Mounts. */                                                                          \
  X(Mount, "mount", ::mydocker::Status, (const ::mydocker::MountArgs& a), (a),                                   \
    (a.target, a.source, a.fstype, a.flags), ::mydocker::Status{})                                   \
  X(Umount2, "umount2", ::mydocker::Status, (const std::string& target, int flags), (target, flags), \
    (target, {}, {}, static_cast<uint64_t>(flags)), ::mydocker::Status{})                            \
  X(PivotRoot, "pivot_root", ::mydocker::Status,                                                     \
    (const std::string& new_root, const std::string& put_old), (new_root, put_old),      \
    (new_root, put_old, {}, 0), ::mydocker::Status{})                                                \
  /* The new mount API (fsopen/fsconfig/fsmount/move_mount). */                          \
  X(Fsopen, "fsopen", ::mydocker::Result<int>, (const std::string& fstype, unsigned int flags),      \
    (fstype, flags), ({}, {}, fstype, flags), (::mydocker::Result<int>{::mydocker::kLieHandle, 0}))              \
  X(Fsconfig, "fsconfig", ::mydocker::Status, (const ::mydocker::FsconfigArgs& a), (a),                          \
    (a.value, a.key, {}, a.cmd), ::mydocker::Status{})                                               \
  X(Fsmount, "fsmount", ::mydocker::Result<int>,                                                     \
    (int fs_fd, unsigned int flags, unsigned int attr_flags), (fs_fd, flags, attr_flags),\
    ({}, {}, {}, flags), (::mydocker::Result<int>{::mydocker::kLieHandle + 1, 0}))                               \
  X(MoveMount, "move_mount", ::mydocker::Status, (const ::mydocker::MoveMountArgs& a), (a),                      \
    (a.to_path, a.from_path, {}, a.flags), ::mydocker::Status{})                                     \
  /* Files and directories. */                                                           \
  X(Mkdir, "mkdir", ::mydocker::Status, (const std::string& path, mode_t mode), (path, mode),        \
    (path, {}, {}, mode), ::mydocker::Status{})                                                      \
  X(Rmdir, "rmdir", ::mydocker::Status, (const std::string& path), (path), (path, {}, {}, 0),        \
    ::mydocker::Status{})                                                                            \
  X(Unlink, "unlink", ::mydocker::Status, (const std::string& path), (path), (path, {}, {}, 0),      \
    ::mydocker::Status{})                                                                            \
  X(Rename, "rename", ::mydocker::Status, (const std::string& from, const std::string& to),          \
    (from, to), (from, to, {}, 0), ::mydocker::Status{})                                             \
  X(Symlink, "symlink", ::mydocker::Status, (const std::string& target, const std::string& linkpath),\
    (target, linkpath), (linkpath, target, {}, 0), ::mydocker::Status{})                             \
  X(Link, "link", ::mydocker::Status, (const std::string& existing, const std::string& newpath),     \
    (existing, newpath), (newpath, existing, {}, 0), ::mydocker::Status{})                           \
  X(Mknod, "mknod", ::mydocker::Status, (const std::string& path, mode_t mode, dev_t dev),           \
    (path, mode, dev), (path, {}, {}, mode), ::mydocker::Status{})                                   \
  X(Chmod, "chmod", ::mydocker::Status, (const std::string& path, mode_t mode), (path, mode),        \
    (path, {}, {}, mode), ::mydocker::Status{})                                                      \
  X(Lchown, "lchown", ::mydocker::Status, (const std::string& path, uid_t uid, gid_t gid),           \
    (path, uid, gid), (path, {}, {}, 0), ::mydocker::Status{})                                       \
  X(Lstat, "lstat", ::mydocker::Result<::mydocker::FileStat>, (const std::string& path), (path),                 \
    (path, {}, {}, 0), ::mydocker::Result<::mydocker::FileStat>{})                                               \
  /* f_type of the filesystem holding path (statfs(2)). */                               \
  X(Statfs, "statfs", ::mydocker::Result<int64_t>, (const std::string& path), (path),                \
    (path, {}, {}, 0), ::mydocker::Result<int64_t>{})                                                \
  X(ReadDir, "readdir", ::mydocker::Result<std::vector<::mydocker::DirEntry>>, (const std::string& path),        \
    (path), (path, {}, {}, 0), ::mydocker::Result<std::vector<::mydocker::DirEntry>>{})                          \
  X(Readlink, "readlink", ::mydocker::Result<std::string>, (const std::string& path), (path),        \
    (path, {}, {}, 0), ::mydocker::Result<std::string>{})                                            \
  /* File descriptors. */                                                                \
  X(Open, "open", ::mydocker::Result<int>, (const std::string& path, int flags, mode_t mode),        \
    (path, flags, mode), (path, {}, {}, static_cast<uint64_t>(flags)),                   \
    (::mydocker::Result<int>{::mydocker::kLieHandle + 2, 0}))                                                    \
  X(Close, "close", ::mydocker::Status, (int fd), (fd), ({}, {}, {}, 0), ::mydocker::Status{})                   \
  X(Read, "read", ::mydocker::Result<size_t>, (int fd, void* buf, size_t len), (fd, buf, len),       \
    ({}, {}, {}, 0), (::mydocker::Result<size_t>{0, 0}))                                             \
  X(Write, "write", ::mydocker::Result<size_t>, (int fd, const void* buf, size_t len),               \
    (fd, buf, len), ({}, {}, {}, 0), (::mydocker::Result<size_t>{len, 0}))                           \
  X(Pipe, "pipe", ::mydocker::Result<::mydocker::PipeFds>, (int flags), (flags),                                 \
    ({}, {}, {}, static_cast<uint64_t>(flags)),                                          \
    (::mydocker::Result<::mydocker::PipeFds>{::mydocker::PipeFds{::mydocker::kLieHandle + 3, ::mydocker::kLieHandle + 4}, 0}))                       \
  X(Dup2, "dup2", ::mydocker::Status, (int oldfd, int newfd), (oldfd, newfd), ({}, {}, {}, 0),       \
    ::mydocker::Status{})                                                                            \
  /* Processes. */                                                                       \
  X(Chdir, "chdir", ::mydocker::Status, (const std::string& path), (path), (path, {}, {}, 0),        \
    ::mydocker::Status{})                                                                            \
  X(Sethostname, "sethostname", ::mydocker::Status, (const std::string& name), (name),               \
    (name, {}, {}, 0), ::mydocker::Status{})                                                         \
  /* Starts a child in new namespaces (CLONE_NEW* in flags) running fn;      */          \
  /* value: its pid as the caller sees it.                                   */          \
  X(Clone, "clone", ::mydocker::Result<pid_t>, (const ::mydocker::CloneFn& fn, int flags), (fn, flags),          \
    ({}, {}, {}, static_cast<uint64_t>(flags)), (::mydocker::Result<pid_t>{::mydocker::kLieHandle, 0}))          \
  /* Returns only on failure. */                                                         \
  X(Execve, "execve", ::mydocker::Status, (const char* path, char* const argv[], char* const envp[]),\
    (path, argv, envp), (path ? std::string_view(path) : std::string_view(), {}, {}, 0), \
    ::mydocker::Status{})                                                                            \
  /* value: the raw wait status. */                                                      \
  X(Waitpid, "waitpid", ::mydocker::Result<int>, (pid_t pid, int options), (pid, options),           \
    ({}, {}, {}, static_cast<uint64_t>(options)), (::mydocker::Result<int>{0, 0}))                   \
  X(Kill, "kill", ::mydocker::Status, (pid_t pid, int sig), (pid, sig),                              \
    ({}, {}, {}, static_cast<uint64_t>(sig)), ::mydocker::Status{})                                  \
  X(Signal, "signal", ::mydocker::Status, (int sig, ::mydocker::SignalDisposition disposition),                  \
    (sig, disposition), ({}, {}, {}, static_cast<uint64_t>(sig)), ::mydocker::Status{})              \
  X(Prctl, "prctl", ::mydocker::Status, (int option, unsigned long arg2), (option, arg2),            \
    ({}, {}, {}, static_cast<uint64_t>(option)), ::mydocker::Status{})                               \
  /* Terminals (mydocker run -t). ioctl(2) with a pointer argument (TCGETS,  */          \
  /* TIOCGPTN, ...; nullptr for the integer 0 of TIOCSCTTY); value: ioctl's  */          \
  /* return value.                                                           */          \
  X(Ioctl, "ioctl", ::mydocker::Result<int>, (int fd, unsigned long request, void* arg),             \
    (fd, request, arg), ({}, {}, {}, static_cast<uint64_t>(request)),                    \
    (::mydocker::Result<int>{0, 0}))                                                                 \
  /* setsid(2); value: the new session id. */                                            \
  X(Setsid, "setsid", ::mydocker::Result<pid_t>, (), (), ({}, {}, {}, 0),                            \
    (::mydocker::Result<pid_t>{::mydocker::kLieHandle, 0}))                                                      \
  /* poll(2) over n entries; value: the number of entries with revents. A    */          \
  /* lie reports every entry ready (a poll loop then reads, and the lied     */          \
  /* reads' 0 bytes end it).                                                 */          \
  X(Poll, "poll", ::mydocker::Result<int>, (struct pollfd* fds, size_t n, int timeout_ms),           \
    (fds, n, timeout_ms), ({}, {}, {}, 0), (::mydocker::sys_internal::LiePoll(fds, n)))   \
  /* Durability and locks */                                                             \
  /* fsync(2) of a file or (opened O_RDONLY|O_DIRECTORY) a directory.        */          \
  X(Fsync, "fsync", ::mydocker::Status, (int fd), (fd), ({}, {}, {}, 0), ::mydocker::Status{})     \
  /* syncfs(2): every file of the filesystem holding fd (an imported layer). */           \
  X(Syncfs, "syncfs", ::mydocker::Status, (int fd), (fd), ({}, {}, {}, 0), ::mydocker::Status{})   \
  /* flock(2): LOCK_SH / LOCK_EX / LOCK_UN, | LOCK_NB (EWOULDBLOCK when held). */        \
  X(Flock, "flock", ::mydocker::Status, (int fd, int operation), (fd, operation),                  \
    ({}, {}, {}, static_cast<uint64_t>(operation)), ::mydocker::Status{})                          \
  /* ftruncate(2): the file's size (a sparse file's tail hole). */                       \
  X(Ftruncate, "ftruncate", ::mydocker::Status, (int fd, int64_t length), (fd, length),            \
    ({}, {}, {}, 0), ::mydocker::Status{})                                                         \
  /* pwrite(2) at an offset (sparse files: the holes are never written). */              \
  X(Pwrite, "pwrite64", ::mydocker::Result<size_t>,                                                \
    (int fd, const void* buf, size_t len, int64_t offset), (fd, buf, len, offset),                 \
    ({}, {}, {}, 0), (::mydocker::Result<size_t>{len, 0}))
