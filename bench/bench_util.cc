#include "bench/bench_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include <spdlog/spdlog.h>

#include "runtime/image/image_store.h"
#include "runtime/sys/fs_util.h"
#include "runtime/sys/mountinfo.h"

extern char** environ;

namespace faultline::bench {

using mydocker::Expected;
using mydocker::MakeError;
using mydocker::Outcome;

namespace {
std::atomic<int> g_failures{0};
}  // namespace

bool Smoke() {
  const char* v = std::getenv("FAULTLINE_BENCH_SMOKE");
  return v != nullptr && std::strcmp(v, "1") == 0;
}

int FixedIterations() {
  const char* v = std::getenv("FAULTLINE_BENCH_ITERATIONS");
  if (v == nullptr) return 0;
  int n = std::atoi(v);
  return n > 0 ? n : 0;
}

benchmark::internal::Benchmark* Configure(benchmark::internal::Benchmark* b) {
  if (int n = FixedIterations(); n > 0) b->Iterations(n);
  return b;
}

Outcome EnterPrivateMountNamespace() {
  if (unshare(CLONE_NEWNS) != 0) {
    return MakeError("bench: unshare mount namespace", "", errno);
  }
  if (mount("", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    return MakeError("bench: make / recursively private", "/", errno);
  }
  return Outcome::Ok();
}

Expected<Scratch> Scratch::Create() {
  char tmpl[] = "/tmp/faultline-bench.XXXXXX";
  if (mkdtemp(tmpl) == nullptr) {
    return MakeError("bench: create scratch", tmpl, errno);
  }
  return Scratch(tmpl);
}

Outcome Scratch::Remove() {
  mydocker::LinuxSys sys;
  MYDOCKER_TRY(mydocker::RemoveTree(sys, path_, "bench: remove scratch"));
  struct stat st;
  if (lstat(path_.c_str(), &st) == 0) return MakeError("host check: scratch left", path_, EEXIST);
  return Outcome::Ok();
}

Outcome MakeDir(const std::string& path, mode_t mode) {
  if (mkdir(path.c_str(), mode) != 0) return MakeError("bench: mkdir", path, errno);
  return Outcome::Ok();
}

Outcome WriteNewFile(const std::string& path, const std::string& content) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return MakeError("bench: create file", path, errno);
  ssize_t n = write(fd, content.data(), content.size());
  int err = errno;
  close(fd);
  if (n != static_cast<ssize_t>(content.size())) {
    return MakeError("bench: write file", path, n < 0 ? err : EIO);
  }
  return Outcome::Ok();
}

Outcome MakeLayers(const std::string& base, int count, std::vector<std::string>* out) {
  MYDOCKER_TRY(MakeDir(base, 0755));
  for (int i = 0; i < count; ++i) {
    const std::string l = base + "/" + std::to_string(i);
    MYDOCKER_TRY(MakeDir(l, 0755));
    MYDOCKER_TRY(MakeDir(l + "/d", 0755));
    MYDOCKER_TRY(WriteNewFile(l + "/only-" + std::to_string(i), std::string(64, 'a')));
    MYDOCKER_TRY(WriteNewFile(l + "/shared", "layer " + std::to_string(i) + "\n"));
    MYDOCKER_TRY(WriteNewFile(l + "/d/f" + std::to_string(i), "x\n"));
    out->push_back(l);
  }
  return Outcome::Ok();
}

Outcome MountTmpfs(const std::string& dir) {
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return MakeError("bench: create tmpfs mount point", dir, errno);
  }
  if (mount("tmpfs", dir.c_str(), "tmpfs", 0, "mode=0755,size=1g") != 0) {
    return MakeError("bench: mount tmpfs", dir, errno);
  }
  return Outcome::Ok();
}

Outcome Unmount(const std::string& dir) {
  if (umount2(dir.c_str(), 0) != 0) return MakeError("bench: unmount", dir, errno);
  return Outcome::Ok();
}

Expected<double> MedianNs(int rounds, const std::function<Outcome()>& cycle) {
  std::vector<int64_t> t;
  t.reserve(rounds);
  for (int i = 0; i < rounds; ++i) {
    int64_t start = NowNs();
    Outcome o = cycle();
    int64_t end = NowNs();
    if (!o) return o.error();
    t.push_back(end - start);
  }
  if (t.empty()) return MakeError("bench: median", "", EINVAL, "no rounds");
  std::sort(t.begin(), t.end());
  size_t n = t.size();
  return n % 2 ? double(t[n / 2]) : (t[n / 2 - 1] + t[n / 2]) / 2.0;
}

