#include "harness/report/report.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <algorithm>
#include <set>
#include <sstream>

namespace faultline {
namespace {

using nlohmann::json;

// Valid UTF-8 is kept; bytes that XML 1.0 forbids become '?'.
std::string CleanText(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') out += '?';
    else out += static_cast<char>(c);
  }
  return out;
}

// Non-UTF-8 bytes would make nlohmann::json throw on dump: replace them.
std::string Utf8(const std::string& s) { return ValidUtf8(s); }

std::vector<std::string> Runtimes(const RunSummary& s) {
  std::vector<std::string> rts = s.runtimes;
  for (const auto& r : s.results) {
    if (r.runtime != "*" && std::find(rts.begin(), rts.end(), r.runtime) == rts.end()) {
      rts.push_back(r.runtime);
    }
  }
  return rts;
}

const char* CellText(ResultStatus st) {
  switch (st) {
    case ResultStatus::kPassed: return "pass";
    case ResultStatus::kFailed: return "FAIL";
    case ResultStatus::kExpectedDifferent: return "differs";
    case ResultStatus::kNotApplicable: return "n/a";
  }
  return "?";
}

std::string Anchor(const ScenarioResult& r) {
  std::string a = "r-" + r.runtime + "-" + r.scenario;
  for (char& c : a) {
    if (!isalnum(static_cast<unsigned char>(c)) && c != '-') c = '-';
  }
  return a;
}

}  // namespace

std::string ValidUtf8(const std::string& s) {
  // Fast path: plain ASCII needs nothing.
  if (std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; })) {
    return s;
  }
  // Dumped with replacement (U+FFFD, not ASCII-escaped), the string is valid
  // UTF-8 in JSON quotes; parsing it back undoes the JSON escapes.
  const std::string quoted =
      json(s).dump(-1, ' ', false, json::error_handler_t::replace);
  return json::parse(quoted).get<std::string>();
}

std::string DumpJson(const nlohmann::json& j, int indent) {
  return j.dump(indent, ' ', false, json::error_handler_t::replace);
}

std::string EscapeXml(const std::string& s) {
  std::string out;
  for (char c : CleanText(s)) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return Utf8(out);
}

json ReportJson(const RunSummary& s) {
  json j;
  j["started"] = s.started;
  j["environment"] = s.environment.ToJson();
  j["shard"] = s.shard;
  j["seconds"] = s.seconds;
  j["errors"] = json::array();
  for (const auto& e : s.errors) j["errors"].push_back(Utf8(e));
  json totals = json::object();
  for (const auto& rt : Runtimes(s)) {
    totals[rt] = {{"passed", s.Count(rt, ResultStatus::kPassed)},
                  {"failed", s.Count(rt, ResultStatus::kFailed)},
                  {"expected-different", s.Count(rt, ResultStatus::kExpectedDifferent)},
                  {"not-applicable", s.Count(rt, ResultStatus::kNotApplicable)}};
  }
  int broken = s.Count("*", ResultStatus::kFailed);
  totals["*"] = {{"broken", broken}};
  j["runtimes"] = Runtimes(s);
  j["totals"] = totals;
  j["results"] = json::array();
  for (const auto& r : s.results) {
    json checks = json::array();
    for (const auto& c : r.checks) {
      checks.push_back({{"name", c.name}, {"ok", c.ok}, {"detail", Utf8(c.detail)}});
    }
    json failures = json::array();
    for (const auto& f : r.failures) failures.push_back(Utf8(f));
    json notes = json::array();
    for (const auto& n : r.notes) notes.push_back(Utf8(n));
    j["results"].push_back({{"scenario", r.scenario},
                            {"file", r.file},
                            {"runtime", r.runtime},
                            {"labels", r.labels},
                            {"status", StatusName(r.status)},
                            {"checks", checks},
                            {"failures", failures},
                            {"reason", Utf8(r.reason)},
                            {"difference", Utf8(r.difference)},
                            {"replay", r.replay},
                            {"runtime_replay", Utf8(r.runtime_replay)},
                            {"stdout", Utf8(r.stdout_excerpt)},
                            {"stderr", Utf8(r.stderr_excerpt)},
                            {"notes", notes},
                            {"containers", r.containers},
                            {"seconds", r.seconds}});
  }
  return j;
}

