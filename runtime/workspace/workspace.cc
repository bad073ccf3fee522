#include "runtime/workspace/workspace.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <sys/mount.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "runtime/sys/drop.h"
#include "runtime/sys/fs_util.h"
#include "runtime/util/undo.h"

namespace mydocker {
namespace {

constexpr size_t kPageSize = 4096;

Outcome MakeDir(Sys& sys, const std::string& path, mode_t mode,
                const char* step) {
  Status st = sys.Mkdir(path, mode);
  if (!st.ok()) return MakeError(step, path, st.err);
  return Outcome::Ok();
}

Outcome RemoveDir(Sys& sys, const std::string& path, const char* step) {
  Status st = sys.Rmdir(path);
  if (!st.ok() && st.err != ENOENT) return MakeError(step, path, st.err);
  return Outcome::Ok();
}

// The init layer's files, relative to <dir>/init. WriteInitLayer makes
// them; kInitLayerLayout lists them (children first) for the teardown.
constexpr const char kHostnameFile[] = "etc/hostname";
constexpr const char kHostsFile[] = "etc/hosts";
constexpr const char kResolvConfFile[] = "etc/resolv.conf";
constexpr KnownEntry kInitLayerLayout[] = {
    {kHostnameFile, false}, {kHostsFile, false}, {kResolvConfFile, false}, {"etc", true}};
// overlayfs makes work/work at mount time (and more with index=on or
// volatile, which RemoveKnownTree's walk then handles).
constexpr KnownEntry kWorkDirLayout[] = {{"work", true}};

Outcome WriteInitLayer(Sys& sys, const WorkspacePaths& p,
                       const WorkspaceSpec& spec) {
  const std::string step = "workspace: write init layer";
  MYDOCKER_TRY(MakeDir(sys, JoinPath(p.init, "etc"), 0755, step.c_str()));
  MYDOCKER_TRY(WriteFile(sys, JoinPath(p.init, kHostnameFile),
                         spec.hostname + "\n", 0644, step));
  MYDOCKER_TRY(WriteFile(sys, JoinPath(p.init, kHostsFile),
                         HostsFile(spec.hostname), 0644, step));
  MYDOCKER_TRY(WriteFile(sys, JoinPath(p.init, kResolvConfFile),
                         spec.resolv_conf, 0644, step));
  return Outcome::Ok();
}

// What Create left under init (and the kernel under work), removed by name;
// anything else there makes RemoveKnownTree walk the tree.
Outcome RemoveInitLayer(Sys& sys, const WorkspacePaths& p) {
  return RemoveKnownTree(sys, p.init, kInitLayerLayout,
                         "workspace: remove init layer");
}

Outcome RemoveWorkDir(Sys& sys, const WorkspacePaths& p) {
  return RemoveKnownTree(sys, p.work, kWorkDirLayout, "workspace: remove work dir");
}

Outcome MountLegacy(Sys& sys, const WorkspacePaths& p,
                    const std::string& options) {
  Status st = sys.Mount(MountArgs{"overlay", p.merged, "overlay", 0, options});
  if (!st.ok()) return MakeError("workspace: mount overlay", p.merged, st.err);
  return Outcome::Ok();
}

Outcome MountNewApi(Sys& sys, const WorkspacePaths& p,
                    const std::vector<std::string>& layers) {
  const char* step = "workspace: mount overlay (fsopen)";
  auto fs = sys.Fsopen("overlay", FSOPEN_CLOEXEC);
  if (!fs.ok()) return MakeError(step, p.merged, fs.err, "fsopen overlay");
  // One layer (or upperdir/workdir): by name when it fits fsconfig's string
  // limit, else by a directory fd (FSCONFIG_SET_FD), closed once the kernel
  // holds the path.
  auto config = [&](const std::string& key, const std::string& value) -> Outcome {
    if (FitsFsconfigString(value)) {
      Status st = sys.Fsconfig(FsconfigArgs{fs.value, FSCONFIG_SET_STRING, key, value, 0});
      if (st.ok()) return Outcome::Ok();
      std::string detail = "fsconfig " + key + "=" + value;
      if (key == "lowerdir+" && st.err == EINVAL) {
        detail += " (kernel lacks lowerdir+, needs Linux 6.8; " +
                  std::to_string(layers.size() + 1) +
                  " layers do not fit mount(2)'s one-page options)";
      }
      return MakeError(step, p.merged, st.err, detail);
    }
    // O_RDONLY, not O_PATH: FSCONFIG_SET_FD takes O_PATH fds only since
    // Linux 6.14 ("fs: support O_PATH fds with FSCONFIG_SET_FD"), layers by
    // fd since 6.13.
    auto fd = sys.Openat(AT_FDCWD, value, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (!fd.ok()) {
      return MakeError(step, p.merged, fd.err,
                       "open " + key + " " + value + " to pass it by fd");
    }
    Status st = sys.Fsconfig(FsconfigArgs{fs.value, FSCONFIG_SET_FD, key, "", fd.value});
    CloseFd(sys, fd.value);
    if (st.ok()) return Outcome::Ok();
    std::string detail = "fsconfig " + key + " by fd " + value + ": the path is " +
                         std::to_string(value.size()) + " bytes, over fsconfig's " +
                         std::to_string(kFsconfigStringMax) + "-byte string limit";
    if (st.err == EINVAL || st.err == EOPNOTSUPP) {
      detail += ", and this kernel takes no overlay layer by fd (needs Linux 6.13)";
    }
    return MakeError(step, p.merged, st.err, detail);
  };
  Outcome o = config("lowerdir+", p.init);
  for (size_t i = 0; o.ok() && i < layers.size(); ++i) o = config("lowerdir+", layers[i]);
  if (o.ok()) o = config("upperdir", p.upper);
  if (o.ok()) o = config("workdir", p.work);
  if (o.ok()) {
    Status st = sys.Fsconfig(FsconfigArgs{fs.value, FSCONFIG_CMD_CREATE, "", "", 0});
    if (!st.ok()) o = MakeError(step, p.merged, st.err, "fsconfig create");
  }
  Result<int> mnt{-1, 0};
  if (o.ok()) {
    mnt = sys.Fsmount(fs.value, FSMOUNT_CLOEXEC, 0);
    if (!mnt.ok()) o = MakeError(step, p.merged, mnt.err, "fsmount");
  }
  CloseFd(sys, fs.value);
  if (!o.ok()) return o;
  Status mv = sys.MoveMount(
      MoveMountArgs{mnt.value, "", AT_FDCWD, p.merged, MOVE_MOUNT_F_EMPTY_PATH});
  CloseFd(sys, mnt.value);
  if (!mv.ok()) return MakeError(step, p.merged, mv.err, "move_mount");
  return Outcome::Ok();
}

}  // namespace

WorkspacePaths PathsFor(const std::string& dir) {
  return WorkspacePaths{JoinPath(dir, "init"), JoinPath(dir, "upper"),
                        JoinPath(dir, "work"), JoinPath(dir, "merged")};
}

std::string OverlayOptions(const WorkspacePaths& p,
                           const std::vector<std::string>& layers) {
  // One allocation: at 499 layers the string is ~30 KB, and building it by
  // temporaries ("":" + l") cost more than the syscalls it replaces.
  size_t size = 9 + p.init.size() + 10 + p.upper.size() + 9 + p.work.size();
  for (const auto& l : layers) size += 1 + l.size();
  std::string o;
  o.reserve(size);
  o.append("lowerdir=").append(p.init);
  for (const auto& l : layers) o.append(1, ':').append(l);
  o.append(",upperdir=").append(p.upper).append(",workdir=").append(p.work);
  return o;
}

bool FitsFsconfigString(const std::string& value) {
  return value.size() <= kFsconfigStringMax;
}

bool FitsLegacyMount(const std::string& options) {
  return options.size() + 1 <= kPageSize;
}

MountApi ChooseMountApi(MountApi requested, const std::string& options) {
  if (requested != MountApi::kAuto) return requested;
  return FitsLegacyMount(options) ? MountApi::kLegacy : MountApi::kNewApi;
}

std::string HostsFile(const std::string& hostname) {
  return "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
         "127.0.1.1\t" + hostname + "\n";
}

Expected<Workspace> Workspace::Create(Sys& sys, const WorkspaceSpec& spec) {
  const WorkspacePaths p = PathsFor(spec.dir);
  for (const auto& l : spec.layers) {
    // memchr twice, not find_first_of (a memchr per character).
    if (l.find(':') != std::string::npos || l.find(',') != std::string::npos) {
      return MakeError("workspace: check layer", l, EINVAL,
                       "overlay layer paths cannot contain ':' or ','");
    }
  }
  const std::string options = OverlayOptions(p, spec.layers);
  const MountApi api = ChooseMountApi(spec.api, options);
  if (api == MountApi::kLegacy && !FitsLegacyMount(options)) {
    return MakeError("workspace: mount overlay", p.merged, E2BIG,
                     std::to_string(spec.layers.size()) +
                         " layers need " + std::to_string(options.size()) +
                         " bytes of mount options; mount(2) takes one page");
  }

  UndoStack undo;
  auto fail = [&](Error e) -> Expected<Workspace> {
    undo.Run();
    return e;
  };

  if (Outcome o = MakeDir(sys, p.init, 0755, "workspace: create init layer"); !o)
    return fail(o.error());
  // The undo steps run (from fail) while p is alive.
  undo.Push("remove init layer", [&sys, &p] { return RemoveInitLayer(sys, p); });
  if (Outcome o = WriteInitLayer(sys, p, spec); !o) return fail(o.error());

  if (Outcome o = MakeDir(sys, p.upper, 0755, "workspace: create write layer"); !o)
    return fail(o.error());
  undo.Push("remove write layer", [&sys, &p] {
    return RemoveTree(sys, p.upper, "workspace: remove write layer");
  });
  if (Outcome o = MakeDir(sys, p.work, 0700, "workspace: create work dir"); !o)
    return fail(o.error());
  undo.Push("remove work dir", [&sys, &p] { return RemoveWorkDir(sys, p); });
  if (Outcome o = MakeDir(sys, p.merged, 0755, "workspace: create mount point"); !o)
    return fail(o.error());
  undo.Push("remove mount point", [&sys, &p] {
    return RemoveDir(sys, p.merged, "workspace: remove mount point");
  });

  Outcome mounted = api == MountApi::kLegacy ? MountLegacy(sys, p, options)
                                             : MountNewApi(sys, p, spec.layers);
  if (!mounted) return fail(mounted.error());
  undo.Release();
  spdlog::debug("workspace {}: {} image layer(s) mounted via {}", p.merged,
                spec.layers.size(), api == MountApi::kLegacy ? "mount(2)" : "fsopen");
  return Workspace(sys, p, api);
}

Workspace Workspace::At(Sys& sys, const std::string& dir) {
  return Workspace(sys, PathsFor(dir), MountApi::kAuto);
}

Outcome Workspace::Destroy() {
  Sys& sys = *sys_;
  Status st = sys.Umount2(paths_.merged, 0);
  if (st.err == EBUSY) {
    spdlog::warn("workspace: {} is busy; detaching it lazily", paths_.merged);
    st = sys.Umount2(paths_.merged, MNT_DETACH);
  }
  // EINVAL: not a mount point (never mounted, or already unmounted).
  // ENOENT: the mount point is gone already.
  if (!st.ok() && st.err != EINVAL && st.err != ENOENT) {
    return MakeError("workspace: unmount", paths_.merged, st.err);
  }
  MYDOCKER_TRY(RemoveDir(sys, paths_.merged, "workspace: remove mount point"));
  MYDOCKER_TRY(RemoveTree(sys, paths_.upper, "workspace: remove write layer"));
  MYDOCKER_TRY(RemoveWorkDir(sys, paths_));
  MYDOCKER_TRY(RemoveInitLayer(sys, paths_));
  return Outcome::Ok();
}

}  // namespace mydocker
