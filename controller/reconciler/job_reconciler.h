#pragma once

// JobReconciler::Reconcile(key): level-triggered and idempotent. Reads the
// desired state (DesiredStateHolder), the recorded state (StateStore) and the
// observed state (ObservedCache; a per-job GET only when a list did not show
// a job it should have), takes ONE step of DESIGN.md section 4, and writes
// the outcome with one StateStore::Write (record + events + intents). The
// only other write is the submit intent, which must be durable before the
// POST. docs/reconcile.md describes every rule and decision.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "controller/api/types.h"
#include "controller/core/clock.h"
#include "controller/core/object_key.h"
#include "controller/core/result.h"
#include "controller/gateway/job_gateway.h"
#include "controller/reconciler/desired_state.h"
#include "controller/reconciler/failure_reason.h"
#include "controller/reconciler/gateway_health.h"
#include "controller/reconciler/observed_cache.h"
#include "controller/reconciler/observer.h"
#include "controller/runtime/worker_pool.h"
#include "controller/store/state_store.h"

namespace mlspace::reconciler {

// Builds the POST /jobs body for `job`, with `marker` in job_desc, resolving
// secretKeyRefs (from --secrets-dir) at this moment only. The result is
// sent and dropped: never stored or logged. An error names the missing
// secret or field, never a secret value.
using SubmitRequestBuilder = std::function<Result<gateway::SubmitRequest>(
    const api::MLSpaceJob& job, const std::string& marker)>;

// Canonical JSON of a spec for ObjectRecord::spec_json (no secret values:
// only references). Optional.
using SpecEncoder = std::function<std::string(const api::JobSpec& spec)>;

struct ReconcilerOptions {
  // The instance identity new markers carry (reconciler/instance.h); the
  // Controller sets it from the state store at start. Required to submit.
  std::string instance;
  // --prune: false leaves remote jobs of removed manifests running.
  bool prune = true;
  // How long a Removed record stays readable before it is dropped.
  Duration removed_retention = std::chrono::hours(24);
  // An ambiguous submit is resubmitted (same marker) only after the marker
  // was absent from this many consecutive fresh lists AND this long passed.
  int absent_lists_required = 2;
  Duration ambiguous_grace = std::chrono::seconds(60);
  // A job (known by name) missing from this many consecutive fresh lists,
  // and confirmed by a GET, is lost: the attempt counts as failed.
  int lost_lists_required = 2;
  // Retry backoff after a failed attempt: base·2ⁿ capped.
  Duration retry_base = std::chrono::seconds(10);
  Duration retry_cap = std::chrono::minutes(6);
  // Remote jobs carrying a marker but created this long before the intent
  // are not adopted (a marker reused after a record was dropped).
  Duration adopt_clock_skew = std::chrono::minutes(10);
  // When to look again while waiting for the next list.
  Duration poll_interval = std::chrono::seconds(30);
  // A gateway call that failed with 429, 5xx or no answer is retried for
  // this object after base·2ⁿ⁻¹ (capped), or the server's Retry-After when
  // longer; the count resets when a step of the object succeeds.
  Duration gateway_retry_base = std::chrono::seconds(1);
  Duration gateway_retry_cap = std::chrono::minutes(5);
  // Where a valid spec's jobs live: the key of lists, intents and records
  // (backends/router.h: "<backend>/<region>" with --backends). Empty = the
  // plain spec.region, as with a single gateway.
  std::function<std::string(const api::JobSpec&)> locate;
};

class JobReconciler {
 public:
  struct Deps {
    store::StateStore* store = nullptr;
    gateway::JobGateway* gateway = nullptr;
    const Clock* clock = nullptr;
    DesiredStateHolder* desired = nullptr;
    ObservedCache* observed = nullptr;
    SubmitRequestBuilder build_request;
    SpecEncoder encode_spec;                 // may be empty
    ReconcilerObserver* observer = nullptr;  // may be null
    // Each backend's 401/403 and Retry-After state, found by an object's
    // location (may be null: every 401 is then an ordinary per-object
    // error). `gateway` should be the HealthCheckedGateway over the same
    // GatewayHealthSet.
    GatewayHealthSet* health = nullptr;
    // Keys removed by the controller's own API deletes: cancelled even when
    // the revision's prune verdict refuses (may be null: none exempt).
    const ApiRemovals* api_removals = nullptr;
  };

  // Every pointer in `deps` (but observer) must be set and outlive this.
  JobReconciler(Deps deps, ReconcilerOptions options);

  // One step for `key`. Thread-safe for distinct keys; the workqueue never
  // runs one key on two threads. Errors are requeued with backoff by the
  // caller (requeue_after, when set, is a lower bound: Retry-After).
  runtime::ReconcileResult Reconcile(const ObjectKey& key);

  // Keys the desired state, the store's records or open intents mention
  // (resync and start-up enqueue these).
  Result<std::vector<ObjectKey>> AllKeys();

