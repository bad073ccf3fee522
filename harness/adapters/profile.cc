#include "harness/adapters/profile.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "harness/adapters/process.h"
#include "harness/cli/locate.h"

namespace faultline {
namespace fs = std::filesystem;

namespace {

constexpr int kMaxExtends = 8;

// The error of a profile field at a node.
bool Fail(ScenarioError* e, const std::string& file, const YAML::Node& at,
          const std::string& field, const std::string& msg) {
  if (e == nullptr) return false;
  e->file = file;
  e->field = field;
  e->message = msg;
  if (at.IsDefined() && !at.Mark().is_null()) {
    e->line = at.Mark().line + 1;
    e->column = at.Mark().column + 1;
  } else {
    e->line = e->column = 0;
  }
  return false;
}

bool ReadString(const YAML::Node& n, const std::string& file, const std::string& field,
                std::string* out, ScenarioError* e) {
  if (!n.IsScalar()) return Fail(e, file, n, field, "must be a string");
  *out = n.Scalar();
  return true;
}

bool ReadStrings(const YAML::Node& n, const std::string& file, const std::string& field,
                 std::vector<std::string>* out, ScenarioError* e) {
  if (!n.IsSequence()) return Fail(e, file, n, field, "must be a list of strings");
  out->clear();
  for (size_t i = 0; i < n.size(); ++i) {
    if (!n[i].IsScalar()) {
      return Fail(e, file, n[i], field + "[" + std::to_string(i) + "]", "must be a string");
    }
    out->push_back(n[i].Scalar());
  }
  return true;
}

bool ReadBool(const YAML::Node& n, const std::string& file, const std::string& field, bool* out,
              ScenarioError* e) {
  if (n.IsScalar() && (n.Scalar() == "true" || n.Scalar() == "false")) {
    *out = n.Scalar() == "true";
    return true;
  }
  return Fail(e, file, n, field, "must be true or false");
}

const std::vector<std::string>& KnownVerbs() {
  static const std::vector<std::string> k = {"create", "start", "state", "kill", "delete",
                                             "run",    "exec",  "pause", "resume", "ps",
                                             "list",   "update", "events", "features"};
  return k;
}

bool Contains(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// Applies the fields of one file over *p (a parent's, or the defaults).
bool ApplyFile(const YAML::Node& doc, const std::string& file, RuntimeProfile* p,
               ScenarioError* e) {
  static const std::vector<std::string> keys = {
      "kind",   "extends",    "binary",     "version",         "source",
      "changelog", "global_args", "verbs",  "cleanup",         "temp_paths",
      "cgroup_managers", "not_found", "hide_unified_controllers", "differences",
      "persistent_paths"};
  for (const auto& kv : doc) {
    const std::string k = kv.first.Scalar();
    if (!Contains(keys, k)) {
      std::string list;
      for (const auto& x : keys) list += (list.empty() ? "" : ", ") + x;
      return Fail(e, file, kv.first, k,
                  "unknown field (known: " + list +
                      "; an expected difference goes under differences:)");
    }
  }
  if (doc["kind"]) {
    if (!ReadString(doc["kind"], file, "kind", &p->kind, e)) return false;
    if (p->kind != "oci" && p->kind != "mydocker" && p->kind != "none") {
      return Fail(e, file, doc["kind"], "kind", "must be oci, mydocker or none, not '" + p->kind + "'");
    }
  }
  for (auto [key, out] : {std::pair<const char*, std::string*>{"binary", &p->binary},
                          {"version", &p->version},
                          {"source", &p->source},
                          {"changelog", &p->changelog}}) {
    if (doc[key] && !ReadString(doc[key], file, key, out, e)) return false;
  }
  for (auto [key, out] : {std::pair<const char*, std::vector<std::string>*>{"global_args",
                                                                            &p->global_args},
                          {"cleanup", &p->cleanup},
                          {"temp_paths", &p->temp_paths},
                          {"persistent_paths", &p->persistent_paths},
                          {"cgroup_managers", &p->cgroup_managers},
                          {"not_found", &p->not_found}}) {
    if (doc[key] && !ReadStrings(doc[key], file, key, out, e)) return false;
  }
  for (size_t i = 0; i < p->temp_paths.size(); ++i) {
    const std::string& t = p->temp_paths[i];
    const bool under_root = t.rfind("{root}/", 0) == 0;
    const size_t star = t.find('*');
    const size_t slash = t.rfind('/');
    if (!under_root && (t.empty() || t[0] != '/' || star == std::string::npos ||
                        star != t.size() - 1 || slash == std::string::npos || slash > star)) {
      return Fail(e, file, doc["temp_paths"] ? doc["temp_paths"][i] : doc,
                  "temp_paths[" + std::to_string(i) + "]",
                  "must be {root}/... or an absolute DIR/PREFIX* (one trailing *), not '" + t + "'");
    }
  }
  for (size_t i = 0; i < p->persistent_paths.size(); ++i) {
    const std::string& t = p->persistent_paths[i];
    // One * only as the whole last name: DIR/* is every name directly in
    // DIR (a cache, one file per key), not what is below those.
    const size_t star = t.find('*');
    const bool star_ok = star == std::string::npos ||
                         (star == t.size() - 1 && t[star - 1] == '/' && t.size() > 9);
    if (t.rfind("{root}/", 0) != 0 || t.size() == 7 || t.find("..") != std::string::npos ||
        !star_ok) {
      return Fail(e, file, doc["persistent_paths"] ? doc["persistent_paths"][i] : doc,
                  "persistent_paths[" + std::to_string(i) + "]",
                  "must be {root}/NAME or {root}/DIR/* (a path under the state root; * only "
                  "as the whole last name), not '" + t + "'");
    }
  }
  if (doc["hide_unified_controllers"] &&
      !ReadBool(doc["hide_unified_controllers"], file, "hide_unified_controllers",
                &p->hide_unified_controllers, e)) {
    return false;
  }
  if (const YAML::Node& v = doc["verbs"]) {
    p->verb_names.clear();
    p->verb_argv.clear();
    auto check = [&](const YAML::Node& at, const std::string& verb, const std::string& field) {
      if (!Contains(KnownVerbs(), verb)) {
        std::string list;
        for (const auto& x : KnownVerbs()) list += (list.empty() ? "" : ", ") + x;
        return Fail(e, file, at, field, "unknown verb '" + verb + "' (known: " + list + ")");
      }
      return true;
    };
    if (v.IsSequence()) {
      for (size_t i = 0; i < v.size(); ++i) {
        const std::string f = "verbs[" + std::to_string(i) + "]";
        if (!v[i].IsScalar()) return Fail(e, file, v[i], f, "must be a verb name");
        if (!check(v[i], v[i].Scalar(), f)) return false;
        p->verb_names.push_back(v[i].Scalar());
      }
    } else if (v.IsMap()) {
      for (const auto& kv : v) {
        const std::string verb = kv.first.Scalar();
        const std::string f = "verbs." + verb;
        if (!check(kv.first, verb, f)) return false;
        p->verb_names.push_back(verb);
        if (kv.second.IsNull()) continue;  // `create:` alone: the default argv
        std::vector<std::string> argv;
        if (!ReadStrings(kv.second, file, f, &argv, e)) return false;
        if (argv.empty()) return Fail(e, file, kv.second, f, "an empty argv");
        p->verb_argv[verb] = argv;
      }
    } else {
      return Fail(e, file, v, "verbs", "a list of verbs, or a mapping verb -> argv");
    }
  }
  if (const YAML::Node dn = doc["differences"]) {
    // An entry is one difference, or a list of them for different versions
    // (each with `versions`; the first that holds for a version is used),
    // kept as "NAME#i". A profile's entry replaces all of its parent's for
    // that scenario.
    std::map<std::string, ExpectedDifference> mine;
    if (dn.IsMap()) {
      YAML::Node single(YAML::NodeType::Map);
      for (const auto& kv : dn) {
        const std::string name = kv.first.Scalar();
        if (!kv.second.IsSequence()) {
          single.force_insert(kv.first, kv.second);
          continue;
        }
        for (size_t i = 0; i < kv.second.size(); ++i) {
          YAML::Node one(YAML::NodeType::Map);
          one.force_insert(kv.first, kv.second[i]);
          std::map<std::string, ExpectedDifference> got;
          ParseExpectedDifferences(one, file, "differences", &got, &p->errors);
          for (auto& [k, d] : got) {
            d.line = kv.second[i].Mark().line + 1;
            mine[k + "#" + std::to_string(i)] = d;
          }
        }
      }
      ParseExpectedDifferences(single, file, "differences", &mine, &p->errors);
    } else {
      ParseExpectedDifferences(dn, file, "differences", &mine, &p->errors);
    }
    for (const auto& [k, d] : mine) {
      const std::string base = k.substr(0, k.find('#'));
      for (auto it = p->differences.begin(); it != p->differences.end();) {
        if (it->first.substr(0, it->first.find('#')) == base && mine.count(it->first) == 0)
          it = p->differences.erase(it);
        else
          ++it;
      }
    }
    for (auto& [k, d] : mine) p->differences[k] = d;
  }
  return true;
}

std::optional<RuntimeProfile> Load(const std::string& path, const std::vector<std::string>& search,
                                   int depth, ScenarioError* e) {
  const std::string name = fs::path(path).stem().string();
  YAML::Node doc;
  try {
    doc = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    Fail(e, path, YAML::Node(), "", "cannot read the file");
    return std::nullopt;
  } catch (const YAML::Exception& ex) {
    if (e != nullptr) {
      *e = ScenarioError{path, ex.mark.is_null() ? 0 : ex.mark.line + 1,
                         ex.mark.is_null() ? 0 : ex.mark.column + 1, "", ex.msg};
    }
    return std::nullopt;
  }
  if (doc.IsNull()) doc = YAML::Node(YAML::NodeType::Map);
  if (!doc.IsMap()) {
    Fail(e, path, doc, "", "a runtime profile is a mapping (see harness/adapters/profile.h)");
    return std::nullopt;
  }
  RuntimeProfile p;
  if (const YAML::Node& ext = doc["extends"]) {
    std::string parent;
    if (!ReadString(ext, path, "extends", &parent, e)) return std::nullopt;
    if (depth >= kMaxExtends) {
      Fail(e, path, ext, "extends", "more than " + std::to_string(kMaxExtends) + " levels (a cycle?)");
      return std::nullopt;
    }
    std::string parent_path;
    for (const auto& dir : search) {
      fs::path cand = fs::path(dir) / (parent + ".yaml");
      std::error_code ec;
      if (fs::is_regular_file(cand, ec) && fs::absolute(cand, ec) != fs::absolute(path, ec)) {
        parent_path = cand.string();
        break;
      }
    }
    if (parent_path.empty()) {
      Fail(e, path, ext, "extends", "no profile '" + parent + "' on the search path");
      return std::nullopt;
    }
    ScenarioError pe;
    auto base = Load(parent_path, search, depth + 1, &pe);
    if (!base) {
      // The parent's own error, named as it is (its file and line).
      if (e != nullptr) *e = pe;
      return std::nullopt;
    }
    p = *base;
    // What is pinned to the parent's binary is not inherited.
    p.version.clear();
    p.source.clear();
    p.changelog.clear();
  } else {
    p.family = name;
    p.binary = name;
  }
  p.name = name;
  p.file = path;
  p.files.insert(p.files.begin(), path);
  if (!ApplyFile(doc, path, &p, e)) return std::nullopt;
  if (p.kind == "oci") {
    for (const char* need : {"create", "start", "state", "delete"}) {
      if (!p.HasVerb(need)) {
        Fail(e, path, doc["verbs"] ? doc["verbs"] : doc, "verbs",
             std::string("an oci runtime needs the verb '") + need +
                 "' (the harness drives create, state, start, delete)");
        return std::nullopt;
      }
    }
  }
  return p;
}

}  // namespace

bool RuntimeProfile::HasVerb(const std::string& verb) const { return Contains(verb_names, verb); }

static std::string SubstituteVars(std::string a, const std::map<std::string, std::string>& vars) {
  for (const auto& [k, v] : vars) {
    const std::string key = "{" + k + "}";
    for (size_t at = a.find(key); at != std::string::npos; at = a.find(key, at + v.size())) {
      a.replace(at, key.size(), v);
    }
  }
  return a;
}

std::vector<std::string> RuntimeProfile::VerbArgv(const std::string& bin, const std::string& verb,
                                                  const std::map<std::string, std::string>& vars,
                                                  const std::vector<std::string>& operands) const {
  std::vector<std::string> tmpl = {"{binary}", "{global_args}", verb};
  if (auto it = verb_argv.find(verb); it != verb_argv.end()) tmpl = it->second;
  std::map<std::string, std::string> all = vars;
  all["binary"] = bin;
  std::vector<std::string> out;
  for (const auto& t : tmpl) {
    if (t == "{global_args}") {
      for (const auto& g : global_args) out.push_back(SubstituteVars(g, all));
    } else {
      out.push_back(SubstituteVars(t, all));
    }
  }
  for (const auto& o : operands) out.push_back(o);
  return out;
}

std::vector<std::string> RuntimeProfile::CleanupArgv(
    const std::string& bin, const std::map<std::string, std::string>& vars) const {
  std::map<std::string, std::string> all = vars;
  all["binary"] = bin;
  std::vector<std::string> out = {bin};
  for (const auto& g : global_args) out.push_back(SubstituteVars(g, all));
  for (const auto& c : cleanup) out.push_back(SubstituteVars(c, all));
  return out;
}

std::vector<std::string> RuntimeProfile::PersistentPaths(const std::string& root) const {
  std::vector<std::string> out;
  for (const auto& p : persistent_paths) out.push_back(SubstituteVars(p, {{"root", root}}));
  return out;
}

std::vector<std::pair<std::string, std::string>> RuntimeProfile::SharedTempPrefixes() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& t : temp_paths) {
    if (t.rfind("{root}/", 0) == 0) continue;  // under the probed state root
    const size_t slash = t.rfind('/');
    out.emplace_back(slash == 0 ? "/" : t.substr(0, slash),
                     t.substr(slash + 1, t.size() - slash - 2));
  }
  return out;
}

