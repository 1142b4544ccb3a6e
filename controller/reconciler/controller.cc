#include "controller/reconciler/controller.h"

#include <malloc.h>

#include <set>

#include "controller/core/log.h"
#include "controller/reconciler/instance.h"
#include "controller/reconciler/submit_request.h"

namespace mlspace::reconciler {
namespace {

// A sync or a poll at 10,000 objects allocates and frees tens of MB (parsed
// list answers, store rows, desired-state copies) across several threads'
// malloc arenas; glibc keeps that freed memory mapped, so RSS settled near
// twice the live heap (bench_controller: 300 MB, 107 MB after a trim). Give
// it back after each one; costs a few ms per sync or poll.
void ReleaseFreedMemory() { malloc_trim(0); }

}  // namespace

// Forwards to the real store; every successful Write and every full List
// also updates LiveRecords, so a source sync never scans the store.
class Controller::RecordingStore final : public store::StateStore {
 public:
  RecordingStore(store::StateStore& inner, LiveRecords& live) : inner_(inner), live_(live) {}

  Result<std::optional<store::ObjectRecord>> Get(const ObjectKey& key) override {
    return inner_.Get(key);
  }
  Result<std::vector<store::ObjectRecord>> List() override {
    const uint64_t writes = live_.write_count();
    auto records = inner_.List();
    if (records.ok()) live_.Reseed(*records, writes);
    return records;
  }
  Status Write(const store::WriteBatch& batch) override {
    Status s = inner_.Write(batch);
    if (s.ok()) live_.Apply(batch);
    return s;
  }
  Result<std::vector<store::SubmitIntent>> OpenIntents() override { return inner_.OpenIntents(); }
  Result<std::vector<store::SubmitIntent>> Intents(const ObjectKey& key) override {
    return inner_.Intents(key);
  }
  Result<std::vector<store::Event>> Events(const ObjectKey& key, size_t limit) override {
    return inner_.Events(key, limit);
  }
  Result<store::StoreIdentity> Identity() override { return inner_.Identity(); }
  Status RecordInstance(const std::string& instance) override {
    return inner_.RecordInstance(instance);
  }

