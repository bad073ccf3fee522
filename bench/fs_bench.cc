// What a layer costs on the filesystem and layer store a user picks: the
// layers and the write layer on tmpfs, ext4, xfs or btrfs (each but tmpfs a
// loop-mounted image made with Debian's mkfs tools, in the benchmark's
// private mount namespace, under its scratch dir), stored as plain
// directories under overlayfs, under fuse-overlayfs, or as an erofs image
// (mkfs.erofs) with overlayfs on top, as composefs does.
//
// Benchmarks (manual time = setup + teardown; counters in microseconds per
// iteration):
//   Fs/<fs>/<store>/layers:N/cache:<warm|cold>
//     fs     tmpfs | ext4 | xfs | btrfs: where the layers, the workspace dir
//            (init, upper, work) and the erofs image live
//     store  overlay: mydocker::Workspace (overlayfs, the api it picks)
//            fuse-overlayfs: `fuse-overlayfs -f` spawned by the bench (its
//              pid, waited for after the unmount), setup = spawn until the
//              mount is there (statfs magic), teardown = umount2 + exit +
//              removing upper and work
//            erofs: each of the N layers as its own erofs image on fs
//              (mkfs.erofs), mounted read-only once before the row (untimed,
//              as containerd's erofs snapshotter mounts a layer at unpack),
//              the workspace's N image layers
//            erofs-flat: the N layers flattened into one erofs image (cp -a
//              bottom first, then mkfs.erofs), mounted once: the
//              workspace's only image layer, as composefs does
//            erofs images are mounted from the file (erofs file-backed
//              mounts, Linux 6.12+), else through a loop device
//     N      image layers: 1, 64 and 499 (smoke: 1)
//     cache  warm: as the previous iteration left it; cold: sync and
//            drop_caches (3) before every iteration, untimed (tmpfs keeps
//            its pages: it has no backing store to drop them to)
//   counters: setup_us, lookup_us (first lstat of the bottom layer's only
//   file on the fresh mount), readdir_us (listing the merged root and the
//   merged d/, whose N entries come one from each layer: checked exactly),
//   teardown_us, cold (0/1)
//   Fs/<fs>/copy/layers:N/cache:<warm|cold>  (ext4, xfs, btrfs)
//     the copy baseline: the N layers copied into one tree (cp -a, bottom
//     first), probed like the merged tree, removed + syncfs; paired in each
//     iteration with the overlay cycle: overlay_us, x_overlay = copy/overlay
//   Fs/<fs>/overlay/written:F/cache:warm
//     teardown (Destroy) after the container wrote F files of 4 KiB (0, 100,
//     1000; smoke 10), paired with one after none: teardown0_us,
//     teardown_us, per_file_us
//
// Loop devices: attached with LOOP_CONFIGURE (autoclear) from
// /dev/loop-control, each detached by the device the bench got
// (LOOP_CLR_FD) after its unmount, and the exit checks that none of the
// bench's backing files is still attached; a device the bench's
// LOOP_CTL_GET_FREE added (erofs layers on tmpfs: one each) is removed
// (LOOP_CTL_REMOVE), so /sys/block is as before.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <linux/magic.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_util.h"
#include "runtime/sys/fs_util.h"
#include "runtime/sys/linux_sys.h"
#include "runtime/workspace/workspace.h"

extern char** environ;

namespace fb = faultline::bench;
using mydocker::Expected;
using mydocker::MakeError;
using mydocker::MountApi;
using mydocker::Outcome;

