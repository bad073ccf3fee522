#include "runtime/image/image_format.h"

#include <errno.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

namespace mydocker {
namespace {

using json = nlohmann::json;

constexpr char kStep[] = "image import: parse";

bool IsHex64(const std::string& s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

Error Bad(const std::string& file, const std::string& field, const std::string& why) {
  return MakeError(kStep, file, EINVAL, field.empty() ? why : field + ": " + why);
}

Expected<json> Parse(const std::string& file, const std::string& text) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    return Bad(file, "", std::string("not valid JSON: ") + e.what());
  }
}

// Components of a relative archive path, or empty when it is absolute,
// empty or climbs ("..").
std::vector<std::string> InsidePath(const std::string& p) {
  if (p.empty() || p[0] == '/') return {};
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= p.size()) {
    size_t next = p.find('/', pos);
    if (next == std::string::npos) next = p.size();
    std::string c = p.substr(pos, next - pos);
    if (c == "..") return {};
    if (!c.empty() && c != ".") out.push_back(c);
    pos = next + 1;
  }
  return out;
}

std::string JoinComps(const std::vector<std::string>& c) {
  std::string out;
  for (const auto& s : c) out += (out.empty() ? "" : "/") + s;
  return out;
}

const std::set<std::string>& LayerMediaTypes() {
  static const std::set<std::string> k = {
      "application/vnd.oci.image.layer.v1.tar",
      "application/vnd.oci.image.layer.v1.tar+gzip",
      "application/vnd.oci.image.layer.v1.tar+zstd",
      "application/vnd.docker.image.rootfs.diff.tar",
      "application/vnd.docker.image.rootfs.diff.tar.gzip",
      "application/vnd.docker.image.rootfs.diff.tar.zstd"};
  return k;
}

// A descriptor {mediaType, digest, size} at `field` of `file`.
Expected<BlobRef> Descriptor(const std::string& file, const std::string& field, const json& d,
                             std::string* media_type) {
  if (!d.is_object()) return Bad(file, field, "not an object");
  if (!d.contains("digest") || !d["digest"].is_string()) {
    return Bad(file, field + ".digest", "missing or not a string");
  }
  const std::string digest = d["digest"].get<std::string>();
  const std::string hex = DigestHex(digest);
  if (hex.empty()) {
    return Bad(file, field + ".digest", "\"" + digest + "\" is not sha256:<64 lowercase hex>");
  }
  if (media_type) {
    *media_type = d.contains("mediaType") && d["mediaType"].is_string()
                      ? d["mediaType"].get<std::string>()
                      : "";
  }
  return BlobRef{"blobs/sha256/" + hex, hex, file + ": " + field};
}

Expected<std::vector<std::string>> StringList(const std::string& file, const std::string& field,
                                              const json& j, const char* key) {
  std::vector<std::string> out;
  if (!j.contains(key) || j[key].is_null()) return out;
  const json& v = j[key];
  if (!v.is_array()) return Bad(file, field + "." + key, "not an array of strings");
  for (size_t i = 0; i < v.size(); ++i) {
    if (!v[i].is_string()) {
      return Bad(file, field + "." + key + "[" + std::to_string(i) + "]", "not a string");
    }
    out.push_back(v[i].get<std::string>());
  }
  return out;
}

}  // namespace

const char* ImageFormatName(ImageFormat f) {
  switch (f) {
    case ImageFormat::kDockerExport: return "docker-export";
    case ImageFormat::kOciLayout: return "oci";
    case ImageFormat::kDockerSave: return "docker-save";
  }
  return "?";
}

bool IsLayoutTopName(const std::string& n) {
  static const std::set<std::string> kLayoutNames = {"oci-layout", "index.json", "manifest.json",
                                                     "repositories", "blobs"};
  if (kLayoutNames.count(n) || IsHex64(n)) return true;
  return n.size() == 69 && n.compare(64, 5, ".json") == 0 && IsHex64(n.substr(0, 64));
}

