#include "runtime/container/runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <thread>

#include <spdlog/spdlog.h>

#include "runtime/container/console.h"
#include "runtime/container/validate.h"
#include "runtime/sys/drop.h"
#include "runtime/sys/fs_util.h"

#if defined(__x86_64__)
#define MYDOCKER_SECCOMP_ARCH "x86_64"
#elif defined(__aarch64__)
#define MYDOCKER_SECCOMP_ARCH "aarch64"
#else
#define MYDOCKER_SECCOMP_ARCH "other"
#endif

namespace mydocker {
namespace {

constexpr const char* kDefaultPath =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

bool ValidContainerPath(const std::string& p) {
  if (p.empty() || p[0] != '/' || p == "/") return false;
  size_t pos = 0;
  while (pos < p.size()) {
    size_t next = p.find('/', pos);
    if (next == std::string::npos) next = p.size();
    if (p.compare(pos, next - pos, "..") == 0 && next - pos == 2) return false;
    pos = next + 1;
  }
  return true;
}

int ExitCodeOf(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return kExitRuntimeError;
}

std::string PathOf(const std::vector<std::string>& env) {
  for (const auto& e : env) {
    if (e.rfind("PATH=", 0) == 0) return e.substr(5);
  }
  return kDefaultPath;
}

// Later entries override earlier ones with the same key.
std::vector<std::string> MergeEnv(const std::vector<std::string>& base,
                                  const std::vector<std::string>& extra) {
  std::vector<std::string> out;
  auto key = [](const std::string& kv) { return kv.substr(0, kv.find('=')); };
  for (const auto* list : {&base, &extra}) {
    for (const auto& kv : *list) {
      bool replaced = false;
      for (auto& o : out) {
        if (key(o) == key(kv)) {
          o = kv;
          replaced = true;
          break;
        }
      }
      if (!replaced) out.push_back(kv);
    }
  }
  return out;
}

// SIGKILLs every process of the container's cgroup (the member list is the
// truth: a recorded pid may have been reused) and waits up to a second for
// the cgroup to empty. A cgroup already gone or empty is success.
Outcome KillMembers(Sys& sys, Cgroup& cgroup, const std::string& id) {
  for (int round = 0; round < 200; ++round) {
    auto members = cgroup.Members();
    if (!members) return members.error();
    if (members->empty()) return Outcome::Ok();
    for (pid_t pid : *members) {
      if (Status k = sys.Kill(pid, SIGKILL); !k.ok() && k.err != ESRCH) {
        return MakeError("kill container process", std::to_string(pid), k.err,
                         "container " + id);
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return MakeError("kill container processes", id, ETIMEDOUT,
                   "the cgroup still has members after SIGKILL");
}

int64_t NowUnix() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Expected<Volume> ParseVolume(const std::string& text) {
  Volume v;
  size_t c1 = text.find(':');
  if (c1 == std::string::npos) {
    return MakeError("parse -v", text, EINVAL, "want HOST_DIR:CONTAINER_DIR[:ro]");
  }
  v.host = text.substr(0, c1);
  std::string rest = text.substr(c1 + 1);
  size_t c2 = rest.find(':');
  if (c2 != std::string::npos) {
    std::string mode = rest.substr(c2 + 1);
    rest = rest.substr(0, c2);
    if (mode == "ro") v.read_only = true;
    else if (mode != "rw")
      return MakeError("parse -v", text, EINVAL, "mode must be ro or rw, not '" + mode + "'");
  }
  v.container = rest;
  if (v.host.empty() || v.host[0] != '/') {
    return MakeError("parse -v", text, EINVAL, "the host directory must be an absolute path");
  }
  if (!ValidContainerPath(v.container)) {
    return MakeError("parse -v", text, EINVAL,
                     "the container directory must be absolute, not '/', without '..'");
  }
  return v;
}

Expected<std::string> ParseEnv(const std::string& text,
                               const std::vector<std::string>& env) {
  if (text.empty() || text[0] == '=') {
    return MakeError("parse -e", text, EINVAL, "want KEY=VALUE or KEY");
  }
  if (text.find('=') != std::string::npos) return text;
  for (const auto& e : env) {
    if (e.rfind(text + "=", 0) == 0) return e;
  }
  return text + "=";
}

Runtime::Runtime(Sys& sys, RuntimeConfig config)
    : sys_(sys),
      config_(std::move(config)),
      images_(sys, config_.root),
      states_(sys, config_.state_root.empty() ? config_.root : config_.state_root) {}

const std::string& Runtime::StateRoot() const {
  return config_.state_root.empty() ? config_.root : config_.state_root;
}

std::string Runtime::NewId() {
  if (config_.new_id) return config_.new_id();
  unsigned char bytes[6] = {};
  auto fd = sys_.Open("/dev/urandom", O_RDONLY | O_CLOEXEC, 0);
  if (fd.ok()) {
    (void)sys_.Read(fd.value, bytes, sizeof bytes);  // a short or failed read leaves zeros: the id falls back below
    CloseFd(sys_, fd.value);
  } else {
    auto t = std::chrono::steady_clock::now().time_since_epoch().count();
    for (unsigned char& b : bytes) {
      b = static_cast<unsigned char>(t);
      t >>= 8;
    }
  }
  char hex[13];
  for (int i = 0; i < 6; ++i) std::snprintf(hex + 2 * i, 3, "%02x", bytes[i]);
  return hex;
}

Expected<CgroupLayout> Runtime::Layout() {
  if (!have_layout_) {
    auto l = DetectCgroupLayout(sys_);
    if (!l) return l.error();
    layout_ = *l;
    have_layout_ = true;
  }
  return layout_;
}

Cgroup Runtime::CgroupOf(const ContainerState& s, const CgroupLayout& layout) {
  const std::string parent = s.cgroup_parent.empty() ? config_.cgroup_parent : s.cgroup_parent;
  return Cgroup::Existing(sys_, layout, parent, s.id);
}

Outcome Runtime::Cleanup(const ContainerState& s, bool keep_dir) {
  // Each step is idempotent and runs even when another failed (a busy
  // cgroup must not keep the workspace mounted); a second pass absorbs a
  // transient failure. Every failure of the last pass is reported. The
  // container's directory (its state) goes last and only when the cgroup
  // and the workspace are gone: it is what `gc` finds them by (a cgroup
  // that stays busy would otherwise be orphaned: the sweep's
  // persistent-path mode on the cgroup rmdir).
  std::vector<Error> errors;
  for (int attempt = 0; attempt < 2; ++attempt) {
    errors.clear();
    auto layout = Layout();
    if (!layout) {
      errors.push_back(layout.error());
    } else if (Outcome cg = CgroupOf(s, *layout).Destroy(); !cg) {
      errors.push_back(cg.error());
    }
    if (Outcome ws = Workspace::At(sys_, states_.DirOf(s.id)).Destroy(); !ws) {
      errors.push_back(ws.error());
    }
    if (errors.empty() && !keep_dir) {
      if (Outcome dir = RemoveTree(sys_, states_.DirOf(s.id), "container: remove directory");
          !dir) {
        errors.push_back(dir.error());
      }
    }
    if (errors.empty()) return Outcome::Ok();
  }
  Error first = errors.front();
  for (size_t i = 1; i < errors.size(); ++i) {
    first.detail += (first.detail.empty() ? "" : "; ") + std::string("also ") +
                    errors[i].Message();
  }
  return first;
}

Expected<FileLock> Runtime::LockStore() {
  const std::string path = states_.StoreLockPath();
  auto lock = FileLock::Acquire(sys_, path, FileLock::Mode::kExclusive, true, true,
                                "container: lock store");
  if (!lock && lock.error().err == ENOENT) {
    MYDOCKER_TRY(MkdirAll(sys_, states_.ContainersDir(), 0700, "container: create state root"));
    lock = FileLock::Acquire(sys_, path, FileLock::Mode::kExclusive, true, true,
                             "container: lock store");
  }
  return lock;
}

// FNV-1a 64 of the parts, as 16 hex digits.
static std::string CacheKey(std::initializer_list<std::string_view> parts) {
  uint64_t h = 1469598103934665603ull;
  for (std::string_view p : parts) {
    for (unsigned char c : p) h = (h ^ c) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;  // part separator
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

Expected<SeccompBpf> Runtime::SeccompFor(const SecuritySpec& sec, uint64_t caps) {
  std::string text, where = "default profile";
  if (sec.seccomp == SeccompMode::kFile) {
    auto file = ReadFile(sys_, sec.seccomp_file, "seccomp profile: read");
    if (!file) return file.error();
    text = std::move(*file);
    where = sec.seccomp_file;
  }
  const std::string& json = sec.seccomp == SeccompMode::kFile ? text : DefaultSeccompProfile();
  if (kernel_release_.empty()) {
    if (auto r = ReadFile(sys_, "/proc/sys/kernel/osrelease", "read kernel release")) {
      kernel_release_ = *r;
    }
  }
  // libseccomp takes milliseconds for docker's profile: the program is kept
  // in <root>/images/.seccomp/ (beside the images it serves; not an image
  // name), keyed by everything it depends on (the profile's
  // text, the capability set, the kernel release, the build's arch).
  const std::string dir = JoinPath(config_.root, "images/.seccomp");
  const std::string cache = JoinPath(
      dir, CacheKey({json, std::to_string(caps), kernel_release_, MYDOCKER_SECCOMP_ARCH}) + ".bpf");
  if (auto cached = ReadFile(sys_, cache, "seccomp: read cached filter");
      cached && !cached->empty() && cached->size() % 8 == 0 && cached->size() / 8 <= 0xffff) {
    SeccompBpf bpf;
    bpf.code.assign(cached->begin(), cached->end());
    return bpf;
  }
  auto rules = ParseSeccompProfile(json, where, caps, kernel_release_);
  if (!rules) return rules.error();
  auto bpf = sys_.SeccompExport(*rules);
  if (!bpf.ok()) return MakeError("seccomp: export filter (libseccomp)", where, bpf.err);
  // A cache that cannot be written only costs the next run the compile.
  Status made = sys_.Mkdir(dir, 0700);
  if (made.ok() || made.err == EEXIST) {
    Outcome w = WriteFileAtomic(
        sys_, cache, std::string(bpf.value.code.begin(), bpf.value.code.end()), 0600,
        "seccomp: cache filter");
    if (!w) spdlog::debug("{}", w.error().Message());
  }
  return std::move(bpf.value);
}

Expected<RunResult> Runtime::Run(const RunSpec& spec) {
  if (spec.argv.empty()) return MakeError("run", "", EINVAL, "no command given");
  MYDOCKER_TRY(ValidateRunSpec(spec));
  for (const Volume& v : spec.volumes) {
    auto st = sys_.Lstat(v.host);
    if (!st.ok()) return MakeError("run: volume host directory", v.host, st.err);
    if (!S_ISDIR(st.value.mode)) return MakeError("run: volume host directory", v.host, ENOTDIR);
  }

  // 0. The store lock, until the container exists with its state and its
  // own lock: the name check and the creation are one step for every other
  // run, rm, gc and image rm.
  FileLock store_lock;
  if (auto l = LockStore(); !l) return l.error();
  else store_lock = std::move(*l);
  auto image = images_.Get(spec.image);
  if (!image) return image.error();
  ContainerState s;
  s.id = NewId();
  s.name = spec.name.empty() ? s.id : spec.name;
  if (!spec.name.empty()) {
    auto all = List();
    if (!all) return all.error();
    for (const auto& other : *all) {
      if (other.name == spec.name) {
        return MakeError("run: name", spec.name, EEXIST,
                         "a container with this name exists (" + other.id + ")");
      }
    }
  }
  s.image = spec.image;
  s.command = spec.argv;
  s.status = "creating";
  s.runtime_pid = SelfPid(sys_);
  s.runtime_start = ProcessStartTime(sys_, s.runtime_pid);
  s.cgroup_parent = config_.cgroup_parent;
  s.hostname = spec.hostname.empty() ? s.id : spec.hostname;
  s.volumes = spec.volumes;
  s.created_unix = NowUnix();
  const std::string dir = states_.DirOf(s.id);

  // 1. The directory and the state that lets gc undo everything below.
  // The containers directory exists after the first run: try the container's
  // own directory first and walk the path only when its parent is missing.
  Status made = sys_.Mkdir(dir, 0700);
  if (!made.ok() && made.err == ENOENT) {
    MYDOCKER_TRY(MkdirAll(sys_, states_.ContainersDir(), 0700, "container: create state root"));
    made = sys_.Mkdir(dir, 0700);
  }
  if (!made.ok()) return MakeError("container: create directory", dir, made.err);
  // The container's own lock, held until Run returns: gc and rm never take
  // a container whose run is alive for a leftover.
  auto own_lock = FileLock::Acquire(sys_, states_.LockOf(s.id), FileLock::Mode::kExclusive,
                                    false, true, "container: lock");
  if (!own_lock) {
    Error e = own_lock.error();
    if (Outcome rm = RemoveTree(sys_, dir, "container: remove directory"); !rm) {
      e.detail += (e.detail.empty() ? "" : "; ") + std::string("cleanup failed: ") +
                  rm.error().Message();
    }
    return e;
  }
  FileLock container_lock = std::move(*own_lock);
  pid_t child = 0;
  std::vector<int> open_fds;
  std::optional<Pty> pty;  // -t
  auto fail = [&](Error e) -> Expected<RunResult> {
    for (int fd : open_fds) CloseFd(sys_, fd);
    if (child > 0) {
      (void)sys_.Kill(child, SIGKILL);  // best effort: the child may be gone already
      (void)sys_.Waitpid(child, 0);  // reaps the child killed above; ECHILD means it is reaped
    }
    if (Outcome c = Cleanup(s); !c) {
      spdlog::error("cleanup after failure left {}: {}; run `mydocker gc`",
                    s.id, c.error().Message());
      // The caller must learn what is left and how to remove it.
      e.detail += (e.detail.empty() ? "" : "; ") + std::string("cleanup failed: ") +
                  c.error().Message() + "; run `mydocker gc` to remove what is left";
    }
    return e;
  };
  if (Outcome o = states_.Write(s); !o) return fail(o.error());
  store_lock.Release();

  // 2. Workspace.
  WorkspaceSpec ws;
  ws.dir = dir;
  ws.layers = {image->rootfs};
  ws.hostname = s.hostname;
  if (auto resolv = ReadFile(sys_, "/etc/resolv.conf", "read resolv.conf")) {
    ws.resolv_conf = *resolv;
  }
  ws.api = spec.mount_api;
  auto workspace = Workspace::Create(sys_, ws);
  if (!workspace) return fail(workspace.error());

  // 3. Cgroup.
  auto layout = Layout();
  if (!layout) return fail(layout.error());
  auto cgroup = Cgroup::Create(sys_, *layout, s.cgroup_parent, s.id, spec.limits);
  if (!cgroup) return fail(cgroup.error());

  // 4. Pipes and the child.
  auto cmd_pipe = sys_.Pipe(O_CLOEXEC);
  if (!cmd_pipe.ok()) return fail(MakeError("container: pipe", "command", cmd_pipe.err));
  open_fds = {cmd_pipe.value.read_fd, cmd_pipe.value.write_fd};
  auto report_pipe = sys_.Pipe(O_CLOEXEC);
  if (!report_pipe.ok()) return fail(MakeError("container: pipe", "report", report_pipe.err));
  open_fds.push_back(report_pipe.value.read_fd);
  open_fds.push_back(report_pipe.value.write_fd);
  int size_from = -1;  // the caller's terminal the console's size follows
  if (spec.tty) {
    size_from = WindowSizeSource(sys_, {0, 1});
    auto p = OpenPty(sys_, size_from);
    if (!p) return fail(p.error());
    pty = *p;
    open_fds.push_back(pty->master);
    open_fds.push_back(pty->slave);
  }
  int stdin_fd = -1;
  if (!spec.interactive && !spec.tty) {
    auto null_fd = sys_.Open("/dev/null", O_RDONLY | O_CLOEXEC, 0);
    if (!null_fd.ok()) return fail(MakeError("container: open stdin", "/dev/null", null_fd.err));
    stdin_fd = null_fd.value;
    open_fds.push_back(stdin_fd);
  }

  InitPlan plan;
  auto steps = BuildRootfsSteps(RootfsSpec{workspace->paths().merged, s.hostname, spec.volumes,
                                           pty ? pty->slave_path : ""});
  if (!steps) return fail(steps.error());
  plan.steps = std::move(*steps);
  auto caps = ResolveCaps(spec.security.cap_add, spec.security.cap_drop);
  if (!caps) return fail(caps.error());
  plan.caps = *caps;
  plan.no_new_privs = spec.security.no_new_privs;
  if (spec.security.seccomp != SeccompMode::kUnconfined) {
    auto bpf = SeccompFor(spec.security, plan.caps);
    if (!bpf) return fail(bpf.error());
    plan.seccomp = std::move(*bpf);
  }
  plan.env = MergeEnv(config_.inherited_env, spec.env);
  plan.path_dirs = PathOf(plan.env);
  plan.command_fd = cmd_pipe.value.read_fd;
  plan.report_fd = report_pipe.value.write_fd;
  plan.stdin_fd = stdin_fd;
  plan.close_fds = {cmd_pipe.value.write_fd, report_pipe.value.read_fd};
  if (pty) {
    plan.console_fd = pty->slave;
    plan.close_fds.push_back(pty->master);
  }
  const std::string command = EncodeCommand(spec.argv);
  PrepareInitPlan(&plan, command.size());

  auto cloned = sys_.Clone([&] { return RunInit(sys_, plan); }, kContainerCloneFlags);
  if (!cloned.ok()) return fail(MakeError("container: clone", dir, cloned.err));
  child = cloned.value;
  // The parent keeps the command pipe's write end and the report's read end.
  CloseFd(sys_, cmd_pipe.value.read_fd);
  CloseFd(sys_, report_pipe.value.write_fd);
  if (stdin_fd >= 0) CloseFd(sys_, stdin_fd);
  open_fds = {cmd_pipe.value.write_fd, report_pipe.value.read_fd};
  if (pty) {
    // Only the container holds the slave now: its exit ends the relay.
    CloseFd(sys_, pty->slave);
    open_fds.push_back(pty->master);
  }

  // 5. Attach, record, go.
  if (Outcome o = cgroup->Attach(child); !o) return fail(o.error());
  s.status = "running";
  s.pid = child;
  s.pid_start = ProcessStartTime(sys_, child);
  if (Outcome o = states_.Write(s); !o) return fail(o.error());
  // An init that failed before reading its command (prctl, a read error) has
  // exited: writing to the pipe then raises SIGPIPE, which would kill the
  // whole runtime. Ignore it for the write and take EPIPE as "the init is
  // gone": its report (step 6) says why.
  SetSignal(sys_, SIGPIPE, SignalDisposition::kIgnore);
  bool init_gone = false;
  size_t off = 0;
  while (off < command.size()) {
    auto w = sys_.Write(cmd_pipe.value.write_fd, command.data() + off, command.size() - off);
    if (!w.ok()) {
      if (w.err == EINTR) continue;
      if (w.err == EPIPE) {
        init_gone = true;
        break;
      }
      SetSignal(sys_, SIGPIPE, SignalDisposition::kDefault);
      return fail(MakeError("container: send command", "command pipe", w.err));
    }
    off += w.value;
  }
  SetSignal(sys_, SIGPIPE, SignalDisposition::kDefault);
  CloseFd(sys_, cmd_pipe.value.write_fd);
  open_fds = {report_pipe.value.read_fd};
  if (pty) open_fds.push_back(pty->master);

  // 6. Did init reach exec?
  InitReport report{};
  size_t got = 0;
  while (got < sizeof report) {
    auto r = sys_.Read(report_pipe.value.read_fd, reinterpret_cast<char*>(&report) + got,
                       sizeof report - got);
    if (!r.ok()) {
      if (r.err == EINTR) continue;
      return fail(MakeError("container: read init report", "report pipe", r.err));
    }
    if (r.value == 0) break;
    got += r.value;
  }
  CloseFd(sys_, report_pipe.value.read_fd);
  open_fds.clear();
  if (pty) open_fds.push_back(pty->master);

  RunResult result;
  result.id = s.id;
  std::optional<Error> init_error;
  if (got == sizeof report) {
    if (report.step == kStepExec) {
      result.exit_code = report.err == ENOENT ? kExitNotFound : kExitCannotExecute;
      result.message = MakeError("container init: exec", spec.argv[0], report.err,
                                 report.err == ENOENT ? "executable file not found in PATH"
                                                      : "cannot execute")
                           .Message();
    } else {
      std::string name = "read command", path;
      if (report.step >= 0 && static_cast<size_t>(report.step) < plan.steps.size()) {
        name = plan.steps[report.step].name;
        path = plan.steps[report.step].path;
      } else if (report.step == kStepStdio) {
        name = "stdin";
      } else if (report.step == kStepPdeathsig) {
        name = "prctl(PR_SET_PDEATHSIG)";
      } else if (report.step == kStepConsole) {
        name = "console (setsid, TIOCSCTTY, dup2)";
        path = pty ? pty->slave_path : "";
      } else if (report.step == kStepNoNewPrivs) {
        name = "prctl(PR_SET_NO_NEW_PRIVS)";
      } else if (report.step == kStepCaps) {
        name = "capabilities (PR_CAPBSET_DROP, PR_CAP_AMBIENT, capset)";
      } else if (report.step == kStepCloseFds) {
        name = "close_range(3, ~0, CLOSE_RANGE_CLOEXEC)";
      } else if (report.step == kStepSeccomp) {
        name = "seccomp(SECCOMP_SET_MODE_FILTER)";
        path = spec.security.seccomp == SeccompMode::kFile ? spec.security.seccomp_file
                                                            : "default profile";
      }
      init_error = MakeError("container init: " + name, path, report.err);
    }
  } else if (got != 0) {
    init_error = MakeError("container: read init report", "report pipe", EIO, "short report");
  } else if (init_gone) {
    init_error = MakeError("container: send command", "command pipe", EPIPE,
                           "the container's init exited before it read its command");
  } else if (config_.on_running) {
    config_.on_running(s);
  }

  // 7. The console, then wait, then tear down.
  SetSignal(sys_, SIGINT, SignalDisposition::kIgnore);
  SetSignal(sys_, SIGQUIT, SignalDisposition::kIgnore);
  if (pty) {
    if (!init_error) {
      // Raw mode only when the caller's keys go to the container; restored
      // when `raw` goes out of scope, whatever happens below.
      RawMode raw = spec.interactive ? RawMode::Enter(sys_, 0) : RawMode();
      // A caller that stops reading our output must not kill the runtime
      // (SIGPIPE) while the container runs: the relay then drops output.
      SetSignal(sys_, SIGPIPE, SignalDisposition::kIgnore);
      RelaySpec relay;
      relay.master = pty->master;
      relay.forward_input = spec.interactive;
      relay.winsize_from = size_from;
      if (Outcome o = RelayConsole(sys_, relay); !o) {
        spdlog::warn("container {}: {}; waiting for it without a console", s.id,
                     o.error().Message());
      }
      SetSignal(sys_, SIGPIPE, SignalDisposition::kDefault);
    }
    CloseFd(sys_, pty->master);
    open_fds.clear();
  }
  Result<int> status{0, EINTR};
  while (status.err == EINTR) status = sys_.Waitpid(child, 0);
  SetSignal(sys_, SIGINT, SignalDisposition::kDefault);
  SetSignal(sys_, SIGQUIT, SignalDisposition::kDefault);
  if (!status.ok()) return fail(MakeError("container: wait", std::to_string(child), status.err));
  child = 0;
  if (init_error) return fail(*init_error);
  if (result.message.empty()) result.exit_code = ExitCodeOf(status.value);
  spdlog::debug("container {} exited with {}", s.id, result.exit_code);

  if (Outcome c = Cleanup(s); !c) {
    s.status = "stopped";
    s.pid = 0;
    s.exit_code = result.exit_code;
    if (Outcome w = states_.Write(s); !w) {
      spdlog::warn("container {}: recording its end: {}", s.id, w.error().Message());
    }
    Error e = c.error();
    e.detail += (e.detail.empty() ? "" : "; ") +
                std::string("the command exited with ") + std::to_string(result.exit_code) +
                "; run `mydocker gc` to remove what is left";
    return e;
  }
  return result;
}

Expected<std::vector<ContainerState>> Runtime::List() {
  auto ids = states_.Ids();
  if (!ids) return ids.error();
  std::vector<ContainerState> out;
  for (const auto& id : *ids) {
    auto s = states_.Read(id);
    if (s) {
      out.push_back(*s);
    } else {
      ContainerState partial;
      partial.id = id;
      partial.name = id;
      partial.status = "unknown";
      out.push_back(partial);
    }
  }
  return out;
}

Outcome Runtime::Remove(const std::string& name_or_id, bool force) {
  FileLock store_lock;
  if (auto l = LockStore(); !l) return l.error();
  else store_lock = std::move(*l);
  auto all = List();
  if (!all) return all.error();
  for (const auto& s : *all) {
    if (s.id != name_or_id && s.name != name_or_id) continue;
    auto layout = Layout();
    if (!layout) return layout.error();
    Cgroup cgroup = CgroupOf(s, *layout);
    FileLock held;
    auto lock = FileLock::Acquire(sys_, states_.LockOf(s.id), FileLock::Mode::kExclusive,
                                  false, false, "rm: lock container");
    const bool run_holds_it = !lock && lock.error().err == EWOULDBLOCK;
    if (!lock && !run_holds_it && lock.error().err != ENOENT) return lock.error();
    if (lock) held = std::move(*lock);
    auto members = cgroup.Members();
    if (!members) return members.error();
    if ((run_holds_it || !members->empty()) && !force) {
      return MakeError("rm", name_or_id, EBUSY, "the container is running; use rm -f");
    }
    MYDOCKER_TRY(KillMembers(sys_, cgroup, s.id));
    if (run_holds_it) {
      // Its run sees the container end and tears it down itself; wait for
      // it to let go (up to 10 s, killing what it may still start).
      for (int i = 0; i < 2000; ++i) {
        lock = FileLock::Acquire(sys_, states_.LockOf(s.id), FileLock::Mode::kExclusive, false,
                                 false, "rm: lock container");
        if (lock) held = std::move(*lock);
        if (lock || lock.error().err != EWOULDBLOCK) break;
        MYDOCKER_TRY(KillMembers(sys_, cgroup, s.id));
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      if (!lock && lock.error().err == EWOULDBLOCK) return lock.error();
      if (!lock && lock.error().err != ENOENT) return lock.error();
      if (!lock) return Outcome::Ok();  // its run removed everything
    }
    return Cleanup(s);
  }
  return MakeError("rm", name_or_id, ENOENT, "no such container");
}

Expected<GcReport> Runtime::Gc() {
  GcReport report;
  FileLock store_lock;
  if (auto l = LockStore(); !l) return l.error();
  else store_lock = std::move(*l);
  auto all = List();
  if (!all) return all.error();
  auto layout = Layout();
  for (const auto& s : *all) {
    // A run alive holds its container's lock; without the lock file the
    // run died before it made it (we hold the store lock: none is making
    // one now).
    FileLock held;
    auto lock = FileLock::Acquire(sys_, states_.LockOf(s.id), FileLock::Mode::kExclusive,
                                  false, false, "gc: lock container");
    if (lock) held = std::move(*lock);
    if (!lock) {
      if (lock.error().err == EWOULDBLOCK) {
        report.skipped.push_back(s.id);
        continue;
      }
      if (lock.error().err != ENOENT) {
        report.errors.push_back(lock.error());
        continue;
      }
    }
    if (layout) {
      // Its run is gone: nothing will wait for what is left in its cgroup.
      Cgroup cgroup = CgroupOf(s, *layout);
      if (Outcome k = KillMembers(sys_, cgroup, s.id); !k) {
        report.errors.push_back(k.error());
        continue;
      }
    }
    if (Outcome c = Cleanup(s); !c) {
      report.errors.push_back(c.error());
    } else {
      report.removed.push_back(s.id);
    }
  }
  return report;
}

Outcome Runtime::RemoveImage(const std::string& name) {
  FileLock store_lock;
  if (auto l = LockStore(); !l) return l.error();
  else store_lock = std::move(*l);
  auto all = List();
  if (!all) return all.error();
  for (const auto& s : *all) {
    if (s.image == name) {
      return MakeError("image remove", name, EBUSY,
                       "used by container " + s.id + " (" + s.name + ", " + s.status +
                           "); remove it first");
    }
  }
  return images_.Remove(name);
}

}  // namespace mydocker
