#include "harness/scenario/scenario.h"
#include "harness/adapters/profile.h"

#include "runtime/rootfs/hardening.h"
#include "harness/scenario/isolation.h"

#include <errno.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

namespace faultline {
namespace {

namespace fs = std::filesystem;

// Collects the first error; every Get* helper returns false after one.
class Reader {
 public:
  Reader(std::string file, ScenarioError* out) : file_(std::move(file)), out_(out) {}

  bool Fail(const YAML::Node& at, const std::string& field, const std::string& msg) {
    return FailAt(at.IsDefined() ? at.Mark() : YAML::Mark::null_mark(), field, msg);
  }
  bool FailAt(const YAML::Mark& m, const std::string& field, const std::string& msg) {
    if (failed_) return false;
    failed_ = true;
    if (out_ != nullptr) {
      out_->file = file_;
      out_->line = m.is_null() ? 0 : m.line + 1;
      out_->column = m.is_null() ? 0 : m.column + 1;
      out_->field = field;
      out_->message = msg;
    }
    return false;
  }
  bool failed() const { return failed_; }
  const std::string& file() const { return file_; }

  // Every key of map must be in allowed.
  bool Keys(const YAML::Node& map, const std::string& field,
            std::initializer_list<const char*> allowed) {
    if (!map.IsMap()) return Fail(map, field, "must be a mapping");
    for (const auto& kv : map) {
      std::string k = kv.first.Scalar();
      bool ok = std::any_of(allowed.begin(), allowed.end(),
                            [&](const char* a) { return k == a; });
      if (!ok) {
        std::string list;
        for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
        return Fail(kv.first, Join(field, k), "unknown key (known: " + list + ")");
      }
    }
    return true;
  }

  bool String(const YAML::Node& n, const std::string& field, std::string* out) {
    if (!n.IsScalar()) return Fail(n, field, "must be a string");
    *out = n.Scalar();
    return true;
  }
  bool Int(const YAML::Node& n, const std::string& field, long long min, long long max,
           long long* out) {
    if (!n.IsScalar()) return Fail(n, field, "must be an integer");
    const std::string& s = n.Scalar();
    char* end = nullptr;
    errno = 0;
    long long v = std::strtoll(s.c_str(), &end, 10);
    if (s.empty() || *end != '\0' || errno != 0) {
      return Fail(n, field, "must be an integer, not '" + s + "'");
    }
    if (v < min || v > max) {
      return Fail(n, field, "must be in " + std::to_string(min) + ".." + std::to_string(max));
    }
    *out = v;
    return true;
  }
  bool Bool(const YAML::Node& n, const std::string& field, bool* out) {
    if (!n.IsScalar()) return Fail(n, field, "must be true or false");
    const std::string& s = n.Scalar();
    if (s == "true") *out = true;
    else if (s == "false") *out = false;
    else return Fail(n, field, "must be true or false, not '" + s + "'");
    return true;
  }
  // A string or a list of strings.
  bool Strings(const YAML::Node& n, const std::string& field,
               std::vector<std::string>* out) {
    if (n.IsScalar()) {
      out->push_back(n.Scalar());
      return true;
    }
    if (!n.IsSequence()) return Fail(n, field, "must be a string or a list of strings");
    for (size_t i = 0; i < n.size(); ++i) {
      if (!n[i].IsScalar()) {
        return Fail(n[i], field + "[" + std::to_string(i) + "]", "must be a string");
      }
      out->push_back(n[i].Scalar());
    }
    return true;
  }
  bool Patterns(const YAML::Node& n, const std::string& field,
                std::vector<OutputPattern>* out) {
    std::vector<std::string> list;
    if (!Strings(n, field, &list)) return false;
    for (size_t i = 0; i < list.size(); ++i) {
      const YAML::Node& at = n.IsSequence() ? n[i] : n;
      try {
        std::regex re(list[i], std::regex::ECMAScript | std::regex::multiline);
      } catch (const std::regex_error& e) {
        return Fail(at, field, "bad regular expression '" + list[i] + "': " + e.what());
      }
      out->push_back(OutputPattern{list[i], at.Mark().line + 1});
    }
    return true;
  }

  static std::string Join(const std::string& a, const std::string& b) {
    return a.empty() ? b : a + "." + b;
  }