bool RunSummaryFromJson(const json& j, RunSummary* out, std::string* error) {
  RunSummary s;
  try {
    s.started = j.at("started").get<std::string>();
    s.seconds = j.at("seconds").get<double>();
    s.errors = j.at("errors").get<std::vector<std::string>>();
    s.runtimes = j.at("runtimes").get<std::vector<std::string>>();
    if (j.contains("environment")) s.environment = Environment::FromJson(j["environment"]);
    s.shard = j.value("shard", "0/1");
    for (const auto& r : j.at("results")) {
      ScenarioResult x;
      x.scenario = r.at("scenario").get<std::string>();
      x.file = r.at("file").get<std::string>();
      x.runtime = r.at("runtime").get<std::string>();
      x.labels = r.at("labels").get<std::vector<std::string>>();
      const std::string status = r.at("status").get<std::string>();
      bool known = false;
      for (ResultStatus st : {ResultStatus::kPassed, ResultStatus::kFailed,
                              ResultStatus::kExpectedDifferent, ResultStatus::kNotApplicable}) {
        if (status == StatusName(st)) {
          x.status = st;
          known = true;
        }
      }
      if (!known) {
        *error = "result " + x.scenario + " on " + x.runtime + ": unknown status " + status;
        return false;
      }
      for (const auto& c : r.at("checks")) {
        x.checks.push_back(CheckResult{c.at("name").get<std::string>(), c.at("ok").get<bool>(),
                                       c.at("detail").get<std::string>()});
      }
      x.failures = r.at("failures").get<std::vector<std::string>>();
      x.reason = r.at("reason").get<std::string>();
      x.difference = r.at("difference").get<std::string>();
      x.replay = r.at("replay").get<std::string>();
      x.runtime_replay = r.at("runtime_replay").get<std::string>();
      x.stdout_excerpt = r.at("stdout").get<std::string>();
      x.stderr_excerpt = r.at("stderr").get<std::string>();
      x.notes = r.at("notes").get<std::vector<std::string>>();
      x.containers = r.at("containers").get<int>();
      x.seconds = r.at("seconds").get<double>();
      s.results.push_back(std::move(x));
    }
  } catch (const json::exception& e) {
    *error = std::string("not a scenario report: ") + e.what();
    return false;
  }
  *out = std::move(s);
  return true;
}

bool MergeRunSummaries(const std::vector<RunSummary>& shards, RunSummary* out,
                       std::string* error) {
  RunSummary m;
  if (shards.empty()) {
    *error = "no report to merge";
    return false;
  }
  m.environment = shards.front().environment;
  m.started = shards.front().started;
  std::set<std::pair<std::string, std::string>> seen;
  std::set<std::string> errors;
  for (const RunSummary& s : shards) {
    if (!s.started.empty() && (m.started.empty() || s.started < m.started)) m.started = s.started;
    m.seconds = std::max(m.seconds, s.seconds);
    for (const auto& rt : s.runtimes) {
      if (std::find(m.runtimes.begin(), m.runtimes.end(), rt) == m.runtimes.end()) {
        m.runtimes.push_back(rt);
      }
    }
    for (const auto& e : s.errors) {
      if (errors.insert(e).second) m.errors.push_back(e);
    }
    for (const auto& r : s.results) {
      if (!seen.insert({r.file + "\n" + r.scenario, r.runtime}).second) {
        *error = r.scenario + " on " + r.runtime + " (" + r.file +
                 ") is in two reports: the shards overlap";
        return false;
      }
      m.results.push_back(r);
    }
  }
  m.environment.started = m.started;
  // The unsharded order: files sorted by path; within a file, its shard's order.
  std::stable_sort(m.results.begin(), m.results.end(),
                   [](const ScenarioResult& a, const ScenarioResult& b) { return a.file < b.file; });
  *out = std::move(m);
  return true;
}

std::string ReportJunit(const RunSummary& s) {
  std::ostringstream x;
  x << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  int tests = static_cast<int>(s.results.size());
  int failures = s.Count("", ResultStatus::kFailed);
  int skipped = s.Count("", ResultStatus::kNotApplicable);
  x << "<testsuites name=\"faultline\" tests=\"" << tests << "\" failures=\"" << failures
    << "\" skipped=\"" << skipped << "\" time=\"" << s.seconds << "\">\n";
  std::vector<std::string> suites = Runtimes(s);
  bool any_broken = false;
  for (const auto& r : s.results) any_broken |= r.runtime == "*";
  if (any_broken) suites.push_back("*");
  for (const auto& rt : suites) {
    int t = 0, f = 0, k = 0;
    double secs = 0;
    for (const auto& r : s.results) {
      if (r.runtime != rt) continue;
      ++t;
      f += r.status == ResultStatus::kFailed;
      k += r.status == ResultStatus::kNotApplicable;
      secs += r.seconds;
    }
    const std::string name = rt == "*" ? "scenario-files" : rt;
    x << "  <testsuite name=\"" << EscapeXml(name) << "\" tests=\"" << t << "\" failures=\"" << f
      << "\" errors=\"0\" skipped=\"" << k << "\" time=\"" << secs << "\">\n";
    for (const auto& r : s.results) {
      if (r.runtime != rt) continue;
      std::string folder = r.scenario.substr(0, r.scenario.find('/'));
      x << "    <testcase classname=\"faultline." << EscapeXml(name) << "." << EscapeXml(folder)
        << "\" name=\"" << EscapeXml(r.scenario) << "\" time=\"" << r.seconds << "\">\n";
      if (r.status == ResultStatus::kFailed) {
        std::string detail;
        for (const auto& f2 : r.failures) detail += f2 + "\n";
        detail += "replay: " + r.replay + "\n";
        if (!r.runtime_replay.empty()) detail += "runtime command: " + r.runtime_replay + "\n";
        if (!r.stderr_excerpt.empty()) detail += "stderr:\n" + r.stderr_excerpt + "\n";
        x << "      <failure message=\""
          << EscapeXml(r.failures.empty() ? "failed" : r.failures.front()) << "\">"
          << EscapeXml(detail) << "</failure>\n";
      } else if (r.status == ResultStatus::kNotApplicable) {
        x << "      <skipped message=\"not applicable: " << EscapeXml(r.reason) << "\"/>\n";
      } else if (r.status == ResultStatus::kExpectedDifferent) {
        x << "      <system-out>" << EscapeXml("expected difference: " + r.difference +
                                               " (reason: " + r.reason + ")")
          << "</system-out>\n";
      }
      x << "    </testcase>\n";
    }
    x << "  </testsuite>\n";
  }
  x << "</testsuites>\n";
  return x.str();
}

