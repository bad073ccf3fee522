// The plan core: rules, matching, counters, decisions and the compact
// one-line form. The YAML/JSON front end is plan_yaml.cc.
#include "faults/plan.h"

#include <fnmatch.h>
#include <string.h>
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstdio>
#include <new>
#include <stdexcept>
#include <cmath>
#include <sstream>

#include "faults/plan_internal.h"

namespace faultline {
namespace plan_internal {

using mydocker::Error;
using mydocker::MakeError;

Error PlanError(const std::string& field, const std::string& detail) {
  return MakeError("fault plan", field, 0, detail);
}

bool ParseU64(std::string_view s, uint64_t* out) {
  if (s.empty()) return false;
  int base = 10;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    s.remove_prefix(2);
    base = 16;
  }
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out, base);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}
bool ParseDouble(std::string_view s, double* out) {
  if (s.empty()) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}
}  // namespace plan_internal

namespace {

using mydocker::Error;
using mydocker::Expected;
using namespace plan_internal;

std::string DoubleText(double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}
std::string Hex(uint64_t v) {
  char buf[32];
  snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

// splitmix64: the deterministic coin of probability rules.
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
double Coin(uint64_t seed, size_t rule, uint64_t n) {
  uint64_t h = Mix(Mix(seed) ^ Mix(rule * 0x100000001b3ULL + 1) ^ n);
  return static_cast<double>(h >> 11) / static_cast<double>(1ULL << 53);
}

bool GlobMatch(const std::string& glob, std::string_view s) {
  if (glob.empty()) return true;
  std::string str(s);
  return fnmatch(glob.c_str(), str.c_str(), 0) == 0;
}

// ---- compact form ----
std::string Escape(std::string_view v) {
  std::string out;
  for (char c : v) {
    switch (c) {
      case '%': out += "%25"; break;
      case ',': out += "%2C"; break;
      case ';': out += "%3B"; break;
      case '=': out += "%3D"; break;
      default: out += c;
    }
  }
  return out;
}
bool Unescape(std::string_view v, std::string* out) {
  out->clear();
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] != '%') {
      *out += v[i];
      continue;
    }
    if (i + 2 >= v.size()) return false;  // needs two hex digits
    unsigned x = 0;
    auto r = std::from_chars(v.data() + i + 1, v.data() + i + 3, x, 16);
    if (r.ec != std::errc() || r.ptr != v.data() + i + 3) return false;
    *out += static_cast<char>(x);
    i += 2;
  }
  return true;
}

std::vector<std::string_view> SplitOn(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t i = 0;
  for (;;) {
    size_t j = s.find(sep, i);
    out.push_back(s.substr(i, j == std::string_view::npos ? s.npos : j - i));
    if (j == std::string_view::npos) break;
    i = j + 1;
  }
  return out;
}

