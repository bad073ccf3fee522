// The image store: a docker-export tar becomes one read-only layer directory.
//
// Layout under the store root (an absolute path):
//   <root>/images/<name>/rootfs/          the unpacked layer
//   <root>/images/<name>/rootfs.partial/  only while Import runs
//   <root>/images/<name>/image.json       {"name","source","size","files"}
// An image exists once its directory exists; it is complete once image.json
// exists (written last, atomically). A crash mid-import leaves a directory
// without image.json: List skips it, Import of the same name says EEXIST,
// Remove deletes it.
//
// Every write goes through Sys (Mkdir, Open/Pwrite/Ftruncate/Close, Symlink,
// Link, Chmod, Lchown, Rename); the archive itself is read through
// Sys::Open/Read too, and parsed by libarchive (tar only, see below).
//
// Safety: Import refuses, with an error naming the entry and the reason
// (step "image import: refuse entry", path "<tar path>:<entry>"), anything
// that would write outside the layer or create what a layer must not hold:
//   * CheckTarEntry's rules (below), per entry, without state;
//   * rules that need the entries seen so far: a parent directory that is a
//     symlink created earlier by this archive ("l -> /etc", then "l/passwd"),
//     a hardlink whose target is not (yet) in the layer, a hardlink to a
//     directory, a second entry with a name already used (except a directory
//     entry over a directory), and a hardlink to a symlink whose target
//     escapes from the hardlink's own directory.
// Symlinks are never followed during import: files are created with
// O_CREAT|O_EXCL|O_NOFOLLOW, parents are created only by the import itself,
// link(2) does not follow its source. Absolute symlink targets are kept: they
// resolve inside the container's root at run time.
// A refused or broken archive leaves nothing behind: the image directory made
// by this Import is removed (RemoveTree) before the error is returned.
// Kept from the archive: permission bits (setuid, setgid, sticky included),
// uid/gid (Lchown: needs root for foreign owners), hardlinks (same inode).
// Not kept: mtimes, xattrs, ACLs.
//
// Hostile input: only tar is read (libarchive's tar reader: ustar, pax,
// gnutar; plain or gzip, xz, zstd, bzip2 compressed); anything else is
// "not a tar archive" (EINVAL). ImportLimits bound the entries, the file
// data and the path depth (step "image import: limit", path
// "<tar>:<entry>", E2BIG / EFBIG / ENAMETOOLONG, the detail names the limit
// and its flag). Device nodes, FIFOs and sockets are refused (CheckTarEntry).
// Sparse entries stay sparse: data blocks are written at their offsets,
// holes never (disk use is bounded by the archive's data, not its declared
// sizes).
// setuid/setgid policy (docker's): the bits are kept, since programs in the
// image (su, ping, ...) need them inside the container; what keeps them from
// giving a host user root is that nobody but root reaches the files: the
// store root is created 0710 and <root>/images/ is always 0700, and the
// container directories (state root) are 0700, so a host user can neither
// exec a setuid file of a layer nor of a merged rootfs.
// Durability: the layer is synced (syncfs) before it is renamed into place,
// and image.json is written with WriteFileAtomic (fsync of the file and of
// the image directory): a complete-looking image survives a crash complete.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/image/image_format.h"
#include "runtime/sys/fs_util.h"
#include "runtime/sys/sys.h"
#include "runtime/util/error.h"

