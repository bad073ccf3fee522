// The two-actor sweep on the real kernel (issue 15; rules in docs/sweeps.md,
// "Two actors on the kernel and seccomp backends").
//
// Run A is the workload's run on a real backend, held at its call k by a
// `pause` fault action (faults/plan.h; the call waits, not yet executed,
// until the harness releases it):
//   kernel   mydocker's in-process core (builtin) through FaultInjectingSys
//            in the forked runtime process and its init (the pause channel
//            is a pair of pipes the init inherits across clone);
//   seccomp  a runtime binary (runc, crun, peers) under the seccomp
//            supervisor, which holds the notification and answers it after
//            the release, serving the tree's other calls meanwhile.
// For every k of A's clean run (or the points of a Shard: point k belongs
// to shard (k-1) mod N) and every second actor that applies to the runtime,
// one interleaving, each a backend Run with its own plan:
//   1. A runs until call k and is held (the backend's PauseHook runs);
//   2. what A holds is read from the host (builtin: the store lock and the
//      container lock with a non-blocking flock of the harness's own, the
//      container directory, members of A's cgroup; OCI: A's state
//      directory under --root, members of A's cgroup);
//   3. the second actor starts as its own process (builtin: a fork of the
//      harness running the core on LinuxSys: gc, rm -f A, run B, image rm;
//      OCI: `<runtime> delete --force A`, `<runtime> run --bundle <A's
//      bundle> B`) and runs to its end, or, builtin, until /proc/locks shows
//      it waiting for a lock A holds (it then ends after A's release); at
//      most second_timeout_seconds;
//   4. A is released and runs to its end;
//   5. the backend's probes (mounts, holders, dirs, cgroups, processes,
//      outside) against the prepared world, then its cleanup where the
//      one-actor rules say so (mydocker gc; runc/crun delete -f A and B).
// Outcomes are checked exactly as on FakeKernel (builtin: the same table,
// two_actor.h), and for runc/crun against the OCI table of docs/sweeps.md.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "harness/sweep/backend.h"
#include "harness/sweep/shard.h"
#include "harness/sweep/two_actor.h"

namespace faultline {

struct RealTwoActorConfig {
  std::string backend = "kernel";  // "kernel" (builtin) or "seccomp"
  SweepWorkload workload;
  // Empty: every actor that applies (builtin: gc, rm-f, run, image-rm;
  // OCI: rm-f = delete --force A, run = run B on A's bundle).
  std::vector<SecondActor> actors;
  KernelBackendOptions kernel;    // backend kernel (image_tar required)
  SeccompBackendOptions seccomp;  // backend seccomp (runtime, image_tar)
  std::optional<size_t> only_point;
  Shard shard;  // of the points
  int pause_ms = 30000;             // the pause action's bound
  int second_timeout_seconds = 20;  // the second actor's, while A is held and after
  std::string replay_prefix;        // "" -> from backend and runtime
  bool verbose = false;
};

// Never throws. The report's backend is "kernel" or "seccomp/<runtime>";
// points is A's clean-run calls, planned points x actors.
TwoActorReport RunRealTwoActorSweep(const RealTwoActorConfig& config);

// The actors that apply to a runtime kind ("builtin", "mydocker", "oci").
std::vector<SecondActor> ApplicableSecondActors(const std::string& kind);

}  // namespace faultline
