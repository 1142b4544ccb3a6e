#include "controller/reconciler/desired_state.h"

#include <algorithm>
#include <cstdio>

namespace mlspace::reconciler {
namespace {

std::optional<ObjectKey> KeyOf(const api::ManifestDocument& d) {
  if (d.kind == api::ManifestDocument::Kind::kJob) return d.job->key();
  if (d.kind == api::ManifestDocument::Kind::kInvalid) return d.key;
  return std::nullopt;
}

InvalidManifest DuplicateName(const ObjectKey& key, const std::vector<std::string_view>& files) {
  std::string joined;
  for (std::string_view f : files) {
    if (!joined.empty()) joined += ", ";
    joined += f;
  }
  return InvalidManifest{"DuplicateName",
                         key.ToString() + " is declared by more than one file: " + joined,
                         std::string(files.front()), ""};
}

}  // namespace

bool SameDesired(const DesiredObject& a, const DesiredObject& b) {
  if (&a == &b) return true;
  if (a.job.has_value() != b.job.has_value()) return false;
  if (a.job) {
    return a.job->spec_hash == b.job->spec_hash && a.job->spec == b.job->spec &&
           a.job->metadata == b.job->metadata && a.job->source_path == b.job->source_path;
  }
  return a.invalid->reason == b.invalid->reason && a.invalid->message == b.invalid->message &&
         a.invalid->file == b.invalid->file;
}

PruneVerdict ComputePruneVerdict(bool source_ok, size_t new_count, size_t previous_count,
                                 size_t removed_count, double max_fraction) {
  PruneVerdict v;
  if (!source_ok) {
    v.allowed = false;
    v.reason = "SourceReadFailed";
    v.message = "prune refused: the manifest source could not be read";
    return v;
  }
  if (new_count == 0 && previous_count > 0) {
    v.allowed = false;
    v.reason = "EmptyRevision";
    v.message = "prune refused: the new revision has no manifests but the previous had " +
                std::to_string(previous_count);
    return v;
  }
  if (previous_count > 0 && removed_count > 0) {
    double fraction = static_cast<double>(removed_count) / static_cast<double>(previous_count);
    if (fraction > max_fraction) {
      char buf[160];
      std::snprintf(buf, sizeof buf,
                    "prune refused: %zu of %zu objects removed at once (%.0f%% > "
                    "--prune-max-fraction %.0f%%)",
                    removed_count, previous_count, fraction * 100, max_fraction * 100);
      v.allowed = false;
      v.reason = "TooManyRemovals";
      v.message = buf;
    }
  }
  return v;
}

std::map<ObjectKey, DesiredObjectPtr> BuildDesiredObjects(const std::vector<ParsedObject>& parsed) {
  std::map<ObjectKey, std::vector<const ParsedObject*>> by_key;
  for (const auto& p : parsed) by_key[p.key].push_back(&p);
  std::map<ObjectKey, DesiredObjectPtr> out;
  for (const auto& [key, list] : by_key) {
    auto d = std::make_shared<DesiredObject>();
    if (list.size() > 1) {
      std::vector<std::string_view> files;
      for (const ParsedObject* p : list) files.push_back(p->file);
      d->invalid = DuplicateName(key, files);
    } else if (list.front()->job) {
      d->job = list.front()->job;
    } else {
      d->invalid = list.front()->invalid.value_or(
          InvalidManifest{"InvalidSpec", "invalid manifest", list.front()->file, ""});
    }
    out.emplace(key, std::move(d));
  }
  return out;
}

// --- LiveRecords --------------------------------------------------------------

uint64_t LiveRecords::write_count() const {
  std::lock_guard lock(mu_);
  return writes_;
}

bool LiveRecords::seeded() const {
  std::lock_guard lock(mu_);
  return seeded_;
}

size_t LiveRecords::size() const {
  std::lock_guard lock(mu_);
  return records_.size();
}

bool LiveRecords::InDesiredLocked(const ObjectKey& key) const {
  return desired_ != nullptr && desired_->Find(key) != nullptr;
}

bool LiveRecords::Reseed(const std::vector<store::ObjectRecord>& records, uint64_t write_count) {
  std::map<ObjectKey, std::string> live;
  for (const auto& r : records) {
    if (r.status.phase != api::Phase::kRemoved) live.emplace_hint(live.end(), r.key, r.source_path);
  }
  std::lock_guard lock(mu_);
  if (write_count != writes_) return false;
  records_ = std::move(live);
  orphans_.clear();
  for (const auto& [k, path] : records_) {
    if (!InDesiredLocked(k)) orphans_.emplace_hint(orphans_.end(), k, path);
  }
  seeded_ = true;
  return true;
}

void LiveRecords::Apply(const store::WriteBatch& batch) {
  std::lock_guard lock(mu_);
  ++writes_;
  for (const auto& k : batch.deletes) {
    records_.erase(k);
    orphans_.erase(k);
  }
  for (const auto& r : batch.upserts) {
    if (r.status.phase == api::Phase::kRemoved) {
      records_.erase(r.key);
      orphans_.erase(r.key);
      continue;
    }
    records_[r.key] = r.source_path;
    if (!InDesiredLocked(r.key)) orphans_[r.key] = r.source_path;
  }
}

void LiveRecords::SetDesired(std::shared_ptr<const DesiredState> desired,
                             const std::vector<ObjectKey>& touched) {
  std::lock_guard lock(mu_);
  desired_ = std::move(desired);
  for (const auto& k : touched) {
    if (InDesiredLocked(k)) {
      orphans_.erase(k);
    } else if (auto r = records_.find(k); r != records_.end()) {
      orphans_[k] = r->second;
    }
  }
}

std::map<ObjectKey, std::string> LiveRecords::Orphans() const {
  std::lock_guard lock(mu_);
  return orphans_;
}

// --- DesiredStateBuilder ------------------------------------------------------

void DesiredStateBuilder::Remove(const std::string& path, const api::ParseResult& r,
                                 std::set<ObjectKey>& touched) {
  for (const auto& d : r.documents) {
    switch (d.kind) {
      case api::ManifestDocument::Kind::kJob:
        --job_documents_;
        break;
      case api::ManifestDocument::Kind::kInvalid:
        --invalid_documents_;
        break;
      case api::ManifestDocument::Kind::kIgnored:
        --ignored_documents_;
        break;
    }
    auto key = KeyOf(d);
    if (!key) continue;
    touched.insert(*key);
    auto it = occurrences_.find(*key);
    if (it == occurrences_.end()) continue;
    auto& v = it->second;
    v.erase(std::remove_if(v.begin(), v.end(), [&](const Occurrence& o) { return o.doc == &d; }),
            v.end());
    if (v.empty()) occurrences_.erase(it);
  }
  keyless_.erase(path);
  first_invalid_.erase(path);
}

void DesiredStateBuilder::Add(const api::ParseResult& r, std::set<ObjectKey>& touched,
                              Output& out) {
  auto before = [](const Occurrence& a, const Occurrence& b) {
    if (a.file->path != b.file->path) return a.file->path < b.file->path;
    return a.doc < b.doc;  // same file: document order
  };
  size_t invalid_here = 0;
  for (const auto& d : r.documents) {
    if (d.kind == api::ManifestDocument::Kind::kIgnored) {
      ++ignored_documents_;
      out.warnings.push_back(d.warning);
      continue;
    }
    if (d.kind == api::ManifestDocument::Kind::kJob) {
      ++job_documents_;
    } else {
      ++invalid_documents_;
      ++invalid_here;
      first_invalid_.try_emplace(r.path, &d);
    }
    auto key = KeyOf(d);
    if (!key) {
      keyless_.try_emplace(r.path, &d);
      continue;
    }
    touched.insert(*key);
    auto& v = occurrences_[*key];
    Occurrence o{&r, &d};
    v.insert(std::upper_bound(v.begin(), v.end(), o, before), o);
  }
  if (invalid_here > 0) {
    const api::ManifestDocument& first = *first_invalid_.at(r.path);
    std::string line = first.errors.empty() ? r.path + ": invalid manifest" : first.errors.front();
    size_t more = first.errors.size() > 0 ? first.errors.size() - 1 : 0;
    for (const auto& d : r.documents) {
      if (&d != &first && d.kind == api::ManifestDocument::Kind::kInvalid) {
        more += d.errors.size();
      }
    }
    if (more > 0) line += " (and " + std::to_string(more) + " more errors in this file)";
    out.errors.push_back(std::move(line));
  }
}

void DesiredStateBuilder::Summarize(DesiredState& state) const {
  // Copies of a duplicated name count as invalid whatever they hold.
  size_t duplicated_jobs = 0;
  std::map<std::string, api::InvalidSourceFile, std::less<>> files;
  for (const auto& [path, doc] : first_invalid_) {
    files.emplace(path, api::InvalidSourceFile{path, doc->reason,
                                               doc->errors.empty() ? path + ": invalid manifest"
                                                                   : doc->errors.front()});
  }
  for (const auto& key : duplicates_) {
    auto it = occurrences_.find(key);
    if (it == occurrences_.end()) continue;
    std::vector<std::string_view> paths;
    for (const auto& o : it->second) {
      if (o.doc->kind == api::ManifestDocument::Kind::kJob) ++duplicated_jobs;
      paths.push_back(o.file->path);
    }
    for (const auto& o : it->second) {
      if (files.count(o.file->path)) continue;
      std::string where = o.file->path;
      if (o.doc->line > 0) where += ":" + std::to_string(o.doc->line);
      files.emplace(o.file->path,
                    api::InvalidSourceFile{o.file->path, api::kReasonDuplicateName,
                                           where + ": " + DuplicateName(key, paths).message});
    }
  }
  state.valid_documents = job_documents_ - duplicated_jobs;
  state.invalid_documents = invalid_documents_ + duplicated_jobs;
  state.ignored_documents = ignored_documents_;
  state.files = files_.size();
  state.invalid_files_total = files.size();
  state.invalid_files.clear();
  for (auto& [path, f] : files) {
    if (state.invalid_files.size() >= api::SourceStatus::kMaxListedInvalidFiles) break;
    state.invalid_files.push_back(std::move(f));
  }
}

DesiredObjectPtr DesiredStateBuilder::Compute(
    const ObjectKey& key, const std::map<ObjectKey, std::string>& orphans) const {
  if (auto it = occurrences_.find(key); it != occurrences_.end() && !it->second.empty()) {
    const auto& v = it->second;
    auto d = std::make_shared<DesiredObject>();
    if (v.size() > 1) {
      std::vector<std::string_view> files;
      files.reserve(v.size());
      for (const auto& o : v) files.push_back(o.file->path);
      d->invalid = DuplicateName(key, files);
    } else if (v.front().doc->kind == api::ManifestDocument::Kind::kJob) {
      const auto& doc = *v.front().doc;
      if (Status c = check_ ? check_(doc.job->spec) : OkStatus(); !c.ok()) {
        d->invalid = InvalidManifest{"InvalidSpec", v.front().file->path + ": " + c.message(),
                                     v.front().file->path,
                                     doc.readable_spec.is_object() ? doc.readable_spec.dump() : ""};
      } else {
        d->job = *doc.job;
      }
    } else {
      const auto& doc = *v.front().doc;
      d->invalid = InvalidManifest{doc.reason, doc.Message(), v.front().file->path,
                                   doc.readable_spec.is_object() ? doc.readable_spec.dump() : ""};
    }
    return d;
  }
  // Declared nowhere. If the file it was live from no longer parses at all,
  // it is Invalid, not removed: a typo must never cancel a job.
  std::string live_file;
  if (const DesiredObject* p = last_ ? last_->Find(key) : nullptr) {
    live_file = p->file();
  } else if (auto o = orphans.find(key); o != orphans.end()) {
    live_file = o->second;
  }
  if (live_file.empty()) return nullptr;
  auto kl = keyless_.find(live_file);
  if (kl == keyless_.end()) return nullptr;
  auto d = std::make_shared<DesiredObject>();
  d->invalid = InvalidManifest{kl->second->reason, kl->second->Message(), live_file, ""};
  return d;
}

void ApiRemovals::Add(const ObjectKey& key, const std::string& commit) {
  std::lock_guard lock(mu_);
  entries_[key] = Entry{commit, ++next_};
}

bool ApiRemovals::Contains(const ObjectKey& key) const {
  std::lock_guard lock(mu_);
  return entries_.count(key) > 0;
}

uint64_t ApiRemovals::sequence() const {
  std::lock_guard lock(mu_);
  return next_;
}

std::set<ObjectKey> ApiRemovals::Keys() const {
  std::lock_guard lock(mu_);
  std::set<ObjectKey> keys;
  for (const auto& [k, e] : entries_) keys.insert(k);
  return keys;
}

void ApiRemovals::ForgetIfNotedBy(const ObjectKey& key, uint64_t sequence) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it != entries_.end() && it->second.sequence <= sequence) entries_.erase(it);
}

