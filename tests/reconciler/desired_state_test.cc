// DesiredStateBuilder (incremental: only changed files parsed, only touched
// keys recomputed, unchanged objects shared) checked against the full
// rebuild it replaced, and LiveRecords' bookkeeping of the prune guards'
// live set.

#include "controller/reconciler/desired_state.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>

namespace mlspace::reconciler {
namespace {

std::string Job(const std::string& name, const std::string& cmd = "echo hi") {
  return "apiVersion: mlspace.io/v1alpha1\nkind: MLSpaceJob\nmetadata:\n  name: " + name +
         "\nspec:\n  region: SR006\n  image: cr.ai.cloud.ru/base/py3.11:1\n"
         "  instanceType: cpu.2C.8G\n  command: [/bin/sh, -c, \"" +
         cmd + "\"]\n";
}

// Files by path; blob id = content (equal ids, equal bytes).
using Files = std::map<std::string, std::string>;

std::vector<DesiredStateBuilder::FileRef> Refs(const Files& files) {
  std::vector<DesiredStateBuilder::FileRef> out;
  for (const auto& [p, c] : files) out.push_back({p, c});
  return out;
}

struct CountingReader {
  int reads = 0;
  Result<std::string> operator()(const std::string& blob) {
    ++reads;
    return blob;
  }
};

// The full rebuild the Controller did before the builder existed: parse
// (cached per blob) and assemble every file, attach objects of unparseable
// files through the live set, build the map, count removals.
struct Reference {
  api::ManifestCache cache;

  struct Out {
    std::map<ObjectKey, DesiredObjectPtr> objects;
    size_t previous = 0, removed = 0;
    std::set<ObjectKey> gone;
    // Assemble's view of the documents: every invalid or duplicated copy.
    size_t valid = 0, invalid = 0, ignored = 0;
    std::set<std::string> invalid_files;
  };