Expected<Rule> RuleFromCompact(std::string_view text, size_t index) {
  Rule r;
  std::string where = "rule " + std::to_string(index + 1);
  bool has_nth = false, has_range = false, has_prob = false;
  bool has_action = false, has_errno = false, has_delay = false, has_pause = false;
  std::string action_word;
  for (std::string_view field : SplitOn(text, ',')) {
    if (field.empty()) continue;
    auto eq = field.find('=');
    if (eq == std::string_view::npos)
      return PlanError(where, "field '" + std::string(field) + "' is not key=value");
    std::string key(field.substr(0, eq));
    std::string val;
    if (!Unescape(field.substr(eq + 1), &val))
      return PlanError(where + ": " + key, "bad %-escape in '" +
                                               std::string(field.substr(eq + 1)) + "'");
    auto bad = [&](const std::string& what) {
      return PlanError(where + ": " + key, what + ", got '" + val + "'");
    };
    uint64_t u = 0;
    if (key == "op") {
      for (auto op : SplitOn(val, '|')) {
        if (op.empty()) return bad("expected op names joined by '|'");
        r.match.ops.emplace_back(op);
      }
    } else if (key == "path") {
      r.match.path = val;
    } else if (key == "path2") {
      r.match.path2 = val;
    } else if (key == "fstype") {
      r.match.fstype = val;
    } else if (key == "flags") {
      if (!ParseU64(val, &u)) return bad("expected a number (decimal or 0x hex)");
      r.match.flags = u;
    } else if (key == "pid") {
      if (!ParseU64(val, &u) || u == 0) return bad("expected a positive pid");
      r.match.pid = static_cast<pid_t>(u);
    } else if (key == "nth") {
      if (!ParseU64(val, &u) || u == 0) return bad("expected a positive integer");
      r.when.kind = When::Kind::kNth;
      r.when.nth = u;
      has_nth = true;
    } else if (key == "first" || key == "last" || key == "step") {
      if (!ParseU64(val, &u)) return bad("expected a non-negative integer");
      if ((key == "first" || key == "step") && u == 0) return bad("expected >= 1");
      (key == "first" ? r.when.first : key == "last" ? r.when.last : r.when.step) = u;
      r.when.kind = When::Kind::kRange;
      has_range = true;
    } else if (key == "prob") {
      double p = 0;
      if (!ParseDouble(val, &p) || p < 0 || p > 1) return bad("expected 0..1");
      r.when.kind = When::Kind::kProbability;
      r.when.probability = p;
      has_prob = true;
    } else if (key == "seed") {
      if (!ParseU64(val, &u)) return bad("expected a non-negative integer");
      r.when.seed = u;
    } else if (key == "counter") {
      if (val == "global") r.when.counter = CounterScope::kGlobal;
      else if (val == "per_op") r.when.counter = CounterScope::kPerOp;
      else return bad("expected global or per_op");
    } else if (key == "action") {
      action_word = val;
      has_action = true;
    } else if (key == "errno") {
      int e = 0;
      if (!ErrnoFromName(val, &e)) return bad("expected an errno name like EBUSY");
      r.action.err = e;
      has_errno = true;
    } else if (key == "delay_ms") {
      if (!ParseU64(val, &u) || u > 3600000) return bad("expected milliseconds");
      r.action.delay_ms = static_cast<int>(u);
      has_delay = true;
    } else if (key == "pause_ms") {
      if (!ParseU64(val, &u) || u == 0 || u > 3600000) return bad("expected milliseconds (1..3600000)");
      r.action.pause_ms = static_cast<int>(u);
      has_pause = true;
    } else if (key == "mode") {
      if (val == "transient" || val == "once") r.times = Times::kOnce;
      else if (val == "persistent") r.times = Times::kPersistent;
      else if (val == "persistent-path" || val == "persistent_path")
        r.times = Times::kPersistentPath;
      else return bad("expected transient, once, persistent or persistent-path");
    } else {
      return PlanError(where + ": " + key, "unknown key");
    }
  }
  if (has_nth + has_range + has_prob > 1)
    return PlanError(where, "use one of nth, first/last/step, prob");
  if (has_range && r.when.last && r.when.last < r.when.first)
    return PlanError(where + ": last", "last is before first");
  if (has_action) {
    if (action_word == "fail") r.action.kind = ActionKind::kFail;
    else if (action_word == "lie") r.action.kind = ActionKind::kLie;
    else if (action_word == "delay") r.action.kind = ActionKind::kDelay;
    else if (action_word == "crash" || action_word == "kill") r.action.kind = ActionKind::kCrash;
    else if (action_word == "pause") r.action.kind = ActionKind::kPause;
    else if (action_word == "short") r.action.kind = ActionKind::kShort;
    else return PlanError(where + ": action", "expected fail, lie, delay, crash, pause or short, got '" +
                                                  action_word + "'");
  } else if (has_errno) {
    r.action.kind = ActionKind::kFail;
  } else if (has_delay) {
    r.action.kind = ActionKind::kDelay;
  } else if (has_pause) {
    r.action.kind = ActionKind::kPause;
  } else {
    return PlanError(where, "no action: give errno=, action=, delay_ms= or pause_ms=");
  }
  if (r.action.kind == ActionKind::kFail && !has_errno)
    return PlanError(where + ": errno", "action fail needs errno=");
  if (r.action.kind != ActionKind::kFail && has_errno)
    return PlanError(where + ": errno", "errno= only goes with action fail");
  if (r.action.kind != ActionKind::kDelay && has_delay)
    return PlanError(where + ": delay_ms", "delay_ms= only goes with action delay");
  if (r.action.kind != ActionKind::kPause && has_pause)
    return PlanError(where + ": pause_ms", "pause_ms= only goes with action pause");
  return r;
}

}  // namespace

using namespace plan_internal;

std::string ErrnoToName(int err) {
  const char* n = err > 0 ? strerrorname_np(err) : nullptr;
  return n ? n : "E" + std::to_string(err);
}

