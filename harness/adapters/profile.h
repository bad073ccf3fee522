// Runtime profiles: one declarative file per runtime the harness drives
// (scenarios/runtimes/NAME.yaml, or a peer profile ci/install-peers wrote).
// A new OCI runtime is one new file: no C++, no CMake edit.
//
//   kind: oci                       # oci (an OCI CLI: runc, crun, youki, ...) or mydocker
//   extends: runc                   # optional: start from that profile (its family)
//   binary: runc                    # a name (found in /usr/local/sbin, ..., /bin) or a path
//   version: "1.3.6"                # optional: pinned; else the first line of `binary --version`
//   global_args: [--root, "{root}"] # before every verb; {root} = the harness's state root
//   verbs: [create, start, state, kill, delete, run]   # or a mapping verb -> full argv
//   cleanup: [delete, -f, "{id}"]   # after a crash (global args go before it)
//   temp_paths: ["/tmp/crun.*"]     # what it may create outside {root}: DIR/PREFIX*
//   persistent_paths: ["{root}/.empty-directory"]   # what it keeps in {root} across
//                                   # containers by design: the dirs probe leaves out
//                                   # exactly these paths (ProbeScope::dirs_persistent);
//                                   # what is written below one, or beside it, still shows;
//                                   # "{root}/DIR/*": every name directly in DIR (a cache)
//   cgroup_managers: [cgroupfs, systemd]
//   not_found: ["does not exist"]   # stderr text of delete/state for "no such container"
//   hide_unified_controllers: true  # see oci_adapter.cc (crun 1.8 and a hybrid layout)
//   differences:                    # expected differences (scenario.h, ExpectedDifference)
//     regressions/missing-command: {difference: ..., reason: ..., versions: "<1.2", expect: {...}}
//     hostile/x: [{..., versions: "<1.1.15"}, {..., versions: ">=1.1.15", expect: {...}}]
//                                   # a list: the first whose versions hold is used
//
// In a verbs mapping the argv may use {binary}, {global_args} (expands to
// the global arguments), {root} and {id}; the default of verb V is
// [{binary}, {global_args}, V]. The harness appends the verb's operands.
//
// Search path (first hit wins; `extends` is resolved on the same path):
// the scenario root's runtimes/ directory (when running scenarios),
// $FAULTLINE_PROFILE_PATH (colon-separated directories), the source tree's
// scenarios/runtimes, then the peer profiles (PeerProfileDir()).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "harness/scenario/scenario.h"

namespace faultline {

struct RuntimeProfile {
  std::string name;                // the file's stem: "runc", "runc-1.3.6"
  std::string file;                // where it was read
  std::vector<std::string> files;  // the extends chain, this file first
  std::string kind = "oci";        // oci | mydocker | none (differences only: builtin, fake)
  std::string family;              // the last profile of the extends chain ("runc")
  std::string binary;              // as written
  std::string version;             // pinned, or "" (ask the binary: VersionLine)
  std::string source, changelog;   // peers: where it came from; its upstream changelog
  std::vector<std::string> global_args;
  std::vector<std::string> verb_names;  // the verbs it has
  std::map<std::string, std::vector<std::string>> verb_argv;  // mapped verbs only
  std::vector<std::string> cleanup = {"delete", "-f", "{id}"};
  std::vector<std::string> temp_paths;
  std::vector<std::string> persistent_paths;  // "{root}/NAME": kept by design, not listed itself
  std::vector<std::string> cgroup_managers = {"cgroupfs"};
  std::vector<std::string> not_found = {"does not exist", "not found", "No such file"};
  bool hide_unified_controllers = false;
  std::map<std::string, ExpectedDifference> differences;  // all versions: "NAME", "NAME#i"
  std::vector<ScenarioError> errors;  // bad difference entries (dropped), not fatal

  bool HasVerb(const std::string& verb) const;
  // The argv of `verb operands...`: binary (resolved), global args, verb
  // (or the mapped argv), then the operands; {root} and {id} substituted.
  std::vector<std::string> VerbArgv(const std::string& binary, const std::string& verb,
                                    const std::map<std::string, std::string>& vars,
                                    const std::vector<std::string>& operands) const;
  // The cleanup command after a crash: binary, global args, cleanup.
  std::vector<std::string> CleanupArgv(const std::string& binary,
                                       const std::map<std::string, std::string>& vars) const;
  // persistent_paths with {root} = root.
  std::vector<std::string> PersistentPaths(const std::string& root) const;
  // temp_paths outside {root}: {dir, name prefix} ("/tmp/crun.*" -> {"/tmp", "crun."}).
  std::vector<std::pair<std::string, std::string>> SharedTempPrefixes() const;
  // The same as the outside probe's globs to leave out ("/tmp/crun.*"): the
  // runtime's own temp files, probed by name elsewhere.
  std::vector<std::string> SharedTempGlobs() const;
  // The differences that hold for this version, by scenario: of a list, the
  // first whose versions hold ("": every scenario's first entry).
  std::map<std::string, ExpectedDifference> DifferencesFor(const std::string& version) const;
};

// The directory ci/install-peers writes profiles to: $FAULTLINE_PEERS_DIR/profiles,
// else ${XDG_CACHE_HOME:-$HOME/.cache}/faultline/peers/profiles.
std::string PeerProfileDir();

// The search path (see above); extra_first (e.g. <scenario root>/runtimes) first.
std::vector<std::string> ProfileSearchPath(const std::string& extra_first = "");

// Reads one profile file and its extends chain. nullopt with *error (file,
// line, column, field) when it or a profile it extends does not parse.
std::optional<RuntimeProfile> LoadProfileFile(const std::string& path,
                                              const std::vector<std::string>& search,
                                              ScenarioError* error);

// Finds NAME.yaml on the search path and loads it; nullopt with *error
// (message only, file empty) when there is none.
std::optional<RuntimeProfile> FindProfile(const std::string& name,
                                          const std::vector<std::string>& search,
                                          ScenarioError* error);

// Every profile file on the search path (the first of each name), sorted by name.
struct ProfileFile {
  std::string name, path;
};
std::vector<ProfileFile> ListProfiles(const std::vector<std::string>& search);

// Every profile on the search path that loads; the others' errors go to
// *errors (file:line:column: field: message).
std::vector<RuntimeProfile> LoadAllProfiles(const std::vector<std::string>& search,
                                            std::vector<std::string>* errors);

// The binary a profile runs: override if given, else a path as written,
// else a name found in the system directories; "" when not found.
std::string ResolveProfileBinary(const RuntimeProfile& p, const std::string& override_binary);

// The first line of `binary --version` (""  with *error when it fails).
std::string VersionLine(const std::string& binary, std::string* error);
// "1.3.6" of "runc version 1.3.6+ds1": the first dotted number.
std::string VersionNumber(const std::string& line);

// Does version satisfy constraints ("<1.2", ">=1.1.15,<1.3", "1.1.5")?
// Invalid constraints are false with *error set.
bool VersionMatches(const std::string& version, const std::string& constraints,
                    std::string* error);

}  // namespace faultline
