#include "runtime/image/image_store.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <nettle/sha2.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <functional>
#include <chrono>
#include <map>
#include <set>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>
#include <utility>

#include "runtime/image/image_format.h"
#include "runtime/sys/fs_util.h"

namespace mydocker {
namespace {

constexpr char kRefuseStep[] = "image import: refuse entry";
constexpr char kLimitStep[] = "image import: limit";
// libarchive's ARCHIVE_ERRNO_FILE_FORMAT ("unrecognized or invalid format";
// archive_platform.h: EFTYPE where it exists, else EILSEQ, as on Linux).
constexpr int kArchiveErrnoFileFormat = EILSEQ;
constexpr char kNotTar[] =
    "not a tar archive (ustar, pax or gnutar; plain or gzip, xz, zstd, bzip2 compressed)";

// Splits an archive path into its components, dropping empty and "."
// components: "./a//b/." -> {"a", "b"}. ".." is kept.
std::vector<std::string> Components(std::string_view path) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t next = path.find('/', pos);
    if (next == std::string_view::npos) next = path.size();
    std::string_view c = path.substr(pos, next - pos);
    if (!c.empty() && c != ".") out.emplace_back(c);
    pos = next + 1;
  }
  return out;
}

std::string Join(const std::vector<std::string>& comps, size_t n) {
  std::string out;
  for (size_t i = 0; i < n && i < comps.size(); ++i) {
    if (i) out += '/';
    out += comps[i];
  }
  return out;
}

std::string Join(const std::vector<std::string>& comps) {
  return Join(comps, comps.size());
}

// Resolves `rel` lexically starting in directory `base` (components inside
// the layer). Returns the resulting components, or nullopt when a ".." would
// climb above the layer root.
std::optional<std::vector<std::string>> ResolveInLayer(
    std::vector<std::string> base, std::string_view rel) {
  for (std::string& c : Components(rel)) {
    if (c == "..") {
      if (base.empty()) return std::nullopt;
      base.pop_back();
    } else {
      base.push_back(std::move(c));
    }
  }
  return base;
}

// Why a symlink at entry components `entry` with `target` would escape, or "".
std::string CheckSymlinkTarget(const std::vector<std::string>& entry,
                               const std::string& target) {
  if (target.empty()) return "empty symlink target";
  if (target[0] == '/') return "";  // resolves inside the container root
  std::vector<std::string> dir(entry.begin(), entry.end() - 1);
  if (!ResolveInLayer(std::move(dir), target)) {
    return "symlink target \"" + target + "\" escapes the layer root";
  }
  return "";
}

const char* TypeName(unsigned type) {
  switch (type) {
    case AE_IFREG: return "file";
    case AE_IFDIR: return "directory";
    case AE_IFLNK: return "symlink";
    case AE_IFCHR: return "character device";
    case AE_IFBLK: return "block device";
    case AE_IFIFO: return "FIFO";
    case AE_IFSOCK: return "socket";
    default: return "unknown type";
  }
}

// What the import has created so far, by normalized entry path. Holds the
// rules that need earlier entries.
class LayerIndex {
 public:
  enum class Kind { kDir, kFile, kSymlink };
  struct Node {
    Kind kind;
    std::string symlink_target;  // kSymlink only
  };

  // Why `comps` cannot be created (parent chain, duplicates), or "".
  // *existing_dir is set when the entry is a directory over a directory.
  std::string CheckPath(const std::vector<std::string>& comps, bool is_dir,
                        bool* existing_dir) const {
    *existing_dir = false;
    for (size_t i = 1; i < comps.size(); ++i) {
      auto it = nodes_.find(Join(comps, i));
      if (it == nodes_.end()) continue;
      if (it->second.kind == Kind::kSymlink) {
        return "parent \"" + it->first +
               "\" is a symlink created by this archive; writing through it "
               "could leave the layer";
      }
      if (it->second.kind != Kind::kDir) {
        return "parent \"" + it->first + "\" is not a directory";
      }
    }
    auto it = nodes_.find(Join(comps));
    if (it != nodes_.end()) {
      if (is_dir && it->second.kind == Kind::kDir) {
        *existing_dir = true;
        return "";
      }
      return "duplicate entry: the name is already in the layer";
    }
    return "";
  }

  const Node* Find(const std::string& path) const {
    auto it = nodes_.find(path);
    return it == nodes_.end() ? nullptr : &it->second;
  }
  bool Has(const std::string& path) const { return nodes_.count(path) != 0; }
  void Add(const std::string& path, Kind kind, std::string target = {}) {
    nodes_[path] = Node{kind, std::move(target)};
  }

 private:
  std::map<std::string, Node> nodes_;
};

// libarchive reads the archive through Sys::Read.
struct ArchiveSource {
  Sys* sys = nullptr;
  int fd = -1;
  std::string path;
  int err = 0;  // errno of the failed Read, 0 if none
  std::vector<char> buf = std::vector<char>(1 << 16);
  // Set: the archive's bytes come from here (a layer blob inside a layout),
  // not from fd.
  std::function<Result<size_t>(void*, size_t)> read;
};

la_ssize_t ArchiveRead(struct archive* a, void* ctx, const void** out) {
  auto* src = static_cast<ArchiveSource*>(ctx);
  for (;;) {
    Result<size_t> r = src->read ? src->read(src->buf.data(), src->buf.size())
                                 : src->sys->Read(src->fd, src->buf.data(), src->buf.size());
    if (r.ok()) {
      *out = src->buf.data();
      return static_cast<la_ssize_t>(r.value);
    }
    if (r.err == EINTR) continue;
    src->err = r.err;
    archive_set_error(a, r.err, "read %s", src->path.c_str());
    return -1;
  }
}

// An archive opened for reading through Sys: owns the fd and the libarchive
// reader; Close() reports the close(2) errno, the destructor only cleans up.
class ArchiveReader {
 public:
  explicit ArchiveReader(Sys& sys) { src_.sys = &sys; }
  ~ArchiveReader() { (void)Close(); }  // cleanup only: callers that care call Close()
  ArchiveReader(const ArchiveReader&) = delete;
  ArchiveReader& operator=(const ArchiveReader&) = delete;

  Outcome Open(const std::string& path) {
    src_.path = path;
    auto fd = src_.sys->Open(path, O_RDONLY | O_CLOEXEC, 0);
    if (!fd.ok()) return MakeError("image import: open archive", path, fd.err);
    src_.fd = fd.value;
    return Start(path);
  }
  // The archive's bytes from read (a layer blob); name is how errors name it.
  Outcome OpenWith(const std::string& name,
                   std::function<Result<size_t>(void*, size_t)> read) {
    src_.path = name;
    src_.read = std::move(read);
    return Start(name);
  }

 private:
  Outcome Start(const std::string& path) {
    a_ = archive_read_new();
    if (a_ == nullptr) {
      return MakeError("image import: read archive", path, ENOMEM);
    }
    // Tar only (libarchive's tar reader: ustar, pax, gnutar, v7), plain
    // or compressed with one of four filters: no zip, cpio, iso9660, raw.
    archive_read_support_format_tar(a_);
    archive_read_support_filter_gzip(a_);
    archive_read_support_filter_xz(a_);
    archive_read_support_filter_zstd(a_);
    archive_read_support_filter_bzip2(a_);
    if (archive_read_open(a_, &src_, nullptr, ArchiveRead, nullptr) !=
        ARCHIVE_OK) {
      const char* msg = archive_error_string(a_);
      if (src_.err == 0 && archive_errno(a_) == kArchiveErrnoFileFormat) {
        return MakeError("image import: read archive", path, EINVAL,
                         std::string(kNotTar) + (msg ? std::string(": ") + msg : ""));
      }
      return MakeError("image import: read archive", path,
                       src_.err ? src_.err : EINVAL,
                       msg ? msg : "cannot open the archive");
    }
    return Outcome::Ok();
  }