bool ErrnoFromName(std::string_view name, int* err) {
  uint64_t v = 0;
  if (ParseU64(name, &v) && v > 0 && v < 4096) {
    *err = static_cast<int>(v);
    return true;
  }
  if (name.size() > 1 && name[0] == 'E' && ParseU64(name.substr(1), &v) && v > 0 &&
      v < 4096) {
    *err = static_cast<int>(v);
    return true;
  }
  for (int e = 1; e < 134; ++e) {
    const char* n = strerrorname_np(e);
    if (n && name == n) {
      *err = e;
      return true;
    }
  }
  if (name == "EWOULDBLOCK") return *err = EAGAIN, true;
  if (name == "EDEADLOCK") return *err = EDEADLK, true;
  if (name == "ENOTSUP") return *err = EOPNOTSUPP, true;
  return false;
}

const char* ActionName(ActionKind kind) {
  switch (kind) {
    case ActionKind::kNone: return "none";
    case ActionKind::kFail: return "fail";
    case ActionKind::kLie: return "lie";
    case ActionKind::kDelay: return "delay";
    case ActionKind::kCrash: return "crash";
    case ActionKind::kPause: return "pause";
    case ActionKind::kShort: return "short";
  }
  return "?";
}

bool Matches(const Match& m, const CallInfo& c) {
  if (!m.ops.empty()) {
    bool any = false;
    for (const std::string& op : m.ops) any |= op == c.op;
    if (!any) return false;
  }
  if ((c.flags & m.flags) != m.flags) return false;
  if (!m.fstype.empty() && m.fstype != c.fstype) return false;
  if (m.pid && *m.pid != c.pid) return false;
  if (!GlobMatch(m.path, c.path)) return false;
  if (!GlobMatch(m.path2, c.path2)) return false;
  return true;
}

std::string ObjectKey(std::string_view op, std::string_view path) {
  constexpr std::string_view kCgroup = "/sys/fs/cgroup/";
  std::string p(path);
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  if (p.rfind(kCgroup, 0) != 0) return p;
  if (op == "mkdir" || op == "mkdirat" || op == "rmdir") return p;
  const size_t slash = p.rfind('/');
  const std::string_view last = std::string_view(p).substr(slash + 1);
  if (last.find('.') != std::string_view::npos || last == "tasks") return p.substr(0, slash);
  return p;
}

// ---- counters, shared across fork and clone ----

// Lock-free: the runtime and its init may decide at the same time. Slots
// and the object are claimed by compare-exchange (0 free, 1 being written,
// 2 set); nothing here allocates (the init runs between clone and execve).
struct FaultPlan::RuleCounters {
  static constexpr size_t kPerOpSlots = 96;  // distinct ops of one rule
  static constexpr size_t kObjectMax = 4096;  // PATH_MAX
  struct PerOp {
    std::atomic<uint32_t> state{0};
    char op[28] = {};
    std::atomic<uint64_t> n{0};
  };
  std::atomic<uint64_t> matched{0};
  std::atomic<uint64_t> fired{0};
  std::atomic<uint32_t> object_state{0};
  uint32_t object_len = 0;
  char object[kObjectMax] = {};
  PerOp per_op[kPerOpSlots];

  // 1-based count of this op's matched calls; 0 when every slot is taken
  // by other ops (the caller then counts globally).
  uint64_t CountOp(std::string_view op) {
    const size_t len = std::min(op.size(), sizeof(PerOp::op) - 1);
    for (PerOp& slot : per_op) {
      uint32_t st = slot.state.load(std::memory_order_acquire);
      if (st == 0) {
        uint32_t zero = 0;
        if (slot.state.compare_exchange_strong(zero, 1, std::memory_order_acq_rel)) {
          memcpy(slot.op, op.data(), len);
          slot.op[len] = 0;
          slot.state.store(2, std::memory_order_release);
          return slot.n.fetch_add(1) + 1;
        }
        st = zero;
      }
      while (st == 1) st = slot.state.load(std::memory_order_acquire);
      if (strlen(slot.op) == len && memcmp(slot.op, op.data(), len) == 0) {
        return slot.n.fetch_add(1) + 1;
      }
    }
    return 0;
  }
  // The first fired call's object (persistent_path); false when another
  // call claimed it first.
  bool ClaimObject(const std::string& key) {
    uint32_t zero = 0;
    if (!object_state.compare_exchange_strong(zero, 1, std::memory_order_acq_rel)) return false;
    object_len = static_cast<uint32_t>(std::min(key.size(), kObjectMax));
    memcpy(object, key.data(), object_len);
    object_state.store(2, std::memory_order_release);
    return true;
  }
  bool SameObject(const std::string& key) const {
    uint32_t st;
    while ((st = object_state.load(std::memory_order_acquire)) == 1) {
    }
    return st == 2 && key.size() <= kObjectMax && key.size() == object_len &&
           memcmp(object, key.data(), object_len) == 0;
  }
  void CopyFrom(const RuleCounters& o) {
    matched.store(o.matched.load());
    fired.store(o.fired.load());
    object_state.store(o.object_state.load());
    object_len = o.object_len;
    memcpy(object, o.object, sizeof object);
    for (size_t k = 0; k < kPerOpSlots; ++k) {
      per_op[k].state.store(o.per_op[k].state.load());
      memcpy(per_op[k].op, o.per_op[k].op, sizeof per_op[k].op);
      per_op[k].n.store(o.per_op[k].n.load());
    }
  }
};