 private:
  std::string file_;
  ScenarioError* out_;
  bool failed_ = false;
};

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

bool ParseLimits(Reader& r, const YAML::Node& n, mydocker::CgroupLimits* out) {
  if (!r.Keys(n, "limits", {"memory", "cpus", "cpu_shares", "cpuset_cpus", "pids"})) {
    return false;
  }
  auto bad = [&](const YAML::Node& at, const char* field, const mydocker::Error& e) {
    return r.Fail(at, std::string("limits.") + field, e.Message());
  };
  if (n["memory"]) {
    if (!n["memory"].IsScalar()) return r.Fail(n["memory"], "limits.memory", "must be a size");
    auto v = mydocker::ParseMemorySize(n["memory"].Scalar());
    if (!v) return bad(n["memory"], "memory", v.error());
    out->memory_bytes = *v;
  }
  if (n["cpus"]) {
    if (!n["cpus"].IsScalar()) return r.Fail(n["cpus"], "limits.cpus", "must be a number");
    auto v = mydocker::ParseCpus(n["cpus"].Scalar());
    if (!v) return bad(n["cpus"], "cpus", v.error());
    out->cpus = *v;
  }
  if (n["cpu_shares"]) {
    long long v = 0;
    if (!r.Int(n["cpu_shares"], "limits.cpu_shares", 2, 262144, &v)) return false;
    out->cpu_shares = static_cast<uint64_t>(v);
  }
  if (n["cpuset_cpus"]) {
    if (!n["cpuset_cpus"].IsScalar()) {
      return r.Fail(n["cpuset_cpus"], "limits.cpuset_cpus", "must be a cpu list");
    }
    auto v = mydocker::ParseCpuList(n["cpuset_cpus"].Scalar());
    if (!v) return bad(n["cpuset_cpus"], "cpuset_cpus", v.error());
    out->cpuset_cpus = *v;
  }
  if (n["pids"]) {
    long long v = 0;
    if (!r.Int(n["pids"], "limits.pids", -1, 1 << 22, &v)) return false;
    out->pids_limit = v;
  }
  return true;
}

bool ParseVolumes(Reader& r, const YAML::Node& n, std::vector<VolumeSpec>* out) {
  if (!n.IsSequence()) return r.Fail(n, "volumes", "must be a list");
  static const std::regex kName("[A-Za-z0-9_.-]+");
  for (size_t i = 0; i < n.size(); ++i) {
    const std::string f = "volumes[" + std::to_string(i) + "]";
    const YAML::Node& v = n[i];
    if (!r.Keys(v, f, {"host", "container", "read_only", "files"})) return false;
    VolumeSpec spec;
    if (!v["host"]) return r.Fail(v, f + ".host", "missing");
    if (!r.String(v["host"], f + ".host", &spec.host)) return false;
    if (!std::regex_match(spec.host, kName) || spec.host == "." || spec.host == "..") {
      return r.Fail(v["host"], f + ".host",
                    "must be a name (a directory the harness makes), not a path");
    }
    if (!v["container"]) return r.Fail(v, f + ".container", "missing");
    if (!r.String(v["container"], f + ".container", &spec.container)) return false;
    if (spec.container.empty() || spec.container[0] != '/' || spec.container == "/" ||
        spec.container.find("..") != std::string::npos) {
      return r.Fail(v["container"], f + ".container",
                    "must be an absolute path other than /, without ..");
    }
    if (v["read_only"] && !r.Bool(v["read_only"], f + ".read_only", &spec.read_only)) {
      return false;
    }
    if (v["files"]) {
      if (!v["files"].IsMap()) return r.Fail(v["files"], f + ".files", "must be a mapping");
      for (const auto& kv : v["files"]) {
        std::string fname = kv.first.Scalar();
        if (!std::regex_match(fname, kName) || fname == "." || fname == "..") {
          return r.Fail(kv.first, f + ".files", "a file name, not a path: '" + fname + "'");
        }
        std::string content;
        if (!r.String(kv.second, f + ".files." + fname, &content)) return false;
        spec.files[fname] = content;
      }
    }
    out->push_back(spec);
  }
  return true;
}

bool ParseEntries(Reader& r, const YAML::Node& list, const std::string& field,
                  std::vector<ImageEntry>* out);

// image: a mapping describing a hostile image (hostile_image.h).
bool ParseImage(Reader& r, const YAML::Node& n, const std::string& scenario_name,
                HostileImage* out) {
  if (!r.Keys(n, "image", {"name", "base", "import", "limits", "entries", "format", "layers",
                           "config"})) {
    return false;
  }
  out->line = n.Mark().line + 1;
  // Default name: the scenario's base name, as an image name.
  std::string def = scenario_name.substr(scenario_name.rfind('/') + 1);
  for (char& c : def) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-') c = '-';
  }
  out->name = "hostile-" + def;
  if (n["name"] && !r.String(n["name"], "image.name", &out->name)) return false;
  if (!mydocker::ValidImageName(out->name)) {
    return r.Fail(n["name"] ? n["name"] : n, "image.name",
                  "image names are [a-z0-9][a-z0-9._-]*, at most 128");
  }
  if (n["base"]) {
    if (!r.String(n["base"], "image.base", &out->base)) return false;
    if (out->base != "busybox" && out->base != "none") {
      return r.Fail(n["base"], "image.base", "busybox or none");
    }
  }
  if (n["import"] && !r.Bool(n["import"], "image.import", &out->import)) return false;
  const bool layered = static_cast<bool>(n["layers"]);
  if (layered) {
    // A multi-layer image (oci_layout.h): the base's tar is layer 1.
    if (!out->import) return r.Fail(n["layers"], "image.layers", "only for import: true");
    out->format = "oci";
    if (n["format"]) {
      if (!r.String(n["format"], "image.format", &out->format)) return false;
      if (out->format != "oci" && out->format != "oci-dir" && out->format != "docker-save") {
        return r.Fail(n["format"], "image.format", "oci, oci-dir or docker-save");
      }
    }
    const YAML::Node& ls = n["layers"];
    if (!ls.IsSequence() || ls.size() == 0) {
      return r.Fail(ls, "image.layers", "must be a non-empty list of {entries: [...]}");
    }
    for (size_t i = 0; i < ls.size(); ++i) {
      const std::string f = "image.layers[" + std::to_string(i) + "]";
      if (!r.Keys(ls[i], f, {"entries"})) return false;
      if (!ls[i]["entries"]) return r.Fail(ls[i], f + ".entries", "missing: the layer's entries");
      std::vector<ImageEntry> entries;
      if (!ParseEntries(r, ls[i]["entries"], f + ".entries", &entries)) return false;
      out->layers.push_back(std::move(entries));
    }
    if (const YAML::Node& c = n["config"]) {
      if (!r.Keys(c, "image.config", {"env", "cmd", "entrypoint", "working_dir"})) return false;
      auto list = [&](const char* key, std::vector<std::string>* v) {
        if (!c[key]) return true;
        if (!c[key].IsSequence()) {
          return r.Fail(c[key], std::string("image.config.") + key, "must be a list of strings");
        }
        for (size_t i = 0; i < c[key].size(); ++i) {
          std::string x;
          if (!r.String(c[key][i], std::string("image.config.") + key, &x)) return false;
          v->push_back(x);
        }
        return true;
      };
      if (!list("env", &out->config.env) || !list("cmd", &out->config.cmd) ||
          !list("entrypoint", &out->config.entrypoint)) {
        return false;
      }
      if (c["working_dir"] &&
          !r.String(c["working_dir"], "image.config.working_dir", &out->config.working_dir)) {
        return false;
      }
    }
    if (!n["entries"]) return true;
    return r.Fail(n["entries"], "image.entries", "a layered image has layers, not entries");
  }
  if (n["format"] || n["config"]) {
    return r.Fail(n["format"] ? n["format"] : n["config"], "image", "format and config need layers");
  }
  if (out->import && n["base"] && out->base != "none") {
    return r.Fail(n["base"], "image.base", "an imported image has no base (base: none)");
  }
  if (out->import) out->base = "none";
  if (n["limits"]) {
    const YAML::Node& l = n["limits"];
    if (!out->import) return r.Fail(l, "image.limits", "only for import: true");
    if (!r.Keys(l, "image.limits", {"max_entries", "max_size", "max_depth"})) return false;
    long long v = 0;
    if (l["max_entries"]) {
      if (!r.Int(l["max_entries"], "image.limits.max_entries", 1, 100000000, &v)) return false;
      out->limits.max_entries = static_cast<uint64_t>(v);
    }
    if (l["max_depth"]) {
      if (!r.Int(l["max_depth"], "image.limits.max_depth", 1, 4096, &v)) return false;
      out->limits.max_depth = static_cast<size_t>(v);
    }
    if (l["max_size"]) {
      std::string text;
      if (!r.String(l["max_size"], "image.limits.max_size", &text)) return false;
      auto m = mydocker::ParseMemorySize(text);
      if (!m) return r.Fail(l["max_size"], "image.limits.max_size", m.error().Message());
      out->limits.max_bytes = static_cast<uint64_t>(*m);
    }
  }
  if (!n["entries"]) return r.Fail(n, "image.entries", "missing: the image's entries");
  return ParseEntries(r, n["entries"], "image.entries", &out->entries);
}

bool ParseEntries(Reader& r, const YAML::Node& list, const std::string& field,
                  std::vector<ImageEntry>* out) {
  if (!list.IsSequence()) return r.Fail(list, field, "must be a list of entries");
  uint64_t total = 0;
  for (size_t i = 0; i < list.size(); ++i) {
    const YAML::Node& x = list[i];
    const std::string f = field + "[" + std::to_string(i) + "]";
    if (!r.Keys(x, f, {"path", "type", "target", "content", "size", "mode", "count"})) {
      return false;
    }
    ImageEntry e;
    e.line = x.Mark().line + 1;
    if (!x["path"]) return r.Fail(x, f + ".path", "missing");
    if (!r.String(x["path"], f + ".path", &e.path)) return false;
    std::string decoded;
    if (!DecodePercent(e.path, &decoded)) {
      return r.Fail(x["path"], f + ".path", "a '%' must be followed by two hex digits");
    }
    if (decoded.empty() || decoded[0] == '/') {
      return r.Fail(x["path"], f + ".path", "a relative path inside the image");
    }
    std::string type = "file";
    if (x["type"] && !r.String(x["type"], f + ".type", &type)) return false;
    static const std::pair<const char*, ImageEntry::Type> kTypes[] = {
        {"dir", ImageEntry::Type::kDir},         {"file", ImageEntry::Type::kFile},
        {"symlink", ImageEntry::Type::kSymlink}, {"hardlink", ImageEntry::Type::kHardlink},
        {"fifo", ImageEntry::Type::kFifo},       {"chardev", ImageEntry::Type::kCharDevice}};
    bool known = false;
    for (const auto& [name, t] : kTypes) {
      if (type == name) {
        e.type = t;
        known = true;
      }
    }
    if (!known) {
      return r.Fail(x["type"], f + ".type", "dir, file, symlink, hardlink, fifo or chardev");
    }
    const bool linkish =
        e.type == ImageEntry::Type::kSymlink || e.type == ImageEntry::Type::kHardlink;
    if (x["target"]) {
      if (!linkish) return r.Fail(x["target"], f + ".target", "only for symlink and hardlink");
      if (!r.String(x["target"], f + ".target", &e.target)) return false;
    } else if (linkish) {
      return r.Fail(x, f + ".target", "missing: a " + type + " needs a target");
    }
    if (x["content"]) {
      if (e.type != ImageEntry::Type::kFile) return r.Fail(x["content"], f + ".content", "only for files");
      std::string raw;
      if (!r.String(x["content"], f + ".content", &raw)) return false;
      if (!DecodePercent(raw, &e.content)) {
        return r.Fail(x["content"], f + ".content", "a '%' must be followed by two hex digits");
      }
    }
    if (x["size"]) {
      if (e.type != ImageEntry::Type::kFile) return r.Fail(x["size"], f + ".size", "only for files");
      std::string text;
      if (!r.String(x["size"], f + ".size", &text)) return false;
      auto m = mydocker::ParseMemorySize(text);
      if (!m) return r.Fail(x["size"], f + ".size", m.error().Message());
      e.size = static_cast<uint64_t>(*m);
      if (e.size < e.content.size()) {
        return r.Fail(x["size"], f + ".size", "smaller than the content");
      }
    }
    long long v = 0;
    if (x["mode"]) {
      std::string text;
      if (!r.String(x["mode"], f + ".mode", &text)) return false;
      char* end = nullptr;
      unsigned long m = std::strtoul(text.c_str(), &end, 8);
      if (text.empty() || *end != '\0' || m > 07777) {
        return r.Fail(x["mode"], f + ".mode", "octal permission bits such as 0755 or 4755");
      }
      e.mode = static_cast<uint32_t>(m);
    }
    if (x["count"]) {
      if (!r.Int(x["count"], f + ".count", 1, 1000000, &v)) return false;
      e.count = static_cast<uint64_t>(v);
      if (e.count > 1 && e.path.find("{i}") == std::string::npos) {
        return r.Fail(x["path"], f + ".path", "with count > 1 the path must hold {i}");
      }
    }
    total += e.count;
    if (total > 2000000) return r.Fail(x, f + ".count", "more than 2000000 entries in all");
    out->push_back(std::move(e));
  }
  return true;
}

bool ParseExpect(Reader& r, const YAML::Node& n, Expectations* e) {
  if (!r.Keys(n, "expect", {"exit", "stdout", "stdout_not", "stderr", "stderr_not", "error",
                            "isolation", "probes", "cgroup_live", "teardown_twice",
                            "image_error"})) {
    return false;
  }
  if (n["exit"]) {
    const YAML::Node& x = n["exit"];
    if (x.IsScalar() && x.Scalar() == "nonzero") {
      e->exit_nonzero = true;
      e->exit_code.reset();
    } else {
      long long v = 0;
      if (!r.Int(x, "expect.exit", 0, 255, &v)) return false;
      e->exit_code = static_cast<int>(v);
      e->exit_nonzero = false;
    }
  }
  if (n["stdout"]) {
    e->stdout_has.clear();
    if (!r.Patterns(n["stdout"], "expect.stdout", &e->stdout_has)) return false;
  }
  if (n["stdout_not"]) {
    e->stdout_lacks.clear();
    if (!r.Patterns(n["stdout_not"], "expect.stdout_not", &e->stdout_lacks)) return false;
  }
  if (n["stderr"]) {
    e->stderr_has.clear();
    if (!r.Patterns(n["stderr"], "expect.stderr", &e->stderr_has)) return false;
  }
  if (n["stderr_not"]) {
    e->stderr_lacks.clear();
    if (!r.Patterns(n["stderr_not"], "expect.stderr_not", &e->stderr_lacks)) return false;
  }
  if (n["error"]) {
    const YAML::Node& x = n["error"];
    if (x.IsNull()) {
      e->error.reset();
    } else {
      if (!r.Keys(x, "expect.error", {"step", "errno"})) return false;
      ExpectedError err;
      if (!x["step"]) return r.Fail(x, "expect.error.step", "missing");
      if (!r.String(x["step"], "expect.error.step", &err.step)) return false;
      if (x["errno"]) {
        if (!r.String(x["errno"], "expect.error.errno", &err.errno_name)) return false;
        if (err.errno_name.size() < 2 || err.errno_name[0] != 'E') {
          return r.Fail(x["errno"], "expect.error.errno", "an errno name like EIO");
        }
      }
      e->error = err;
    }
  }
  if (n["isolation"]) {
    e->isolation.clear();
    if (!r.Strings(n["isolation"], "expect.isolation", &e->isolation)) return false;
    for (size_t i = 0; i < e->isolation.size(); ++i) {
      if (!Contains(KnownIsolationChecks(), e->isolation[i])) {
        std::string known;
        for (const auto& k : KnownIsolationChecks()) known += (known.empty() ? "" : ", ") + k;
        const YAML::Node& at = n["isolation"].IsSequence() ? n["isolation"][i] : n["isolation"];
        return r.Fail(at, "expect.isolation",
                      "unknown check '" + e->isolation[i] + "' (known: " + known + ")");
      }
    }
  }
  if (n["probes"]) {
    e->probes.clear();
    if (n["probes"].IsScalar() && n["probes"].Scalar() == "none") {
      // an explicit empty set
    } else {
      if (!r.Strings(n["probes"], "expect.probes", &e->probes)) return false;
      for (size_t i = 0; i < e->probes.size(); ++i) {
        if (!Contains(KnownProbes(), e->probes[i])) {
          const YAML::Node& at = n["probes"].IsSequence() ? n["probes"][i] : n["probes"];
          return r.Fail(at, "expect.probes", "unknown probe '" + e->probes[i] + "'");
        }
      }
    }
  }
  if (n["image_error"] &&
      !r.String(n["image_error"], "expect.image_error", &e->image_error)) {
    return false;
  }
  if (n["cgroup_live"] && !r.Bool(n["cgroup_live"], "expect.cgroup_live", &e->cgroup_live)) {
    return false;
  }
  if (n["teardown_twice"] &&
      !r.Bool(n["teardown_twice"], "expect.teardown_twice", &e->teardown_twice)) {
    return false;
  }
  return true;
}

// ---- steps ----

struct ActionSpec {
  const char* name;
  bool host;
  enum Target { kNone, kContainer, kHolder, kSeconds, kText } target;
  std::vector<const char*> extra;  // keys beside the action and expect
};

const std::vector<ActionSpec>& Actions() {
  static const std::vector<ActionSpec> k = {
      {"run", false, ActionSpec::kContainer, {"command", "detach", "pause_at"}},
      {"create", false, ActionSpec::kContainer, {"command"}},
      {"start", false, ActionSpec::kContainer, {}},
      {"exec", false, ActionSpec::kContainer, {"command"}},
      {"kill", false, ActionSpec::kContainer, {"signal"}},
      {"kill_runtime", false, ActionSpec::kContainer, {}},
      {"stop", false, ActionSpec::kContainer, {"timeout"}},
      {"rm", false, ActionSpec::kContainer, {"force"}},
      {"recover", false, ActionSpec::kContainer, {}},
      {"gc", false, ActionSpec::kNone, {}},
      {"ps", false, ActionSpec::kNone, {}},
      {"pause", false, ActionSpec::kContainer, {}},
      {"resume", false, ActionSpec::kContainer, {}},
      {"wait", false, ActionSpec::kContainer, {"timeout"}},
      {"logs", false, ActionSpec::kContainer, {}},
      {"release_call", false, ActionSpec::kContainer, {}},
      {"hold_mounts", true, ActionSpec::kHolder, {}},
      {"release", true, ActionSpec::kHolder, {}},
      {"freeze", true, ActionSpec::kContainer, {}},
      {"thaw", true, ActionSpec::kContainer, {}},
      {"sleep", true, ActionSpec::kSeconds, {}},
      {"sh", true, ActionSpec::kText, {}},
      {"check", true, ActionSpec::kNone, {}},
  };
  return k;
}

const ActionSpec* FindAction(const std::string& name) {
  for (const auto& a : Actions()) {
    if (name == a.name) return &a;
  }
  return nullptr;
}

bool ParseStepExpect(Reader& r, const YAML::Node& n, const std::string& f, StepExpect* e) {
  if (!r.Keys(n, f, {"exit", "stdout", "stdout_not", "stderr", "stderr_not", "running", "gone",
                     "cgroup_live", "held", "probes", "probe_shows", "file", "within"})) {
    return false;
  }
  e->any = true;
  if (n["exit"]) {
    const YAML::Node& x = n["exit"];
    if (x.IsScalar() && x.Scalar() == "nonzero") {
      e->exit_nonzero = true;
    } else if (x.IsScalar() && x.Scalar() == "any") {
      e->exit_any = true;
    } else {
      long long v = 0;
      if (!r.Int(x, f + ".exit", 0, 255, &v)) return false;
      e->exit_code = static_cast<int>(v);
    }
  }
  if (n["stdout"] && !r.Patterns(n["stdout"], f + ".stdout", &e->stdout_has)) return false;
  if (n["stdout_not"] && !r.Patterns(n["stdout_not"], f + ".stdout_not", &e->stdout_lacks))
    return false;
  if (n["stderr"] && !r.Patterns(n["stderr"], f + ".stderr", &e->stderr_has)) return false;
  if (n["stderr_not"] && !r.Patterns(n["stderr_not"], f + ".stderr_not", &e->stderr_lacks))
    return false;
  if (n["running"] && !r.Strings(n["running"], f + ".running", &e->running)) return false;
  if (n["gone"] && !r.Strings(n["gone"], f + ".gone", &e->gone)) return false;
  if (n["cgroup_live"] && !r.Strings(n["cgroup_live"], f + ".cgroup_live", &e->cgroup_live))
    return false;
  if (n["held"] && !r.Strings(n["held"], f + ".held", &e->held)) return false;
  if (n["probes"]) {
    const YAML::Node& p = n["probes"];
    if (p.IsScalar() && p.Scalar() == "all") {
      e->probes = KnownProbes();
    } else {
      if (!r.Strings(p, f + ".probes", &e->probes)) return false;
      for (size_t i = 0; i < e->probes.size(); ++i) {
        if (!Contains(KnownProbes(), e->probes[i])) {
          return r.Fail(p.IsSequence() ? p[i] : p, f + ".probes",
                        "unknown probe '" + e->probes[i] + "'");
        }
      }
    }
  }
  if (n["probe_shows"]) {
    const YAML::Node& p = n["probe_shows"];
    if (!p.IsMap()) return r.Fail(p, f + ".probe_shows", "a mapping probe -> regex");
    for (const auto& kv : p) {
      const std::string probe = kv.first.Scalar();
      if (!Contains(KnownProbes(), probe)) {
        return r.Fail(kv.first, f + ".probe_shows", "unknown probe '" + probe + "'");
      }
      std::vector<OutputPattern> one;
      if (!kv.second.IsScalar()) return r.Fail(kv.second, f + ".probe_shows." + probe, "a regex");
      if (!r.Patterns(kv.second, f + ".probe_shows." + probe, &one)) return false;
      e->probe_shows[probe] = one[0].regex;
    }
  }
  if (n["file"]) {
    const YAML::Node& list = n["file"];
    auto one = [&](const YAML::Node& x, const std::string& ff) {
      if (!r.Keys(x, ff, {"path", "exists", "contains"})) return false;
      StepFileCheck c;
      c.line = x.Mark().line + 1;
      if (!x["path"]) return r.Fail(x, ff + ".path", "missing");
      if (!r.String(x["path"], ff + ".path", &c.path)) return false;
      if (c.path.empty() || (c.path[0] != '/' && c.path.rfind("{scratch}", 0) != 0)) {
        return r.Fail(x["path"], ff + ".path", "an absolute host path (or {scratch}/...)");
      }
      if (x["exists"] && !r.Bool(x["exists"], ff + ".exists", &c.exists)) return false;
      if (x["contains"]) {
        std::vector<OutputPattern> p;
        if (!r.Patterns(x["contains"], ff + ".contains", &p)) return false;
        if (p.size() != 1) return r.Fail(x["contains"], ff + ".contains", "one regex");
        c.contains = p[0].regex;
        if (!c.exists) return r.Fail(x["contains"], ff + ".contains", "not with exists: false");
      }
      e->files.push_back(c);
      return true;
    };
    if (list.IsSequence()) {
      for (size_t i = 0; i < list.size(); ++i) {
        if (!one(list[i], f + ".file[" + std::to_string(i) + "]")) return false;
      }
    } else if (!one(list, f + ".file")) {
      return false;
    }
  }
  if (n["within"]) {
    const YAML::Node& x = n["within"];
    char* end = nullptr;
    const std::string t = x.IsScalar() ? x.Scalar() : "";
    double v = std::strtod(t.c_str(), &end);
    if (t.empty() || *end != '\0' || !(v > 0) || v > 3600) {
      return r.Fail(x, f + ".within", "seconds, a number in (0, 3600]");
    }
    e->within_seconds = v;
  }
  return true;
}

bool ParseSteps(Reader& r, const YAML::Node& n, std::vector<Step>* out) {
  if (!n.IsSequence() || n.size() == 0) return r.Fail(n, "steps", "must be a non-empty list");
  static const std::regex kName("[a-z0-9][a-z0-9_-]{0,31}");
  std::set<std::string> containers, holders;
  std::set<std::string> held;  // containers a run's pause_at holds, until release_call
  for (size_t i = 0; i < n.size(); ++i) {
    const std::string f = "steps[" + std::to_string(i) + "]";
    const YAML::Node& x = n[i];
    if (!x.IsMap()) return r.Fail(x, f, "a step is a mapping: {ACTION: TARGET, ...}");
    const ActionSpec* spec = nullptr;
    YAML::Node action_key;
    for (const auto& kv : x) {
      const ActionSpec* a = FindAction(kv.first.Scalar());
      if (a == nullptr) continue;
      if (spec != nullptr) {
        return r.Fail(kv.first, f + "." + kv.first.Scalar(),
                      std::string("one action per step (this one has ") + spec->name + " too)");
      }
      spec = a;
      action_key = kv.first;
    }
    if (spec == nullptr) {
      std::string list;
      for (const auto& a : Actions()) list += (list.empty() ? "" : ", ") + std::string(a.name);
      return r.Fail(x, f, "no action (one of: " + list + ")");
    }
    Step st;
    st.action = spec->name;
    st.line = x.Mark().line + 1;
    const std::string af = f + "." + st.action;
    // The keys this action takes.
    for (const auto& kv : x) {
      const std::string k = kv.first.Scalar();
      if (k == st.action || k == "expect") continue;
      bool ok = std::any_of(spec->extra.begin(), spec->extra.end(),
                            [&](const char* e) { return k == e; });
      if (!ok) {
        std::string list;
        for (const char* e : spec->extra) list += (list.empty() ? "" : ", ") + std::string(e);
        return r.Fail(kv.first, f + "." + k,
                      "unknown key for " + st.action + " (it takes: " +
                          (list.empty() ? std::string("expect only") : list + ", expect") + ")");
      }
    }
    const YAML::Node v = x[st.action];
    switch (spec->target) {
      case ActionSpec::kNone:
        if (!v.IsNull() && !(v.IsScalar() && (v.Scalar() == "true" || v.Scalar().empty()))) {
          return r.Fail(v, af, "takes no operand (write `- " + st.action + ":`)");
        }
        break;
      case ActionSpec::kContainer:
      case ActionSpec::kHolder: {
        if (!r.String(v, af, &st.target)) return false;
        if (!std::regex_match(st.target, kName)) {
          return r.Fail(v, af, "a name: [a-z0-9][a-z0-9_-]*, at most 32");
        }
        auto& known = spec->target == ActionSpec::kHolder ? holders : containers;
        const bool introduces = st.action == "run" || st.action == "create" ||
                                st.action == "hold_mounts";
        if (introduces) {
          if (known.count(st.target)) {
            return r.Fail(v, af, "'" + st.target + "' is already " +
                                     (spec->host ? "held" : "used") + " by an earlier step");
          }
          known.insert(st.target);
        } else if (!known.count(st.target)) {
          return r.Fail(v, af, "no earlier step " +
                                   std::string(spec->target == ActionSpec::kHolder
                                                   ? "holds '" + st.target + "' (hold_mounts)"
                                                   : "runs or creates '" + st.target + "'"));
        }
        break;
      }
      case ActionSpec::kSeconds: {
        char* end = nullptr;
        const std::string t = v.IsScalar() ? v.Scalar() : "";
        st.seconds = std::strtod(t.c_str(), &end);
        if (t.empty() || *end != '\0' || !(st.seconds >= 0) || st.seconds > 600) {
          return r.Fail(v, af, "seconds, a number in [0, 600]");
        }
        break;
      }
      case ActionSpec::kText: {
        std::string text;
        if (!r.String(v, af, &text)) return false;
        if (text.empty()) return r.Fail(v, af, "must not be empty");
        st.command = {"/bin/sh", "-c", text};
        break;
      }
    }
    if (x["command"]) {
      const YAML::Node& c = x["command"];
      if (c.IsScalar()) {
        st.command = {"sh", "-c", c.Scalar()};
      } else if (!r.Strings(c, f + ".command", &st.command)) {
        return false;
      }
      if (st.command.empty()) return r.Fail(c, f + ".command", "must not be empty");
    } else if (st.action == "exec" || st.action == "run" || st.action == "create") {
      return r.Fail(x, f + ".command", "missing: " + st.action + " needs a command");
    }
    if (x["detach"] && !r.Bool(x["detach"], f + ".detach", &st.detach)) return false;
    if (x["force"] && !r.Bool(x["force"], f + ".force", &st.force)) return false;
    if (x["signal"]) {
      if (!r.String(x["signal"], f + ".signal", &st.signal)) return false;
      static const std::regex kSig("(SIG)?(TERM|KILL|INT|HUP|QUIT|USR1|USR2|STOP|CONT)");
      if (!std::regex_match(st.signal, kSig)) {
        return r.Fail(x["signal"], f + ".signal", "TERM, KILL, INT, HUP, QUIT, USR1, USR2, STOP or CONT");
      }
      if (st.signal.rfind("SIG", 0) == 0) st.signal = st.signal.substr(3);
    }
    if (x["pause_at"]) {
      const YAML::Node& p = x["pause_at"];
      const std::string pf = f + ".pause_at";
      if (!st.detach) {
        return r.Fail(p, pf, "needs detach: true (the step returns while the call is held)");
      }
      auto plan = FaultPlan::PausePointFromYamlNode(p, pf);
      if (!plan) {
        // The plan parser names the field ("<pf>.nth"): point at its key
        // (an unknown key) or its value.
        const mydocker::Error& e = plan.error();
        YAML::Mark at = p.Mark();
        if (p.IsMap() && e.path.rfind(pf + ".", 0) == 0) {
          const size_t from = pf.size() + 1;
          const std::string key = e.path.substr(from, e.path.find_first_of(".[", from) - from);
          for (const auto& kv : p) {
            if (kv.first.Scalar() != key) continue;
            at = e.detail == "unknown key" ? kv.first.Mark() : kv.second.Mark();
          }
        }
        return r.FailAt(at, e.path, e.detail);
      }
      st.pause_at = std::move(*plan);
      held.insert(st.target);
    }
    if (st.action == "release_call") {
      if (!held.count(st.target)) {
        return r.Fail(v, af, "no earlier run of '" + st.target +
                                 "' holds a call (pause_at), or it was released");
      }
      held.erase(st.target);
    }
    if (x["timeout"]) {
      long long t = 0;
      if (!r.Int(x["timeout"], f + ".timeout", 0, 3600, &t)) return false;
      st.timeout = static_cast<int>(t);
    }
    if (x["expect"]) {
      if (!ParseStepExpect(r, x["expect"], f + ".expect", &st.expect)) return false;
      for (const auto* list : {&st.expect.running, &st.expect.gone, &st.expect.cgroup_live}) {
        for (const auto& c : *list) {
          if (!containers.count(c)) {
            return r.Fail(x["expect"], f + ".expect",
                          "'" + c + "' names no container of an earlier step (or this one)");
          }
        }
      }
      for (const auto& c : st.expect.held) {
        if (!held.count(c)) {
          return r.Fail(x["expect"]["held"], f + ".expect.held",
                        "'" + c + "' is not held here: no earlier run of it has pause_at, or a "
                        "release_call let it go");
        }
      }
    }
    out->push_back(std::move(st));
  }
  return true;
}

bool ParseLabels(Reader& r, const YAML::Node& n, const std::string& text,
                 std::vector<std::string>* out) {
  if (!n.IsSequence() || n.Style() != YAML::EmitterStyle::Flow) {
    return r.Fail(n, "labels", "must be a one-line flow list: labels: [privileged, ...]");
  }
  static const std::regex kLabel("[a-z0-9_-]+");
  for (size_t i = 0; i < n.size(); ++i) {
    if (!n[i].IsScalar() || !std::regex_match(n[i].Scalar(), kLabel)) {
      return r.Fail(n[i], "labels", "a label is [a-z0-9_-]+");
    }
    if (n[i].Mark().line != n.Mark().line) {
      return r.Fail(n[i], "labels", "the list must stay on one line (CMake reads it)");
    }
    out->push_back(n[i].Scalar());
  }
  // The configure-time reader (scenarios/CMakeLists.txt) takes the first
  // line that starts with `labels:` (or `"labels":`): it must be this one.
  std::istringstream in(text);
  std::string line;
  int lineno = 0;
  static const std::regex kLabelsLine(R"(^\s*"?labels"?\s*:)");
  while (std::getline(in, line)) {
    if (std::regex_search(line, kLabelsLine)) {
      if (lineno != n.Mark().line) {
        return r.Fail(n, "labels", "another line starting with labels: comes first (line " +
                                       std::to_string(lineno + 1) + ")");
      }
      break;
    }
    ++lineno;
  }
  return true;
}

std::optional<Scenario> Parse(const std::string& text, const std::string& file,
                              const std::string& name, ScenarioError* error,
                              const std::string& profile_dir = "") {
  Reader r(file, error);
  YAML::Node doc;
  try {
    doc = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    r.FailAt(e.mark, "", e.msg);
    return std::nullopt;
  }
  if (!doc.IsMap()) {
    r.Fail(doc, "", "a scenario is a mapping of keys (runtimes, command, expect, ...)");
    return std::nullopt;
  }
  if (!r.Keys(doc, "", {"description", "labels", "runtimes", "image", "command", "steps", "hostname",
                        "cap_add", "env", "limits", "volumes", "faults", "sweep", "load", "setup",
                        "timeout", "expect"})) {
    return std::nullopt;
  }
  Scenario s;
  s.name = name;
  s.file = file;
  s.labels = {"privileged"};
  if (doc["description"] && !r.String(doc["description"], "description", &s.description)) {
    return std::nullopt;
  }
  if (doc["labels"]) {
    s.labels.clear();
    if (!ParseLabels(r, doc["labels"], text, &s.labels)) return std::nullopt;
  }
  if (doc["runtimes"]) {
    if (!r.Strings(doc["runtimes"], "runtimes", &s.runtimes)) return std::nullopt;
    const std::vector<std::string> known = KnownRuntimes(profile_dir);
    for (size_t i = 0; i < s.runtimes.size(); ++i) {
      if (!Contains(known, s.runtimes[i])) {
        const YAML::Node& at =
            doc["runtimes"].IsSequence() ? doc["runtimes"][i] : doc["runtimes"];
        std::string list;
        for (const auto& x : known) list += (list.empty() ? "" : ", ") + x;
        r.Fail(at, "runtimes",
               "unknown runtime '" + s.runtimes[i] + "' (" + list + ": builtin, fake or a "
               "runtime profile)");
        return std::nullopt;
      }
    }
  }
  if (doc["image"] && doc["image"].IsMap()) {
    HostileImage img;
    if (!ParseImage(r, doc["image"], name, &img)) return std::nullopt;
    s.image = img.name;
    s.hostile_image = std::move(img);
  } else if (doc["image"] && !r.String(doc["image"], "image", &s.image)) {
    return std::nullopt;
  }
  if (doc["command"]) {
    const YAML::Node& c = doc["command"];
    if (c.IsScalar()) {
      s.command = {"sh", "-c", c.Scalar()};
    } else if (!r.Strings(c, "command", &s.command)) {
      return std::nullopt;
    }
    if (s.command.empty()) {
      r.Fail(c, "command", "must not be empty");
      return std::nullopt;
    }
  }
  if (doc["steps"]) {
    if (doc["command"]) {
      r.Fail(doc["steps"], "steps", "a scenario has one command or steps, not both");
      return std::nullopt;
    }
    if (!ParseSteps(r, doc["steps"], &s.steps)) return std::nullopt;
    for (const char* k : {"load", "sweep", "faults", "image", "setup", "volumes"}) {
      if (doc[k]) {
        r.Fail(doc[k], k, "not with steps (a steps scenario runs busybox: no load, sweep, faults, "
                          "setup or volumes yet)");
        return std::nullopt;
      }
    }
  }
  if (doc["hostname"] && !r.String(doc["hostname"], "hostname", &s.hostname)) {
    return std::nullopt;
  }
  if (doc["cap_add"]) {
    if (!r.Strings(doc["cap_add"], "cap_add", &s.cap_add)) return std::nullopt;
    for (size_t i = 0; i < s.cap_add.size(); ++i) {
      if (mydocker::CapabilityNumber(s.cap_add[i]) < 0) {
        const YAML::Node& at = doc["cap_add"].IsSequence() ? doc["cap_add"][i] : doc["cap_add"];
        r.Fail(at, "cap_add[" + std::to_string(i) + "]",
               "unknown capability '" + s.cap_add[i] + "' (SYS_ADMIN, NET_ADMIN, ...)");
        return std::nullopt;
      }
    }
  }
  if (doc["env"]) {
    const YAML::Node& e = doc["env"];
    if (e.IsMap()) {
      for (const auto& kv : e) {
        std::string v;
        if (!r.String(kv.second, "env." + kv.first.Scalar(), &v)) return std::nullopt;
        s.env.push_back(kv.first.Scalar() + "=" + v);
      }
    } else {
      if (!r.Strings(e, "env", &s.env)) return std::nullopt;
      for (size_t i = 0; i < s.env.size(); ++i) {
        if (s.env[i].find('=') == std::string::npos || s.env[i][0] == '=') {
          r.Fail(e.IsSequence() ? e[i] : e, "env", "want KEY=VALUE, not '" + s.env[i] + "'");
          return std::nullopt;
        }
      }
    }
  }
  if (doc["limits"] && !ParseLimits(r, doc["limits"], &s.limits)) return std::nullopt;
  if (doc["volumes"] && !ParseVolumes(r, doc["volumes"], &s.volumes)) return std::nullopt;
  if (doc["faults"]) {
    if (!doc["faults"].IsSequence()) {
      r.Fail(doc["faults"], "faults", "must be a list of fault plan rules");
      return std::nullopt;
    }
    s.faults = YAML::Clone(doc["faults"]);
  }
  if (doc["sweep"]) {
    const YAML::Node& w = doc["sweep"];
    if (!r.Keys(w, "sweep", {"errnos", "modes"})) return std::nullopt;
    SweepSpec sw;
    sw.line = w.Mark().line + 1;
    if (w["errnos"] && !r.Strings(w["errnos"], "sweep.errnos", &sw.errnos)) return std::nullopt;
    if (w["modes"]) {
      if (!r.Strings(w["modes"], "sweep.modes", &sw.modes)) return std::nullopt;
      for (const auto& m : sw.modes) {
        if (m != "transient" && m != "persistent" && m != "crash") {
          r.Fail(w["modes"], "sweep.modes", "a mode is transient, persistent or crash");
          return std::nullopt;
        }
      }
    }
    s.sweep = sw;
  }
  if (doc["faults"] && doc["sweep"]) {
    r.Fail(doc["sweep"], "sweep", "a scenario has faults or a sweep, not both");
    return std::nullopt;
  }
  if (doc["load"]) {
    const YAML::Node& l = doc["load"];
    if (!r.Keys(l, "load", {"count", "parallel", "crosstalk_check", "sample_every"})) {
      return std::nullopt;
    }
    long long v = 0;
    if (l["count"]) {
      if (!r.Int(l["count"], "load.count", 1, 100000, &v)) return std::nullopt;
      s.load.count = static_cast<int>(v);
    }
    if (l["parallel"]) {
      if (!r.Int(l["parallel"], "load.parallel", 1, 1000, &v)) return std::nullopt;
      s.load.parallel = static_cast<int>(v);
    }
    if (l["sample_every"]) {
      if (!r.Int(l["sample_every"], "load.sample_every", 0, 100000, &v)) return std::nullopt;
      s.load.sample_every = static_cast<int>(v);
    }
    if (l["crosstalk_check"] &&
        !r.Bool(l["crosstalk_check"], "load.crosstalk_check", &s.load.crosstalk_check)) {
      return std::nullopt;
    }
  }
  if (doc["setup"]) {
    const YAML::Node& u = doc["setup"];
    if (!r.Keys(u, "setup", {"shared_parent", "host_shm"})) return std::nullopt;
    if (u["shared_parent"] &&
        !r.Bool(u["shared_parent"], "setup.shared_parent", &s.setup.shared_parent)) {
      return std::nullopt;
    }
    if (u["host_shm"] && !r.Bool(u["host_shm"], "setup.host_shm", &s.setup.host_shm)) {
      return std::nullopt;
    }
  }
  if (doc["timeout"]) {
    long long v = 0;
    if (!r.Int(doc["timeout"], "timeout", 1, 3600, &v)) return std::nullopt;
    s.timeout_seconds = static_cast<int>(v);
  }
  s.expect.probes = KnownProbes();
  if (doc["expect"] && !ParseExpect(r, doc["expect"], &s.expect)) return std::nullopt;
  if (!s.expect.image_error.empty() && !(s.hostile_image && s.hostile_image->import)) {
    r.Fail(doc["expect"]["image_error"], "expect.image_error",
           "only with an imported hostile image (image: {import: true, ...})");
    return std::nullopt;
  }
  if (!s.steps.empty() && doc["expect"]) {
    // With steps, the scenario's own expect holds the final probes only.
    for (const auto& kv : doc["expect"]) {
      if (kv.first.Scalar() != "probes") {
        r.Fail(kv.first, "expect." + kv.first.Scalar(),
               "with steps, checks go in each step's expect; the scenario's expect takes "
               "probes only (the final comparison)");
        return std::nullopt;
      }
    }
  }
  if (!s.steps.empty()) return s;
  if (!doc["expect"] && !doc["sweep"]) {
    r.Fail(doc, "expect", "missing: a scenario says what to expect (or sweeps)");
    return std::nullopt;
  }
  // Consistency between sections.
  for (size_t i = 0; i < s.expect.isolation.size(); ++i) {
    std::string need = IsolationRequirement(s.expect.isolation[i], s.limits, s.setup.host_shm);
    if (!need.empty()) {
      r.Fail(doc["expect"]["isolation"], "expect.isolation", need);
      return std::nullopt;
    }
  }
  // A layered image's config may give the command (Entrypoint + Cmd).
  const bool image_command = s.hostile_image && !s.hostile_image->layers.empty() &&
                             (!s.hostile_image->config.cmd.empty() ||
                              !s.hostile_image->config.entrypoint.empty());
  if (!s.sweep && s.command.empty() && s.expect.isolation.empty() && !s.load.crosstalk_check &&
      !image_command) {
    r.Fail(doc, "command",
           "missing (needed unless expect.isolation or load.crosstalk_check supplies it)");
    return std::nullopt;
  }
  if (!s.command.empty() && !s.expect.isolation.empty()) {
    r.Fail(doc["command"], "command",
           "give a command or expect.isolation, not both: the isolation checks are the command");
    return std::nullopt;
  }
  if (s.load.crosstalk_check && !s.command.empty()) {
    r.Fail(doc["command"], "command", "load.crosstalk_check supplies the command itself");
    return std::nullopt;
  }
  return s;
}

}  // namespace

