// LinuxSys is the only code under runtime/ that makes syscalls: every other
// file reaches the kernel through Sys, so FakeKernel and FaultInjectingSys
// see every side effect. This scans the sources for direct calls.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include <gtest/gtest.h>

namespace {

namespace fs = std::filesystem;

const std::regex& DirectCall() {
  // An unqualified or ::-qualified call of a syscall wrapper (a method call
  // such as sys.Mount( is capitalised and does not match).
  static const std::regex re(
      R"((^|[^.\w>])(::)?(mount|umount2?|pivot_root|fsopen|fsconfig|fsmount|move_mount|)"
      R"(mkdir|mkdirat|rmdir|unlink|unlinkat|rename|symlink|link|mknod|chmod|chown|lchown|)"
      R"(stat|lstat|statfs|opendir|readdir|readlink|open|openat|creat|close|read|write|)"
      R"(pipe|pipe2|dup|dup2|chdir|chroot|sethostname|clone|clone3|fork|vfork|execve|)"
      R"(execvp|waitpid|wait4|kill|sigaction|signal|prctl|unshare|setns|syscall|fopen|)"
      R"(popen|system|truncate|ftruncate|mmap|ioctl|fsync|fdatasync|syncfs|sync|flock|pwrite|pwrite64|)"
      R"(openat2|open_tree|mount_setattr|close_range|mknodat|symlinkat|fchmodat|fstatat|fchdir|)"
      R"(getdents64|fdopendir|capset|seccomp|seccomp_load)\s*\()");
  return re;
}

const std::regex& Banned() {
  static const std::regex re(
      R"(std::filesystem|std::[io]?fstream|archive_(read_open_filename|write_disk))");
  return re;
}

std::string StripComments(const std::string& line, bool* in_block) {
  std::string out;
  for (size_t i = 0; i < line.size(); ++i) {
    if (*in_block) {
      if (line.compare(i, 2, "*/") == 0) {
        *in_block = false;
        ++i;
      }
      continue;
    }
    if (line.compare(i, 2, "//") == 0) break;
    if (line.compare(i, 2, "/*") == 0) {
      *in_block = true;
      ++i;
      continue;
    }
    out += line[i];
  }
  // String literals ("mount /proc") are not calls.
  return std::regex_replace(out, std::regex(R"("([^"\\]|\\.)*")"), "\"\"");
}

std::vector<std::string> Offenders(const fs::path& root) {
  std::vector<std::string> found;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    const fs::path& p = entry.path();
    if (!entry.is_regular_file()) continue;
    if (p.extension() != ".cc" && p.extension() != ".h") continue;
    if (p.filename() == "linux_sys.cc") continue;  // the one place allowed
    // The CLI's main() only wires LinuxSys and prints; it makes no syscalls
    // of its own either, so it is checked too.
    std::ifstream in(p);
    std::string line;
    int n = 0;
    bool in_block = false;
    while (std::getline(in, line)) {
      ++n;
      std::string code = StripComments(line, &in_block);
      if (std::regex_search(code, DirectCall()) || std::regex_search(code, Banned())) {
        found.push_back(p.string() + ":" + std::to_string(n) + ": " + line);
      }
    }
  }
  return found;
}

TEST(SysSeam, OnlyLinuxSysCallsTheKernel) {
  auto found = Offenders(fs::path(FAULTLINE_SOURCE_DIR) / "runtime");
  std::ostringstream all;
  for (const auto& f : found) all << f << "\n";
  EXPECT_TRUE(found.empty()) << "direct kernel calls outside LinuxSys:\n" << all.str();
}

TEST(SysSeam, TheScanSeesADirectCall) {
  // Proves the scan catches what it looks for.
  const fs::path dir = fs::temp_directory_path() / ("seam-probe-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  {
    std::ofstream(dir / "bad.cc") << "void f() { ::mount(a, b, c, 0, d); }\n"
                                  << "void g() { sys.Mount(args); }  // fine\n"
                                  << "void h() { mkdir(\"/x\", 0); }\n"
                                  << "const char* s = \"mount /proc\";\n";
  }
  auto found = Offenders(dir);
  fs::remove_all(dir);
  ASSERT_EQ(found.size(), 2u);
  EXPECT_NE(found[0].find(":1:"), std::string::npos);
  EXPECT_NE(found[1].find(":3:"), std::string::npos);
}

}  // namespace