std::string ReportHtml(const RunSummary& s) {
  std::ostringstream h;
  const auto rts = Runtimes(s);
  h << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
    << "<title>faultline report</title>\n<style>\n"
    << "body{font-family:sans-serif;margin:1.5em;color:#222}\n"
    << "table{border-collapse:collapse;margin:1em 0}\n"
    << "td,th{border:1px solid #bbb;padding:3px 8px;text-align:left}\n"
    << "td.cell{text-align:center;font-weight:bold}\n"
    << ".passed{background:#b7e4b0}.failed{background:#f4a6a6}\n"
    << ".expected-different{background:#f6dc8c}.not-applicable{background:#ddd;color:#666}\n"
    << "pre{background:#f5f5f5;padding:6px;max-height:20em;overflow:auto;white-space:pre-wrap}\n"
    << "code{background:#eef;padding:1px 4px}\n"
    << "</style></head><body>\n";
  h << "<h1>faultline report</h1>\n<p>Started " << EscapeXml(s.started) << ", "
    << static_cast<int>(s.seconds) << " s.</p>\n";
  // Totals per runtime.
  h << "<h2>Totals</h2>\n<table id=\"totals\"><tr><th>runtime</th><th>passed</th>"
    << "<th>failed</th><th>expected-different</th><th>not-applicable</th></tr>\n";
  for (const auto& rt : rts) {
    int p = s.Count(rt, ResultStatus::kPassed), f = s.Count(rt, ResultStatus::kFailed),
        d = s.Count(rt, ResultStatus::kExpectedDifferent),
        n = s.Count(rt, ResultStatus::kNotApplicable);
    h << "<tr class=\"total\" data-runtime=\"" << EscapeXml(rt) << "\" data-passed=\"" << p
      << "\" data-failed=\"" << f << "\" data-expected-different=\"" << d
      << "\" data-not-applicable=\"" << n << "\"><td>" << EscapeXml(rt) << "</td><td>" << p
      << "</td><td>" << f << "</td><td>" << d << "</td><td>" << n << "</td></tr>\n";
  }
  h << "</table>\n";
  // Broken files and harness errors.
  int broken = s.Count("*", ResultStatus::kFailed);
  h << "<div id=\"broken\" data-broken=\"" << broken << "\">\n";
  if (broken > 0) {
    h << "<h2>Scenario files that did not parse</h2>\n<ul>\n";
    for (const auto& r : s.results) {
      if (r.runtime != "*") continue;
      h << "<li class=\"failed\">" << EscapeXml(r.failures.empty() ? r.file : r.failures[0])
        << "</li>\n";
    }
    h << "</ul>\n";
  }
  h << "</div>\n";
  if (!s.errors.empty()) {
    h << "<h2>Harness errors</h2>\n<ul id=\"errors\">\n";
    for (const auto& e : s.errors) h << "<li class=\"failed\">" << EscapeXml(e) << "</li>\n";
    h << "</ul>\n";
  }
  // The matrix.
  std::vector<std::string> names;
  std::map<std::pair<std::string, std::string>, const ScenarioResult*> cell;
  for (const auto& r : s.results) {
    if (r.runtime == "*") continue;
    if (std::find(names.begin(), names.end(), r.scenario) == names.end()) {
      names.push_back(r.scenario);
    }
    cell[{r.scenario, r.runtime}] = &r;
  }
  h << "<h2>Scenarios by runtime</h2>\n<table id=\"matrix\"><tr><th>scenario</th>";
  for (const auto& rt : rts) h << "<th>" << EscapeXml(rt) << "</th>";
  h << "</tr>\n";
  for (const auto& n : names) {
    h << "<tr><td>" << EscapeXml(n) << "</td>";
    for (const auto& rt : rts) {
      auto it = cell.find({n, rt});
      if (it == cell.end()) {
        h << "<td></td>";
        continue;
      }
      const ScenarioResult& r = *it->second;
      std::string status = StatusName(r.status);
      std::string title = r.status == ResultStatus::kFailed && !r.failures.empty()
                              ? r.failures.front()
                              : r.reason;
      h << "<td class=\"cell " << status << "\" data-status=\"" << status << "\" data-runtime=\""
        << EscapeXml(rt) << "\" title=\"" << EscapeXml(title) << "\">";
      if (r.status != ResultStatus::kPassed) {
        h << "<a href=\"#" << Anchor(r) << "\">" << CellText(r.status) << "</a>";
      } else {
        h << CellText(r.status);
      }
      h << "</td>";
    }
    h << "</tr>\n";
  }
  h << "</table>\n";
  // Details of everything that is not a plain pass.
  h << "<h2>Details</h2>\n";
  for (const auto& r : s.results) {
    if (r.status == ResultStatus::kPassed || r.runtime == "*") continue;
    std::string status = StatusName(r.status);
    h << "<div class=\"detail\" id=\"" << Anchor(r) << "\" data-status=\"" << status << "\">\n"
      << "<h3 class=\"" << status << "\">" << EscapeXml(r.scenario) << " on "
      << EscapeXml(r.runtime) << ": " << status << "</h3>\n";
    if (!r.difference.empty()) {
      h << "<p>Expected difference: " << EscapeXml(r.difference) << "</p>\n";
    }
    if (!r.reason.empty()) h << "<p>Reason: " << EscapeXml(r.reason) << "</p>\n";
    if (!r.failures.empty()) {
      h << "<ul class=\"failures\">\n";
      for (const auto& f : r.failures) h << "<li>" << EscapeXml(f) << "</li>\n";
      h << "</ul>\n";
    }
    if (r.status != ResultStatus::kNotApplicable) {
      h << "<p>Replay: <code class=\"replay\">" << EscapeXml(r.replay) << "</code></p>\n";
      if (!r.runtime_replay.empty()) {
        h << "<p>Runtime command: <code>" << EscapeXml(r.runtime_replay) << "</code></p>\n";
      }
      if (!r.stdout_excerpt.empty()) {
        h << "<p>stdout:</p><pre>" << EscapeXml(r.stdout_excerpt) << "</pre>\n";
      }
      if (!r.stderr_excerpt.empty()) {
        h << "<p>stderr:</p><pre>" << EscapeXml(r.stderr_excerpt) << "</pre>\n";
      }
      if (!r.notes.empty()) {
        h << "<ul class=\"notes\">\n";
        for (const auto& n : r.notes) h << "<li>" << EscapeXml(n) << "</li>\n";
        h << "</ul>\n";
      }
    }
    h << "</div>\n";
  }
  h << "</body></html>\n";
  return h.str();
}

