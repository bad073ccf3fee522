// Workspace: the container's filesystem, in the layer roles of the classic
// "write your own docker" series (AUFS there, overlayfs here):
//
//   <dir>/init/    container-init layer: etc/hostname, etc/hosts, etc/resolv.conf
//   image layers   read-only, shared by every container of the image
//   <dir>/upper/   the write layer
//   <dir>/work/    overlayfs's work directory
//   <dir>/merged/  the mount point: init + image layers below, upper on top
//
// Create and Destroy are explicit steps. A failure at any step of Create
// undoes the earlier ones in reverse order. Destroy is idempotent: it can run
// after a crash at any point of Create (gc) and after a successful Destroy.
//
// The classic mount(2) option string is cut at one page; when the string for
// the layers does not fit, the workspace uses fsopen/fsconfig with one
// "lowerdir+" per layer (Linux 6.8+). Where the kernel lacks that, Create
// fails with E2BIG naming the layer count: a layer is never dropped silently.
// fsconfig takes string values of at most 255 bytes; a longer layer, init,
// upper or work path goes by a directory fd (FSCONFIG_SET_FD, overlayfs since
// Linux 6.13), and where the kernel refuses that the error names the limit.
#pragma once

#include <string>
#include <vector>

#include "runtime/sys/sys.h"
#include "runtime/util/error.h"

namespace mydocker {

enum class MountApi { kAuto, kLegacy, kNewApi };

struct WorkspaceSpec {
  std::string dir;                    // the container's directory; must exist
  std::vector<std::string> layers;    // image layers, topmost first
  std::string hostname;
  std::string resolv_conf;            // content of etc/resolv.conf
  MountApi api = MountApi::kAuto;
};

struct WorkspacePaths {
  std::string init, upper, work, merged;
};

WorkspacePaths PathsFor(const std::string& dir);

// "lowerdir=<init>:<l1>:...,upperdir=...,workdir=..." (pure).
std::string OverlayOptions(const WorkspacePaths& p,
                           const std::vector<std::string>& layers);
// fsconfig(2) copies a string value of at most this many bytes (EINVAL beyond).
inline constexpr size_t kFsconfigStringMax = 255;
// True when value can go to fsconfig as FSCONFIG_SET_STRING.
bool FitsFsconfigString(const std::string& value);
// True when options fit mount(2)'s one-page data argument (with its NUL).
bool FitsLegacyMount(const std::string& options);
// The API Create would use for these options.
MountApi ChooseMountApi(MountApi requested, const std::string& options);
// /etc/hosts content for a hostname.
std::string HostsFile(const std::string& hostname);

class Workspace {
 public:
  static Expected<Workspace> Create(Sys& sys, const WorkspaceSpec& spec);
  // Handle of a workspace that may exist partly (gc, rm): touches nothing.
  static Workspace At(Sys& sys, const std::string& dir);

  // Unmounts merged (lazily when busy, with a warning) and removes init,
  // upper, work and merged. Never removes the image layers or dir itself.
  // What Create made (the init files, overlayfs's work/work) is removed by
  // name; anything else found there (a crash left it half made, the
  // container wrote to upper) is removed by a walk that never crosses a
  // mount (RemoveTree). Errors name the step, the path and the errno.
  Outcome Destroy();

  const WorkspacePaths& paths() const { return paths_; }
  MountApi api_used() const { return api_used_; }

 private:
  Workspace(Sys& sys, WorkspacePaths paths, MountApi api)
      : sys_(&sys), paths_(std::move(paths)), api_used_(api) {}
  Sys* sys_;
  WorkspacePaths paths_;
  MountApi api_used_;
};

}  // namespace mydocker
