#pragma once

// Helpers shared by the SQLite store tests: a temporary state directory and
// a raw SQLite connection (for building old-schema files and injecting
// faults the store's API cannot express).

#include <Poco/Data/SQLite/Connector.h>
#include <Poco/Data/Session.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "controller/store/state_store.h"

namespace mlspace::testing {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "mlspace-store-XXXXXX").string();
    char* made = ::mkdtemp(tmpl.data());
    EXPECT_NE(made, nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline std::unique_ptr<Poco::Data::Session> RawSession(const std::string& db_path) {
  Poco::Data::SQLite::Connector::registerConnector();
  return std::make_unique<Poco::Data::Session>("SQLite", db_path);
}

// The whole file, or "" if it cannot be opened.
inline std::string ReadFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string out;
  char buf[65536];
  while (in.read(buf, sizeof(buf)) || in.gcount() > 0) {
    out.append(buf, static_cast<size_t>(in.gcount()));
  }
  return out;
}

inline TimePoint NsTime(int64_t ns) {
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(std::chrono::nanoseconds(ns)));
}

inline store::ObjectRecord SimpleRecord(const std::string& name,
                                        const std::string& ns = "default") {
  store::ObjectRecord r;
  r.key = ObjectKey{ns, name};
  r.spec_hash = "0123456789abcdef-" + name;
  r.generation = 1;
  r.spec_json = R"({"region":"SR006"})";
  r.region = "SR006";
  r.created_at = NsTime(1'700'000'000'000'000'000);
  return r;
}

inline store::SubmitIntent SimpleIntent(const std::string& name, int attempt, TimePoint created,
                                        const std::string& ns = "default") {
  store::SubmitIntent i;
  i.key = ObjectKey{ns, name};
  i.spec_hash = "0123456789abcdef";
  i.marker = "mlsj:" + ns + "/" + name + "/01234567/" + std::to_string(attempt);
  i.attempt = attempt;
  i.region = "SR006";
  i.created_at = created;
  i.updated_at = created;
  return i;
}

inline store::Event SimpleEvent(const std::string& name, const std::string& reason,
                                const std::string& ns = "default") {
  store::Event e;
  e.key = ObjectKey{ns, name};
  e.time = NsTime(1'700'000'000'123'456'789);
  e.reason = reason;
  e.message = "message for " + reason;
  return e;
}

}  // namespace mlspace::testing
