// Validation of every user-given string of a run, before anything is
// created: a bad value is an Error whose step names the flag
// ("parse --name"), its path the value (control characters escaped), errno
// EINVAL; the CLI exits 125 with it and nothing exists afterwards.
#pragma once

#include <string>
#include <string_view>

#include "runtime/util/error.h"

namespace mydocker {

struct RunSpec;

// docker's rule: [a-zA-Z0-9][a-zA-Z0-9_.-]*, at most 128 bytes (the name is
// written into state files and printed by ps).
bool ValidContainerName(std::string_view name);
// RFC 1123: dot-separated labels of [a-zA-Z0-9-], 1..63 bytes each, not
// starting or ending with '-'; at most 64 bytes in all (HOST_NAME_MAX). So
// never a newline, space or NUL: the name goes into /etc/hostname and
// /etc/hosts.
bool ValidHostname(std::string_view name);
// An environment key: non-empty, no '=', no whitespace or control
// characters (a newline in a key would forge another variable for a reader
// of /proc/PID/environ-style lists).
bool ValidEnvKey(std::string_view key);
// No byte below 0x20 and no DEL: paths go into mountinfo, state files and
// logs line by line.
bool NoControlChars(std::string_view s);

// The value as an error message shows it: control characters and bytes
// >= 0x80 as \xNN, so a newline or invalid UTF-8 never reaches a terminal
// or a report raw.
std::string EscapedForMessage(std::string_view s);

// Every field of spec: name, hostname, env (keys; values: no NUL), volume
// paths (absolute, no control characters, container side without "..",
// not "/", at most PATH_MAX), memory (at least 6 MiB, as
// docker; -m 0 is "no limit" in the CLI), argv (non-empty). The first bad one is the error.
Outcome ValidateRunSpec(const RunSpec& spec);

}  // namespace mydocker
