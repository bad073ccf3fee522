// Mount tables: /proc/<pid>/mountinfo parsed with libmount.
//
// One parser for the whole project (cgroup layout detection, the mount
// probes, the rootfs checks), so every consumer agrees on escapes (\040 for a
// space in a path) and on optional fields ("shared:7 master:1").
#pragma once

#include <string>
#include <vector>

#include "runtime/sys/sys.h"
#include "runtime/util/error.h"

namespace mydocker {

// One line of mountinfo (proc(5)), paths unescaped.
struct MountEntry {
  int id = 0;                   // field 1: mount ID
  int parent = 0;               // field 2: parent mount ID
  std::string root;             // field 4: root of the mount in its filesystem
  std::string target;           // field 5: mount point
  std::string fstype;           // after "-": "ext4", "cgroup2", "overlay"
  std::string source;           // after fstype: "/dev/vda", "overlay"
  std::string options;          // field 6: per-mount options "rw,relatime"
  std::string super_options;    // last field: superblock options "rw,cpu,cpuacct"
  std::string optional_fields;  // "shared:7 master:1"; empty when none
};

// Parses mountinfo text. Pure: touches no kernel state. Empty text gives no
// entries. A line that is not a mountinfo line (too few fields, no "-"
// separator, a first line that is not "<id> <parent> <major>:<minor> ...")
// fails with step "mountinfo: parse", errno EINVAL and the line number in the
// detail; no partial result is returned.
Expected<std::vector<MountEntry>> ParseMountinfo(const std::string& text);

// Reads path through sys (fs_util ReadFile) and parses it. A read failure
// names step "mountinfo: read", the path and the errno.
Expected<std::vector<MountEntry>> ReadMountinfo(
    Sys& sys, const std::string& path = "/proc/self/mountinfo");

}  // namespace mydocker
