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
  /* lsetxattr(2): an xattr of path itself (never followed); the import sets  */          \
  /* trusted.overlay.opaque=y on an image layer's opaque directory.          */          \
  X(Lsetxattr, "lsetxattr", ::mydocker::Status,                                                    \
    (const std::string& path, const std::string& name, const std::string& value, int flags),       \
    (path, name, value, flags), (path, name, {}, static_cast<uint64_t>(flags)), ::mydocker::Status{}) \
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
  /* Root-confined paths and fd-relative calls (runtime/sys/confined.h). A  */          \
  /* dirfd of AT_FDCWD (-100) means the cwd, as in the kernel.               */          \
  /* openat2(2): how.resolve carries RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS  */          \
  /* ...; value: the new fd. ENOSYS on kernels before 5.6.                   */          \
  X(Openat2, "openat2", ::mydocker::Result<int>,                                         \
    (int dirfd, const std::string& path, const ::mydocker::OpenHow& how), (dirfd, path, how), \
    (path, {}, {}, how.resolve), (::mydocker::Result<int>{::mydocker::kLieHandle + 5, 0})) \
  X(Openat, "openat", ::mydocker::Result<int>,                                           \
    (int dirfd, const std::string& path, int flags, mode_t mode), (dirfd, path, flags, mode), \
    (path, {}, {}, static_cast<uint64_t>(flags)),                                        \
    (::mydocker::Result<int>{::mydocker::kLieHandle + 6, 0}))                            \
  X(Mkdirat, "mkdirat", ::mydocker::Status, (int dirfd, const std::string& path, mode_t mode), \
    (dirfd, path, mode), (path, {}, {}, mode), ::mydocker::Status{})                     \
  X(Mknodat, "mknodat", ::mydocker::Status,                                              \
    (int dirfd, const std::string& path, mode_t mode, dev_t dev), (dirfd, path, mode, dev), \
    (path, {}, {}, mode), ::mydocker::Status{})                                          \
  X(Symlinkat, "symlinkat", ::mydocker::Status,                                          \
    (const std::string& target, int dirfd, const std::string& linkpath),                 \
    (target, dirfd, linkpath), (linkpath, target, {}, 0), ::mydocker::Status{})          \
  /* fchmodat(2) with flags 0 (follows a final symlink: for nodes the       */           \
  /* runtime just made in a tmpfs of its own).                              */           \
  X(Fchmodat, "fchmodat", ::mydocker::Status, (int dirfd, const std::string& path, mode_t mode), \
    (dirfd, path, mode), (path, {}, {}, mode), ::mydocker::Status{})                     \
  /* unlinkat(2); flags AT_REMOVEDIR for a directory. */                                 \
  X(Unlinkat, "unlinkat", ::mydocker::Status, (int dirfd, const std::string& path, int flags), \
    (dirfd, path, flags), (path, {}, {}, static_cast<uint64_t>(flags)), ::mydocker::Status{}) \
  /* fstatat(2); flags AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH. */                            \
  X(Fstatat, "fstatat", ::mydocker::Result<::mydocker::FileStat>,                        \
    (int dirfd, const std::string& path, int flags), (dirfd, path, flags),               \
    (path, {}, {}, static_cast<uint64_t>(flags)), ::mydocker::Result<::mydocker::FileStat>{}) \
  /* Every entry of the directory open at fd (getdents64 from offset 0,    */            \
  /* like fdopendir + readdir without taking the fd); fd stays open.       */            \
  X(ReadDirFd, "getdents64", ::mydocker::Result<std::vector<::mydocker::DirEntry>>, (int fd), \
    (fd), ({}, {}, {}, 0), ::mydocker::Result<std::vector<::mydocker::DirEntry>>{})       \
  X(Fchdir, "fchdir", ::mydocker::Status, (int fd), (fd), ({}, {}, {}, 0), ::mydocker::Status{}) \
  /* open_tree(2): OPEN_TREE_CLONE (a detached copy, AT_RECURSIVE for the   */           \
  /* whole tree) or not (the mount itself); value: the new fd.              */           \
  X(OpenTree, "open_tree", ::mydocker::Result<int>,                                      \
    (int dirfd, const std::string& path, unsigned int flags), (dirfd, path, flags),      \
    (path, {}, {}, flags), (::mydocker::Result<int>{::mydocker::kLieHandle + 7, 0}))     \
  /* mount_setattr(2): MOUNT_ATTR_* set and cleared, AT_RECURSIVE. */                    \
  X(MountSetattr, "mount_setattr", ::mydocker::Status,                                   \
    (int dirfd, const std::string& path, unsigned int flags, const ::mydocker::MountAttr& attr), \
    (dirfd, path, flags, attr), (path, {}, {}, attr.attr_set), ::mydocker::Status{})     \
  /* close_range(2); flags CLOSE_RANGE_CLOEXEC marks instead of closing. */              \
  X(CloseRange, "close_range", ::mydocker::Status,                                       \
    (unsigned int first, unsigned int last, unsigned int flags), (first, last, flags),   \
    ({}, {}, {}, flags), ::mydocker::Status{})                                           \
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
  /* pidfd_open(2): an fd that refers to the process pid (flags 0): a     */           \
  /* reused pid cannot be mistaken for it; poll(2) reports POLLIN when it    */           \
  /* exits. value: the new fd (close-on-exec).                               */           \
  X(PidfdOpen, "pidfd_open", ::mydocker::Result<int>, (pid_t pid, unsigned int flags),   \
    (pid, flags), ({}, {}, {}, flags), (::mydocker::Result<int>{::mydocker::kLieHandle + 8, 0})) \
  /* pidfd_send_signal(2) with info NULL, flags 0. */                                    \
  X(PidfdSendSignal, "pidfd_send_signal", ::mydocker::Status, (int pidfd, int sig),      \
    (pidfd, sig), ({}, {}, {}, static_cast<uint64_t>(sig)), ::mydocker::Status{})        \
  /* setns(2): fd a pidfd (nstype: the CLONE_NEW* set to join, at once) or a */          \
  /* file under /proc/PID/ns (nstype 0 or its one type). Joining a mount ns */           \
  /* sets the caller's root and cwd to that namespace's root; a pid ns      */           \
  /* applies to the caller's children.                                      */           \
  X(Setns, "setns", ::mydocker::Status, (int fd, int nstype), (fd, nstype),              \
    ({}, {}, {}, static_cast<uint64_t>(nstype)), ::mydocker::Status{})                   \
  X(Signal, "signal", ::mydocker::Status, (int sig, ::mydocker::SignalDisposition disposition),                  \
    (sig, disposition), ({}, {}, {}, static_cast<uint64_t>(sig)), ::mydocker::Status{})              \
  X(Prctl, "prctl", ::mydocker::Status, (int option, unsigned long arg2), (option, arg2),            \
    ({}, {}, {}, static_cast<uint64_t>(option)), ::mydocker::Status{})                               \
  /* Hardening (runtime/rootfs/hardening.h). capset(2) of the calling      */          \
  /* thread (_LINUX_CAPABILITY_VERSION_3, 64-bit sets).                     */           \
  X(Capset, "capset", ::mydocker::Status, (const ::mydocker::CapSets& caps), (caps),     \
    ({}, {}, {}, caps.effective), ::mydocker::Status{})                                  \
  /* libseccomp: the BPF program for rules on the native architecture      */           \
  /* (and rules.extra_arches), exported with seccomp_export_bpf. Behind the */           \
  /* seam because libseccomp asks the kernel (its API level, the arch).     */           \
  X(SeccompExport, "seccomp_export_bpf", ::mydocker::Result<::mydocker::SeccompBpf>,     \
    (const ::mydocker::SeccompRules& rules), (rules), ({}, {}, {}, rules.rules.size()),  \
    ::mydocker::Result<::mydocker::SeccompBpf>{})                                        \
  /* seccomp(SECCOMP_SET_MODE_FILTER, flags, prog): the BPF program was     */           \
  /* made before clone; the filter applies to the caller and its children.  */           \
  X(SeccompFilter, "seccomp", ::mydocker::Status,                                        \
    (const ::mydocker::SeccompProgram& prog, unsigned int flags), (prog, flags),         \
    ({}, {}, {}, flags), ::mydocker::Status{})                                           \
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
