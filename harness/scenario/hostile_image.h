// Hostile images: an image a scenario describes entry by entry (the
// `image:` mapping of a scenario file, docs/scenarios.md), built by the
// harness, never checked in as a tar.
//
// Two ways to build one:
//  * laid out (import: false, the default): the image's layer directory is
//    made directly through Sys: the base layer (busybox) cloned with hard
//    links, then the entries on top (a name the base has is replaced). This
//    bypasses the import's refusals on purpose: the scenario tests what the
//    runtime does with such a layer at run time (a symlink to /etc under a
//    volume's target, /dev as a symlink). Every runtime gets it: the
//    mydocker store of builtin, mydocker and fake, the bundle rootfs of runc
//    and crun.
//  * imported (import: true): the entries become a tar (libarchive, in
//    memory) that the runtime's own import reads (ImageStore::Import with
//    the scenario's limits): the scenario tests the import itself (limits,
//    refusals). No base: an imported image holds only its entries.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "runtime/image/image_store.h"
#include "runtime/sys/sys.h"
#include "runtime/util/error.h"

namespace faultline {

struct ImageEntry {
  enum class Type { kDir, kFile, kSymlink, kHardlink, kFifo, kCharDevice };
  Type type = Type::kFile;
  // Relative to the layer root; "%XX" is the byte 0xXX (so a name can hold
  // invalid UTF-8, which YAML cannot); "{i}" is replaced by the index when
  // count > 1.
  std::string path;
  std::string target;   // symlink target / hardlink target (an image path)
  std::string content;  // file content
  uint64_t size = 0;    // file: a hole up to this size after the content (sparse)
  uint32_t mode = 0;    // permission bits; 0: 0755 dirs, 0644 files
  uint64_t count = 1;   // repeat, path with {i} = 0..count-1
  int line = 0;         // in the scenario file
};

struct HostileImage {
  std::string name;             // the image name ([a-z0-9][a-z0-9._-]*)
  std::string base = "busybox"; // "busybox" or "none"
  bool import = false;
  mydocker::ImportLimits limits;  // import: true only
  std::vector<ImageEntry> entries;
  int line = 0;
  // A multi-layer image (layers set; import: true; oci_layout.h): the base's
  // docker-export tar (base_tar, set by the adapter) is layer 1, then each
  // of layers; format "oci" (a tar), "oci-dir" or "docker-save".
  std::string format;
  std::vector<std::vector<ImageEntry>> layers;
  mydocker::ImageConfig config;
  std::string base_tar;  // a path: the adapter's busybox tar
};

// "a%ffb" -> "a\xffb"; false for a bad escape.
bool DecodePercent(const std::string& in, std::string* out);

// The entry's paths after {i} expansion and %XX decoding, in order.
std::vector<std::string> ExpandPaths(const ImageEntry& e);

// The image as a pax tar in memory (import: true).
mydocker::Expected<std::string> BuildImageTar(const HostileImage& image);

// Lays out the layer at dest (created; must not exist): base_layer cloned
// (directories made, files hard-linked, symlinks copied) unless the base is
// "none", then every entry.
mydocker::Outcome LayOutImage(mydocker::Sys& sys, const std::string& base_layer,
                              const std::string& dest, const HostileImage& image);

// Installs the image into the mydocker store at store_root (builtin,
// mydocker, fake): laid out into <store>/images/<name>/rootfs + image.json,
// or imported from a tar written to tar_path (removed afterwards). The
// import's error is returned as is (the scenario may expect it).
mydocker::Expected<mydocker::ImageInfo> InstallImage(mydocker::Sys& sys,
                                                     const std::string& store_root,
                                                     const std::string& base_layer,
                                                     const std::string& tar_path,
                                                     const HostileImage& image);

}  // namespace faultline
