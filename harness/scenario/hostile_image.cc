#include "harness/scenario/hostile_image.h"
#include "harness/scenario/oci_layout.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <memory>

#include <nlohmann/json.hpp>

#include "runtime/sys/fs_util.h"

namespace faultline {

using mydocker::Error;
using mydocker::Expected;
using mydocker::MakeError;
using mydocker::Outcome;
using mydocker::Sys;

bool DecodePercent(const std::string& in, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      *out += in[i];
      continue;
    }
    if (i + 2 >= in.size()) return false;
    auto hex = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    int hi = hex(in[i + 1]), lo = hex(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    *out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return true;
}

std::vector<std::string> ExpandPaths(const ImageEntry& e) {
  std::vector<std::string> out;
  for (uint64_t i = 0; i < e.count; ++i) {
    std::string p = e.path;
    if (e.count > 1) {
      for (size_t at = p.find("{i}"); at != std::string::npos; at = p.find("{i}")) {
        p.replace(at, 3, std::to_string(i));
      }
    }
    std::string decoded;
    if (!DecodePercent(p, &decoded)) decoded = p;
    out.push_back(decoded);
  }
  return out;
}

namespace {

uint32_t PermOf(const ImageEntry& e) {
  if (e.mode != 0) return e.mode & 07777;
  return e.type == ImageEntry::Type::kDir ? 0755 : 0644;
}

la_ssize_t AppendToString(struct archive*, void* ctx, const void* buf, size_t n) {
  static_cast<std::string*>(ctx)->append(static_cast<const char*>(buf), n);
  return static_cast<la_ssize_t>(n);
}

struct ArchiveFree {
  void operator()(struct archive* a) const { archive_write_free(a); }
};
struct EntryFree {
  void operator()(struct archive_entry* e) const { archive_entry_free(e); }
};

}  // namespace

Expected<std::string> BuildImageTar(const HostileImage& image) {
  std::string out;
  std::unique_ptr<struct archive, ArchiveFree> a(archive_write_new());
  if (!a) return MakeError("hostile image: tar", image.name, ENOMEM);
  archive_write_set_format_pax(a.get());
  archive_write_set_bytes_in_last_block(a.get(), 1);
  if (archive_write_open(a.get(), &out, nullptr, AppendToString, nullptr) != ARCHIVE_OK) {
    return MakeError("hostile image: tar", image.name, EIO, archive_error_string(a.get()));
  }
  for (const ImageEntry& e : image.entries) {
    for (const std::string& path : ExpandPaths(e)) {
      std::unique_ptr<struct archive_entry, EntryFree> ent(archive_entry_new());
      archive_entry_set_pathname(ent.get(), path.c_str());
      archive_entry_set_perm(ent.get(), PermOf(e));
      bool data = false;
      switch (e.type) {
        case ImageEntry::Type::kDir:
          archive_entry_set_filetype(ent.get(), AE_IFDIR);
          break;
        case ImageEntry::Type::kFile:
          archive_entry_set_filetype(ent.get(), AE_IFREG);
          data = true;
          if (e.size > e.content.size()) {
            archive_entry_set_size(ent.get(), static_cast<la_int64_t>(e.size));
            archive_entry_sparse_add_entry(ent.get(), 0,
                                           static_cast<la_int64_t>(e.content.size()));
          } else {
            archive_entry_set_size(ent.get(), static_cast<la_int64_t>(e.content.size()));
          }
          break;
        case ImageEntry::Type::kSymlink:
          archive_entry_set_filetype(ent.get(), AE_IFLNK);
          archive_entry_set_symlink(ent.get(), e.target.c_str());
          break;
        case ImageEntry::Type::kHardlink:
          archive_entry_set_filetype(ent.get(), AE_IFREG);
          archive_entry_set_hardlink(ent.get(), e.target.c_str());
          break;
        case ImageEntry::Type::kFifo:
          archive_entry_set_filetype(ent.get(), AE_IFIFO);
          break;
        case ImageEntry::Type::kCharDevice:
          archive_entry_set_filetype(ent.get(), AE_IFCHR);
          archive_entry_set_rdev(ent.get(), makedev(1, 3));
          break;
      }
      if (archive_write_header(a.get(), ent.get()) < ARCHIVE_WARN) {
        return MakeError("hostile image: tar header", path, EIO, archive_error_string(a.get()));
      }
      if (data && !e.content.empty() &&
          archive_write_data(a.get(), e.content.data(), e.content.size()) < 0) {
        return MakeError("hostile image: tar data", path, EIO, archive_error_string(a.get()));
      }
    }
  }
  if (archive_write_close(a.get()) != ARCHIVE_OK) {
    return MakeError("hostile image: tar close", image.name, EIO, archive_error_string(a.get()));
  }
  return out;
}

namespace {

// Clones src into dst (dst made here): directories with their modes, files
// hard-linked, symlinks copied. Never follows a symlink.
Outcome CloneTree(Sys& sys, const std::string& src, const std::string& dst) {
  auto st = sys.Lstat(src);
  if (!st.ok()) return MakeError("hostile image: lstat base", src, st.err);
  if (auto m = sys.Mkdir(dst, st.value.mode & 07777); !m.ok()) {
    return MakeError("hostile image: mkdir", dst, m.err);
  }
  auto entries = sys.ReadDir(src);
  if (!entries.ok()) return MakeError("hostile image: read base", src, entries.err);
  for (const auto& e : entries.value) {
    const std::string from = mydocker::JoinPath(src, e.name);
    const std::string to = mydocker::JoinPath(dst, e.name);
    auto cst = sys.Lstat(from);
    if (!cst.ok()) return MakeError("hostile image: lstat base", from, cst.err);
    if (S_ISDIR(cst.value.mode)) {
      MYDOCKER_TRY(CloneTree(sys, from, to));
    } else if (S_ISLNK(cst.value.mode)) {
      auto target = sys.Readlink(from);
      if (!target.ok()) return MakeError("hostile image: readlink base", from, target.err);
      if (auto s = sys.Symlink(target.value, to); !s.ok()) {
        return MakeError("hostile image: symlink", to, s.err);
      }
    } else if (auto l = sys.Link(from, to); !l.ok()) {
      return MakeError("hostile image: link", to, l.err);
    }
  }
  return Outcome::Ok();
}

// Makes the missing parents of rel under root, refusing a parent that is
// not a directory (a symlink an earlier entry planted is never followed).
Outcome MakeParents(Sys& sys, const std::string& root, const std::string& rel) {
  size_t pos = 0;
  while (true) {
    size_t slash = rel.find('/', pos);
    if (slash == std::string::npos) return Outcome::Ok();
    const std::string dir = mydocker::JoinPath(root, rel.substr(0, slash));
    auto st = sys.Lstat(dir);
    if (!st.ok()) {
      if (st.err != ENOENT) return MakeError("hostile image: lstat", dir, st.err);
      if (auto m = sys.Mkdir(dir, 0755); !m.ok()) {
        return MakeError("hostile image: mkdir parent", dir, m.err);
      }
    } else if (!S_ISDIR(st.value.mode)) {
      return MakeError("hostile image: parent", dir, ENOTDIR,
                       "an entry's parent is not a directory");
    }
    pos = slash + 1;
  }
}

}  // namespace

Outcome LayOutImage(Sys& sys, const std::string& base_layer, const std::string& dest,
                    const HostileImage& image) {
  if (image.base == "none") {
    if (auto m = sys.Mkdir(dest, 0755); !m.ok()) {
      return MakeError("hostile image: mkdir", dest, m.err);
    }
  } else {
    MYDOCKER_TRY(CloneTree(sys, base_layer, dest));
  }
  for (const ImageEntry& e : image.entries) {
    for (const std::string& rel : ExpandPaths(e)) {
      if (rel.empty() || rel[0] == '/') {
        return MakeError("hostile image: entry", rel, EINVAL, "paths are relative");
      }
      MYDOCKER_TRY(MakeParents(sys, dest, rel));
      const std::string host = mydocker::JoinPath(dest, rel);
      // Replace what the base has there (never following a symlink).
      if (mydocker::Exists(sys, host) && e.type != ImageEntry::Type::kDir) {
        MYDOCKER_TRY(mydocker::RemoveTree(sys, host, "hostile image: replace"));
      }
      const uint32_t perm = PermOf(e);
      switch (e.type) {
        case ImageEntry::Type::kDir: {
          auto st = sys.Lstat(host);
          if (st.ok() && !S_ISDIR(st.value.mode)) {
            MYDOCKER_TRY(mydocker::RemoveTree(sys, host, "hostile image: replace"));
          }
          if (auto m = sys.Mkdir(host, perm); !m.ok() && m.err != EEXIST) {
            return MakeError("hostile image: mkdir", host, m.err);
          }
          if (auto c = sys.Chmod(host, perm); !c.ok()) {
            return MakeError("hostile image: chmod", host, c.err);
          }
          break;
        }
        case ImageEntry::Type::kFile: {
          auto fd = sys.Open(host, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, perm);
          if (!fd.ok()) return MakeError("hostile image: create", host, fd.err);
          size_t off = 0;
          Outcome w;
          while (off < e.content.size() && w.ok()) {
            auto r = sys.Write(fd.value, e.content.data() + off, e.content.size() - off);
            if (!r.ok()) w = MakeError("hostile image: write", host, r.err);
            else off += r.value;
          }
          if (w.ok() && e.size > e.content.size()) {
            if (auto t = sys.Ftruncate(fd.value, static_cast<int64_t>(e.size)); !t.ok()) {
              w = MakeError("hostile image: ftruncate", host, t.err);
            }
          }
          (void)sys.Close(fd.value);
          MYDOCKER_TRY(w);
          if (auto c = sys.Chmod(host, perm); !c.ok()) {
            return MakeError("hostile image: chmod", host, c.err);
          }
          break;
        }
        case ImageEntry::Type::kSymlink:
          if (auto s = sys.Symlink(e.target, host); !s.ok()) {
            return MakeError("hostile image: symlink", host, s.err);
          }
          break;
        case ImageEntry::Type::kHardlink:
          if (auto l = sys.Link(mydocker::JoinPath(dest, e.target), host); !l.ok()) {
            return MakeError("hostile image: link", host, l.err);
          }
          break;
        case ImageEntry::Type::kFifo:
          if (auto n = sys.Mknod(host, S_IFIFO | perm, 0); !n.ok()) {
            return MakeError("hostile image: mknod", host, n.err);
          }
          break;
        case ImageEntry::Type::kCharDevice:
          if (auto n = sys.Mknod(host, S_IFCHR | perm, makedev(1, 3)); !n.ok()) {
            return MakeError("hostile image: mknod", host, n.err);
          }
          break;
      }
    }
  }
  return Outcome::Ok();
}

Expected<mydocker::ImageInfo> InstallImage(Sys& sys, const std::string& store_root,
                                           const std::string& base_layer,
                                           const std::string& tar_path,
                                           const HostileImage& image) {
  if (image.import && !image.layers.empty()) {
    LayeredImageSpec spec;
    spec.format = image.format == "docker-save" ? LayeredImageSpec::Format::kDockerSave
                  : image.format == "oci-dir"   ? LayeredImageSpec::Format::kOciDir
                                                : LayeredImageSpec::Format::kOciTar;
    if (image.base != "none") {
      if (image.base_tar.empty()) {
        return MakeError("layered image", image.name, ENOENT,
                         "this runtime's adapter has no busybox tar for the base layer");
      }
      auto base = mydocker::ReadFile(sys, image.base_tar, "layered image: read base tar");
      if (!base) return base.error();
      spec.base_tar = *base;
    }
    spec.layers = image.layers;
    spec.config = image.config;
    MYDOCKER_TRY(WriteLayeredImage(sys, tar_path, spec));
    mydocker::ImageStore store(sys, store_root);
    auto info = store.Import(tar_path, image.name, image.limits);
    if (spec.format == LayeredImageSpec::Format::kOciDir) {
      (void)mydocker::RemoveTree(sys, tar_path, "layered image: remove layout");
    } else {
      (void)sys.Unlink(tar_path);
    }
    return info;
  }
  if (image.import) {
    auto tar = BuildImageTar(image);
    if (!tar) return tar.error();
    MYDOCKER_TRY(mydocker::WriteFile(sys, tar_path, *tar, 0600, "hostile image: write tar"));
    mydocker::ImageStore store(sys, store_root);
    auto info = store.Import(tar_path, image.name, image.limits);
    (void)sys.Unlink(tar_path);
    return info;
  }
  const std::string dir = store_root + "/images/" + image.name;
  MYDOCKER_TRY(mydocker::MkdirAll(sys, store_root + "/images", 0700, "hostile image: store"));
  if (auto m = sys.Mkdir(dir, 0755); !m.ok()) {
    return MakeError("hostile image: mkdir", dir, m.err);
  }
  MYDOCKER_TRY(LayOutImage(sys, base_layer, dir + "/rootfs", image));
  nlohmann::json j = {{"name", image.name}, {"source", "faultline hostile image"},
                      {"size", 0}, {"files", 0}};
  MYDOCKER_TRY(mydocker::WriteFileAtomic(sys, dir + "/image.json", j.dump(2) + "\n", 0644,
                                         "hostile image: write image.json"));
  mydocker::ImageInfo info{image.name, dir + "/rootfs", 0, 0};
  info.layers = {info.rootfs};
  return info;
}

}  // namespace faultline