std::vector<std::string> KnownRuntimes(const std::string& profile_dir) {
  std::vector<std::string> k = {"builtin", "fake", "mydocker", "runc", "crun"};
  for (const auto& f : ListProfiles(ProfileSearchPath(profile_dir))) {
    if (!Contains(k, f.name)) k.push_back(f.name);
  }
  return k;
}

const std::vector<std::string>& KnownIsolationChecks() {
  static const std::vector<std::string> k = {"uts",    "pid",  "mount",  "ipc",
                                             "net",    "memory", "pids", "cpu",
                                             "cgroup", "image_layer", "cpuset", "caps",
                                             "seccomp", "no_new_privs", "masked_paths",
                                             "readonly_paths", "fds"};
  return k;
}

const std::vector<std::string>& KnownProbes() {
  static const std::vector<std::string> k = {"mounts",    "holders", "dirs",   "cgroups",
                                             "processes", "fds",     "outside"};
  return k;
}

bool IsHostAction(const std::string& action) {
  const ActionSpec* a = FindAction(action);
  return a != nullptr && a->host;
}

const std::vector<std::string>& KnownStepActions() {
  static const std::vector<std::string> k = [] {
    std::vector<std::string> v;
    for (const auto& a : Actions()) v.push_back(a.name);
    return v;
  }();
  return k;
}

