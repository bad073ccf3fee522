#include "runtime/container/runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string_view>
#include <thread>
#include <unordered_map>

#include <spdlog/spdlog.h>

#include "runtime/container/console.h"
#include "runtime/container/env.h"
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

// Reads the init's {step, errno} report from fd until it is whole or the
// init closed its end (EOF: exec succeeded); how many bytes came.
Expected<size_t> ReadInitReport(Sys& sys, int fd, InitReport* report, const char* step) {
  size_t got = 0;
  while (got < sizeof *report) {
    auto r = sys.Read(fd, reinterpret_cast<char*>(report) + got, sizeof *report - got);
    if (!r.ok()) {
      if (r.err == EINTR) continue;
      return MakeError(step, "report pipe", r.err);
    }
    if (r.value == 0) break;
    got += r.value;
  }
  return got;
}

// One line of the start report a detached run's monitor sends its caller,
// fields separated by tabs (tabs and newlines in them become spaces).
std::string Field(std::string v) {
  for (char& c : v) {
    if (c == '\t' || c == '\n') c = ' ';
  }
  return v;
}

std::vector<std::string> SplitTabs(const std::string& line) {
  std::vector<std::string> out;
  size_t pos = 0;
  for (;;) {
    size_t t = line.find('\t', pos);
    out.push_back(line.substr(pos, t == std::string::npos ? std::string::npos : t - pos));
    if (t == std::string::npos) break;
    pos = t + 1;
  }
  return out;
}

