#include "runtime/container/validate.h"

#include <errno.h>
#include <limits.h>

#include <cstdio>

#include "runtime/container/runtime.h"

namespace mydocker {
namespace {

bool AlnumAscii(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

Error Bad(const std::string& flag, std::string_view value, const std::string& why) {
  return MakeError("parse " + flag, EscapedForMessage(value), EINVAL, why);
}

constexpr int64_t kMinMemory = 6 << 20;  // docker: "Minimum memory limit allowed is 6MB"

}  // namespace

bool ValidContainerName(std::string_view name) {
  if (name.empty() || name.size() > 128 || !AlnumAscii(name[0])) return false;
  for (char c : name) {
    if (!AlnumAscii(c) && c != '_' && c != '.' && c != '-') return false;
  }
  return true;
}

bool ValidHostname(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  size_t start = 0;
  while (start <= name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string_view::npos) dot = name.size();
    std::string_view label = name.substr(start, dot - start);
    if (label.empty() || label.size() > 63) return false;
    if (label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      if (!AlnumAscii(c) && c != '-') return false;
    }
    start = dot + 1;
  }
  return true;
}

bool NoControlChars(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

bool ValidEnvKey(std::string_view key) {
  if (key.empty()) return false;
  for (unsigned char c : key) {
    if (c <= 0x20 || c == 0x7f || c == '=') return false;
  }
  return true;
}

std::string EscapedForMessage(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c < 0x20 || c >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

Outcome ValidateRunSpec(const RunSpec& spec) {
  if (!spec.name.empty() && !ValidContainerName(spec.name)) {
    return Bad("--name", spec.name,
               "container names are [a-zA-Z0-9][a-zA-Z0-9_.-]*, at most 128 bytes");
  }
  if (!spec.hostname.empty() && !ValidHostname(spec.hostname)) {
    return Bad("--hostname", spec.hostname,
               "hostnames are RFC 1123: labels of [a-zA-Z0-9-] (1-63 bytes, no leading or "
               "trailing '-') joined by '.', at most 64 bytes");
  }
  for (const std::string& kv : spec.env) {
    const size_t eq = kv.find('=');
    std::string_view key = std::string_view(kv).substr(0, eq);
    if (!ValidEnvKey(key)) {
      return Bad("--env", kv, "the key must be non-empty, without '=', whitespace or control "
                              "characters");
    }
    if (kv.find('\0') != std::string::npos) return Bad("--env", kv, "NUL in the value");
  }
  for (const Volume& v : spec.volumes) {
    const std::string text = v.host + ":" + v.container;
    if (v.host.empty() || v.host[0] != '/') {
      return Bad("--volume", text, "the host directory must be an absolute path");
    }
    if (v.container.empty() || v.container[0] != '/' || v.container == "/") {
      return Bad("--volume", text, "the container directory must be absolute and not '/'");
    }
    if (!NoControlChars(v.host) || !NoControlChars(v.container) ||
        v.host.find('\0') != std::string::npos || v.container.find('\0') != std::string::npos) {
      return Bad("--volume", text, "control characters in a path");
    }
    if (v.host.size() >= PATH_MAX || v.container.size() >= PATH_MAX) {
      return Bad("--volume", text, "a path longer than PATH_MAX");
    }
    size_t pos = 0;
    while (pos <= v.container.size()) {
      size_t next = v.container.find('/', pos);
      if (next == std::string::npos) next = v.container.size();
      if (v.container.compare(pos, next - pos, "..") == 0 && next - pos == 2) {
        return Bad("--volume", text, "'..' in the container directory");
      }
      pos = next + 1;
    }
  }
  if (spec.limits.memory_bytes && *spec.limits.memory_bytes < kMinMemory) {
    return Bad("--memory", std::to_string(*spec.limits.memory_bytes),
               "the minimum memory limit is 6m (6291456 bytes), as docker's");
  }
  for (const std::string& a : spec.argv) {
    if (a.find('\0') != std::string::npos) return Bad("command", a, "NUL in an argument");
  }
  return Outcome::Ok();
}

}  // namespace mydocker