std::vector<std::string> RuntimeProfile::SharedTempGlobs() const {
  std::vector<std::string> out;
  for (const auto& [dir, prefix] : SharedTempPrefixes())
    out.push_back((dir == "/" ? "" : dir) + "/" + prefix + "*");
  return out;
}

std::map<std::string, ExpectedDifference> RuntimeProfile::DifferencesFor(
    const std::string& v) const {
  std::map<std::string, ExpectedDifference> out;
  for (const auto& [k, d] : differences) {  // "NAME" or "NAME#i", in order
    const std::string name = k.substr(0, k.find('#'));
    if (out.count(name) != 0) continue;
    std::string why;
    if (d.versions.empty() || v.empty() || VersionMatches(v, d.versions, &why)) out[name] = d;
  }
  return out;
}

std::string PeerProfileDir() {
  if (const char* d = std::getenv("FAULTLINE_PEERS_DIR"); d != nullptr && *d != '\0') {
    return std::string(d) + "/profiles";
  }
  std::string cache;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x != nullptr && *x != '\0') {
    cache = x;
  } else if (const char* h = std::getenv("HOME"); h != nullptr && *h != '\0') {
    cache = std::string(h) + "/.cache";
  } else {
    return "";
  }
  return cache + "/faultline/peers/profiles";
}

