// OCI bundles for runc and crun: config.json by the runtime-spec (1.0),
// over an overlay workspace the harness owns (runtime/workspace's
// Workspace::Create, the same layer roles mydocker uses).
//
// The config mirrors what mydocker gives its containers, so the same checks
// mean the same on every runtime: root user with every capability, new pid,
// network, ipc, uts and mount namespaces, /proc, /sys (ro), a tmpfs /dev
// with pts, shm and mqueue, bind volumes, the cgroup limits, and always a
// cgroupsPath ("/<cgroup_parent>/<id>": the runtime creates it under every
// hierarchy it manages).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/cgroups/cgroups.h"
#include <optional>

#include "runtime/rootfs/hardening.h"
#include "runtime/rootfs/init.h"
#include "runtime/sys/sys.h"
#include "runtime/util/error.h"
#include "runtime/workspace/workspace.h"

namespace faultline {

struct OciSpecInput {
  std::vector<std::string> argv;
  std::vector<std::string> env;  // KEY=VAL; PATH is added when missing
  std::string hostname;
  std::string rootfs;            // absolute path of the merged directory
  std::string cgroups_path;      // "/faultline-123/<id>"
  mydocker::CgroupLimits limits;
  std::vector<mydocker::Volume> volumes;
  // Capabilities the caller may grant (its CapBnd): bit N = capability N.
  // Asking for one outside the caller's bounding set fails the start
  // ("unable to apply caps", "capset: EPERM").
  uint64_t cap_bounding = ~0ull;
  // What mydocker does by default (runtime/rootfs/hardening.h), in OCI
  // terms: docker's capability set (bounding, effective, permitted; nothing
  // inheritable or ambient), noNewPrivileges, docker's seccomp profile
  // (linux.seccomp; unset: unconfined), masked and read-only paths.
  uint64_t caps = 0;  // 0: mydocker::DockerDefaultCaps()
  bool no_new_privs = true;
  std::optional<mydocker::SeccompRules> seccomp;
};

// The CapBnd mask of the calling process (/proc/self/status); ~0 if unknown.
uint64_t SelfCapBounding();

// linux.seccomp of config.json for rules (pure).
nlohmann::json OciSeccomp(const mydocker::SeccompRules& rules);

// config.json (pure; unit-tested).
nlohmann::json BuildOciConfig(const OciSpecInput& in);

// A bundle: <dir>/config.json with root.path = the workspace's merged dir,
// <dir> the workspace's directory too (init/, upper/, work/, merged/).
struct Bundle {
  std::string dir;
  mydocker::WorkspacePaths paths;
};

// Creates <dir> (must not exist), the workspace over layer, and config.json.
// A failure removes what was made and names the step.
mydocker::Expected<Bundle> CreateBundle(mydocker::Sys& sys, const std::string& dir,
                                        const std::string& layer, OciSpecInput in);

// Unmounts and removes the workspace, then <dir>. Idempotent.
mydocker::Outcome DestroyBundle(mydocker::Sys& sys, const std::string& dir);

// crun 1.8 refuses a hybrid cgroup layout whose v2 mount still has a
// controller enabled. When /sys/fs/cgroup/unified/cgroup.controllers is not
// empty, this writes an empty file at empty_file and bind-mounts it over
// the controllers file. Call it only inside a private mount namespace (the
// bind must never reach the host). *hidden says what was hidden ("" when
// nothing was).
mydocker::Outcome HideUnifiedControllers(mydocker::Sys& sys, const std::string& empty_file,
                                         std::string* hidden);

}  // namespace faultline
