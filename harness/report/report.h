// Reports of a `faultline run`: JUnit XML (for CI), JSON (the complete
// record), and one self-contained HTML page: a matrix of scenarios by
// runtimes, green/red/amber/grey, with each failure's checks, output and the
// command that replays it.
//
// The HTML carries its counts as data attributes (data-passed, ...) on one
// element per runtime, and every cell has data-status, so a test can check
// in a real browser that what renders matches the JSON.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "harness/scenario/runner.h"

namespace faultline {

nlohmann::json ReportJson(const RunSummary& s);
std::string ReportJunit(const RunSummary& s);
std::string ReportHtml(const RunSummary& s);

// "runc: 20 passed, 1 failed, 3 expected-different, 2 not-applicable" lines,
// then "N passed, N failed" alone (the CI-readable closing line).
std::string ReportText(const RunSummary& s);

// Writes text to path, creating parent directories; "" when fine, else why.
std::string WriteReport(const std::string& path, const std::string& text);

// Runtime output is bytes, not text: every report goes through these, so
// invalid UTF-8 (a file name, a container's output) never makes one throw.
// ValidUtf8: s with each invalid sequence replaced by U+FFFD (nlohmann-json's
// error_handler_t::replace). DumpJson: j.dump with the same replacement.
std::string ValidUtf8(const std::string& s);
std::string DumpJson(const nlohmann::json& j, int indent = -1);

// XML/HTML escaping of &, <, >, " and '.
std::string EscapeXml(const std::string& s);

}  // namespace faultline
