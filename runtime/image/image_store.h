// The image store: a docker-export tar becomes one read-only layer directory.
//
// Layout under the store root:
//   <root>/images/<name>/rootfs/   the unpacked layer
//   <root>/images/<name>/image.json {"name":..., "source":..., "size":...}
// Every write goes through Sys. Import reads the archive with libarchive and
// refuses, with an error naming the entry, anything that would escape the
// layer: "..", absolute paths, symlinks or hardlinks whose target resolves
// outside it, device nodes, FIFOs and sockets. A refused or broken archive
// leaves nothing behind (the partial layer is removed).
#pragma once

#include <string>
#include <vector>

#include "runtime/sys/sys.h"
#include "runtime/util/error.h"

namespace mydocker {

struct ImageInfo {
  std::string name;
  std::string rootfs;  // absolute path of the layer directory
  uint64_t size = 0;   // bytes of regular files
  uint64_t files = 0;  // entries
};

// Why an archive entry would be refused, or "" when it is safe. Pure: the
// rules of the import, testable without an archive. type is the entry's
// AE_IF* file type; link is the symlink or hardlink target ("" otherwise).
std::string CheckTarEntry(const std::string& path, unsigned type,
                          const std::string& symlink_target,
                          const std::string& hardlink_target);

// Image names: [a-z0-9][a-z0-9._-]*, at most 128 characters.
bool ValidImageName(const std::string& name);

class ImageStore {
 public:
  ImageStore(Sys& sys, std::string root) : sys_(sys), root_(std::move(root)) {}

  Expected<ImageInfo> Import(const std::string& tar_path,
                             const std::string& name);
  Expected<std::vector<ImageInfo>> List();
  Expected<ImageInfo> Get(const std::string& name);
  Outcome Remove(const std::string& name);

 private:
  Sys& sys_;
  std::string root_;
};

}  // namespace mydocker
