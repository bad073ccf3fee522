#include "tests/conformance/conformance.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <dirent.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <sstream>

namespace faultline::conformance {

using mydocker::Result;
using mydocker::Status;

std::string ErrName(int err) {
  if (err == 0) return "ok";
  const char* n = strerrorname_np(err);
  return n ? n : "E" + std::to_string(err);
}

// ---- StepLog ---------------------------------------------------------------

// One text buffer in shared memory: records are "step\x1fop\x1fresult\x1e".
struct StepLog::Shared {
  static constexpr size_t kSize = 4 << 20;
  size_t used = 0;
  size_t failure_len = 0;
  char failure[1024];
  char buf[kSize];
};

StepLog::StepLog() {
  void* m = ::mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) {
    perror("conformance: mmap step log");
    abort();
  }
  s_ = new (m) Shared;
}

StepLog::~StepLog() { ::munmap(s_, sizeof(Shared)); }

void StepLog::Add(const StepResult& r) {
  std::string rec = r.step + '\x1f' + r.op + '\x1f' + r.result + '\x1e';
  if (s_->used + rec.size() > Shared::kSize) {
    Fail("step log full");
    return;
  }
  memcpy(s_->buf + s_->used, rec.data(), rec.size());
  s_->used += rec.size();
}

void StepLog::Fail(const std::string& why) {
  if (s_->failure_len) return;
  size_t n = std::min(why.size(), sizeof(s_->failure) - 1);
  memcpy(s_->failure, why.data(), n);
  s_->failure_len = n;
}

std::string StepLog::failure() const { return std::string(s_->failure, s_->failure_len); }

std::vector<StepResult> StepLog::Steps() const {
  std::vector<StepResult> out;
  std::string all(s_->buf, s_->used);
  size_t i = 0;
  while (i < all.size()) {
    size_t e = all.find('\x1e', i);
    if (e == std::string::npos) break;
    std::string rec = all.substr(i, e - i);
    size_t a = rec.find('\x1f'), b = rec.find('\x1f', a + 1);
    out.push_back({rec.substr(0, a), rec.substr(a + 1, b - a - 1), rec.substr(b + 1)});
    i = e + 1;
  }
  return out;
}

// ---- Registry ----------------------------------------------------------------

std::vector<Script>& Registry() {
  static std::vector<Script> scripts;
  return scripts;
}

Register::Register(std::string name, std::string area, std::function<void(Ctx&)> run,
                   Script::Needs needs) {
  Registry().push_back(Script{std::move(name), std::move(area), std::move(run), needs});
}

// ---- Ctx -----------------------------------------------------------------------

Ctx::Ctx(mydocker::Sys& sys, const Params& p, StepLog* log) : sys_(sys), p_(p), log_(log) {}

std::string Ctx::P(const std::string& rel) const {
  return rel.empty() ? p_.base : p_.base + "/" + rel;
}

std::string Ctx::Cg1(const std::string& ctrl, const std::string& rel) const {
  std::string d = "/sys/fs/cgroup/" + ctrl + "/" + p_.cg;
  return rel.empty() ? d : d + "/" + rel;
}

std::string Ctx::Cg2(const std::string& rel) const {
  std::string d = p_.v2_root + "/" + p_.cg;
  return rel.empty() ? d : d + "/" + rel;
}

void Ctx::NamePid(const std::string& name, pid_t pid) {
  if (pid > 0) pids_.push_back({std::to_string(pid), "$" + name});
}

pid_t Ctx::Pid(const std::string& name) const {
  for (const auto& [num, n] : pids_)
    if (n == "$" + name) return static_cast<pid_t>(std::stoi(num));
  return -1;
}