FaultPlan::Counters::Counters(size_t rules) : n_(rules) {
  if (n_ == 0) return;
  void* mem = ::mmap(nullptr, n_ * sizeof(RuleCounters), PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) throw std::bad_alloc();
  rules_ = static_cast<RuleCounters*>(mem);
  for (size_t i = 0; i < n_; ++i) new (&rules_[i]) RuleCounters();
}
FaultPlan::Counters::Counters(const Counters& o) : Counters(o.n_) {
  for (size_t i = 0; i < n_; ++i) rules_[i].CopyFrom(o.rules_[i]);
}
FaultPlan::Counters& FaultPlan::Counters::operator=(const Counters& o) {
  if (this != &o) *this = Counters(o);
  return *this;
}
FaultPlan::Counters::Counters(Counters&& o) noexcept : rules_(o.rules_), n_(o.n_) {
  o.rules_ = nullptr;
  o.n_ = 0;
}
FaultPlan::Counters& FaultPlan::Counters::operator=(Counters&& o) noexcept {
  if (this != &o) {
    Release();
    rules_ = o.rules_;
    n_ = o.n_;
    o.rules_ = nullptr;
    o.n_ = 0;
  }
  return *this;
}
FaultPlan::Counters::~Counters() { Release(); }
void FaultPlan::Counters::Release() {
  if (rules_ != nullptr) ::munmap(rules_, n_ * sizeof(RuleCounters));
  rules_ = nullptr;
  n_ = 0;
}
FaultPlan::RuleCounters& FaultPlan::Counters::at(size_t i) const {
  if (i >= n_) throw std::out_of_range("FaultPlan: no rule " + std::to_string(i));
  return rules_[i];
}
void FaultPlan::Counters::Reset() {
  const RuleCounters zero;
  for (size_t i = 0; i < n_; ++i) rules_[i].CopyFrom(zero);
}

FaultPlan::FaultPlan(std::vector<Rule> rules)
    : rules_(std::move(rules)), counters_(rules_.size()) {}

void FaultPlan::Reset() { counters_.Reset(); }

uint64_t FaultPlan::matched(size_t i) const { return counters_.at(i).matched.load(); }
uint64_t FaultPlan::fired(size_t i) const { return counters_.at(i).fired.load(); }

