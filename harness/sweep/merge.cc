// Merging the reports of a sweep's shards (MergeSweepReports) and the JUnit
// form of a sweep report (SweepJunit). See sweep.h and docs/sweeps.md
// "Sharding, merging, resuming".
#include <algorithm>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "harness/report/report.h"
#include "harness/sweep/sweep.h"

namespace faultline {

using mydocker::MakeError;

namespace {

std::string Name(const SweepReport& r, size_t i) {
  return "report " + std::to_string(i + 1) + " (shard " + r.execution.shard.ToString() + ")";
}

Environment WithoutStart(Environment e) {
  e.started.clear();
  return e;
}

}  // namespace

mydocker::Expected<SweepReport> MergeSweepReports(const std::vector<SweepReport>& shards) {
  if (shards.empty()) return MakeError("merge", "", EINVAL, "no report to merge");
  const SweepReport& first = shards.front();
  if (first.digest.empty()) {
    return MakeError("merge", Name(first, 0), EINVAL,
                     "the report has no run-list digest (made by a faultline before sharding)");
  }
  SweepReport out;
  out.backend = first.backend;
  out.workload = first.workload;
  out.clean_calls = first.clean_calls;
  out.points = first.points;
  out.planned = first.planned;
  out.setup_runs = first.setup_runs;
  out.digest = first.digest;
  out.errno_model = first.errno_model;
  out.environment = first.environment;
  out.execution.shard = Shard{};
  std::set<std::string> errors_seen;
  std::map<size_t, size_t> owner;  // run -> report index
  std::vector<const PointResult*> all;
  bool same_env = true;
  for (size_t i = 0; i < shards.size(); ++i) {
    const SweepReport& s = shards[i];
    auto differs = [&](const std::string& what, const std::string& a, const std::string& b) {
      return MakeError("merge", Name(s, i), EINVAL,
                       what + " is " + b + ", " + Name(first, 0) + "'s is " + a +
                           ": not shards of one sweep");
    };
    if (s.workload != first.workload) return differs("the workload", first.workload, s.workload);
    if (s.backend != first.backend) return differs("the backend", first.backend, s.backend);
    if (s.errno_model != first.errno_model) {
      return differs("the errno model", first.errno_model, s.errno_model);
    }
    if (s.digest != first.digest) {
      return differs("the run-list digest", first.digest,
                     s.digest + " (the clean runs, the errnos and modes or the errno model's reachability " +
                         "differ; kernel " +
                         s.environment.kernel_release + " vs " +
                         first.environment.kernel_release + ")");
    }
    if (s.planned != first.planned) {
      return differs("the number of runs", std::to_string(first.planned),
                     std::to_string(s.planned));
    }
    if (WithoutStart(s.environment) != WithoutStart(first.environment)) same_env = false;
    if (s.environment.started < out.environment.started) {
      out.environment.started = s.environment.started;
    }
    for (const auto& e : s.errors) {
      if (errors_seen.insert(e).second) out.errors.push_back(e);
    }
    for (const PointResult& r : s.results) {
      if (r.run >= first.planned) {
        return MakeError("merge", Name(s, i), EINVAL,
                         "run " + std::to_string(r.run) + " (" + r.id + ") is past the sweep's " +
                             std::to_string(first.planned) + " runs");
      }
      auto [at, fresh] = owner.emplace(r.run, i);
      if (!fresh) {
        return MakeError("merge", Name(s, i), EINVAL,
                         "run " + std::to_string(r.run) + " (" + r.id + ") is also in " +
                             Name(shards[at->second], at->second) +
                             ": the shards overlap");
      }
      all.push_back(&r);
    }
    out.seconds = std::max(out.seconds, s.seconds);
    out.execution.jobs = std::max(out.execution.jobs, s.execution.jobs);
    out.execution.resumed += s.execution.resumed;
    out.unreachable_runs += s.unreachable_runs;
    out.unreachable_failures += s.unreachable_failures;
    nlohmann::json rec = {{"shard", s.execution.shard.ToString()},
                          {"machine", s.environment.machine},
                          {"kernel_release", s.environment.kernel_release},
                          {"cgroup_layout", s.environment.cgroup_layout},
                          {"started", s.environment.started},
                          {"seconds", s.seconds},
                          {"runs", s.runs}};
    if (!s.execution.shards.empty()) rec["merged"] = s.execution.shards;
    out.execution.shards.push_back(std::move(rec));
  }
  if (owner.size() != first.planned) {
    std::string missing;
    size_t n = 0;
    for (size_t r = 0; r < first.planned; ++r) {
      if (owner.count(r) == 0) {
        if (n < 5) missing += (missing.empty() ? "" : ", ") + std::to_string(r);
        ++n;
      }
    }
    return MakeError("merge", "", EINVAL,
                     std::to_string(n) + " of " + std::to_string(first.planned) +
                         " runs are in no report (runs " + missing + (n > 5 ? ", ..." : "") +
                         "): a shard is missing or was cut short (resume it with its --journal)");
  }
  if (!same_env) {
    // The runs were made in different places: the report says where.
    out.environment.machine = "(several: see execution.shards)";
  }
  std::sort(all.begin(), all.end(),
            [](const PointResult* a, const PointResult* b) { return a->run < b->run; });
  for (const PointResult* r : all) {
    out.results.push_back(*r);
    if (r->passed) ++out.passed;
    else ++out.failed;
  }
  out.runs = out.setup_runs + out.results.size();
  // A defect groups runs of every shard: grouped again over all of them
  // (each shard numbered its own).
  GroupDefects(out);
  return out;
}

std::string SweepJunit(const SweepReport& report) {
  std::ostringstream x;
  const std::string suite = "sweep " + report.workload + " on " + report.backend;
  size_t errors = report.errors.empty() ? 0 : 1;
  x << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  x << "<testsuites name=\"faultline sweep\" tests=\"" << report.results.size() + errors
    << "\" failures=\"" << report.failed << "\" errors=\"" << errors << "\" time=\""
    << report.seconds << "\">\n";
  x << "  <testsuite name=\"" << EscapeXml(suite) << "\" tests=\""
    << report.results.size() + errors << "\" failures=\"" << report.failed << "\" errors=\""
    << errors << "\" time=\"" << report.seconds << "\">\n";
  const Environment& e = report.environment;
  x << "    <properties>\n";
  for (const auto& [k, v] : {std::pair<std::string, std::string>{"kernel_release", e.kernel_release},
                             {"cgroup_layout", e.cgroup_layout},
                             {"runtime", e.runtime},
                             {"runtime_version", e.runtime_version},
                             {"faultline_version", e.faultline_version},
                             {"faultline_commit", e.faultline_commit},
                             {"machine", e.machine},
                             {"started", e.started},
                             {"digest", report.digest}}) {
    x << "      <property name=\"" << k << "\" value=\"" << EscapeXml(v) << "\"/>\n";
  }
  x << "    </properties>\n";
  if (errors != 0) {
    std::string text;
    for (const auto& err : report.errors) text += err + "\n";
    x << "    <testcase classname=\"" << EscapeXml(suite) << "\" name=\"sweep\">\n"
      << "      <error message=\"" << EscapeXml(report.errors.front()) << "\">"
      << EscapeXml(text) << "</error>\n    </testcase>\n";
  }
  for (const PointResult& r : report.results) {
    x << "    <testcase classname=\"" << EscapeXml(suite) << "\" name=\"" << EscapeXml(r.id)
      << "\"";
    if (r.passed) {
      x << "/>\n";
      continue;
    }
    std::string text;
    for (const auto& f : r.failures) text += f + "\n";
    text += "replay: " + r.replay + "\n";
    for (const auto& t : r.trace_tail) text += "  " + t + "\n";
    x << ">\n      <failure message=\""
      << EscapeXml(r.failures.empty() ? r.outcome : r.failures.front()) << "\">"
      << EscapeXml(text) << "</failure>\n    </testcase>\n";
  }
  x << "  </testsuite>\n</testsuites>\n";
  return x.str();
}

bool WriteSweepReports(const SweepReport& report, const SweepReportPaths& paths,
                       const std::string& who) {
  bool ok = true;
  auto write = [&](const std::string& path, auto render) {
    if (path.empty()) return;
    if (std::string e = WriteReport(path, render()); !e.empty()) {
      std::cerr << who << ": " << e << "\n";
      ok = false;
    }
  };
  write(paths.json, [&] { return DumpJson(report.ToJson(), 2) + "\n"; });
  write(paths.junit, [&] { return SweepJunit(report); });
  write(paths.html, [&] { return SweepHtml(report); });
  write(paths.md, [&] { return SweepMarkdown(report); });
  return ok;
}

}  // namespace faultline