namespace {

void ReplaceAll(std::string* s, const std::string& from, const std::string& to) {
  if (from.empty()) return;
  size_t i = 0;
  while ((i = s->find(from, i)) != std::string::npos) {
    s->replace(i, from.size(), to);
    i += to.size();
  }
}

// Replaces the number `from` where it stands alone (no digit either side).
void ReplaceNumber(std::string* s, const std::string& from, const std::string& to) {
  size_t i = 0;
  while ((i = s->find(from, i)) != std::string::npos) {
    bool left = i > 0 && isdigit(static_cast<unsigned char>((*s)[i - 1]));
    size_t j = i + from.size();
    bool right = j < s->size() && isdigit(static_cast<unsigned char>((*s)[j]));
    if (left || right) {
      i = j;
      continue;
    }
    s->replace(i, from.size(), to);
    i += to.size();
  }
}

std::string Escape(const std::string& v) {
  std::string out;
  for (char ch : v) {
    if (ch == '\n') out += "\\n";
    else if (ch == '\t') out += "\\t";
    else if (ch == '\\') out += "\\\\";
    else if (static_cast<unsigned char>(ch) < 0x20) {
      char b[8];
      snprintf(b, sizeof b, "\\x%02x", ch & 0xff);
      out += b;
    } else {
      out += ch;
    }
  }
  return out;
}

char TypeLetter(uint32_t mode) {
  switch (mode & S_IFMT) {
    case S_IFDIR: return 'd';
    case S_IFREG: return '-';
    case S_IFLNK: return 'l';
    case S_IFCHR: return 'c';
    case S_IFBLK: return 'b';
    case S_IFIFO: return 'p';
    case S_IFSOCK: return 's';
    default: return '?';
  }
}

char DtLetter(uint8_t t) {
  switch (t) {
    case DT_DIR: return 'd';
    case DT_REG: return '-';
    case DT_LNK: return 'l';
    case DT_CHR: return 'c';
    case DT_BLK: return 'b';
    case DT_FIFO: return 'p';
    case DT_SOCK: return 's';
    default: return '?';
  }
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char ch : s) {
    if (ch == sep) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += ch;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

bool Under(const std::string& path, const std::string& top) {
  if (top == "/") return true;
  return path == top || (path.size() > top.size() && path.compare(0, top.size(), top) == 0 &&
                         path[top.size()] == '/');
}

// mountinfo -> "mountpoint parent=<mountpoint|^> root=<r> <fstype> <source>
// <ro|rw>[,nosuid][,nodev][,noexec] <shared|master|unbindable|private...>",
// for mounts at or under top, sorted.
std::string NormMountinfo(const std::string& text, const std::string& top) {
  struct M {
    std::string id, parent, root, mp, opts, fstype, source;
    std::vector<std::string> prop;
  };
  std::vector<M> ms;
  for (const std::string& line : Split(text, '\n')) {
    std::vector<std::string> f = Split(line, ' ');
    if (f.size() < 10) continue;
    M m;
    m.id = f[0];
    m.parent = f[1];
    m.root = f[3];
    m.mp = f[4];
    m.opts = f[5];
    size_t k = 6;
    for (; k < f.size() && f[k] != "-"; ++k) {
      const std::string& o = f[k];
      if (o.rfind("shared:", 0) == 0) m.prop.push_back("shared");
      else if (o.rfind("master:", 0) == 0) m.prop.push_back("master");
      else if (o == "unbindable") m.prop.push_back("unbindable");
    }
    if (k + 2 < f.size()) {
      m.fstype = f[k + 1];
      m.source = f[k + 2];
    }
    ms.push_back(m);
  }
  std::map<std::string, std::string> mp_of;
  for (const M& m : ms) mp_of[m.id] = m.mp;
  std::vector<std::string> lines;
  for (const M& m : ms) {
    if (!Under(m.mp, top)) continue;
    std::string parent = "^";
    auto it = mp_of.find(m.parent);
    if (it != mp_of.end() && Under(it->second, top)) parent = it->second;
    std::string opts;
    std::vector<std::string> o = Split(m.opts, ',');
    opts = std::find(o.begin(), o.end(), "ro") != o.end() ? "ro" : "rw";
    for (const char* x : {"nosuid", "nodev", "noexec"})
      if (std::find(o.begin(), o.end(), x) != o.end()) opts += std::string(",") + x;
    std::vector<std::string> prop = m.prop;
    std::sort(prop.begin(), prop.end());
    std::string p;
    for (auto& x : prop) p += (p.empty() ? "" : "+") + x;
    if (p.empty()) p = "private";
    lines.push_back(m.mp + " parent=" + parent + " root=" + m.root + " " + m.fstype + " " +
                    m.source + " " + opts + " " + p);
  }
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (auto& l : lines) out += l + "\n";
  return out;
}

}  // namespace

std::string Ctx::Norm(const std::string& v) const {
  std::string s = v;
  ReplaceAll(&s, p_.base, "$BASE");
  ReplaceAll(&s, p_.cg, "$CG");
  for (const auto& [num, name] : pids_) ReplaceNumber(&s, num, name);
  // Inode numbers of pipes and namespaces: "pipe:[1234]" -> "pipe:[N]".
  for (size_t i = 0; (i = s.find(":[", i)) != std::string::npos; i += 2) {
    size_t j = i + 2;
    while (j < s.size() && isdigit(static_cast<unsigned char>(s[j]))) ++j;
    if (j > i + 2 && j < s.size() && s[j] == ']') s.replace(i + 2, j - i - 2, "N");
  }
  return s;
}

void Ctx::Record(const std::string& step, const char* op, int err, const std::string& value,
                 bool has_value) {
  ++steps_;
  std::string r = ErrName(err);
  if (err == 0 && has_value) r += " " + Escape(Norm(value));
  log_->Add(StepResult{step, op, r});
}

Status Ctx::Mount(const std::string& step, const std::string& source, const std::string& target,
                  const std::string& fstype, unsigned long flags, const std::string& data) {
  Status st = sys_.Mount(mydocker::MountArgs{source, target, fstype, flags, data});
  Record(step, "mount", st.err, "", false);
  return st;
}

Status Ctx::Umount(const std::string& step, const std::string& target, int flags) {
  Status st = sys_.Umount2(target, flags);
  Record(step, "umount2", st.err, "", false);
  return st;
}

Status Ctx::PivotRoot(const std::string& step, const std::string& new_root,
                      const std::string& put_old) {
  Status st = sys_.PivotRoot(new_root, put_old);
  Record(step, "pivot_root", st.err, "", false);
  return st;
}

Result<int> Ctx::Fsopen(const std::string& step, const std::string& fstype, unsigned flags) {
  Result<int> r = sys_.Fsopen(fstype, flags);
  Record(step, "fsopen", r.err, std::to_string(r.value), true);
  return r;
}

Status Ctx::Fsconfig(const std::string& step, int fd, unsigned cmd, const std::string& key,
                     const std::string& value, int aux) {
  Status st = sys_.Fsconfig(mydocker::FsconfigArgs{fd, cmd, key, value, aux});
  Record(step, "fsconfig", st.err, "", false);
  return st;
}

Result<int> Ctx::Fsmount(const std::string& step, int fs_fd, unsigned flags, unsigned attr) {
  Result<int> r = sys_.Fsmount(fs_fd, flags, attr);
  Record(step, "fsmount", r.err, std::to_string(r.value), true);
  return r;
}

Status Ctx::MoveMount(const std::string& step, int from_fd, const std::string& from_path,
                      const std::string& to_path, unsigned flags) {
  Status st = sys_.MoveMount(mydocker::MoveMountArgs{from_fd, from_path, AT_FDCWD, to_path, flags});
  Record(step, "move_mount", st.err, "", false);
  return st;
}

Status Ctx::Mkdir(const std::string& step, const std::string& path, mode_t mode) {
  Status st = sys_.Mkdir(path, mode);
  Record(step, "mkdir", st.err, "", false);
  return st;
}

Status Ctx::Rmdir(const std::string& step, const std::string& path) {
  Status st = sys_.Rmdir(path);
  Record(step, "rmdir", st.err, "", false);
  return st;
}

Status Ctx::Unlink(const std::string& step, const std::string& path) {
  Status st = sys_.Unlink(path);
  Record(step, "unlink", st.err, "", false);
  return st;
}

Status Ctx::Rename(const std::string& step, const std::string& from, const std::string& to) {
  Status st = sys_.Rename(from, to);
  Record(step, "rename", st.err, "", false);
  return st;
}

Status Ctx::Symlink(const std::string& step, const std::string& target,
                    const std::string& linkpath) {
  Status st = sys_.Symlink(target, linkpath);
  Record(step, "symlink", st.err, "", false);
  return st;
}

Status Ctx::Link(const std::string& step, const std::string& existing,
                 const std::string& newpath) {
  Status st = sys_.Link(existing, newpath);
  Record(step, "link", st.err, "", false);
  return st;
}

Status Ctx::Mknod(const std::string& step, const std::string& path, mode_t mode, dev_t dev) {
  Status st = sys_.Mknod(path, mode, dev);
  Record(step, "mknod", st.err, "", false);
  return st;
}

Status Ctx::Chmod(const std::string& step, const std::string& path, mode_t mode) {
  Status st = sys_.Chmod(path, mode);
  Record(step, "chmod", st.err, "", false);
  return st;
}

Result<mydocker::FileStat> Ctx::Lstat(const std::string& step, const std::string& path) {
  Result<mydocker::FileStat> r = sys_.Lstat(path);
  std::string v;
  if (r.ok()) {
    const auto& s = r.value;
    char buf[128];
    snprintf(buf, sizeof buf, "%c%04o %u:%u", TypeLetter(s.mode), s.mode & 07777, s.uid, s.gid);
    v = buf;
    if (S_ISREG(s.mode)) v += " size=" + std::to_string(s.size);
    if (S_ISCHR(s.mode) || S_ISBLK(s.mode))
      v += " rdev=" + std::to_string(major(s.rdev)) + ":" + std::to_string(minor(s.rdev));
    // Not for dirs (tmpfs counts subdirs) nor devices (overlay shares one
    // whiteout inode among many names).
    if (S_ISREG(s.mode) || S_ISLNK(s.mode)) v += " nlink=" + std::to_string(s.nlink);
  }
  Record(step, "lstat", r.err, v, true);
  return r;
}

Result<int64_t> Ctx::Statfs(const std::string& step, const std::string& path) {
  Result<int64_t> r = sys_.Statfs(path);
  char buf[32];
  snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(r.value));
  Record(step, "statfs", r.err, buf, true);
  return r;
}