 public:
  Status Close() {
    if (a_ != nullptr) {
      archive_read_free(a_);
      a_ = nullptr;
    }
    Status st;
    if (src_.fd >= 0) {
      st = src_.sys->Close(src_.fd);
      src_.fd = -1;
    }
    return st;
  }

  struct archive* get() const { return a_; }
  const ArchiveSource& source() const { return src_; }

 private:
  ArchiveSource src_;
  struct archive* a_ = nullptr;
};

// One Import: the state of unpacking one archive into `partial`.
class Importer {
 public:
  // layer_diff: an image layer (OCI / docker save): whiteouts allowed and
  // made into overlay whiteouts and opaque directories.
  Importer(Sys& sys, std::string tar_path, std::string partial, ImportLimits limits,
           bool layer_diff = false)
      : sys_(sys), tar_path_(std::move(tar_path)),
        partial_(std::move(partial)), limits_(limits), layer_diff_(layer_diff) {}

  // Unpacks every entry of `a`; on success the deferred directory modes are
  // applied.
  Outcome Run(struct archive* a, const ArchiveSource& src) {
    for (;;) {
      struct archive_entry* e = nullptr;
      int r = archive_read_next_header(a, &e);
      if (r == ARCHIVE_EOF) break;
      if (r == ARCHIVE_RETRY) continue;
      if (r == ARCHIVE_WARN) {
        spdlog::warn("image import {}: {}", tar_path_,
                     archive_error_string(a) ? archive_error_string(a) : "");
      } else if (r != ARCHIVE_OK) {
        if (files_ == 0 && src.err == 0 && archive_errno(a) == kArchiveErrnoFileFormat) {
          const char* msg = archive_error_string(a);
          return MakeError("image import: read archive", tar_path_, EINVAL,
                           std::string(kNotTar) + (msg ? std::string(": ") + msg : ""));
        }
        return ArchiveError(a, src);
      }
      if ((archive_format(a) & ARCHIVE_FORMAT_BASE_MASK) != ARCHIVE_FORMAT_TAR) {
        return MakeError("image import: read archive", tar_path_, EINVAL, kNotTar);
      }
      MYDOCKER_TRY(Entry(a, src, e));
    }
    if (files_ == 0) {
      return MakeError("image import: read archive", tar_path_, EINVAL,
                       "the archive has no entries");
    }
    // Children were created after their parents: apply in reverse so a
    // read-only directory is restricted only after its contents exist.
    for (auto it = dir_modes_.rbegin(); it != dir_modes_.rend(); ++it) {
      Status c = sys_.Chmod(it->first, it->second);
      if (!c.ok()) {
        return MakeError("image import: chmod directory", it->first, c.err);
      }
    }
    return Outcome::Ok();
  }

  uint64_t size() const { return size_; }
  uint64_t files() const { return files_; }
  uint64_t data() const { return data_; }

 private:
  Error Refuse(const std::string& entry, const std::string& reason) const {
    return MakeError(kRefuseStep, tar_path_ + ":" + entry, 0, reason);
  }

  Error ArchiveError(struct archive* a, const ArchiveSource& src) const {
    int err = src.err != 0 ? src.err : archive_errno(a);
    if (err < 0) err = EIO;
    const char* msg = archive_error_string(a);
    return MakeError("image import: read archive", tar_path_, err,
                     msg ? msg : "libarchive error");
  }

  // Creates the missing parents of `comps` (directories 0755, owned by the
  // importer), recording them in the index.
  Outcome MakeParents(const std::vector<std::string>& comps,
                      const std::string& entry) {
    for (size_t i = 1; i < comps.size(); ++i) {
      const std::string rel = Join(comps, i);
      if (index_.Has(rel)) continue;
      const std::string host = JoinPath(partial_, rel);
      Status m = sys_.Mkdir(host, 0755);
      if (!m.ok()) {
        return MakeError("image import: mkdir parent", host, m.err,
                         "entry " + entry);
      }
      index_.Add(rel, LayerIndex::Kind::kDir);
    }
    return Outcome::Ok();
  }

  Outcome Entry(struct archive* a, const ArchiveSource& src,
                struct archive_entry* e) {
    const char* raw_c = archive_entry_pathname(e);
    const std::string raw = raw_c ? raw_c : "";
    const unsigned type = archive_entry_filetype(e);
    const char* sym_c = archive_entry_symlink(e);
    const char* hard_c = archive_entry_hardlink(e);
    const std::string symlink = sym_c ? sym_c : "";
    const std::string hardlink = hard_c ? hard_c : "";
    const bool is_hardlink = hard_c != nullptr;

    std::string why = CheckTarEntry(raw, type, symlink, hardlink, layer_diff_);
    if (!why.empty()) return Refuse(raw, why);
    Whiteout wh;
    if (layer_diff_) {
      why = ClassifyWhiteout(raw, !is_hardlink && type == AE_IFREG, &wh);
      if (!why.empty()) return Refuse(raw, why);
    }

    const std::vector<std::string> comps = Components(raw);
    if (files_ + 1 > limits_.max_entries) {
      return MakeError(kLimitStep, tar_path_ + ":" + raw, E2BIG,
                       "more than " + std::to_string(limits_.max_entries) +
                           " entries (limit --max-entries)");
    }
    if (comps.size() > limits_.max_depth) {
      return MakeError(kLimitStep, tar_path_ + ":" + raw, ENAMETOOLONG,
                       "path depth " + std::to_string(comps.size()) + " is more than " +
                           std::to_string(limits_.max_depth) + " components (limit --max-depth)");
    }
    const std::string rel = Join(comps);
    const mode_t perm = archive_entry_perm(e) & 07777;
    const uid_t uid = static_cast<uid_t>(archive_entry_uid(e));
    const gid_t gid = static_cast<gid_t>(archive_entry_gid(e));
    spdlog::debug("image import {}: entry {} ({}{})", tar_path_, raw,
                  is_hardlink ? "hardlink to " : TypeName(type),
                  is_hardlink ? hardlink : "");

    if (wh.kind != Whiteout::Kind::kNone) {
      MYDOCKER_TRY(MakeWhiteout(raw, wh));
      ++files_;
      return Outcome::Ok();
    }
    if (rel.empty()) {  // "./": the layer root itself (CheckTarEntry: a dir)
      MYDOCKER_TRY(Own(partial_, uid, gid, raw));
      dir_modes_.emplace_back(partial_, perm);
      ++files_;
      return Outcome::Ok();
    }

    bool existing_dir = false;
    why = index_.CheckPath(comps, !is_hardlink && type == AE_IFDIR,
                           &existing_dir);
    if (!why.empty()) return Refuse(raw, why);
    MYDOCKER_TRY(MakeParents(comps, raw));
    const std::string host = JoinPath(partial_, rel);