  Out Build(const Files& files, const std::map<ObjectKey, DesiredObjectPtr>* prev,
            const std::map<ObjectKey, std::string>& records) {
    std::vector<api::ManifestFile> list;
    for (const auto& [p, c] : files) list.push_back({p, c});
    auto set = cache.Update(list, [](const std::string& b) -> Result<std::string> { return b; });
    EXPECT_TRUE(set.ok());
    std::map<ObjectKey, std::string> live = records;
    if (prev) {
      for (const auto& [k, d] : *prev) live[k] = d->file();
    }
    Out out;
    out.valid = set->jobs.size();
    out.invalid = set->invalid.size();
    out.ignored = set->warnings.size();
    for (const auto& inv : set->invalid) out.invalid_files.insert(inv.source_path);
    std::vector<ParsedObject> parsed;
    std::set<ObjectKey> present;
    for (const auto& job : set->jobs) {
      parsed.push_back({job.key(), job.source_path, job, std::nullopt});
      present.insert(job.key());
    }
    for (const auto& inv : set->invalid) {
      if (inv.key) {
        parsed.push_back({*inv.key, inv.source_path, std::nullopt,
                          InvalidManifest{inv.reason, inv.message, inv.source_path, ""}});
        present.insert(*inv.key);
      }
    }
    for (const auto& inv : set->invalid) {
      if (inv.key) continue;
      for (const auto& [k, file] : live) {
        if (file == inv.source_path && !present.count(k)) {
          parsed.push_back({k, inv.source_path, std::nullopt,
                            InvalidManifest{inv.reason, inv.message, inv.source_path, ""}});
          present.insert(k);
        }
      }
    }
    out.objects = BuildDesiredObjects(parsed);
    out.previous = live.size();
    for (const auto& [k, f] : live) {
      if (!out.objects.count(k)) out.gone.insert(k);
    }
    out.removed = out.gone.size();
    return out;
  }
};

std::string Describe(const DesiredObject& d) {
  if (d.job) return "job " + d.job->source_path + " " + d.job->spec_hash;
  return "invalid " + d.invalid->reason + " [" + d.invalid->file + "] " + d.invalid->message;
}

// Random revisions over a small name pool (duplicates, renames, multi-document
// files, broken YAML, invalid specs with and without a readable name, other
// kinds), with random store records: the builder must equal the full rebuild
// at every step.
TEST(DesiredStateBuilderTest, IncrementalEqualsFullRebuildOnRandomRevisions) {
  const std::vector<std::string> names = {"a", "b", "c", "d", "e", "f"};
  for (unsigned seed = 1; seed <= 12; ++seed) {
    std::mt19937 rng(seed);
    auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
    auto content = [&]() -> std::string {
      const std::string n = names[pick(names.size())];
      switch (pick(8)) {
        case 0:
          return "apiVersion: [unclosed\n  : :";  // no key: whole file invalid
        case 1:
          return Job(n) + "---\n" + Job(names[pick(names.size())], "echo 2");
        case 2:  // readable name, invalid spec
          return "apiVersion: mlspace.io/v1alpha1\nkind: MLSpaceJob\nmetadata:\n  name: " + n +
                 "\nspec:\n  region: SR006\n";
        case 3:  // unreadable name
          return "apiVersion: mlspace.io/v1alpha1\nkind: MLSpaceJob\nmetadata:\n  name: Bad_Name\n"
                 "spec:\n  region: SR006\n";
        case 4:
          return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + n + "\n";
        default:
          return Job(n, "echo " + std::to_string(pick(3)));
      }
    };
    Files files;
    for (int i = 0; i < 5; ++i) files["f" + std::to_string(i) + ".yaml"] = content();
    DesiredStateBuilder builder(0.5);
    Reference ref;
    std::map<ObjectKey, std::string> records;  // live store records
    for (int step = 0; step < 25; ++step) {
      SCOPED_TRACE("seed " + std::to_string(seed) + " step " + std::to_string(step));
      std::map<ObjectKey, std::string> orphans;
      for (const auto& [k, p] : records) {
        if (!builder.last() || !builder.last()->Find(k)) orphans[k] = p;
      }
      auto prev = builder.last();
      auto want = ref.Build(files, prev ? &prev->objects : nullptr, records);
      CountingReader reader;
      auto got =
          builder.Build("rev" + std::to_string(step), Refs(files), std::ref(reader), orphans);
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      const DesiredState& s = *got->state;
      ASSERT_EQ(s.objects.size(), want.objects.size());
      for (const auto& [k, d] : want.objects) {
        const DesiredObject* g = s.Find(k);
        ASSERT_NE(g, nullptr) << k.ToString();
        EXPECT_TRUE(SameDesired(*g, *d))
            << k.ToString() << "\n got  " << Describe(*g) << "\n want " << Describe(*d);
      }
      EXPECT_EQ(s.previous_count, want.previous);
      EXPECT_EQ(s.removed_count, want.removed);
      EXPECT_EQ(std::set<ObjectKey>(got->gone.begin(), got->gone.end()), want.gone);
      // The incrementally kept counts and invalid files equal a full assembly.
      EXPECT_EQ(s.valid_documents, want.valid);
      EXPECT_EQ(s.invalid_documents, want.invalid);
      EXPECT_EQ(s.ignored_documents, want.ignored);
      EXPECT_EQ(s.files, files.size());
      std::set<std::string> invalid_files;
      for (const auto& f : s.invalid_files) invalid_files.insert(f.path);
      EXPECT_EQ(invalid_files, want.invalid_files);
      EXPECT_EQ(s.invalid_files_total, want.invalid_files.size());
      // Exactly the keys whose object differs are reported changed.
      std::set<ObjectKey> changed(got->changed.begin(), got->changed.end());
      for (const auto& [k, d] : s.objects) {
        const DesiredObject* before = prev ? prev->Find(k) : nullptr;
        EXPECT_EQ(changed.count(k) == 1, before == nullptr || !SameDesired(*before, *d))
            << k.ToString();
        if (!changed.count(k)) {
          EXPECT_EQ(before, d.get()) << "unchanged objects are shared";
        }
      }

      // Next revision: 1-2 file edits, adds, deletes or renames...
      for (int e = 0, n = 1 + static_cast<int>(pick(2)); e < n; ++e) {
        auto it = files.begin();
        std::advance(it, pick(files.size()));
        switch (pick(4)) {
          case 0:
            files["f" + std::to_string(pick(9)) + ".yaml"] = content();
            break;
          case 1:
            if (files.size() > 1) files.erase(it);
            break;
          case 2: {
            std::string c = it->second;
            files.erase(it);
            files["r" + std::to_string(pick(9)) + ".yaml"] = c;
            break;
          }
          default:
            it->second = content();
        }
      }
      // ...and the store's records move (reconciles, removals, restarts).
      records.clear();
      for (const auto& [k, d] : s.objects) {
        if (pick(4) != 0) records[k] = d->file();
      }
      if (pick(3) == 0) {
        records[ObjectKey{"default", names[pick(names.size())]}] =
            "f" + std::to_string(pick(9)) + ".yaml";
      }
    }
  }
}

TEST(DesiredStateBuilderTest, OneChangedFileParsesOneBlobAndRecomputesOneKey) {
  Files files;
  for (int i = 0; i < 200; ++i) {
    files["jobs/" + std::to_string(i) + ".yaml"] = Job("job-" + std::to_string(i));
  }
  DesiredStateBuilder builder(0.5);
  CountingReader r1;
  auto first = builder.Build("rev1", Refs(files), std::ref(r1), {});
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(r1.reads, 200);
  EXPECT_EQ(first->changed.size(), 200u);
  auto base = first->state;

  files["jobs/7.yaml"] = Job("job-7", "echo changed");
  CountingReader r2;
  auto second = builder.Build("rev2", Refs(files), std::ref(r2), {});
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(r2.reads, 1);
  EXPECT_EQ(second->files_parsed, 1u);
  EXPECT_EQ(second->keys_recomputed, 1u);
  EXPECT_EQ(second->changed, std::vector<ObjectKey>{(ObjectKey{"default", "job-7"})});
  EXPECT_TRUE(second->gone.empty());
  const auto& objs = second->state->objects;
  ASSERT_EQ(objs.size(), 200u);
  for (const auto& [k, d] : objs) {
    if (k.name == "job-7") {
      EXPECT_NE(d, base->objects.at(k));
      EXPECT_EQ(d->job->spec.command.back(), "echo changed");
    } else {
      EXPECT_EQ(d, base->objects.at(k)) << k.ToString() << " must be shared, not copied";
    }
  }

  // A revision whose manifests did not change reads nothing and shares all.
  CountingReader r3;
  auto third = builder.Build("rev3", Refs(files), std::ref(r3), {});
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(r3.reads, 0);
  EXPECT_TRUE(third->changed.empty());
  EXPECT_EQ(third->state->revision, "rev3");
  EXPECT_EQ(third->state->objects.at(ObjectKey{"default", "job-7"}),
            objs.at(ObjectKey{"default", "job-7"}));
}

TEST(DesiredStateBuilderTest, ReaderErrorLeavesTheBuilderUnchanged) {
  Files files = {{"a.yaml", Job("a")}, {"b.yaml", Job("b")}};
  DesiredStateBuilder builder(0.5);
  CountingReader r;
  ASSERT_TRUE(builder.Build("rev1", Refs(files), std::ref(r), {}).ok());
  auto base = builder.last();
  files["a.yaml"] = Job("a", "echo 2");
  files.erase("b.yaml");
  auto failed = builder.Build(
      "rev2", Refs(files),
      [](const std::string&) -> Result<std::string> { return UnavailableError("git: gone"); }, {});
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.status().message().find("a.yaml"), std::string::npos);
  EXPECT_EQ(builder.last(), base);
  // The next good read sees the whole difference to the last good state.
  auto ok = builder.Build("rev2", Refs(files), std::ref(r), {});
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->changed, std::vector<ObjectKey>{(ObjectKey{"default", "a"})});
  EXPECT_EQ(ok->gone, std::vector<ObjectKey>{(ObjectKey{"default", "b"})});
  EXPECT_EQ(ok->state->previous_count, 2u);
  EXPECT_EQ(ok->state->removed_count, 1u);
}

