// Shared pieces of the faultline benchmarks (bench/*_bench.cc).
//
// Safety contract, the same for every benchmark binary:
//  * EnterPrivateMountNamespace() runs first: unshare(CLONE_NEWNS), then "/"
//    made recursively private, so every mount a benchmark makes lives in a
//    namespace that vanishes with the process and never propagates to the host.
//  * Scratch files live under one mkdtemp dir below /tmp (Scratch), removed at
//    exit without crossing into another filesystem.
//  * Cgroups live under one per-run parent (CgroupParentName()) in every
//    hierarchy; RemoveCgroupTree removes it at exit.
//  * Only pids the benchmark spawned itself are waited for or killed.
// A binary whose host check finds a leftover exits non-zero.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "runtime/sys/linux_sys.h"
#include "runtime/util/error.h"

namespace faultline::bench {

// True when FAULTLINE_BENCH_SMOKE=1 (the ctest smoke run): benchmarks shrink
// their argument sets so that `ctest -L bench` stays short.
bool Smoke();
// FAULTLINE_BENCH_ITERATIONS=N: a fixed iteration count per run (used with
// --benchmark_repetitions for medians of single runs); 0 when unset.
int FixedIterations();
// Applies FixedIterations() to b when set; returns b.
benchmark::internal::Benchmark* Configure(benchmark::internal::Benchmark* b);

// unshare(CLONE_NEWNS) + mount("", "/", MS_REC|MS_PRIVATE). Returns the
// error naming the step and errno; callers exit on failure.
mydocker::Outcome EnterPrivateMountNamespace();

// A per-run scratch directory, mkdtemp("/tmp/faultline-bench.XXXXXX").
class Scratch {
 public:
  static mydocker::Expected<Scratch> Create();
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }
  // Removes the tree (mydocker::RemoveTree: never crosses a mount point;
  // callers unmount what they mounted first), then checks it is gone
  // (EEXIST "host check: scratch left" otherwise).
  mydocker::Outcome Remove();

 private:
  explicit Scratch(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// Mounts a tmpfs at dir (created if missing); the mount dies with the
// private namespace, Unmount removes it earlier.
mydocker::Outcome MountTmpfs(const std::string& dir);
mydocker::Outcome Unmount(const std::string& dir);

// mkdir(path, mode); EEXIST is an error.
mydocker::Outcome MakeDir(const std::string& path, mode_t mode);
// Creates path (O_EXCL, 0644) holding content.
mydocker::Outcome WriteNewFile(const std::string& path, const std::string& content);
// The benches' image layers: base/<i> for i < count, each with only-<i>
// (the file no other layer has), shared (shadowed by the layers above) and
// d/f<i> (a directory merged across layers); appends each layer's path.
// The names in dir, without . and ..
mydocker::Expected<std::vector<std::string>> DirNames(const std::string& dir);

// cp -a of src to dst (which must not exist): directories, regular files
// (copy_file_range), symlinks; hardlinks kept as hardlinks (links: inode ->
// first copy); mode and owner kept.
mydocker::Outcome CopyTree(const std::string& src, const std::string& dst,
                           std::map<ino_t, std::string>& links);
mydocker::Outcome MakeLayers(const std::string& base, int count, std::vector<std::string>* out);

// Monotonic clock in nanoseconds.
inline int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Runs cycle `rounds` times and returns the median duration in ns. A cycle
// that returns an error stops the calibration and returns it.
mydocker::Expected<double> MedianNs(int rounds,
                                    const std::function<mydocker::Outcome()>& cycle);

// "faultline-bench-<pid>": the per-run cgroup parent (one path component).
std::string CgroupParentName();
// Every mount point of a cgroup or cgroup2 filesystem (from mountinfo).
std::vector<std::string> CgroupMounts();
// The first cgroup2 mount point ("/sys/fs/cgroup/unified" on a hybrid
// host), or "" when there is none.
std::string Cgroup2Mount();
// Removes <mount>/<name> and every cgroup below it, deepest first, in every
// cgroup mount; a missing directory is fine. Returns the first failure.
mydocker::Outcome RemoveCgroupTree(const std::string& name);
// Paths of <mount>/<name> that still exist (host check).
std::vector<std::string> LeftoverCgroups(const std::string& name);

// The busybox image: ci/build-image writes the tar into scratch (once per
// scratch; later calls reuse it), then the
// in-process image store imports it as `name` under store_root (the layout
// `mydocker --root store_root` reads). Returns the image's rootfs path.
mydocker::Expected<std::string> ImportBusybox(const Scratch& scratch,
                                              const std::string& store_root,
                                              const std::string& name);

// Spawns argv (argv[0] an absolute path) with stdin/stdout from /dev/null and
// stderr to the given fd (-1: /dev/null), waits for it and returns the raw
// wait status. Only the spawned pid is ever waited for.
mydocker::Expected<int> SpawnAndWait(const std::vector<std::string>& argv,
                                     int stderr_fd = -1);
// The first `max` bytes of a file, for error messages ("" when unreadable).
std::string Head(const std::string& path, size_t max = 2000);
// Absolute path of an executable found in PATH, or "".
std::string FindInPath(const std::string& name);

// Records a real failure (not a documented skip); main returns non-zero
// when any was recorded.
// `what` names the benchmark case in the message printed to stderr.
void RecordFailure(benchmark::State& state, const std::string& what,
                   const std::string& message);
int FailureCount();

// Common main: parses Google Benchmark flags, enters the private mount
// namespace, runs setup (which registers benchmarks), runs them, runs
// teardown and returns the exit status (non-zero after a failure, a setup
// error or a host leftover reported by teardown).
int BenchMain(int argc, char** argv, const std::function<mydocker::Outcome()>& setup,
              const std::function<mydocker::Outcome()>& teardown);

}  // namespace faultline::bench
