#include "runtime/util/error.h"

#include <string.h>

namespace mydocker {

std::string ErrnoName(int err) {
  const char* name = strerrorname_np(err);
  if (name != nullptr) return name;
  return "E" + std::to_string(err);
}

std::string Error::Message() const {
  std::string m = step;
  if (!path.empty()) m += " " + path;
  if (err != 0) {
    const char* desc = strerrordesc_np(err);
    m += ": " + ErrnoName(err) + " (" + (desc ? desc : "unknown error") + ")";
  }
  if (!detail.empty()) m += ": " + detail;
  return m;
}

Error MakeError(std::string step, std::string path, int err,
                std::string detail) {
  return Error{std::move(step), std::move(path), err, std::move(detail)};
}

}  // namespace mydocker