TEST(DesiredStateBuilderTest, OrphanRecordsCountAsLiveAndFollowTheirBrokenFile) {
  DesiredStateBuilder builder(0.5);
  CountingReader r;
  // After a restart: records for a, b, c; only c's file is committed, and
  // a's file no longer parses.
  std::map<ObjectKey, std::string> orphans = {{ObjectKey{"default", "a"}, "a.yaml"},
                                              {ObjectKey{"default", "b"}, "b.yaml"},
                                              {ObjectKey{"default", "c"}, "c.yaml"}};
  Files files = {{"a.yaml", "apiVersion: [unclosed\n  : :"}, {"c.yaml", Job("c")}};
  auto out = builder.Build("rev1", Refs(files), std::ref(r), orphans);
  ASSERT_TRUE(out.ok());
  const auto& s = *out->state;
  ASSERT_NE(s.Find(ObjectKey{"default", "a"}), nullptr) << "a broken file is not a removal";
  EXPECT_EQ(s.Find(ObjectKey{"default", "a"})->invalid->reason, "ParseError");
  EXPECT_EQ(s.Find(ObjectKey{"default", "b"}), nullptr);
  EXPECT_EQ(out->gone, std::vector<ObjectKey>{(ObjectKey{"default", "b"})});
  EXPECT_EQ(s.previous_count, 3u);
  EXPECT_EQ(s.removed_count, 1u);
}

