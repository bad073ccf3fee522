// FakeKernel overlay: the merged view (upper over lowers), copy-up of files
// and parent dirs, whiteouts, opaque dirs, overlay superblocks.
#include "fakekernel/state.h"

namespace faultline {

std::vector<uint32_t> FakeKernel::State::OvlDirs(
    int sb, std::string_view rel, bool lowers_only) {
  const Super& s = sbs[sb];
  std::vector<uint32_t> dirs;
  if (s.upper && !lowers_only) dirs.push_back(s.upper);
  for (uint32_t l : s.lowers) dirs.push_back(l);
  for (std::string_view comp : SplitPath(rel)) {
    std::vector<uint32_t> next;
    for (uint32_t d : dirs) {
      const Inode& di = inodes[d];
      auto it = di.children.find(comp);
      if (it == di.children.end()) continue;
      const Inode& c = inodes[it->second];
      if (IsWhiteout(c)) break;
      if (!S_ISDIR(c.mode)) {
        if (next.empty()) return {};  // the merged entry is not a dir
        break;
      }
      next.push_back(it->second);
      if (c.opaque) break;
    }
    dirs.swap(next);
    if (dirs.empty()) return {};
  }
  return dirs;
}

uint32_t FakeKernel::State::OvlTop(int sb, std::string_view rel) {
  if (rel.empty()) {
    const Super& s = sbs[sb];
    return s.upper ? s.upper : (s.lowers.empty() ? 0 : s.lowers[0]);
  }
  std::string r(rel);
  auto dirs = OvlDirs(sb, Dirname(r));
  std::string name = Basename(r);
  for (uint32_t d : dirs) {
    auto it = inodes[d].children.find(name);
    if (it == inodes[d].children.end()) continue;
    if (IsWhiteout(inodes[it->second])) return 0;
    return it->second;
  }
  return 0;
}

int FakeKernel::State::CopyUpDir(int sb, const std::string& rel,
                                 uint32_t* out) {
  const Super& s = sbs[sb];
  if (!s.upper) return EROFS;
  uint32_t cur_dir = s.upper;
  std::string prefix;
  for (std::string_view comp : SplitPath(rel)) {
    prefix = JoinRel(prefix, comp);
    auto it = inodes[cur_dir].children.find(comp);
    if (it != inodes[cur_dir].children.end() &&
        S_ISDIR(inodes[it->second].mode)) {
      cur_dir = it->second;
      continue;
    }
    uint32_t src = OvlTop(sb, prefix);
    if (!src) return ENOENT;
    Inode proto = inodes[src];
    if (it != inodes[cur_dir].children.end()) RemoveEntry(cur_dir, comp);
    uint32_t d = AddChild(cur_dir, comp, proto.mode);
    inodes[d].uid = proto.uid;
    inodes[d].gid = proto.gid;
    cur_dir = d;
  }
  *out = cur_dir;
  return 0;
}

int FakeKernel::State::CopyUp(const Node& n, uint32_t* out) {
  int sb = mounts[n.mnt].sb;
  if (S_ISDIR(inodes[n.ino].mode)) return CopyUpDir(sb, n.rel, out);
  uint32_t pdir = 0;
  if (int e = CopyUpDir(sb, Dirname(n.rel), &pdir)) return e;
  std::string name = Basename(n.rel);
  auto it = inodes[pdir].children.find(name);
  if (it != inodes[pdir].children.end() && it->second == n.ino) {
    *out = n.ino;
    return 0;
  }
  Inode proto = inodes[n.ino];
  uint32_t c = AddChild(pdir, name, proto.mode);
  Inode& ci = inodes[c];
  ci.uid = proto.uid;
  ci.gid = proto.gid;
  ci.rdev = proto.rdev;
  ci.data = proto.data;
  *out = c;
  return 0;
}

bool FakeKernel::State::PrepareCreate(uint32_t dir, std::string_view name) {
  auto it = inodes[dir].children.find(name);
  if (it != inodes[dir].children.end() && IsWhiteout(inodes[it->second])) {
    DirtyDir(dir);
    inodes[dir].children.erase(it);
    return true;
  }
  return false;
}

void FakeKernel::State::RemoveEntry(uint32_t dir, std::string_view name) {
  auto it = inodes[dir].children.find(name);
  if (it == inodes[dir].children.end()) return;
  uint32_t c = it->second;
  DirtyDir(dir);
  inodes[dir].children.erase(it);
  Inode& ci = inodes[c];
  if (S_ISDIR(ci.mode)) {
    std::vector<std::string> names;
    for (auto& [n, _] : ci.children) names.push_back(n);
    for (auto& n : names) RemoveEntry(c, n);
    ci.nlink = 0;
  } else if (ci.nlink > 0) {
    --ci.nlink;
  }
}

void FakeKernel::State::Whiteout(int sb, const std::string& parent_rel,
                                 uint32_t upper_dir, const std::string& name) {
  bool in_lower = false;
  for (uint32_t d : OvlDirs(sb, parent_rel, /*lowers_only=*/true)) {
    auto it = inodes[d].children.find(name);
    if (it == inodes[d].children.end()) continue;
    in_lower = !IsWhiteout(inodes[it->second]);
    break;
  }
  if (in_lower) AddChild(upper_dir, name, S_IFCHR | 0);
}

int FakeKernel::State::MakeOverlaySb(const std::vector<Node>& lowers,
                                     const Node* upper, const Node* work,
                                     const std::string& opts, int* sb_out) {
  if (lowers.empty()) return EINVAL;
  if (!upper != !work) return EINVAL;
  // "at least 2 lowerdir are needed while upperdir nonexistent"
  if (!upper && lowers.size() < 2) return EINVAL;
  for (const Node& l : lowers)
    if (KindOf(l.mnt) != FsKind::kDisk) return EINVAL;
  if (upper) {
    if (KindOf(upper->mnt) != FsKind::kDisk) return EINVAL;
    if (upper->mnt != work->mnt) return EINVAL;  // must share a mount
    if (Same(*upper, *work) || Reachable(*work, *upper) ||
        Reachable(*upper, *work))
      return EINVAL;
    if (int w = CheckWritable(*upper)) return w;
  }
  int sb = NewSuper(FsKind::kOverlay, "overlay", "overlay", kOverlayMagic);
  Super& s = sbs[sb];
  for (const Node& l : lowers) s.lowers.push_back(l.ino);
  if (upper) {
    s.upper = upper->ino;
    s.work = work->ino;
    if (!inodes[s.work].children.count("work")) AddChild(s.work, "work", S_IFDIR);
  }
  sbs[sb].opts = opts;
  *sb_out = sb;
  return 0;
}

int FakeKernel::State::OverlayLayer(const std::string& path, Node* out) {
  if (path.empty()) return EINVAL;
  if (int r = Walk(path, true, out)) return r;
  if (!IsDir(*out)) return ENOTDIR;
  return 0;
}

// ---- overlay's FsOps hooks ----
struct FakeKernel::State::OverlayFs {
  static int Lookup(State& s, const Node& dir, std::string_view name,
                    Node* out) {
    std::string rel = JoinRel(dir.rel, name);
    uint32_t top = s.OvlTop(s.mounts[dir.mnt].sb, rel);
    if (!top) return ENOENT;
    *out = Node{dir.mnt, top, std::move(rel)};
    return 0;
  }

