// See privileged_env.h.
#include "tests/privileged/privileged_env.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <cstdlib>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include <spdlog/spdlog.h>

#include "runtime/sys/fs_util.h"
#include "runtime/sys/mountinfo.h"
#include "runtime/util/error.h"

namespace faultline {
namespace {

using mydocker::JoinPath;
using Clock = std::chrono::steady_clock;

std::string ErrnoText(const std::string& what, int err) {
  return what + ": " + mydocker::ErrnoName(err) + " (" + strerror(err) + ")";
}

std::string Clip(const std::string& s, size_t n = 2000) {
  return s.size() <= n ? s : s.substr(0, n) + "...[" + std::to_string(s.size() - n) + " more]";
}

PrivilegedEnv* g_env = nullptr;

// Tears the environment down at the end of the test process.
class PrivilegedEnvironment : public ::testing::Environment {
 public:
  void TearDown() override {
    for (const std::string& problem : PrivilegedEnv::TearDownIfBuilt()) {
      ADD_FAILURE() << "privileged environment teardown: " << problem;
    }
  }
};
::testing::Environment* const kRegistered =
    ::testing::AddGlobalTestEnvironment(new PrivilegedEnvironment);

}  // namespace

// ---- commands -----------------------------------------------------------------

std::string CommandResult::Describe() const {
  std::ostringstream o;
  if (timed_out) o << "TIMED OUT (killed) ";
  o << "exit " << exit_code << " after " << seconds << " s; stdout: \"" << Clip(out)
    << "\"; stderr: \"" << Clip(err) << "\"";
  return o.str();
}

Spawned& Spawned::operator=(Spawned&& o) noexcept {
  std::swap(pid_, o.pid_);
  std::swap(out_fd_, o.out_fd_);
  std::swap(err_fd_, o.err_fd_);
  std::swap(start_, o.start_);
  std::swap(spawn_error_, o.spawn_error_);
  return *this;
}

Spawned::~Spawned() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  if (out_fd_ >= 0) ::close(out_fd_);
  if (err_fd_ >= 0) ::close(err_fd_);
}

Spawned Spawn(const std::vector<std::string>& argv) {
  Spawned s;
  s.start_ = Clock::now();
  if (argv.empty()) {
    s.spawn_error_ = "spawn: empty argv";
    return s;
  }
  // Everything the child needs is prepared before fork.
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0) {
    s.spawn_error_ = ErrnoText("spawn: pipe", errno);
    return s;
  }
  if (::pipe2(err, O_CLOEXEC) != 0) {
    s.spawn_error_ = ErrnoText("spawn: pipe", errno);
    ::close(out[0]);
    ::close(out[1]);
    return s;
  }
  int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    ::execv(args[0], args.data());
    static const char kMsg[] = "spawn: execv failed\n";
    ssize_t ignored = ::write(2, kMsg, sizeof kMsg - 1);
    (void)ignored;
    ::_exit(127);
  }
  int fork_err = errno;
  if (devnull >= 0) ::close(devnull);
  ::close(out[1]);
  ::close(err[1]);
  if (pid < 0) {
    s.spawn_error_ = ErrnoText("spawn: fork", fork_err);
    ::close(out[0]);
    ::close(err[0]);
    return s;
  }
  s.pid_ = pid;
  s.out_fd_ = out[0];
  s.err_fd_ = err[0];
  return s;
}

CommandResult Spawned::Wait(std::chrono::milliseconds timeout) {
  CommandResult r;
  if (pid_ <= 0) {
    r.err = spawn_error_.empty() ? "not started" : spawn_error_;
    return r;
  }
  const auto deadline = start_ + timeout;
  std::optional<Clock::time_point> drain_until;
  int status = 0;
  bool reaped = false;
  auto read_some = [&](int& fd, std::string& into) {
    char buf[4096];
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      into.append(buf, static_cast<size_t>(n));
    } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
      ::close(fd);
      fd = -1;
    }
  };
  for (;;) {
    if (out_fd_ < 0 && err_fd_ < 0 && reaped) break;
    if (!reaped) {
      pid_t w = ::waitpid(pid_, &status, WNOHANG);
      if (w == pid_) {
        reaped = true;
        // A grandchild may still hold the pipes: drain for a moment only.
        drain_until = Clock::now() + std::chrono::milliseconds(500);
      }
    }
    auto now = Clock::now();
    if (drain_until && now >= *drain_until) break;
    if (!reaped && now >= deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      reaped = true;
      r.timed_out = true;
      drain_until = Clock::now() + std::chrono::milliseconds(200);
      continue;
    }
    pollfd fds[2];
    int n = 0;
    if (out_fd_ >= 0) fds[n++] = {out_fd_, POLLIN, 0};
    if (err_fd_ >= 0) fds[n++] = {err_fd_, POLLIN, 0};
    if (n == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      continue;
    }
    if (::poll(fds, n, 20) <= 0) continue;
    for (int i = 0; i < n; ++i) {
      if (fds[i].revents == 0) continue;
      if (fds[i].fd == out_fd_) read_some(out_fd_, r.out);
      else read_some(err_fd_, r.err);
    }
  }
  if (out_fd_ >= 0) ::close(out_fd_);
  if (err_fd_ >= 0) ::close(err_fd_);
  out_fd_ = err_fd_ = -1;
  pid_ = -1;
  r.seconds = std::chrono::duration<double>(Clock::now() - start_).count();
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status)) r.exit_code = 128 + WTERMSIG(status);
  return r;
}

