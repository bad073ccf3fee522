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
#include <vector>

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

// The inverse of ReportJson (for `faultline merge`); false and *error when
// the text is not a scenario report.
bool RunSummaryFromJson(const nlohmann::json& j, RunSummary* out, std::string* error);

// Combines the reports of the shards of one `faultline run` into the report
// the unsharded run makes: results in file order (a file is in one shard),
// runtimes and errors united, started the earliest, seconds the longest.
// False and *error when a (scenario, runtime) is in two reports.
bool MergeRunSummaries(const std::vector<RunSummary>& shards, RunSummary* out,
                       std::string* error);

// XML/HTML escaping of &, <, >, " and '.
std::string EscapeXml(const std::string& s);

}  // namespace faultline
