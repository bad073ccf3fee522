// Multi-layer image formats: what an OCI image layout and a `docker save`
// tar say, parsed (nlohmann-json) and checked without touching the store.
//
// The pure half of ImageStore::Import for those formats (image_store.cc
// reads the files through Sys and unpacks the layers):
//   * DetectFormat: docker export, OCI layout or docker save, from the
//     archive's (or directory's) top-level names, never from the file name;
//   * ParseOciIndex / ParseOciManifest / ParseImageConfig / ParseDockerManifest:
//     the JSON documents, every error naming the file and the field
//     ("index.json: manifests[0].digest: ...");
//   * ClassifyWhiteout: an OCI whiteout entry (".wh.NAME", ".wh..wh..opq").
#pragma once

#include <string>
#include <vector>

#include "runtime/util/error.h"

namespace mydocker {

enum class ImageFormat { kDockerExport, kOciLayout, kDockerSave };
const char* ImageFormatName(ImageFormat f);  // "docker-export", "oci", "docker-save"

// The format of an archive or directory whose top-level names (first path
// components, "./" dropped) are `top`. A layout holds nothing but
// oci-layout, index.json, manifest.json, repositories, blobs and (old docker
// save) <64 hex> directories and <64 hex>.json configs: any other top-level
// name (bin, etc, ...) makes it a root filesystem (docker export). Among
// layouts, index.json makes it OCI (docker 25+'s save is both: read as
// OCI), else manifest.json makes it docker save.
ImageFormat DetectFormat(const std::vector<std::string>& top);
// True for a name a layout may hold at its top level (DetectFormat's list).
bool IsLayoutTopName(const std::string& name);

// "sha256:<64 lowercase hex>" -> "<64 hex>"; "" for anything else.
std::string DigestHex(const std::string& digest);

// The image config's part `run` uses (docker's semantics: the command is
// entrypoint + cmd, run's arguments replace cmd; env is the base the -e
// flags override; working_dir the init's cwd, inside the root).
struct ImageConfig {
  std::vector<std::string> env, cmd, entrypoint;
  std::string working_dir;
};

struct BlobRef {
  std::string path;    // relative to the layout root: "blobs/sha256/<hex>"
  std::string hex;     // the expected sha256 of the blob's bytes
  std::string field;   // where it was named: "manifest blobs/sha256/ab..: layers[1]"
};

// index.json (after the file's name check): the image manifest to import.
// One manifest, or among several the one for linux/<arch> (arch: GOARCH
// name, "amd64"); a nested index is returned with is_index set (the caller
// follows it, at most a few levels).
struct IndexChoice {
  BlobRef manifest;
  bool is_index = false;
};
Expected<IndexChoice> ParseOciIndex(const std::string& file, const std::string& text,
                                    const std::string& arch);
// oci-layout: {"imageLayoutVersion": "1.0.0"}.
Outcome ParseOciLayoutFile(const std::string& text);

struct ManifestRefs {
  BlobRef config;
  std::vector<BlobRef> layers;  // bottom first
};
// An image manifest (OCI or docker v2 schema 2): config and layers, each a
// sha256 blob of a tar media type (plain, gzip or zstd).
Expected<ManifestRefs> ParseOciManifest(const std::string& file, const std::string& text);
// docker save's manifest.json: one image; Config and Layers are paths in the
// archive. A "blobs/sha256/<hex>" path is checked against its name; an old
// "<id>/layer.tar" against the config's rootfs.diff_ids (filled in by the
// caller: hex empty here). Paths must stay inside (no "..", not absolute).
Expected<ManifestRefs> ParseDockerManifest(const std::string& text);

// The config blob: config.{Env,Cmd,Entrypoint,WorkingDir} (all optional,
// null allowed) and rootfs.diff_ids (one per layer: checked by the caller).
struct ParsedConfig {
  ImageConfig config;
  std::vector<std::string> diff_ids;  // hex, bottom first
};
Expected<ParsedConfig> ParseImageConfig(const std::string& file, const std::string& text);

// An OCI whiteout among a layer's entries.
struct Whiteout {
  enum class Kind { kNone, kFile, kOpaque };
  Kind kind = Kind::kNone;
  std::vector<std::string> dir;  // the directory's components in the layer
  std::string name;              // kFile: the name it hides
};
// Classifies an entry path (already free of ".." and absolute paths:
// CheckTarEntry ran). Returns "" and sets *out, or why it is refused: a
// whiteout of "", "." or "..", of another ".wh." name, an opaque marker at
// the layer root, or a whiteout that is not a regular file.
std::string ClassifyWhiteout(const std::string& path, bool regular_file, Whiteout* out);

// sha256 of data, 64 lowercase hex (nettle).
std::string Sha256Hex(const std::string& data);

// Serialized in image.json ("config": {...}) and read back.
std::string ImageConfigJson(const ImageConfig& c);
Expected<ImageConfig> ImageConfigFromJson(const std::string& file, const std::string& json);

}  // namespace mydocker