std::vector<std::string> ProfileSearchPath(const std::string& extra_first) {
  std::vector<std::string> out;
  auto add = [&](const std::string& d) {
    if (d.empty()) return;
    std::error_code ec;
    std::string a = fs::absolute(d, ec).lexically_normal().string();
    if (!a.empty() && a.back() == '/') a.pop_back();
    if (!Contains(out, a)) out.push_back(a);
  };
  add(extra_first);
  if (const char* p = std::getenv("FAULTLINE_PROFILE_PATH"); p != nullptr) {
    std::stringstream ss(p);
    std::string d;
    while (std::getline(ss, d, ':')) add(d);
  }
  if (std::string src = FindSourceDir(); !src.empty()) add(src + "/scenarios/runtimes");
  add(PeerProfileDir());
  return out;
}

std::optional<RuntimeProfile> LoadProfileFile(const std::string& path,
                                              const std::vector<std::string>& search,
                                              ScenarioError* error) {
  return Load(path, search, 0, error);
}

std::optional<RuntimeProfile> FindProfile(const std::string& name,
                                          const std::vector<std::string>& search,
                                          ScenarioError* error) {
  for (const auto& dir : search) {
    fs::path cand = fs::path(dir) / (name + ".yaml");
    std::error_code ec;
    if (fs::is_regular_file(cand, ec)) return Load(cand.string(), search, 0, error);
  }
  if (error != nullptr) {
    std::string dirs;
    for (const auto& d : search) dirs += (dirs.empty() ? "" : ", ") + d;
    *error = ScenarioError{"", 0, 0, "", "no runtime profile '" + name + ".yaml' in " + dirs};
  }
  return std::nullopt;
}

