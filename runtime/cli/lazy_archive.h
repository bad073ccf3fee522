// libarchive, loaded only when the mydocker binary imports an image.
//
// libarchive and what it needs (libxml2, ICU, nettle, lzma, zstd, ...) are
// a dozen shared libraries whose loading and relocation every `mydocker run`
// paid for, though only `image import` reads archives. The binary therefore
// does not link libarchive: lazy_archive.cc defines the libarchive functions
// that runtime/image/image_store.cc calls, each forwarding to the same
// function of libarchive.so.13, dlopen'ed on first use. mydocker_core (tests,
// harness, bench) still links libarchive directly; only the binary uses this.
//
// A function image_store.cc starts to call without a forwarder here fails the
// link of the binary (undefined symbol): add it to lazy_archive.cc.
#pragma once

#include "runtime/util/error.h"

namespace mydocker {

// Loads libarchive.so.13 (once) and resolves every forwarded function.
// Call it before ImageStore::Import: a missing library or symbol is then an
// error naming both ("image import: load libarchive"), not a crash.
Outcome LoadArchiveLibrary();

}  // namespace mydocker