std::string ReportText(const RunSummary& s) {
  std::ostringstream t;
  for (const auto& r : s.results) {
    if (r.status == ResultStatus::kFailed) {
      t << "FAILED " << r.scenario << " on " << r.runtime << "\n";
      for (const auto& f : r.failures) t << "    " << f << "\n";
      t << "    replay: " << r.replay << "\n";
    }
  }
  for (const auto& e : s.errors) t << "ERROR " << e << "\n";
  for (const auto& rt : Runtimes(s)) {
    t << rt << ": " << s.Count(rt, ResultStatus::kPassed) << " passed, "
      << s.Count(rt, ResultStatus::kFailed) << " failed, "
      << s.Count(rt, ResultStatus::kExpectedDifferent) << " expected-different, "
      << s.Count(rt, ResultStatus::kNotApplicable) << " not-applicable\n";
  }
  int broken = s.Count("*", ResultStatus::kFailed);
  if (broken > 0) t << "broken scenario files: " << broken << "\n";
  int passed = s.Count("", ResultStatus::kPassed) + s.Count("", ResultStatus::kExpectedDifferent);
  int failed = s.Count("", ResultStatus::kFailed) + static_cast<int>(s.errors.size());
  t << passed << " passed, " << failed << " failed\n";
  return t.str();
}

std::string WriteReport(const std::string& path, const std::string& text) {
  std::error_code ec;
  std::filesystem::path p(path);
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path(), ec);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return "cannot write " + path;
  out << text;
  out.flush();
  return out ? "" : "write failed: " + path;
}

}  // namespace faultline
