#pragma once

// The Controller wires the pieces of DESIGN.md section 3 into one loop:
//   source sync  ManifestSource::Read → DesiredStateBuilder (only changed
//                blobs are parsed, only the keys they touch recomputed) →
//                DesiredState (+ prune verdict against LiveRecords, kept in
//                memory from the reconciler's own writes) → enqueue changed
//                and removed keys; an unchanged revision costs one Read;
//   poll         RegionPoller: one List per region in use, jittered;
//   resync       every key enqueued on --resync-interval;
//   workers      N workers running JobReconciler::Reconcile;
//   start-up     open intents are resolved (their keys are enqueued after
//                the first list), every known key is reconciled once;
//   shutdown     stop taking work, in-flight steps get a grace period.
// It lives in reconciler/ (not runtime/) because it knows the MLSpaceJob
// pipeline; runtime/ stays generic. cmd/ constructs it with concrete seams.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "controller/api/manifest.h"
#include "controller/api/source_status.h"
#include "controller/core/clock.h"
#include "controller/core/secret_file.h"
#include "controller/gateway/job_gateway.h"
#include "controller/reconciler/desired_state.h"
#include "controller/reconciler/gateway_health.h"
#include "controller/reconciler/job_reconciler.h"
#include "controller/reconciler/observed_cache.h"
#include "controller/reconciler/observer.h"
#include "controller/runtime/periodic.h"
#include "controller/runtime/worker_pool.h"
#include "controller/runtime/workqueue.h"
#include "controller/source/manifest_source.h"
#include "controller/store/state_store.h"

namespace mlspace::reconciler {

// Mirrors the mlspace-controller flags of DESIGN.md section 7. Each knob
// lives in one place: the loop's own here, the reconcile rules' (poll
// interval, prune, removed retention, retries) in `reconciler`, which the
// poll loop reads too.
struct ControllerOptions {
  int workers = 4;                                           // --workers
  double poll_jitter = 0.2;                                  // each wait is interval·(1+jitter·u)
  Duration resync_interval = std::chrono::minutes(10);       // --resync-interval
  Duration source_poll_interval = std::chrono::seconds(30);  // fallback to inotify
  double prune_max_fraction = 0.5;                           // --prune-max-fraction
  std::string launcher_path;                                 // --launcher-path (empty: default)
  Duration shutdown_grace = std::chrono::seconds(30);
  // --instance: the identity this controller's markers carry. Empty: the
  // one recorded in the store, else DefaultInstance(instance_source),
  // recorded at Start (reconciler/instance.h).
  std::string instance;
  std::string instance_source;  // the git URL, else the manifests path
  std::string state_dir;        // names the store in identity errors
  // What the MLSpaceSource status names: its name, and where manifests come
  // from (--git-url with userinfo masked, or --manifests) and --git-ref.
  std::string source_name = "default";
  std::string source_url;
  std::string source_ref;
  // --poll-interval, --prune, --removed-retention, --ambiguous-submit-grace,
  // --retry-backoff-base/-cap.
  ReconcilerOptions reconciler;
  // 401/403 handling: one probe per backoff while the credentials are refused.
  GatewayHealthOptions gateway_health;
  // The backends, each with its own GatewayHealth (a 401 or Retry-After of
  // one never pauses another): their names, the default first (empty: one,
  // "default"), and which backend a location belongs to (cmd/: the
  // backends::Catalog; empty: all the default's).
  std::vector<std::string> backends;
  GatewayHealthSet::BackendOf backend_of;
  // Checks valid jobs against the backend catalog (DesiredStateBuilder::
  // SetJobCheck); empty = none. reconciler.locate keys their remote jobs.
  DesiredStateBuilder::JobCheck check_job;
};

struct ControllerDeps {
  source::ManifestSource* source = nullptr;
  gateway::JobGateway* gateway = nullptr;
  store::StateStore* store = nullptr;
  const Clock* clock = nullptr;
  // Optional observers (metrics).
  ReconcilerObserver* reconciler_observer = nullptr;
  runtime::WorkQueueObserver* queue_observer = nullptr;
  runtime::WorkerPoolObserver* pool_observer = nullptr;
  PollObserver* poll_observer = nullptr;
  SourceObserver* source_observer = nullptr;
  GatewayHealthObserver* gateway_health_observer = nullptr;
  // secretKeyRef values (cmd/: a DirectorySecretResolver over --secrets-dir);
  // null: every secretKeyRef fails. Must outlive the Controller.
  const SecretResolver* secrets = nullptr;
  // Set for a source that fetches (--git-url): Refresh() then runs only
  // when due — at the first sync, then fetch_delay(consecutive failures)
  // after each fetch (--git-interval with backoff and jitter,
  // source::NextFetchDelay), or at once on TriggerReconcile. Empty: every
  // sync calls Refresh() (a no-op for a local work tree).
  std::function<Duration(int consecutive_failures)> fetch_delay;
  // Empty: ResolveSecrets(secrets) + BuildSubmitRequest (submit_request.h).
  SubmitRequestBuilder build_request;
  // Empty: Redact(api::SpecToJson(spec).dump()).
  SpecEncoder encode_spec;
};

class Controller {
 public:
  static constexpr char kName[] = "mlspacejob";