ImageFormat DetectFormat(const std::vector<std::string>& top) {
  bool index = false, manifest = false;
  for (const std::string& n : top) {
    if (n == "index.json") index = true;
    if (n == "manifest.json") manifest = true;
    if (!IsLayoutTopName(n)) return ImageFormat::kDockerExport;
  }
  if (index) return ImageFormat::kOciLayout;
  if (manifest) return ImageFormat::kDockerSave;
  return ImageFormat::kDockerExport;
}

std::string DigestHex(const std::string& digest) {
  if (digest.rfind("sha256:", 0) != 0) return "";
  std::string hex = digest.substr(7);
  return IsHex64(hex) ? hex : "";
}

Outcome ParseOciLayoutFile(const std::string& text) {
  auto j = Parse("oci-layout", text);
  if (!j) return j.error();
  if (!j->is_object() || !(*j).contains("imageLayoutVersion") ||
      !(*j)["imageLayoutVersion"].is_string()) {
    return Bad("oci-layout", "imageLayoutVersion", "missing or not a string");
  }
  const std::string v = (*j)["imageLayoutVersion"].get<std::string>();
  if (v.rfind("1.", 0) != 0) return Bad("oci-layout", "imageLayoutVersion", "\"" + v + "\" is not 1.x");
  return Outcome::Ok();
}

Expected<IndexChoice> ParseOciIndex(const std::string& file, const std::string& text,
                                    const std::string& arch) {
  auto j = Parse(file, text);
  if (!j) return j.error();
  if (!j->is_object()) return Bad(file, "", "not an object");
  if (!j->contains("manifests") || !(*j)["manifests"].is_array()) {
    return Bad(file, "manifests", "missing or not an array");
  }
  const json& m = (*j)["manifests"];
  if (m.empty()) return Bad(file, "manifests", "empty: no image to import");
  std::vector<size_t> candidates;
  for (size_t i = 0; i < m.size(); ++i) candidates.push_back(i);
  if (m.size() > 1) {
    candidates.clear();
    for (size_t i = 0; i < m.size(); ++i) {
      const json& p = m[i].is_object() && m[i].contains("platform") ? m[i]["platform"] : json();
      if (p.is_object() && p.value("os", "") == "linux" && p.value("architecture", "") == arch) {
        candidates.push_back(i);
      }
    }
    if (candidates.size() != 1) {
      return Bad(file, "manifests",
                 std::to_string(m.size()) + " manifests and " + std::to_string(candidates.size()) +
                     " for linux/" + arch + ": cannot tell which image to import");
    }
  }
  const size_t i = candidates[0];
  std::string media;
  auto d = Descriptor(file, "manifests[" + std::to_string(i) + "]", m[i], &media);
  if (!d) return d.error();
  IndexChoice c;
  c.manifest = *d;
  c.is_index = media == "application/vnd.oci.image.index.v1+json" ||
               media == "application/vnd.docker.distribution.manifest.list.v2+json";
  if (!c.is_index && !media.empty() && media != "application/vnd.oci.image.manifest.v1+json" &&
      media != "application/vnd.docker.distribution.manifest.v2+json") {
    return Bad(file, "manifests[" + std::to_string(i) + "].mediaType",
               "\"" + media + "\" is not an image manifest or index");
  }
  return c;
}