    if (is_hardlink) {
      MYDOCKER_TRY(Hardlink(raw, comps, hardlink, host));
    } else if (type == AE_IFDIR) {
      if (!existing_dir) {
        Status m = sys_.Mkdir(host, 0700);
        if (!m.ok()) {
          return MakeError("image import: mkdir", host, m.err, "entry " + raw);
        }
        index_.Add(rel, LayerIndex::Kind::kDir);
      }
      MYDOCKER_TRY(Own(host, uid, gid, raw));
      dir_modes_.emplace_back(host, perm);
    } else if (type == AE_IFLNK) {
      Status s = sys_.Symlink(symlink, host);
      if (!s.ok()) {
        return MakeError("image import: symlink", host, s.err, "entry " + raw);
      }
      index_.Add(rel, LayerIndex::Kind::kSymlink, symlink);
      MYDOCKER_TRY(Own(host, uid, gid, raw));
    } else {  // AE_IFREG: CheckTarEntry allowed nothing else
      MYDOCKER_TRY(RegularFile(a, src, e, raw, host));
      index_.Add(rel, LayerIndex::Kind::kFile);
      MYDOCKER_TRY(Own(host, uid, gid, raw));
      // After Lchown: chown clears setuid/setgid.
      Status c = sys_.Chmod(host, perm);
      if (!c.ok()) {
        return MakeError("image import: chmod", host, c.err, "entry " + raw);
      }
    }
    ++files_;
    return Outcome::Ok();
  }

  // ".wh.NAME": a whiteout (char 0:0, overlayfs's format) named NAME in
  // the entry's directory; ".wh..wh..opq": its directory made opaque
  // (trusted.overlay.opaque=y), created first when the layer has not made it.
  Outcome MakeWhiteout(const std::string& raw, const Whiteout& wh) {
    std::vector<std::string> comps = wh.dir;
    bool existing_dir = false;
    if (wh.kind == Whiteout::Kind::kFile) {
      comps.push_back(wh.name);
      std::string why = index_.CheckPath(comps, false, &existing_dir);
      if (!why.empty()) return Refuse(raw, why);
      MYDOCKER_TRY(MakeParents(comps, raw));
      const std::string host = JoinPath(partial_, Join(comps));
      Status m = sys_.Mknod(host, S_IFCHR | 0000, 0);
      if (!m.ok()) return MakeError("image import: make whiteout", host, m.err, "entry " + raw);
      index_.Add(Join(comps), LayerIndex::Kind::kFile);
      return Outcome::Ok();
    }
    std::string why = index_.CheckPath(comps, true, &existing_dir);
    if (!why.empty()) return Refuse(raw, "opaque marker: " + why);
    const std::string rel = Join(comps);
    const std::string host = JoinPath(partial_, rel);
    if (!existing_dir) {
      MYDOCKER_TRY(MakeParents(comps, raw));
      Status m = sys_.Mkdir(host, 0755);
      if (!m.ok()) return MakeError("image import: mkdir", host, m.err, "entry " + raw);
      index_.Add(rel, LayerIndex::Kind::kDir);
    }
    Status x = sys_.Lsetxattr(host, "trusted.overlay.opaque", "y", 0);
    if (!x.ok()) {
      return MakeError("image import: make opaque directory", host, x.err,
                       "entry " + raw + ": lsetxattr trusted.overlay.opaque=y");
    }
    return Outcome::Ok();
  }

  Outcome Hardlink(const std::string& raw,
                   const std::vector<std::string>& comps,
                   const std::string& target, const std::string& host) {
    // CheckTarEntry made sure the target stays inside and is not the root.
    const std::string target_rel = Join(*ResolveInLayer({}, target));
    const LayerIndex::Node* node = index_.Find(target_rel);
    if (node == nullptr) {
      return Refuse(raw, "hardlink target \"" + target +
                             "\" is not in the layer (yet)");
    }
    if (node->kind == LayerIndex::Kind::kDir) {
      return Refuse(raw, "hardlink target \"" + target + "\" is a directory");
    }
    // A hardlink to a symlink is that symlink at a new place: its relative
    // target now resolves from the new directory.
    LayerIndex::Node copy = *node;
    if (copy.kind == LayerIndex::Kind::kSymlink) {
      std::string why = CheckSymlinkTarget(comps, copy.symlink_target);
      if (!why.empty()) return Refuse(raw, "hardlink to a symlink: " + why);
    }
    const std::string existing = JoinPath(partial_, target_rel);
    Status l = sys_.Link(existing, host);
    if (!l.ok()) {
      return MakeError("image import: link", host, l.err,
                       "entry " + raw + " -> " + target);
    }
    index_.Add(Join(comps), copy.kind, copy.symlink_target);
    return Outcome::Ok();
  }

  Outcome RegularFile(struct archive* a, const ArchiveSource& src,
                      struct archive_entry* e, const std::string& raw,
                      const std::string& host) {
    auto fd = sys_.Open(host, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
                                  O_CLOEXEC, 0600);
    if (!fd.ok()) {
      return MakeError("image import: create file", host, fd.err,
                       "entry " + raw);
    }
    Outcome w = CopyData(a, src, e, fd.value, raw, host);
    Status c = sys_.Close(fd.value);
    if (!w.ok()) return w;
    if (!c.ok()) {
      return MakeError("image import: close file", host, c.err, "entry " + raw);
    }
    return Outcome::Ok();
  }

  Outcome WriteAt(int fd, const char* p, size_t n, int64_t offset, const std::string& raw,
                  const std::string& host) {
    while (n > 0) {
      auto w = sys_.Pwrite(fd, p, n, offset);
      if (!w.ok()) {
        if (w.err == EINTR) continue;
        return MakeError("image import: write file", host, w.err,
                         "entry " + raw);
      }
      if (w.value == 0) {
        return MakeError("image import: write file", host, EIO,
                         "entry " + raw + ": short write");
      }
      p += w.value;
      n -= w.value;
      offset += static_cast<int64_t>(w.value);
      size_ += w.value;
    }
    return Outcome::Ok();
  }

  // Copies the entry's data blocks at their offsets (pwrite): the holes of
  // a sparse entry are never written, so they stay holes and the disk used
  // is bounded by the archive's data; the size is set last (ftruncate) for
  // an entry that ends in a hole. Every data byte counts against
  // limits_.max_bytes.
  Outcome CopyData(struct archive* a, const ArchiveSource& src,
                   struct archive_entry* e, int fd, const std::string& raw,
                   const std::string& host) {
    int64_t end = 0;
    for (;;) {
      const void* buf = nullptr;
      size_t len = 0;
      la_int64_t offset = 0;
      int r = archive_read_data_block(a, &buf, &len, &offset);
      if (r == ARCHIVE_EOF) break;
      if (r == ARCHIVE_RETRY) continue;
      if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
        Error err = ArchiveError(a, src);
        err.detail = "entry " + raw + ": " + err.detail;
        return err;
      }
      if (data_ + len > limits_.max_bytes) {
        return MakeError(kLimitStep, tar_path_ + ":" + raw, EFBIG,
                         "more than " + std::to_string(limits_.max_bytes) +
                             " bytes of file data (limit --max-size)");
      }
      MYDOCKER_TRY(WriteAt(fd, static_cast<const char*>(buf), len, offset, raw, host));
      data_ += len;
      end = std::max<int64_t>(end, offset + static_cast<int64_t>(len));
    }
    int64_t size = end;
    if (archive_entry_size_is_set(e)) size = std::max<int64_t>(size, archive_entry_size(e));
    if (size > end) {
      Status t = sys_.Ftruncate(fd, size);
      if (!t.ok()) {
        return MakeError("image import: set file size", host, t.err, "entry " + raw);
      }
    }
    return Outcome::Ok();
  }

  Outcome Own(const std::string& host, uid_t uid, gid_t gid,
              const std::string& raw) {
    Status s = sys_.Lchown(host, uid, gid);
    if (!s.ok()) {
      return MakeError("image import: lchown", host, s.err,
                       "entry " + raw + " owner " + std::to_string(uid) + ":" +
                           std::to_string(gid));
    }
    return Outcome::Ok();
  }

  Sys& sys_;
  const std::string tar_path_;
  const std::string partial_;
  LayerIndex index_;
  std::vector<std::pair<std::string, mode_t>> dir_modes_;
  const ImportLimits limits_;
  const bool layer_diff_;
  uint64_t size_ = 0;
  uint64_t files_ = 0;
  uint64_t data_ = 0;  // data bytes of the archive so far (for max_bytes)
};


}  // namespace

