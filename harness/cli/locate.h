// Where the CLI finds what it runs: its own binary, the source tree (for
// ci/build-image), the mydocker binary of the same build, the busybox image.
#pragma once

#include <string>

namespace faultline {

// The faultline binary (/proc/self/exe); "" when unreadable.
std::string SelfExe();

// The source tree: the nearest ancestor of the binary (then of the working
// directory) holding ci/build-image; "" when there is none.
std::string FindSourceDir();

// The mydocker binary of this build: <build>/runtime/mydocker next to
// <build>/harness/faultline.
std::string DefaultMydockerBinary();

// The busybox tar: given (non-empty `given`), else $FAULTLINE_IMAGE_TAR,
// else built now by ci/build-image into built_path (*built set: the caller
// removes it). "" with *error set when none can be had.
std::string FindOrBuildImageTar(const std::string& given, const std::string& built_path,
                                bool* built, std::string* error);

}  // namespace faultline
