#include "runtime/rootfs/init.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <linux/close_range.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "runtime/sys/drop.h"
#include "runtime/rootfs/hardening.h"
#include "runtime/sys/fs_util.h"

namespace mydocker {
namespace {

InitStep MountStep(std::string name, MountArgs m) {
  InitStep s;
  s.kind = InitStepKind::kMount;
  s.name = std::move(name);
  s.path = m.target;
  s.mount = std::move(m);
  return s;
}

InitStep Step(InitStepKind kind, std::string name, std::string path) {
  InitStep s;
  s.kind = kind;
  s.name = std::move(name);
  s.path = std::move(path);
  return s;
}

InitStep InRoot(InitStepKind kind, std::string name, ConfinedPath target, int8_t out,
                int open_flags = O_DIRECTORY) {
  InitStep s = Step(kind, std::move(name), target.shown);
  s.target = std::move(target);
  s.out = out;
  s.open_flags = open_flags;
  return s;
}

InitStep At(InitStepKind kind, std::string name, std::string shown, int8_t in,
            std::string rel) {
  InitStep s = Step(kind, std::move(name), std::move(shown));
  s.in = in;
  s.path2 = std::move(rel);  // kOpenAt & co. act on path2 below fds[in]
  return s;
}

InitStep Close(int8_t slot) {
  InitStep s = Step(InitStepKind::kClose, "close", "");
  s.in = slot;
  return s;
}

InitStep MoveMount(std::string name, std::string shown, int8_t from, int8_t to) {
  InitStep s = Step(InitStepKind::kMoveMount, std::move(name), std::move(shown));
  s.in = from;
  s.out = to;
  return s;
}

// fsopen(fstype) with key=value options ("" value: a flag), fsmount(attr).
InitStep NewMount(std::string name, std::string shown, const char* fstype,
                  std::initializer_list<std::pair<const char*, const char*>> options,
                  unsigned int attr, int8_t out) {
  InitStep s = Step(InitStepKind::kNewMount, std::move(name), std::move(shown));
  s.fstype = fstype;
  for (const auto& [k, v] : options) {
    s.config.push_back(FsconfigArgs{-1, *v ? FSCONFIG_SET_STRING : FSCONFIG_SET_FLAG, k, v, 0});
  }
  s.config.push_back(FsconfigArgs{-1, FSCONFIG_CMD_CREATE, "", "", 0});
  s.attr = attr;
  s.out = out;
  return s;
}

ConfinedPath Confined(const std::string& p) {
  auto c = MakeConfinedPath(p);
  return c ? *c : ConfinedPath{p, ".", {}, {}};  // only for the fixed paths
}

// A filesystem of fstype mounted at the container path where (made when
// missing), through the resolved fd.
void MountInRoot(std::vector<InitStep>* s, const std::string& where, mode_t mkdir_mode,
                 const char* fstype,
                 std::initializer_list<std::pair<const char*, const char*>> options,
                 unsigned int attr, int8_t keep_slot = kSlotSource) {
  InitStep mk = InRoot(InitStepKind::kMkdirInRoot, "mkdir " + where, Confined(where), kSlotTarget);
  mk.mode = mkdir_mode;
  s->push_back(std::move(mk));
  s->push_back(NewMount("mount " + where, where, fstype, options, attr, keep_slot));
  s->push_back(MoveMount("mount " + where, where, keep_slot, kSlotTarget));
  s->push_back(Close(kSlotTarget));
  if (keep_slot == kSlotSource) s->push_back(Close(kSlotSource));
}

struct Device {
  const char* name;
  unsigned major, minor;
};
constexpr Device kDevices[] = {
    {"null", 1, 3},    {"zero", 1, 5},     {"full", 1, 7},
    {"random", 1, 8},  {"urandom", 1, 9},  {"tty", 5, 0},
};

void Report(Sys& sys, int fd, int32_t step, int err) {
  InitReport r{step, err};
  (void)sys.Write(fd, &r, sizeof r);  // the parent sees a short report as a failed init (EPIPE: the parent is gone)
}

// Appends src to dst at *len without allocating; false when it does not fit.
bool Append(std::vector<char>& dst, size_t* len, const char* src, size_t n) {
  if (*len + n + 1 > dst.size()) return false;
  memcpy(dst.data() + *len, src, n);
  *len += n;
  dst[*len] = '\0';
  return true;
}

}  // namespace

Expected<std::vector<InitStep>> BuildRootfsSteps(const RootfsSpec& spec) {
  std::vector<InitStep> s;
  s.push_back(MountStep("make / rprivate",
                        MountArgs{"", "/", "", MS_REC | MS_PRIVATE, ""}));
  s.push_back(MountStep("bind rootfs", MountArgs{spec.merged, spec.merged, "",
                                                 MS_BIND | MS_REC, ""}));
  // The container root: every container path below resolves inside it.
  InitStep root = Step(InitStepKind::kOpenRoot, "open rootfs", spec.merged);
  root.out = kSlotRoot;
  s.push_back(root);

  for (const Volume& v : spec.volumes) {
    auto target = MakeConfinedPath(v.container);
    if (!target) return target.error();
    InitStep mk = InRoot(InitStepKind::kMkdirInRoot, "volume: mkdir", *target, kSlotTarget);
    mk.mode = 0755;
    s.push_back(std::move(mk));
    InitStep tree = Step(InitStepKind::kOpenTree, "volume: open " + v.host, v.host);
    tree.path2 = v.host;
    tree.tree_flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE;
    tree.out = kSlotSource;
    s.push_back(std::move(tree));
    if (v.read_only) {
      InitStep ro = Step(InitStepKind::kSetattr, "volume: read-only", v.host);
      ro.in = kSlotSource;
      ro.tree_flags = AT_RECURSIVE;
      ro.setattr.attr_set = MOUNT_ATTR_RDONLY;
      s.push_back(std::move(ro));
    }
    s.push_back(MoveMount("volume: bind " + v.host, target->shown, kSlotSource, kSlotTarget));
    s.push_back(Close(kSlotSource));
    s.push_back(Close(kSlotTarget));
  }

  // /dev: a fresh tmpfs, populated through its own fd (kSlotDev), so no
  // name in it was planted by the image. Built before pivot_root so the
  // console (a host pty) can be bound onto it.
  MountInRoot(&s, "/dev", 0755, "tmpfs", {{"mode", "755"}, {"size", "65536k"}},
              MOUNT_ATTR_NOSUID | MOUNT_ATTR_STRICTATIME, kSlotDev);
  for (const Device& d : kDevices) {
    const std::string shown = std::string("/dev/") + d.name;
    InitStep n = At(InitStepKind::kMknodAt, "mknod " + shown, shown, kSlotDev, d.name);
    n.mode = S_IFCHR | 0666;
    n.dev = makedev(d.major, d.minor);
    s.push_back(std::move(n));
    // mknod's mode is cut by the umask.
    InitStep c = At(InitStepKind::kFchmodAt, "chmod " + shown, shown, kSlotDev, d.name);
    c.mode = 0666;
    s.push_back(std::move(c));
  }
  auto dev_mount = [&](const char* name, mode_t mode, const char* fstype,
                       std::initializer_list<std::pair<const char*, const char*>> options,
                       unsigned int attr) {
    const std::string shown = std::string("/dev/") + name;
    InitStep mk = At(InitStepKind::kMkdirAt, "mkdir " + shown, shown, kSlotDev, name);
    mk.mode = mode;
    s.push_back(std::move(mk));
    InitStep open = At(InitStepKind::kOpenAt, "mount " + shown, shown, kSlotDev, name);
    open.open_flags = O_DIRECTORY;
    open.out = kSlotTarget;
    s.push_back(std::move(open));
    s.push_back(NewMount("mount " + shown, shown, fstype, options, attr, kSlotSource));
    s.push_back(MoveMount("mount " + shown, shown, kSlotSource, kSlotTarget));
    s.push_back(Close(kSlotSource));
    s.push_back(Close(kSlotTarget));
  };
  dev_mount("pts", 0755, "devpts", {{"ptmxmode", "0666"}, {"mode", "0620"}},
            MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC);
  InitStep ptmx = At(InitStepKind::kSymlinkAt, "symlink /dev/ptmx", "/dev/ptmx", kSlotDev, "ptmx");
  ptmx.path = "pts/ptmx";  // the link's target
  s.push_back(std::move(ptmx));
  dev_mount("shm", 01777, "tmpfs", {{"mode", "1777"}, {"size", "65536k"}},
            MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC | MOUNT_ATTR_NODEV);
  const std::pair<const char*, const char*> links[] = {
      {"/proc/self/fd", "fd"},
      {"/proc/self/fd/0", "stdin"},
      {"/proc/self/fd/1", "stdout"},
      {"/proc/self/fd/2", "stderr"},
  };
  for (const auto& [target, link] : links) {
    InitStep l = At(InitStepKind::kSymlinkAt, std::string("symlink /dev/") + link,
                    std::string("/dev/") + link, kSlotDev, link);
    l.path = target;
    s.push_back(std::move(l));
  }
  if (!spec.console.empty()) {
    InitStep n = At(InitStepKind::kMknodAt, "create /dev/console", "/dev/console", kSlotDev,
                    "console");
    n.mode = S_IFREG | 0600;
    s.push_back(std::move(n));
    InitStep open = At(InitStepKind::kOpenAt, "bind /dev/console", "/dev/console", kSlotDev,
                       "console");
    open.out = kSlotTarget;
    s.push_back(std::move(open));
    InitStep tree = Step(InitStepKind::kOpenTree, "bind /dev/console", spec.console);
    tree.path2 = spec.console;
    tree.tree_flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC;
    tree.out = kSlotSource;
    s.push_back(std::move(tree));
    s.push_back(MoveMount("bind /dev/console", "/dev/console", kSlotSource, kSlotTarget));
    s.push_back(Close(kSlotSource));
    s.push_back(Close(kSlotTarget));
  }

  // /proc and /sys, in the container's pid and net namespaces (the child is
  // in them already), before pivot_root, onto their resolved fds.
  MountInRoot(&s, "/proc", 0555, "proc", {},
              MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC | MOUNT_ATTR_NODEV);
  MountInRoot(&s, "/sys", 0555, "sysfs", {},
              MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC | MOUNT_ATTR_NODEV);

  // docker's masked paths: a read-only empty tmpfs on a directory, the
  // container's /dev/null on a file. Missing ones are skipped.
  for (const char* path : MaskedPaths()) {
    InitStep open = InRoot(InitStepKind::kOpenInRoot, std::string("mask ") + path,
                           Confined(path), kSlotTarget, 0);
    open.optional = true;
    s.push_back(std::move(open));
    InitStep mask = NewMount(std::string("mask ") + path, path, "tmpfs", {},
                             MOUNT_ATTR_RDONLY, kSlotSource);
    mask.kind = InitStepKind::kMask;
    mask.in = kSlotTarget;
    mask.path2 = "null";  // below /dev (kSlotDev), for a masked file
    s.push_back(std::move(mask));
    s.push_back(Close(kSlotTarget));
  }
  // docker's read-only paths: each bound onto itself read-only.
  for (const char* path : ReadonlyPaths()) {
    const std::string name = std::string("read-only ") + path;
    InitStep open = InRoot(InitStepKind::kOpenInRoot, name, Confined(path), kSlotTarget, 0);
    open.optional = true;
    s.push_back(std::move(open));
    InitStep tree = Step(InitStepKind::kOpenTree, name, path);
    tree.in = kSlotTarget;
    tree.tree_flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | AT_EMPTY_PATH;
    tree.out = kSlotSource;
    s.push_back(std::move(tree));
    InitStep ro = Step(InitStepKind::kSetattr, name, path);
    ro.in = kSlotSource;
    ro.tree_flags = AT_RECURSIVE;
    ro.setattr.attr_set = MOUNT_ATTR_RDONLY;
    s.push_back(std::move(ro));
    s.push_back(MoveMount(name, path, kSlotSource, kSlotTarget));
    s.push_back(Close(kSlotSource));
    s.push_back(Close(kSlotTarget));
  }

  s.push_back(Close(kSlotDev));
  InitStep cd = Step(InitStepKind::kFchdir, "chdir to new root", spec.merged);
  cd.in = kSlotRoot;
  s.push_back(std::move(cd));
  s.push_back(Close(kSlotRoot));
  InitStep pivot = Step(InitStepKind::kPivotRoot, "pivot_root", spec.merged);
  pivot.path2 = spec.merged;  // pivot_root(".", "."): old root stacked on new
  s.push_back(pivot);
  InitStep detach = Step(InitStepKind::kUmount2, "detach old root", ".");
  detach.flags = MNT_DETACH;
  s.push_back(detach);
  s.push_back(Step(InitStepKind::kChdir, "chdir /", "/"));
  s.push_back(Step(InitStepKind::kSethostname, "sethostname", spec.hostname));
  return s;
}

std::string EncodeCommand(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    out += a;
    out.push_back('\0');
  }
  return out;
}

