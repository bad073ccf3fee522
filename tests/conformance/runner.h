// Runs a conformance script on Linux and on FakeKernel and compares the
// two step logs against tests/conformance/known_differences.yaml.
#pragma once

#include <string>
#include <vector>

#include "tests/conformance/conformance.h"

namespace faultline::conformance {

// The host's cgroup layout and the values both runs share (base and cg
// are filled per run by RunOnLinux's caller: NewRunParams).
struct Host {
  bool cgroup_v2 = false;  // cgroup2 at /sys/fs/cgroup
  bool has_v1 = false;     // v1 hierarchies (hybrid)
  std::string v2_root;     // where cgroup2 is mounted ("" if nowhere)
  std::vector<std::string> v2_controllers;
  std::string cpus, mems;
  std::string layout;  // "v2", "hybrid", "v1"
  // overlayfs takes layers by fd (FSCONFIG_SET_FD "lowerdir+", Linux 6.13):
  // probed with a directory fd of "/".
  bool overlay_layer_fds = false;
};
// Reads the layout from /proc/self/mountinfo and the root cgroups; "" on
// success, else why not.
std::string DetectHost(Host* h);

// A fresh scratch dir (mkdtemp under /tmp) and cgroup parent name.
std::string NewRunParams(const Host& h, Params* p);

struct Run {
  std::vector<StepResult> steps;
  std::string failure;  // the run itself went wrong (not a step result)
};

// In a forked child: unshare(CLONE_NEWNS), umask 022 (FakeKernel's default),
// fds >= 3 closed; the prologue (make / rprivate, tmpfs on base, readlink
// /proc/self) then the script. Waits up to 60 s (then SIGKILLs that child).
Run RunOnLinux(const Script& s, const Params& p);
// On a FakeKernel with the host's layout, in a CLONE_NEWNS child.
Run RunOnFake(const Script& s, const Params& p);
// After a Linux run: removes what is left (the scratch dir; cgroups named
// p.cg in any hierarchy, children first) and returns what had been left
// (empty: the host is as it was).
std::vector<std::string> CleanUpLinux(const Params& p);

struct KnownDifference {
  std::string script, step, linux, fake, why;
  std::string layout;  // "" any, else only on this layout
};
// Parses the file; "" on success, else the error.
std::string LoadKnownDifferences(const std::string& path, std::vector<KnownDifference>* out);

// Problems (empty when the runs agree, up to the listed differences, and
// every listed difference of this script on this layout showed).
std::vector<std::string> Compare(const std::string& script, const std::string& layout,
                                 const Run& linux_run, const Run& fake_run,
                                 const std::vector<KnownDifference>& known);

}  // namespace faultline::conformance
