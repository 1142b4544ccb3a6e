#pragma once

// Reconciler events for the metrics engineer (mlspacejob_* and gitops_*
// families of DESIGN.md section 7). Called after the step's status write
// succeeded, from worker threads: implementations must be thread-safe and
// quick. Default implementations ignore everything.

#include <string>
#include <string_view>

#include "controller/api/source_status.h"
#include "controller/api/types.h"
#include "controller/core/clock.h"
#include "controller/core/object_key.h"

namespace mlspace::reconciler {

// What the per-object series show of a record.
struct RecordSummary {
  std::string region;
  std::string remote_job;  // empty before the first submit
  api::Phase phase = api::Phase::kPending;
};

class ReconcilerObserver {
 public:
  virtual ~ReconcilerObserver() = default;
  // mlspacejob_submissions_total{result}: success | ambiguous | adopted |
  // throttled | unavailable | invalid | error.
  virtual void OnSubmission(const ObjectKey& /*key*/, std::string_view /*result*/) {}
  // mlspacejob_retries_total.
  virtual void OnRetry(const ObjectKey& /*key*/) {}
  // mlspacejob_cancellations_total{reason}: suspend | deadline | replace |
  // prune | duplicate.
  virtual void OnCancellation(const ObjectKey& /*key*/, std::string_view /*reason*/) {}
  // mlspacejob_status_phase{namespace,name,phase}: a phase change within a
  // reconcile step (the series itself follows OnRecordWritten).
  virtual void OnPhaseChange(const ObjectKey& /*key*/, api::Phase /*from*/, api::Phase /*to*/) {}
  // mlspacejob_pending_duration_seconds: submitted → first Running.
  virtual void OnPendingDuration(const ObjectKey& /*key*/, Duration /*d*/) {}
  // mlspacejob_run_duration_seconds: first Running → terminal.
  virtual void OnRunDuration(const ObjectKey& /*key*/, Duration /*d*/) {}
  // gitops_prune_refused_total (reason: SourceReadFailed | EmptyRevision |
  // TooManyRemovals). Once per refused object and revision.
  virtual void OnPruneRefused(const ObjectKey& /*key*/, std::string_view /*reason*/) {}
  // The object's record was created or changed by this step (after the
  // write): mlspacejob_info{region,remote_job} and mlspacejob_status_phase
  // follow it, so an object that never changes phase (a new one waiting in
  // Pending) has its series without anybody reading the store. Not called
  // when the step left the record as it was, nor for a dropped record.
  // Steps of one key never run concurrently, so the calls for one key are
  // ordered; calls for different keys may be concurrent.
  virtual void OnRecordWritten(const ObjectKey& /*key*/, const RecordSummary& /*record*/) {}
  // A record dropped after its retention: delete its series.
  virtual void OnRecordDropped(const ObjectKey& /*key*/) {}
};

// The source sync's outcome, for gitops_source_* and gitops_manifests.
// Called on the sync thread after every sync attempt (also one that found
// the revision unchanged, or failed), with the status now current; calls
// never overlap. Must be quick.
class SourceObserver {
 public:
  virtual ~SourceObserver() = default;
  // `fetch_failed`: this attempt ran a fetch (or read) that failed, once per
  // failure (gitops_source_fetch_errors_total).
  virtual void OnSourceStatus(const api::SourceStatus& /*status*/, bool /*fetch_failed*/) {}
};

}  // namespace mlspace::reconciler