CommandResult RunCommand(const std::vector<std::string>& argv,
                         std::chrono::milliseconds timeout) {
  return Spawn(argv).Wait(timeout);
}

// ---- the environment -------------------------------------------------------------

std::string PrivilegedImageTar(std::string* error) {
  const std::string tar = std::string(FAULTLINE_BINARY_DIR) + "/tests/privileged-busybox.tar";
  if (::access(tar.c_str(), R_OK) == 0) return tar;
  const std::string tmp = tar + ".tmp." + std::to_string(::getpid());
  CommandResult b = RunCommand(
      {"/bin/bash", std::string(FAULTLINE_SOURCE_DIR) + "/ci/build-image", tmp},
      std::chrono::seconds(300));
  if (b.exit_code != 0) {
    ::unlink(tmp.c_str());
    *error = "ci/build-image: " + b.Describe();
    return "";
  }
  if (::rename(tmp.c_str(), tar.c_str()) != 0) {
    *error = ErrnoText("rename " + tmp + " -> " + tar, errno);
    ::unlink(tmp.c_str());
    return "";
  }
  return tar;
}

PrivilegedEnv& PrivilegedEnv::Get() {
  if (g_env == nullptr) {
    g_env = new PrivilegedEnv();
    g_env->Build();
  }
  return *g_env;
}

std::vector<std::string> PrivilegedEnv::TearDownIfBuilt() {
  if (g_env == nullptr) return {};
  return g_env->TearDown();
}

std::string PrivilegedEnv::mydocker_path() const {
  // FAULTLINE_MYDOCKER: another build's binary (an older release, to show
  // a regression test fails there).
  if (const char* other = std::getenv("FAULTLINE_MYDOCKER"); other != nullptr && *other) {
    return other;
  }
  return std::string(FAULTLINE_BINARY_DIR) + "/runtime/mydocker";
}

