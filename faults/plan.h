// Fault plans: one language for the in-process FaultInjectingSys and the
// seccomp supervisor. A plan is a list of rules; for every call the plan is
// asked once (Decide) and answers with the action of the first rule that
// fires, or none.
//
// A rule:
//   match  which calls count: a set of ops (Sys op names such as "mount",
//          "umount2", "open" -- mydocker::OpName -- or, for seccomp, syscall
//          names), a glob on the primary path (fnmatch without FNM_PATHNAME:
//          '*' also matches '/'), a glob on the second path, an fstype, flag
//          bits that must all be set, a pid. Empty fields match anything.
//   when   which matching calls fire. n is the 1-based number of the call
//          among the calls this rule matched (one counter per rule for the
//          whole run: with no op filter that is the run's call sequence), or,
//          with counter per_op, among the matched calls of the same op.
//            nth N          n == N (once) / n >= N (persistent: from then on)
//            range a..b/s   a <= n <= b (b 0: no end) and (n - a) % s == 0
//            probability p  a coin seeded by (seed, rule index, n): the same
//                           plan fires on the same calls in every run
//            always         every matching call
//   action fail(errno) | lie (report success, do nothing) | delay(ms, then
//          do the call) | crash (the runtime dies right there) | pause
//          (hold the call, not yet executed, until the harness releases it
//          or pause_ms pass (default kDefaultPauseMs), then do the call: how
//          the hold and the release travel is the backend's, see
//          FaultInjectingSys::set_pauser and docs/sweeps.md "Two actors") |
//          short (a read or write transfers fewer bytes than asked: half,
//          at least one, as a pipe, a socket, a proc file or a full disk
//          may; only read and write calls through FaultInjectingSys: other
//          calls run as they would)
//   times  once (transient: fires at most once) | persistent (every call
//          `when` selects) | persistent_path (fires on the call `when`
//          selects, then on every later matching call on the same object:
//          the same path, or for a path under /sys/fs/cgroup the same cgroup
//          directory (ObjectKey); other matching calls run: a stuck cgroup,
//          a directory that stays busy, while the rest of the disk works)
// Every matching rule counts every call it matches, whether or not an
// earlier rule fired, so a rule's counters do not depend on other rules.
// The counters live in memory shared across fork and clone (MAP_SHARED |
// MAP_ANONYMOUS, made with the plan, atomics): a runtime and the init it
// cloned count on the same counters, so a `once` rule fires once in the
// whole process tree (FakeKernel, one address space, sees the same). A copy
// of a plan (C++ copy) gets counters of its own, with the same values.
//
// Text forms:
//   YAML or JSON (yaml-cpp reads both):
//     rules:                         # or a top-level sequence of rules
//       - match: {op: [mount, umount2], path: "/var/lib/mydocker/*",
//                 fstype: overlay, flags: 0x1000, pid: 7}
//         when: {nth: 3, counter: per_op}   # or {first: 2, last: 9, step: 2}
//                                           # or {probability: 0.1, seed: 42}
//         action: {fail: EBUSY}             # or lie | crash | short | {delay_ms: 50}
//                                           # or pause | {pause_ms: 5000}
//         times: once                       # once | transient | persistent
//   compact, one line, for replay commands; rules separated by ';':
//     op=mount|umount2,path=/var/*,nth=3,errno=EBUSY,mode=transient
//     keys: op (alternatives joined by '|'), path, path2, fstype, flags
//     (decimal or 0x hex), pid, nth | first,last,step | prob,seed, counter
//     (global|per_op), action (fail|lie|delay|crash|pause|short; kill = crash),
//     errno (name or number; implies fail), delay_ms (implies delay), pause_ms
//     (implies pause: the longest hold), mode
//     (transient|once|persistent|persistent-path). In values, '%' ',' ';' '=' are written
//     %25 %2C %3B %3D. ToString() prints this form and Parse() reads it back
//     to an equal plan.
// Parse errors are mydocker::Error with step "fault plan", path = the field
// ("rules[1].when.nth" or "rule 2: nth") and a detail saying what is wrong.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/util/error.h"

namespace YAML {
class Node;
}

