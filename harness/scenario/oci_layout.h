// Multi-layer images the harness makes, without a download: an OCI image
// layout (a tar of one, or a directory) or a `docker save` tar whose bottom
// layer is a docker-export tar (ci/build-image's busybox) and whose upper
// layers are lists of entries (hostile_image.h), whiteouts (".wh.NAME",
// ".wh..wh..opq") being ordinary empty files of those names.
//
// Layer blobs: the base gzip-compressed, the others alternately plain and
// zstd (OCI), all plain (docker save, whose old format names layers
// "<64 hex id>/layer.tar"). Every document names its blobs by their sha256.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "harness/scenario/hostile_image.h"
#include "runtime/image/image_format.h"
#include "runtime/sys/sys.h"
#include "runtime/util/error.h"

namespace faultline {

struct LayeredImageSpec {
  enum class Format { kOciTar, kOciDir, kDockerSave };
  Format format = Format::kOciTar;
  std::string base_tar;                          // the bottom layer's bytes ("" = none)
  std::vector<std::vector<ImageEntry>> layers;   // above the base, bottom first
  mydocker::ImageConfig config;
};

// The layout's files by path ("oci-layout", "index.json",
// "blobs/sha256/<hex>", or "manifest.json", "<hex>.json", "<id>/layer.tar").
mydocker::Expected<std::map<std::string, std::string>> BuildLayeredImage(
    const LayeredImageSpec& spec);
// The files as a tar in memory (ustar/pax, sorted by path).
mydocker::Expected<std::string> LayoutTar(const std::map<std::string, std::string>& files);
// The files under dir (created, must not exist), through Sys.
mydocker::Outcome WriteLayoutDir(mydocker::Sys& sys, const std::string& dir,
                                 const std::map<std::string, std::string>& files);
// Writes the image at path (a tar, or a directory for kOciDir).
mydocker::Outcome WriteLayeredImage(mydocker::Sys& sys, const std::string& path,
                                    const LayeredImageSpec& spec);

// The image the scenarios and the privileged test name "busybox-layers":
// layer 1 = base_tar (busybox), then
//   layer 2: adds etc/faultline/layer (content "2"), gone.txt, opq/{a,b},
//            srv/data/keep.txt;
//   layer 3: etc/faultline/layer changed to "3", .wh.gone.txt (whiteout),
//            opq/.wh..wh..opq (opaque) with opq/c;
// config: Env PATH and FAULTLINE_LAYERS=3, Cmd [cat, /etc/faultline/layer],
// WorkingDir /srv/data.
LayeredImageSpec BusyboxLayersSpec(std::string base_tar);

}  // namespace faultline