std::vector<std::string> PrivilegedEnv::MydockerArgv(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {mydocker_path(), "--root", root_, "--cgroup-parent",
                                   cgroup_parent_};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

CommandResult PrivilegedEnv::Mydocker(const std::vector<std::string>& args,
                                      std::chrono::milliseconds timeout) {
  return RunCommand(MydockerArgv(args), timeout);
}

Spawned PrivilegedEnv::SpawnMydocker(const std::vector<std::string>& args) {
  return Spawn(MydockerArgv(args));
}

ProbeScope PrivilegedEnv::Scope() const {
  ProbeScope scope;
  scope.dirs = {scratch_};
  // The image layer (checked by its digest) and the seccomp filter cache.
  scope.dirs_prune = {image_rootfs(), root_ + "/images/.seccomp"};
  scope.cgroup_parent = cgroup_parent_;
  return scope;
}

void PrivilegedEnv::Build() {
  if (::geteuid() != 0) {
    error_ = "the privileged tests need root";
    return;
  }
  // 1. A private mount namespace for this process and what it starts.
  if (::unshare(CLONE_NEWNS) != 0) {
    error_ = ErrnoText("unshare(CLONE_NEWNS)", errno);
    return;
  }
  if (::mount("", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    error_ = ErrnoText("mount / MS_REC|MS_PRIVATE", errno);
    return;
  }
  // 2. Scratch.
  char tmpl[] = "/tmp/faultline-priv-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) {
    error_ = ErrnoText("mkdtemp /tmp/faultline-priv-XXXXXX", errno);
    return;
  }
  scratch_ = tmpl;
  root_ = scratch_ + "/root";
  // 3. Cgroup parent.
  cgroup_parent_ = "faultline-test-" + std::to_string(::getpid());

  struct stat st;
  if (::stat(mydocker_path().c_str(), &st) != 0) {
    error_ = ErrnoText(mydocker_path() + " (build the mydocker target)", errno);
    return;
  }
  // 4. The image: built once per build directory, imported per run.
  const std::string tar = PrivilegedImageTar(&error_);
  if (tar.empty()) return;
  CommandResult imp = Mydocker({"image", "import", tar, kImage});
  if (imp.exit_code != 0) {
    error_ = "mydocker image import: " + imp.Describe();
    return;
  }
  // 5. Warm-up: the state every later run returns to.
  CommandResult warm = Mydocker({"run", kImage, "true"});
  if (warm.exit_code != 0) {
    error_ = "warm-up run `true`: " + warm.Describe();
    return;
  }
  // 6. The image's digest.
  std::string err;
  image_digest_ = ImageDigest(&err);
  if (image_digest_.empty()) error_ = "image digest: " + err;
  spdlog::info("privileged env: scratch {}, cgroup parent {}", scratch_, cgroup_parent_);
}

std::vector<std::string> PrivilegedEnv::CgroupRoots(std::string* error) const {
  std::vector<std::string> roots;
  auto table = mydocker::ReadMountinfo(sys_);
  if (!table) {
    *error = table.error().Message();
    return roots;
  }
  std::set<std::string> seen;
  for (const auto& m : *table) {
    if ((m.fstype != "cgroup" && m.fstype != "cgroup2") || m.root != "/") continue;
    if (seen.insert(m.fstype + " " + m.super_options).second) roots.push_back(m.target);
  }
  return roots;
}

namespace {

// Every directory under top (top included), deepest first.
void CgroupDirsPostOrder(mydocker::Sys& sys, const std::string& top,
                         std::vector<std::string>* out) {
  auto entries = sys.ReadDir(top);
  if (entries.ok()) {
    for (const auto& e : entries.value) {
      if (e.type == DT_DIR) CgroupDirsPostOrder(sys, JoinPath(top, e.name), out);
    }
  }
  out->push_back(top);
}

}  // namespace

std::vector<std::string> PrivilegedEnv::TearDown() {
  std::vector<std::string> problems;
  if (!error_.empty()) problems.push_back("the environment was not built: " + error_);
  std::string err;
  const std::vector<std::string> roots = CgroupRoots(&err);
  if (!err.empty()) problems.push_back("cgroup roots: " + err);

  // 1. Processes and cgroups under the per-run parent.
  if (!cgroup_parent_.empty()) {
    std::vector<std::string> dirs;
    for (const auto& r : roots) {
      const std::string top = JoinPath(r, cgroup_parent_);
      if (sys_.Lstat(top).ok()) CgroupDirsPostOrder(sys_, top, &dirs);
    }
    std::set<pid_t> killed;
    for (int round = 0; round < 100; ++round) {
      bool any = false;
      for (const auto& d : dirs) {
        auto procs = mydocker::ReadFile(sys_, d + "/cgroup.procs", "read cgroup.procs");
        if (!procs) continue;
        std::istringstream in(*procs);
        pid_t pid;
        while (in >> pid) {
          any = true;
          // Only processes of this run's cgroup: started by these tests.
          if (killed.insert(pid).second) {
            problems.push_back("process " + std::to_string(pid) + " left in " + d);
            ::kill(pid, SIGKILL);
          }
        }
      }
      if (!any) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    for (const auto& d : dirs) {
      bool is_parent = false;
      for (const auto& r : roots) is_parent |= d == JoinPath(r, cgroup_parent_);
      if (!is_parent) problems.push_back("cgroup left: " + d);
      if (auto st = sys_.Rmdir(d); !st.ok() && st.err != ENOENT) {
        problems.push_back(ErrnoText("rmdir " + d, st.err));
      }
    }
    for (const auto& r : roots) {
      const std::string top = JoinPath(r, cgroup_parent_);
      if (sys_.Lstat(top).ok()) problems.push_back("cgroup parent still exists: " + top);
    }
  }

  // 2. Mounts under the scratch dir (in this process's namespace).
  if (!scratch_.empty()) {
    auto table = mydocker::ReadMountinfo(sys_);
    if (table) {
      for (auto it = table->rbegin(); it != table->rend(); ++it) {
        if (it->target != scratch_ && it->target.rfind(scratch_ + "/", 0) != 0) continue;
        problems.push_back("mount left: " + it->target + " " + it->fstype);
        if (auto st = sys_.Umount2(it->target, MNT_DETACH); !st.ok()) {
          problems.push_back(ErrnoText("umount " + it->target, st.err));
        }
      }
    } else {
      problems.push_back(table.error().Message());
    }
    // 3. The scratch dir.
    if (mydocker::Outcome o = mydocker::RemoveTree(sys_, scratch_, "remove scratch"); !o) {
      problems.push_back(o.error().Message());
    }
    if (auto st = sys_.Lstat(scratch_); st.ok() || st.err != ENOENT) {
      problems.push_back("scratch dir still exists: " + scratch_);
    }
  }
  return problems;
}

std::string PrivilegedEnv::ImageDigest(std::string* error) const {
  uint64_t h = 1469598103934665603ull;  // FNV-1a 64
  auto mix = [&h](const void* p, size_t n) {
    const auto* b = static_cast<const unsigned char*>(p);
    for (size_t i = 0; i < n; ++i) {
      h ^= b[i];
      h *= 1099511628211ull;
    }
  };
  auto mix_str = [&](const std::string& s) { mix(s.data(), s.size() + 1); };
  std::map<std::pair<uint64_t, uint64_t>, uint64_t> content_by_inode;
  size_t entries = 0;
  std::function<bool(const std::string&, const std::string&)> walk =
      [&](const std::string& dir, const std::string& rel) -> bool {
    auto list = sys_.ReadDir(dir);
    if (!list.ok()) {
      *error = ErrnoText("read directory " + dir, list.err);
      return false;
    }
    std::vector<std::string> names;
    for (const auto& e : list.value) names.push_back(e.name);
    std::sort(names.begin(), names.end());
    for (const auto& name : names) {
      const std::string path = JoinPath(dir, name);
      const std::string r = rel + "/" + name;
      auto st = sys_.Lstat(path);
      if (!st.ok()) {
        *error = ErrnoText("lstat " + path, st.err);
        return false;
      }
      ++entries;
      const auto& s = st.value;
      mix_str(r);
      std::string meta = std::to_string(s.mode) + " " + std::to_string(s.uid) + " " +
                         std::to_string(s.gid) + " " + std::to_string(s.size) + " " +
                         std::to_string(s.nlink);
      mix_str(meta);
      if (S_ISLNK(s.mode)) {
        auto t = sys_.Readlink(path);
        if (!t.ok()) {
          *error = ErrnoText("readlink " + path, t.err);
          return false;
        }
        mix_str(t.value);
      } else if (S_ISREG(s.mode)) {
        auto key = std::make_pair(s.dev, s.ino);
        auto it = content_by_inode.find(key);
        if (it == content_by_inode.end()) {
          auto content = mydocker::ReadFile(sys_, path, "image digest: read");
          if (!content) {
            *error = content.error().Message();
            return false;
          }
          uint64_t saved = h;
          h = 1469598103934665603ull;
          mix(content->data(), content->size());
          it = content_by_inode.emplace(key, h).first;
          h = saved;
        }
        mix(&it->second, sizeof it->second);
      } else if (S_ISDIR(s.mode)) {
        if (!walk(path, r)) return false;
      }
    }
    return true;
  };
  auto top = sys_.Lstat(image_rootfs());
  if (!top.ok()) {
    *error = ErrnoText("lstat " + image_rootfs(), top.err);
    return "";
  }
  mix_str(std::to_string(top.value.mode));
  if (!walk(image_rootfs(), "")) return "";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%016llx/%zu", static_cast<unsigned long long>(h), entries);
  return buf;
}

// ---- fixture -------------------------------------------------------------------

void PrivilegedTest::SetUp() {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  env_ = &PrivilegedEnv::Get();
  ASSERT_TRUE(env_->ok()) << env_->error();
}

void PrivilegedTest::ExpectHostAsBefore(const Snapshot& before, const std::string& what) {
  Snapshot after = env_->TakeSnapshot();
  auto diffs = Compare(before, after);
  EXPECT_TRUE(diffs.empty()) << what << ": the host is not as before: " << Describe(diffs);
  std::string err;
  EXPECT_EQ(env_->ImageDigest(&err), env_->image_digest_at_start())
      << what << ": the image layer changed " << err;
}

}  // namespace faultline
