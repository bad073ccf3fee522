#include "harness/scenario/oci_layout.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>

#include <memory>
#include <set>
#include <nlohmann/json.hpp>

#include "runtime/sys/fs_util.h"

namespace faultline {
namespace {

using mydocker::Expected;
using mydocker::MakeError;
using mydocker::Outcome;
using mydocker::Sha256Hex;
using json = nlohmann::json;

la_ssize_t Append(struct archive*, void* ctx, const void* buf, size_t n) {
  static_cast<std::string*>(ctx)->append(static_cast<const char*>(buf), n);
  return static_cast<la_ssize_t>(n);
}

struct WriteFree {
  void operator()(struct archive* a) const { archive_write_free(a); }
};

// data compressed with libarchive's gzip or zstd filter (format raw).
Expected<std::string> Compress(const std::string& data, bool zstd) {
  std::string out;
  std::unique_ptr<struct archive, WriteFree> a(archive_write_new());
  archive_write_set_format_raw(a.get());
  if ((zstd ? archive_write_add_filter_zstd(a.get()) : archive_write_add_filter_gzip(a.get())) !=
      ARCHIVE_OK) {
    return MakeError("layered image: compress", zstd ? "zstd" : "gzip", EIO,
                     archive_error_string(a.get()));
  }
  // The same bytes every time (no mtime in the gzip header): a layer built
  // twice has one digest.
  if (!zstd) (void)archive_write_set_filter_option(a.get(), "gzip", "timestamp", nullptr);
  archive_write_set_bytes_in_last_block(a.get(), 1);
  if (archive_write_open(a.get(), &out, nullptr, Append, nullptr) != ARCHIVE_OK) {
    return MakeError("layered image: compress", "open", EIO, archive_error_string(a.get()));
  }
  struct archive_entry* e = archive_entry_new();
  archive_entry_set_pathname(e, "blob");
  archive_entry_set_filetype(e, AE_IFREG);
  archive_entry_set_size(e, static_cast<la_int64_t>(data.size()));
  archive_write_header(a.get(), e);
  archive_entry_free(e);
  if (archive_write_data(a.get(), data.data(), data.size()) < 0 ||
      archive_write_close(a.get()) != ARCHIVE_OK) {
    return MakeError("layered image: compress", "write", EIO, archive_error_string(a.get()));
  }
  return out;
}

}  // namespace

Expected<std::map<std::string, std::string>> BuildLayeredImage(const LayeredImageSpec& spec) {
  std::map<std::string, std::string> files;
  struct Layer {
    std::string tar;  // uncompressed
    std::string blob;
    std::string media;
  };
  std::vector<Layer> layers;
  const bool oci = spec.format != LayeredImageSpec::Format::kDockerSave;
  if (!spec.base_tar.empty()) {
    Layer l{spec.base_tar, spec.base_tar, "application/vnd.oci.image.layer.v1.tar"};
    if (oci) {
      auto gz = Compress(l.tar, false);
      if (!gz) return gz.error();
      l.blob = *gz;
      l.media = "application/vnd.oci.image.layer.v1.tar+gzip";
    }
    layers.push_back(std::move(l));
  }
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    HostileImage img;
    img.name = "layer" + std::to_string(i);
    img.entries = spec.layers[i];
    auto tar = BuildImageTar(img);
    if (!tar) return tar.error();
    Layer l{*tar, *tar, "application/vnd.oci.image.layer.v1.tar"};
    if (oci && i % 2 == 1) {
      auto z = Compress(l.tar, true);
      if (!z) return z.error();
      l.blob = *z;
      l.media = "application/vnd.oci.image.layer.v1.tar+zstd";
    }
    layers.push_back(std::move(l));
  }
  json diff_ids = json::array();
  for (const Layer& l : layers) diff_ids.push_back("sha256:" + Sha256Hex(l.tar));
  json cfg = {{"architecture", "amd64"},
              {"os", "linux"},
              {"config",
               {{"Env", spec.config.env},
                {"Cmd", spec.config.cmd},
                {"Entrypoint", spec.config.entrypoint.empty() ? json(nullptr)
                                                              : json(spec.config.entrypoint)},
                {"WorkingDir", spec.config.working_dir}}},
              {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}}};
  const std::string config = cfg.dump();
  const std::string config_hex = Sha256Hex(config);
  if (!oci) {
    files[config_hex + ".json"] = config;
    json names = json::array();
    for (size_t i = 0; i < layers.size(); ++i) {
      // Old docker save: "<64 hex layer id>/layer.tar" (here the layer's
      // index, hashed: an id, not a digest of anything).
      const std::string p = Sha256Hex("layer " + std::to_string(i)) + "/layer.tar";
      files[p] = layers[i].blob;
      names.push_back(p);
    }
    json m = json::array({{{"Config", config_hex + ".json"},
                           {"RepoTags", {"faultline/layers:latest"}},
                           {"Layers", names}}});
    files["manifest.json"] = m.dump();
    return files;
  }
  files["blobs/sha256/" + config_hex] = config;
  json ls = json::array();
  for (const Layer& l : layers) {
    const std::string hex = Sha256Hex(l.blob);
    files["blobs/sha256/" + hex] = l.blob;
    ls.push_back({{"mediaType", l.media}, {"digest", "sha256:" + hex}, {"size", l.blob.size()}});
  }
  json manifest = {{"schemaVersion", 2},
                   {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                   {"config",
                    {{"mediaType", "application/vnd.oci.image.config.v1+json"},
                     {"digest", "sha256:" + config_hex},
                     {"size", config.size()}}},
                   {"layers", ls}};
  const std::string mtext = manifest.dump();
  const std::string mhex = Sha256Hex(mtext);
  files["blobs/sha256/" + mhex] = mtext;
  json index = {{"schemaVersion", 2},
                {"mediaType", "application/vnd.oci.image.index.v1+json"},
                {"manifests",
                 {{{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                   {"digest", "sha256:" + mhex},
                   {"size", mtext.size()},
                   {"annotations", {{"org.opencontainers.image.ref.name", "latest"}}}}}}};
  files["index.json"] = index.dump();
  files["oci-layout"] = R"({"imageLayoutVersion":"1.0.0"})";
  return files;
}

Expected<std::string> LayoutTar(const std::map<std::string, std::string>& files) {
  std::string out;
  std::unique_ptr<struct archive, WriteFree> a(archive_write_new());
  archive_write_set_format_pax_restricted(a.get());
  archive_write_set_bytes_in_last_block(a.get(), 1);
  if (archive_write_open(a.get(), &out, nullptr, Append, nullptr) != ARCHIVE_OK) {
    return MakeError("layered image: tar", "open", EIO, archive_error_string(a.get()));
  }
  std::set<std::string> dirs;
  for (const auto& [path, data] : files) {
    for (size_t at = path.find('/'); at != std::string::npos; at = path.find('/', at + 1)) {
      const std::string d = path.substr(0, at);
      if (!dirs.insert(d).second) continue;
      struct archive_entry* e = archive_entry_new();
      archive_entry_set_pathname(e, (d + "/").c_str());
      archive_entry_set_filetype(e, AE_IFDIR);
      archive_entry_set_perm(e, 0755);
      archive_write_header(a.get(), e);
      archive_entry_free(e);
    }
    struct archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, path.c_str());
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, static_cast<la_int64_t>(data.size()));
    int h = archive_write_header(a.get(), e);
    archive_entry_free(e);
    if (h < ARCHIVE_WARN || archive_write_data(a.get(), data.data(), data.size()) < 0) {
      return MakeError("layered image: tar", path, EIO, archive_error_string(a.get()));
    }
  }
  if (archive_write_close(a.get()) != ARCHIVE_OK) {
    return MakeError("layered image: tar", "close", EIO, archive_error_string(a.get()));
  }
  return out;
}

