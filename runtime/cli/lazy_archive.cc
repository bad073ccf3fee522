#include "runtime/cli/lazy_archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <dlfcn.h>
#include <errno.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <string>

static_assert(ARCHIVE_VERSION_NUMBER >= 3000000 && ARCHIVE_VERSION_NUMBER < 4000000,
              "libarchive 3.x has the soname libarchive.so.13");

namespace mydocker {
namespace {

constexpr const char* kSoname = "libarchive.so.13";

struct Library {
  void* handle = nullptr;
  std::string error;  // dlerror() of the failed dlopen or dlsym
};

Library& Lib() {
  static Library lib = [] {
    Library l;
    l.handle = dlopen(kSoname, RTLD_NOW | RTLD_LOCAL);
    if (l.handle == nullptr) {
      const char* e = dlerror();
      l.error = e ? e : "dlopen failed";
    }
    return l;
  }();
  return lib;
}

void* Symbol(const char* name, std::string* error) {
  Library& lib = Lib();
  if (lib.handle == nullptr) {
    if (error) *error = lib.error;
    return nullptr;
  }
  dlerror();
  void* p = dlsym(lib.handle, name);
  if (p == nullptr && error) {
    const char* e = dlerror();
    *error = e ? e : std::string(name) + ": not found";
  }
  return p;
}

// The forwarders are reached only after LoadArchiveLibrary succeeded (main
// calls it before any import): a failure here is a broken build or a library
// that vanished since, so it ends the process with the reason.
template <typename F>
F Required(const char* name) {
  std::string error;
  void* p = Symbol(name, &error);
  if (p == nullptr) {
    std::fprintf(stderr, "mydocker: image import: load libarchive: %s: %s\n", kSoname,
                 error.c_str());
    std::abort();
  }
  return reinterpret_cast<F>(p);
}

#define MYDOCKER_REAL(fn) \
  static const auto real = ::mydocker::Required<decltype(&::fn)>(#fn)

}  // namespace

Outcome LoadArchiveLibrary() {
  static const char* const kUsed[] = {
      "archive_read_new",         "archive_read_free",
      "archive_read_support_format_tar", "archive_read_support_filter_gzip",
      "archive_read_support_filter_xz", "archive_read_support_filter_zstd",
      "archive_read_support_filter_bzip2", "archive_format",
      "archive_read_open",        "archive_read_next_header",
      "archive_read_data_block",  "archive_errno",
      "archive_error_string",     "archive_set_error",
      "archive_entry_pathname",   "archive_entry_filetype",
      "archive_entry_symlink",    "archive_entry_hardlink",
      "archive_entry_perm",       "archive_entry_uid",
      "archive_entry_gid",        "archive_entry_size",
      "archive_entry_size_is_set"};
  for (const char* name : kUsed) {
    std::string error;
    if (Symbol(name, &error) == nullptr) {
      return MakeError("image import: load libarchive", kSoname, ELIBACC, error);
    }
  }
  return Outcome::Ok();
}

}  // namespace mydocker

// The forwarders: the exact declarations of <archive.h> / <archive_entry.h>.
extern "C" {

struct archive* archive_read_new(void) {
  // The only entry point: without the library, no archive object, so none of
  // the forwarders below can be reached.
  if (mydocker::Symbol("archive_read_new", nullptr) == nullptr) return nullptr;
  MYDOCKER_REAL(archive_read_new);
  return real();
}
int archive_read_free(struct archive* a) {
  MYDOCKER_REAL(archive_read_free);
  return real(a);
}
int archive_read_support_format_tar(struct archive* a) {
  MYDOCKER_REAL(archive_read_support_format_tar);
  return real(a);
}
int archive_read_support_filter_gzip(struct archive* a) {
  MYDOCKER_REAL(archive_read_support_filter_gzip);
  return real(a);
}
int archive_read_support_filter_xz(struct archive* a) {
  MYDOCKER_REAL(archive_read_support_filter_xz);
  return real(a);
}
int archive_read_support_filter_zstd(struct archive* a) {
  MYDOCKER_REAL(archive_read_support_filter_zstd);
  return real(a);
}
int archive_read_support_filter_bzip2(struct archive* a) {
  MYDOCKER_REAL(archive_read_support_filter_bzip2);
  return real(a);
}
int archive_format(struct archive* a) {
  MYDOCKER_REAL(archive_format);
  return real(a);
}
int archive_read_open(struct archive* a, void* data, archive_open_callback* open_cb,
                      archive_read_callback* read_cb, archive_close_callback* close_cb) {
  MYDOCKER_REAL(archive_read_open);
  return real(a, data, open_cb, read_cb, close_cb);
}
int archive_read_next_header(struct archive* a, struct archive_entry** e) {
  MYDOCKER_REAL(archive_read_next_header);
  return real(a, e);
}
int archive_read_data_block(struct archive* a, const void** buff, size_t* size,
                            la_int64_t* offset) {
  MYDOCKER_REAL(archive_read_data_block);
  return real(a, buff, size, offset);
}
int archive_errno(struct archive* a) {
  MYDOCKER_REAL(archive_errno);
  return real(a);
}
const char* archive_error_string(struct archive* a) {
  MYDOCKER_REAL(archive_error_string);
  return real(a);
}
void archive_set_error(struct archive* a, int err, const char* fmt, ...) {
  MYDOCKER_REAL(archive_set_error);
  char text[512];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  real(a, err, "%s", text);
}
const char* archive_entry_pathname(struct archive_entry* e) {
  MYDOCKER_REAL(archive_entry_pathname);
  return real(e);
}
__LA_MODE_T archive_entry_filetype(struct archive_entry* e) {
  MYDOCKER_REAL(archive_entry_filetype);
  return real(e);
}
const char* archive_entry_symlink(struct archive_entry* e) {
  MYDOCKER_REAL(archive_entry_symlink);
  return real(e);
}
const char* archive_entry_hardlink(struct archive_entry* e) {
  MYDOCKER_REAL(archive_entry_hardlink);
  return real(e);
}
__LA_MODE_T archive_entry_perm(struct archive_entry* e) {
  MYDOCKER_REAL(archive_entry_perm);
  return real(e);
}
la_int64_t archive_entry_uid(struct archive_entry* e) {
  MYDOCKER_REAL(archive_entry_uid);
  return real(e);
}
la_int64_t archive_entry_gid(struct archive_entry* e) {
  MYDOCKER_REAL(archive_entry_gid);
  return real(e);
}
la_int64_t archive_entry_size(struct archive_entry* e) {
  MYDOCKER_REAL(archive_entry_size);
  return real(e);
}
int archive_entry_size_is_set(struct archive_entry* e) {
  MYDOCKER_REAL(archive_entry_size_is_set);
  return real(e);
}

}  // extern "C"
