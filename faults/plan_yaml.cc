// The YAML/JSON front end of fault plans (yaml-cpp reads both; ToJson
// writes JSON with nlohmann-json). The core is plan.cc.
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "faults/plan.h"
#include "faults/plan_internal.h"

namespace faultline {
namespace {

using mydocker::Error;
using mydocker::Expected;
using namespace plan_internal;

// ---- YAML ----
struct YamlReader {
  std::string where;
  std::optional<Error> error;

  bool Fail(const std::string& field, const std::string& what) {
    if (!error) error = PlanError(field, what);
    return false;
  }
  bool Str(const YAML::Node& n, const std::string& field, std::string* out) {
    if (!n.IsScalar()) return Fail(field, "expected a string");
    *out = n.Scalar();
    return true;
  }
  bool U64(const YAML::Node& n, const std::string& field, uint64_t* out) {
    if (!n.IsScalar() || !ParseU64(n.Scalar(), out))
      return Fail(field, "expected a non-negative integer");
    return true;
  }
  bool CheckKeys(const YAML::Node& n, const std::string& field,
                 std::initializer_list<const char*> keys) {
    if (!n.IsMap()) return Fail(field, "expected a mapping");
    for (auto it = n.begin(); it != n.end(); ++it) {
      std::string k = it->first.Scalar();
      bool known = false;
      for (const char* key : keys) known |= k == key;
      if (!known) return Fail(field + "." + k, "unknown key");
    }
    return true;
  }