// The case: a NEW file that does not parse, an alias bomb and a
// kustomization beside valid manifests. Nothing live declared them, so no
// object is Invalid; they must still be reported and counted.
TEST(DesiredStateBuilderTest, NewBrokenFilesAreReportedCountedAndListed) {
  std::string bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 9; ++i) {
    bomb += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int k = 0; k < 9; ++k) bomb += (k ? ", *a" : "*a") + std::to_string(i - 1);
    bomb += "]\n";
  }
  Files files = {{"a.yaml", Job("a")}, {"b.yaml", Job("b")}};
  DesiredStateBuilder builder(0.5);
  CountingReader r;
  auto first = builder.Build("rev1", Refs(files), std::ref(r), {});
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(first->errors.empty());
  EXPECT_TRUE(first->state->invalid_files.empty());
  EXPECT_EQ(first->state->valid_documents, 2u);

  files["broken.yaml"] = Job("broken") + "  env: [unclosed\n";
  files["bomb.yaml"] = bomb;
  files["kustomization.yaml"] =
      "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [a.yaml]\n";
  files["values.yml"] = "replicas: 3\n";
  auto second = builder.Build("rev2", Refs(files), std::ref(r), {});
  ASSERT_TRUE(second.ok());
  const DesiredState& s = *second->state;
  EXPECT_EQ(s.objects.size(), 2u) << "the valid manifests are still there";
  EXPECT_EQ(s.valid_documents, 2u);
  EXPECT_EQ(s.invalid_documents, 2u);
  EXPECT_EQ(s.ignored_documents, 2u);
  EXPECT_EQ(s.files, 6u);
  ASSERT_EQ(s.invalid_files.size(), 2u);
  EXPECT_EQ(s.invalid_files_total, 2u);
  EXPECT_EQ(s.invalid_files[0].path, "bomb.yaml");
  EXPECT_EQ(s.invalid_files[0].reason, "ParseError");
  EXPECT_THAT(s.invalid_files[0].message,
              ::testing::MatchesRegex("bomb\\.yaml:[0-9]+:[0-9]+: .*nodes.*"));
  EXPECT_EQ(s.invalid_files[1].path, "broken.yaml");
  EXPECT_THAT(s.invalid_files[1].message,
              ::testing::MatchesRegex("broken\\.yaml:1[01]:[0-9]+: .+"));
  // One line per broken file, with file:line:col; the ignored documents
  // are reported separately.
  ASSERT_EQ(second->errors.size(), 2u);
  EXPECT_EQ(second->errors[0], s.invalid_files[0].message);
  EXPECT_EQ(second->errors[1], s.invalid_files[1].message);
  EXPECT_EQ(second->warnings.size(), 2u);

  // Unchanged files are not reported again; fixing one drops it from the list.
  files["broken.yaml"] = Job("broken");
  auto third = builder.Build("rev3", Refs(files), std::ref(r), {});
  ASSERT_TRUE(third.ok());
  EXPECT_TRUE(third->errors.empty());
  EXPECT_EQ(third->state->valid_documents, 3u);
  EXPECT_EQ(third->state->invalid_documents, 1u);
  ASSERT_EQ(third->state->invalid_files.size(), 1u);
  EXPECT_EQ(third->state->invalid_files[0].path, "bomb.yaml");
}

