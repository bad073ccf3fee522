// Isolation checks: shell snippets that run inside the container (busybox
// sh) and validators that read what they printed, with facts the harness
// gathered outside (its own hostname, a SysV shm key it made, a tmpfs it
// mounted, the image layer's bytes).
//
// A scenario lists checks in expect.isolation; the harness then builds the
// container's command itself: every snippet in order, each section opened by
// a marker line "@@faultline-check NAME" and the whole closed by
// "@@faultline-end", so one container run serves every check. A check whose
// section is missing (the container died early) fails, never passes.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "runtime/cgroups/cgroups.h"

namespace faultline {

// What the validators compare with: filled in by the runner.
struct IsolationContext {
  std::string expected_hostname;
  std::string host_hostname_before;
  std::string host_hostname_after;
  mydocker::CgroupLimits limits;
  long long shm_key = 0;        // key of the host's segment (0: none made)
  bool shm_visible_on_host = false;  // the segment existed during the run
  std::string marker_source;    // source of a tmpfs mounted on the host only
  std::string scratch;          // the run's scratch directory
  std::string expected_cgroup;  // "/faultline-123/<id>": the path in /proc/self/cgroup
  // Image layer check: etc/passwd's digest before and after the run, and
  // whether a file the container created appeared in the layer.
  std::string passwd_digest_before;
  std::string passwd_digest_after;
  bool new_file_in_layer = false;
  // The container's write layer, when the adapter keeps it until after the
  // run ("" when it is gone): the written file must be there.
  std::string upper_dir;
  bool upper_has_write = false;
  // The caps check: the capability set the container should have (docker's
  // default with the scenario's cap_add / cap_drop).
  uint64_t expected_caps = 0;
};

// The command (sh -c SCRIPT) running the given checks. limits are the
// scenario's (the memory check allocates twice the memory limit).
std::vector<std::string> IsolationCommand(const std::vector<std::string>& checks,
                                          const mydocker::CgroupLimits& limits);

// Splits output into check name -> its section's text.
std::map<std::string, std::string> SplitSections(const std::string& output);

// "" when the check passed, else why it failed (with what was seen).
std::string ValidateIsolation(const std::string& check, const std::string& section,
                              const IsolationContext& ctx);

// What a check needs from the scenario ("" when satisfied): memory needs
// limits.memory, pids limits.pids, cpu limits.cpus, cpuset
// limits.cpuset_cpus, ipc setup.host_shm.
std::string IsolationRequirement(const std::string& check,
                                 const mydocker::CgroupLimits& limits, bool host_shm);

// The name of the file the image_layer check writes inside (/etc/<name>).
constexpr const char* kImageLayerNewFile = "faultline-new-file";

}  // namespace faultline
