// FakeKernel: a stateful in-memory kernel behind the Sys seam, enough to run
// the whole mydocker runtime unprivileged and fast (a lifecycle is a few
// hundred calls and costs tens of microseconds).
//
// What it models (the exact rules and errnos are in the layer files named by
// fakekernel/state.h: vfs, overlay, proc, cgroupfs, mounts, tasks, userland):
//  * Filesystems: one global inode table; every superblock (ext4 root, tmpfs,
//    devtmpfs, sysfs, devpts, cgroup v1/v2, proc, overlay) has its own st_dev
//    and statfs magic. Dirs, regular files with content, symlinks, device
//    nodes, fifos, hard links, mode/uid/gid. Path resolution follows
//    symlinks in every intermediate component (and in the last one except
//    for Lstat/Readlink/Unlink/...), handles "." and ".." across mounts, and
//    fails like the kernel: ENOENT, EEXIST, ENOTDIR, ENOTEMPTY, EISDIR,
//    EBADF, EXDEV, EROFS, ELOOP, EBUSY, EINVAL.
//  * Overlay: lowerdir=a:b,upperdir=u,workdir=w (mount(2) data or the new
//    mount API; fsconfig strings of at most 255 bytes, layers also by fd
//    with FSCONFIG_SET_FD, see FakeKernelOptions::overlay_layer_fds). The merged view is upper over lowers; reads see the top
//    layer that has the name; every write copies the file (and its parent
//    dirs) up into upper first; a removed lower name leaves a whiteout
//    (char 0:0) in upper; a dir recreated over a whiteout is opaque.
//    Renaming a dir that exists only in a lower layer is EXDEV (no
//    redirect_dir), as the kernel.
//  * Mount namespaces with parent links, stacking, shared/private/slave
//    propagation (peer groups; mount and umount events propagate to peers),
//    bind (MS_REC), move, remount read-only, umount2 with EBUSY rules and
//    MNT_DETACH, pivot_root with the kernel's checks, and the new mount API
//    (fsopen/fsconfig/fsmount/move_mount). rmdir/unlink of a mount point in
//    the caller's namespace is EBUSY; mounts on it in other namespaces are
//    detached (as since Linux 3.18). A namespace no process uses is dropped.
//  * Processes: pid, parent, pid/mount/UTS namespace, hostname, cwd, root, fd
//    table with close-on-exec, pdeathsig, signal dispositions, cgroups, exit
//    status. The runtime is one process (pid 100 by default), child of a
//    fake init (pid 1). Clone() creates the child but DEFERS running it:
//    the child's fn runs in-process, on the caller's thread, with the
//    "current process" switched to the child, when the parent would block
//    on it: a Read on an empty pipe whose write end the child holds, or a
//    Waitpid on it. Every Sys call made while fn runs acts as the child.
//    Execve resolves the program in the child's root and runs a fake
//    program by basename(argv[0]) (true, false, sh -c SCRIPT, hostname,
//    echo, cat, ls, ps, grep [-c -v -q]; unknown programs exit 0; sh takes
//    `;` `&&` `||` `|` `>&2` `2>&1` quotes and `exit N`), then ends the
//    child by throwing an internal exception that the clone driver catches:
//    child code must not swallow exceptions with catch (...).
//    `sleep` (also via sh -c) parks the process instead: it stays alive with
//    its fds, namespaces and cgroups until it is waited for (it then exits
//    0: time passes; after `sleep` in a script the rest of the script runs
//    then, and the script's status is the exit), killed, or its parent dies
//    (pdeathsig, else it is an orphan left for gc). A reader blocked on a pipe a parked process holds
//    lets it finish.
//    A read that would block with no deferred process able to satisfy it
//    (the writer is the blocked parent itself) returns EDEADLK: in the real
//    kernel that program would hang.
//    Waitpid runs a deferred child (or finishes a parked one) even with
//    WNOHANG: time is virtual. Kill of a pid <= 0 (groups) is EINVAL.
//    Every clone child runs on a stack of its own (a ucontext fiber): a
//    child that waits for a parked or blocked child of its own (a detached
//    run's monitor waiting for its container) BLOCKS there instead, and
//    its caller goes on; once that child ends (killed, or let finish by a
//    waiter), the blocked process resumes at the end of the Sys call that
//    ended it, where it left off (so `stop` sees the monitor's teardown
//    done when its kill returns). The runtime process itself never blocks.
//    Killing a blocked process unwinds its stack. A copy of the kernel
//    does not carry blocked stacks (they behave as parked processes), and
//    a kernel destroyed with a blocked process frees its stack without
//    unwinding it: stop what you start.
//  * pidfd_open / pidfd_send_signal (ESRCH once reaped; a pidfd polls
//    POLLIN when its process exited), setns on a pidfd (mount: namespace,
//    root and cwd of the target; UTS; pid: for the caller's children; ipc,
//    net, cgroup accepted, not modeled; a /proc/PID/ns file is EINVAL).
//    /proc/PID/stat's start time (field 22) is 1000 + pid.
//  * Pipes (unbounded buffer), EOF when no writer is left, EPIPE when no
//    reader is left. Fds 0-2 of the runtime are a console whose output is
//    kept (console()).
//  * Cgroups: v1 hybrid (tmpfs at /sys/fs/cgroup, one hierarchy per
//    controller, cgroup2 at /sys/fs/cgroup/unified), v1 only (the same
//    without cgroup2) or v2 unified (cgroup.kill, cgroup.events with
//    populated for the subtree, cgroup.freeze). mkdir
//    creates the control files; limit files validate their values (EINVAL);
//    cgroup.procs moves processes (ESRCH, v1 empty cpuset ENOSPC, v2
//    no-internal-process EBUSY); v2 subtree_control gates controller files;
//    rmdir with tasks or child cgroups is EBUSY.
//  * /proc from the model: self, <pid>/{mountinfo,mounts,stat,status,comm,
//    cmdline,cgroup,fd/,ns/{mnt,uts,pid}}, mounts, filesystems-free.
//  * Sethostname outside a new UTS namespace is EPERM.
//
// Not modeled: permissions beyond the execute bit (everyone is root), user
// namespaces, pipe capacity, file timestamps, xattrs other than overlay
// opaque, signals other than termination.
//
// Value semantics: a FakeKernel is copyable; copy a prepared kernel per run.
// Not thread-safe: one run per FakeKernel.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/sys/sys.h"