 private:
  store::StateStore& inner_;
  LiveRecords& live_;
};

Controller::Controller(ControllerDeps deps, ControllerOptions options)
    : deps_(std::move(deps)),
      options_(std::move(options)),
      store_(std::make_unique<RecordingStore>(*deps_.store, live_)),
      builder_(options_.prune_max_fraction) {
  ReconcilerOptions ro = options_.reconciler;
  ro.prune = options_.prune;
  ro.removed_retention = options_.removed_retention;
  ro.poll_interval = options_.poll_interval;
  // Start replaces it with the resolved identity (the flag, else the
  // recorded or default one); tests that drive steps without Start use it.
  ro.instance = options_.instance;
  SubmitRequestBuilder build = deps_.build_request;
  if (!build) {
    // No resolver: every secretKeyRef fails with "no --secrets-dir configured".
    static const DirectorySecretResolver kNoSecrets("");
    const SecretResolver* secrets = deps_.secrets ? deps_.secrets : &kNoSecrets;
    std::string launcher = options_.launcher_path;
    build = [secrets, launcher](const api::MLSpaceJob& job,
                                const std::string& marker) -> Result<gateway::SubmitRequest> {
      SubmitOptions so;
      if (!launcher.empty()) so.launcher_path = launcher;
      so.marker = marker;
      MLSPACE_ASSIGN_OR_RETURN(so.secret_values, ResolveSecrets(job.spec, *secrets));
      return BuildSubmitRequest(job, so);
    };
  }
  JobReconciler::Deps rd;
  rd.store = store_.get();
  rd.gateway = deps_.gateway;
  rd.clock = deps_.clock;
  rd.desired = &desired_;
  rd.observed = &observed_;
  rd.build_request = std::move(build);
  rd.encode_spec = deps_.encode_spec;
  rd.observer = deps_.reconciler_observer;
  reconciler_ = std::make_unique<JobReconciler>(std::move(rd), ro);
  queue_ = std::make_unique<runtime::WorkQueue>(kName, *deps_.clock,
                                                runtime::DefaultControllerRateLimiter(*deps_.clock),
                                                deps_.queue_observer);
  poller_ = std::make_unique<RegionPoller>(
      *deps_.gateway, observed_, *deps_.clock, [this] { return reconciler_->RegionsInUse(); },
      [this](const ObjectKey& k) { Enqueue(k, runtime::Priority::kLow); }, deps_.poll_observer);
}

Controller::~Controller() { Stop(); }

void Controller::Enqueue(const ObjectKey& key, runtime::Priority priority) {
  queue_->Add(key.ToString(), priority);
}

Status Controller::Start() {
  MLSPACE_ASSIGN_OR_RETURN(
      identity_,
      ResolveInstance(*deps_.store, options_.instance, options_.instance_source,
                      options_.state_dir.empty() ? "(state store)" : options_.state_dir));
  reconciler_->SetInstance(identity_.instance);
  observed_.SetOwner(identity_.instance, identity_.legacy_markers);
  LogInfo("instance identity", {{"instance", identity_.instance},
                                {"legacyMarkers", identity_.legacy_markers ? "true" : "false"}});
  MLSPACE_RETURN_IF_ERROR(reconciler_->Prime());
  if (Status s = SyncOnce(); !s.ok()) {
    LogWarn("first source sync failed; nothing will be pruned until it succeeds",
            {{"error", s.ToString()}});
  }
  PollOnce();
  ResyncOnce();  // every key, open intents included
  pool_ = std::make_unique<runtime::WorkerPool>(
      kName, *queue_,
      [this](const std::string& text) -> runtime::ReconcileResult {
        auto key = ObjectKey::Parse(text);
        if (!key.ok()) return {};  // not ours; never retried
        return reconciler_->Reconcile(*key);
      },
      *deps_.clock, options_.workers, deps_.pool_observer);
  pool_->Start();
  sync_loop_ = std::make_unique<runtime::Periodic>(
      "source", *deps_.clock, options_.source_poll_interval, 0.1,
      [this] {
        (void)SyncOnce();
        ReleaseFreedMemory();
      },
      /*run_first=*/false);
  poll_loop_ = std::make_unique<runtime::Periodic>(
      "poll", *deps_.clock, options_.poll_interval, options_.poll_jitter,
      [this] {
        PollOnce();
        ReleaseFreedMemory();
      },
      /*run_first=*/false);
  resync_loop_ = std::make_unique<runtime::Periodic>(
      "resync", *deps_.clock, options_.resync_interval, 0.1, [this] { ResyncOnce(); },
      /*run_first=*/false);
  sync_loop_->Start();
  poll_loop_->Start();
  resync_loop_->Start();
  watcher_ = std::thread([this] { WatchSource(); });
  started_ = true;
  LogInfo("controller started", {{"workers", std::to_string(options_.workers)}});
  return OkStatus();
}

void Controller::WatchSource() {
  while (!stopping_) {
    if (deps_.source->WaitForChange(std::chrono::seconds(1)) && !stopping_) {
      sync_loop_->Trigger();
    }
  }
}

bool Controller::Stop() {
  if (!started_ || stopped_) return true;
  stopped_ = true;
  stopping_ = true;
  deps_.source->Wake();
  if (watcher_.joinable()) watcher_.join();
  sync_loop_->Stop();
  poll_loop_->Stop();
  resync_loop_->Stop();
  bool drained = pool_->Stop(options_.shutdown_grace);
  LogInfo("controller stopped", {{"drained", drained ? "true" : "false"}});
  return drained;
}

void Controller::TriggerReconcile() {
  if (sync_loop_) sync_loop_->Trigger();
  if (poll_loop_) poll_loop_->Trigger();
  if (!sync_loop_) {
    (void)SyncOnce();
    PollOnce();
  }
}

bool Controller::Ready(std::string* why) const {
  std::lock_guard lock(state_mu_);
  if (!synced_once_ && why) *why = not_ready_.empty() ? "source not synced yet" : not_ready_;
  return synced_once_;
}

int Controller::PollOnce() { return poller_->PollOnce(); }

void Controller::ResyncOnce() {
  auto keys = reconciler_->AllKeys();
  if (!keys.ok()) {
    LogWarn("resync: cannot list keys", {{"error", keys.status().ToString()}});
    return;
  }
  for (const auto& k : *keys) Enqueue(k, runtime::Priority::kLow);
}

Status Controller::SeedLiveRecords() {
  // Prime() (start-up) normally seeded it already, through store_. A write
  // racing with the List makes Reseed refuse; writes only come from
  // reconciles of keys a sync enqueued, so a retry settles it.
  for (int attempt = 0; !live_.seeded(); ++attempt) {
    const uint64_t writes = live_.write_count();
    auto records = deps_.store->List();
    if (!records.ok()) return records.status();
    live_.Reseed(*records, attempt < 3 ? writes : live_.write_count());
  }
  return OkStatus();
}

Status Controller::SyncOnce() {
  std::lock_guard sync_lock(sync_mu_);
  auto prev = desired_.Get();
  auto fail = [&](const Status& s) {
    // Keep the last good objects; mark the source failed so nothing that
    // is missing is treated as removed.
    auto next = std::make_shared<DesiredState>(prev ? *prev : DesiredState{});
    next->source_ok = false;
    next->prune = ComputePruneVerdict(false, 0, 0, 0, options_.prune_max_fraction);
    desired_.Set(next);
    {
      std::lock_guard lock(state_mu_);
      not_ready_ = "source read failed: " + s.message();
    }
    LogWarn("source read failed; keeping the last good revision", {{"error", s.ToString()}});
    return s;
  };
  if (Status r = deps_.source->Refresh(); !r.ok()) {
    LogWarn("source refresh failed; using the checkout as it is", {{"error", r.ToString()}});
  }
  auto snap = deps_.source->Read();
  if (!snap.ok()) return fail(snap.status());
  if (prev && prev->source_ok && prev->revision == snap->revision) return OkStatus();
  // The prune guards' "live" set: the last good revision's objects (the
  // builder's base) plus every record not yet Removed (live_, so a restart
  // keeps the guards). Read once from the store, then kept from the writes.
  if (Status s = SeedLiveRecords(); !s.ok()) return fail(s);

  std::vector<DesiredStateBuilder::FileRef> files;
  files.reserve(snap->files.size());
  for (const auto& f : snap->files) files.push_back({f.path, f.blob_id});
  auto built = builder_.Build(
      snap->revision, files,
      [this](const std::string& blob) { return deps_.source->ReadBlob(blob); }, live_.Orphans());
  if (!built.ok()) return fail(built.status());
  for (const auto& w : built->warnings) LogWarn(w, {{"revision", snap->revision}});
  std::shared_ptr<const DesiredState> next = built->state;
  if (!next->prune.allowed) {
    LogWarn(next->prune.message, {{"revision", snap->revision}});
  }
  desired_.Set(next);
  {
    std::vector<ObjectKey> touched = built->changed;
    touched.insert(touched.end(), built->gone.begin(), built->gone.end());
    live_.SetDesired(next, touched);
  }
  {
    std::lock_guard lock(state_mu_);
    synced_once_ = true;
    not_ready_.clear();
  }
  LogInfo("source synced", {{"revision", snap->revision},
                            {"objects", std::to_string(next->objects.size())},
                            {"parsed", std::to_string(built->files_parsed)},
                            {"changed", std::to_string(built->changed.size())},
                            {"removed", std::to_string(next->removed_count)}});

  // Enqueue what changed and what went; everything after a failed or first
  // sync (what was enqueued before may have been judged on stale state).
  if (!prev || !prev->source_ok) {
    for (const auto& [k, d] : next->objects) Enqueue(k);
  } else {
    for (const auto& k : built->changed) Enqueue(k);
  }
  for (const auto& k : built->gone) Enqueue(k);
  return OkStatus();
}

}  // namespace mlspace::reconciler