Expected<ManifestRefs> ParseOciManifest(const std::string& file, const std::string& text) {
  auto j = Parse(file, text);
  if (!j) return j.error();
  if (!j->is_object()) return Bad(file, "", "not an object");
  if (!j->contains("schemaVersion") || !(*j)["schemaVersion"].is_number_integer() ||
      (*j)["schemaVersion"].get<int>() != 2) {
    return Bad(file, "schemaVersion", "missing or not 2");
  }
  if (!j->contains("config")) return Bad(file, "config", "missing");
  ManifestRefs out;
  auto c = Descriptor(file, "config", (*j)["config"], nullptr);
  if (!c) return c.error();
  out.config = *c;
  if (!j->contains("layers") || !(*j)["layers"].is_array()) {
    return Bad(file, "layers", "missing or not an array");
  }
  const json& layers = (*j)["layers"];
  if (layers.empty()) return Bad(file, "layers", "empty: an image needs a layer");
  for (size_t i = 0; i < layers.size(); ++i) {
    const std::string field = "layers[" + std::to_string(i) + "]";
    std::string media;
    auto d = Descriptor(file, field, layers[i], &media);
    if (!d) return d.error();
    if (!LayerMediaTypes().count(media)) {
      return Bad(file, field + ".mediaType",
                 "\"" + media + "\" is not a layer tar (plain, gzip or zstd)");
    }
    out.layers.push_back(*d);
  }
  return out;
}

Expected<ManifestRefs> ParseDockerManifest(const std::string& text) {
  const std::string file = "manifest.json";
  auto j = Parse(file, text);
  if (!j) return j.error();
  if (!j->is_array()) return Bad(file, "", "not an array of images");
  if (j->size() != 1) {
    return Bad(file, "", std::to_string(j->size()) + " images: import takes exactly one");
  }
  const json& img = (*j)[0];
  if (!img.is_object()) return Bad(file, "[0]", "not an object");
  auto ref = [&](const std::string& field, const json& v) -> Expected<BlobRef> {
    if (!v.is_string()) return Bad(file, field, "missing or not a string");
    const std::string p = v.get<std::string>();
    std::vector<std::string> comps = InsidePath(p);
    if (comps.empty()) return Bad(file, field, "\"" + p + "\" is outside the image (absolute or ..)");
    BlobRef r{JoinComps(comps), "", file + ": " + field};
    if (comps.size() == 3 && comps[0] == "blobs" && comps[1] == "sha256") {
      if (!IsHex64(comps[2])) return Bad(file, field, "\"" + p + "\": the blob name is not 64 hex");
      r.hex = comps[2];
    } else if (comps[0] == "blobs") {
      return Bad(file, field, "\"" + p + "\": only blobs/sha256/<64 hex> blobs");
    }
    return r;
  };
  ManifestRefs out;
  auto c = ref("[0].Config", img.contains("Config") ? img["Config"] : json());
  if (!c) return c.error();
  out.config = *c;
  if (out.config.hex.empty()) {
    // Old docker save: "<hex>.json" names its own digest.
    const std::string& p = out.config.path;
    if (p.size() == 69 && p.compare(64, 5, ".json") == 0 && IsHex64(p.substr(0, 64))) {
      out.config.hex = p.substr(0, 64);
    } else {
      return Bad(file, "[0].Config", "\"" + p + "\" is neither <64 hex>.json nor blobs/sha256/<64 hex>");
    }
  }
  if (!img.contains("Layers") || !img["Layers"].is_array()) {
    return Bad(file, "[0].Layers", "missing or not an array");
  }
  if (img["Layers"].empty()) return Bad(file, "[0].Layers", "empty: an image needs a layer");
  for (size_t i = 0; i < img["Layers"].size(); ++i) {
    auto l = ref("[0].Layers[" + std::to_string(i) + "]", img["Layers"][i]);
    if (!l) return l.error();
    out.layers.push_back(*l);
  }
  return out;
}