std::string Step::Label(size_t index) const {
  return "step " + std::to_string(index + 1) + " (" + action +
         (target.empty() ? "" : " " + target) + ", line " + std::to_string(line) + ")";
}

std::string ScenarioError::Message() const {
  std::string out = file;
  if (line > 0) out += ":" + std::to_string(line) + ":" + std::to_string(column);
  out += ": ";
  if (!field.empty()) out += field + ": ";
  return out + message;
}

bool Scenario::AppliesTo(const std::string& runtime) const {
  return runtimes.empty() || Contains(runtimes, runtime);
}

std::optional<Scenario> ParseScenarioText(const std::string& text, const std::string& file,
                                          const std::string& name, ScenarioError* error) {
  return Parse(text, file, name, error);
}

std::optional<Scenario> ParseScenarioFile(const std::string& path, const std::string& root,
                                          ScenarioError* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (error != nullptr) *error = ScenarioError{path, 0, 0, "", "cannot read the file"};
    return std::nullopt;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  std::error_code ec;
  fs::path rel = fs::relative(fs::path(path), fs::path(root), ec);
  if (ec || rel.empty() || rel.native().rfind("..", 0) == 0) rel = fs::path(path).filename();
  rel.replace_extension();
  return Parse(ss.str(), path, rel.generic_string(), error, (fs::path(root) / "runtimes").string());
}