  Controller(ControllerDeps deps, ControllerOptions options);
  ~Controller();  // Stop()
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // Resolves and records the instance identity (a --instance contradicting
  // the recorded one is an error), loads the store's in-flight regions and
  // live records, syncs the source once, lists every region once, enqueues
  // every known key (open intents included), then starts the workers and the loops. A failed first
  // source read is not an error here (Ready() stays false; nothing is pruned); a store that cannot
  // be read is.
  Status Start();

  // Graceful stop: loops end, no new work is taken, in-flight reconciles
  // get options.shutdown_grace. True when everything finished in time.
  // Idempotent.
  bool Stop();

  // POST /reconcile: sync the source and poll the gateway now.
  void TriggerReconcile();

  // The API write-back removed `key`'s manifest in `commit` (kubectl
  // delete): an intentional removal, exempt from the prune guards (see
  // ApiRemovals). Call after the commit exists. Any thread.
  void NoteApiRemoval(const ObjectKey& key, const std::string& commit);

  // /readyz: the store was read and the source synced at least once.
  bool Ready(std::string* why = nullptr) const;

  // The steps the loops run, public so tests can drive them one at a time.
  Status SyncOnce();
  int PollOnce();
  void ResyncOnce();

  std::shared_ptr<const DesiredState> desired() const { return desired_.Get(); }
  // The MLSpaceSource status; never null. Any thread.
  std::shared_ptr<const api::SourceStatus> source_status() const { return source_status_.Get(); }
  JobReconciler& reconciler() { return *reconciler_; }
  runtime::WorkQueue& queue() { return *queue_; }
  const ObservedCache& observed() const { return observed_; }
  // Whether each backend's gateway accepts the credentials (/readyz
  // "gateway" checks, one per backend).
  const GatewayHealthSet& gateway_health() const { return *health_; }
  // The gateway as the reconciler calls it: every call asks its backend's
  // health first, so a caller beside the reconciler (the API's log reads)
  // honours a Retry-After or a credentials pause too. Thread-safe.
  gateway::JobGateway& checked_gateway() { return *gateway_; }
  int ActiveWorkers() const { return pool_ ? pool_->ActiveWorkers() : 0; }
  // The worker busy longest with one object (nullopt before Start or while
  // all are idle): the liveness probe's "stuck worker" check.
  std::optional<runtime::BusyWorker> LongestBusyWorker() const {
    return pool_ ? pool_->LongestBusy() : std::nullopt;
  }
  // The identity resolved by Start (empty before).
  const store::StoreIdentity& identity() const { return identity_; }

 private:
  class RecordingStore;
  // Manifest changes are kNormal; a poll's status changes and the resync
  // are kLow, so a commit's key never queues behind thousands of them (the
  // first poll after a mass submit sees every job appear).
  void Enqueue(const ObjectKey& key, runtime::Priority priority = runtime::Priority::kNormal);
  void WatchSource();
  void OnGatewayRecovered();
  Status SeedLiveRecords();
  bool FetchDue(TimePoint now) const;
  // Publishes the status after a sync attempt (sync_mu_ held).
  void PublishSourceStatus(api::SourceStatus next, bool fetch_failed);

  ControllerDeps deps_;
  ControllerOptions options_;
  // Every gateway call of the reconciler and the poller goes through gateway_,
  // which asks the call's backend's health first (a 401/403 pauses that
  // backend's requests).
  std::unique_ptr<GatewayHealthSet> health_;
  std::unique_ptr<HealthCheckedGateway> gateway_;
  DesiredStateHolder desired_;
  api::SourceStatusHolder source_status_;
  ObservedCache observed_;
  LiveRecords live_;
  ApiRemovals api_removals_;
  store::StoreIdentity identity_;  // set once by Start
  // deps_.store, reporting writes and lists to live_; what the reconciler uses.
  std::unique_ptr<RecordingStore> store_;
  DesiredStateBuilder builder_;  // guarded by sync_mu_
  std::unique_ptr<JobReconciler> reconciler_;
  std::unique_ptr<runtime::WorkQueue> queue_;
  std::unique_ptr<runtime::WorkerPool> pool_;
  std::unique_ptr<RegionPoller> poller_;
  std::unique_ptr<runtime::Periodic> sync_loop_;
  std::unique_ptr<runtime::Periodic> poll_loop_;
  std::unique_ptr<runtime::Periodic> resync_loop_;
  std::thread watcher_;

  std::mutex sync_mu_;  // one source sync at a time
  mutable std::mutex state_mu_;
  bool synced_once_ = false;
  // Remote fetch schedule (state_mu_): next due time, failures in a row,
  // whether TriggerReconcile asked for a fetch now.
  TimePoint next_fetch_{};
  int fetch_failures_ = 0;
  bool force_fetch_ = false;
  Status last_fetch_;  // sync_mu_: the last fetch's outcome
  std::string not_ready_;
  std::atomic<bool> stopping_{false};
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace mlspace::reconciler
