#include "runtime/sys/mountinfo.h"

#include <errno.h>
#include <libmount/libmount.h>
#include <stdio.h>

#include <memory>

#include "runtime/sys/fs_util.h"

namespace mydocker {
namespace {

constexpr const char* kParseStep = "mountinfo: parse";

// Where libmount's parser stopped; set by ParserError through the table's
// userdata.
struct ParseState {
  int bad_line = 0;
};

int ParserError(libmnt_table* tb, const char* /*filename*/, int line) {
  auto* state = static_cast<ParseState*>(mnt_table_get_userdata(tb));
  if (state != nullptr && state->bad_line == 0) state->bad_line = line;
  return -EINVAL;  // not recoverable: the whole text is rejected
}

std::string Str(const char* s) { return s != nullptr ? std::string(s) : std::string(); }

std::string LineAt(const std::string& text, int line) {
  size_t start = 0;
  for (int i = 1; i < line && start != std::string::npos; ++i) {
    start = text.find('\n', start);
    if (start != std::string::npos) ++start;
  }
  if (start == std::string::npos || start >= text.size()) return {};
  size_t end = text.find('\n', start);
  return text.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

struct TableDeleter {
  void operator()(libmnt_table* t) const { mnt_unref_table(t); }
};
struct IterDeleter {
  void operator()(libmnt_iter* i) const { mnt_free_iter(i); }
};
struct FileCloser {
  void operator()(FILE* f) const { fclose(f); }
};

}  // namespace

Expected<std::vector<MountEntry>> ParseMountinfo(const std::string& text) {
  std::vector<MountEntry> out;
  if (text.find_first_not_of(" \t\n") == std::string::npos) return out;

  // fmemopen only wraps the buffer in a FILE: no kernel object is involved.
  std::unique_ptr<FILE, FileCloser> f(
      fmemopen(const_cast<char*>(text.data()), text.size(), "r"));
  if (!f) return MakeError(kParseStep, "", errno, "fmemopen");
  std::unique_ptr<libmnt_table, TableDeleter> tb(mnt_new_table());
  if (!tb) return MakeError(kParseStep, "", ENOMEM, "mnt_new_table");
  ParseState state;
  mnt_table_set_userdata(tb.get(), &state);
  mnt_table_set_parser_errcb(tb.get(), ParserError);

  int rc = mnt_table_parse_stream(tb.get(), f.get(), "mountinfo");
  if (rc != 0) {
    const int line = state.bad_line;
    return MakeError(kParseStep, "", rc < 0 ? -rc : EINVAL,
                     "line " + std::to_string(line) + " is not a mountinfo line: \"" +
                         LineAt(text, line) + "\"");
  }

  std::unique_ptr<libmnt_iter, IterDeleter> it(mnt_new_iter(MNT_ITER_FORWARD));
  if (!it) return MakeError(kParseStep, "", ENOMEM, "mnt_new_iter");
  libmnt_fs* fs = nullptr;
  int line = 0;
  while (mnt_table_next_fs(tb.get(), it.get(), &fs) == 0) {
    ++line;
    // libmount guesses the format from the first line; text in fstab or mtab
    // format parses, but is not mountinfo.
    if (!mnt_fs_is_kernel(fs)) {
      return MakeError(kParseStep, "", EINVAL,
                       "line " + std::to_string(line) +
                           " is not a mountinfo line: \"" + LineAt(text, line) + "\"");
    }
    MountEntry e;
    e.id = mnt_fs_get_id(fs);
    e.parent = mnt_fs_get_parent_id(fs);
    e.root = Str(mnt_fs_get_root(fs));
    e.target = Str(mnt_fs_get_target(fs));
    e.fstype = Str(mnt_fs_get_fstype(fs));
    e.source = Str(mnt_fs_get_source(fs));
    e.options = Str(mnt_fs_get_vfs_options(fs));
    e.super_options = Str(mnt_fs_get_fs_options(fs));
    e.optional_fields = Str(mnt_fs_get_optional_fields(fs));
    out.push_back(std::move(e));
  }
  return out;
}

Expected<std::vector<MountEntry>> ReadMountinfo(Sys& sys, const std::string& path) {
  auto text = ReadFile(sys, path, "mountinfo: read");
  if (!text.ok()) return text.error();
  return ParseMountinfo(*text);
}

}  // namespace mydocker
