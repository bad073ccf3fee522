// The shared environment of the privileged tests: a private mount namespace,
// a per-run scratch root with the busybox image imported, a per-run cgroup
// parent, and a helper that runs the mydocker binary.
//
// Lifetime: built lazily by the first PrivilegedEnv::Get() of a test process
// (ctest runs every TEST in its own process, so in practice once per test),
// torn down by a gtest Environment at the end of the process. Tests that
// never call Get() pay nothing.
//
// Get() does, once:
//   1. unshare(CLONE_NEWNS) and mount("", "/", MS_REC|MS_PRIVATE) in the test
//      process: every mount made by the tests, and by the mydocker binaries
//      they start (which inherit the namespace), is private, invisible to
//      the host and gone with the process, yet visible to the probes while
//      it lives;
//   2. mkdtemp /tmp/faultline-priv-XXXXXX (the scratch dir); the mydocker
//      root is <scratch>/root;
//   3. the cgroup parent "faultline-test-<pid>";
//   4. ci/build-image into <build>/tests/privileged-busybox.tar (built once
//      per build directory, written under a temporary name and renamed, so
//      parallel processes never see half a tar), then `mydocker image import`
//      as "busybox";
//   5. one warm-up `run busybox true`, which creates <root>/containers and
//      the cgroup parent in each hierarchy, so that a snapshot taken before
//      a test's first run is the state every run must return to;
//   6. the digest of the image rootfs (ImageDigest), the reference for
//      "the image layer is byte for byte unchanged".
// At the end of the process: processes left in the per-run cgroup (only
// ours can be there) are SIGKILLed, the cgroup parent is removed from every
// hierarchy (children first), mounts under the scratch dir are detached, the
// scratch dir is removed; then both are checked gone (a gtest failure if
// not).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "harness/probes/probes.h"
#include "runtime/sys/linux_sys.h"

namespace faultline {

// The busybox tar of ci/build-image, built once per build directory (under
// a temporary name, then renamed: parallel processes never see half a tar);
// "" with *error set when it cannot be built.
std::string PrivilegedImageTar(std::string* error);

// What a finished command did.
struct CommandResult {
  int exit_code = -1;     // exit status, or 128+signal; -1: could not start
  std::string out, err;   // everything it wrote to stdout / stderr
  bool timed_out = false; // killed by the helper's timeout (SIGKILL)
  double seconds = 0;     // wall time from spawn to reap
  std::string Describe() const;  // "exit 2 after 0.1 s; stdout: ...; stderr: ..."
};

// A started command whose stdout and stderr go to pipes.
class Spawned {
 public:
  Spawned() = default;
  Spawned(const Spawned&) = delete;
  Spawned& operator=(const Spawned&) = delete;
  Spawned(Spawned&& o) noexcept { *this = std::move(o); }
  Spawned& operator=(Spawned&& o) noexcept;
  // A command that is neither waited for nor killed is SIGKILLed and reaped.
  ~Spawned();

  pid_t pid() const { return pid_; }
  bool started() const { return pid_ > 0; }

  // Reads its output until it exits (then drains what is left for a moment:
  // a grandchild may hold the pipes), or until timeout, when it (only this
  // pid) is SIGKILLed. Reaps it. Call once.
  CommandResult Wait(std::chrono::milliseconds timeout);

 private:
  friend Spawned Spawn(const std::vector<std::string>& argv);
  pid_t pid_ = -1;
  int out_fd_ = -1, err_fd_ = -1;
  std::chrono::steady_clock::time_point start_;
  std::string spawn_error_;
};

// fork + execv(argv[0]) with stdin /dev/null, stdout and stderr piped, and
// PR_SET_PDEATHSIG SIGKILL (the command never outlives the test). On
// failure, started() is false and Wait returns exit_code -1 with the reason
// in err.
Spawned Spawn(const std::vector<std::string>& argv);
CommandResult RunCommand(const std::vector<std::string>& argv,
                         std::chrono::milliseconds timeout = std::chrono::seconds(30));

class PrivilegedEnv {
 public:
  // The process's environment, built on first use; check ok() (a test
  // should ASSERT_TRUE(env.ok()) << env.error()).
  static PrivilegedEnv& Get();
  // Called by the gtest Environment at process end; see the file comment.
  // Returns what could not be cleaned (empty when the host is clean).
  static std::vector<std::string> TearDownIfBuilt();

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }

  const std::string& scratch() const { return scratch_; }  // mkdtemp dir
  const std::string& root() const { return root_; }        // mydocker --root
  const std::string& cgroup_parent() const { return cgroup_parent_; }
  static constexpr const char* kImage = "busybox";
  std::string image_rootfs() const { return root_ + "/images/busybox/rootfs"; }
  std::string mydocker_path() const;
  mydocker::LinuxSys& sys() { return sys_; }

  // `mydocker --root <root> --cgroup-parent <parent> args...`.
  std::vector<std::string> MydockerArgv(const std::vector<std::string>& args) const;
  CommandResult Mydocker(const std::vector<std::string>& args,
                         std::chrono::milliseconds timeout = std::chrono::seconds(30));
  Spawned SpawnMydocker(const std::vector<std::string>& args);

  // The probe scope of a run: the scratch dir (image rootfs pruned: see
  // ImageDigest), the cgroup parent, holders and fds.
  ProbeScope Scope() const;
  Snapshot TakeSnapshot() { return faultline::TakeSnapshot(sys_, Scope()); }

  // A digest of every entry under the image rootfs: relative path, type,
  // mode, uid, gid, size, symlink target, content (FNV-1a 64, once per
  // inode: busybox is hundreds of hardlinks). "" + *error on a read error.
  std::string ImageDigest(std::string* error) const;
  const std::string& image_digest_at_start() const { return image_digest_; }

 private:
  PrivilegedEnv() = default;
  void Build();
  std::vector<std::string> TearDown();
  // Every cgroup hierarchy root mounted (v1 and v2), one per hierarchy.
  std::vector<std::string> CgroupRoots(std::string* error) const;

  mutable mydocker::LinuxSys sys_;
  std::string error_;
  std::string scratch_, root_, cgroup_parent_, image_digest_;
};

// Base fixture: skips without root, fails when the environment could not be
// built. expect_clean(before) is the per-test leak check.
class PrivilegedTest : public ::testing::Test {
 protected:
  void SetUp() override;
  PrivilegedEnv& env() { return *env_; }

  // Takes the after snapshot and expects no probe difference and the image
  // layer unchanged. what names the step in failure messages.
  void ExpectHostAsBefore(const Snapshot& before, const std::string& what);

 private:
  PrivilegedEnv* env_ = nullptr;
};

}  // namespace faultline
