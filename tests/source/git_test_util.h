#pragma once

// Real git repositories for source tests, driven by the git CLI with a
// hermetic environment (no user or system config).

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

namespace mlspace::source::testing {

namespace fs = std::filesystem;

inline void HermeticGitEnv() {
  setenv("GIT_CONFIG_GLOBAL", "/dev/null", 1);
  setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
  setenv("GIT_AUTHOR_NAME", "Test", 1);
  setenv("GIT_AUTHOR_EMAIL", "test@example.com", 1);
  setenv("GIT_COMMITTER_NAME", "Test", 1);
  setenv("GIT_COMMITTER_EMAIL", "test@example.com", 1);
}

// Runs `cmd` through the shell in `dir`; returns stdout (trailing newline
// trimmed). A failing command fails the test.
inline std::string Sh(const fs::path& dir, const std::string& cmd) {
  std::string full = "cd '" + dir.string() + "' && " + cmd + " 2>&1";
  std::unique_ptr<FILE, int (*)(FILE*)> p(popen(full.c_str(), "r"), pclose);
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p.get())) > 0) out.append(buf.data(), n);
  int rc = pclose(p.release());
  EXPECT_EQ(rc, 0) << "command failed: " << cmd << "\n" << out;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

inline void WriteFile(const fs::path& p, const std::string& content) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << content;
}

// A fresh temp directory removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "mlspace-src-XXXXXX").string();
    char* d = mkdtemp(tmpl.data());
    EXPECT_NE(d, nullptr);
    path_ = fs::canonical(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// git init in `dir` with branch main.
inline void GitInit(const fs::path& dir) {
  fs::create_directories(dir);
  Sh(dir, "git init -q -b main .");
}

inline std::string CommitAll(const fs::path& dir, const std::string& msg) {
  Sh(dir, "git add -A && git commit -q --allow-empty -m '" + msg + "'");
  return Sh(dir, "git rev-parse HEAD");
}

}  // namespace mlspace::source::testing
