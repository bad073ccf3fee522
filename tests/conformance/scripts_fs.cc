// Conformance scripts: files and directories on tmpfs, overlay copy-up and
// whiteouts.
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "tests/conformance/conformance.h"

namespace faultline::conformance {
namespace {

void Files(Ctx& c) {
  (void)c.Mkdir("mkdir d", c.P("d"), 0750);
  (void)c.Lstat("lstat d", c.P("d"));
  (void)c.Mkdir("mkdir d again", c.P("d"));
  (void)c.Mkdir("mkdir with a missing parent", c.P("nosuch/x"));
  (void)c.WriteFile("create f", c.P("f"), "hello", true);
  (void)c.Lstat("lstat f", c.P("f"));
  (void)c.Mkdir("mkdir under a file", c.P("f/x"));
  (void)c.ReadFile("read f", c.P("f"));
  (void)c.WriteFile("truncate f", c.P("f"), "hi", true);
  (void)c.ReadFile("read f after truncate", c.P("f"));
  (void)c.WriteFile("d/g", c.P("d/g"), "g", true);
  (void)c.Rmdir("rmdir a non-empty dir", c.P("d"));
  (void)c.Rmdir("rmdir a file", c.P("f"));
  (void)c.Rmdir("rmdir a missing dir", c.P("nosuch"));
  (void)c.Rmdir("rmdir of dot", c.P("d/."));
  (void)c.Unlink("unlink a dir", c.P("d"));
  (void)c.Unlink("unlink a missing file", c.P("nosuch"));
  (void)c.Symlink("symlink l -> f", "f", c.P("l"));
  (void)c.Readlink("readlink l", c.P("l"));
  (void)c.Lstat("lstat l", c.P("l"));
  (void)c.Readlink("readlink of a file", c.P("f"));
  (void)c.Symlink("symlink over an existing name", "f", c.P("d"));
  (void)c.ReadFile("read through l", c.P("l"));
  (void)c.Symlink("loop1 -> loop2", "loop2", c.P("loop1"));
  (void)c.Symlink("loop2 -> loop1", "loop1", c.P("loop2"));
  (void)c.Open("open a symlink loop", c.P("loop1"), O_RDONLY);
  (void)c.Open("O_NOFOLLOW on a symlink", c.P("l"), O_RDONLY | O_NOFOLLOW);
  (void)c.Open("O_CREAT|O_EXCL on an existing file", c.P("f"), O_WRONLY | O_CREAT | O_EXCL);
  (void)c.Open("O_DIRECTORY on a file", c.P("f"), O_RDONLY | O_DIRECTORY);
  (void)c.Open("open a dir for writing", c.P("d"), O_WRONLY);
  (void)c.Open("open a missing file", c.P("nosuch"), O_RDONLY);
  (void)c.Open("create in a missing dir", c.P("nosuch/f"), O_WRONLY | O_CREAT);
  (void)c.Mkdir("mkdir e", c.P("e"));
  (void)c.WriteFile("e/h", c.P("e/h"), "h", true);
  (void)c.Rename("rename a dir over a non-empty dir", c.P("d"), c.P("e"));
  (void)c.Rename("rename a file over a dir", c.P("f"), c.P("e"));
  (void)c.Rename("rename a dir over a file", c.P("e"), c.P("f"));
  (void)c.Rename("rename a dir into itself", c.P("d"), c.P("d/sub"));
  (void)c.Rename("rename a missing file", c.P("nosuch"), c.P("x"));
  (void)c.Rename("rename f to f2", c.P("f"), c.P("f2"));
  (void)c.Lstat("f is gone", c.P("f"));
  (void)c.Link("hard link f2", c.P("f2"), c.P("f3"));
  (void)c.Lstat("f2 has two links", c.P("f2"));
  (void)c.Link("hard link of a dir", c.P("d"), c.P("d2"));
  (void)c.Link("hard link over an existing name", c.P("f2"), c.P("e/h"));
  (void)c.Mknod("mknod a fifo", c.P("fifo"), S_IFIFO | 0600, 0);
  (void)c.Lstat("lstat the fifo", c.P("fifo"));
  (void)c.Mknod("mknod a char device", c.P("null"), S_IFCHR | 0666, makedev(1, 3));
  (void)c.Lstat("lstat the char device", c.P("null"));
  (void)c.Mknod("mknod over an existing name", c.P("null"), S_IFCHR | 0666, makedev(1, 3));
  (void)c.Chmod("chmod f2", c.P("f2"), 0600);
  (void)c.Lstat("lstat f2 after chmod", c.P("f2"));
  (void)c.Chmod("chmod a missing file", c.P("nosuch"), 0600);
  (void)c.ReadDir("readdir base", c.P(""));
  (void)c.ReadDir("readdir a file", c.P("f2"));
  (void)c.Statfs("statfs base is tmpfs", c.P(""));
  (void)c.Unlink("unlink e/h", c.P("e/h"));
  (void)c.Rename("rename a dir over an empty dir", c.P("d"), c.P("e"));
  (void)c.ReadDir("readdir e after the rename", c.P("e"));
}

void Overlay(Ctx& c) {
  for (const char* d : {"lower", "upper", "work", "merged", "lower/d", "lower/ld"})
    (void)c.Mkdir(std::string("mkdir ") + d, c.P(d));
  (void)c.WriteFile("lower/f", c.P("lower/f"), "low", true);
  (void)c.WriteFile("lower/h", c.P("lower/h"), "h", true);
  (void)c.WriteFile("lower/d/g", c.P("lower/d/g"), "g", true);
  (void)c.WriteFile("lower/m", c.P("lower/m"), "m", true);
  const std::string opts =
      "lowerdir=" + c.P("lower") + ",upperdir=" + c.P("upper") + ",workdir=" + c.P("work");
  (void)c.Mount("overlay with a missing lowerdir", "overlay", c.P("merged"), "overlay", 0,
                "lowerdir=" + c.P("nosuch") + ",upperdir=" + c.P("upper") + ",workdir=" +
                    c.P("work"));
  (void)c.Mount("overlay without options", "overlay", c.P("merged"), "overlay", 0, "");
  (void)c.Mount("mount overlay", "overlay", c.P("merged"), "overlay", 0, opts);
  (void)c.Statfs("statfs merged is overlay", c.P("merged"));
  (void)c.ReadDir("readdir merged", c.P("merged"));
  (void)c.ReadFile("read merged/f from lower", c.P("merged/f"));
  (void)c.WriteFile("write merged/f copies up", c.P("merged/f"), "new", true);
  (void)c.ReadFile("read upper/f after copy-up", c.P("upper/f"));
  (void)c.ReadFile("lower/f unchanged", c.P("lower/f"));
  (void)c.ReadFile("read merged/f after write", c.P("merged/f"));
  (void)c.Unlink("unlink merged/h", c.P("merged/h"));
  (void)c.Lstat("whiteout for h in upper", c.P("upper/h"));
  (void)c.Lstat("merged/h is gone", c.P("merged/h"));
  (void)c.Lstat("lower/h is still there", c.P("lower/h"));
  (void)c.Rmdir("rmdir a non-empty merged dir", c.P("merged/d"));
  (void)c.Unlink("unlink merged/d/g", c.P("merged/d/g"));
  (void)c.ReadDir("upper/d after the unlink", c.P("upper/d"));
  (void)c.Rmdir("rmdir merged/d", c.P("merged/d"));
  (void)c.Lstat("whiteout for d in upper", c.P("upper/d"));
  (void)c.Mkdir("mkdir merged/d over the whiteout", c.P("merged/d"));
  (void)c.ReadDir("the new merged/d is empty (opaque)", c.P("merged/d"));
  (void)c.Lstat("upper/d is a dir again", c.P("upper/d"));
  (void)c.Rename("rename a lower-only dir", c.P("merged/ld"), c.P("merged/ld2"));
  (void)c.Rename("rename a lower file", c.P("merged/m"), c.P("merged/m2"));
  (void)c.Lstat("whiteout for the renamed m", c.P("upper/m"));
  (void)c.ReadFile("read the renamed m2", c.P("merged/m2"));
  (void)c.WriteFile("create merged/n", c.P("merged/n"), "n", true);
  (void)c.ReadFile("merged/n is in upper", c.P("upper/n"));
  (void)c.Lstat("merged/n is not in lower", c.P("lower/n"));
  (void)c.Chmod("chmod merged/f copies metadata", c.P("merged/f"), 0600);
  (void)c.Lstat("upper/f after chmod", c.P("upper/f"));
  (void)c.Link("hard link in merged", c.P("merged/n"), c.P("merged/n2"));
  (void)c.Lstat("merged/n has two links", c.P("merged/n"));
  (void)c.ReadDir("readdir merged at the end", c.P("merged"));
  (void)c.Mountinfo("mountinfo with the overlay", "/proc/self/mountinfo");
  (void)c.Umount("umount merged", c.P("merged"));
  (void)c.ReadDir("readdir upper after umount", c.P("upper"));
  (void)c.ReadDir("readdir work after umount", c.P("work"));
  (void)c.ReadDir("readdir lower after umount", c.P("lower"));
}

Register r1("fs.files", "files and directories", Files);
Register r2("fs.overlay", "overlay copy-up and whiteouts", Overlay);

}  // namespace
}  // namespace faultline::conformance