namespace image_internal {

// sha256 of a blob's bytes (nettle).
class Sha256 {
 public:
  Sha256() { sha256_init(&ctx_); }
  void Update(const void* p, size_t n) {
    sha256_update(&ctx_, n, static_cast<const uint8_t*>(p));
  }
  std::string Hex() {
    uint8_t d[SHA256_DIGEST_SIZE];
    sha256_digest(&ctx_, SHA256_DIGEST_SIZE, d);
    static const char kHex[] = "0123456789abcdef";
    std::string out;
    for (uint8_t b : d) {
      out += kHex[b >> 4];
      out += kHex[b & 15];
    }
    return out;
  }

 private:
  struct sha256_ctx ctx_;
};

constexpr size_t kSmallFileMax = size_t{4} << 20;  // a JSON document of a layout
constexpr char kVerifyStep[] = "image import: verify blob";
constexpr char kLayoutStep[] = "image import: read layout";

// The files of an image layout (a directory or a tar of one), by their
// path relative to the layout's root: small ones whole (JSON), blobs as a
// stream. Every read goes through Sys.
class LayoutReader {
 public:
  virtual ~LayoutReader() = default;
  // "<dir>/<rel>" or "<tar>:<rel>": how errors name the file.
  virtual std::string Name(const std::string& rel) const = 0;
  // The whole file; ENOENT (naming it) when the layout has no such regular
  // file, EFBIG beyond kSmallFileMax.
  virtual Expected<std::string> ReadSmall(const std::string& rel) = 0;
  // One stream at a time: Open, Read until 0, Close.
  virtual Outcome OpenStream(const std::string& rel) = 0;
  virtual Result<size_t> ReadStream(void* buf, size_t n) = 0;
  virtual Status CloseStream() = 0;
};

// A layout directory. Symlinks are never followed inside it: blobs/ and
// blobs/sha256/ must be directories (checked by Check), files are opened
// O_NOFOLLOW.
class DirLayout : public LayoutReader {
 public:
  DirLayout(Sys& sys, std::string dir) : sys_(sys), dir_(std::move(dir)) {}
  ~DirLayout() override { (void)CloseStream(); }

  Outcome Check() {
    for (const char* d : {"blobs", "blobs/sha256"}) {
      const std::string p = JoinPath(dir_, d);
      auto st = sys_.Lstat(p);
      if (!st.ok()) return MakeError(kLayoutStep, p, st.err, "the layout's blob directory");
      if (!S_ISDIR(st.value.mode)) {
        return MakeError(kLayoutStep, p, ENOTDIR, "not a directory (a symlink is not followed)");
      }
    }
    return Outcome::Ok();
  }

  std::string Name(const std::string& rel) const override { return JoinPath(dir_, rel); }

  Expected<std::string> ReadSmall(const std::string& rel) override {
    MYDOCKER_TRY(OpenStream(rel));
    std::string out;
    char buf[65536];
    for (;;) {
      auto r = ReadStream(buf, sizeof buf);
      if (!r.ok()) {
        (void)CloseStream();
        return MakeError(kLayoutStep, Name(rel), r.err, "read");
      }
      if (r.value == 0) break;
      if (out.size() + r.value > kSmallFileMax) {
        (void)CloseStream();
        return MakeError(kLayoutStep, Name(rel), EFBIG,
                         "more than " + std::to_string(kSmallFileMax) + " bytes for a JSON document");
      }
      out.append(buf, r.value);
    }
    Status c = CloseStream();
    if (!c.ok()) return MakeError(kLayoutStep, Name(rel), c.err, "close");
    return out;
  }

  Outcome OpenStream(const std::string& rel) override {
    auto fd = sys_.Open(Name(rel), O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0);
    if (!fd.ok()) {
      return MakeError(kLayoutStep, Name(rel), fd.err,
                       fd.err == ENOENT ? "missing from the layout" : "open");
    }
    fd_ = fd.value;
    return Outcome::Ok();
  }
  Result<size_t> ReadStream(void* buf, size_t n) override {
    for (;;) {
      auto r = sys_.Read(fd_, buf, n);
      if (!r.ok() && r.err == EINTR) continue;
      return r;
    }
  }
  Status CloseStream() override {
    if (fd_ < 0) return Status{};
    Status c = sys_.Close(fd_);
    fd_ = -1;
    return c;
  }

 private:
  Sys& sys_;
  std::string dir_;
  int fd_ = -1;
};

// A tar of a layout. Scan reads the headers once: the top-level names (for
// DetectFormat), every regular entry by its normalized path, the content of
// the small ones (kSmallFileMax each, 64 MiB in all). A blob not held in
// memory is streamed by reading the tar again up to its entry.
class TarLayout : public LayoutReader {
 public:
  TarLayout(Sys& sys, std::string tar) : sys_(sys), tar_(std::move(tar)) {}

  // false when libarchive cannot read it as a tar (its error is then the
  // docker-export path's to report); true with *top filled, the scan
  // stopping at the first top-level name no layout has (a root
  // filesystem). A failed Sys call (open, read, close) is the error.
  Expected<bool> Scan(std::vector<std::string>* top) {
    ArchiveReader r(sys_);
    MYDOCKER_TRY(r.Open(tar_));
    auto unreadable = [&]() -> Expected<bool> {
      if (r.source().err != 0) {
        return MakeError("image import: read archive", tar_, r.source().err);
      }
      return false;
    };
    std::set<std::string> seen_top;
    size_t held = 0;
    for (size_t index = 0;; ++index) {
      struct archive_entry* e = nullptr;
      int rc = archive_read_next_header(r.get(), &e);
      if (rc == ARCHIVE_EOF) break;
      if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) return unreadable();
      if ((archive_format(r.get()) & ARCHIVE_FORMAT_BASE_MASK) != ARCHIVE_FORMAT_TAR) return false;
      const char* p = archive_entry_pathname(e);
      const std::vector<std::string> comps = Components(p ? p : "");
      if (comps.empty()) continue;
      if (seen_top.insert(comps[0]).second) {
        top->push_back(comps[0]);
        if (!IsLayoutTopName(comps[0])) {
          // A root filesystem: close here (the import opens it again).
          if (Status c = r.Close(); !c.ok()) {
            return MakeError("image import: close archive", tar_, c.err);
          }
          return true;
        }
      }
      if (archive_entry_filetype(e) != AE_IFREG || archive_entry_hardlink(e) != nullptr) continue;
      const std::string rel = Join(comps);
      if (files_.count(rel)) {
        duplicate_ = rel;
        continue;
      }
      File f;
      f.index = index;
      const int64_t size = archive_entry_size(e);
      if (size >= 0 && static_cast<size_t>(size) <= kSmallFileMax &&
          held + static_cast<size_t>(size) <= (size_t{64} << 20)) {
        std::string data;
        for (;;) {
          const void* buf = nullptr;
          size_t len = 0;
          la_int64_t off = 0;
          int d = archive_read_data_block(r.get(), &buf, &len, &off);
          if (d == ARCHIVE_EOF) break;
          if (d == ARCHIVE_RETRY) continue;
          if (d != ARCHIVE_OK && d != ARCHIVE_WARN) return unreadable();
          if (static_cast<size_t>(off) != data.size()) return false;  // sparse: not a blob
          data.append(static_cast<const char*>(buf), len);
        }
        held += data.size();
        f.data = std::move(data);
        f.in_memory = true;
      }
      files_.emplace(rel, std::move(f));
    }
    if (Status c = r.Close(); !c.ok()) return MakeError("image import: close archive", tar_, c.err);
    return true;
  }

