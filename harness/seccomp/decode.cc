#include "harness/seccomp/decode.h"

#include <fcntl.h>
#include <linux/limits.h>

#include <cstring>
#include <string_view>
#include <unordered_map>

#include "harness/seccomp/paths.h"
#include "harness/seccomp/remote.h"

namespace faultline::seccomp {

int LiveProcessView::ReadString(uint64_t addr, size_t max, std::string* out) {
  return ReadRemoteString(pid_, addr, max, out);
}

int LiveProcessView::Read(uint64_t addr, void* buf, size_t len) {
  return ReadRemote(pid_, addr, buf, len);
}

std::string LiveProcessView::Link(const std::string& what) {
  if (roots_ != nullptr && what == "root") return roots_->Get(pid_);
  return ReadProcLink(pid_, what);
}

namespace {

constexpr int kNone = -1;
constexpr int kCwd = -2;  // a plain path argument: relative to the cwd

// Which argument is what, per syscall.
struct Spec {
  int path = kNone;     // index of the path argument
  int dirfd = kCwd;     // index of its dirfd, or kCwd
  int path2 = kNone;
  int dirfd2 = kCwd;
  int flags = kNone;    // index of the flags argument
  int fstype = kNone;   // index of a string naming a filesystem type
  enum Special { kNoSpecial, kClone3, kOpenat2, kSethostname, kFdPath,
                 kFsconfig, kRawPath2 } special = kNoSpecial;
};

const std::unordered_map<std::string_view, Spec>& Specs() {
  static const auto* specs = new std::unordered_map<std::string_view, Spec>{
      {"mount", {.path = 1, .path2 = 0, .flags = 3, .fstype = 2}},
      {"umount2", {.path = 0, .flags = 1}},
      {"pivot_root", {.path = 0, .path2 = 1}},
      {"chroot", {.path = 0}},
      {"chdir", {.path = 0}},
      {"mkdir", {.path = 0}},
      {"mkdirat", {.path = 1, .dirfd = 0}},
      {"rmdir", {.path = 0}},
      {"unlink", {.path = 0}},
      {"unlinkat", {.path = 1, .dirfd = 0, .flags = 2}},
      {"open", {.path = 0, .flags = 1}},
      {"creat", {.path = 0}},
      {"openat", {.path = 1, .dirfd = 0, .flags = 2}},
      {"openat2", {.path = 1, .dirfd = 0, .special = Spec::kOpenat2}},
      {"rename", {.path = 1, .path2 = 0}},
      {"renameat", {.path = 3, .dirfd = 2, .path2 = 1, .dirfd2 = 0}},
      {"renameat2",
       {.path = 3, .dirfd = 2, .path2 = 1, .dirfd2 = 0, .flags = 4}},
      {"link", {.path = 1, .path2 = 0}},
      {"linkat", {.path = 3, .dirfd = 2, .path2 = 1, .dirfd2 = 0, .flags = 4}},
      {"symlink", {.path = 1, .path2 = 0, .special = Spec::kRawPath2}},
      {"symlinkat", {.path = 2, .dirfd = 1, .path2 = 0,
                     .special = Spec::kRawPath2}},
      {"mknod", {.path = 0}},
      {"mknodat", {.path = 1, .dirfd = 0}},
      {"chmod", {.path = 0}},
      {"fchmodat", {.path = 1, .dirfd = 0}},
      {"chown", {.path = 0}},
      {"lchown", {.path = 0}},
      {"fchownat", {.path = 1, .dirfd = 0, .flags = 4}},
      {"truncate", {.path = 0}},
      {"execve", {.path = 0}},
      {"execveat", {.path = 1, .dirfd = 0, .flags = 4}},
      {"clone", {.flags = 0}},
      {"clone3", {.special = Spec::kClone3}},
      {"unshare", {.flags = 0}},
      {"setns", {.path = 0, .flags = 1, .special = Spec::kFdPath}},
      {"write", {.path = 0, .special = Spec::kFdPath}},
      {"pwrite64", {.path = 0, .special = Spec::kFdPath}},
      {"sethostname", {.special = Spec::kSethostname}},
      {"setdomainname", {.special = Spec::kSethostname}},
      {"fsopen", {.flags = 1, .fstype = 0}},
      {"fsconfig", {.flags = 1, .special = Spec::kFsconfig}},
      {"fsmount", {.flags = 1}},
      {"fspick", {.path = 1, .dirfd = 0, .flags = 2}},
      {"move_mount",
       {.path = 3, .dirfd = 2, .path2 = 1, .dirfd2 = 0, .flags = 4}},
      {"open_tree", {.path = 1, .dirfd = 0, .flags = 2}},
      {"mount_setattr", {.path = 1, .dirfd = 0, .flags = 2}},
      {"open_tree_attr", {.path = 1, .dirfd = 0, .flags = 2}},
      {"close_range", {.flags = 2}},
      {"pidfd_open", {.flags = 1}},
      {"keyctl", {.flags = 0}},
      {"seccomp", {.flags = 1}},
  };
  return *specs;
}

// Host path of what a dirfd argument stands for ("" when unknown).
std::string DirBase(ProcessView& proc, uint64_t dirfd_arg, int dirfd_index) {
  if (dirfd_index == kCwd) return proc.Link("cwd");
  int fd = static_cast<int>(dirfd_arg);
  if (fd == AT_FDCWD) return proc.Link("cwd");
  return proc.Link("fd/" + std::to_string(fd));
}

// Reads and resolves the path argument at index (with its dirfd).
void DecodePath(ProcessView& proc, const SyscallEvent& ev, int index,
                int dirfd_index, const std::string& root, std::string* seen,
                std::string* host) {
  std::string raw;
  if (ev.args[index] == 0 ||
      proc.ReadString(ev.args[index], PATH_MAX, &raw) != 0) {
    return;
  }
  if (raw[0] == '/') {  // the dirfd plays no part: spare the readlink
    ResolvedPath r = ResolvePath(raw, root, "");
    *seen = r.seen;
    *host = r.host;
    return;
  }
  uint64_t dirfd_arg = dirfd_index >= 0 ? ev.args[dirfd_index] : 0;
  std::string base = DirBase(proc, dirfd_arg, dirfd_index);
  if (raw.empty()) {
    // AT_EMPTY_PATH style: the call acts on the dirfd itself.
    *seen = StripRoot(base, root);
    *host = base;
    return;
  }
  ResolvedPath r = ResolvePath(raw, root, base);
  *seen = r.seen;
  *host = r.host;
}

}  // namespace

void DecodeEvent(ProcessView& proc, SyscallEvent* ev) {
  auto it = Specs().find(ev->name);
  if (it == Specs().end()) return;
  const Spec& s = it->second;
  if (s.flags != kNone) ev->flags = ev->args[s.flags];
  if (s.fstype != kNone && ev->args[s.fstype] != 0) {
    proc.ReadString(ev->args[s.fstype], 256, &ev->fstype);
  }
  std::string root;
  auto need_root = [&] {
    if (root.empty()) root = proc.Link("root");
    if (root.empty()) root = "/";
  };
  switch (s.special) {
    case Spec::kClone3: {
      uint64_t flags = 0;  // struct clone_args starts with u64 flags
      if (ev->args[0] != 0 && proc.Read(ev->args[0], &flags, sizeof(flags)) == 0) {
        ev->flags = flags;
      }
      return;
    }
    case Spec::kOpenat2: {
      uint64_t flags = 0;  // struct open_how starts with u64 flags
      if (ev->args[2] != 0 && proc.Read(ev->args[2], &flags, sizeof(flags)) == 0) {
        ev->flags = flags;
      }
      break;
    }
    case Spec::kSethostname: {
      size_t len = ev->args[1] > 256 ? 256 : static_cast<size_t>(ev->args[1]);
      std::string name(len, '\0');
      if (len > 0 && proc.Read(ev->args[0], name.data(), len) == 0) {
        ev->path = name;
      }
      return;
    }
    case Spec::kFdPath: {
      need_root();
      ev->host_path =
          proc.Link("fd/" + std::to_string(static_cast<int>(ev->args[0])));
      ev->path = ev->host_path.empty() || ev->host_path[0] != '/'
                     ? ev->host_path  // "pipe:[123]", "mnt:[4026...]"
                     : StripRoot(ev->host_path, root);
      return;
    }
    case Spec::kFsconfig: {
      // fsconfig(fd, cmd, key, value, aux): key, and the value when it is a
      // string (SET_STRING 1, SET_PATH 3, SET_PATH_EMPTY 4).
      if (ev->args[2] != 0) proc.ReadString(ev->args[2], 256, &ev->path);
      uint64_t cmd = ev->args[1];
      if ((cmd == 1 || cmd == 3 || cmd == 4) && ev->args[3] != 0) {
        proc.ReadString(ev->args[3], PATH_MAX, &ev->path2);
      }
      return;
    }
    default:
      break;
  }
  if (s.path != kNone) {
    need_root();
    DecodePath(proc, *ev, s.path, s.dirfd, root, &ev->path, &ev->host_path);
  }
  if (s.path2 != kNone) {
    need_root();
    if (s.special == Spec::kRawPath2) {
      // A symlink's target is content, not a path the call touches.
      if (ev->args[s.path2] != 0) {
        proc.ReadString(ev->args[s.path2], PATH_MAX, &ev->path2);
      }
      return;
    }
    if (ev->name == "mount") {
      // A mount source is often not a path at all ("none", "proc"): keep it
      // as passed, resolve it only for host_path2.
      std::string raw;
      if (ev->args[0] != 0 &&
          proc.ReadString(ev->args[0], PATH_MAX, &raw) == 0) {
        ev->path2 = raw;
        ev->host_path2 = ResolvePath(raw, root, proc.Link("cwd")).host;
      }
      return;
    }
    DecodePath(proc, *ev, s.path2, s.dirfd2, root, &ev->path2,
               &ev->host_path2);
  }
}

}  // namespace faultline::seccomp