Status Ctx::ReadDir(const std::string& step, const std::string& path) {
  auto r = sys_.ReadDir(path);
  std::vector<std::string> names;
  for (const auto& e : r.value) names.push_back(e.name + "/" + DtLetter(e.type));
  std::sort(names.begin(), names.end());
  std::string v;
  for (auto& n : names) v += (v.empty() ? "" : " ") + n;
  Record(step, "readdir", r.err, v, true);
  return Status{r.err};
}

Status Ctx::Readlink(const std::string& step, const std::string& path) {
  auto r = sys_.Readlink(path);
  Record(step, "readlink", r.err, r.value, true);
  return Status{r.err};
}

Result<int> Ctx::Open(const std::string& step, const std::string& path, int flags,
                      mode_t mode) {
  Result<int> r = sys_.Open(path, flags, mode);
  Record(step, "open", r.err, std::to_string(r.value), true);
  return r;
}

Status Ctx::Close(const std::string& step, int fd) {
  Status st = sys_.Close(fd);
  Record(step, "close", st.err, "", false);
  return st;
}

Status Ctx::Read(const std::string& step, int fd, size_t len) {
  std::string buf(len, '\0');
  auto r = sys_.Read(fd, buf.data(), len);
  Record(step, "read", r.err, r.ok() ? buf.substr(0, r.value) : "", true);
  return Status{r.err};
}