  // A name twice in the tar: which copy is the blob would be ambiguous.
  const std::string& duplicate() const { return duplicate_; }

  std::string Name(const std::string& rel) const override { return tar_ + ":" + rel; }

  Expected<std::string> ReadSmall(const std::string& rel) override {
    auto it = files_.find(rel);
    if (it == files_.end()) return MakeError(kLayoutStep, Name(rel), ENOENT, "missing from the layout");
    if (!it->second.in_memory) {
      return MakeError(kLayoutStep, Name(rel), EFBIG,
                       "more than " + std::to_string(kSmallFileMax) + " bytes for a JSON document");
    }
    return it->second.data;
  }

  Outcome OpenStream(const std::string& rel) override {
    auto it = files_.find(rel);
    if (it == files_.end()) return MakeError(kLayoutStep, Name(rel), ENOENT, "missing from the layout");
    cur_ = &it->second;
    cur_rel_ = rel;
    mem_off_ = 0;
    pending_ = nullptr;
    pending_len_ = 0;
    next_off_ = 0;
    if (cur_->in_memory) return Outcome::Ok();
    reader_ = std::make_unique<ArchiveReader>(sys_);
    MYDOCKER_TRY(reader_->Open(tar_));
    for (size_t index = 0;; ++index) {
      struct archive_entry* e = nullptr;
      int rc = archive_read_next_header(reader_->get(), &e);
      if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) {
        const char* msg = archive_error_string(reader_->get());
        int err = reader_->source().err ? reader_->source().err : EIO;
        return MakeError("image import: read archive", tar_, err,
                         "looking for " + rel + (msg ? std::string(": ") + msg : ""));
      }
      if (index == cur_->index) return Outcome::Ok();
    }
  }

  Result<size_t> ReadStream(void* buf, size_t n) override {
    if (cur_->in_memory) {
      const size_t k = std::min(n, cur_->data.size() - mem_off_);
      memcpy(buf, cur_->data.data() + mem_off_, k);
      mem_off_ += k;
      return {k, 0};
    }
    if (pending_len_ == 0) {
      const void* b = nullptr;
      size_t len = 0;
      la_int64_t off = 0;
      for (;;) {
        int d = archive_read_data_block(reader_->get(), &b, &len, &off);
        if (d == ARCHIVE_EOF) return {0, 0};
        if (d == ARCHIVE_RETRY) continue;
        if (d != ARCHIVE_OK && d != ARCHIVE_WARN) {
          return {0, reader_->source().err ? reader_->source().err : EIO};
        }
        break;
      }
      if (off != next_off_) return {0, EINVAL};  // a sparse entry is no blob
      pending_ = static_cast<const char*>(b);
      pending_len_ = len;
      next_off_ += static_cast<la_int64_t>(len);
    }
    const size_t k = std::min(n, pending_len_);
    memcpy(buf, pending_, k);
    pending_ += k;
    pending_len_ -= k;
    return {k, 0};
  }

  Status CloseStream() override {
    cur_ = nullptr;
    if (!reader_) return Status{};
    Status c = reader_->Close();
    reader_.reset();
    return c;
  }

 private:
  struct File {
    size_t index = 0;
    bool in_memory = false;
    std::string data;
  };
  Sys& sys_;
  std::string tar_;
  std::map<std::string, File> files_;
  std::string duplicate_;
  File* cur_ = nullptr;
  std::string cur_rel_;
  size_t mem_off_ = 0;
  std::unique_ptr<ArchiveReader> reader_;
  const char* pending_ = nullptr;
  size_t pending_len_ = 0;
  la_int64_t next_off_ = 0;
};

// A small blob (manifest, config): read whole and checked against its name.
Expected<std::string> ReadVerified(LayoutReader& layout, const BlobRef& ref) {
  auto text = layout.ReadSmall(ref.path);
  if (!text) {
    Error e = text.error();
    e.detail += " (named by " + ref.field + ")";
    return e;
  }
  Sha256 h;
  h.Update(text->data(), text->size());
  const std::string got = h.Hex();
  if (got != ref.hex) {
    return MakeError(kVerifyStep, layout.Name(ref.path), EINVAL,
                     "sha256 " + got + " does not match sha256:" + ref.hex + " (named by " +
                         ref.field + ")");
  }
  return *text;
}

std::string GoArch() {
#if defined(__x86_64__)
  return "amd64";
#elif defined(__aarch64__)
  return "arm64";
#elif defined(__i386__)
  return "386";
#elif defined(__arm__)
  return "arm";
#elif defined(__riscv) && __riscv_xlen == 64
  return "riscv64";
#elif defined(__s390x__)
  return "s390x";
#elif defined(__powerpc64__)
  return "ppc64le";
#else
  return "unknown";
#endif
}

// What a layout names: the layers (bottom first, each with the digest it
// is verified against and kept under) and the config.
struct LayoutPlan {
  std::vector<BlobRef> layers;
  ParsedConfig config;
};

Expected<LayoutPlan> PlanLayout(LayoutReader& layout, ImageFormat format) {
  ManifestRefs refs;
  if (format == ImageFormat::kOciLayout) {
    auto ol = layout.ReadSmall("oci-layout");
    if (!ol) return ol.error();
    if (Outcome o = ParseOciLayoutFile(*ol); !o) {
      Error e = o.error();
      e.path = layout.Name("oci-layout");
      return e;
    }
    auto idx_text = layout.ReadSmall("index.json");
    if (!idx_text) return idx_text.error();
    std::string file = "index.json";
    auto choice = ParseOciIndex(file, *idx_text, GoArch());
    for (int depth = 0; choice && choice->is_index; ++depth) {
      if (depth == 4) return MakeError("image import: parse", layout.Name(file), ELOOP,
                                       "more than 4 nested indexes");
      auto t = ReadVerified(layout, choice->manifest);
      if (!t) return t.error();
      file = choice->manifest.path;
      choice = ParseOciIndex(file, *t, GoArch());
    }
    if (!choice) {
      Error e = choice.error();
      e.path = layout.Name(file);
      return e;
    }
    auto mtext = ReadVerified(layout, choice->manifest);
    if (!mtext) return mtext.error();
    auto m = ParseOciManifest(choice->manifest.path, *mtext);
    if (!m) {
      Error e = m.error();
      e.path = layout.Name(choice->manifest.path);
      return e;
    }
    refs = *m;
  } else {
    auto mtext = layout.ReadSmall("manifest.json");
    if (!mtext) return mtext.error();
    auto m = ParseDockerManifest(*mtext);
    if (!m) {
      Error e = m.error();
      e.path = layout.Name("manifest.json");
      return e;
    }
    refs = *m;
  }
  auto ctext = ReadVerified(layout, refs.config);
  if (!ctext) return ctext.error();
  auto cfg = ParseImageConfig(refs.config.path, *ctext);
  if (!cfg) {
    Error e = cfg.error();
    e.path = layout.Name(refs.config.path);
    return e;
  }
  if (cfg->diff_ids.size() != refs.layers.size()) {
    return MakeError("image import: parse", layout.Name(refs.config.path), EINVAL,
                     "rootfs.diff_ids: " + std::to_string(cfg->diff_ids.size()) +
                         " diff_ids for " + std::to_string(refs.layers.size()) + " layers");
  }
  for (size_t i = 0; i < refs.layers.size(); ++i) {
    // docker save's "<id>/layer.tar" is the uncompressed layer: its sha256
    // is the diff_id.
    if (refs.layers[i].hex.empty()) refs.layers[i].hex = cfg->diff_ids[i];
  }
  return LayoutPlan{refs.layers, *cfg};
}

}  // namespace image_internal

