#include "controller/cli/validate.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace mlspace::cli {
namespace {

constexpr char kGood[] = R"(apiVersion: mlspace.io/v1alpha1
kind: MLSpaceJob
metadata:
  name: NAME
spec:
  region: SR006
  image: cr.ai.cloud.ru/base/py3.11:1
  instanceType: cpu.2C.8G
  command: [python, train.py]
)";

std::string Job(const std::string& name, const std::string& extra = "") {
  std::string s = kGood;
  s.replace(s.find("NAME"), 4, name);
  return s + extra;
}

class ValidateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/mlspacectl-validate-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Write(const std::string& rel, const std::string& text) {
    std::string p = dir_ + "/" + rel;
    std::filesystem::create_directories(std::filesystem::path(p).parent_path());
    std::ofstream(p) << text;
    return p;
  }
  int Run(const std::vector<std::string>& paths) {
    out_.str("");
    err_.str("");
    return RunValidate(paths, out_, err_, &summary_);
  }

  std::string dir_;
  std::ostringstream out_, err_;
  ValidateSummary summary_;
};

TEST_F(ValidateTest, GoodTreeExitsZero) {
  Write("jobs/a.yaml", Job("a"));
  Write("jobs/team/b.yml", Job("b") + "---\n" + Job("c"));
  Write("jobs/README.md", "not a manifest");
  Write("jobs/.git/config.yaml", "{{{ not even yaml");  // dot-directories skipped
  EXPECT_EQ(Run({dir_ + "/jobs"}), 0) << out_.str();
  EXPECT_EQ(summary_.files, 2);
  EXPECT_EQ(summary_.jobs, 3);
  EXPECT_EQ(summary_.errors, 0);
  EXPECT_EQ(out_.str(), "validate: 2 files, 3 valid MLSpaceJobs, 0 invalid, 0 ignored, 0 errors\n");
}

TEST_F(ValidateTest, BadTreeFileLineColumnFieldMessage) {
  Write("jobs/a.yaml", Job("a"));
  std::string bad = Write("jobs/bad.yaml", Job("ok") + "---\n" + Job("bad", "  workers: 0\n"));
  std::string syntax = Write("jobs/syntax.yaml", "apiVersion: mlspace.io/v1alpha1\nkind: [\n");
  std::string other =
      Write("jobs/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n");
  EXPECT_EQ(Run({dir_ + "/jobs"}), 1);
  std::string o = out_.str();
  // The invalid document starts at line 11; workers is its 10th line.
  EXPECT_NE(o.find(bad + ":20:3: spec.workers: "), std::string::npos) << o;
  EXPECT_NE(o.find(syntax + ":"), std::string::npos) << o;
  EXPECT_NE(err_.str().find("warning: " + other + ":1:1: ignoring v1 ConfigMap"), std::string::npos)
      << err_.str();
  EXPECT_EQ(summary_.jobs, 2);
  EXPECT_EQ(summary_.invalid, 2);
  EXPECT_EQ(summary_.ignored, 1);
  EXPECT_NE(o.find("validate: 4 files, 2 valid MLSpaceJobs, 2 invalid, 1 ignored, 2 errors"),
            std::string::npos)
      << o;
}

TEST_F(ValidateTest, DuplicateNamesAcrossFiles) {
  std::string a = Write("a.yaml", Job("same"));
  std::string b = Write("b.yaml", Job("same"));
  EXPECT_EQ(Run({a, b}), 1);
  std::string o = out_.str();
  EXPECT_NE(o.find(a + ":1:1: metadata.name: default/same is also declared in " + b + ":1"),
            std::string::npos)
      << o;
  EXPECT_NE(o.find(b + ":1:1: metadata.name: default/same is also declared in " + a + ":1"),
            std::string::npos)
      << o;
  EXPECT_EQ(summary_.jobs, 0);
}

TEST_F(ValidateTest, MissingPathAndEmptyTree) {
  EXPECT_EQ(Run({dir_ + "/nope"}), 1);
  EXPECT_NE(out_.str().find(dir_ + "/nope: no such file or directory"), std::string::npos);
  std::filesystem::create_directories(dir_ + "/empty");
  EXPECT_EQ(Run({dir_ + "/empty"}), 1);
  EXPECT_NE(out_.str().find("no manifests"), std::string::npos) << out_.str();
}

}  // namespace
}  // namespace mlspace::cli
