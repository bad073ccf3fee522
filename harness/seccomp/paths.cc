#include "harness/seccomp/paths.h"

namespace faultline::seccomp {

std::string NormalizePath(const std::string& p) {
  if (p.empty()) return {};
  // One pass, one allocation: copy each component that is neither empty
  // nor ".", separated by single slashes.
  std::string out;
  out.reserve(p.size());
  if (p[0] == '/') out += '/';
  size_t i = 0;
  while (i < p.size()) {
    size_t j = p.find('/', i);
    if (j == std::string::npos) j = p.size();
    size_t len = j - i;
    if (len > 0 && !(len == 1 && p[i] == '.')) {
      if (!out.empty() && out.back() != '/') out += '/';
      out.append(p, i, len);
    }
    i = j + 1;
  }
  return out.empty() ? "." : out;
}

std::string StripRoot(const std::string& base_host,
                      const std::string& root_host) {
  std::string root = NormalizePath(root_host);
  std::string base = NormalizePath(base_host);
  if (root.empty() || root == "/") return base;
  if (base == root) return "/";
  if (base.size() > root.size() && base.compare(0, root.size(), root) == 0 &&
      base[root.size()] == '/') {
    return base.substr(root.size());
  }
  return base;
}

ResolvedPath ResolvePath(const std::string& raw, const std::string& root_host,
                         const std::string& base_host) {
  if (raw.empty()) return {};
  std::string root = NormalizePath(root_host.empty() ? "/" : root_host);
  if (raw[0] == '/') {
    std::string seen = NormalizePath(raw);
    std::string host = root == "/" ? seen : NormalizePath(root + "/" + raw);
    return {seen, host};
  }
  if (base_host.empty()) {
    // The base is unknown (the process is gone): report what was passed.
    return {NormalizePath(raw), NormalizePath(raw)};
  }
  std::string host = NormalizePath(base_host + "/" + raw);
  std::string seen = NormalizePath(StripRoot(base_host, root) + "/" + raw);
  return {seen, host};
}

}  // namespace faultline::seccomp