namespace {
using namespace image_internal;

// The store's root (0710 when this creates it: an image's setuid-root file
// must never be reachable by a host user; an existing root is someone's
// directory and left as it is) and images/, always 0700.
Outcome CreateStore(Sys& sys, const std::string& root) {
  if (!Exists(sys, root)) {
    MYDOCKER_TRY(MkdirAll(sys, root, 0710, "image import: create store"));
  }
  const std::string images = JoinPath(root, "images");
  MYDOCKER_TRY(MkdirAll(sys, images, 0700, "image import: create store"));
  if (Status c = sys.Chmod(images, 0700); !c.ok()) {
    return MakeError("image import: close store to other users", images, c.err);
  }
  return Outcome::Ok();
}

}  // namespace

std::string Sha256Hex(const std::string& data) {
  Sha256 h;
  h.Update(data.data(), data.size());
  return h.Hex();
}

std::string CheckTarEntry(const std::string& path, unsigned type,
                          const std::string& symlink_target,
                          const std::string& hardlink_target, bool allow_whiteouts) {
  if (path.empty()) return "empty entry name";
  if (path[0] == '/') return "absolute path";
  const std::vector<std::string> comps = Components(path);
  for (const std::string& c : comps) {
    if (c == "..") return "\"..\" component";
  }
  if (!allow_whiteouts && !comps.empty() && comps.back().rfind(".wh.", 0) == 0) {
    return "whiteout entry (.wh.*): a layer diff, not a docker export";
  }
  switch (type) {
    case AE_IFCHR: return "character device";
    case AE_IFBLK: return "block device";
    case AE_IFIFO: return "FIFO";
    case AE_IFSOCK: return "socket";
    default: break;
  }
  if (!hardlink_target.empty()) {
    if (comps.empty()) return "hardlink names the layer root";
    if (hardlink_target[0] == '/') {
      return "hardlink target \"" + hardlink_target + "\" is absolute";
    }
    auto resolved = ResolveInLayer({}, hardlink_target);
    if (!resolved) {
      return "hardlink target \"" + hardlink_target +
             "\" escapes the layer root";
    }
    if (resolved->empty()) {
      return "hardlink target \"" + hardlink_target + "\" is the layer root";
    }
    return "";
  }
  if (comps.empty() && type != AE_IFDIR) {
    return std::string(TypeName(type)) + " names the layer root";
  }
  switch (type) {
    case AE_IFREG:
    case AE_IFDIR:
      return "";
    case AE_IFLNK:
      return CheckSymlinkTarget(comps, symlink_target);
    default: {
      char buf[64];
      snprintf(buf, sizeof buf, "unsupported entry type 0%o", type);
      return buf;
    }
  }
}

bool ValidImageName(const std::string& name) {
  if (name.empty() || name.size() > 128) return false;
  auto lower_digit = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
  };
  if (!lower_digit(name[0])) return false;
  return std::all_of(name.begin(), name.end(), [&](char c) {
    return lower_digit(c) || c == '.' || c == '_' || c == '-';
  });
}

std::string ImageStore::ImageDir(const std::string& name) const {
  return JoinPath(JoinPath(root_, "images"), name);
}