Status Ctx::Write(const std::string& step, int fd, const std::string& data) {
  auto r = sys_.Write(fd, data.data(), data.size());
  Record(step, "write", r.err, std::to_string(r.value), true);
  return Status{r.err};
}

Result<mydocker::PipeFds> Ctx::Pipe(const std::string& step, int flags) {
  auto r = sys_.Pipe(flags);
  Record(step, "pipe", r.err,
         std::to_string(r.value.read_fd) + " " + std::to_string(r.value.write_fd), true);
  return r;
}

Status Ctx::Dup2(const std::string& step, int oldfd, int newfd) {
  Status st = sys_.Dup2(oldfd, newfd);
  Record(step, "dup2", st.err, "", false);
  return st;
}

Status Ctx::Chdir(const std::string& step, const std::string& path) {
  Status st = sys_.Chdir(path);
  Record(step, "chdir", st.err, "", false);
  return st;
}

Status Ctx::Sethostname(const std::string& step, const std::string& name) {
  Status st = sys_.Sethostname(name);
  Record(step, "sethostname", st.err, "", false);
  return st;
}

Status Ctx::Kill(const std::string& step, pid_t pid, int sig) {
  Status st = sys_.Kill(pid, sig);
  Record(step, "kill", st.err, "", false);
  return st;
}

