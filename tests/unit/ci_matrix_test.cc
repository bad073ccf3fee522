// The fleet files (issue 17): the GitHub Actions kernel matrix
// (.github/workflows/kernel-matrix.yml) and the Kubernetes Indexed Job
// example (docs/examples/k8s-sweep-job.yaml). Their shard arithmetic must
// put every run of a sweep in exactly one shard, and their merge steps
// must read exactly what the shards write.
#include <fnmatch.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "harness/sweep/shard.h"

namespace faultline {
namespace {

std::string Source(const std::string& rel) { return std::string(FAULTLINE_SOURCE_DIR) + "/" + rel; }

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Every run of a sweep of `planned` runs in exactly one of the shards.
void ExpectEveryRunOnce(const std::vector<Shard>& shards, const std::string& what) {
  for (size_t planned : {1u, 7u, 100u, 2685u}) {
    std::vector<int> owners(planned, 0);
    for (const Shard& s : shards) {
      for (size_t i = 0; i < planned; ++i) owners[i] += s.Has(i) ? 1 : 0;
    }
    for (size_t i = 0; i < planned; ++i) {
      ASSERT_EQ(owners[i], 1) << what << ": run " << i << " of " << planned << " is in "
                              << owners[i] << " shards";
    }
  }
}

std::string Expand(std::string text, const std::map<std::string, std::string>& vars) {
  for (const auto& [k, v] : vars) {
    const std::string key = "${{ " + k + " }}";
    for (size_t at = text.find(key); at != std::string::npos; at = text.find(key, at + v.size())) {
      text.replace(at, key.size(), v);
    }
  }
  return text;
}

std::vector<std::string> Strings(const YAML::Node& n) {
  std::vector<std::string> out;
  for (const auto& x : n) out.push_back(x.as<std::string>());
  return out;
}

YAML::Node StepUsing(const YAML::Node& job, const std::string& uses_prefix, size_t nth = 0) {
  for (const auto& step : job["steps"]) {
    if (step["uses"] && step["uses"].as<std::string>().rfind(uses_prefix, 0) == 0) {
      if (nth-- == 0) return step;
    }
  }
  return YAML::Node();
}

YAML::Node StepRunning(const YAML::Node& job, const std::string& needle) {
  for (const auto& step : job["steps"]) {
    if (step["run"] && step["run"].as<std::string>().find(needle) != std::string::npos) return step;
  }
  return YAML::Node();
}

TEST(CiMatrix, WorkflowShardsCoverEveryRunOnceAndMergeReadsThem) {
  const YAML::Node wf = YAML::LoadFile(Source(".github/workflows/kernel-matrix.yml"));
  const int total = wf["env"]["SWEEP_SHARDS"].as<int>();
  ASSERT_GE(total, 2);
  const YAML::Node sweep = wf["jobs"]["sweep"];
  const YAML::Node merge = wf["jobs"]["merge"];
  ASSERT_TRUE(sweep && merge);
  const auto kernels = Strings(sweep["strategy"]["matrix"]["kernel"]);
  const auto cgroups = Strings(sweep["strategy"]["matrix"]["cgroup"]);
  const auto shard_values = Strings(sweep["strategy"]["matrix"]["shard"]);
  EXPECT_EQ(Strings(merge["strategy"]["matrix"]["kernel"]), kernels);
  EXPECT_EQ(Strings(merge["strategy"]["matrix"]["cgroup"]), cgroups);
  for (const char* k : {"5.10", "6.1", "6.12", "unstable"}) {
    EXPECT_NE(std::find(kernels.begin(), kernels.end(), k), kernels.end()) << k;
  }
  EXPECT_EQ(cgroups, (std::vector<std::string>{"v1", "v2", "hybrid"}));

  const YAML::Node run_step = StepRunning(sweep, "ci/vm-test");
  ASSERT_TRUE(run_step) << "the sweep job runs ci/vm-test";
  const std::string run = run_step["run"].as<std::string>();
  const YAML::Node upload = StepUsing(sweep, "actions/upload-artifact");
  ASSERT_TRUE(upload);
  const YAML::Node download = StepUsing(merge, "actions/download-artifact", 1);
  ASSERT_TRUE(download) << "the merge job downloads the shards' artifacts";
  const YAML::Node merge_step = StepRunning(merge, "faultline merge");
  ASSERT_TRUE(merge_step);
  std::smatch m;
  const std::string merge_run = merge_step["run"].as<std::string>();
  ASSERT_TRUE(std::regex_search(merge_run, m, std::regex(R"(faultline merge (\S+))")));
  const std::string merge_glob = m[1];
  // ci/vm-test --artifacts DIR copies the guest's sweep.json there.
  ASSERT_TRUE(std::regex_search(run, m, std::regex(R"(--artifacts (\S+))")));
  const std::string artifacts_dir = m[1];
  EXPECT_NE(ReadText(Source("ci/vm-test")).find("sweep.json"), std::string::npos);
  const std::string upload_path = upload["with"]["path"].as<std::string>();
  EXPECT_EQ(upload_path, artifacts_dir + "/sweep.json");
  const std::string file = upload_path.substr(upload_path.rfind('/') + 1);

  for (const auto& kernel : kernels) {
    for (const auto& cgroup : cgroups) {
      std::vector<Shard> shards;
      std::set<std::string> artifacts;
      for (const auto& k : shard_values) {
        const std::map<std::string, std::string> vars = {
            {"matrix.kernel", kernel}, {"matrix.cgroup", cgroup}, {"matrix.shard", k},
            {"env.SWEEP_SHARDS", std::to_string(total)}, {"env.SWEEP_ARGS", "run-true"}};
        const std::string cmd = Expand(run, vars);
        ASSERT_TRUE(std::regex_search(cmd, m, std::regex(R"(--shard (\S+))"))) << cmd;
        Shard s;
        ASSERT_TRUE(ParseShardText(m[1], &s)) << m[1];
        shards.push_back(s);
        EXPECT_NE(cmd.find("--kernel " + kernel), std::string::npos) << cmd;
        EXPECT_NE(cmd.find("--cgroup " + cgroup), std::string::npos) << cmd;
        artifacts.insert(Expand(upload["with"]["name"].as<std::string>(), vars));
      }
      ASSERT_EQ(artifacts.size(), shard_values.size()) << "artifact names must differ per shard";
      ExpectEveryRunOnce(shards, "workflow " + kernel + "/" + cgroup);
      // The merge job of (kernel, cgroup) downloads exactly its shards...
      const std::map<std::string, std::string> vars = {{"matrix.kernel", kernel},
                                                       {"matrix.cgroup", cgroup}};
      const std::string pattern = Expand(download["with"]["pattern"].as<std::string>(), vars);
      const std::string dir = download["with"]["path"].as<std::string>();
      for (const auto& k2 : kernels) {
        for (const auto& c2 : cgroups) {
          for (const auto& s2 : shard_values) {
            const std::string name = "sweep-" + k2 + "-" + c2 + "-" + s2;
            const bool mine = k2 == kernel && c2 == cgroup;
            EXPECT_EQ(fnmatch(pattern.c_str(), name.c_str(), 0) == 0, mine)
                << pattern << " vs " << name;
            // ... and each lands where the merge command's glob reads.
            if (mine) {
              EXPECT_EQ(artifacts.count(name), 1u) << name;
              const std::string landed = dir + "/" + name + "/" + file;
              EXPECT_EQ(fnmatch(merge_glob.c_str(), landed.c_str(), FNM_PATHNAME), 0)
                  << merge_glob << " vs " << landed;
            }
          }
        }
      }
    }
  }
}

TEST(CiMatrix, KubernetesIndexedJobShardsCoverEveryRunOnceAndMergeReadsThem) {
  std::vector<YAML::Node> docs = YAML::LoadAllFromFile(Source("docs/examples/k8s-sweep-job.yaml"));
  ASSERT_EQ(docs.size(), 2u);
  const YAML::Node job = docs[0]["spec"];
  EXPECT_EQ(job["completionMode"].as<std::string>(), "Indexed");
  const int completions = job["completions"].as<int>();
  EXPECT_LE(job["parallelism"].as<int>(), completions);
  const YAML::Node c = job["template"]["spec"]["containers"][0];
  std::string total;
  for (const auto& e : c["env"]) {
    if (e["name"].as<std::string>() == "FAULTLINE_TOTAL_SHARDS") total = e["value"].as<std::string>();
  }
  ASSERT_EQ(total, std::to_string(completions)) << "FAULTLINE_TOTAL_SHARDS must be completions";
  const std::string args = c["args"][0].as<std::string>();
  EXPECT_EQ(args.find("--shard"), std::string::npos) << "the index comes from the environment";
  std::smatch m;
  ASSERT_TRUE(std::regex_search(args, m, std::regex(R"(--report-json (\S+))")));
  const std::string report = m[1];
  std::vector<Shard> shards;
  std::vector<std::string> written;
  for (int i = 0; i < completions; ++i) {
    const std::string index = std::to_string(i);
    Shard s;
    bool found = false;
    std::string source, error;
    ASSERT_TRUE(ShardFromEnvironment(&s, &found, &source, &error, [&](const char* name) {
      if (std::string(name) == "JOB_COMPLETION_INDEX") return index.c_str();
      if (std::string(name) == "FAULTLINE_TOTAL_SHARDS") return total.c_str();
      return static_cast<const char*>(nullptr);
    })) << error;
    ASSERT_TRUE(found);
    shards.push_back(s);
    std::string path = report;
    path.replace(path.find("$(JOB_COMPLETION_INDEX)"), 23, index);
    written.push_back(path);
  }
  ExpectEveryRunOnce(shards, "Indexed Job");
  const YAML::Node mc = docs[1]["spec"]["template"]["spec"]["containers"][0];
  const std::string merge_args = mc["args"][0].as<std::string>();
  ASSERT_TRUE(std::regex_search(merge_args, m, std::regex(R"(faultline merge (\S+))")));
  const std::string glob = m[1];
  for (const auto& w : written) {
    EXPECT_EQ(fnmatch(glob.c_str(), w.c_str(), FNM_PATHNAME), 0) << glob << " vs " << w;
  }
  // Not the journals, not its own output.
  ASSERT_TRUE(std::regex_search(args, m, std::regex(R"(--journal (\S+))")));
  EXPECT_NE(fnmatch(glob.c_str(), std::string(m[1]).c_str(), FNM_PATHNAME), 0);
  ASSERT_TRUE(std::regex_search(merge_args, m, std::regex(R"(--report-json (\S+))")));
  EXPECT_NE(fnmatch(glob.c_str(), std::string(m[1]).c_str(), FNM_PATHNAME), 0);
  // Both jobs see the same volume at the same place.
  EXPECT_EQ(c["volumeMounts"][0]["mountPath"].as<std::string>(),
            mc["volumeMounts"][0]["mountPath"].as<std::string>());
  EXPECT_EQ(docs[0]["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"]
                .as<std::string>(),
            docs[1]["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"]
                .as<std::string>());
}

}  // namespace
}  // namespace faultline