std::string CgroupParentName() {
  return "faultline-bench-" + std::to_string(getpid());
}

namespace {

// (mount point, fstype) of every cgroup/cgroup2 mount.
std::vector<std::pair<std::string, std::string>> CgroupMountsTyped() {
  std::vector<std::pair<std::string, std::string>> out;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  // Fields: id parent maj:min root mountpoint opts [optional...] - fstype src superopts
  while (std::getline(in, line)) {
    std::istringstream ss(line);
    std::string id, parent, dev, root, mnt, tok;
    ss >> id >> parent >> dev >> root >> mnt;
    while (ss >> tok && tok != "-") {
    }
    std::string fstype;
    ss >> fstype;
    if (fstype == "cgroup" || fstype == "cgroup2") out.emplace_back(mnt, fstype);
  }
  return out;
}

}  // namespace

std::vector<std::string> CgroupMounts() {
  std::vector<std::string> out;
  for (const auto& [mnt, type] : CgroupMountsTyped()) out.push_back(mnt);
  return out;
}

std::string Cgroup2Mount() {
  for (const auto& [mnt, type] : CgroupMountsTyped()) {
    if (type == "cgroup2") return mnt;
  }
  return "";
}

namespace {

Outcome RemoveCgroupDir(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) {
    if (errno == ENOENT) return Outcome::Ok();
    return MakeError("bench: list cgroup", dir, errno);
  }
  std::vector<std::string> subdirs;
  while (dirent* e = readdir(d)) {
    if (e->d_type != DT_DIR) continue;
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    subdirs.push_back(dir + "/" + e->d_name);
  }
  closedir(d);
  for (const auto& s : subdirs) MYDOCKER_TRY(RemoveCgroupDir(s));
  if (rmdir(dir.c_str()) != 0 && errno != ENOENT) {
    return MakeError("bench: remove cgroup", dir, errno);
  }
  return Outcome::Ok();
}

}  // namespace

Outcome RemoveCgroupTree(const std::string& name) {
  Outcome first;
  for (const auto& m : CgroupMounts()) {
    Outcome o = RemoveCgroupDir(m + "/" + name);
    if (!o && first) first = o;
  }
  return first;
}

std::vector<std::string> LeftoverCgroups(const std::string& name) {
  std::vector<std::string> out;
  for (const auto& m : CgroupMounts()) {
    struct stat st;
    std::string p = m + "/" + name;
    if (lstat(p.c_str(), &st) == 0) out.push_back(p);
  }
  return out;
}

Expected<int> SpawnAndWait(const std::vector<std::string>& argv, int stderr_fd) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  if (stderr_fd >= 0) {
    posix_spawn_file_actions_adddup2(&fa, stderr_fd, 2);
  } else {
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  }
  pid_t pid = 0;
  int rc = posix_spawn(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return MakeError("bench: spawn", argv[0], rc);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return MakeError("bench: wait", argv[0], errno);
  }
  return status;
}

std::string Head(const std::string& path, size_t max) {
  std::ifstream in(path);
  std::string s(max, '\0');
  in.read(s.data(), static_cast<std::streamsize>(max));
  s.resize(static_cast<size_t>(in.gcount()));
  return s;
}

std::string FindInPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string p = path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  std::istringstream ss(p);
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    if (dir.empty()) continue;
    std::string full = dir + "/" + name;
    if (access(full.c_str(), X_OK) == 0) return full;
  }
  return "";
}

Expected<std::string> ImportBusybox(const Scratch& scratch, const std::string& store_root,
                                    const std::string& name) {
  const std::string tar = scratch.Sub("busybox.tar");
  struct stat tar_st;
  if (lstat(tar.c_str(), &tar_st) != 0) {  // built once per scratch
    const std::string log = scratch.Sub("build-image.log");
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return MakeError("bench: open log", log, errno);
    auto st = SpawnAndWait({"/bin/bash", FAULTLINE_SOURCE_DIR "/ci/build-image", tar}, fd);
    close(fd);
    if (!st) return st.error();
    if (!WIFEXITED(*st) || WEXITSTATUS(*st) != 0) {
      return MakeError("bench: ci/build-image", tar, 0, Head(log));
    }
  }
  mydocker::LinuxSys sys;
  mydocker::ImageStore store(sys, store_root);
  auto info = store.Import(tar, name);
  if (!info) return info.error();
  return info->rootfs;
}

void RecordFailure(benchmark::State& state, const std::string& what,
                   const std::string& message) {
  ++g_failures;
  std::fprintf(stderr, "FAILED %s: %s\n", what.c_str(), message.c_str());
  state.SkipWithError(message.c_str());
}