  bool ReadMatch(const YAML::Node& n, const std::string& f, Match* m) {
    if (!CheckKeys(n, f, {"op", "ops", "path", "path2", "fstype", "flags", "pid"}))
      return false;
    for (const char* key : {"op", "ops"}) {
      YAML::Node op = n[key];
      if (!op) continue;
      if (op.IsScalar()) {
        m->ops.push_back(op.Scalar());
      } else if (op.IsSequence()) {
        for (size_t i = 0; i < op.size(); ++i) {
          std::string s;
          if (!Str(op[i], f + "." + key + "[" + std::to_string(i) + "]", &s)) return false;
          m->ops.push_back(s);
        }
      } else {
        return Fail(f + "." + key, "expected an op name or a list of them");
      }
    }
    if (n["path"] && !Str(n["path"], f + ".path", &m->path)) return false;
    if (n["path2"] && !Str(n["path2"], f + ".path2", &m->path2)) return false;
    if (n["fstype"] && !Str(n["fstype"], f + ".fstype", &m->fstype)) return false;
    if (n["flags"] && !U64(n["flags"], f + ".flags", &m->flags)) return false;
    if (n["pid"]) {
      uint64_t p = 0;
      if (!U64(n["pid"], f + ".pid", &p) || p == 0) return Fail(f + ".pid", "expected a positive pid");
      m->pid = static_cast<pid_t>(p);
    }
    return true;
  }
  bool ReadWhen(const YAML::Node& n, const std::string& f, When* w) {
    if (!CheckKeys(n, f, {"nth", "first", "last", "step", "probability", "seed", "counter"}))
      return false;
    int kinds = 0;
    if (n["nth"]) {
      ++kinds;
      w->kind = When::Kind::kNth;
      if (!U64(n["nth"], f + ".nth", &w->nth) || w->nth == 0)
        return Fail(f + ".nth", "expected a positive integer");
    }
    if (n["first"] || n["last"] || n["step"]) {
      ++kinds;
      w->kind = When::Kind::kRange;
      if (n["first"] && (!U64(n["first"], f + ".first", &w->first) || w->first == 0))
        return Fail(f + ".first", "expected a positive integer");
      if (n["last"] && !U64(n["last"], f + ".last", &w->last)) return false;
      if (n["step"] && (!U64(n["step"], f + ".step", &w->step) || w->step == 0))
        return Fail(f + ".step", "expected a positive integer");
      if (w->last && w->last < w->first) return Fail(f + ".last", "last is before first");
    }
    if (n["probability"]) {
      ++kinds;
      w->kind = When::Kind::kProbability;
      if (!n["probability"].IsScalar() ||
          !ParseDouble(n["probability"].Scalar(), &w->probability) ||
          w->probability < 0 || w->probability > 1)
        return Fail(f + ".probability", "expected a number in 0..1");
    }
    if (kinds > 1) return Fail(f, "use one of nth, first/last/step, probability");
    if (n["seed"] && !U64(n["seed"], f + ".seed", &w->seed)) return false;
    if (n["counter"]) {
      std::string c;
      if (!Str(n["counter"], f + ".counter", &c)) return false;
      if (c == "global") w->counter = CounterScope::kGlobal;
      else if (c == "per_op") w->counter = CounterScope::kPerOp;
      else return Fail(f + ".counter", "expected global or per_op");
    }
    return true;
  }
  bool ReadAction(const YAML::Node& n, const std::string& f, Action* a) {
    if (n.IsScalar()) {
      std::string s = n.Scalar();
      if (s == "lie") a->kind = ActionKind::kLie;
      else if (s == "crash" || s == "kill") a->kind = ActionKind::kCrash;
      else if (s == "pause") a->kind = ActionKind::kPause;
      else if (s == "short") a->kind = ActionKind::kShort;
      else return Fail(f, "expected lie, crash, pause, short, {fail: ERRNO}, {delay_ms: N} or "
                          "{pause_ms: N}, got '" + s + "'");
      return true;
    }
    if (!CheckKeys(n, f, {"fail", "errno", "delay_ms", "pause_ms"})) return false;
    if (n.size() != 1) return Fail(f, "give exactly one of fail, errno, delay_ms, pause_ms");
    if (n["pause_ms"]) {
      uint64_t ms = 0;
      if (!U64(n["pause_ms"], f + ".pause_ms", &ms) || ms == 0 || ms > 3600000)
        return Fail(f + ".pause_ms", "expected milliseconds (1..3600000)");
      a->kind = ActionKind::kPause;
      a->pause_ms = static_cast<int>(ms);
    }
    for (const char* key : {"fail", "errno"}) {
      if (!n[key]) continue;
      std::string e;
      if (!Str(n[key], f + "." + key, &e)) return false;
      if (!ErrnoFromName(e, &a->err)) return Fail(f + "." + key, "unknown errno '" + e + "'");
      a->kind = ActionKind::kFail;
    }
    if (n["delay_ms"]) {
      uint64_t ms = 0;
      if (!U64(n["delay_ms"], f + ".delay_ms", &ms) || ms > 3600000)
        return Fail(f + ".delay_ms", "expected milliseconds");
      a->kind = ActionKind::kDelay;
      a->delay_ms = static_cast<int>(ms);
    }
    return true;
  }
  bool ReadRule(const YAML::Node& n, const std::string& f, Rule* r) {
    if (!CheckKeys(n, f, {"match", "when", "action", "times"})) return false;
    if (n["match"] && !ReadMatch(n["match"], f + ".match", &r->match)) return false;
    if (n["when"] && !ReadWhen(n["when"], f + ".when", &r->when)) return false;
    if (!n["action"]) return Fail(f + ".action", "missing");
    if (!ReadAction(n["action"], f + ".action", &r->action)) return false;
    if (n["times"]) {
      std::string t;
      if (!Str(n["times"], f + ".times", &t)) return false;
      if (t == "once" || t == "transient") r->times = Times::kOnce;
      else if (t == "persistent") r->times = Times::kPersistent;
      else if (t == "persistent_path" || t == "persistent-path")
        r->times = Times::kPersistentPath;
      else return Fail(f + ".times", "expected once, transient, persistent or persistent_path");
    }
    return true;
  }
};
}  // namespace

using namespace plan_internal;

Expected<FaultPlan> FaultPlan::FromYaml(const std::string& text) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return PlanError("line " + std::to_string(e.mark.line + 1), e.msg);
  }
  return FromYamlNode(root);
}

Expected<FaultPlan> FaultPlan::FromYamlNode(const YAML::Node& root) {
  YAML::Node list = root;
  const std::string base = "rules";
  if (root.IsMap()) {
    for (auto it = root.begin(); it != root.end(); ++it)
      if (it->first.Scalar() != "rules")
        return PlanError(it->first.Scalar(), "unknown key (expected 'rules')");
    list = root["rules"];
  }
  if (!list || list.IsNull()) return FaultPlan{};
  if (!list.IsSequence()) return PlanError(base, "expected a list of rules");
  YamlReader rd;
  std::vector<Rule> rules;
  for (size_t i = 0; i < list.size(); ++i) {
    Rule r;
    std::string field = base + "[" + std::to_string(i) + "]";
    try {
      if (!rd.ReadRule(list[i], field, &r)) {
        Error e = *rd.error;
        if (list[i].Mark().line >= 0)
          e.detail += " (line " + std::to_string(list[i].Mark().line + 1) + ")";
        return e;
      }
    } catch (const YAML::Exception& e) {
      return PlanError(field, e.msg);
    }
    rules.push_back(std::move(r));
  }
  return FaultPlan(std::move(rules));
}

