// Sweep reports for readers: Markdown (SweepMarkdown) and an HTML page with
// the grid of fault points x probes (SweepHtml). The JSON form is
// SweepReport::ToJson (sweep.cc); the console text (SweepConsoleText).
#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include "harness/report/report.h"
#include "harness/sweep/sweep.h"

namespace faultline {

namespace {

// A table cell: one line, pipes escaped.
std::string Cell(const std::string& raw) {
  const std::string text = ValidUtf8(raw);
  std::string out;
  for (char c : text) {
    if (c == '|') out += "\\|";
    else if (c == '\n') out += "<br>";
    else out += c;
  }
  return out.empty() ? "-" : out;
}

}  // namespace

std::string SweepMarkdown(const SweepReport& report) {
  std::map<std::string, size_t> outcomes;
  size_t left = 0, noted = 0;
  for (const auto& r : report.results) {
    ++outcomes[r.outcome];
    if (!r.left.empty()) ++left;
    if (!r.notes.empty()) ++noted;
  }
  std::ostringstream md;
  md << "# Sweep: " << report.workload << " on " << report.backend << "\n\n";
  md << "Environment: " << Cell(EnvironmentLine(report.environment)) << "; run list "
     << report.digest << "\n\n";
  md << "**" << report.defects.size() << " distinct defect" << (report.defects.size() == 1 ? "" : "s")
     << "** (" << report.failed << " failed runs; errno model " << report.errno_model << ": "
     << report.unreachable_runs << " runs with an unreachable fault, " << report.unreachable_failures
     << " of them would have failed and are not defects)\n\n";
  if (!report.defects.empty()) {
    md << "| defect | runs | points | what | replay |\n|---|---|---|---|---|\n";
    for (size_t i = 0; i < report.defects.size(); ++i) {
      const Defect& d = report.defects[i];
      std::string pts;
      for (size_t p : d.points) pts += (pts.empty() ? "" : ", ") + std::to_string(p);
      md << "| " << i + 1 << " | " << d.runs << " | " << Cell(pts) << " | "
         << Cell(d.summary + "\n" + d.failure) << " | `" << ValidUtf8(d.replay) << "` |\n";
    }
    md << "\n";
  }
  md << "| points | runs | passed | failed | left something after the run | noted | seconds |\n"
     << "|---|---|---|---|---|---|---|\n"
     << "| " << report.points << " | " << report.runs << " | " << report.passed << " | "
     << report.failed << " | " << left << " | " << noted << " | " << report.seconds << " |\n\n";
  md << "Outcomes:";
  for (const auto& [name, n] : outcomes) md << " " << name << " " << n << ";";
  md << " (clean run: " << report.clean_calls << " calls)\n\n";
  for (const auto& e : report.errors) md << "**Error:** " << Cell(e) << "\n\n";
  md << "| point | call | fault | reachable | outcome | defect | left after the run | left after "
        "cleanup | error / failure / note | replay |\n|---|---|---|---|---|---|---|---|---|---|\n";
  size_t rows = 0;
  for (const auto& r : report.results) {
    if (r.passed && r.left.empty() && r.notes.empty()) continue;
    ++rows;
    std::string why;
    for (const auto& f : r.failures) why += "FAIL: " + f + "\n";
    for (const auto& n : r.notes) why += "note: " + n + "\n";
    if (why.empty()) why = r.error;
    md << "| " << r.point << " | " << Cell(r.args) << " | "
       << (r.err ? mydocker::ErrnoName(r.err) + " " : "") << SweepModeName(r.mode) << " | "
       << (r.reachable ? "yes" : "no") << (r.call_class.empty() ? "" : " (" + r.call_class + ")")
       << " | " << r.outcome << " | " << (r.defect ? std::to_string(r.defect) : "-") << " | "
       << Cell(r.left) << " | "
       << (r.gc_ran ? Cell(r.left_after_gc.empty() ? "nothing" : r.left_after_gc) : "not run")
       << " | " << Cell(why) << " | `" << ValidUtf8(r.replay) << "` |\n";
  }
  if (rows == 0) md << "| - | every run passed and left nothing | | | | | | | | |\n";
  return md.str();
}


namespace {

std::string Html(const std::string& raw) {
  const std::string text = ValidUtf8(raw);
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

// How bad a probe looked over a point's runs; higher is worse.
enum class Cellv { kClean = 0, kRecovered = 1, kLeft = 2 };

}  // namespace

std::string SweepHtml(const SweepReport& report) {
  // The probes as columns, in the probes' own order, plus any other seen.
  std::vector<std::string> probes = {"mounts", "holders", "dirs", "cgroups", "processes", "fds"};
  for (const auto& r : report.results) {
    for (const auto* list : {&r.left_probes, &r.left_after_gc_probes}) {
      for (const auto& p : *list) {
        if (std::find(probes.begin(), probes.end(), p) == probes.end()) probes.push_back(p);
      }
    }
  }
  struct Row {
    std::string call;
    std::map<std::string, Cellv> cells;
    std::map<std::string, std::string> detail;  // probe -> what was left (first seen)
    std::map<std::string, std::map<std::string, size_t>> outcomes;  // mode -> outcome -> n
    std::vector<const PointResult*> failed;
  };
  std::map<size_t, Row> rows;
  for (const auto& r : report.results) {
    Row& row = rows[r.point];
    if (row.call.empty()) row.call = r.args.empty() ? r.op : r.args;
    ++row.outcomes[SweepModeName(r.mode)][r.outcome];
    if (!r.passed) row.failed.push_back(&r);
    std::set<std::string> after_gc(r.left_after_gc_probes.begin(), r.left_after_gc_probes.end());
    for (const auto& p : r.left_probes) {
      Cellv v = after_gc.count(p) ? Cellv::kLeft : Cellv::kRecovered;
      if (v > row.cells[p]) row.cells[p] = v;
      if (!row.detail.count(p)) row.detail[p] = r.left;
    }
    for (const auto& p : after_gc) {
      row.cells[p] = Cellv::kLeft;
      row.detail[p] = "after cleanup: " + r.left_after_gc;
    }
  }
  std::ostringstream h;
  h << "<!doctype html><html><head><meta charset=\"utf-8\"><title>Sweep: "
    << Html(report.workload) << " on " << Html(report.backend) << "</title><style>"
    << "body{font-family:sans-serif;margin:1em}table{border-collapse:collapse}"
    << "td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px;vertical-align:top}"
    << ".clean{background:#dfd}.recovered{background:#ffd9a0}.left{background:#f99}"
    << ".fail{color:#a00}code{font-size:12px}</style></head><body>\n";
  h << "<h1>Sweep: " << Html(report.workload) << " on " << Html(report.backend) << "</h1>\n";
  h << "<p id=\"summary\">" << report.points << " points, " << report.runs << " runs, "
    << report.passed << " passed, " << report.failed << " failed, " << report.seconds
    << " s (clean run: " << report.clean_calls << " calls)</p>\n";
  h << "<p id=\"environment\">Environment: " << Html(EnvironmentLine(report.environment))
    << "; run list " << Html(report.digest) << "</p>\n";
  for (const auto& e : report.errors) h << "<p class=\"fail\">Error: " << Html(e) << "</p>\n";
  h << "<h2 id=\"defects\">" << report.defects.size() << " distinct defect"
    << (report.defects.size() == 1 ? "" : "s") << "</h2>\n<p>errno model " << Html(report.errno_model)
    << ": " << report.unreachable_runs << " runs with an unreachable fault ("
    << report.unreachable_failures << " would have failed; not defects)</p>\n";
  if (!report.defects.empty()) {
    h << "<table><tr><th>defect</th><th>runs</th><th>points</th><th>what</th><th>replay</th></tr>\n";
    for (size_t i = 0; i < report.defects.size(); ++i) {
      const Defect& d = report.defects[i];
      std::string pts;
      for (size_t p : d.points) pts += (pts.empty() ? "" : ", ") + std::to_string(p);
      h << "<tr><td>" << i + 1 << "</td><td>" << d.runs << "</td><td>" << Html(pts) << "</td><td>"
        << Html(d.summary) << "<br>" << Html(d.failure) << "</td><td><code>" << Html(d.replay)
        << "</code></td></tr>\n";
    }
    h << "</table>\n";
  }
  h << "<p>Cells: <span class=\"clean\">&nbsp;nothing left&nbsp;</span> "
       "<span class=\"recovered\">&nbsp;left after the run, removed by the cleanup&nbsp;</span> "
       "<span class=\"left\">&nbsp;left after the cleanup&nbsp;</span> (worst run of the "
       "point; hover for what)</p>\n";
  h << "<table id=\"grid\"><tr><th>point</th><th>call</th>";
  for (const auto& p : probes) h << "<th>" << Html(p) << "</th>";
  h << "<th>outcomes</th><th>failures (replay)</th></tr>\n";
  for (const auto& [point, row] : rows) {
    h << "<tr><td>" << point << "</td><td><code>" << Html(row.call) << "</code></td>";
    for (const auto& p : probes) {
      auto it = row.cells.find(p);
      const Cellv v = it == row.cells.end() ? Cellv::kClean : it->second;
      const char* cls = v == Cellv::kLeft ? "left" : v == Cellv::kRecovered ? "recovered" : "clean";
      h << "<td class=\"" << cls << "\"";
      if (v != Cellv::kClean) h << " title=\"" << Html(row.detail.at(p)) << "\"";
      h << ">" << (v == Cellv::kLeft ? "LEFT" : v == Cellv::kRecovered ? "run" : "") << "</td>";
    }
    h << "<td>";
    for (const auto& [mode, counts] : row.outcomes) {
      h << Html(mode) << ":";
      for (const auto& [outcome, n] : counts) h << " " << Html(outcome) << "&nbsp;" << n;
      h << "<br>";
    }
    h << "</td><td>";
    constexpr size_t kShown = 3;  // the rest are in the JSON and Markdown reports
    for (size_t i = 0; i < row.failed.size() && i < kShown; ++i) {
      const PointResult* f = row.failed[i];
      h << "<div class=\"fail\">" << (f->err ? Html(mydocker::ErrnoName(f->err)) + " " : "")
        << SweepModeName(f->mode) << ": "
        << Html(f->failures.empty() ? f->outcome : f->failures.front()) << "<br><code>"
        << Html(f->replay) << "</code></div>";
    }
    if (row.failed.size() > kShown) h << "(" << row.failed.size() - kShown << " more failed runs)";
    h << "</td></tr>\n";
  }
  h << "</table></body></html>\n";
  return h.str();
}

}  // namespace faultline

namespace faultline {

std::string SweepConsoleText(const SweepReport& report, bool replay) {
  std::ostringstream out;
  // The defects first: one line each, its runs, its points, one replay.
  out << report.defects.size() << " distinct defect" << (report.defects.size() == 1 ? "" : "s")
      << " (" << report.failed << " failed run" << (report.failed == 1 ? "" : "s") << ")\n";
  for (size_t i = 0; i < report.defects.size(); ++i) {
    const Defect& d = report.defects[i];
    std::string pts;
    for (size_t k = 0; k < d.points.size() && k < 12; ++k)
      pts += (pts.empty() ? "" : ",") + std::to_string(d.points[k]);
    if (d.points.size() > 12) pts += ",... (" + std::to_string(d.points.size()) + " points)";
    out << "DEFECT " << i + 1 << ": " << d.runs << " run" << (d.runs == 1 ? "" : "s")
        << ", points " << pts << "\n  " << d.summary << "\n  " << d.failure
        << "\n  replay: " << d.replay << "\n";
  }
  if (replay) {
    // A replay: say which call the plan faulted.
    for (const auto& r : report.results) {
      if (r.args.empty()) {
        out << "the plan fired on no call\n";
      } else {
        out << "faulted: point " << r.point << " (" << r.process << " " << r.op << " #" << r.nth
            << " " << r.args << ")" << (r.reachable ? "" : " [unreachable]") << ": " << r.outcome
            << (r.failures.empty() ? "" : ": " + r.failures.front()) << "\n";
      }
    }
  }
  // The notes that flag a runtime (an error without the injected errno, a
  // peer that left what its cleanup removes): every note of the run.
  size_t noted = 0;
  for (const auto& r : report.results) {
    if (r.notes.empty()) continue;
    if (++noted > 20) continue;
    out << "NOTE point " << r.point << " (" << r.process << " " << r.op << " #" << r.nth << ") "
        << (r.err ? mydocker::ErrnoName(r.err) + " " : "") << SweepModeName(r.mode) << ":";
    for (const auto& n : r.notes) out << (r.notes.size() == 1 ? " " : "\n  - ") << n;
    out << "\n  replay: " << r.replay << "\n";
  }
  if (noted > 20) out << "... and " << noted - 20 << " more runs with notes (see the reports)\n";
  for (const auto& e : report.errors) out << "ERROR " << e << "\n";
  size_t clean = 0, handled = 0, gc = 0, not_fired = 0;
  for (const auto& r : report.results) {
    if (r.outcome == "clean") ++clean;
    else if (r.outcome == "handled") ++handled;
    else if (r.outcome == "recovered-by-gc") ++gc;
    else if (r.outcome == "not-fired") ++not_fired;
  }
  char line[1024];
  std::snprintf(
      line, sizeof line,
      "sweep %s on %s: %zu points (clean run: %zu calls), %zu runs, %zu passed, %zu failed "
      "(clean %zu, handled %zu, recovered by gc %zu, not fired %zu), %zu distinct defects, "
      "%zu runs with notes; errno model %s: %zu runs unreachable (%zu of them would have "
      "failed) in %.2f s\n",
      report.workload.c_str(), report.backend.c_str(), report.points, report.clean_calls,
      report.runs, report.passed, report.failed, clean, handled, gc, not_fired,
      report.defects.size(), noted, report.errno_model.c_str(), report.unreachable_runs,
      report.unreachable_failures, report.seconds);
  out << line;
  return out.str();
}

}  // namespace faultline