std::vector<ScenarioFile> FindScenarioFiles(const std::vector<std::string>& paths,
                                            std::vector<std::string>* errors) {
  std::vector<ScenarioFile> out;
  auto is_scenario = [](const fs::path& p) {
    auto ext = p.extension().string();
    return ext == ".yaml" || ext == ".yml" || ext == ".json";
  };
  auto root_of = [](fs::path p, const fs::path& fallback) {
    std::error_code ec;
    for (fs::path d = fs::absolute(p, ec); !d.empty(); d = d.parent_path()) {
      if (fs::is_directory(d / "runtimes", ec)) return d.string();
      if (d == d.parent_path()) break;
    }
    return fs::absolute(fallback, ec).string();
  };
  for (const auto& given : paths) {
    std::error_code ec;
    fs::path p(given);
    if (fs::is_regular_file(p, ec)) {
      fs::path abs = fs::absolute(p, ec);
      out.push_back({abs.string(), root_of(abs.parent_path(), abs.parent_path())});
      continue;
    }
    if (!fs::is_directory(p, ec)) {
      if (errors != nullptr) errors->push_back(given + ": no such file or directory");
      continue;
    }
    fs::path abs = fs::absolute(p, ec);
    std::string root = root_of(abs, abs);
    for (auto it = fs::recursive_directory_iterator(abs, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_directory() && it->path().filename() == "runtimes") {
        it.disable_recursion_pending();
        continue;
      }
      if (it->is_regular_file() && is_scenario(it->path())) {
        out.push_back({it->path().string(), root});
      }
    }
    if (ec && errors != nullptr) errors->push_back(given + ": " + ec.message());
  }
  std::sort(out.begin(), out.end(),
            [](const ScenarioFile& a, const ScenarioFile& b) { return a.path < b.path; });
  out.erase(std::unique(out.begin(), out.end(),
                        [](const ScenarioFile& a, const ScenarioFile& b) {
                          return a.path == b.path;
                        }),
            out.end());
  return out;
}