  static Node Parent(State& s, const Node& n) {
    std::string r = Dirname(n.rel);
    return Node{n.mnt, s.OvlTop(s.mounts[n.mnt].sb, r), r};
  }

  // The merged listing: the top layer that has a name wins; whiteouts hide.
  static std::vector<DirEntry> List(State& s, const Node& dir) {
    std::vector<DirEntry> out;
    std::map<std::string, uint8_t> seen;  // 0xff: whiteout
    for (uint32_t d : s.OvlDirs(s.mounts[dir.mnt].sb, dir.rel))
      for (auto& [name, c] : s.inodes[d].children)
        if (!seen.count(name))
          seen[name] = IsWhiteout(s.inodes[c]) ? 0xff : DtOf(s.inodes[c].mode);
    for (auto& [name, t] : seen)
      if (t != 0xff) out.push_back(DirEntry{name, t});
    return out;
  }

  static void Refresh(State& s, Node* n) {
    n->ino = s.OvlTop(s.mounts[n->mnt].sb, n->rel);
  }

  // Empty when the merged listing is: a whiteout in a higher layer hides a
  // lower entry (rmdir of a lower dir whose files were all removed works).
  static bool DirEmpty(State& s, const Node& dir) { return List(s, dir).empty(); }

  static int DirForWrite(State& s, const Node& dir, uint32_t* out) {
    return s.CopyUpDir(s.mounts[dir.mnt].sb, dir.rel, out);
  }

  static int Writable(State& s, const Node& n, uint32_t* ino) {
    return s.CopyUp(n, ino);
  }

  static void Removed(State& s, const Node& dir, uint32_t pdir,
                  const std::string& name) {
    s.Whiteout(s.mounts[dir.mnt].sb, dir.rel, pdir, name);
  }

  // Without redirect_dir a dir that exists in a lower layer cannot move.
  static int RenameCheck(State& s, const Node& n, bool is_dir) {
    if (is_dir && !s.OvlDirs(s.mounts[n.mnt].sb, n.rel, true).empty())
      return EXDEV;
    return 0;
  }
};

const FakeKernel::State::FsOps FakeKernel::State::kOverlayOps = {
    .by_rel = true,
    .lookup = OverlayFs::Lookup,
    .parent = OverlayFs::Parent,
    .type = InodeFs::Type,  // of the top layer's inode
    .link_target = InodeFs::LinkTarget,
    .stat = InodeFs::Stat,
    .list = OverlayFs::List,
    .refresh = OverlayFs::Refresh,
    .dir_empty = OverlayFs::DirEmpty,
    .dir_for_write = OverlayFs::DirForWrite,
    .writable = OverlayFs::Writable,
    .removed = OverlayFs::Removed,
    .rename_check = OverlayFs::RenameCheck,
    .create_err = 0,
    .rmdir_err = 0,
    .unlink_err = 0,
    .attr_err = 0,
    .jump = nullptr,
    .create = nullptr,
    .rmdir = nullptr,
    .open = nullptr,
};

}  // namespace faultline