Expected<FaultPlan> FaultPlan::PausePointFromYamlNode(const YAML::Node& n,
                                                      const std::string& f) {
  YamlReader rd;
  Rule r;
  r.action.kind = ActionKind::kPause;
  r.times = Times::kOnce;
  r.when.kind = When::Kind::kNth;
  r.when.nth = 1;
  try {
    if (!rd.CheckKeys(n, f, {"op", "ops", "path", "path2", "fstype", "flags", "nth", "counter",
                             "pause_ms"})) {
      return *rd.error;
    }
    if (!n["op"] && !n["ops"]) return PlanError(f + ".op", "missing: the call to hold");
    // The rule's match and when parts, read by the rule parser itself.
    YAML::Node match(YAML::NodeType::Map), when(YAML::NodeType::Map);
    for (auto it = n.begin(); it != n.end(); ++it) {
      const std::string k = it->first.Scalar();
      if (k == "nth" || k == "counter") when[k] = it->second;
      else if (k != "pause_ms") match[k] = it->second;
    }
    if (!rd.ReadMatch(match, f, &r.match)) return *rd.error;
    if (when.size() > 0 && !rd.ReadWhen(when, f, &r.when)) return *rd.error;
    if (n["pause_ms"]) {
      YAML::Node a(YAML::NodeType::Map);
      a["pause_ms"] = n["pause_ms"];
      if (!rd.ReadAction(a, f, &r.action)) return *rd.error;
    }
  } catch (const YAML::Exception& e) {
    return PlanError(f, e.msg);
  }
  return FaultPlan({r});
}

Expected<FaultPlan> FaultPlan::Parse(const std::string& text) {
  std::string_view t(text);
  while (!t.empty() && (t.front() == ' ' || t.front() == '\t' || t.front() == '\n'))
    t.remove_prefix(1);
  while (!t.empty() && (t.back() == ' ' || t.back() == '\t' || t.back() == '\n'))
    t.remove_suffix(1);
  if (t.empty()) return FaultPlan{};
  bool compact = t.find('\n') == std::string_view::npos && t.front() != '{' &&
                 t.front() != '[' && t.front() != '-' &&
                 t.find('=') != std::string_view::npos &&
                 t.find(": ") == std::string_view::npos;
  return compact ? FromCompact(text) : FromYaml(text);
}

std::string FaultPlan::ToJson() const {
  nlohmann::json rules = nlohmann::json::array();
  for (const Rule& r : rules_) {
    nlohmann::json j, m = nlohmann::json::object(), w = nlohmann::json::object();
    if (!r.match.ops.empty()) m["op"] = r.match.ops;
    if (!r.match.path.empty()) m["path"] = r.match.path;
    if (!r.match.path2.empty()) m["path2"] = r.match.path2;
    if (!r.match.fstype.empty()) m["fstype"] = r.match.fstype;
    if (r.match.flags) m["flags"] = r.match.flags;
    if (r.match.pid) m["pid"] = *r.match.pid;
    switch (r.when.kind) {
      case When::Kind::kAlways: break;
      case When::Kind::kNth: w["nth"] = r.when.nth; break;
      case When::Kind::kRange:
        w["first"] = r.when.first;
        w["last"] = r.when.last;
        w["step"] = r.when.step;
        break;
      case When::Kind::kProbability: w["probability"] = r.when.probability; break;
    }
    if (r.when.seed) w["seed"] = r.when.seed;
    if (r.when.counter == CounterScope::kPerOp) w["counter"] = "per_op";
    j["match"] = m;
    if (!w.empty()) j["when"] = w;
    switch (r.action.kind) {
      case ActionKind::kFail: j["action"] = {{"fail", ErrnoToName(r.action.err)}}; break;
      case ActionKind::kDelay: j["action"] = {{"delay_ms", r.action.delay_ms}}; break;
      case ActionKind::kPause:
        if (r.action.pause_ms) j["action"] = {{"pause_ms", r.action.pause_ms}};
        else j["action"] = "pause";
        break;
      default: j["action"] = ActionName(r.action.kind);
    }
    j["times"] = r.times == Times::kOnce         ? "once"
                 : r.times == Times::kPersistent ? "persistent"
                                                 : "persistent_path";
    rules.push_back(std::move(j));
  }
  return nlohmann::json{{"rules", rules}}.dump();
}

}  // namespace faultline