size_t ApiRemovals::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

Result<DesiredStateBuilder::Output> DesiredStateBuilder::Build(
    const std::string& revision, const std::vector<FileRef>& files, const Reader& reader,
    const std::map<ObjectKey, std::string>& orphans, const std::set<ObjectKey>& api_removed) {
  // 1. Which paths changed: a merge of the sorted listing with files_.
  std::vector<const FileRef*> sorted;
  sorted.reserve(files.size());
  for (const auto& f : files) sorted.push_back(&f);
  auto by_path = [](const FileRef* a, const FileRef* b) { return a->path < b->path; };
  if (!std::is_sorted(sorted.begin(), sorted.end(), by_path)) {
    std::sort(sorted.begin(), sorted.end(), by_path);
  }
  struct Change {
    std::string path;
    const File* old = nullptr;     // null: added
    const FileRef* now = nullptr;  // null: deleted
    std::shared_ptr<const api::ParseResult> parsed;
  };
  std::vector<Change> changes;
  auto it = files_.begin();
  for (const FileRef* f : sorted) {
    for (; it != files_.end() && std::string_view{it->first} < f->path; ++it) {
      changes.push_back({it->first, &it->second, nullptr, nullptr});
    }
    if (it != files_.end() && it->first == f->path) {
      if (it->second.blob_id != f->blob_id) changes.push_back({it->first, &it->second, f, nullptr});
      ++it;
    } else {
      changes.push_back({std::string(f->path), nullptr, f, nullptr});
    }
  }
  for (; it != files_.end(); ++it) changes.push_back({it->first, &it->second, nullptr, nullptr});

  // 2. Read and parse them all before touching anything.
  size_t parsed = 0;
  for (auto& c : changes) {
    if (c.now == nullptr) continue;
    auto content = reader(std::string(c.now->blob_id));
    if (!content.ok()) return content.status().WithContext("read " + c.path);
    c.parsed = std::make_shared<const api::ParseResult>(api::ParseManifestFile(c.path, *content));
    ++parsed;
  }

  // 3. Swap the changed files' documents in the indexes.
  Output out;
  std::set<ObjectKey> touched;
  for (auto& c : changes) {
    // Objects attached to this file (declared there, or Invalid because it
    // stopped parsing) are recomputed whatever it holds now.
    if (auto bf = by_file_.find(c.path); bf != by_file_.end()) {
      touched.insert(bf->second.begin(), bf->second.end());
    }
    if (c.old != nullptr) Remove(c.path, *c.old->result, touched);
    if (c.parsed) {
      Add(*c.parsed, touched, out);
      files_[c.path] = File{std::string(c.now->blob_id), c.parsed};
    } else {
      files_.erase(c.path);
    }
  }
  // Orphans are recomputed every time: their record's file may have changed
  // since, and each one still missing counts as live.
  for (const auto& [k, path] : orphans) touched.insert(k);

  // 4. Recompute the touched keys; everything else is shared.
  auto next = std::make_shared<DesiredState>();
  next->revision = revision;
  next->source_ok = true;
  if (last_) next->objects = last_->objects;
  size_t previous = last_ ? last_->objects.size() : 0;
  for (const auto& [k, path] : orphans) {
    if (!last_ || !last_->Find(k)) ++previous;
  }
  size_t removed = 0;
  size_t by_api = 0;
  for (const auto& k : touched) {
    auto occ = occurrences_.find(k);
    bool duplicate = occ != occurrences_.end() && occ->second.size() > 1;
    bool was_duplicate = duplicates_.count(k) > 0;
    if (duplicate) {
      duplicates_.insert(k);
    } else {
      duplicates_.erase(k);
    }
    DesiredObjectPtr now = Compute(k, orphans);
    if (duplicate && !was_duplicate && now && now->invalid)
      out.errors.push_back(now->invalid->message);
    const DesiredObject* before = last_ ? last_->Find(k) : nullptr;
    if (!now) {
      if (before || orphans.count(k)) {
        out.gone.push_back(k);
        ++removed;
        if (api_removed.count(k)) ++by_api;
      }
      if (before) {
        next->objects.erase(k);
        if (auto bf = by_file_.find(before->file()); bf != by_file_.end()) {
          bf->second.erase(k);
          if (bf->second.empty()) by_file_.erase(bf);
        }
      }
      continue;
    }
    if (before && SameDesired(*before, *now)) continue;  // keep the shared one
    if (before) {
      if (auto bf = by_file_.find(before->file()); bf != by_file_.end()) {
        bf->second.erase(k);
        if (bf->second.empty()) by_file_.erase(bf);
      }
    }
    by_file_[now->file()].insert(k);
    next->objects[k] = std::move(now);
    out.changed.push_back(k);
  }
  next->previous_count = previous;
  next->removed_count = removed;
  next->api_removed_count = by_api;
  // The controller's own API deletes are intentional: judged without them,
  // deleting the last manifest through the API is not an EmptyRevision,
  // while removals by other commits in the same revision still are.
  next->prune = ComputePruneVerdict(true, next->objects.size(), previous - by_api, removed - by_api,
                                    max_fraction_);
  Summarize(*next);
  out.keys_recomputed = touched.size();
  out.files_parsed = parsed;
  parse_count_ += parsed;
  last_ = next;
  out.state = std::move(next);
  return out;
}

}  // namespace mlspace::reconciler
