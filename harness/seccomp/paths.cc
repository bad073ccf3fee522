#include "harness/seccomp/paths.h"

#include <vector>

namespace faultline::seccomp {

std::string NormalizePath(const std::string& p) {
  if (p.empty()) return {};
  std::vector<std::string> parts;
  size_t i = 0;
  while (i < p.size()) {
    size_t j = p.find('/', i);
    if (j == std::string::npos) j = p.size();
    std::string part = p.substr(i, j - i);
    if (!part.empty() && part != ".") parts.push_back(part);
    i = j + 1;
  }
  std::string out = p[0] == '/' ? "/" : "";
  for (size_t k = 0; k < parts.size(); ++k) {
    if (k > 0) out += '/';
    out += parts[k];
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
