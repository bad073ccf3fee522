#include "runtime/sys/sys_wrapper.h"

#include <poll.h>

#include <cstdio>

namespace mydocker::sys_internal {
namespace {

void Quoted(std::string& out, std::string_view name, std::string_view v) {
  if (!out.empty()) out += ' ';
  out.append(name).append("=\"").append(v).append("\"");
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

std::string_view NextName(std::string_view& names) {
  while (!names.empty() && (names.front() == '(' || names.front() == ' ' || names.front() == ','))
    names.remove_prefix(1);
  size_t end = names.find_first_of(",)");
  std::string_view name = names.substr(0, end);
  names.remove_prefix(end == std::string_view::npos ? names.size() : end);
  return name;
}

void AppendArg(std::string& out, std::string_view name, const std::string& v) {
  Quoted(out, name, v);
}
void AppendArg(std::string& out, std::string_view name, const char* v) {
  Quoted(out, name, v ? v : "");
}
void AppendArg(std::string& out, std::string_view name, char* const* v) {
  if (!out.empty()) out += ' ';
  out.append(name).append("=[");
  size_t n = 0;
  for (; v && v[n]; ++n) {
    // The environment is counted, not printed (it may hold secrets).
    if (name == "envp") continue;
    out.append(n ? " \"" : "\"").append(v[n]).append("\"");
  }
  if (name == "envp") out.append(std::to_string(n)).append(" entries");
  out += ']';
}
void AppendArg(std::string& out, std::string_view, const MountArgs& a) {
  Quoted(out, "source", a.source);
  Quoted(out, "target", a.target);
  Quoted(out, "fstype", a.fstype);
  AppendArg(out, "flags", static_cast<uint64_t>(a.flags), false);
  Quoted(out, "data", a.data);
}
void AppendArg(std::string& out, std::string_view, const FsconfigArgs& a) {
  AppendArg(out, "fd", a.fd);
  AppendArg(out, "cmd", a.cmd);
  Quoted(out, "key", a.key);
  Quoted(out, "value", a.value);
  AppendArg(out, "aux", a.aux);
}
void AppendArg(std::string& out, std::string_view, const MoveMountArgs& a) {
  AppendArg(out, "from_dirfd", a.from_dirfd);
  Quoted(out, "from", a.from_path);
  AppendArg(out, "to_dirfd", a.to_dirfd);
  Quoted(out, "to", a.to_path);
  AppendArg(out, "flags", a.flags);
}
void AppendArg(std::string& out, std::string_view name, SignalDisposition v) {
  if (!out.empty()) out += ' ';
  out.append(name).append(v == SignalDisposition::kIgnore ? "=ignore" : "=default");
}
void AppendArg(std::string& out, std::string_view, const OpenHow& v) {
  AppendArg(out, "how.flags", v.flags, false);
  AppendArg(out, "how.mode", v.mode, false);
  AppendArg(out, "how.resolve_flags", v.resolve, false);
}
void AppendArg(std::string& out, std::string_view, const MountAttr& v) {
  AppendArg(out, "attr_set_flags", v.attr_set, false);
  AppendArg(out, "attr_clr_flags", v.attr_clr, false);
  AppendArg(out, "propagation_flags", v.propagation, false);
}
void AppendArg(std::string& out, std::string_view, const CapSets& v) {
  AppendArg(out, "effective_flags", v.effective, false);
  AppendArg(out, "permitted_flags", v.permitted, false);
  AppendArg(out, "inheritable_flags", v.inheritable, false);
}
void AppendArg(std::string& out, std::string_view, const SeccompRules& v) {
  AppendArg(out, "rules", v.rules.size(), false);
  AppendArg(out, "extra_arches", v.extra_arches.size(), false);
}
void AppendArg(std::string& out, std::string_view, const SeccompProgram& v) {
  AppendArg(out, "instructions", v.len, false);
}
void AppendArg(std::string& out, std::string_view name, uint64_t v, bool is_signed) {
  if (!out.empty()) out += ' ';
  char b[32];
  if (EndsWith(name, "flags") || name == "request" || name == "options" || name == "dev")
    snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
  else if (EndsWith(name, "mode"))
    snprintf(b, sizeof b, "0%llo", static_cast<unsigned long long>(v));
  else if (is_signed)
    snprintf(b, sizeof b, "%lld", static_cast<long long>(v));
  else
    snprintf(b, sizeof b, "%llu", static_cast<unsigned long long>(v));
  out.append(name).append("=").append(b);
}

Result<int> LiePoll(struct pollfd* fds, size_t n) {
  for (size_t i = 0; i < n; ++i) fds[i].revents = static_cast<short>(fds[i].events | POLLHUP);
  return {static_cast<int>(n), 0};
}

}  // namespace mydocker::sys_internal