  // Reports the regions of active records and open intents in the store to
  // the ObservedCache's RegionTracker, and notes whether the store was empty
  // (call once at start-up, before the first poll).
  Status Prime();

  // Regions the poller must list, as the ObservedCache's RegionTracker
  // knows them for the current desired state (shorthand for tests; the
  // Controller asks the tracker itself).
  std::set<std::string> RegionsInUse();

  const ReconcilerOptions& options() const { return options_; }

  // Sets options().instance. Call before the first Reconcile (the
  // Controller does, in Start, before its workers run).
  void SetInstance(std::string instance) { options_.instance = std::move(instance); }

 private:
  struct Step;
  runtime::ReconcileResult ReconcileOnce(const ObjectKey& key);
  // Records an exception that escaped ReconcileOnce on the object itself.
  runtime::ReconcileResult ReportException(const ObjectKey& key, const std::string& what);

  runtime::ReconcileResult HandleIntent(Step& st, store::SubmitIntent intent,
                                        const DesiredObject* d, const DesiredState& desired);
  // Observe before acting: when the store was empty at Prime (first
  // install, lost state directory) and this key has neither record nor
  // intent, adopts the newest attempt of this instance's job for the same
  // key and spec found in the region's list (created before Prime) instead
  // of POSTing a duplicate; waits for a first list if there is none yet.
  // nullopt: nothing to adopt, go on as usual. Sets *wait when the result
  // only waits for a list (nothing to write).
  std::optional<runtime::ReconcileResult> AdoptLostJob(Step& st, const DesiredObject& d,
                                                       const DesiredState& desired, bool* wait);
  runtime::ReconcileResult HandleJob(Step& st, const api::MLSpaceJob& job,
                                     const DesiredState& desired);
  runtime::ReconcileResult HandleInvalid(Step& st, const InvalidManifest& inv,
                                         const DesiredState& desired);
  runtime::ReconcileResult HandleMissing(Step& st, const DesiredState& desired);
  runtime::ReconcileResult Observe(Step& st, const api::MLSpaceJob* job);
  runtime::ReconcileResult Submit(Step& st, const api::MLSpaceJob& job);
  runtime::ReconcileResult SendSubmit(Step& st, const api::MLSpaceJob& job,
                                      store::SubmitIntent intent);
  // `failure` (may be null) adds the exit code and the output's tail.
  runtime::ReconcileResult RunFailed(Step& st, const api::MLSpaceJob* job, const std::string& why,
                                     const FailureReport* failure = nullptr);
  // Cancels st.rec's remote job. OK when gone (or already finished).
  gateway::Outcome<gateway::CancelResult> CancelRemote(Step& st, const std::string& name,
                                                       std::string_view reason,
                                                       const std::string& message);
  int NextAttempt(const Step& st, const std::string& spec_hash) const;
  // options_.locate(job.spec), or job.spec.region without one.
  std::string Location(const api::MLSpaceJob& job) const;
  void StartNewGeneration(Step& st, const api::MLSpaceJob& job);
  void StartNewRun(Step& st);
  void SetPhase(Step& st, api::Phase phase);
  void AddEvent(Step& st, std::string type, std::string reason, const std::string& message);
  runtime::ReconcileResult Finish(Step& st, runtime::ReconcileResult r);
  // A failed gateway call (about st.rec.region's job): 401/403 → the object
  // keeps its phase, gets Stalled=True GatewayUnauthorized and waits for its
  // backend's GatewayHealth; anything
  // else → an error requeued after the per-object gateway backoff (≥ 1 s,
  // ≥ Retry-After).
  runtime::ReconcileResult GatewayFailed(Step& st, const gateway::Error& e);
  // `health` (may be null: then `message`) says whose credentials and why.
  void MarkUnauthorized(Step& st, const GatewayHealth* health, const std::string& message = "");
  // The health of `location`'s backend; null without deps_.health.
  GatewayHealth* HealthOf(const std::string& location) const;
  Duration GatewayBackoff(const ObjectKey& key, Duration retry_after);
  Duration RetryBackoff(int failures) const;

  Deps deps_;
  ReconcilerOptions options_;

  // Absence bookkeeping across reconciles (per process; after a restart the
  // counting starts again, which only delays decisions).
  std::mutex mu_;
  std::map<std::string, uint64_t> intent_counted_gen_;  // marker → region generation
  struct Missing {
    uint64_t counted_gen = 0;
    int lists = 0;
  };
  std::map<std::string, Missing> missing_;     // remote job name → absence count
  std::map<ObjectKey, int> gateway_failures_;  // consecutive 429/5xx/network per key
  // Set by Prime when the store held no record and no open intent: jobs of
  // this instance created before then may be ours and are adopted.
  std::optional<TimePoint> adopt_lost_before_;
};

}  // namespace mlspace::reconciler