void PrepareInitPlan(InitPlan* plan, size_t command_bytes) {
  // One byte more than the command, so a longer one is caught (E2BIG).
  plan->command_buf.assign(command_bytes + 2, '\0');
  // At most one argument per byte (an empty argument is its NUL alone).
  plan->argv.assign(command_bytes + 2, nullptr);
  plan->envp.clear();
  for (auto& e : plan->env) plan->envp.push_back(e.data());
  plan->envp.push_back(nullptr);
  plan->exec_path.assign(4096 + command_bytes, '\0');
}

namespace {

// fsopen, fsconfig (the step's prepared arguments, fd set here), fsmount.
Result<int> NewFs(Sys& sys, InitStep& s) {
  auto fs = sys.Fsopen(s.fstype, FSOPEN_CLOEXEC);
  if (!fs.ok()) return fs;
  for (FsconfigArgs& c : s.config) {
    c.fd = fs.value;
    if (Status st = sys.Fsconfig(c); !st.ok()) {
      CloseFd(sys, fs.value);
      return {-1, st.err};
    }
  }
  auto mnt = sys.Fsmount(fs.value, FSMOUNT_CLOEXEC, s.attr);
  CloseFd(sys, fs.value);
  return mnt;
}

Status Move(Sys& sys, int from, int to) {
  MoveMountArgs m;
  m.from_dirfd = from;
  m.to_dirfd = to;
  m.flags = MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH;
  return sys.MoveMount(m);
}

Status Set(int* slot, Result<int> r) {
  if (!r.ok()) return Status{r.err};
  *slot = r.value;
  return Status{};
}

Status RunStep(Sys& sys, InitPlan& plan, InitStep& s) {
  int* fds = plan.fds;
  const int in = s.in >= 0 ? fds[s.in] : AT_FDCWD;
  int* out = s.out >= 0 ? &fds[s.out] : nullptr;
  switch (s.kind) {
    case InitStepKind::kMount:
      return sys.Mount(s.mount);
    case InitStepKind::kOpenRoot:
      return Set(out, sys.Open(s.path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0));
    case InitStepKind::kMkdirInRoot:
      return Set(out, MkdirAllInRoot(sys, fds[kSlotRoot], s.target, s.mode));
    case InitStepKind::kOpenInRoot: {
      auto r = OpenInRoot(sys, fds[kSlotRoot], s.target, s.open_flags);
      if (s.optional && r.err == ENOENT) {
        *out = -1;
        return Status{};
      }
      return Set(out, r);
    }
    case InitStepKind::kOpenAt:
      return Set(out, sys.Openat(in, s.path2, O_PATH | O_CLOEXEC | O_NOFOLLOW | s.open_flags, 0));
    case InitStepKind::kOpenTree:
      return Set(out, sys.OpenTree(in, s.path2, s.tree_flags));
    case InitStepKind::kNewMount:
      return Set(out, NewFs(sys, s));
    case InitStepKind::kSetattr:
      return sys.MountSetattr(in, s.path2, AT_EMPTY_PATH | s.tree_flags, s.setattr);
    case InitStepKind::kMoveMount:
      return Move(sys, in, *out);
    case InitStepKind::kMask: {
      auto st = sys.Fstatat(in, std::string(), AT_EMPTY_PATH);
      if (!st.ok()) return Status{st.err};
      int src = -1;
      if (S_ISDIR(st.value.mode)) {
        auto m = NewFs(sys, s);
        if (!m.ok()) return Status{m.err};
        src = m.value;
      } else {
        auto t = sys.OpenTree(fds[kSlotDev], s.path2, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
        if (!t.ok()) return Status{t.err};
        src = t.value;
      }
      Status moved = Move(sys, src, in);
      CloseFd(sys, src);
      return moved;
    }
    case InitStepKind::kMkdirAt: {
      Status st = sys.Mkdirat(in, s.path2, s.mode);
      return st.err == EEXIST ? Status{} : st;
    }
    case InitStepKind::kMknodAt:
      return sys.Mknodat(in, s.path2, s.mode, s.dev);
    case InitStepKind::kFchmodAt:
      return sys.Fchmodat(in, s.path2, s.mode);
    case InitStepKind::kSymlinkAt:
      return sys.Symlinkat(s.path, in, s.path2);
    case InitStepKind::kClose: {
      Status st = sys.Close(in);
      fds[s.in] = -1;
      return st;
    }
    case InitStepKind::kFchdir:
      return sys.Fchdir(in);
    case InitStepKind::kChdir:
      return sys.Chdir(s.path);
    case InitStepKind::kPivotRoot:
      return sys.PivotRoot(".", ".");
    case InitStepKind::kUmount2:
      return sys.Umount2(s.path, s.flags);
    case InitStepKind::kSethostname:
      return sys.Sethostname(s.path);
  }
  return Status{EINVAL};
}

// Drops every capability outside plan.caps from the bounding set, clears
// the ambient set, then sets effective = permitted = plan.caps and an
// empty inheritable set.
Status DropCaps(Sys& sys, const InitPlan& plan) {
  for (int cap = 0; cap < 64; ++cap) {
    if ((plan.caps >> cap) & 1) continue;
    Status st = sys.Prctl(PR_CAPBSET_DROP, static_cast<unsigned long>(cap));
    if (st.err == EINVAL) break;  // past the kernel's last capability
    if (!st.ok()) return st;
  }
  if (Status st = sys.Prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL); !st.ok() && st.err != EINVAL)
    return st;
  return sys.Capset(CapSets{plan.caps, plan.caps, 0});
}

Status LoadSeccomp(Sys& sys, const InitPlan& plan) {
  SeccompProgram prog{plan.seccomp.code.data(), plan.seccomp.instructions()};
  return sys.SeccompFilter(prog, 0);
}

}  // namespace