Expected<ParsedConfig> ParseImageConfig(const std::string& file, const std::string& text) {
  auto j = Parse(file, text);
  if (!j) return j.error();
  if (!j->is_object()) return Bad(file, "", "not an object");
  ParsedConfig out;
  if (j->contains("config") && !(*j)["config"].is_null()) {
    const json& c = (*j)["config"];
    if (!c.is_object()) return Bad(file, "config", "not an object");
    auto env = StringList(file, "config", c, "Env");
    if (!env) return env.error();
    for (const std::string& kv : *env) {
      if (kv.empty() || kv[0] == '=' || kv.find('=') == std::string::npos ||
          kv.find('\0') != std::string::npos) {
        return Bad(file, "config.Env", "\"" + kv + "\" is not KEY=VALUE");
      }
    }
    auto cmd = StringList(file, "config", c, "Cmd");
    if (!cmd) return cmd.error();
    auto ep = StringList(file, "config", c, "Entrypoint");
    if (!ep) return ep.error();
    out.config.env = *env;
    out.config.cmd = *cmd;
    out.config.entrypoint = *ep;
    if (c.contains("WorkingDir") && !c["WorkingDir"].is_null()) {
      if (!c["WorkingDir"].is_string()) return Bad(file, "config.WorkingDir", "not a string");
      const std::string wd = c["WorkingDir"].get<std::string>();
      if (!wd.empty() && wd[0] != '/') {
        return Bad(file, "config.WorkingDir", "\"" + wd + "\" is not an absolute path");
      }
      if (wd.find('\0') != std::string::npos || wd.size() > 4095) {
        return Bad(file, "config.WorkingDir", "not a usable path");
      }
      out.config.working_dir = wd;
    }
  }
  if (!j->contains("rootfs") || !(*j)["rootfs"].is_object()) {
    return Bad(file, "rootfs", "missing or not an object");
  }
  const json& r = (*j)["rootfs"];
  if (!r.contains("diff_ids") || !r["diff_ids"].is_array()) {
    return Bad(file, "rootfs.diff_ids", "missing or not an array");
  }
  for (size_t i = 0; i < r["diff_ids"].size(); ++i) {
    const json& d = r["diff_ids"][i];
    const std::string hex = d.is_string() ? DigestHex(d.get<std::string>()) : "";
    if (hex.empty()) {
      return Bad(file, "rootfs.diff_ids[" + std::to_string(i) + "]", "not sha256:<64 lowercase hex>");
    }
    out.diff_ids.push_back(hex);
  }
  return out;
}

std::string ClassifyWhiteout(const std::string& path, bool regular_file, Whiteout* out) {
  *out = Whiteout{};
  std::vector<std::string> comps = InsidePath(path);
  if (comps.empty()) return "";
  const std::string base = comps.back();
  if (base.rfind(".wh.", 0) != 0) return "";
  comps.pop_back();
  if (!regular_file) return "whiteout \"" + base + "\" is not a regular file";
  if (base == ".wh..wh..opq") {
    if (comps.empty()) return "opaque marker (.wh..wh..opq) at the layer root";
    out->kind = Whiteout::Kind::kOpaque;
    out->dir = std::move(comps);
    return "";
  }
  const std::string name = base.substr(4);
  if (name.empty() || name == "." || name == "..") {
    return "whiteout \"" + base + "\" names \"" + name + "\", not an entry";
  }
  if (name.rfind(".wh.", 0) == 0) return "whiteout \"" + base + "\" of a whiteout name";
  out->kind = Whiteout::Kind::kFile;
  out->dir = std::move(comps);
  out->name = name;
  return "";
}

std::string ImageConfigJson(const ImageConfig& c) {
  json j = {{"Env", c.env}, {"Cmd", c.cmd}, {"Entrypoint", c.entrypoint},
            {"WorkingDir", c.working_dir}};
  return j.dump();
}

Expected<ImageConfig> ImageConfigFromJson(const std::string& file, const std::string& text) {
  auto j = Parse(file, text);
  if (!j) return j.error();
  ImageConfig c;
  try {
    c.env = j->value("Env", std::vector<std::string>{});
    c.cmd = j->value("Cmd", std::vector<std::string>{});
    c.entrypoint = j->value("Entrypoint", std::vector<std::string>{});
    c.working_dir = j->value("WorkingDir", std::string());
  } catch (const json::exception& e) {
    return Bad(file, "config", e.what());
  }
  return c;
}

}  // namespace mydocker