namespace faultline {

using mydocker::ProcessIdentity;

enum class FakeCgroupMode {
  kV1Hybrid,   // like this host: tmpfs /sys/fs/cgroup + v1 hierarchies + unified
  kV1,         // v1 only: tmpfs /sys/fs/cgroup + one v1 hierarchy per controller
  kV2Unified,  // cgroup2 at /sys/fs/cgroup, controllers cpuset cpu io memory pids
};

struct FakeKernelOptions {
  FakeCgroupMode cgroups = FakeCgroupMode::kV1Hybrid;
  std::string hostname = "faultline-host";
  pid_t runtime_pid = 100;
  // systemd hosts mount "/" shared; a runtime that forgets to make its new
  // namespace private then fails pivot_root (EINVAL) or leaks mounts.
  bool host_root_shared = true;
  std::string cpus = "0-1";  // the host's cpuset.cpus / cpuset.mems
  std::string mems = "0";
  // overlayfs takes lowerdir+/upperdir/workdir as FSCONFIG_SET_FD (Linux
  // 6.13+; O_PATH fds since 6.14, which the fake takes too); false models
  // 6.8-6.12, where only strings (<= 255 bytes) work.
  bool overlay_layer_fds = true;
};

// What an exec'd fake program sees (for FakeKernel::SetExecHook).
struct FakeExec {
  pid_t pid = 0;
  std::string path;  // the resolved program path
  std::vector<std::string> argv;
  std::vector<std::string> envp;
};

class FakeKernel final : public mydocker::Sys, public ProcessIdentity {
 public:
  explicit FakeKernel(FakeKernelOptions options = {});
  ~FakeKernel() override;
  // Deep copies. Copying while a child runs is not supported.
  FakeKernel(const FakeKernel& other);
  FakeKernel& operator=(const FakeKernel& other);
  FakeKernel(FakeKernel&&) noexcept;
  FakeKernel& operator=(FakeKernel&&) noexcept;

  // ---- Sys ----
  // Terminals: no pty driver and no terminals: Ioctl fails ENOTTY on every
  // open fd (EBADF on others), so `run -t` fails at "console: open pty".
  // Setsid succeeds (sessions are not modelled). Poll reports pipes (data, or
  // the other end closed) and files as ready; with nothing ready it returns
  // 0 at once for a finite timeout and EDEADLK for an infinite one.
#define FAULTLINE_FAKE_OP(Method, name, Ret, Params, ...) Ret Method Params override;
  MYDOCKER_SYS_OPS(FAULTLINE_FAKE_OP)
#undef FAULTLINE_FAKE_OP

  // ---- ProcessIdentity ----
  pid_t CurrentPid() const override;

  // ---- Seeding (acts as the current process; parents are created) ----
  mydocker::Status AddDir(const std::string& path, mode_t mode = 0755,
                          uid_t uid = 0, gid_t gid = 0);
  mydocker::Status AddFile(const std::string& path, const std::string& content,
                           mode_t mode = 0644, uid_t uid = 0, gid_t gid = 0);
  mydocker::Status AddSymlink(const std::string& target,
                              const std::string& linkpath);
  mydocker::Status AddDevice(const std::string& path, mode_t mode, dev_t dev);
  // A tiny busybox rootfs under dir: bin/busybox (executable) and applet
  // links sh true false hostname ls ps cat echo sleep; etc/{passwd,group,
  // hostname}, proc/ dev/ sys/ tmp/ root/ ... Returns the first error.
  mydocker::Status BuildBusyboxImage(const std::string& dir);
  // Seeding is the disk as it was before: what it adds is durable (every
  // Add* and BuildBusyboxImage end with Sync()).
  // Whole content of a file as the current process would read it.
  mydocker::Result<std::string> ReadWholeFile(const std::string& path);

