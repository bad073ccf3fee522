// Conformance scripts: mount and umount rules, propagation, pivot_root, the
// new mount API, rmdir of a mount point. Every path is under c.P(...) (the
// per-run tmpfs scratch), in the run's private mount namespace.
#include <fcntl.h>
#include <sys/mount.h>

#include <algorithm>
#include <unistd.h>

#include "tests/conformance/conformance.h"

namespace faultline::conformance {
namespace {

void MountRules(Ctx& c) {
  (void)c.Mkdir("mkdir a", c.P("a"));
  (void)c.Mkdir("mkdir b", c.P("b"));
  (void)c.Mkdir("mkdir c", c.P("c"));
  (void)c.WriteFile("create file", c.P("file"), "data", true);
  (void)c.Mount("mount tmpfs on a", "tmpfs-a", c.P("a"), "tmpfs", MS_NOSUID | MS_NODEV);
  (void)c.Statfs("statfs a is tmpfs", c.P("a"));
  (void)c.Mkdir("mkdir a/x", c.P("a/x"));
  (void)c.Mount("bind a on b", c.P("a"), c.P("b"), "", MS_BIND);
  (void)c.Lstat("lstat b/x through the bind", c.P("b/x"));
  (void)c.SameDev("a and b are one filesystem", c.P("a/x"), c.P("b/x"));
  (void)c.SameDev("a and c are not", c.P("a/x"), c.P("c"));
  (void)c.Mountinfo("mountinfo after bind", "/proc/self/mountinfo");
  (void)c.Mount("bind of a missing source", c.P("nosuch"), c.P("c"), "", MS_BIND);
  (void)c.Mount("mount on a missing target", "tmpfs", c.P("nosuch"), "tmpfs", 0);
  (void)c.Mount("unknown fstype", "x", c.P("c"), "nosuchfs", 0);
  (void)c.Mount("bind a file on a dir", c.P("file"), c.P("c"), "", MS_BIND);
  (void)c.Mount("bind a dir on a file", c.P("a"), c.P("file"), "", MS_BIND);
  (void)c.Umount("umount a non-mount-point", c.P("c"));
  (void)c.Umount("umount a missing path", c.P("nosuch"));
  (void)c.Umount("umount with bad flags", c.P("b"), 0x100);
  (void)c.Umount("umount expire with force", c.P("b"), MNT_EXPIRE | MNT_FORCE);
  // Busy: cwd inside, an open file inside, a mount below.
  (void)c.Chdir("chdir into b/x", c.P("b/x"));
  (void)c.Umount("umount b with cwd inside", c.P("b"));
  (void)c.Chdir("chdir back to base", c.P(""));
  (void)c.WriteFile("create b/f", c.P("b/f"), "f", true);
  auto fd = c.Open("open b/f", c.P("b/f"), O_RDONLY);
  (void)c.Umount("umount b with a file open", c.P("b"));
  (void)c.Close("close b/f", fd.value);
  (void)c.Mount("mount tmpfs on b/x", "tmpfs-bx", c.P("b/x"), "tmpfs", 0);
  (void)c.Umount("umount b with a mount below", c.P("b"));
  (void)c.Umount("umount b/x", c.P("b/x"));
  (void)c.Umount("umount b", c.P("b"));
  (void)c.Umount("umount b again", c.P("b"));
  (void)c.ReadDir("readdir b after umount", c.P("b"));
  // Read-only remount.
  (void)c.Mount("remount a read-only", "", c.P("a"), "", MS_REMOUNT | MS_BIND | MS_RDONLY);
  (void)c.Mkdir("mkdir on read-only a", c.P("a/y"));
  (void)c.Open("create on read-only a", c.P("a/new"), O_WRONLY | O_CREAT, 0644);
  (void)c.Rmdir("rmdir on read-only a", c.P("a/x"));
  (void)c.Mountinfo("mountinfo read-only", "/proc/self/mountinfo");
  (void)c.Mount("remount a read-write", "", c.P("a"), "", MS_REMOUNT | MS_BIND);
  (void)c.Mkdir("mkdir on a again", c.P("a/y"));
  (void)c.Mount("remount of a non-mount-point", "", c.P("c"), "", MS_REMOUNT | MS_BIND);
  // Stacking.
  (void)c.Mount("stack a second tmpfs on a", "tmpfs-a2", c.P("a"), "tmpfs", 0);
  (void)c.ReadDir("readdir a shows the top", c.P("a"));
  (void)c.Umount("umount the top of a", c.P("a"));
  (void)c.ReadDir("readdir a shows the first again", c.P("a"));
  // Move.
  (void)c.Mount("move a to c", c.P("a"), c.P("c"), "", MS_MOVE);
  (void)c.ReadDir("readdir c after move", c.P("c"));
  (void)c.Lstat("a/x gone after move", c.P("a/x"));
  (void)c.Mount("move a non-mount-point", c.P("a"), c.P("b"), "", MS_MOVE);
  (void)c.Mount("move into itself", c.P("c"), c.P("c/x"), "", MS_MOVE);
  (void)c.Mountinfo("mountinfo after move", "/proc/self/mountinfo");
  // rmdir / unlink / rename of a mount point.
  (void)c.Rmdir("rmdir of a mount point", c.P("c"));
  (void)c.Mount("bind file on b/f", c.P("file"), c.P("b/f"), "", MS_BIND);
  (void)c.Unlink("unlink of a file mount point", c.P("b/f"));
  (void)c.Rename("rename over a mount point", c.P("b"), c.P("c"));
  (void)c.Rename("rename a mount point", c.P("c"), c.P("c2"));
  (void)c.Umount("umount b/f", c.P("b/f"));
  (void)c.Unlink("unlink b/f after umount", c.P("b/f"));
  (void)c.Umount("lazy umount of c", c.P("c"), MNT_DETACH);
  (void)c.Rmdir("rmdir c after umount", c.P("c"));
  // A busy mount detached lazily.
  (void)c.Mkdir("mkdir d", c.P("d"));
  (void)c.Mount("mount tmpfs on d", "tmpfs-d", c.P("d"), "tmpfs", 0);
  auto dfd = c.Open("open d as a dir", c.P("d"), O_RDONLY | O_DIRECTORY);
  (void)c.Umount("umount busy d", c.P("d"));
  (void)c.Umount("lazy umount of busy d", c.P("d"), MNT_DETACH);
  (void)c.Close("close d", dfd.value);
  (void)c.Mountinfo("mountinfo at the end", "/proc/self/mountinfo");
}

void Propagation(Ctx& c) {
  (void)c.Mkdir("mkdir s", c.P("s"));
  (void)c.Mkdir("mkdir t", c.P("t"));
  (void)c.Mkdir("mkdir u", c.P("u"));
  (void)c.Mkdir("mkdir v", c.P("v"));
  (void)c.Mount("tmpfs on s", "tmpfs-s", c.P("s"), "tmpfs", 0);
  (void)c.Mkdir("mkdir s/m", c.P("s/m"));
  (void)c.Mkdir("mkdir s/n", c.P("s/n"));
  (void)c.Mkdir("mkdir s/p", c.P("s/p"));
  (void)c.Mount("make s shared", "", c.P("s"), "", MS_SHARED);
  (void)c.Mount("bind s on t", c.P("s"), c.P("t"), "", MS_BIND);
  (void)c.Mountinfo("s and t are peers", "/proc/self/mountinfo");
  (void)c.Mount("tmpfs on s/m", "tmpfs-m", c.P("s/m"), "tmpfs", 0);
  (void)c.Mountinfo("s/m propagated to t/m", "/proc/self/mountinfo");
  (void)c.SameDev("t/m is the same fs as s/m", c.P("s/m"), c.P("t/m"));
  (void)c.Umount("umount t/m", c.P("t/m"));
  (void)c.Mountinfo("umount of t/m propagated to s/m", "/proc/self/mountinfo");
  (void)c.Mount("make t a slave", "", c.P("t"), "", MS_SLAVE);
  (void)c.Mount("tmpfs on s/n", "tmpfs-n", c.P("s/n"), "tmpfs", 0);
  (void)c.Mkdir("mkdir t/m exists through the bind", c.P("t/m"));
  (void)c.Mount("tmpfs on t/m (slave side)", "tmpfs-tm", c.P("t/m"), "tmpfs", 0);
  (void)c.Mountinfo("master to slave only", "/proc/self/mountinfo");
  (void)c.Mount("make t private", "", c.P("t"), "", MS_PRIVATE);
  (void)c.Mount("tmpfs on s/p", "tmpfs-p", c.P("s/p"), "tmpfs", 0);
  (void)c.Mountinfo("private t receives nothing", "/proc/self/mountinfo");
  (void)c.Mount("two propagation flags", "", c.P("t"), "", MS_SHARED | MS_PRIVATE);
  (void)c.Mount("propagation of a non-mount-point", "", c.P("v"), "", MS_SHARED);
  (void)c.Mount("tmpfs on u", "tmpfs-u", c.P("u"), "tmpfs", 0);
  (void)c.Mount("make u unbindable", "", c.P("u"), "", MS_UNBINDABLE);
  (void)c.Mount("bind unbindable u", c.P("u"), c.P("v"), "", MS_BIND);
  (void)c.Mount("move s/m out of shared s", c.P("s/m"), c.P("v"), "", MS_MOVE);
  (void)c.Mount("rbind s on v", c.P("s"), c.P("v"), "", MS_BIND | MS_REC);
  (void)c.Mountinfo("rbind copies the submounts", "/proc/self/mountinfo");
  (void)c.Umount("umount v busy with submounts", c.P("v"));
  (void)c.Umount("lazy umount v", c.P("v"), MNT_DETACH);
  (void)c.Mount("make s private recursively", "", c.P("s"), "", MS_PRIVATE | MS_REC);
  (void)c.Mountinfo("after the recursive private", "/proc/self/mountinfo");
}

void PivotRootRules(Ctx& c) {
  (void)c.Mkdir("mkdir nr", c.P("nr"));
  (void)c.Mkdir("mkdir nr/old", c.P("nr/old"));
  (void)c.Mkdir("mkdir other", c.P("other"));
  (void)c.WriteFile("create a file", c.P("file"), "x", true);
  (void)c.PivotRoot("new root not a mount point", c.P("nr"), c.P("nr/old"));
  (void)c.PivotRoot("missing new root", c.P("nosuch"), c.P("nosuch/old"));
  (void)c.PivotRoot("new root is a file", c.P("file"), c.P("nr/old"));
  (void)c.Mount("bind nr on itself", c.P("nr"), c.P("nr"), "", MS_BIND);
  (void)c.PivotRoot("missing put_old", c.P("nr"), c.P("nr/nosuch"));
  (void)c.PivotRoot("put_old not under new root", c.P("nr"), c.P("other"));
  (void)c.PivotRoot("put_old is a file", c.P("nr"), c.P("file"));
  (void)c.Mount("make base shared", "", c.P(""), "", MS_SHARED);
  (void)c.PivotRoot("new root's parent is shared", c.P("nr"), c.P("nr/old"));
  (void)c.Mount("make base private again", "", c.P(""), "", MS_PRIVATE);
  (void)c.Mount("make nr shared", "", c.P("nr"), "", MS_SHARED);
  (void)c.PivotRoot("new root is shared", c.P("nr"), c.P("nr/old"));
  (void)c.Mount("make nr private", "", c.P("nr"), "", MS_PRIVATE);
  (void)c.WriteFile("a file in the new root", c.P("nr/hello"), "hi", true);
  (void)c.PivotRoot("pivot_root into nr", c.P("nr"), c.P("nr/old"));
  (void)c.ReadDir("readdir / after pivot", "/");
  (void)c.ReadFile("read /hello", "/hello");
  (void)c.Lstat("the old root is at /old", "/old/proc");
  (void)c.Rmdir("rmdir /old while mounted", "/old");
  (void)c.Umount("umount /old without detach", "/old");
  (void)c.Umount("detach /old", "/old", MNT_DETACH);
  (void)c.ReadDir("readdir /old after detach", "/old");
  (void)c.Rmdir("rmdir /old", "/old");
  (void)c.PivotRoot("pivot_root to the current root", "/", "/");
  (void)c.Mountinfo("mountinfo after pivot", "/proc/self/mountinfo", "/");
}

// crun's way: pivot_root(".", ".") then detach the old root from ".".
void PivotRootDot(Ctx& c) {
  (void)c.Mkdir("mkdir nr", c.P("nr"));
  (void)c.Mkdir("mkdir nr/proc", c.P("nr/proc"));
  (void)c.Mount("tmpfs on nr", "tmpfs-nr", c.P("nr"), "tmpfs", 0);
  (void)c.Mkdir("mkdir nr/etc", c.P("nr/etc"));
  (void)c.WriteFile("nr/etc/hostname", c.P("nr/etc/hostname"), "box\n", true);
  (void)c.Chdir("chdir nr", c.P("nr"));
  (void)c.PivotRoot("pivot_root . .", ".", ".");
  (void)c.Umount("detach the old root at .", ".", MNT_DETACH);
  (void)c.Chdir("chdir /", "/");
  (void)c.ReadDir("readdir / after pivot", "/");
  (void)c.ReadFile("read /etc/hostname", "/etc/hostname");
  (void)c.Lstat("/ has no old root", "/proc/self");
  (void)c.Mount("mount proc in the new root", "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC);
  (void)c.Readlink("the new /proc knows self", "/proc/self");
  (void)c.Mountinfo("mountinfo after pivot . .", "/proc/self/mountinfo", "/");
}

void NewMountApi(Ctx& c) {
  (void)c.Mkdir("mkdir nm", c.P("nm"));
  (void)c.Mkdir("mkdir nm2", c.P("nm2"));
  (void)c.Fsopen("fsopen of an unknown fs", "nosuchfs");
  (void)c.Fsopen("fsopen with bad flags", "tmpfs", 0x100);
  auto fs = c.Fsopen("fsopen tmpfs", "tmpfs", FSOPEN_CLOEXEC);
  (void)c.Fsconfig("set mode", fs.value, FSCONFIG_SET_STRING, "mode", "0700");
  (void)c.Fsconfig("unknown key", fs.value, FSCONFIG_SET_STRING, "nosuchkey", "1");
  (void)c.Fsconfig("fsconfig on a bad fd", 99, FSCONFIG_SET_STRING, "mode", "0700");
  auto file = c.Open("open a plain fd", c.P("nm"), O_RDONLY | O_DIRECTORY);
  (void)c.Fsconfig("fsconfig on a dir fd", file.value, FSCONFIG_SET_STRING, "mode", "0700");
  (void)c.Fsmount("fsmount of an fd", file.value, 0, 0);
  (void)c.Close("close the plain fd", file.value);
  (void)c.Fsmount("fsmount before create", fs.value, FSMOUNT_CLOEXEC, 0);
  (void)c.Fsconfig("create", fs.value, FSCONFIG_CMD_CREATE);
  (void)c.Fsconfig("create again", fs.value, FSCONFIG_CMD_CREATE);
  (void)c.Fsconfig("set after create", fs.value, FSCONFIG_SET_STRING, "mode", "0755");
  auto m = c.Fsmount("fsmount", fs.value, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID);
  (void)c.Fsmount("fsmount again", fs.value, FSMOUNT_CLOEXEC, 0);
  (void)c.MoveMount("move_mount to a missing path", m.value, "", c.P("nosuch"),
                    MOVE_MOUNT_F_EMPTY_PATH);
  (void)c.MoveMount("move_mount attaches", m.value, "", c.P("nm"), MOVE_MOUNT_F_EMPTY_PATH);
  (void)c.Lstat("the mount's root mode", c.P("nm"));
  (void)c.Statfs("statfs nm is tmpfs", c.P("nm"));
  (void)c.Mountinfo("mountinfo with nm", "/proc/self/mountinfo");
  (void)c.MoveMount("move_mount of an attached mount", m.value, "", c.P("nm2"),
                    MOVE_MOUNT_F_EMPTY_PATH);
  (void)c.Mountinfo("mountinfo after the move", "/proc/self/mountinfo");
  (void)c.Close("close the mount fd", m.value);
  (void)c.Close("close the fs fd", fs.value);
  (void)c.MoveMount("move_mount of a closed fd", m.value, "", c.P("nm"), MOVE_MOUNT_F_EMPTY_PATH);
  (void)c.Umount("umount nm2", c.P("nm2"));
  // Overlay through the new API.
  (void)c.Mkdir("mkdir l", c.P("l"));
  (void)c.Mkdir("mkdir u", c.P("u"));
  (void)c.Mkdir("mkdir w", c.P("w"));
  (void)c.Mkdir("mkdir merged", c.P("merged"));
  (void)c.WriteFile("l/f", c.P("l/f"), "lower", true);
  auto ov = c.Fsopen("fsopen overlay", "overlay", FSOPEN_CLOEXEC);
  (void)c.Fsconfig("overlay lowerdir", ov.value, FSCONFIG_SET_STRING, "lowerdir", c.P("l"));
  (void)c.Fsconfig("overlay upperdir", ov.value, FSCONFIG_SET_STRING, "upperdir", c.P("u"));
  (void)c.Fsconfig("overlay workdir", ov.value, FSCONFIG_SET_STRING, "workdir", c.P("w"));
  (void)c.Fsconfig("overlay create", ov.value, FSCONFIG_CMD_CREATE);
  auto om = c.Fsmount("overlay fsmount", ov.value, FSMOUNT_CLOEXEC, 0);
  (void)c.MoveMount("overlay move_mount", om.value, "", c.P("merged"), MOVE_MOUNT_F_EMPTY_PATH);
  (void)c.ReadFile("read merged/f", c.P("merged/f"));
  (void)c.Statfs("statfs merged is overlay", c.P("merged"));
  (void)c.Close("close overlay mount fd", om.value);
  (void)c.Close("close overlay fs fd", ov.value);
  auto bad = c.Fsopen("fsopen overlay without upper", "overlay", FSOPEN_CLOEXEC);
  (void)c.Fsconfig("lowerdir only", bad.value, FSCONFIG_SET_STRING, "lowerdir", c.P("l"));
  (void)c.Fsconfig("create with one lower and no upper", bad.value, FSCONFIG_CMD_CREATE);
  (void)c.Fsconfig("missing lowerdir", bad.value, FSCONFIG_SET_STRING, "lowerdir", c.P("nosuch"));
  (void)c.Close("close the failed overlay fd", bad.value);
  (void)c.Umount("umount merged", c.P("merged"));
  (void)c.Umount("umount nm", c.P("nm"));
}

// fsconfig's 255-byte string limit and overlay layers passed by fd
// (FSCONFIG_SET_FD, Linux 6.13+): what the workspace relies on for layer,
// init and upper paths of 256 bytes or more.
void LongLayerPaths(Ctx& c) {
  // A directory whose path (under $BASE) is exactly 255 bytes, one of 256,
  // and one of about 300, each holding a file.
  // Five components below tag fill the rest, whatever $BASE's length (the
  // same steps on the fake and on Linux).
  auto long_dir = [&](size_t len, const std::string& tag) {
    std::string p = c.P(tag);
    (void)c.Mkdir("mkdir " + tag, p);
    for (int i = 0; i < 5; ++i) {
      size_t room = len - p.size();
      size_t part = i == 4 ? room : room / (5 - i);
      p += "/" + std::string(part - 1, static_cast<char>('m' + i));
      (void)c.Mkdir("mkdir " + tag + " component " + std::to_string(i), p);
    }
    return p;
  };
  const std::string l255 = long_dir(255, "a"), l256 = long_dir(256, "b"),
                    l300 = long_dir(300, "c");
  (void)c.WriteFile("a/../f", l255 + "/fa", "a", true);
  (void)c.WriteFile("b/../f", l256 + "/fb", "b", true);
  (void)c.WriteFile("c/../f", l300 + "/fc", "c", true);
  (void)c.Mkdir("mkdir u", c.P("u"));
  (void)c.Mkdir("mkdir w", c.P("w"));
  (void)c.Mkdir("mkdir merged", c.P("merged"));
  auto ov = c.Fsopen("fsopen overlay", "overlay", FSOPEN_CLOEXEC);
  (void)c.Fsconfig("lowerdir+ of 255 bytes", ov.value, FSCONFIG_SET_STRING, "lowerdir+", l255);
  (void)c.Fsconfig("lowerdir+ of 256 bytes", ov.value, FSCONFIG_SET_STRING, "lowerdir+", l256);
  (void)c.Fsconfig("upperdir of 300 bytes", ov.value, FSCONFIG_SET_STRING, "upperdir",
                   l300);
  (void)c.Fsconfig("a key of 256 bytes", ov.value, FSCONFIG_SET_FLAG, std::string(256, 'k'));
  auto fd256 = c.Open("open b O_PATH", l256, O_PATH | O_DIRECTORY | O_CLOEXEC);
  auto fd300 = c.Open("open c O_PATH", l300, O_PATH | O_DIRECTORY | O_CLOEXEC);
  auto ffd = c.Open("open c/fc O_PATH", l300 + "/fc", O_PATH | O_CLOEXEC);
  (void)c.Fsconfig("SET_FD with a value", ov.value, FSCONFIG_SET_FD, "lowerdir+", "x",
                   fd256.value);
  (void)c.Fsconfig("SET_FD of a bad fd", ov.value, FSCONFIG_SET_FD, "lowerdir+", "", 999);
  (void)c.Fsconfig("SET_FD of a file", ov.value, FSCONFIG_SET_FD, "lowerdir+", "", ffd.value);
  (void)c.Fsconfig("SET_FD for a key that takes none", ov.value, FSCONFIG_SET_FD,
                   "redirect_dir", "", fd256.value);
  (void)c.Fsconfig("lowerdir+ of 256 bytes by fd", ov.value, FSCONFIG_SET_FD, "lowerdir+",
                   "", fd256.value);
  (void)c.Fsconfig("lowerdir+ of 300 bytes by fd", ov.value, FSCONFIG_SET_FD, "lowerdir+",
                   "", fd300.value);
  (void)c.Close("close b fd", fd256.value);
  (void)c.Close("close c fd", fd300.value);
  (void)c.Close("close c/fc fd", ffd.value);
  auto ufd = c.Open("open u O_PATH", c.P("u"), O_PATH | O_DIRECTORY | O_CLOEXEC);
  auto wfd = c.Open("open w O_PATH", c.P("w"), O_PATH | O_DIRECTORY | O_CLOEXEC);
  (void)c.Fsconfig("upperdir by fd", ov.value, FSCONFIG_SET_FD, "upperdir", "", ufd.value);
  (void)c.Fsconfig("workdir by fd", ov.value, FSCONFIG_SET_FD, "workdir", "", wfd.value);
  (void)c.Close("close u fd", ufd.value);
  (void)c.Close("close w fd", wfd.value);
  (void)c.Fsconfig("overlay create", ov.value, FSCONFIG_CMD_CREATE);
  auto om = c.Fsmount("overlay fsmount", ov.value, FSMOUNT_CLOEXEC, 0);
  (void)c.MoveMount("overlay move_mount", om.value, "", c.P("merged"), MOVE_MOUNT_F_EMPTY_PATH);
  (void)c.Close("close overlay mount fd", om.value);
  (void)c.Close("close overlay fs fd", ov.value);
  (void)c.ReadDir("the three lowers merged", c.P("merged"));
  (void)c.ReadFile("read merged/fb (by fd)", c.P("merged/fb"));
  (void)c.ReadFile("read merged/fc (by fd)", c.P("merged/fc"));
  (void)c.Umount("umount merged", c.P("merged"));
}

Register r1("mounts.rules", "mount/umount rules, EBUSY/EINVAL, rmdir of a mount point", MountRules);
Register r2("mounts.propagation", "propagation", Propagation);
Register r3("mounts.pivot_root", "pivot_root", PivotRootRules);
Register r4("mounts.pivot_root_dot", "pivot_root", PivotRootDot);
Register r5("mounts.new_api", "new mount API", NewMountApi);
Register r6("mounts.long_layer_paths", "new mount API", LongLayerPaths,
            Script::Needs::kOverlayLayerFds);

}  // namespace
}  // namespace faultline::conformance