int FailureCount() { return g_failures.load(); }

int BenchMain(int argc, char** argv, const std::function<Outcome()>& setup,
              const std::function<Outcome()>& teardown) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  spdlog::set_level(spdlog::level::warn);
  if (Outcome o = EnterPrivateMountNamespace(); !o) {
    std::fprintf(stderr, "%s\n", o.error().Message().c_str());
    return 1;
  }
  int rc = 0;
  if (Outcome o = setup(); !o) {
    std::fprintf(stderr, "setup: %s\n", o.error().Message().c_str());
    rc = 1;
  } else {
    benchmark::AddCustomContext("smoke", Smoke() ? "1" : "0");
    benchmark::RunSpecifiedBenchmarks();
  }
  if (Outcome o = teardown(); !o) {
    std::fprintf(stderr, "teardown: %s\n", o.error().Message().c_str());
    rc = 1;
  }
  benchmark::Shutdown();
  if (FailureCount() > 0) {
    std::fprintf(stderr, "%d benchmark(s) failed\n", FailureCount());
    rc = 1;
  }
  return rc;
}

// cp -a: directories, regular files (copy_file_range), symlinks; hardlinks
// kept as hardlinks; mode and owner kept.
mydocker::Expected<std::vector<std::string>> DirNames(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return mydocker::MakeError("copy: opendir", dir, errno);
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  closedir(d);
  return names;
}

mydocker::Outcome CopyTree(const std::string& src, const std::string& dst,
                 std::map<ino_t, std::string>& links) {
  struct stat st;
  if (lstat(src.c_str(), &st) != 0) return mydocker::MakeError("copy: lstat", src, errno);
  if (S_ISDIR(st.st_mode)) {
    if (mkdir(dst.c_str(), 0700) != 0) return mydocker::MakeError("copy: mkdir", dst, errno);
    auto names = DirNames(src);
    if (!names) return names.error();
    for (const auto& n : *names) MYDOCKER_TRY(CopyTree(src + "/" + n, dst + "/" + n, links));
    if (chmod(dst.c_str(), st.st_mode & 07777) != 0) return mydocker::MakeError("copy: chmod", dst, errno);
  } else if (S_ISLNK(st.st_mode)) {
    char buf[4096];
    ssize_t n = readlink(src.c_str(), buf, sizeof buf);
    if (n < 0) return mydocker::MakeError("copy: readlink", src, errno);
    if (symlink(std::string(buf, n).c_str(), dst.c_str()) != 0) {
      return mydocker::MakeError("copy: symlink", dst, errno);
    }
  } else if (S_ISREG(st.st_mode)) {
    if (st.st_nlink > 1) {
      auto it = links.find(st.st_ino);
      if (it != links.end()) {
        if (link(it->second.c_str(), dst.c_str()) != 0) return mydocker::MakeError("copy: link", dst, errno);
        return mydocker::Outcome::Ok();
      }
      links[st.st_ino] = dst;
    }
    int in = open(src.c_str(), O_RDONLY | O_CLOEXEC);
    if (in < 0) return mydocker::MakeError("copy: open", src, errno);
    int out = open(dst.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, st.st_mode & 07777);
    if (out < 0) {
      int err = errno;
      close(in);
      return mydocker::MakeError("copy: create", dst, err);
    }
    off_t left = st.st_size;
    mydocker::Outcome o;
    bool kernel_copy = true;  // copy_file_range, as cp does; EXDEV across filesystems
    char buf[65536];
    while (left > 0) {
      ssize_t n = -1;
      if (kernel_copy) {
        n = copy_file_range(in, nullptr, out, nullptr, left, 0);
        if (n < 0 && (errno == EXDEV || errno == EOPNOTSUPP || errno == ENOSYS)) {
          kernel_copy = false;
          continue;
        }
      } else {
        n = read(in, buf, std::min<off_t>(left, sizeof buf));
        if (n > 0 && write(out, buf, n) != n) n = -1;
      }
      if (n <= 0) {
        o = mydocker::MakeError("copy: copy data", dst, n < 0 ? errno : EIO);
        break;
      }
      left -= n;
    }
    if (o && fchmod(out, st.st_mode & 07777) != 0) o = mydocker::MakeError("copy: fchmod", dst, errno);
    close(in);
    close(out);
    if (!o) return o;
  } else {
    return mydocker::MakeError("copy: unsupported file type", src, EINVAL);
  }
  if (lchown(dst.c_str(), st.st_uid, st.st_gid) != 0) return mydocker::MakeError("copy: lchown", dst, errno);
  return mydocker::Outcome::Ok();
}

}  // namespace faultline::bench