// Reads fd until EOF (EINTR retried).
Expected<std::string> ReadAll(Sys& sys, int fd, const std::string& step) {
  std::string out;
  char buf[4096];
  for (;;) {
    auto r = sys.Read(fd, buf, sizeof buf);
    if (!r.ok()) {
      if (r.err == EINTR) continue;
      return MakeError(step, "pipe", r.err);
    }
    if (r.value == 0) return out;
    out.append(buf, r.value);
  }
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

Outcome Runtime::Cleanup(const ContainerState& s, CleanupHow how) {
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
    if (errors.empty() && !how.keep_dir) {
      FileLock store_lock;
      if (how.lock_store) {
        if (auto l = LockStore(); !l) {
          errors.push_back(l.error());
          continue;
        } else {
          store_lock = std::move(*l);
        }
      }
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
// How LinuxSys::SeccompExport lays the program out (a binary tree): part of
// the cache key, so a store's filters of an older layout are not reused.
constexpr std::string_view kSeccompFilterShape = "tree";

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
  const bool from_file = sec.seccomp == SeccompMode::kFile;
  if (kernel_release_.empty()) {
    if (auto r = ReadFile(sys_, "/proc/sys/kernel/osrelease", "read kernel release")) {
      kernel_release_ = *r;
    }
  }
  // libseccomp takes milliseconds for docker's profile: the program is kept
  // in <root>/images/.seccomp/ (beside the images it serves; not an image
  // name), keyed by everything it depends on (the profile's
  // text, the capability set, the kernel release, the build's arch, the
  // program's layout). The default profile is keyed by the two texts it is
  // composed of: composing parses both (about 0.3 ms), so it runs only on a
  // miss.
  const std::string dir = JoinPath(config_.root, "images/.seccomp");
  const std::string cache = JoinPath(
      dir, (from_file ? CacheKey({text, std::to_string(caps), kernel_release_,
                                  MYDOCKER_SECCOMP_ARCH, kSeccompFilterShape})
                      : CacheKey({"default", SeccompBaseProfile(), SeccompDockerOverlay(),
                                  std::to_string(caps), kernel_release_, MYDOCKER_SECCOMP_ARCH,
                                  kSeccompFilterShape})) +
               ".bpf");
  if (auto cached = ReadFile(sys_, cache, "seccomp: read cached filter");
      cached && !cached->empty() && cached->size() % 8 == 0 && cached->size() / 8 <= 0xffff) {
    SeccompBpf bpf;
    bpf.code.assign(cached->begin(), cached->end());
    return bpf;
  }
  const std::string& json = from_file ? text : DefaultSeccompProfile();
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
  if (spec.detach) return RunDetached(spec);
  return RunContainer(spec, nullptr);
}

Expected<RunResult> Runtime::RunContainer(const RunSpec& spec_in, int* started_fd) {
  const bool detached = started_fd != nullptr;
  // The command may come from the image's config (below): spec.argv is
  // final once the image is read.
  RunSpec spec = spec_in;
  MYDOCKER_TRY(ValidateRunSpec(spec));
  // Before anything is created. Only --cap-add can ask for what this process
  // cannot grant: the default path reads nothing.
  const uint64_t grantable = spec.security.cap_add.empty() ? ~uint64_t{0} : OwnCapBounding(sys_);
  auto resolved_caps = ResolveCaps(spec.security.cap_add, spec.security.cap_drop, grantable);
  if (!resolved_caps) return resolved_caps.error();
  const uint64_t caps = *resolved_caps;
  // exec compiles the container's filter again from the profile's path in
  // its state, perhaps from another directory: the state keeps it absolute.
  std::string profile = spec.security.seccomp_file;
  if (spec.security.seccomp == SeccompMode::kFile && !profile.empty() && profile[0] != '/') {
    auto cwd = sys_.Readlink("/proc/self/cwd");
    if (!cwd.ok()) {
      return MakeError("run: seccomp profile", profile, cwd.err,
                       "cannot make its path absolute (readlink /proc/self/cwd)");
    }
    profile = JoinPath(cwd.value, profile);
  }
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
  // docker's: the image's Entrypoint, then run's arguments or else its Cmd.
  {
    std::vector<std::string> argv = image->config.entrypoint;
    const auto& rest = spec_in.argv.empty() ? image->config.cmd : spec_in.argv;
    argv.insert(argv.end(), rest.begin(), rest.end());
    spec.argv = std::move(argv);
  }
  if (spec.argv.empty()) {
    return MakeError("run", spec.image, EINVAL,
                     "no command given, and the image's config has no Entrypoint or Cmd");
  }
  MYDOCKER_TRY(ValidateRunSpec(spec));
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
  s.detached = detached;
  s.no_new_privs = spec.security.no_new_privs;
  s.seccomp = spec.security.seccomp == SeccompMode::kUnconfined ? "unconfined"
              : spec.security.seccomp == SeccompMode::kFile     ? profile
                                                                : "default";
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
    if (Outcome c = Cleanup(s, {.lock_store = !store_lock.held()}); !c) {
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
  ws.layers = image->layers;
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
  int stdout_fd = -1, stderr_fd = -1;
  if (detached) {
    // The container's output, kept for `logs` until `rm`.
    for (auto [name, out] : {std::pair{"stdout.log", &stdout_fd}, {"stderr.log", &stderr_fd}}) {
      const std::string log = JoinPath(dir, name);
      auto fd = sys_.Open(log, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
      if (!fd.ok()) return fail(MakeError("container: open log", log, fd.err));
      *out = fd.value;
      open_fds.push_back(fd.value);
    }
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
  if (const std::string& wd = image->config.working_dir; !wd.empty() && wd != "/") {
    // The image's WorkingDir: made (as docker does) in the merged tree,
    // resolved inside the container's root, then the init's cwd after
    // pivot_root (where "/" is the container's root: a path cannot leave it).
    auto cp = MakeConfinedPath(wd);
    if (!cp) return fail(cp.error());
    const std::string& merged = workspace->paths().merged;
    auto root_fd = sys_.Open(merged, O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
    if (!root_fd.ok()) return fail(MakeError("run: open root for WorkingDir", merged, root_fd.err));
    auto made = MkdirAllInRoot(sys_, root_fd.value, *cp, 0755);
    CloseFd(sys_, root_fd.value);
    if (!made.ok()) return fail(MakeError("run: make WorkingDir", wd, made.err, "in " + merged));
    CloseFd(sys_, made.value);
    InitStep cd;
    cd.kind = InitStepKind::kChdir;
    cd.name = "chdir WorkingDir";
    cd.path = wd;
    plan.steps.push_back(std::move(cd));
  }
  plan.caps = caps;
  s.caps = caps;
  plan.no_new_privs = spec.security.no_new_privs;
  if (spec.security.seccomp != SeccompMode::kUnconfined) {
    auto bpf = SeccompFor(spec.security, plan.caps);
    if (!bpf) return fail(bpf.error());
    plan.seccomp = std::move(*bpf);
  }
  // The image's Env over the runtime's base, -e over both.
  plan.env = MergeEnv(MergeEnv(config_.inherited_env, image->config.env), spec.env);
  plan.path_dirs = PathOf(plan.env);
  plan.command_fd = cmd_pipe.value.read_fd;
  plan.report_fd = report_pipe.value.write_fd;
  plan.stdin_fd = stdin_fd;
  plan.stdout_fd = stdout_fd;
  plan.stderr_fd = stderr_fd;
  plan.close_fds = {cmd_pipe.value.write_fd, report_pipe.value.read_fd};
  if (detached) plan.close_fds.push_back(*started_fd);
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
  if (stdout_fd >= 0) CloseFd(sys_, stdout_fd);
  if (stderr_fd >= 0) CloseFd(sys_, stderr_fd);
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
  if (s.pid_start == 0) {
    // Without its start time the container could never be told from a
    // process that took its pid (ps, exec and stop would take it as dead).
    const std::string stat = "/proc/" + std::to_string(child) + "/stat";
    if (auto st = ReadFile(sys_, stat, "container: read the init's start time"); !st) {
      return fail(st.error());
    }
    s.pid_start = ProcessStartTime(sys_, child);
  }
  // Replaces the "creating" state (durable, with its directory): a crash
  // that loses this rename leaves "creating", which gc undoes the same way.
  if (Outcome o = states_.Write(s, StateStore::Durability::kReplace); !o) {
    return fail(o.error());
  }
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
  auto got_or =
      ReadInitReport(sys_, report_pipe.value.read_fd, &report, "container: read init report");
  if (!got_or) return fail(got_or.error());
  const size_t got = *got_or;
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
      } else if (report.step == kStepSetns) {
        name = "setns(pidfd, mnt|uts|ipc|net|pid)";
      } else if (report.step == kStepExecClone) {
        name = "clone (the exec'd process)";
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
  } else {
    if (config_.on_running) config_.on_running(s);
    if (detached) {
      // The caller returns now; the container is the monitor's.
      const std::string ok = "ok\t" + s.id + "\n";
      auto w = sys_.Write(*started_fd, ok.data(), ok.size());
      if (!w.ok()) {
        // Nobody would learn of the container: end it, report the failure.
        init_error = MakeError("run -d: report the start", "start pipe", w.err);
        (void)sys_.Kill(child, SIGKILL);  // best effort: it may have ended already
      } else {
        CloseFd(sys_, *started_fd);
        *started_fd = -1;
      }
    }
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

  if (detached && *started_fd < 0) {
    // The monitor's end: the exit is recorded first (durably), then the
    // cgroup and the workspace go; the directory (state, logs) stays for
    // `logs` and `rm`.
    s.status = "exited";
    s.pid = 0;
    s.exit_code = result.exit_code;
    if (Outcome w = states_.Write(s); !w) {
      spdlog::warn("container {}: recording its end: {}", s.id, w.error().Message());
    }
    if (Outcome c = Cleanup(s, {.keep_dir = true}); !c) {
      spdlog::error("container {}: teardown: {}; `mydocker rm {}` removes what is left", s.id,
                    c.error().Message(), s.id);
      return c.error();
    }
    return result;
  }

  if (Outcome c = Cleanup(s, {.lock_store = true}); !c) {
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
    // A detached container recorded exited whose monitor still holds the
    // lock is being torn down: rm waits for it, as for a stopped one.
    bool ending = false;
    if (run_holds_it) {
      auto now = states_.Read(s.id);
      ending = now && now->status == "exited";
    }
    if (((run_holds_it && !ending) || !members->empty()) && !force) {
      return MakeError("rm", name_or_id, EBUSY, "the container is running; use rm -f");
    }
    MYDOCKER_TRY(KillMembers(sys_, cgroup, s.id));
    if (run_holds_it) {
      // Its run sees the container end and tears it down itself; wait for
      // it to let go (config.rm_wait_ms, 10 s by default, killing what it
      // may still start), without the store lock: the run removes its
      // directory under it (Cleanup's lock_store).
      store_lock.Release();
      for (int i = 0; i < config_.rm_wait_ms / 5; ++i) {
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
      // The run let go without removing it (it died): the rest is ours,
      // under the store lock again (container lock, then store lock: the
      // order a run's own teardown takes them in).
      if (auto l = LockStore(); !l) return l.error();
      else store_lock = std::move(*l);
    }
    // An exited detached container is gc's once rm started on it.
    if (auto now = states_.Read(s.id); now && now->status == "exited") {
      ContainerState removing = *now;
      removing.status = "removing";
      // Only for gc's sake: the teardown goes on without the mark.
      if (Outcome w = states_.Write(removing); !w) {
        spdlog::warn("rm {}: {}", s.id, w.error().Message());
      }
    }
    if (Outcome c = Cleanup(s); !c) {
      Error e = c.error();
      e.detail += (e.detail.empty() ? "" : "; ") +
                  std::string("run `mydocker gc` to remove what is left");
      return e;
    }
    return Outcome::Ok();
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
    // A detached container that exited keeps its state and logs until rm
    // (read again under its lock: its monitor may have just finished).
    if (auto now = states_.Read(s.id); now && now->status == "exited") {
      report.kept.push_back(s.id);
      continue;
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

namespace mydocker {

std::string StatusText(Sys& sys, const ContainerState& s) {
  if (s.status == "running") return ProcessAlive(sys, s.pid, s.pid_start) ? "running" : "dead";
  if (s.status == "exited") {
    return s.exit_code >= 0 ? "exited (" + std::to_string(s.exit_code) + ")" : "exited (?)";
  }
  return s.status;
}

Expected<RunResult> Runtime::RunDetached(const RunSpec& spec) {
  // An empty argv is the image config's to fill (RunContainer).
  if (spec.interactive || spec.tty) {
    return MakeError("run -d", spec.image, EINVAL, "-d does not go with -i or -t");
  }
  auto started = sys_.Pipe(O_CLOEXEC);
  if (!started.ok()) return MakeError("run -d: pipe", "start report", started.err);
  int report_w = started.value.write_fd;
  const int report_r = started.value.read_fd;
  // The monitor: a session of its own, fds 0-2 on /dev/null (the caller's
  // terminal and pipes are not held), then the whole run. What it reports
  // before the command started goes to the caller; after, to the logs.
  // The monitor owns its Runtime and spec: on a backend that runs clone
  // children in-process (FakeKernel) it goes on after this call returns.
  auto monitor = [sys = &sys_, config = config_, spec](int report_w) -> int {
    (void)sys->Setsid();  // fails only for a group leader, which a fresh child is not
    auto null_fd = sys->Open("/dev/null", O_RDWR | O_CLOEXEC, 0);
    if (null_fd.ok()) {
      for (int fd = 0; fd <= 2; ++fd) (void)sys->Dup2(null_fd.value, fd);  // best effort: the monitor writes nothing there
      CloseFd(*sys, null_fd.value);
    }
    Runtime rt(*sys, config);
    int fd = report_w;
    auto r = rt.RunContainer(spec, &fd);
    if (fd < 0) return r ? 0 : kExitRuntimeError;  // started; the end is in state.json
    std::string line;
    if (!r) {
      const Error& e = r.error();
      line = "error\t" + std::to_string(e.err) + "\t" + Field(e.step) + "\t" + Field(e.path) +
             "\t" + Field(e.detail) + "\n";
    } else {
      line = "exit\t" + std::to_string(r->exit_code) + "\t" + Field(r->id) + "\t" +
             Field(r->message) + "\n";
    }
    auto w = sys->Write(fd, line.data(), line.size());
    CloseFd(*sys, fd);
    if (!w.ok()) return w.err;  // the intermediate reads the errno from the exit status
    return r ? 0 : kExitRuntimeError;
  };
  // The intermediate process relays the monitor's report, then exits: the
  // monitor is then init's (or a subreaper's), not the caller's, child. A
  // report that cannot be written comes back as an exit status (the errno
  // that stopped it): the monitor's to the intermediate, the
  // intermediate's to the caller.
  CloneFn intermediate = [this, monitor, report_w, report_r]() -> int {
    CloseFd(sys_, report_r);
    auto relay = sys_.Pipe(O_CLOEXEC);
    if (!relay.ok()) return relay.err;
    const int from_monitor = relay.value.read_fd;
    // By value: on FakeKernel the monitor goes on after this frame is gone.
    CloneFn m_fn = [monitor, rfd = relay.value.read_fd, wfd = relay.value.write_fd,
                    caller_w = report_w, sys = &sys_]() -> int {
      CloseFd(*sys, rfd);
      CloseFd(*sys, caller_w);  // the caller's EOF must not wait for the container
      return monitor(wfd);
    };
    auto m = sys_.Clone(m_fn, 0);
    CloseFd(sys_, relay.value.write_fd);
    std::string line;
    if (!m.ok()) {
      line = "error\t" + std::to_string(m.err) + "\trun -d: clone monitor\t\t\n";
    } else {
      auto got = ReadAll(sys_, from_monitor, "run -d: read the monitor's report");
      if (!got) {
        CloseFd(sys_, from_monitor);
        return got.error().err;
      }
      line = *got;
    }
    CloseFd(sys_, from_monitor);
    int code = 0;
    if (m.ok() && line.rfind("ok\t", 0) != 0) {
      // The monitor ends after a failed start: its status says why when it
      // could not write.
      Result<int> st{0, EINTR};
      while (st.err == EINTR) st = sys_.Waitpid(m.value, 0);
      if (!st.ok()) return st.err;
      if (line.empty()) code = WIFEXITED(st.value) ? WEXITSTATUS(st.value) : EINTR;
    }
    if (line.empty()) return code != 0 ? code : EIO;
    size_t off = 0;
    while (off < line.size()) {
      auto w = sys_.Write(report_w, line.data() + off, line.size() - off);
      if (!w.ok()) {
        if (w.err == EINTR) continue;
        return w.err;
      }
      off += w.value;
    }
    return 0;
  };
  auto mid = sys_.Clone(intermediate, 0);
  CloseFd(sys_, report_w);
  if (!mid.ok()) {
    CloseFd(sys_, report_r);
    return MakeError("run -d: clone", "monitor", mid.err);
  }
  auto text = ReadAll(sys_, report_r, "run -d: read start report");
  CloseFd(sys_, report_r);
  Result<int> st{0, EINTR};
  while (st.err == EINTR) st = sys_.Waitpid(mid.value, 0);
  if (!text) {
    Error e = text.error();
    e.detail += (e.detail.empty() ? "" : "; ") +
                std::string("the container may have started: `mydocker ps -a`; `mydocker rm -f` "
                            "it, then `mydocker gc` removes what is left");
    return e;
  }
  if (!st.ok()) return MakeError("run -d: wait", std::to_string(mid.value), st.err);
  std::string line = *text;
  if (!line.empty() && line.back() == '\n') line.pop_back();
  auto f = SplitTabs(line);
  if (f[0] == "ok" && f.size() == 2) {
    RunResult r;
    r.id = f[1];
    return r;
  }
  if (f[0] == "exit" && f.size() == 4) {
    RunResult r;
    r.exit_code = std::atoi(f[1].c_str());
    r.id = f[2];
    r.message = f[3];
    return r;
  }
  if (f[0] == "error" && f.size() == 5) {
    return MakeError(f[2], f[3], std::atoi(f[1].c_str()), f[4]);
  }
  if (line.empty() && WIFEXITED(st.value) && WEXITSTATUS(st.value) != 0) {
    return MakeError("run -d: the start report", "monitor", WEXITSTATUS(st.value),
                     "it could not be written (the errno is the exit status of the writer); "
                     "what the run made may be left: run `mydocker gc` to remove it");
  }
  return MakeError("run -d: start report", "monitor", EIO,
                   line.empty() ? "the monitor ended without a report" : "unreadable: " + line);
}

Expected<ContainerState> Runtime::Find(const std::string& name_or_id) {
  auto ids = states_.Ids();
  if (!ids) return ids.error();
  std::optional<Error> unreadable;  // a state that may hold the name
  for (const auto& id : *ids) {
    auto s = states_.Read(id);
    if (!s) {
      if (id == name_or_id) return s.error();
      if (!unreadable) unreadable = s.error();
      continue;
    }
    if (s->id == name_or_id || s->name == name_or_id) return *s;
  }
  if (unreadable) return *unreadable;
  return MakeError("container", name_or_id, ENOENT, "no such container");
}

Expected<ContainerLogs> Runtime::Logs(const std::string& name_or_id) {
  auto s = Find(name_or_id);
  if (!s) return s.error();
  ContainerLogs logs;
  for (auto [name, out] : {std::pair{"stdout.log", &logs.out}, {"stderr.log", &logs.err}}) {
    const std::string path = JoinPath(states_.DirOf(s->id), name);
    auto text = ReadFile(sys_, path, "logs: read");
    if (text) *out = std::move(*text);
    else if (text.error().err != ENOENT) return text.error();
  }
  return logs;
}

// A grace period longer than this (a day) is taken as this.
constexpr int kMaxStopSeconds = 24 * 60 * 60;

Outcome Runtime::Stop(const std::string& name_or_id, int timeout_seconds) {
  auto found = Find(name_or_id);
  if (!found) return found.error();
  const ContainerState s = *found;
  if (s.status != "running" && s.status != "creating") return Outcome::Ok();
  auto layout = Layout();
  if (!layout) return layout.error();
  Cgroup cgroup = CgroupOf(s, *layout);
  auto lock = FileLock::Acquire(sys_, states_.LockOf(s.id), FileLock::Mode::kExclusive, false,
                                false, "stop: lock container");
  FileLock held;
  if (lock) {
    held = std::move(*lock);
  } else if (lock.error().err == ENOENT) {
    return Outcome::Ok();  // its run removed it meanwhile
  } else if (lock.error().err != EWOULDBLOCK) {
    return lock.error();
  } else {
    // Its run or monitor lives: SIGTERM to the init (by pidfd: a reused
    // pid is never signalled), the grace period, then SIGKILL to the cgroup.
    // A container still being created has no init yet (pid 0): the SIGKILLs
    // below end whatever its run attaches to the cgroup meanwhile.
    auto pidfd = s.pid > 0 ? sys_.PidfdOpen(s.pid, 0) : Result<int>{-1, ESRCH};
    if (pidfd.ok()) {
      if (ProcessAlive(sys_, s.pid, s.pid_start)) {
        Status term = sys_.PidfdSendSignal(pidfd.value, SIGTERM);
        if (!term.ok() && term.err != ESRCH) {
          CloseFd(sys_, pidfd.value);
          return MakeError("stop: signal SIGTERM", std::to_string(s.pid), term.err,
                           "container " + s.id);
        }
        // The grace period, whole even when a signal interrupts the wait.
        const auto until = std::chrono::steady_clock::now() +
                           std::chrono::seconds(std::min(timeout_seconds, kMaxStopSeconds));
        for (;;) {
          const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
              until - std::chrono::steady_clock::now());
          struct pollfd p = {pidfd.value, POLLIN, 0};
          auto r = sys_.Poll(&p, 1, static_cast<int>(std::max<int64_t>(left.count(), 0)));
          if (r.ok() || left.count() <= 0) break;
          if (r.err != EINTR) {
            CloseFd(sys_, pidfd.value);
            return MakeError("stop: wait for the init", std::to_string(s.pid), r.err);
          }
        }
      }
      CloseFd(sys_, pidfd.value);
    } else if (pidfd.err != ESRCH) {
      return MakeError("stop: pidfd_open", std::to_string(s.pid), pidfd.err, "container " + s.id);
    }
    MYDOCKER_TRY(KillMembers(sys_, cgroup, s.id));
    // Its run or monitor records the end and tears down, then lets go
    // (config.rm_wait_ms, as rm -f waits).
    for (int i = 0; i < config_.rm_wait_ms / 5; ++i) {
      lock = FileLock::Acquire(sys_, states_.LockOf(s.id), FileLock::Mode::kExclusive, false,
                               false, "stop: lock container");
      if (lock || lock.error().err != EWOULDBLOCK) break;
      MYDOCKER_TRY(KillMembers(sys_, cgroup, s.id));
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (!lock && lock.error().err == ENOENT) return Outcome::Ok();  // an attached run removed it
    if (!lock) return lock.error();
    held = std::move(*lock);
  }
  // Under the container's lock: whatever its run or monitor did not do.
  auto now = states_.Read(s.id);
  if (!now) return now.error().err == ENOENT ? Outcome::Ok() : Outcome(now.error());
  if (now->status != "running" && now->status != "creating") return Outcome::Ok();
  MYDOCKER_TRY(KillMembers(sys_, cgroup, s.id));
  ContainerState end = *now;
  end.status = "exited";
  end.pid = 0;
  MYDOCKER_TRY(states_.Write(end));
  return Cleanup(end, {.keep_dir = true});
}

Expected<ExecResult> Runtime::Exec(const std::string& name_or_id, const ExecSpec& spec) {
  if (spec.argv.empty()) return MakeError("exec", name_or_id, EINVAL, "no command given");
  auto found = Find(name_or_id);
  if (!found) return found.error();
  const ContainerState s = *found;
  if (s.status != "running") {
    return MakeError("exec", name_or_id, ESRCH, "the container is not running (" +
                                                    StatusText(sys_, s) + ")");
  }
  // The pidfd first, then the start time: the fd is the container's init,
  // not a process that took its pid since.
  auto pidfd = sys_.PidfdOpen(s.pid, 0);
  if (!pidfd.ok()) {
    if (pidfd.err == ESRCH) {
      return MakeError("exec", name_or_id, ESRCH, "the container is not running");
    }
    return MakeError("exec: pidfd_open", std::to_string(s.pid), pidfd.err, "container " + s.id);
  }
  std::vector<int> open_fds = {pidfd.value};
  pid_t child = 0;
  auto fail = [&](Error e) -> Expected<ExecResult> {
    for (int fd : open_fds) CloseFd(sys_, fd);
    if (child > 0) {
      (void)sys_.Kill(child, SIGKILL);  // best effort: the child may be gone already
      (void)sys_.Waitpid(child, 0);     // reaps it; ECHILD means it is reaped
    }
    return e;
  };
  Liveness live = ProcessLiveness(sys_, s.pid, s.pid_start);
  if (live == Liveness::kUnknown) {
    // /proc could not tell: its error, or (read now) the answer.
    const std::string stat = "/proc/" + std::to_string(s.pid) + "/stat";
    if (auto st = ReadFile(sys_, stat, "exec: read the init's start time"); !st) {
      return fail(st.error());
    }
    live = ProcessLiveness(sys_, s.pid, s.pid_start);
  }
  if (live != Liveness::kAlive) {
    return fail(MakeError("exec", name_or_id, ESRCH, "the container is not running"));
  }
  auto layout = Layout();
  if (!layout) return fail(layout.error());
  Cgroup cgroup = CgroupOf(s, *layout);

  InitPlan plan;  // no rootfs steps: the container's root is set up
  plan.caps = s.caps;
  plan.no_new_privs = s.no_new_privs;
  if (s.seccomp != "unconfined") {
    SecuritySpec sec;
    sec.no_new_privs = s.no_new_privs;
    if (s.seccomp != "default") {
      sec.seccomp = SeccompMode::kFile;
      sec.seccomp_file = s.seccomp;
    }
    auto bpf = SeccompFor(sec, plan.caps);
    if (!bpf) return fail(bpf.error());
    plan.seccomp = std::move(*bpf);
  }
  plan.env = MergeEnv(config_.inherited_env, spec.env);
  plan.path_dirs = PathOf(plan.env);

  auto cmd_pipe = sys_.Pipe(O_CLOEXEC);
  if (!cmd_pipe.ok()) return fail(MakeError("exec: pipe", "command", cmd_pipe.err));
  open_fds.push_back(cmd_pipe.value.read_fd);
  open_fds.push_back(cmd_pipe.value.write_fd);
  auto report_pipe = sys_.Pipe(O_CLOEXEC);
  if (!report_pipe.ok()) return fail(MakeError("exec: pipe", "report", report_pipe.err));
  open_fds.push_back(report_pipe.value.read_fd);
  open_fds.push_back(report_pipe.value.write_fd);
  auto go_pipe = sys_.Pipe(O_CLOEXEC);
  if (!go_pipe.ok()) return fail(MakeError("exec: pipe", "go", go_pipe.err));
  open_fds.push_back(go_pipe.value.read_fd);
  open_fds.push_back(go_pipe.value.write_fd);
  int stdin_fd = -1;
  if (!spec.interactive) {
    auto null_fd = sys_.Open("/dev/null", O_RDONLY | O_CLOEXEC, 0);
    if (!null_fd.ok()) return fail(MakeError("exec: open stdin", "/dev/null", null_fd.err));
    stdin_fd = null_fd.value;
    open_fds.push_back(stdin_fd);
  }
  plan.command_fd = cmd_pipe.value.read_fd;
  plan.report_fd = report_pipe.value.write_fd;
  plan.stdin_fd = stdin_fd;
  plan.stdout_fd = spec.stdout_fd;
  plan.stderr_fd = spec.stderr_fd;
  plan.close_fds = {cmd_pipe.value.write_fd, report_pipe.value.read_fd, go_pipe.value.read_fd,
                    go_pipe.value.write_fd};
  const std::string command = EncodeCommand(spec.argv);
  PrepareInitPlan(&plan, command.size());

  // The joiner: waits for its cgroup attach (the go pipe's EOF), joins the
  // container's namespaces, clones the process that runs the command (in
  // the container's pid namespace, as setns(CLONE_NEWPID) applies to
  // children) and waits for it. Only Sys calls on prepared memory.
  const int ns_fd = pidfd.value;
  const int go_r = go_pipe.value.read_fd;
  CloneFn joiner = [this, &plan, ns_fd, go_r]() -> int {
    CloseFd(sys_, plan.close_fds[0]);
    CloseFd(sys_, plan.close_fds[1]);
    CloseFd(sys_, plan.close_fds[3]);
    plan.close_fds.clear();  // closed here, before the command's process is cloned
    char b;
    Result<size_t> r{0, EINTR};
    while (r.err == EINTR) r = sys_.Read(go_r, &b, 1);
    CloseFd(sys_, go_r);
    if (!r.ok()) {
      InitReport rep{kStepReadCommand, r.err};
      (void)sys_.Write(plan.report_fd, &rep, sizeof rep);  // the parent sees a short report otherwise
      return kExitRuntimeError;
    }
    constexpr int kJoin = 0x00020000 /*NEWNS*/ | 0x04000000 /*NEWUTS*/ | 0x08000000 /*NEWIPC*/ |
                          0x40000000 /*NEWNET*/ | 0x20000000 /*NEWPID*/;
    if (Status st = sys_.Setns(ns_fd, kJoin); !st.ok()) {
      InitReport rep{kStepSetns, st.err};
      (void)sys_.Write(plan.report_fd, &rep, sizeof rep);  // as above
      return kExitRuntimeError;
    }
    CloseFd(sys_, ns_fd);
    auto g = sys_.Clone([this, &plan] { return RunInit(sys_, plan); }, 0);
    if (!g.ok()) {
      InitReport rep{kStepExecClone, g.err};
      (void)sys_.Write(plan.report_fd, &rep, sizeof rep);  // as above
      return kExitRuntimeError;
    }
    // Only the command's process holds these now: EOF on the report is its exec.
    CloseFd(sys_, plan.report_fd);
    CloseFd(sys_, plan.command_fd);
    if (plan.stdin_fd >= 0) CloseFd(sys_, plan.stdin_fd);
    Result<int> st{0, EINTR};
    while (st.err == EINTR) st = sys_.Waitpid(g.value, 0);
    if (!st.ok()) return kExitRuntimeError;
    return ExitCodeOf(st.value);
  };
  auto cloned = sys_.Clone(joiner, 0);
  if (!cloned.ok()) return fail(MakeError("exec: clone", s.id, cloned.err));
  child = cloned.value;
  CloseFd(sys_, pidfd.value);
  CloseFd(sys_, cmd_pipe.value.read_fd);
  CloseFd(sys_, report_pipe.value.write_fd);
  CloseFd(sys_, go_pipe.value.read_fd);
  if (stdin_fd >= 0) CloseFd(sys_, stdin_fd);
  open_fds = {cmd_pipe.value.write_fd, report_pipe.value.read_fd, go_pipe.value.write_fd};
  if (Outcome o = cgroup.Attach(child); !o) return fail(o.error());
  CloseFd(sys_, go_pipe.value.write_fd);
  open_fds = {cmd_pipe.value.write_fd, report_pipe.value.read_fd};
  SetSignal(sys_, SIGPIPE, SignalDisposition::kIgnore);
  size_t off = 0;
  int send_err = 0;  // EPIPE: the command's process is gone (or so we were told)
  while (off < command.size()) {
    auto w = sys_.Write(cmd_pipe.value.write_fd, command.data() + off, command.size() - off);
    if (!w.ok()) {
      if (w.err == EINTR) continue;
      if (w.err == EPIPE) {
        send_err = EPIPE;  // its report says why, if it has one
        break;
      }
      SetSignal(sys_, SIGPIPE, SignalDisposition::kDefault);
      return fail(MakeError("exec: send command", "command pipe", w.err));
    }
    off += w.value;
  }
  SetSignal(sys_, SIGPIPE, SignalDisposition::kDefault);
  CloseFd(sys_, cmd_pipe.value.write_fd);
  open_fds = {report_pipe.value.read_fd};
  InitReport report{};
  auto got_or = ReadInitReport(sys_, report_pipe.value.read_fd, &report, "exec: read report");
  if (!got_or) return fail(got_or.error());
  const size_t got = *got_or;
  CloseFd(sys_, report_pipe.value.read_fd);
  open_fds.clear();
  Result<int> status{0, EINTR};
  while (status.err == EINTR) status = sys_.Waitpid(child, 0);
  if (!status.ok()) return fail(MakeError("exec: wait", std::to_string(child), status.err));
  child = 0;
  ExecResult result;
  if (got == sizeof report) {
    if (report.step == kStepExec) {
      result.exit_code = report.err == ENOENT ? kExitNotFound : kExitCannotExecute;
      result.err = report.err;
      result.message = MakeError("exec", spec.argv[0], report.err,
                                 report.err == ENOENT ? "executable file not found in PATH"
                                                      : "cannot execute")
                           .Message();
      return result;
    }
    std::string step = "read command";
    if (report.step == kStepSetns) step = "setns(pidfd, mnt|uts|ipc|net|pid)";
    else if (report.step == kStepExecClone) step = "clone (the exec'd process)";
    else if (report.step == kStepStdio) step = "stdio (dup2)";
    else if (report.step == kStepPdeathsig) step = "prctl(PR_SET_PDEATHSIG)";
    else if (report.step == kStepNoNewPrivs) step = "prctl(PR_SET_NO_NEW_PRIVS)";
    else if (report.step == kStepCaps) step = "capabilities (PR_CAPBSET_DROP, PR_CAP_AMBIENT, capset)";
    else if (report.step == kStepCloseFds) step = "close_range(3, ~0, CLOSE_RANGE_CLOEXEC)";
    else if (report.step == kStepSeccomp) step = "seccomp(SECCOMP_SET_MODE_FILTER)";
    return MakeError("exec: " + step, "container " + s.id, report.err);
  }
  if (got != 0) return MakeError("exec: read report", "report pipe", EIO, "short report");
  if (send_err != 0) {
    return MakeError("exec: send command", "command pipe", send_err,
                     "the command's process ended before it read its command");
  }
  result.exit_code = ExitCodeOf(status.value);
  return result;
}

std::vector<std::string> MergeEnv(const std::vector<std::string>& base,
                                  const std::vector<std::string>& extra) {
  std::vector<std::string> out;
  out.reserve(base.size() + extra.size());
  // Key -> its index in out; the keys view the input strings (not out's,
  // which are reassigned).
  std::unordered_map<std::string_view, size_t> at;
  at.reserve(base.size() + extra.size());
  for (const auto* list : {&base, &extra}) {
    for (const auto& kv : *list) {
      const std::string_view key = std::string_view(kv).substr(0, kv.find('='));
      auto [it, added] = at.try_emplace(key, out.size());
      if (added) {
        out.push_back(kv);
      } else {
        out[it->second] = kv;
      }
    }
  }
  return out;
}

}  // namespace mydocker
