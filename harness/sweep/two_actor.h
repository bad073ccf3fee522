// The two-actor sweep on FakeKernel (issue 15; rules in docs/sweeps.md,
// "Two actors").
//
// Run A is the workload's `mydocker run` (the in-process core, as the
// one-actor fake sweep runs it, no faults). Its clean run makes N calls
// (the runtime's and its init's, in order). For every k in 1..N and every
// second actor, one interleaving on a fresh copy of the prepared world
// (harness/sweep/common.h: PrepareFakeSweepWorld, the one-actor sweep's
// world):
//   1. A runs until its k-th call and is held there (a SysWrapper above its
//      Sys: FakeKernel is single-threaded, so "held" is "the second actor
//      runs nested in that call");
//   2. what A holds is read from the kernel (the store lock, its container's
//      lock, its container directory, members of its cgroup): the state
//      that decides which outcome the second actor may have;
//   3. the second actor runs to its end as another process of the host
//      (FakeKernel::StartHostProcess): `gc`, `rm -f A`, `run` (B: the same
//      image and workload, another id) or `image rm` of A's image, through
//      a fresh Runtime on the same kernel; then that process exits;
//   4. A's call proceeds and A runs to its end; its process ends;
//   5. the probes against the prepared world (mounts, holders, dirs,
//      cgroups, processes, outside; A's and the second actor's fds), and
//      `gc` and the probes again where the one-actor rules say so (A's
//      error said "mydocker gc").
// An interleaving passes when the second actor's outcome is exactly the
// one the documentation allows in the state of step 2, A's outcome is
// the clean run's or exactly one the second actor explains (its init
// killed by rm -f; its image removed before it looked it up), and nothing
// is left.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/sweep/backend.h"
#include "runtime/container/runtime.h"

namespace faultline {

enum class SecondActor : uint8_t { kGc, kRmForce, kRun, kImageRm };
// "gc", "rm-f", "run", "image-rm".
const char* SecondActorName(SecondActor a);
bool SecondActorFromName(const std::string& name, SecondActor* a);
std::vector<SecondActor> AllSecondActors();
// "gc,rm-f" "all": comma-separated, also given repeatedly; errors name the
// bad item.
mydocker::Expected<std::vector<SecondActor>> ParseSecondActors(
    const std::vector<std::string>& items);

struct TwoActorConfig {
  SweepWorkload workload;
  std::vector<SecondActor> actors = AllSecondActors();
  FakeKernelOptions kernel;
  // Only this point (1-based, A's clean-run call number).
  std::optional<size_t> only_point;
  // Interleavings at once (threads, each on its own copy of the world);
  // 0: one per core, at most 8.
  size_t max_parallel = 0;
  // Wraps the kernel for A's and the second actor's runtimes (a test
  // double: a mutant kernel or runtime). Null: none.
  std::function<std::unique_ptr<mydocker::Sys>(mydocker::Sys& kernel)> wrap;
  std::string replay_prefix = "faultline sweep --backend fake";
  bool verbose = false;
};

// What A held when it was held at its call k (read from the kernel).
struct HeldState {
  bool store_lock = false;      // <root>/containers.lock is flocked
  bool container_lock = false;  // <root>/containers/<A>/lock is flocked
  bool container_dir = false;   // <root>/containers/<A> exists
  bool init_in_cgroup = false;  // A's cgroup has members
  std::string Text() const;     // "store-lock container-dir ..." or "nothing"
};

struct TwoActorResult {
  size_t point = 0;       // k, 1-based
  std::string point_id;   // PointId of A's k-th call ("runtime:flock#1@state")
  std::string process;    // "runtime" / "init"
  std::string op, args;   // A's k-th call in the clean run
  SecondActor actor = SecondActor::kGc;
  HeldState held;
  bool hold_fired = false;     // A reached call k
  std::string allowed;         // the allowed outcome's name (docs/sweeps.md)
  std::string second_outcome;  // what the second actor did, printable
  std::string a_outcome;       // "exit 0", "exit 137", "error: <message>"
  std::string a_allowed;       // "as-clean-run", "killed-by-rm-f", "image-gone"
  std::string left;            // Describe(probe diffs after A's end)
  std::string left_after_gc;
  bool gc_ran = false;
  bool passed = false;
  std::vector<std::string> failures;
  std::string replay;
  // Kernel and seccomp backends: the second actor was still running when A
  // was released (builtin: it waited for the lock named in waited_on).
  bool waited = false;
  std::string waited_on;
};

struct TwoActorReport {
  std::string workload;
  std::string backend = "fake";  // "fake", "kernel", "seccomp/<runtime>"
  size_t points = 0;         // A's clean-run calls
  size_t planned = 0;        // points x actors of the unsharded sweep
  std::string shard;         // "K/N" when sharded
  size_t interleavings = 0;  // points x actors (or 1 x actors with only_point)
  size_t passed = 0, failed = 0;
  std::vector<std::string> actors;
  std::vector<TwoActorResult> results;  // point-major, then actor order
  // "<actor> <allowed>" -> interleavings; and A's outcomes "<actor> a:<name>".
  std::map<std::string, size_t> outcomes;
  std::vector<std::string> errors;  // the sweep could not run
  double seconds = 0;
  bool ok() const { return errors.empty() && failed == 0; }
  nlohmann::json ToJson() const;
};

// Never throws.
TwoActorReport RunTwoActorSweep(const TwoActorConfig& config);

// The outcome rules both the fake and the kernel two-actor sweeps check
// (docs/sweeps.md, "Allowed outcomes"). root and cgroup_parent: the store
// root and the cgroup parent of A's and the second actor's runtime.
//
// What a mydocker second actor did.
struct SecondActorRun {
  bool returned_error = false;
  mydocker::Error error;
  mydocker::GcReport gc;         // gc
  mydocker::RunResult run;       // run
  std::vector<pid_t> a_members;  // A's cgroup members right after it
  // False when A ran on while the second actor did (it waited for a lock
  // A held, kernel backend): its cgroup then proves nothing.
  bool a_members_known = true;
  std::vector<ProbeDiff> fds;    // its process's fds, before vs after
  std::string Text(SecondActor a) const;
};
// Runs the actor to its end through a fresh Runtime on sys (B's id
// 5ee900000002, rm_wait_ms 0).
SecondActorRun RunMydockerSecondActor(mydocker::Sys& sys, SecondActor a,
                                      const mydocker::RunSpec& spec, const std::string& root,
                                      const std::string& cgroup_parent);
// The argv the actor is, for reports ("mydocker rm -f 5ee900000001").
std::vector<std::string> SecondActorArgv(SecondActor a, const mydocker::RunSpec& spec);
// The allowed outcome's name for the actor while A holds h; "" when none is.
std::string TwoActorAllowed(SecondActor a, const HeldState& h);
// "" when b is exactly the allowed outcome, else what is wrong.
std::string CheckSecondActor(SecondActor a, const std::string& allowed, const SecondActorRun& b,
                             const std::string& root);
// The name of A's allowed outcome ("as-clean-run", "killed-by-rm-f",
// "image-gone"), or "" when A's outcome is none the actor explains.
std::string AOutcomeAllowed(SecondActor actor, const std::string& allowed, bool init_in_cgroup,
                            const SweepRun& a, int clean_exit, const std::string& root,
                            const std::string& cgroup_parent);

// The summary, the outcome counts and the first `max` failed interleavings
// (each with its failures and replay), one per line.
std::string TwoActorText(const TwoActorReport& report, size_t max);

}  // namespace faultline