int RunInit(Sys& sys, InitPlan& plan) {
  if (Status st = sys.Prctl(PR_SET_PDEATHSIG, SIGKILL); !st.ok()) {
    Report(sys, plan.report_fd, kStepPdeathsig, st.err);
    return 125;
  }
  for (int fd : plan.close_fds) CloseFd(sys, fd);

  // The command, NUL-separated, until EOF.
  size_t len = 0;
  const size_t cap = plan.command_buf.size() - 1;
  for (;;) {
    if (len == cap) {
      Report(sys, plan.report_fd, kStepReadCommand, E2BIG);
      return 125;
    }
    auto r = sys.Read(plan.command_fd, plan.command_buf.data() + len, cap - len);
    if (!r.ok()) {
      if (r.err == EINTR) continue;
      Report(sys, plan.report_fd, kStepReadCommand, r.err);
      return 125;
    }
    if (r.value == 0) break;
    len += r.value;
  }
  CloseFd(sys, plan.command_fd);
  if (len == 0) return 125;  // the parent aborted the run
  size_t argc = 0;
  for (size_t i = 0; i < len && argc + 1 < plan.argv.size();) {
    plan.argv[argc++] = plan.command_buf.data() + i;
    i += strlen(plan.command_buf.data() + i) + 1;
  }
  plan.argv[argc] = nullptr;

  int skip_slot = -1;  // an optional path was missing: skip to its close
  for (size_t i = 0; i < plan.steps.size(); ++i) {
    InitStep& step = plan.steps[i];
    if (skip_slot >= 0) {
      if (step.kind == InitStepKind::kClose && step.in == skip_slot) skip_slot = -1;
      continue;
    }
    Status st = RunStep(sys, plan, step);
    if (st.ok() && step.kind == InitStepKind::kOpenInRoot && plan.fds[step.out] < 0) {
      skip_slot = step.out;
    }
    if (!st.ok()) {
      Report(sys, plan.report_fd, static_cast<int32_t>(i), st.err);
      return 125;
    }
  }

  if (plan.stdin_fd >= 0) {
    if (Status st = sys.Dup2(plan.stdin_fd, 0); !st.ok()) {
      Report(sys, plan.report_fd, kStepStdio, st.err);
      return 125;
    }
    CloseFd(sys, plan.stdin_fd);
  }
  // The log files of a detached run, an exec's chosen fds: close-on-exec
  // themselves, their copies on 1 and 2 are not.
  if (plan.stdout_fd >= 0) {
    if (Status st = sys.Dup2(plan.stdout_fd, 1); !st.ok()) {
      Report(sys, plan.report_fd, kStepStdio, st.err);
      return 125;
    }
  }
  if (plan.stderr_fd >= 0) {
    if (Status st = sys.Dup2(plan.stderr_fd, 2); !st.ok()) {
      Report(sys, plan.report_fd, kStepStdio, st.err);
      return 125;
    }
  }
  if (plan.console_fd >= 0) {
    // A new session whose controlling terminal is the pty: the command gets
    // job control, ^C from the terminal, SIGWINCH, and `tty` names it.
    if (auto sid = sys.Setsid(); !sid.ok()) {
      Report(sys, plan.report_fd, kStepConsole, sid.err);
      return 125;
    }
    if (auto ctty = sys.Ioctl(plan.console_fd, TIOCSCTTY, nullptr); !ctty.ok()) {
      Report(sys, plan.report_fd, kStepConsole, ctty.err);
      return 125;
    }
    for (int fd = 0; fd <= 2; ++fd) {
      if (Status st = sys.Dup2(plan.console_fd, fd); !st.ok()) {
        Report(sys, plan.report_fd, kStepConsole, st.err);
        return 125;
      }
    }
    if (plan.console_fd > 2) CloseFd(sys, plan.console_fd);
  }
  SetSignal(sys, SIGINT, SignalDisposition::kDefault);
  SetSignal(sys, SIGQUIT, SignalDisposition::kDefault);

  // Hardening. Without no_new_privs, loading a filter needs CAP_SYS_ADMIN:
  // load it before capset drops that.
  const bool filter = !plan.seccomp.code.empty();
  if (filter && !plan.no_new_privs) {
    if (Status st = LoadSeccomp(sys, plan); !st.ok()) {
      Report(sys, plan.report_fd, kStepSeccomp, st.err);
      return 125;
    }
  }
  if (plan.no_new_privs) {
    if (Status st = sys.Prctl(PR_SET_NO_NEW_PRIVS, 1); !st.ok()) {
      Report(sys, plan.report_fd, kStepNoNewPrivs, st.err);
      return 125;
    }
  }
  if (plan.drop_caps) {
    if (Status st = DropCaps(sys, plan); !st.ok()) {
      Report(sys, plan.report_fd, kStepCaps, st.err);
      return 125;
    }
  }
  // Nothing of the runtime's reaches the command: every fd from 3 up is
  // closed at exec (the report pipe too, whose EOF says the exec worked).
  if (Status st = sys.CloseRange(3, ~0U, CLOSE_RANGE_CLOEXEC); !st.ok()) {
    Report(sys, plan.report_fd, kStepCloseFds, st.err);
    return 125;
  }
  if (filter && plan.no_new_privs) {
    if (Status st = LoadSeccomp(sys, plan); !st.ok()) {
      Report(sys, plan.report_fd, kStepSeccomp, st.err);
      return 125;
    }
  }

  const char* cmd = plan.argv[0];
  int err = ENOENT;
  if (strchr(cmd, '/') != nullptr) {
    err = sys.Execve(cmd, plan.argv.data(), plan.envp.data()).err;
  } else {
    const char* p = plan.path_dirs.c_str();
    bool saw_eacces = false;
    while (true) {
      const char* end = strchr(p, ':');
      size_t n = end ? static_cast<size_t>(end - p) : strlen(p);
      size_t l = 0;
      plan.exec_path[0] = '\0';
      if (Append(plan.exec_path, &l, p, n) && Append(plan.exec_path, &l, "/", 1) &&
          Append(plan.exec_path, &l, cmd, strlen(cmd))) {
        int e = sys.Execve(plan.exec_path.data(), plan.argv.data(), plan.envp.data()).err;
        if (e == EACCES) saw_eacces = true;
        else if (e != ENOENT && e != ENOTDIR) {
          err = e;
          break;
        }
      }
      if (end == nullptr) {
        err = saw_eacces ? EACCES : ENOENT;
        break;
      }
      p = end + 1;
    }
  }
  Report(sys, plan.report_fd, kStepExec, err);
  return err == ENOENT ? 127 : 126;
}

}  // namespace mydocker