namespace {

#ifndef FUSE_SUPER_MAGIC
#define FUSE_SUPER_MAGIC 0x65735546
#endif

// The layer counts of the rows (the layers made on each fs: the largest).
std::vector<int> LayerCounts() {
  return fb::Smoke() ? std::vector<int>{1} : std::vector<int>{1, 64, 499};
}

struct Loop {
  std::string dev, backing;
  int fd = -1;
};

struct FsInfo {
  std::string name, root;  // root: where the fs is mounted
  std::vector<std::string> layers;
  std::vector<std::string> erofs_layers;  // layer i as an erofs image, mounted ro
  std::map<int, std::string> erofs_flat;   // N -> the N layers flattened, mounted ro
  bool erofs_from_file = true;  // false: this fs's images need loop devices (tmpfs)
  bool mounted = false;
};

struct Globals {
  std::optional<fb::Scratch> scratch;
  std::map<std::string, FsInfo> fs;
  std::vector<Loop> loops;
  // To unmount at exit, in reverse; each with the loop device under it
  // (index into loops, -1: none), detached right after its unmount (a
  // loop's backing file keeps the filesystem holding it busy).
  std::vector<std::pair<std::string, int>> mounts;
  std::string fuse_overlayfs, mkfs_erofs;
  std::set<std::string> loops_before;  // the loop devices the host had
  std::map<std::string, std::string> missing;  // fs or store -> why not measured
} g;

// ---- loop devices ---------------------------------------------------------

Expected<Loop> AttachLoop(const std::string& file, bool read_only) {
  int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
  if (ctl < 0) return MakeError("loop: open", "/dev/loop-control", errno);
  int backing = open(file.c_str(), (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
  if (backing < 0) {
    int err = errno;
    close(ctl);
    return MakeError("loop: open backing file", file, err);
  }
  Outcome last = MakeError("loop: attach", file, EBUSY);
  for (int attempt = 0; attempt < 16; ++attempt) {
    int n = ioctl(ctl, LOOP_CTL_GET_FREE);
    if (n < 0) {
      last = MakeError("loop: LOOP_CTL_GET_FREE", "/dev/loop-control", errno);
      break;
    }
    const std::string dev = "/dev/loop" + std::to_string(n);
    int fd = open(dev.c_str(), (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (fd < 0) {
      last = MakeError("loop: open", dev, errno);
      break;
    }
    loop_config cfg{};
    cfg.fd = static_cast<uint32_t>(backing);
    cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR | (read_only ? LO_FLAGS_READ_ONLY : 0);
    if (ioctl(fd, LOOP_CONFIGURE, &cfg) == 0) {
      close(backing);
      close(ctl);
      Loop l{dev, file, fd};
      g.loops.push_back(l);
      return l;
    }
    int err = errno;
    close(fd);
    last = MakeError("loop: LOOP_CONFIGURE", dev, err);
    if (err != EBUSY) break;  // another attach took it first: try the next
  }
  close(backing);
  close(ctl);
  return last.error();
}

// The backing file of /dev/loopN, "" when it is detached.
std::string LoopBacking(const std::string& dev) {
  const std::string name = dev.substr(dev.rfind('/') + 1);
  std::ifstream f("/sys/block/" + name + "/loop/backing_file");
  std::string s;
  std::getline(f, s);
  return s;
}

Outcome DetachLoop(Loop& l) {
  if (l.fd < 0) return Outcome::Ok();
  Outcome o;
  if (ioctl(l.fd, LOOP_CLR_FD) != 0 && errno != ENXIO) o = MakeError("loop: LOOP_CLR_FD", l.dev, errno);
  close(l.fd);
  l.fd = -1;
  return o;
}

// The loop devices the host has now (/sys/block/loopN).
std::set<std::string> LoopDevices() {
  std::set<std::string> out;
  auto names = fb::DirNames("/sys/block");
  if (!names) return out;
  for (const auto& n : *names) {
    if (n.rfind("loop", 0) == 0) out.insert("/dev/" + n);
  }
  return out;
}

Outcome DetachLoops() {
  Outcome first;
  for (auto it = g.loops.rbegin(); it != g.loops.rend(); ++it) {
    if (Outcome o = DetachLoop(*it); !o && first) first = o;
  }
  // Host check: none of our backing files is attached any more (the
  // release is asynchronous: wait up to 2 s).
  for (const Loop& l : g.loops) {
    std::string b;
    for (int i = 0; i < 200; ++i) {
      b = LoopBacking(l.dev);
      if (b.empty() || b.rfind(l.backing, 0) != 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (!b.empty() && b.rfind(l.backing, 0) == 0 && first)
      first = MakeError("host check: loop device still attached", l.dev, EBUSY, b);
  }
  // LOOP_CTL_GET_FREE adds a device when none is free: remove the ones this
  // bench added (more than the host's 8 with many erofs layers on tmpfs).
  int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
  std::set<std::string> ours;
  for (const Loop& l : g.loops) ours.insert(l.dev);
  for (const std::string& dev : ours) {
    if (g.loops_before.count(dev) || ctl < 0) continue;
    const int n = std::stoi(dev.substr(strlen("/dev/loop")));
    if (ioctl(ctl, LOOP_CTL_REMOVE, n) != 0 && errno != ENODEV && first)
      first = MakeError("loop: LOOP_CTL_REMOVE", dev, errno);
  }
  if (ctl >= 0) close(ctl);
  return first;
}

// ---- filesystems ------------------------------------------------------------

Outcome Run(const std::vector<std::string>& argv) {
  auto st = fb::SpawnAndWait(argv);
  if (!st) return st.error();
  if (!WIFEXITED(*st) || WEXITSTATUS(*st) != 0)
    return MakeError("bench: run " + argv[0], argv.back(), EIO,
                     "exit status " + std::to_string(*st));
  return Outcome::Ok();
}

// Mounts the loop device g.loops[loop] at dir.
Outcome MountDev(int loop, const std::string& dir, const std::string& type,
                 unsigned long flags) {
  const std::string& dev = g.loops[loop].dev;
  MYDOCKER_TRY(fb::MakeDir(dir, 0755));
  if (mount(dev.c_str(), dir.c_str(), type.c_str(), flags, nullptr) != 0)
    return MakeError("bench: mount " + type, dir, errno, dev);
  g.mounts.push_back({dir, loop});
  return Outcome::Ok();
}

// A loop-mounted filesystem of `type` (mkfs tool, image size in MiB).
Outcome MakeLoopFs(const std::string& type, const std::vector<std::string>& mkfs, int mib,
                   const std::string& root) {
  const std::string img = g.scratch->Sub(type + ".img");
  int fd = open(img.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return MakeError("bench: create image", img, errno);
  int rc = ftruncate(fd, off_t(mib) << 20);
  int err = errno;
  close(fd);
  if (rc != 0) return MakeError("bench: size image", img, err);
  std::vector<std::string> argv = mkfs;
  argv.push_back(img);
  MYDOCKER_TRY(Run(argv));
  auto loop = AttachLoop(img, false);
  if (!loop) return loop.error();
  return MountDev(int(g.loops.size()) - 1, root, type, 0);
}

Outcome SetupFs(const std::string& name) {
  FsInfo f;
  f.name = name;
  f.root = g.scratch->Sub("fs-" + name);
  if (name == "tmpfs") {
    MYDOCKER_TRY(fb::MountTmpfs(f.root));
    g.mounts.push_back({f.root, -1});
  } else {
    static const std::map<std::string, std::pair<std::vector<std::string>, int>> kMkfs = {
        {"ext4", {{"mkfs.ext4", "-q", "-F"}, 128}},
        {"xfs", {{"mkfs.xfs", "-q", "-f"}, 320}},
        {"btrfs", {{"mkfs.btrfs", "-q", "-f"}, 160}},
    };
    auto [argv, mib] = kMkfs.at(name);
    const std::string tool = fb::FindInPath(argv[0]);
    if (tool.empty()) {
      g.missing[name] = argv[0] + " not installed (ci/install-deps)";
      return Outcome::Ok();
    }
    argv[0] = tool;
    MYDOCKER_TRY(MakeLoopFs(name, argv, mib, f.root));
  }
  f.mounted = true;
  MYDOCKER_TRY(fb::MakeDir(f.root + "/ws", 0755));
  MYDOCKER_TRY(fb::MakeDir(f.root + "/fuse", 0755));
  MYDOCKER_TRY(fb::MakeDir(f.root + "/copy", 0755));
  MYDOCKER_TRY(fb::MakeDir(f.root + "/erofs", 0755));
  MYDOCKER_TRY(fb::MakeLayers(f.root + "/L", LayerCounts().back(), &f.layers));
  g.fs[name] = std::move(f);
  return Outcome::Ok();
}

// ---- erofs images, made and mounted once, before the rows that use them ---

// Makes an erofs image of dir at img and mounts it read-only at mnt: from the
// file where the kernel mounts erofs from a regular file (6.12+; older ones
// say ENOTBLK), else through a loop device.
// tmpfs files have no read_folio, so an image on tmpfs always needs a loop.
Outcome MakeErofs(FsInfo& f, const std::string& dir, const std::string& img,
                  const std::string& mnt) {
  MYDOCKER_TRY(Run({g.mkfs_erofs, "-d0", img, dir}));
  if (f.erofs_from_file) {
    MYDOCKER_TRY(fb::MakeDir(mnt, 0755));
    if (mount(img.c_str(), mnt.c_str(), "erofs", MS_RDONLY, nullptr) == 0) {
      g.mounts.push_back({mnt, -1});
      return Outcome::Ok();
    }
    if (errno != ENOTBLK) return MakeError("bench: mount erofs", mnt, errno, img);
    if (rmdir(mnt.c_str()) != 0) return MakeError("bench: rmdir", mnt, errno);
    f.erofs_from_file = false;
  }
  auto loop = AttachLoop(img, true);
  if (!loop) return loop.error();
  return MountDev(int(g.loops.size()) - 1, mnt, "erofs", MS_RDONLY);
}

// The first n layers of f, each as its own erofs mount (made once).
Expected<std::vector<std::string>> ErofsLayers(FsInfo& f, int n) {
  for (int i = int(f.erofs_layers.size()); i < n; ++i) {
    const std::string base = f.root + "/erofs/" + std::to_string(i);
    MYDOCKER_TRY(MakeErofs(f, f.layers[i], base + ".img", base));
    f.erofs_layers.push_back(base);
  }
  return std::vector<std::string>(f.erofs_layers.begin(), f.erofs_layers.begin() + n);
}

Outcome CopyInto(const std::string& src, const std::string& dst,
                 std::map<ino_t, std::string>& links);

// The first n layers of f flattened (bottom first, upper files replacing
// lower ones) into one erofs image, mounted (made once per n).
Expected<std::vector<std::string>> ErofsFlat(FsInfo& f, int n) {
  if (!f.erofs_flat.count(n)) {
    const std::string base = f.root + "/erofs/flat-" + std::to_string(n);
    std::map<ino_t, std::string> links;
    for (int i = n - 1; i >= 0; --i) MYDOCKER_TRY(CopyInto(f.layers[i], base + ".tree", links));
    MYDOCKER_TRY(MakeErofs(f, base + ".tree", base + ".img", base));
    f.erofs_flat[n] = base;
  }
  return std::vector<std::string>{f.erofs_flat[n]};
}

// ---- one cycle per store ----------------------------------------------------

struct Times {
  int64_t setup = 0, lookup = 0, readdir = 0, teardown = 0;
  Times& operator+=(const Times& t) {
    setup += t.setup;
    lookup += t.lookup;
    readdir += t.readdir;
    teardown += t.teardown;
    return *this;
  }
};

// The mean of each phase over the iterations, in us, with the row's keys.
void SetPhaseCounters(benchmark::State& state, const Times& sum, int n, bool cold) {
  const double it_n = double(std::max<int64_t>(state.iterations(), 1));
  state.counters["layers"] = n;
  state.counters["cold"] = cold;
  state.counters["setup_us"] = sum.setup / it_n / 1e3;
  state.counters["lookup_us"] = sum.lookup / it_n / 1e3;
  state.counters["readdir_us"] = sum.readdir / it_n / 1e3;
  state.counters["teardown_us"] = sum.teardown / it_n / 1e3;
}

// Lists dir; the number of entries other than . and ..
Expected<int> CountEntries(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return MakeError("bench: opendir", dir, errno);
  int n = 0;
  while (dirent* e = readdir(d)) {
    std::string s = e->d_name;
    n += s != "." && s != "..";
  }
  closedir(d);
  return n;
}

// Lookup and readdir of the merged tree; d/ has exactly n entries.
Outcome Probe(const std::string& merged, int n, Times* t) {
  struct stat st;
  const std::string bottom = merged + "/only-" + std::to_string(n - 1);
  int64_t t0 = fb::NowNs();
  if (lstat(bottom.c_str(), &st) != 0) return MakeError("bench: first lookup", bottom, errno);
  int64_t t1 = fb::NowNs();
  auto root = CountEntries(merged);
  if (!root) return root.error();
  auto d = CountEntries(merged + "/d");
  if (!d) return d.error();
  int64_t t2 = fb::NowNs();
  if (*d != n)
    return MakeError("bench: merged d/", merged + "/d", EIO,
                     std::to_string(*d) + " entries, want " + std::to_string(n));
  t->lookup = t1 - t0;
  t->readdir = t2 - t1;
  return Outcome::Ok();
}

// The workspace over `layers` (top first), holding the n layers' files.
Expected<Times> OverlayCycle(mydocker::Sys& sys, const FsInfo& f, int n,
                             const std::vector<std::string>& layers) {
  mydocker::WorkspaceSpec spec;
  spec.dir = f.root + "/ws";
  spec.layers = layers;
  spec.hostname = "bench";
  spec.resolv_conf = "nameserver 127.0.0.1\n";
  Times t;
  int64_t t0 = fb::NowNs();
  auto ws = mydocker::Workspace::Create(sys, spec);
  t.setup = fb::NowNs() - t0;
  if (!ws) return ws.error();
  Outcome p = Probe(ws->paths().merged, n, &t);
  int64_t t1 = fb::NowNs();
  Outcome d = ws->Destroy();
  t.teardown = fb::NowNs() - t1;
  if (!p) return p.error();
  if (!d) return d.error();
  return t;
}

// fuse-overlayfs -f: spawned here, so only its pid is waited for.
Expected<Times> FuseCycle(mydocker::Sys& sys, const FsInfo& f, int n) {
  const std::string dir = f.root + "/fuse", upper = dir + "/upper", work = dir + "/work",
                    merged = dir + "/merged";
  std::string lower;
  for (int i = 0; i < n; ++i) lower += (i ? ":" : "") + f.layers[i];
  const std::vector<std::string> args = {
      g.fuse_overlayfs, "-f", "-o",
      "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work, merged};
  Times t;
  int64_t t0 = fb::NowNs();
  for (const auto& d : {upper, work, merged}) MYDOCKER_TRY(fb::MakeDir(d, 0755));
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return MakeError("bench: spawn fuse-overlayfs", merged, rc);
  // Mounted when merged's filesystem is fuse (5 s at most).
  bool up = false;
  for (int i = 0; i < 50000 && !up; ++i) {
    struct statfs sf;
    if (statfs(merged.c_str(), &sf) == 0 && sf.f_type == FUSE_SUPER_MAGIC) {
      up = true;
      break;
    }
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      return MakeError("bench: fuse-overlayfs exited before mounting", merged, EIO,
                       "status " + std::to_string(status));
    }
    usleep(100);
  }
  t.setup = fb::NowNs() - t0;
  Outcome p = up ? Probe(merged, n, &t)
                 : Outcome(MakeError("bench: fuse-overlayfs did not mount", merged, ETIMEDOUT));
  int64_t t1 = fb::NowNs();
  Outcome d;
  if (up && umount2(merged.c_str(), 0) != 0) d = MakeError("bench: umount2", merged, errno);
  if (!up) kill(pid, SIGTERM);  // ours: spawned above
  int status = 0;
  if (waitpid(pid, &status, 0) != pid && d) d = MakeError("bench: waitpid", merged, errno);
  for (const auto& dd : {merged, upper, work}) {
    if (Outcome o = mydocker::RemoveTree(sys, dd, "bench: remove"); !o && d) d = o;
  }
  t.teardown = fb::NowNs() - t1;
  if (!p) return p.error();
  if (!d) return d.error();
  return t;
}

// The copy baseline: the image's layers copied into one tree, bottom layer
// first, each upper layer's files replacing the lower's (cp -a per file,
// hardlinks kept), the way a runtime without overlayfs unpacks an image.
Outcome CopyInto(const std::string& src, const std::string& dst,
                 std::map<ino_t, std::string>& links) {
  struct stat st;
  if (lstat(src.c_str(), &st) != 0) return MakeError("copy: lstat", src, errno);
  if (!S_ISDIR(st.st_mode)) {
    if (unlink(dst.c_str()) != 0 && errno != ENOENT) return MakeError("copy: unlink", dst, errno);
    return fb::CopyTree(src, dst, links);
  }
  if (mkdir(dst.c_str(), st.st_mode & 07777) != 0 && errno != EEXIST)
    return MakeError("copy: mkdir", dst, errno);
  auto names = fb::DirNames(src);
  if (!names) return names.error();
  for (const auto& n : *names) MYDOCKER_TRY(CopyInto(src + "/" + n, dst + "/" + n, links));
  return Outcome::Ok();
}

Outcome SyncFs(const std::string& dir) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return MakeError("bench: open", dir, errno);
  int rc = syncfs(fd);
  int err = errno;
  close(fd);
  if (rc != 0) return MakeError("bench: syncfs", dir, err);
  return Outcome::Ok();
}

// setup = copying layers n-1 .. 0 into <fs>/copy/rootfs; teardown = removing
// it (RemoveTree) and syncfs of the fs, as overlayfs's unmount syncs the
// upper fs: both leave the data on disk.
Expected<Times> CopyCycle(mydocker::Sys& sys, const FsInfo& f, int n) {
  const std::string dst = f.root + "/copy/rootfs";
  Times t;
  std::map<ino_t, std::string> links;
  int64_t t0 = fb::NowNs();
  Outcome c;
  for (int i = n - 1; i >= 0 && c; --i) c = CopyInto(f.layers[i], dst, links);
  t.setup = fb::NowNs() - t0;
  Outcome p = c ? Probe(dst, n, &t) : c;
  int64_t t1 = fb::NowNs();
  Outcome d = mydocker::RemoveTree(sys, dst, "bench: remove copy");
  if (d) d = SyncFs(f.root);
  t.teardown = fb::NowNs() - t1;
  if (!p) return p.error();
  if (!d) return d.error();
  struct stat st;
  if (lstat(dst.c_str(), &st) == 0) return MakeError("bench: copy still there", dst, EEXIST);
  return t;
}

// The workspace over one layer; the container wrote `files` files of 4 KiB
// into merged/w/ (untimed; checked to be in upper); t.teardown = Destroy
// (overlayfs's unmount syncs the upper fs, then the upper's files go).
Expected<Times> WrittenCycle(mydocker::Sys& sys, const FsInfo& f, int files) {
  mydocker::WorkspaceSpec spec;
  spec.dir = f.root + "/ws";
  spec.layers = {f.layers[0]};
  spec.hostname = "bench";
  spec.resolv_conf = "nameserver 127.0.0.1\n";
  auto ws = mydocker::Workspace::Create(sys, spec);
  if (!ws) return ws.error();
  const std::string w = ws->paths().merged + "/w";
  Outcome o = fb::MakeDir(w, 0755);
  const std::string data(4096, 'w');
  for (int i = 0; i < files && o; ++i) o = fb::WriteNewFile(w + "/f" + std::to_string(i), data);
  if (o) {
    auto in_upper = CountEntries(ws->paths().upper + "/w");
    if (!in_upper) o = in_upper.error();
    else if (*in_upper != files)
      o = MakeError("bench: written files in upper", ws->paths().upper + "/w", EIO,
                    std::to_string(*in_upper) + " files, want " + std::to_string(files));
  }
  Times t;
  int64_t t0 = fb::NowNs();
  Outcome d = ws->Destroy();
  t.teardown = fb::NowNs() - t0;
  if (!o) return o.error();
  if (!d) return d.error();
  return t;
}

Outcome DropCaches() {
  sync();
  int fd = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return MakeError("bench: open", "/proc/sys/vm/drop_caches", errno);
  ssize_t n = write(fd, "3", 1);
  int err = errno;
  close(fd);
  if (n != 1) return MakeError("bench: drop caches", "/proc/sys/vm/drop_caches", err);
  return Outcome::Ok();
}

// Checks fs and store are measured here; false (and the row skipped) if not.
bool Measured(benchmark::State& state, const std::string& fs, const std::string& store) {
  for (const std::string& k : {fs, store}) {
    if (g.missing.count(k)) {
      state.SkipWithError(("not measured: " + g.missing[k]).c_str());
      return false;
    }
  }
  return true;
}

void BM_Fs(benchmark::State& state, std::string fs, std::string store, int n, bool cold) {
  const std::string what = "Fs/" + fs + "/" + store;
  if (!Measured(state, fs, store == "erofs-flat" ? "erofs" : store)) return;
  FsInfo& f = g.fs.at(fs);
  // The image layers the workspace gets (erofs: made and mounted here, once).
  Expected<std::vector<std::string>> layers =
      store == "erofs"        ? ErofsLayers(f, n)
      : store == "erofs-flat" ? ErofsFlat(f, n)
                              : std::vector<std::string>(f.layers.begin(), f.layers.begin() + n);
  if (!layers) {
    fb::RecordFailure(state, what, layers.error().Message());
    return;
  }
  mydocker::LinuxSys sys;
  Times sum;
  for (auto _ : state) {
    if (cold) {
      state.PauseTiming();
      Outcome o = DropCaches();
      state.ResumeTiming();
      if (!o) {
        fb::RecordFailure(state, what, o.error().Message());
        break;
      }
    }
    Expected<Times> t =
        store == "fuse-overlayfs" ? FuseCycle(sys, f, n) : OverlayCycle(sys, f, n, *layers);
    if (!t) {
      fb::RecordFailure(state, what, t.error().Message());
      break;
    }
    sum += *t;
    state.SetIterationTime((t->setup + t->teardown) / 1e9);
  }
  SetPhaseCounters(state, sum, n, cold);
  if (store.rfind("erofs", 0) == 0) state.counters["erofs_from_file"] = f.erofs_from_file;
}

// Copy vs overlay, paired: each iteration runs the overlay cycle, then the
// copy cycle, on the same fs and layers (cold: caches dropped before each).
void BM_Copy(benchmark::State& state, std::string fs, int n, bool cold) {
  const std::string what = "Fs/" + fs + "/copy";
  if (!Measured(state, fs, "copy")) return;
  const FsInfo& f = g.fs.at(fs);
  mydocker::LinuxSys sys;
  Times sum;
  int64_t overlay = 0;
  for (auto _ : state) {
    Expected<Times> ov = MakeError("bench: overlay cycle", fs, EIO);
    Expected<Times> cp = ov;
    state.PauseTiming();
    Outcome o = cold ? DropCaches() : Outcome::Ok();
    if (o) {
      ov = OverlayCycle(sys, f, n,
                        std::vector<std::string>(f.layers.begin(), f.layers.begin() + n));
    }
    if (o && ov && cold) o = DropCaches();
    state.ResumeTiming();
    if (!o) {
      fb::RecordFailure(state, what, o.error().Message());
      break;
    }
    if (!ov) {
      fb::RecordFailure(state, what, ov.error().Message());
      break;
    }
    cp = CopyCycle(sys, f, n);
    if (!cp) {
      fb::RecordFailure(state, what, cp.error().Message());
      break;
    }
    overlay += ov->setup + ov->teardown;
    sum += *cp;
    state.SetIterationTime((cp->setup + cp->teardown) / 1e9);
  }
  SetPhaseCounters(state, sum, n, cold);
  const double it_n = double(std::max<int64_t>(state.iterations(), 1));
  state.counters["overlay_us"] = overlay / it_n / 1e3;
  state.counters["x_overlay"] = overlay > 0 ? double(sum.setup + sum.teardown) / overlay : 0;
}

// Teardown after the container wrote `files` files, paired with a teardown
// after none in the same iteration (warm cache).
void BM_Written(benchmark::State& state, std::string fs, int files) {
  const std::string what = "Fs/" + fs + "/overlay/written";
  if (!Measured(state, fs, "overlay")) return;
  const FsInfo& f = g.fs.at(fs);
  mydocker::LinuxSys sys;
  int64_t none = 0, with = 0;
  for (auto _ : state) {
    state.PauseTiming();
    Expected<Times> t0 = WrittenCycle(sys, f, 0);
    Expected<Times> t = t0 ? WrittenCycle(sys, f, files) : t0;
    state.ResumeTiming();
    if (!t) {
      fb::RecordFailure(state, what, t.error().Message());
      break;
    }
    none += t0->teardown;
    with += t->teardown;
    state.SetIterationTime(t->teardown / 1e9);
  }
  const double it_n = double(std::max<int64_t>(state.iterations(), 1));
  state.counters["files"] = files;
  state.counters["cold"] = 0;
  state.counters["teardown0_us"] = none / it_n / 1e3;
  state.counters["teardown_us"] = with / it_n / 1e3;
  state.counters["per_file_us"] = files > 0 ? (with - none) / it_n / 1e3 / files : 0;
}

const char* const kFilesystems[] = {"tmpfs", "ext4", "xfs", "btrfs"};

void Register() {
  const std::vector<int> counts = LayerCounts();
  for (const std::string fs : kFilesystems) {
    for (const std::string store : {"overlay", "fuse-overlayfs", "erofs", "erofs-flat"}) {
      for (int n : counts) {
        for (bool cold : {false, true}) {
          // Smoke: warm everywhere, cold once (overlay on ext4).
          if (fb::Smoke() && cold && !(fs == "ext4" && store == "overlay")) continue;
          const std::string name = "Fs/" + fs + "/" + store + "/layers:" + std::to_string(n) +
                                   "/cache:" + (cold ? "cold" : "warm");
          auto* b = benchmark::RegisterBenchmark(name.c_str(), BM_Fs, fs, store, n, cold)
                        ->UseManualTime()
                        ->Unit(benchmark::kMicrosecond);
          // drop_caches costs tens of ms: a fixed, small count for cold rows.
          if (cold && fb::FixedIterations() == 0) b->Iterations(fb::Smoke() ? 2 : 20);
          else fb::Configure(b);
        }
      }
    }
    if (fs != "tmpfs") {  // the copy baseline on the disk filesystems
      for (int n : counts) {
        for (bool cold : {false, true}) {
          if (fb::Smoke() && cold) continue;
          const std::string name = "Fs/" + fs + "/copy/layers:" + std::to_string(n) +
                                   "/cache:" + (cold ? "cold" : "warm");
          auto* b = benchmark::RegisterBenchmark(name.c_str(), BM_Copy, fs, n, cold)
                        ->UseManualTime()
                        ->Unit(benchmark::kMicrosecond);
          if (cold && fb::FixedIterations() == 0) b->Iterations(20);
          else fb::Configure(b);
        }
      }
    }
    for (int files : fb::Smoke() ? std::vector<int>{10} : std::vector<int>{0, 100, 1000}) {
      const std::string name =
          "Fs/" + fs + "/overlay/written:" + std::to_string(files) + "/cache:warm";
      fb::Configure(benchmark::RegisterBenchmark(name.c_str(), BM_Written, fs, files)
                        ->UseManualTime()
                        ->Unit(benchmark::kMicrosecond));
    }
  }
}

Outcome Setup() {
  auto s = fb::Scratch::Create();
  if (!s) return s.error();
  g.scratch = std::move(*s);
  g.loops_before = LoopDevices();
  g.fuse_overlayfs = fb::FindInPath("fuse-overlayfs");
  if (g.fuse_overlayfs.empty())
    g.missing["fuse-overlayfs"] = "fuse-overlayfs not installed (ci/install-deps)";
  g.mkfs_erofs = fb::FindInPath("mkfs.erofs");
  if (g.mkfs_erofs.empty())
    g.missing["erofs"] = "mkfs.erofs not installed (erofs-utils, ci/install-deps)";
  for (const std::string fs : kFilesystems) MYDOCKER_TRY(SetupFs(fs));
  for (const auto& [k, why] : g.missing) benchmark::AddCustomContext("not_measured_" + k, why);
  Register();
  return Outcome::Ok();
}

Outcome Teardown() {
  Outcome first;
  for (auto it = g.mounts.rbegin(); it != g.mounts.rend(); ++it) {
    if (umount2(it->first.c_str(), 0) != 0) {
      if (first) first = MakeError("bench: umount2", it->first, errno);
      continue;  // its loop stays attached until the namespace dies (autoclear)
    }
    if (it->second >= 0) {
      if (Outcome o = DetachLoop(g.loops[it->second]); !o && first) first = o;
    }
  }
  if (Outcome o = DetachLoops(); !o && first) first = o;
  if (g.scratch) {
    if (Outcome o = g.scratch->Remove(); !o && first) first = o;
  }
  return first;
}

}  // namespace

int main(int argc, char** argv) { return fb::BenchMain(argc, argv, Setup, Teardown); }