  // ---- Observation ----
  pid_t RuntimePid() const;
  // Mounts visible in pid's namespace (mountinfo lines); -1: all live mounts
  // of every namespace plus detached ones still referenced.
  size_t MountCount(pid_t pid) const;
  size_t TotalMountCount() const;
  size_t MountNamespaceCount() const;
  // Live (not yet reaped) processes other than init, zombies included.
  std::vector<pid_t> Pids() const;
  bool ProcessExists(pid_t pid) const;  // not reaped (zombies count)
  bool ProcessRunnable(pid_t pid) const;  // cloned, not yet run, not dead
  bool ProcessParked(pid_t pid) const;    // exec'd sleep, still alive
  // Time passes for pid (the runtime process must be the current one): a
  // parked process finishes (the rest of its sh script runs, its sleeps
  // return at once) and exits, a blocked one's awaited child does, a
  // deferred one runs; whoever waited for it goes on (a detached run's
  // monitor records the end and tears down). True when pid has ended.
  bool TimePasses(pid_t pid);
  size_t OpenFdCount(pid_t pid) const;
  std::string Hostname(pid_t pid) const;
  // /proc/<pid>/mountinfo as that process would read it.
  std::string Mountinfo(pid_t pid) const;
  // Text written to the console (fds 0-2 of the runtime and inherited).
  const std::string& console() const;
  // Called while an exec'd program runs (the process is alive, in its
  // cgroups and namespaces): probes can look at a running container.
  void SetExecHook(std::function<void(FakeKernel&, const FakeExec&)> hook);
  // Every exec so far, in order.
  const std::vector<FakeExec>& execs() const;

  // The runtime process died (a crash): its fds close, children with a
  // pdeathsig die, it leaves its cgroups; its other children are reparented
  // to init. A fresh runtime process is started in the host namespaces
  // (cwd "/", console fds) for a later `gc`; returns its pid.
  pid_t RuntimeCrashed();

  // ---- Durability and power loss ----
  // The root disk (ext4 at /) is the one persistent filesystem. Each of its
  // inodes tracks what is durable: a file's content once fsync'd (fsync or
  // syncfs; there is no separate fdatasync), a directory's entries once the
  // directory is fsync'd (so a create, unlink, rename or mkdir is durable
  // after an fsync of its parent, as POSIX promises and no more). The
  // construction, seeding and Sync() make everything durable.
  // sync(2): everything on the persistent disk is durable now.
  void Sync();
  // A power loss, then a reboot: every process dies (blocked stacks are
  // freed without unwinding, as by the destructor) and the kernel is as
  // booted (mounts, tmpfs /run and /dev/shm empty, cgroupfs with only its
  // roots, no fds, locks or pipes; the runtime process pid RuntimePid()
  // again), except the persistent disk, which holds what was durable: each
  // file its last synced content (never synced: empty), each directory
  // the entries of its last fsync (entries made since are gone, removed
  // ones are back, renames undone). Inodes no surviving entry reaches are
  // gone. Not modelled: a journal's ordering (ext4 commits a directory
  // change with the next fsync of any file of the disk, and never loses a
  // later change while keeping an earlier one): the model loses every
  // change not made durable by the call that POSIX names, independently,
  // which is the worst case a runtime must survive. Nor metadata (mode,
  // owner: kept as they are), torn writes inside a file, or the content of
  // a file renamed over another without an fsync (ext4's auto_da_alloc).
  //
  // keep_metadata: the other bound. The journal had committed every change
  // of directories (ext4 commits them with the next fsync of any file, or
  // every few seconds), so every create, unlink and rename survives, while
  // file content not fsync'd is lost as above (delayed allocation: a file
  // created and written but not synced is empty: ext4's zero-length files).
  void PowerLoss(bool keep_metadata = false);

  // ---- More actors on one kernel (two-actor sweeps) ----
  // A second process of the host, as another `mydocker` invocation would be:
  // child of init, host namespaces and root, the root cgroup of every
  // hierarchy, the console as fds 0-2. RuntimePid() stays as it is.
  pid_t StartHostProcess(const std::vector<std::string>& cmdline);
  // Makes pid the current process (every Sys call acts as it) and returns
  // the one before, to switch back to (also when that one died meanwhile).
  // Nothing happens for a pid that does not exist. FakeKernel stays
  // single-threaded: a second actor runs nested in one of the first one's
  // calls (held there), then the first goes on.
  pid_t SwitchProcess(pid_t pid);
  // A process of StartHostProcess exits with status (its fds close, its
  // locks go, children with a pdeathsig die); it is reaped at once.
  void EndHostProcess(pid_t pid, int status);
  // The live processes with an fd on an open file description that holds
  // a flock(2) on path (resolved as the current process); empty: unlocked.
  std::vector<pid_t> FlockHolders(const std::string& path);
  // A SIGKILL to a cloned child that is held in one of its calls (on the
  // stack, not the current process) ends it at once, as on Linux: its fds
  // close, it leaves its cgroups and is a zombie for its parent; its frames
  // end at its next call (that call does not happen).

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace faultline