std::optional<Expectations> ApplyExpectOverride(const Expectations& base,
                                                const YAML::Node& node,
                                                const std::string& file,
                                                ScenarioError* error) {
  Reader r(file, error);
  Expectations e = base;
  if (!ParseExpect(r, node, &e)) return std::nullopt;
  return e;
}

void ParseExpectedDifferences(const YAML::Node& doc, const std::string& file,
                              const std::string& field,
                              std::map<std::string, ExpectedDifference>* out,
                              std::vector<ScenarioError>* errors) {
  ScenarioError err;
  if (doc.IsNull()) return;
  if (!doc.IsMap()) {
    Reader r(file, &err);
    r.Fail(doc, field, "a mapping of scenario name -> {difference, reason, versions, expect}");
    errors->push_back(err);
    return;
  }
  for (const auto& kv : doc) {
    Reader er(file, &err);
    const std::string name = kv.first.Scalar();
    const std::string f = Reader::Join(field, name);
    const YAML::Node& v = kv.second;
    ExpectedDifference d;
    d.scenario = name;
    d.file = file;
    d.line = kv.first.Mark().line + 1;
    if (!er.Keys(v, f, {"difference", "reason", "versions", "expect"}) ||
        !v["difference"] || !er.String(v["difference"], f + ".difference", &d.difference) ||
        !v["reason"] || !er.String(v["reason"], f + ".reason", &d.reason)) {
      if (!er.failed()) er.Fail(kv.first, f, "needs difference and reason (one line each)");
      errors->push_back(err);
      continue;
    }
    if (v["versions"]) {
      std::string why;
      if (!er.String(v["versions"], f + ".versions", &d.versions)) {
        errors->push_back(err);
        continue;
      }
      VersionMatches("0", d.versions, &why);
      if (!why.empty()) {
        er.Fail(v["versions"], f + ".versions", why);
        errors->push_back(err);
        continue;
      }
    }
    if (v["expect"]) {
      Expectations probe;
      if (!ApplyExpectOverride(probe, v["expect"], file, &err)) {
        errors->push_back(err);
        continue;
      }
      d.expect = YAML::Clone(v["expect"]);
    }
    (*out)[name] = d;
  }
}

std::map<std::string, ExpectedDifference> LoadExpectedDifferences(
    const std::string& root, const std::string& runtime, std::vector<ScenarioError>* errors) {
  fs::path file = fs::path(root) / "runtimes" / (runtime + ".yaml");
  std::error_code ec;
  if (!fs::exists(file, ec)) return {};
  ScenarioError err;
  auto p = LoadProfileFile(file.string(), ProfileSearchPath((fs::path(root) / "runtimes").string()),
                           &err);
  if (!p) {
    errors->push_back(err);
    return {};
  }
  for (auto& e : p->errors) errors->push_back(e);
  return p->DifferencesFor("");
}

}  // namespace faultline