namespace faultline {

// "EBUSY" for 16; "E999" for an unknown number.
std::string ErrnoToName(int err);
// "EBUSY" or "16" -> 16. False for an unknown name.
bool ErrnoFromName(std::string_view name, int* err);

// One call as the plan sees it. The views must stay valid during Decide.
struct CallInfo {
  std::string_view op;      // "mount", "open", ... or a syscall name
  std::string_view path;    // primary path argument ("" when none)
  std::string_view path2;   // second path (mount source, rename target, ...)
  std::string_view fstype;  // mount/fsopen fstype ("" otherwise)
  uint64_t flags = 0;       // the call's flags argument (mount flags, ...)
  pid_t pid = 0;            // calling process (0: unknown)
};

enum class ActionKind : uint8_t { kNone, kFail, kLie, kDelay, kCrash, kPause, kShort };
// "none", "fail", "lie", "delay", "crash", "pause", "short".
const char* ActionName(ActionKind kind);

// A pause without pause_ms holds at most this long: nothing waits forever
// for a harness that died.
constexpr int kDefaultPauseMs = 30000;

struct Action {
  ActionKind kind = ActionKind::kNone;
  int err = 0;       // kFail: the errno
  int delay_ms = 0;  // kDelay
  int pause_ms = 0;  // kPause: the longest hold (0: kDefaultPauseMs)
  bool operator==(const Action&) const = default;
  int PauseBoundMs() const { return pause_ms > 0 ? pause_ms : kDefaultPauseMs; }
};

enum class Times : uint8_t { kOnce, kPersistent, kPersistentPath };

// The object a path names for persistent_path: the path itself; under
// /sys/fs/cgroup/ the cgroup directory: for mkdir/mkdirat/rmdir the path,
// for other ops (open, unlink, ...) of a control file (the last component
// has a '.' or is "tasks") its directory.
std::string ObjectKey(std::string_view op, std::string_view path);
enum class CounterScope : uint8_t { kGlobal, kPerOp };

struct Match {
  std::vector<std::string> ops;  // empty: every op
  std::string path;              // glob; empty: any
  std::string path2;             // glob; empty: any
  std::string fstype;            // exact; empty: any
  uint64_t flags = 0;            // bits that must all be set
  std::optional<pid_t> pid;
  bool operator==(const Match&) const = default;
};

struct When {
  enum class Kind : uint8_t { kAlways, kNth, kRange, kProbability };
  Kind kind = Kind::kAlways;
  uint64_t nth = 0;
  uint64_t first = 1, last = 0, step = 1;  // kRange; last 0: no end
  double probability = 0;                  // kProbability
  uint64_t seed = 0;
  CounterScope counter = CounterScope::kGlobal;
  bool operator==(const When&) const = default;
};

struct Rule {
  Match match;
  When when;
  Action action;
  Times times = Times::kOnce;
  bool operator==(const Rule&) const = default;
};

struct Decision {
  Action action;  // kind kNone: no fault
  int rule = -1;  // index of the rule that fired
  bool fired() const { return action.kind != ActionKind::kNone; }
};

class FaultPlan {
 public:
  FaultPlan() = default;
  explicit FaultPlan(std::vector<Rule> rules);

  // YAML or JSON text.
  static mydocker::Expected<FaultPlan> FromYaml(const std::string& text);
  // An already parsed YAML node: a list of rules or {rules: [...]} (a
  // scenario's `faults:` section). Field names in errors start at "rules".
  static mydocker::Expected<FaultPlan> FromYamlNode(const YAML::Node& node);
  // A pause point (a steps scenario's `run: ... pause_at:`,
  // docs/scenarios.md "Steps"): one mapping with a rule's match keys (op,
  // ops, path, path2, fstype, flags) and when keys (nth, counter), plus
  // pause_ms; the plan is one rule that pauses once, at the nth matching
  // call (default the first). No pid (a step's runs have no role pids) and
  // no range or probability (a step holds one call). Errors name the field
  // as "<field>.<key>" (field: where the mapping is, "steps[0].pause_at").
  static mydocker::Expected<FaultPlan> PausePointFromYamlNode(const YAML::Node& node,
                                                              const std::string& field);
  // The compact one-line form.
  static mydocker::Expected<FaultPlan> FromCompact(const std::string& text);
  // Compact when the text is one line of key=value fields, else YAML/JSON.
  static mydocker::Expected<FaultPlan> Parse(const std::string& text);

  // The compact form; FromCompact(ToString()) equals this plan.
  std::string ToString() const;
  // JSON in the YAML schema above; FromYaml(ToJson()) equals this plan.
  std::string ToJson() const;

  // Counts the call against every matching rule and returns the action of
  // the first rule that fires (or none).
  Decision Decide(const CallInfo& call);
  // Forgets all counters (a fresh run).
  void Reset();

  const std::vector<Rule>& rules() const { return rules_; }
  bool empty() const { return rules_.empty(); }
  // How many calls rule i matched / fired on so far.
  uint64_t matched(size_t i) const;
  uint64_t fired(size_t i) const;

  bool operator==(const FaultPlan& o) const { return rules_ == o.rules_; }

 private:
  struct RuleCounters;  // plan.cc
  // One RuleCounters per rule in one shared anonymous mapping.
  class Counters {
   public:
    explicit Counters(size_t rules = 0);
    Counters(const Counters& o);
    Counters& operator=(const Counters& o);
    Counters(Counters&& o) noexcept;
    Counters& operator=(Counters&& o) noexcept;
    ~Counters();
    RuleCounters& at(size_t i) const;
    void Reset();

   private:
    void Release();
    RuleCounters* rules_ = nullptr;
    size_t n_ = 0;
  };
  std::vector<Rule> rules_;
  Counters counters_;
};

// Does rule.match accept the call? (Exposed for the seccomp supervisor,
// which filters syscalls before asking the plan.)
bool Matches(const Match& match, const CallInfo& call);

}  // namespace faultline