Expected<ImageInfo> ImageStore::Import(const std::string& tar_path,
                                       const std::string& name,
                                       const ImportLimits& limits) {
  const auto start = std::chrono::steady_clock::now();
  if (!ValidImageName(name)) {
    return MakeError("image import", name, EINVAL,
                     "image names are [a-z0-9][a-z0-9._-]*, at most 128");
  }
  const std::string dir = ImageDir(name);
  if (Exists(sys_, dir)) {
    return MakeError("image import", dir, EEXIST,
                     "image \"" + name + "\" already exists");
  }

  // The format, from the content: a directory is an OCI layout; a tar whose
  // top-level names are a layout's only is an OCI layout or a docker save;
  // anything else (or an archive the scan cannot read: its error is the
  // docker-export path's to report) a docker export.
  auto source_st = sys_.Lstat(tar_path);
  if (!source_st.ok() && source_st.err != ENOENT) {  // ENOENT: the open below says so
    return MakeError("image import: stat source", tar_path, source_st.err);
  }
  if (source_st.ok() && S_ISDIR(source_st.value.mode)) {
    auto names = sys_.ReadDir(tar_path);
    if (!names.ok()) return MakeError("image import: read layout", tar_path, names.err);
    std::vector<std::string> top;
    for (const DirEntry& e : names.value) top.push_back(e.name);
    const ImageFormat f = DetectFormat(top);
    if (f != ImageFormat::kOciLayout) {
      return MakeError("image import: read layout", tar_path, EINVAL,
                       "a directory must be an OCI image layout (oci-layout, index.json, blobs/)");
    }
    DirLayout layout(sys_, tar_path);
    MYDOCKER_TRY(layout.Check());
    return ImportLayered(tar_path, f, layout, name, limits);
  }
  {
    TarLayout layout(sys_, tar_path);
    std::vector<std::string> top;
    auto scanned = layout.Scan(&top);
    if (!scanned) return scanned.error();
    if (*scanned) {
      const ImageFormat f = DetectFormat(top);
      if (f != ImageFormat::kDockerExport) {
        if (!layout.duplicate().empty()) {
          return MakeError("image import: read layout", layout.Name(layout.duplicate()), EINVAL,
                           "the name is twice in the tar: which copy is meant is ambiguous");
        }
        return ImportLayered(tar_path, f, layout, name, limits);
      }
    }
  }

  // Open the archive before touching the store: a missing or unreadable
  // archive leaves nothing behind.
  ArchiveReader reader(sys_);
  MYDOCKER_TRY(reader.Open(tar_path));

  // The store is closed to other users (docker's /var/lib/docker is 0710).
  MYDOCKER_TRY(CreateStore(sys_, root_));
  Status m = sys_.Mkdir(dir, 0755);
  if (!m.ok()) {
    return MakeError("image import", dir, m.err,
                     m.err == EEXIST ? "image \"" + name + "\" already exists"
                                     : "create image directory");
  }
  // From here on the image directory is ours: remove it on any failure.
  auto fail = [&](Error err) -> Error {
    (void)reader.Close();  // the import failed already: err is the error to report
    Outcome rm = RemoveTree(sys_, dir, "image import: remove partial image");
    if (!rm.ok()) {
      spdlog::error("image import {}: cleanup failed: {}", name,
                    rm.error().Message());
      err.detail += (err.detail.empty() ? "" : "; ") +
                    std::string("cleanup failed: ") + rm.error().Message();
    }
    spdlog::warn("image import {} from {} failed: {}", name, tar_path,
                 err.Message());
    return err;
  };

  const std::string partial = JoinPath(dir, "rootfs.partial");
  const std::string rootfs = JoinPath(dir, "rootfs");
  Status pm = sys_.Mkdir(partial, 0755);
  if (!pm.ok()) return fail(MakeError("image import: mkdir", partial, pm.err));
  Importer importer(sys_, tar_path, partial, limits);
  Outcome run = importer.Run(reader.get(), reader.source());
  if (!run.ok()) return fail(run.error());
  Status closed = reader.Close();
  if (!closed.ok()) {
    return fail(MakeError("image import: close archive", tar_path, closed.err));
  }

  // The layer's data is durable before the rename and the marker make it
  // an image (WriteFileAtomic fsyncs image.json and the image directory).
  {
    auto fd = sys_.Open(partial, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (!fd.ok()) return fail(MakeError("image import: open layer for syncfs", partial, fd.err));
    Status sy = sys_.Syncfs(fd.value);
    Status cl = sys_.Close(fd.value);
    if (!sy.ok()) return fail(MakeError("image import: syncfs layer", partial, sy.err));
    if (!cl.ok()) return fail(MakeError("image import: close layer", partial, cl.err));
  }
  Status rn = sys_.Rename(partial, rootfs);
  if (!rn.ok()) {
    return fail(MakeError("image import: rename layer", partial, rn.err,
                          "to " + rootfs));
  }
  nlohmann::json j = {{"name", name},
                      {"source", tar_path},
                      {"size", importer.size()},
                      {"files", importer.files()}};
  Outcome w = WriteFileAtomic(sys_, JoinPath(dir, "image.json"),
                              j.dump(2) + "\n", 0644,
                              "image import: write image.json");
  if (!w.ok()) return fail(w.error());

  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  spdlog::info("image import {} from {}: {} entries, {} bytes in {} ms", name,
               tar_path, importer.files(), importer.size(), ms);
  ImageInfo info;
  info.name = name;
  info.rootfs = rootfs;
  info.size = importer.size();
  info.files = importer.files();
  info.layers = {rootfs};
  return info;
}

std::string ImageStore::LayersDir() const { return JoinPath(root_, "layers"); }

Expected<FileLock> ImageStore::LockLayers() {
  return FileLock::Acquire(sys_, JoinPath(LayersDir(), ".lock"), FileLock::Mode::kExclusive,
                           true, true, "image: lock layers");
}

Expected<ImageInfo> ImageStore::ImportLayered(const std::string& source, ImageFormat format,
                                              image_internal::LayoutReader& layout,
                                              const std::string& name,
                                              const ImportLimits& limits) {
  const auto start = std::chrono::steady_clock::now();
  // Everything the layout says is read and checked before the store is
  // touched: a bad manifest or config leaves nothing behind.
  auto plan = PlanLayout(layout, format);
  if (!plan) return plan.error();

  MYDOCKER_TRY(CreateStore(sys_, root_));
  const std::string layers_dir = LayersDir();
  MYDOCKER_TRY(MkdirAll(sys_, layers_dir, 0700, "image import: create layer store"));
  // The layer lock, for the whole import: no image rm collects a layer this
  // import found and reuses, and no other import makes the same one.
  FileLock lock;
  if (auto l = LockLayers(); !l) return l.error();
  else lock = std::move(*l);

  const std::string dir = ImageDir(name);
  Status m = sys_.Mkdir(dir, 0755);
  if (!m.ok()) {
    return MakeError("image import", dir, m.err,
                     m.err == EEXIST ? "image \"" + name + "\" already exists"
                                     : "create image directory");
  }
  // On failure: the image directory, a half-made layer, and every layer
  // this import made (no image names them: the lock is held).
  std::string partial;
  auto fail = [&](Error err) -> Error {
    (void)layout.CloseStream();  // the import failed already: err is the error to report
    Outcome rm = RemoveTree(sys_, dir, "image import: remove partial image");
    if (rm && !partial.empty()) rm = RemoveTree(sys_, partial, "image import: remove partial layer");
    if (rm) rm = CollectLayersLocked();
    if (!rm) {
      spdlog::error("image import {}: cleanup failed: {}", name, rm.error().Message());
      err.detail += (err.detail.empty() ? "" : "; ") + std::string("cleanup failed: ") +
                    rm.error().Message();
    }
    spdlog::warn("image import {} from {} failed: {}", name, source, err.Message());
    return err;
  };

  uint64_t size = 0, files = 0;
  size_t reused = 0;
  ImportLimits left = limits;
  std::vector<std::string> digests;
  for (size_t i = 0; i < plan->layers.size(); ++i) {
    const BlobRef& ref = plan->layers[i];
    digests.push_back("sha256:" + ref.hex);
    const std::string final_dir = JoinPath(layers_dir, ref.hex);
    if (Exists(sys_, final_dir)) {  // another image's: shared (verified when it came)
      ++reused;
      continue;
    }
    partial = final_dir + ".partial";
    if (Exists(sys_, partial)) {  // a crashed import's (the lock is ours now)
      if (Outcome o = RemoveTree(sys_, partial, "image import: remove stale partial layer"); !o) {
        return fail(o.error());
      }
    }
    if (Status pm = sys_.Mkdir(partial, 0755); !pm.ok()) {
      return fail(MakeError("image import: mkdir", partial, pm.err));
    }
    if (Outcome o = layout.OpenStream(ref.path); !o) {
      Error e = o.error();
      e.detail += " (named by " + ref.field + ")";
      return fail(e);
    }
    Sha256 hash;
    int stream_err = 0;
    auto read_blob = [&](void* buf, size_t n) -> Result<size_t> {
      Result<size_t> r = layout.ReadStream(buf, n);
      if (r.ok()) hash.Update(buf, r.value);
      else stream_err = r.err;
      return r;
    };
    const std::string blob_name = layout.Name(ref.path);
    {
      ArchiveReader layer(sys_);
      if (Outcome o = layer.OpenWith(blob_name, read_blob); !o) return fail(o.error());
      Importer importer(sys_, blob_name, partial, left, /*layer_diff=*/true);
      if (Outcome o = importer.Run(layer.get(), layer.source()); !o) return fail(o.error());
      (void)layer.Close();  // a memory or layout stream: no fd of its own
      size += importer.size();
      files += importer.files();
      left.max_entries -= std::min(left.max_entries, importer.files());
      left.max_bytes -= std::min(left.max_bytes, importer.data());
    }
    // The tar's end may leave bytes libarchive did not ask for: the digest
    // is of the whole blob.
    char buf[65536];
    for (;;) {
      Result<size_t> r = read_blob(buf, sizeof buf);
      if (!r.ok()) return fail(MakeError("image import: read blob", blob_name, r.err));
      if (r.value == 0) break;
    }
    if (stream_err) return fail(MakeError("image import: read blob", blob_name, stream_err));
    if (Status c = layout.CloseStream(); !c.ok()) {
      return fail(MakeError("image import: close blob", blob_name, c.err));
    }
    const std::string got = hash.Hex();
    if (got != ref.hex) {
      return fail(MakeError(kVerifyStep, blob_name, EINVAL,
                            "sha256 " + got + " does not match sha256:" + ref.hex +
                                " (named by " + ref.field + ")"));
    }
    {
      auto fd = sys_.Open(partial, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
      if (!fd.ok()) return fail(MakeError("image import: open layer for syncfs", partial, fd.err));
      Status sy = sys_.Syncfs(fd.value);
      Status cl = sys_.Close(fd.value);
      if (!sy.ok()) return fail(MakeError("image import: syncfs layer", partial, sy.err));
      if (!cl.ok()) return fail(MakeError("image import: close layer", partial, cl.err));
    }
    if (Status rn = sys_.Rename(partial, final_dir); !rn.ok()) {
      return fail(MakeError("image import: rename layer", partial, rn.err, "to " + final_dir));
    }
    partial.clear();
  }
  nlohmann::json j = {{"name", name},
                      {"source", source},
                      {"format", ImageFormatName(format)},
                      {"size", size},
                      {"files", files},
                      {"layers", digests},
                      {"config", nlohmann::json::parse(ImageConfigJson(plan->config.config))}};
  Outcome w = WriteFileAtomic(sys_, JoinPath(dir, "image.json"), j.dump(2) + "\n", 0644,
                              "image import: write image.json");
  if (!w.ok()) return fail(w.error());
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  spdlog::info("image import {} from {} ({}): {} layers ({} shared), {} entries, {} bytes in {} ms",
               name, source, ImageFormatName(format), digests.size(), reused, files, size, ms);
  // What image.json now says (no read-back: the image is complete here).
  ImageInfo info;
  info.name = name;
  info.size = size;
  info.files = files;
  for (const std::string& d : digests) {
    info.layers.insert(info.layers.begin(), JoinPath(layers_dir, d.substr(7)));
  }
  info.rootfs = info.layers.front();
  info.digests = digests;
  info.format = ImageFormatName(format);
  info.config = plan->config.config;
  return info;
}

Outcome ImageStore::CollectLayers() {
  if (!Exists(sys_, LayersDir())) return Outcome::Ok();
  FileLock lock;
  if (auto l = LockLayers(); !l) return l.error();
  else lock = std::move(*l);
  return CollectLayersLocked();
}

Outcome ImageStore::CollectLayersLocked() {
  const std::string images = JoinPath(root_, "images");
  std::set<std::string> used;
  auto entries = sys_.ReadDir(images);
  if (!entries.ok() && entries.err != ENOENT) {
    return MakeError("image: collect layers", images, entries.err);
  }
  if (entries.ok()) {
    for (const DirEntry& e : entries.value) {
      if (!ValidImageName(e.name)) continue;
      const std::string meta = JoinPath(ImageDir(e.name), "image.json");
      if (!Exists(sys_, meta)) continue;  // incomplete: a crashed import's (lock held)
      auto info = Get(e.name);
      if (!info) {
        return MakeError("image: collect layers", meta, info.error().err ? info.error().err : EIO,
                         "cannot tell which layers it uses, so every layer stays: " +
                             info.error().Message());
      }
      for (const std::string& d : info->digests) used.insert(d.substr(7));
    }
  }
  auto layers = sys_.ReadDir(LayersDir());
  if (!layers.ok()) {
    if (layers.err == ENOENT) return Outcome::Ok();
    return MakeError("image: collect layers", LayersDir(), layers.err);
  }
  for (const DirEntry& e : layers.value) {
    if (e.name == ".lock") continue;
    const std::string hex = e.name.substr(0, e.name.find('.'));
    if (e.name.size() == 64 && used.count(hex)) continue;
    const std::string path = JoinPath(LayersDir(), e.name);
    MYDOCKER_TRY(RemoveTree(sys_, path, "image: remove unused layer"));
    spdlog::info("image: removed layer {} (no image uses it)", e.name);
  }
  return Outcome::Ok();
}

Expected<ImageInfo> ImageStore::Get(const std::string& name) {
  if (!ValidImageName(name)) {
    return MakeError("image get", name, EINVAL, "invalid image name");
  }
  const std::string dir = ImageDir(name);
  if (auto st = sys_.Lstat(dir); !st.ok()) {
    // Only ENOENT means "no such image"; anything else is the store failing.
    return MakeError("image get", dir, st.err,
                     st.err == ENOENT ? "no image \"" + name + "\"" : std::string());
  }
  const std::string meta = JoinPath(dir, "image.json");
  auto text = ReadFile(sys_, meta, "image get: read image.json");
  if (!text.ok()) {
    Error err = text.error();
    if (err.err == ENOENT) err.detail = "incomplete image (import crashed?)";
    return err;
  }
  try {
    nlohmann::json j = nlohmann::json::parse(*text);
    ImageInfo info;
    info.name = j.at("name").get<std::string>();
    info.size = j.at("size").get<uint64_t>();
    info.files = j.at("files").get<uint64_t>();
    info.rootfs = JoinPath(dir, "rootfs");
    info.layers = {info.rootfs};
    if (j.contains("layers")) {
      info.format = j.at("format").get<std::string>();
      info.layers.clear();
      for (const auto& d : j.at("layers")) {
        const std::string digest = d.get<std::string>();
        const std::string hex = DigestHex(digest);
        if (hex.empty()) {
          return MakeError("image get: parse image.json", meta, EINVAL,
                           "layers: \"" + digest + "\" is not sha256:<64 hex>");
        }
        info.digests.push_back(digest);
        info.layers.insert(info.layers.begin(), JoinPath(LayersDir(), hex));
      }
      if (info.layers.empty()) {
        return MakeError("image get: parse image.json", meta, EINVAL, "layers: empty");
      }
      info.rootfs = info.layers.front();
      auto c = ImageConfigFromJson(meta, j.at("config").dump());
      if (!c) return c.error();
      info.config = *c;
    }
    if (info.name != name) {
      return MakeError("image get: parse image.json", meta, EINVAL,
                       "names image \"" + info.name + "\"");
    }
    return info;
  } catch (const nlohmann::json::exception& e) {
    return MakeError("image get: parse image.json", meta, EINVAL, e.what());
  }
}

Expected<std::vector<ImageInfo>> ImageStore::List() {
  const std::string images = JoinPath(root_, "images");
  auto entries = sys_.ReadDir(images);
  if (!entries.ok()) {
    if (entries.err == ENOENT) return std::vector<ImageInfo>{};
    return MakeError("image list", images, entries.err);
  }
  std::vector<ImageInfo> out;
  for (const DirEntry& e : entries.value) {
    if (!ValidImageName(e.name)) continue;
    auto info = Get(e.name);
    if (!info.ok()) {
      spdlog::warn("image list: skipping {}: {}", e.name,
                   info.error().Message());
      continue;
    }
    out.push_back(std::move(*info));
  }
  std::sort(out.begin(), out.end(),
            [](const ImageInfo& a, const ImageInfo& b) { return a.name < b.name; });
  return out;
}

Outcome ImageStore::Remove(const std::string& name) {
  if (!ValidImageName(name)) {
    return MakeError("image remove", name, EINVAL, "invalid image name");
  }
  const std::string dir = ImageDir(name);
  if (!Exists(sys_, dir)) {
    return MakeError("image remove", dir, ENOENT, "no image \"" + name + "\"");
  }
  if (!Exists(sys_, LayersDir())) {  // no layered image was ever imported
    MYDOCKER_TRY(RemoveTree(sys_, dir, "image remove"));
    spdlog::info("image remove {}", name);
    return Outcome::Ok();
  }
  // Layered: the image and then every layer no other image names, under
  // the layer lock (no import is reusing one of them meanwhile).
  FileLock lock;
  if (auto l = LockLayers(); !l) return l.error();
  else lock = std::move(*l);
  MYDOCKER_TRY(RemoveTree(sys_, dir, "image remove"));
  MYDOCKER_TRY(CollectLayersLocked());
  spdlog::info("image remove {}", name);
  return Outcome::Ok();
}

}  // namespace mydocker
