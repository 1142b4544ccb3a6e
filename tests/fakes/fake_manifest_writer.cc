#include "tests/fakes/fake_manifest_writer.h"

#include <utility>

namespace mlspace::testing {

void FakeManifestWriter::Put(const ObjectKey& key, std::string yaml, std::string path) {
  std::lock_guard<std::mutex> lock(mu_);
  if (path.empty()) path = key.namespace_name + "/" + key.name + ".yaml";
  docs_[key] = Doc{std::move(path), std::move(yaml)};
}

std::optional<std::string> FakeManifestWriter::Yaml(const ObjectKey& key) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = docs_.find(key);
  if (it == docs_.end()) return std::nullopt;
  return it->second.yaml;
}

void FakeManifestWriter::Touch(const ObjectKey& key, std::string yaml) {
  std::lock_guard<std::mutex> lock(mu_);
  docs_[key].yaml = std::move(yaml);
}

void FakeManifestWriter::FailNextWrite(Status s) {
  std::lock_guard<std::mutex> lock(mu_);
  fail_next_ = std::move(s);
}

void FakeManifestWriter::FailFind(Status s) {
  std::lock_guard<std::mutex> lock(mu_);
  fail_find_ = std::move(s);
}

std::vector<api::ManifestWriteRequest> FakeManifestWriter::writes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return writes_;
}

void FakeManifestWriter::OnCommit(std::function<void(const api::ManifestWriteRequest&)> hook) {
  std::lock_guard<std::mutex> lock(mu_);
  on_commit_ = std::move(hook);
}

void FakeManifestWriter::Reset() {
  std::lock_guard<std::mutex> lock(mu_);
  docs_.clear();
  writes_.clear();
}

int FakeManifestWriter::finds() const {
  std::lock_guard<std::mutex> lock(mu_);
  return finds_;
}

Result<api::StoredDocument> FakeManifestWriter::Find(const ObjectKey& key,
                                                     const std::string& /*path_hint*/) {
  std::lock_guard<std::mutex> lock(mu_);
  ++finds_;
  if (!fail_find_.ok()) return fail_find_;
  auto it = docs_.find(key);
  if (it == docs_.end()) return NotFoundError(key.ToString() + ": no document declares it");
  return api::StoredDocument{it->second.path, it->second.yaml, "rev" + std::to_string(commits_)};
}

Result<api::ManifestWriteResult> FakeManifestWriter::Write(const api::ManifestWriteRequest& req) {
  auto out = WriteLocked(req);
  std::function<void(const api::ManifestWriteRequest&)> hook;
  {
    std::lock_guard<std::mutex> lock(mu_);
    hook = on_commit_;
  }
  if (out.ok() && hook) hook(req);
  return out;
}

Result<api::ManifestWriteResult> FakeManifestWriter::WriteLocked(
    const api::ManifestWriteRequest& req) {
  std::lock_guard<std::mutex> lock(mu_);
  writes_.push_back(req);
  if (fail_next_) {
    Status s = std::move(*fail_next_);
    fail_next_.reset();
    return s;
  }
  auto it = docs_.find(req.key);
  if (req.op == api::WriteOp::kCreate && it != docs_.end()) {
    return AlreadyExistsError(req.key.ToString() + " is declared in " + it->second.path);
  }
  if (req.op != api::WriteOp::kCreate && it == docs_.end()) {
    return NotFoundError(req.key.ToString() + ": no document declares it");
  }
  if (req.expected_yaml && (it == docs_.end() || it->second.yaml != *req.expected_yaml)) {
    return AbortedError("the document of " + req.key.ToString() + " changed since it was read");
  }
  api::ManifestWriteResult out;
  out.commit = "c" + std::to_string(++commits_);
  switch (req.op) {
    case api::WriteOp::kCreate:
      out.path = req.key.namespace_name + "/" + req.key.name + ".yaml";
      docs_[req.key] = Doc{out.path, req.yaml};
      break;
    case api::WriteOp::kUpdate:
      out.path = it->second.path;
      it->second.yaml = req.yaml;
      break;
    case api::WriteOp::kDelete:
      out.path = it->second.path;
      out.file_removed = true;
      docs_.erase(it);
      break;
  }
  return out;
}

}  // namespace mlspace::testing