std::vector<ProfileFile> ListProfiles(const std::vector<std::string>& search) {
  std::map<std::string, std::string> seen;
  for (const auto& dir : search) {
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      if (!it->is_regular_file() || it->path().extension() != ".yaml") continue;
      seen.emplace(it->path().stem().string(), it->path().string());
    }
  }
  std::vector<ProfileFile> out;
  for (const auto& [n, p] : seen) out.push_back({n, p});
  return out;
}

std::vector<RuntimeProfile> LoadAllProfiles(const std::vector<std::string>& search,
                                            std::vector<std::string>* errors) {
  std::vector<RuntimeProfile> out;
  for (const auto& f : ListProfiles(search)) {
    ScenarioError e;
    if (auto p = LoadProfileFile(f.path, search, &e)) {
      for (const auto& pe : p->errors) errors->push_back(pe.Message());
      out.push_back(std::move(*p));
    } else {
      errors->push_back(e.Message());
    }
  }
  return out;
}

std::string ResolveProfileBinary(const RuntimeProfile& p, const std::string& override_binary) {
  std::string b = override_binary.empty() ? p.binary : override_binary;
  if (b.empty()) return "";
  if (b.find('/') != std::string::npos) {
    std::error_code ec;
    return fs::absolute(b, ec).lexically_normal().string();
  }
  return FindSystemBinary(b);
}