Status Ctx::Waitpid(const std::string& step, pid_t pid, int options) {
  auto r = sys_.Waitpid(pid, options);
  std::string v;
  if (r.ok()) {
    if (WIFEXITED(r.value)) v = "exit " + std::to_string(WEXITSTATUS(r.value));
    else if (WIFSIGNALED(r.value)) v = "signal " + std::to_string(WTERMSIG(r.value));
    else v = "status " + std::to_string(r.value);
  }
  Record(step, "waitpid", r.err, v, true);
  return Status{r.err};
}

Status Ctx::IgnoreSignal(const std::string& step, int sig) {
  Status st = sys_.Signal(sig, mydocker::SignalDisposition::kIgnore);
  Record(step, "signal", st.err, "", false);
  return st;
}

Result<pid_t> Ctx::Clone(const std::string& step, const std::string& name,
                         const mydocker::CloneFn& fn, int flags) {
  Result<pid_t> r = sys_.Clone(fn, flags);
  if (r.ok()) NamePid(name, r.value);
  Record(step, "clone", r.err, std::to_string(r.value), true);
  return r;
}

namespace {

// open + read to EOF + close: the first errno and the content.
int Slurp(mydocker::Sys& sys, const std::string& path, std::string* out) {
  auto fd = sys.Open(path, O_RDONLY | O_CLOEXEC, 0);
  if (!fd.ok()) return fd.err;
  char buf[4096];
  int err = 0;
  for (;;) {
    auto r = sys.Read(fd.value, buf, sizeof buf);
    if (!r.ok()) {
      err = r.err;
      break;
    }
    if (r.value == 0) break;
    out->append(buf, r.value);
  }
  Status c = sys.Close(fd.value);
  return err ? err : c.err;
}

}  // namespace

Status Ctx::ReadFile(const std::string& step, const std::string& path) {
  std::string content;
  int err = Slurp(sys_, path, &content);
  Record(step, "read-file", err, content, true);
  return Status{err};
}

Status Ctx::Mountinfo(const std::string& step, const std::string& path,
                      const std::string& top) {
  std::string content;
  int err = Slurp(sys_, path, &content);
  Record(step, "mountinfo", err, NormMountinfo(content, top.empty() ? p_.base : top), true);
  return Status{err};
}

Status Ctx::ProcCgroup(const std::string& step, const std::string& path) {
  std::string content;
  int err = Slurp(sys_, path, &content);
  std::vector<std::string> lines;
  for (const std::string& l : Split(content, '\n')) {
    if (l.find(p_.cg) == std::string::npos) continue;
    size_t c = l.find(':');
    lines.push_back(c == std::string::npos ? l : l.substr(c + 1));
  }
  std::sort(lines.begin(), lines.end());
  std::string v;
  for (auto& l : lines) v += l + "\n";
  Record(step, "proc-cgroup", err, v, true);
  return Status{err};
}

Status Ctx::WriteFile(const std::string& step, const std::string& path, const std::string& data,
                      bool create) {
  int flags = O_WRONLY | O_CLOEXEC | (create ? O_CREAT | O_TRUNC : 0);
  auto fd = sys_.Open(path, flags, 0644);
  int err = fd.err;
  if (fd.ok()) {
    auto w = sys_.Write(fd.value, data.data(), data.size());
    err = w.err;
    Status c = sys_.Close(fd.value);
    if (!err) err = c.err;
  }
  Record(step, "write-file", err, "", false);
  return Status{err};
}

Status Ctx::SameDev(const std::string& step, const std::string& a, const std::string& b) {
  auto x = sys_.Lstat(a);
  auto y = sys_.Lstat(b);
  int err = x.err ? x.err : y.err;
  Record(step, "lstat-dev", err, x.value.dev == y.value.dev ? "same" : "different", true);
  return Status{err};
}

Status Ctx::SameLink(const std::string& step, const std::string& a, const std::string& b) {
  auto x = sys_.Readlink(a);
  auto y = sys_.Readlink(b);
  int err = x.err ? x.err : y.err;
  Record(step, "readlink-same", err, x.value == y.value ? "same" : "different", true);
  return Status{err};
}

Status Ctx::SelfPid(const std::string& step) {
  auto r = sys_.Readlink("/proc/self");
  if (r.ok()) NamePid("self", static_cast<pid_t>(atoi(r.value.c_str())));
  Record(step, "readlink", r.err, r.value, true);
  return Status{r.err};
}

}  // namespace faultline::conformance