TEST(DesiredStateBuilderTest, DuplicatesAreListedPerFileAndReportedOnce) {
  Files files = {{"a.yaml", Job("x")}, {"b.yaml", Job("y")}};
  DesiredStateBuilder builder(0.5);
  CountingReader r;
  ASSERT_TRUE(builder.Build("rev1", Refs(files), std::ref(r), {}).ok());
  files["b.yaml"] = Job("x", "echo other");
  auto out = builder.Build("rev2", Refs(files), std::ref(r), {});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->state->valid_documents, 0u);
  EXPECT_EQ(out->state->invalid_documents, 2u);
  ASSERT_EQ(out->state->invalid_files.size(), 2u);
  EXPECT_EQ(out->state->invalid_files[0].reason, "DuplicateName");
  EXPECT_THAT(out->state->invalid_files[1].message,
              ::testing::HasSubstr("b.yaml:1: default/x is declared by more than one file"));
  ASSERT_EQ(out->errors.size(), 1u);
  EXPECT_THAT(out->errors[0], ::testing::HasSubstr("default/x is declared by more than one file"));
  files["c.yaml"] = Job("c");
  auto again = builder.Build("rev3", Refs(files), std::ref(r), {});
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->errors.empty()) << "a duplicate is reported when it appears";
  EXPECT_EQ(again->state->invalid_files.size(), 2u);
}

store::ObjectRecord Record(const std::string& name, api::Phase phase,
                           const std::string& file = "") {
  store::ObjectRecord r;
  r.key = ObjectKey{"default", name};
  r.status.phase = phase;
  r.source_path = file.empty() ? name + ".yaml" : file;
  return r;
}

TEST(LiveRecordsTest, TracksWritesAndOrphansAgainstTheDesiredState) {
  LiveRecords live;
  EXPECT_FALSE(live.seeded());
  ASSERT_TRUE(live.Reseed({Record("a", api::Phase::kSubmitted), Record("b", api::Phase::kRemoved),
                           Record("c", api::Phase::kRunning)},
                          live.write_count()));
  EXPECT_TRUE(live.seeded());
  EXPECT_EQ(live.size(), 2u) << "Removed records are not live";
  EXPECT_EQ(live.Orphans().size(), 2u) << "no desired state yet: every live record";

  auto desired = std::make_shared<DesiredState>();
  desired->objects[ObjectKey{"default", "a"}] = std::make_shared<DesiredObject>(
      DesiredObject{std::nullopt, InvalidManifest{"X", "x", "a.yaml", ""}});
  live.SetDesired(desired, {ObjectKey{"default", "a"}});
  EXPECT_EQ(live.Orphans(),
            (std::map<ObjectKey, std::string>{{ObjectKey{"default", "c"}, "c.yaml"}}));

  // c is removed (Removed record), d appears outside the desired state, a
  // is dropped from the store.
  store::WriteBatch w;
  w.upserts = {Record("c", api::Phase::kRemoved), Record("d", api::Phase::kPending, "dir/d.yaml")};
  w.deletes = {ObjectKey{"default", "a"}};
  live.Apply(w);
  EXPECT_EQ(live.size(), 1u);
  EXPECT_EQ(live.Orphans(),
            (std::map<ObjectKey, std::string>{{ObjectKey{"default", "d"}, "dir/d.yaml"}}));

  // A List that started before a write must not undo it.
  const uint64_t before = live.write_count();
  store::WriteBatch w2;
  w2.upserts = {Record("e", api::Phase::kSubmitted)};
  live.Apply(w2);
  EXPECT_FALSE(live.Reseed({Record("d", api::Phase::kPending)}, before));
  EXPECT_EQ(live.size(), 2u);
  EXPECT_TRUE(live.Reseed({Record("d", api::Phase::kPending)}, live.write_count()));
  EXPECT_EQ(live.size(), 1u);
}

}  // namespace
}  // namespace mlspace::reconciler
