#include "harness/cli/locate.h"

#include <stdlib.h>

#include <filesystem>

#include "harness/adapters/process.h"

namespace faultline {

namespace fs = std::filesystem;

std::string SelfExe() {
  std::error_code ec;
  auto p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? "" : p.string();
}

std::string FindSourceDir() {
  std::error_code ec;
  for (fs::path start : {fs::path(SelfExe()).parent_path(), fs::current_path(ec)}) {
    for (fs::path d = start; !d.empty(); d = d.parent_path()) {
      if (fs::exists(d / "ci" / "build-image", ec)) return d.string();
      if (d == d.parent_path()) break;
    }
  }
  return "";
}

std::string DefaultMydockerBinary() {
  return (fs::path(SelfExe()).parent_path().parent_path() / "runtime" / "mydocker").string();
}

std::string FindOrBuildImageTar(const std::string& given, const std::string& built_path,
                                bool* built, std::string* error) {
  *built = false;
  if (!given.empty()) return given;
  if (const char* env = std::getenv("FAULTLINE_IMAGE_TAR"); env != nullptr && *env != 0) {
    return env;
  }
  const std::string src = FindSourceDir();
  if (src.empty()) {
    *error = "no image: give --image-tar or FAULTLINE_IMAGE_TAR (ci/build-image not found near "
             "the binary or the working directory)";
    return "";
  }
  const std::string err_path = built_path + ".err";
  ProcessResult p =
      RunProcess({{"/bin/bash", src + "/ci/build-image", built_path}, {}, "", err_path, true}, 300);
  const std::string err_text = ReadTextFile(err_path);
  std::error_code ec;
  fs::remove(err_path, ec);
  if (p.exit_code != 0) {
    fs::remove(built_path, ec);
    *error = "ci/build-image failed (exit " + std::to_string(p.exit_code) + "): " + err_text;
    return "";
  }
  *built = true;
  return built_path;
}

}  // namespace faultline
