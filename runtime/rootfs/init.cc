#include "runtime/rootfs/init.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "runtime/sys/drop.h"
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

InitStep PathStep(InitStepKind kind, std::string name, std::string path,
                  mode_t mode = 0, dev_t dev = 0) {
  InitStep s;
  s.kind = kind;
  s.name = std::move(name);
  s.path = std::move(path);
  s.mode = mode;
  s.dev = dev;
  return s;
}

// mkdir for every component of rel (relative to base), EEXIST allowed.
void MkdirChain(std::vector<InitStep>* steps, const std::string& base,
                const std::string& rel, const std::string& name) {
  std::string cur = base;
  size_t pos = 0;
  while (pos < rel.size()) {
    size_t next = rel.find('/', pos);
    if (next == std::string::npos) next = rel.size();
    if (next > pos) {
      cur = JoinPath(cur, rel.substr(pos, next - pos));
      steps->push_back(PathStep(InitStepKind::kMkdir, name, cur, 0755));
    }
    pos = next + 1;
  }
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

std::vector<InitStep> BuildRootfsSteps(const RootfsSpec& spec) {
  std::vector<InitStep> s;
  s.push_back(MountStep("make / rprivate",
                        MountArgs{"", "/", "", MS_REC | MS_PRIVATE, ""}));
  s.push_back(MountStep("bind rootfs", MountArgs{spec.merged, spec.merged, "",
                                                 MS_BIND | MS_REC, ""}));
  for (const Volume& v : spec.volumes) {
    const std::string target = JoinPath(spec.merged, v.container);
    MkdirChain(&s, spec.merged, v.container, "volume: mkdir");
    s.push_back(MountStep("volume: bind " + v.host,
                          MountArgs{v.host, target, "", MS_BIND | MS_REC, ""}));
    if (v.read_only) {
      s.push_back(MountStep(
          "volume: remount read-only",
          MountArgs{"", target, "", MS_REMOUNT | MS_BIND | MS_RDONLY, ""}));
    }
  }
  // /dev is built before pivot_root, under the new root, so the console
  // (a host pty) can be bind-mounted onto it while the host's /dev/pts is
  // still reachable. /proc and /sys follow the pivot.
  const std::string dev = JoinPath(spec.merged, "dev");
  auto in_dev = [&](const char* name) { return JoinPath(dev, name); };
  s.push_back(PathStep(InitStepKind::kMkdir, "mkdir /dev", dev, 0755));
  s.push_back(MountStep("mount /dev", MountArgs{"tmpfs", dev, "tmpfs",
                                                MS_NOSUID | MS_STRICTATIME,
                                                "mode=755,size=65536k"}));
  for (const Device& d : kDevices) {
    const std::string path = in_dev(d.name);
    const std::string shown = std::string("/dev/") + d.name;
    s.push_back(PathStep(InitStepKind::kMknod, "mknod " + shown, path, S_IFCHR | 0666,
                         makedev(d.major, d.minor)));
    // mknod's mode is cut by the umask.
    s.push_back(PathStep(InitStepKind::kChmod, "chmod " + shown, path, 0666));
  }
  s.push_back(PathStep(InitStepKind::kMkdir, "mkdir /dev/pts", in_dev("pts"), 0755));
  s.push_back(MountStep("mount /dev/pts",
                        MountArgs{"devpts", in_dev("pts"), "devpts", MS_NOSUID | MS_NOEXEC,
                                  "newinstance,ptmxmode=0666,mode=0620"}));
  InitStep ptmx = PathStep(InitStepKind::kSymlink, "symlink /dev/ptmx", "pts/ptmx");
  ptmx.path2 = in_dev("ptmx");
  s.push_back(ptmx);
  s.push_back(PathStep(InitStepKind::kMkdir, "mkdir /dev/shm", in_dev("shm"), 01777));
  s.push_back(MountStep("mount /dev/shm",
                        MountArgs{"shm", in_dev("shm"), "tmpfs", MS_NOSUID | MS_NOEXEC | MS_NODEV,
                                  "mode=1777,size=65536k"}));
  const std::pair<const char*, const char*> links[] = {
      {"/proc/self/fd", "fd"},
      {"/proc/self/fd/0", "stdin"},
      {"/proc/self/fd/1", "stdout"},
      {"/proc/self/fd/2", "stderr"},
  };
  for (const auto& [target, link] : links) {
    InitStep l = PathStep(InitStepKind::kSymlink, std::string("symlink /dev/") + link, target);
    l.path2 = in_dev(link);
    s.push_back(l);
  }
  if (!spec.console.empty()) {
    s.push_back(PathStep(InitStepKind::kMknod, "create /dev/console", in_dev("console"),
                         S_IFREG | 0600));
    s.push_back(MountStep("bind /dev/console",
                          MountArgs{spec.console, in_dev("console"), "", MS_BIND, ""}));
  }

  s.push_back(PathStep(InitStepKind::kChdir, "chdir to new root", spec.merged));
  InitStep pivot = PathStep(InitStepKind::kPivotRoot, "pivot_root", spec.merged);
  pivot.path2 = spec.merged;  // pivot_root(".", "."): old root stacked on new
  s.push_back(pivot);
  InitStep detach = PathStep(InitStepKind::kUmount2, "detach old root", ".");
  detach.flags = MNT_DETACH;
  s.push_back(detach);
  s.push_back(PathStep(InitStepKind::kChdir, "chdir /", "/"));

  s.push_back(PathStep(InitStepKind::kMkdir, "mkdir /proc", "/proc", 0555));
  s.push_back(MountStep("mount /proc", MountArgs{"proc", "/proc", "proc",
                                                 MS_NOSUID | MS_NOEXEC | MS_NODEV, ""}));
  s.push_back(PathStep(InitStepKind::kMkdir, "mkdir /sys", "/sys", 0555));
  s.push_back(MountStep("mount /sys",
                        MountArgs{"sysfs", "/sys", "sysfs",
                                  MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RDONLY, ""}));
  InitStep host = PathStep(InitStepKind::kSethostname, "sethostname", spec.hostname);
  s.push_back(host);
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

static Status RunStep(Sys& sys, const InitStep& s) {
  switch (s.kind) {
    case InitStepKind::kMount:
      return sys.Mount(s.mount);
    case InitStepKind::kMkdir: {
      Status st = sys.Mkdir(s.path, s.mode);
      return st.err == EEXIST ? Status{} : st;
    }
    case InitStepKind::kMknod:
      return sys.Mknod(s.path, s.mode, s.dev);
    case InitStepKind::kChmod:
      return sys.Chmod(s.path, s.mode);
    case InitStepKind::kSymlink:
      return sys.Symlink(s.path, s.path2);
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

  for (size_t i = 0; i < plan.steps.size(); ++i) {
    Status st = RunStep(sys, plan.steps[i]);
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
