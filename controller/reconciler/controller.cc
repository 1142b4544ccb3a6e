#include "controller/reconciler/controller.h"

#include <malloc.h>

#include <set>

#include "controller/api/codec.h"
#include "controller/core/log.h"
#include "controller/core/redact.h"
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

std::string ShortRevision(const std::string& revision) { return revision.substr(0, 12); }

// The Ready message of a source that read its revision: what it holds, and
// the first invalid file so `kubectl get mlspacesources` shows what to fix.
std::string SyncedMessage(const api::SourceStatus& s) {
  std::string m = "revision " + ShortRevision(s.revision) + ": " + std::to_string(s.valid) +
                  " valid, " + std::to_string(s.invalid) + " invalid, " +
                  std::to_string(s.ignored) + " ignored";
  if (s.invalid_files_total > 0 && !s.invalid_files.empty()) {
    m += "; " + std::to_string(s.invalid_files_total) + " invalid file" +
         (s.invalid_files_total == 1 ? "" : "s") + ", first: " + s.invalid_files.front().message;
  }
  return m;
}

}  // namespace

// Forwards to the real store; every successful Write and every full List
// also updates LiveRecords, so a source sync never scans the store.
class Controller::RecordingStore final : public store::StateStoreWrapper {
 public:
  RecordingStore(store::StateStore& inner, LiveRecords& live)
      : StateStoreWrapper(inner), live_(live) {}

  Result<std::vector<store::ObjectRecord>> List() override {
    const uint64_t writes = live_.write_count();
    auto records = target().List();
    if (records.ok()) live_.Reseed(*records, writes);
    return records;
  }
  Status Write(const store::WriteBatch& batch) override {
    Status s = target().Write(batch);
    if (s.ok()) live_.Apply(batch);
    return s;
  }

 private:
  LiveRecords& live_;
};

Controller::Controller(ControllerDeps deps, ControllerOptions options)
    : deps_(std::move(deps)),
      options_(std::move(options)),
      health_(std::make_unique<GatewayHealthSet>(*deps_.clock, options_.gateway_health,
                                                 deps_.gateway_health_observer, options_.backends,
                                                 options_.backend_of)),
      gateway_(std::make_unique<HealthCheckedGateway>(*deps_.gateway, *health_)),
      store_(std::make_unique<RecordingStore>(*deps_.store, live_)),
      builder_(options_.prune_max_fraction) {
  ReconcilerOptions ro = options_.reconciler;
  builder_.SetJobCheck(options_.check_job);
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
  rd.gateway = gateway_.get();
  rd.health = health_.get();
  rd.api_removals = &api_removals_;
  rd.clock = deps_.clock;
  rd.desired = &desired_;
  rd.observed = &observed_;
  rd.build_request = std::move(build);
  rd.encode_spec = deps_.encode_spec;
  if (!rd.encode_spec) {
    // The API serves the spec as written plus defaults. Secrets are
    // references in a spec; Redact() keeps a literal that happens to equal
    // a registered secret out of the store (which would refuse the batch).
    rd.encode_spec = [](const api::JobSpec& spec) { return Redact(api::SpecToJson(spec).dump()); };
  }
  rd.observer = deps_.reconciler_observer;
  reconciler_ = std::make_unique<JobReconciler>(std::move(rd), ro);
  health_->SetOnRecovered([this](const std::string&) { OnGatewayRecovered(); });
  queue_ = std::make_unique<runtime::WorkQueue>(kName, *deps_.clock,
                                                runtime::DefaultControllerRateLimiter(*deps_.clock),
                                                deps_.queue_observer);
  poller_ = std::make_unique<RegionPoller>(
      *gateway_, observed_, *deps_.clock,
      [this] { return observed_.regions_in_use().RegionsInUse(desired_.Get()); },
      [this](const ObjectKey& k) { Enqueue(k, runtime::Priority::kLow); }, deps_.poll_observer);
  auto status = std::make_shared<api::SourceStatus>();
  status->name = options_.source_name;
  status->url = options_.source_url;
  status->ref = options_.source_ref;
  status->remote = static_cast<bool>(deps_.fetch_delay);
  status->created = deps_.clock->Now();
  status->reason = api::kSourceReasonProgressing;
  status->message = "not synced yet";
  status->ready_transition = status->created;
  status->version = 1;
  source_status_.Set(std::move(status));
}

Controller::~Controller() { Stop(); }

void Controller::OnGatewayRecovered() {
  // Objects waiting on the credentials sit in the delay heap for up to the
  // auth backoff; reconcile them now rather than then.
  if (!stopping_) ResyncOnce();
}

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
  // A restart knows its stored jobs' regions from Prime: list them before
  // the source sync, which parses every manifest (seconds at 10,000), so
  // the first poll does not wait for it. Regions only the new desired state
  // uses (a cold start: all of them) are listed right after the sync.
  PollOnce();
  if (Status s = SyncOnce(); !s.ok()) {
    LogWarn("first source sync failed; nothing will be pruned until it succeeds",
            {{"error", s.ToString()}});
  }
  const std::set<std::string> listed = observed_.Regions();
  for (const std::string& region : observed_.regions_in_use().RegionsInUse(desired_.Get())) {
    if (listed.count(region) == 0) {
      PollOnce();
      break;
    }
  }
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
      "poll", *deps_.clock, options_.reconciler.poll_interval, options_.poll_jitter,
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
    bool changed = deps_.source->WaitForChange(std::chrono::seconds(1));
    if (stopping_) break;
    // A due fetch (--git-interval) is noticed within a second.
    if (changed || (deps_.fetch_delay && FetchDue(deps_.clock->Now()))) sync_loop_->Trigger();
  }
}