Outcome WriteLayoutDir(mydocker::Sys& sys, const std::string& dir,
                       const std::map<std::string, std::string>& files) {
  if (auto m = sys.Mkdir(dir, 0755); !m.ok()) {
    return MakeError("layered image: mkdir", dir, m.err);
  }
  for (const auto& [path, data] : files) {
    const std::string full = mydocker::JoinPath(dir, path);
    const std::string parent = full.substr(0, full.rfind('/'));
    MYDOCKER_TRY(mydocker::MkdirAll(sys, parent, 0755, "layered image: mkdir"));
    MYDOCKER_TRY(mydocker::WriteFile(sys, full, data, 0644, "layered image: write"));
  }
  return Outcome::Ok();
}

Outcome WriteLayeredImage(mydocker::Sys& sys, const std::string& path,
                          const LayeredImageSpec& spec) {
  auto files = BuildLayeredImage(spec);
  if (!files) return files.error();
  if (spec.format == LayeredImageSpec::Format::kOciDir) return WriteLayoutDir(sys, path, *files);
  auto tar = LayoutTar(*files);
  if (!tar) return tar.error();
  return mydocker::WriteFile(sys, path, *tar, 0600, "layered image: write tar");
}

LayeredImageSpec BusyboxLayersSpec(std::string base_tar) {
  auto file = [](std::string path, std::string content) {
    ImageEntry e;
    e.path = std::move(path);
    e.content = std::move(content);
    return e;
  };
  auto dir = [](std::string path) {
    ImageEntry e;
    e.path = std::move(path);
    e.type = ImageEntry::Type::kDir;
    return e;
  };
  LayeredImageSpec s;
  s.base_tar = std::move(base_tar);
  s.layers = {
      {dir("etc/faultline"), file("etc/faultline/layer", "2\n"), file("gone.txt", "gone\n"),
       dir("opq"), file("opq/a", "a\n"), file("opq/b", "b\n"), dir("srv"), dir("srv/data"),
       file("srv/data/keep.txt", "keep\n")},
      {file("etc/faultline/layer", "3\n"), file(".wh.gone.txt", ""), dir("opq"),
       file("opq/.wh..wh..opq", ""), file("opq/c", "c\n")},
  };
  s.config.env = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "FAULTLINE_LAYERS=3"};
  s.config.cmd = {"cat", "/etc/faultline/layer"};
  s.config.working_dir = "/srv/data";
  return s;
}

}  // namespace faultline