namespace mydocker {
namespace image_internal {
class LayoutReader;
}

struct ImageInfo {
  std::string name;
  std::string rootfs;  // absolute path of the (topmost) layer directory
  uint64_t size = 0;   // bytes of regular files (hardlinks counted once)
  uint64_t files = 0;  // archive entries imported (dirs, files, links)
  // Every layer directory, topmost first (the workspace's order): one
  // (rootfs) for a docker export, <root>/layers/<hex> for a layered image.
  std::vector<std::string> layers;
  std::vector<std::string> digests;  // layered: "sha256:<hex>" per layer, bottom first
  std::string format = "docker-export";  // "oci", "docker-save"
  ImageConfig config;  // layered: the image config's Env, Cmd, Entrypoint, WorkingDir
};

// Why an archive entry would be refused, or "" when it is safe. Pure: the
// per-entry rules of the import, testable without an archive.
//   path            the entry name as stored ("bin/sh", "./bin/", "etc/");
//                   a leading "./", "." and empty components are ignored.
//   type            the entry's AE_IF* file type (== S_IF* on Linux); for a
//                   hardlink entry whatever the archive says (often AE_IFREG).
//   symlink_target  the symlink's target, "" when not a symlink.
//   hardlink_target the hardlink's target (an archive path), "" otherwise.
// Refused: an empty name; an absolute path; a ".." component; a whiteout
// (".wh.*" base name, not part of a docker export); a non-directory naming
// the layer root ("." or "./"); character and block devices, FIFOs, sockets
// and unknown types; an empty symlink target; a relative symlink target that,
// resolved lexically from the entry's directory, climbs out of the layer root;
// a hardlink target that is absolute, climbs out of the layer, or names the
// root. Absolute symlink targets are accepted.
// allow_whiteouts: an image layer (OCI layout, docker save), whose ".wh.*"
// entries ClassifyWhiteout (image_format.h) checks instead.
std::string CheckTarEntry(const std::string& path, unsigned type,
                          const std::string& symlink_target,
                          const std::string& hardlink_target, bool allow_whiteouts = false);

// Bounds on what one import may create (mydocker image import --max-entries,
// --max-size, --max-depth).
struct ImportLimits {
  uint64_t max_entries = 1000000;        // archive entries (dirs, files, links)
  uint64_t max_bytes = uint64_t{64} << 30;  // file data bytes (holes not counted)
  size_t max_depth = 256;                // path components of an entry name
};

// Image names: [a-z0-9][a-z0-9._-]*, at most 128 characters.
bool ValidImageName(const std::string& name);

class ImageStore {
 public:
  // root: the store's directory (absolute); created on first Import.
  ImageStore(Sys& sys, std::string root) : sys_(sys), root_(std::move(root)) {}

  // Unpacks the archive (or layout directory) at tar_path into a new image
  // `name`; the format comes from the content (DetectFormat), see the top
  // of this file for the layered formats.
  // Errors: EINVAL for a bad name or an archive with no entries; EEXIST
  // (naming the image) when the name is taken; a refused entry (see above,
  // errno 0, detail = reason); the errno of any failed Sys call, naming the
  // step and path; libarchive read errors ("image import: read archive").
  Expected<ImageInfo> Import(const std::string& tar_path,
                             const std::string& name,
                             const ImportLimits& limits = {});
  // Complete images (with image.json), sorted by name. A missing store is an
  // empty list; incomplete or unreadable image directories are skipped with a
  // warning in the log.
  Expected<std::vector<ImageInfo>> List();
  // ENOENT naming the image when it does not exist; an error naming
  // image.json when it is incomplete or its image.json is unreadable.
  Expected<ImageInfo> Get(const std::string& name);
  // Removes <root>/images/<name> with everything in it (RemoveTree: does not
  // cross into another mounted filesystem). ENOENT naming the image when it
  // does not exist. The caller makes sure no container uses the layer.
  Outcome Remove(const std::string& name);
  // Layered images: removes every layer directory (and leftover .partial)
  // no complete image names, under the layer lock. A complete image whose
  // image.json cannot be read keeps every layer (EIO naming it).
  Outcome CollectLayers();

 private:
  std::string ImageDir(const std::string& name) const;
  std::string LayersDir() const;
  Expected<FileLock> LockLayers();
  Outcome CollectLayersLocked();
  Expected<ImageInfo> ImportLayered(const std::string& source, ImageFormat format,
                                    image_internal::LayoutReader& layout,
                                    const std::string& name, const ImportLimits& limits);

  Sys& sys_;
  std::string root_;
};

}  // namespace mydocker