Decision FaultPlan::Decide(const CallInfo& call) {
  Decision d;
  for (size_t i = 0; i < rules_.size(); ++i) {
    const Rule& r = rules_[i];
    if (!Matches(r.match, call)) continue;
    RuleCounters& s = counters_.at(i);
    uint64_t n = s.matched.fetch_add(1) + 1;
    if (r.when.counter == CounterScope::kPerOp) {
      n = s.CountOp(call.op);
      if (n == 0) {
        // More distinct ops than slots: counted globally, said once.
        static std::atomic<bool> said{false};
        if (!said.exchange(true)) {
          std::fprintf(stderr,
                       "faultline: fault plan rule %zu matches more than %zu ops: its "
                       "per_op counter counts them together\n",
                       i, RuleCounters::kPerOpSlots);
        }
        n = s.matched.load();
      }
    }
    if (d.fired()) continue;  // an earlier rule won; this one only counts
    if (r.times == Times::kOnce && s.fired.load() > 0) continue;
    if (r.times == Times::kPersistentPath && s.fired.load() > 0) {
      // From the first fired call on: every matching call on that object.
      if (!s.SameObject(ObjectKey(call.op, call.path))) continue;
      s.fired.fetch_add(1);
      d.action = r.action;
      d.rule = static_cast<int>(i);
      continue;
    }
    bool hit = false;
    const When& w = r.when;
    switch (w.kind) {
      case When::Kind::kAlways: hit = true; break;
      case When::Kind::kNth:
        hit = r.times == Times::kPersistent ? n >= w.nth : n == w.nth;
        break;
      case When::Kind::kRange:
        hit = n >= w.first && (w.last == 0 || n <= w.last) && (n - w.first) % w.step == 0;
        break;
      case When::Kind::kProbability:
        hit = Coin(w.seed, i, n) < w.probability;
        break;
    }
    if (!hit) continue;
    if (r.times == Times::kOnce) {
      // The first hit of the whole process tree fires; another process's
      // hit at the same time does not.
      uint64_t none = 0;
      if (!s.fired.compare_exchange_strong(none, 1)) continue;
    } else {
      if (r.times == Times::kPersistentPath && s.fired.load() == 0) {
        (void)s.ClaimObject(ObjectKey(call.op, call.path));
      }
      s.fired.fetch_add(1);
    }
    d.action = r.action;
    d.rule = static_cast<int>(i);
  }
  return d;
}

Expected<FaultPlan> FaultPlan::FromCompact(const std::string& text) {
  std::vector<Rule> rules;
  auto parts = SplitOn(text, ';');
  for (size_t i = 0; i < parts.size(); ++i) {
    std::string_view p = parts[i];
    while (!p.empty() && (p.front() == ' ' || p.front() == '\n')) p.remove_prefix(1);
    while (!p.empty() && (p.back() == ' ' || p.back() == '\n')) p.remove_suffix(1);
    if (p.empty()) continue;
    auto r = RuleFromCompact(p, rules.size());
    if (!r.ok()) return r.error();
    rules.push_back(std::move(r.value()));
  }
  return FaultPlan(std::move(rules));
}

std::string FaultPlan::ToString() const {
  std::string out;
  for (const Rule& r : rules_) {
    std::vector<std::string> f;
    if (!r.match.ops.empty()) {
      std::string ops;
      for (auto& op : r.match.ops) ops += (ops.empty() ? "" : "|") + Escape(op);
      f.push_back("op=" + ops);
    }
    if (!r.match.path.empty()) f.push_back("path=" + Escape(r.match.path));
    if (!r.match.path2.empty()) f.push_back("path2=" + Escape(r.match.path2));
    if (!r.match.fstype.empty()) f.push_back("fstype=" + Escape(r.match.fstype));
    if (r.match.flags) f.push_back("flags=" + Hex(r.match.flags));
    if (r.match.pid) f.push_back("pid=" + std::to_string(*r.match.pid));
    const When& w = r.when;
    switch (w.kind) {
      case When::Kind::kAlways: break;
      case When::Kind::kNth: f.push_back("nth=" + std::to_string(w.nth)); break;
      case When::Kind::kRange:
        f.push_back("first=" + std::to_string(w.first));
        f.push_back("last=" + std::to_string(w.last));
        f.push_back("step=" + std::to_string(w.step));
        break;
      case When::Kind::kProbability:
        f.push_back("prob=" + DoubleText(w.probability));
        break;
    }
    if (w.seed) f.push_back("seed=" + std::to_string(w.seed));
    if (w.counter == CounterScope::kPerOp) f.push_back("counter=per_op");
    switch (r.action.kind) {
      case ActionKind::kFail: f.push_back("errno=" + ErrnoToName(r.action.err)); break;
      case ActionKind::kDelay:
        f.push_back("action=delay");
        f.push_back("delay_ms=" + std::to_string(r.action.delay_ms));
        break;
      case ActionKind::kPause:
        f.push_back("action=pause");
        if (r.action.pause_ms) f.push_back("pause_ms=" + std::to_string(r.action.pause_ms));
        break;
      default: f.push_back(std::string("action=") + ActionName(r.action.kind));
    }
    f.push_back(r.times == Times::kOnce         ? "mode=transient"
                : r.times == Times::kPersistent ? "mode=persistent"
                                                : "mode=persistent-path");
    std::string line;
    for (auto& x : f) line += (line.empty() ? "" : ",") + x;
    out += (out.empty() ? "" : ";") + line;
  }
  return out;
}

}  // namespace faultline