std::string VersionLine(const std::string& binary, std::string* error) {
  char tmpl[] = "/tmp/faultline-version-XXXXXX";
  int fd = ::mkstemp(tmpl);
  if (fd < 0) {
    *error = "mkstemp /tmp: " + std::string(strerror(errno));
    return "";
  }
  ::close(fd);
  ProcessResult r = RunProcess({{binary, "--version"}, {}, tmpl, tmpl, true}, 10);
  std::string text = ReadTextFile(tmpl);
  ::unlink(tmpl);
  std::string line = text.substr(0, text.find('\n'));
  if (r.exit_code != 0 || line.empty()) {
    *error = binary + " --version exited " + std::to_string(r.exit_code) + r.start_error +
             (line.empty() ? "" : ": " + line);
    return "";
  }
  return line;
}

std::string VersionNumber(const std::string& line) {
  for (size_t i = 0; i < line.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(line[i]))) continue;
    if (i > 0 && (std::isalnum(static_cast<unsigned char>(line[i - 1])) || line[i - 1] == '.')) {
      continue;
    }
    size_t j = i;
    bool dot = false;
    while (j < line.size() && (std::isdigit(static_cast<unsigned char>(line[j])) ||
                               (line[j] == '.' && j + 1 < line.size() &&
                                std::isdigit(static_cast<unsigned char>(line[j + 1]))))) {
      dot |= line[j] == '.';
      ++j;
    }
    if (dot) return line.substr(i, j - i);
  }
  return "";
}

namespace {

// -1, 0, 1: numeric, component by component; missing components are 0.
int CompareVersions(const std::string& a, const std::string& b) {
  std::stringstream sa(a), sb(b);
  std::string x, y;
  while (true) {
    bool ha = static_cast<bool>(std::getline(sa, x, '.'));
    bool hb = static_cast<bool>(std::getline(sb, y, '.'));
    if (!ha && !hb) return 0;
    long va = ha ? std::strtol(x.c_str(), nullptr, 10) : 0;
    long vb = hb ? std::strtol(y.c_str(), nullptr, 10) : 0;
    if (va != vb) return va < vb ? -1 : 1;
  }
}

bool IsVersion(const std::string& v) {
  if (v.empty() || v.front() == '.' || v.back() == '.') return false;
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '.' && i > 0 && v[i - 1] == '.') return false;
    if (v[i] != '.' && !std::isdigit(static_cast<unsigned char>(v[i]))) return false;
  }
  return true;
}

}  // namespace

bool VersionMatches(const std::string& version, const std::string& constraints,
                    std::string* error) {
  std::stringstream ss(constraints);
  std::string c;
  bool all = true, any = false;
  while (std::getline(ss, c, ',')) {
    c.erase(0, c.find_first_not_of(' '));
    c.erase(c.find_last_not_of(' ') + 1);
    std::string op;
    for (const char* o : {">=", "<=", "==", "<", ">", "="}) {
      if (c.rfind(o, 0) == 0) {
        op = o;
        break;
      }
    }
    std::string v = c.substr(op.size());
    v.erase(0, v.find_first_not_of(' '));
    if (!IsVersion(v)) {
      *error = "'" + c + "' is not a version constraint (<1.2, >=1.1.15, ==1.1.5, or 1.1.5; "
               "comma-separated: all must hold)";
      return false;
    }
    any = true;
    int cmp = CompareVersions(version, v);
    bool ok = op == ">=" ? cmp >= 0 : op == "<=" ? cmp <= 0 : op == "<" ? cmp < 0
            : op == ">" ? cmp > 0 : cmp == 0;
    all = all && ok;
  }
  if (!any) {
    *error = "an empty version constraint";
    return false;
  }
  error->clear();
  return all;
}

}  // namespace faultline