bool Controller::FetchDue(TimePoint now) const {
  if (!deps_.fetch_delay) return true;
  std::lock_guard lock(state_mu_);
  return force_fetch_ || now >= next_fetch_;
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
  {
    std::lock_guard lock(state_mu_);
    force_fetch_ = true;
  }
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
  const TimePoint now = deps_.clock->Now();
  auto prev = desired_.Get();
  api::SourceStatus status = *source_status_.Get();
  status.last_attempt = now;
  bool fetch_failed = false;
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
    status.ready = false;
    status.reason = api::kSourceReasonReadFailed;
    status.message = "read failed: " + s.message();
    status.last_fetch_error = s.message();
    if (!fetch_failed) ++status.fetch_errors;  // one failure per attempt
    PublishSourceStatus(std::move(status), /*fetch_failed=*/true);
    return s;
  };
  if (FetchDue(now)) {
    Status r = deps_.source->Refresh();
    if (deps_.fetch_delay) {
      std::lock_guard lock(state_mu_);
      force_fetch_ = false;
      fetch_failures_ = r.ok() ? 0 : fetch_failures_ + 1;
      next_fetch_ = now + deps_.fetch_delay(fetch_failures_);
      status.last_fetch = now;
    }
    if (!r.ok()) {
      LogWarn("source refresh failed; using the checkout as it is", {{"error", r.ToString()}});
      fetch_failed = true;
      ++status.fetch_errors;
    }
    last_fetch_ = r;
  }
  // API removals noted so far were committed before this read.
  const uint64_t api_seq = api_removals_.sequence();
  auto snap = deps_.source->Read();
  if (!snap.ok()) return fail(snap.status());
  if (prev && prev->source_ok && prev->revision == snap->revision) {
    PublishSourceStatus(std::move(status), fetch_failed);
    return OkStatus();
  }
  // The prune guards' "live" set: the last good revision's objects (the
  // builder's base) plus every record not yet Removed (live_, so a restart
  // keeps the guards). Read once from the store, then kept from the writes.
  if (Status s = SeedLiveRecords(); !s.ok()) return fail(s);

  std::vector<DesiredStateBuilder::FileRef> files;
  files.reserve(snap->files.size());
  for (const auto& f : snap->files) files.push_back({f.path, f.blob_id});
  auto built = builder_.Build(
      snap->revision, files,
      [this](const std::string& blob) { return deps_.source->ReadBlob(blob); }, live_.Orphans(),
      api_removals_.Keys());
  if (!built.ok()) return fail(built.status());
  // Every broken file once (when its blob is first parsed), with
  // file:line:col; documents of other kinds only at debug.
  for (const auto& e : built->errors) {
    LogWarn("invalid manifest: " + e, {{"revision", snap->revision}});
  }
  for (const auto& w : built->warnings) LogDebug(w, {{"revision", snap->revision}});
  std::shared_ptr<const DesiredState> next = built->state;
  // Declared by a revision read after its API delete was noted: re-created
  // (or the delete never landed), so removing it again is judged afresh.
  if (api_removals_.size() > 0) {
    for (const auto& k : api_removals_.Keys()) {
      if (next->Find(k)) api_removals_.ForgetIfNotedBy(k, api_seq);
    }
  }
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
                            {"removed", std::to_string(next->removed_count)},
                            {"invalid", std::to_string(next->invalid_documents)},
                            {"ignored", std::to_string(next->ignored_documents)}});
  PublishSourceStatus(std::move(status), fetch_failed);

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

void Controller::NoteApiRemoval(const ObjectKey& key, const std::string& commit) {
  api_removals_.Add(key, commit);
  // A sync may have read the commit before this note and refused the
  // removal: reconcile the key again, now exempt.
  Enqueue(key);
}

void Controller::PublishSourceStatus(api::SourceStatus next, bool fetch_failed) {
  const TimePoint now = *next.last_attempt;
  auto desired = desired_.Get();
  const bool read_ok = desired && desired->source_ok;
  if (read_ok) {
    next.revision = desired->revision;
    next.valid = desired->valid_documents;
    next.invalid = desired->invalid_documents;
    next.ignored = desired->ignored_documents;
    next.files = desired->files;
    next.invalid_files = desired->invalid_files;
    next.invalid_files_total = desired->invalid_files_total;
    if (last_fetch_.ok()) {
      // The revision read is the newest known: the source is in sync.
      next.ready = true;
      next.reason = api::kSourceReasonSynced;
      next.message = SyncedMessage(next);
      next.last_fetch_error.clear();
      next.last_sync = now;
    } else {
      // A failed fetch keeps serving the last good revision, which may be
      // stale: not Ready, and last_sync stays (the staleness alert fires).
      next.ready = false;
      next.reason = api::kSourceReasonFetchFailed;
      next.last_fetch_error = last_fetch_.message();
      next.message = "fetch failed: " + last_fetch_.message() + "; serving revision " +
                     ShortRevision(next.revision);
    }
  }
  auto old = source_status_.Get();
  if (old->ready != next.ready || old->reason != next.reason) next.ready_transition = now;
  next.version = old->version + 1;
  auto published = std::make_shared<const api::SourceStatus>(std::move(next));
  source_status_.Set(published);
  if (deps_.source_observer) deps_.source_observer->OnSourceStatus(*published, fetch_failed);
}

}  // namespace mlspace::reconciler
