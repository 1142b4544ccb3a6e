#include "controller/reconciler/job_reconciler.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "controller/core/log.h"
#include "controller/core/redact.h"
#include "controller/core/time_util.h"
#include "controller/reconciler/failure_reason.h"
#include "controller/reconciler/marker.h"

namespace mlspace::reconciler {
namespace {

using api::Phase;
using runtime::ReconcileResult;

constexpr char kTrue[] = "True";
constexpr char kFalse[] = "False";
constexpr char kUnknown[] = "Unknown";

ReconcileResult Done() { return {}; }
ReconcileResult After(Duration d) { return {std::max(d, Duration::zero()), OkStatus()}; }
ReconcileResult Now() { return {Duration::zero(), OkStatus()}; }
ReconcileResult Fail(Status s, std::optional<Duration> at_least = std::nullopt) {
  return {at_least, std::move(s)};
}

// Debug lines at each decision (what was compared, why a request was or
// was not sent). Callers test this first so the fields are only built when
// --log-level debug asked for them.
bool DebugOn() { return Logger::Get().Enabled(LogLevel::kDebug); }

bool IsActive(const store::ObjectRecord& r) {
  return (r.status.phase == Phase::kSubmitted || r.status.phase == Phase::kRunning) &&
         !r.status.remote_job_name.empty();
}

bool RecordEqual(const store::ObjectRecord& a, const store::ObjectRecord& b) {
  return a.spec_hash == b.spec_hash && a.generation == b.generation && a.spec_json == b.spec_json &&
         a.source_path == b.source_path && a.labels == b.labels && a.annotations == b.annotations &&
         a.region == b.region && a.status == b.status && a.failed_attempts == b.failed_attempts &&
         a.next_attempt_at == b.next_attempt_at && a.removed_at == b.removed_at;
}

std::string ShortHash(const std::string& h) { return h.substr(0, 8); }

std::string Secs(Duration d) {
  return FormatDuration(std::chrono::duration_cast<std::chrono::seconds>(d));
}

}  // namespace

struct JobReconciler::Step {
  ObjectKey key;
  TimePoint now;
  bool had_record = false;
  store::ObjectRecord rec;
  store::ObjectRecord original;
  std::vector<store::SubmitIntent> intents;  // newest first, as loaded
  store::WriteBatch batch;                   // events, intents, deletes
  bool drop = false;
  std::vector<std::function<void(ReconcilerObserver&)>> notes;

  void Cond(const char* type, const char* status, std::string reason, const std::string& message) {
    api::SetCondition(rec.status.conditions,
                      api::Condition{type, status, std::move(reason), Redact(message), {}}, now);
  }
  // Sets the condition to False only if it exists and is not False already.
  void CondOff(const char* type, std::string reason, const std::string& message = "") {
    const api::Condition* c = api::FindCondition(rec.status.conditions, type);
    if (c && c->status != kFalse) Cond(type, kFalse, std::move(reason), message);
  }
  bool CondIs(const char* type, const char* status, std::string_view reason = "") const {
    const api::Condition* c = api::FindCondition(rec.status.conditions, type);
    return c && c->status == status && (reason.empty() || c->reason == reason);
  }
  const store::SubmitIntent* FindIntent(const std::string& marker) const {
    for (const auto& i : intents) {
      if (i.marker == marker) return &i;
    }
    return nullptr;
  }
  // The intent of one attempt, whatever the format of its marker (a legacy
  // one from an earlier version, or one naming an earlier instance).
  const store::SubmitIntent* FindAttempt(const std::string& spec_hash, int attempt) const {
    for (const auto& i : intents) {
      if (i.attempt == attempt && i.spec_hash == spec_hash) return &i;
    }
    return nullptr;
  }
};

JobReconciler::JobReconciler(Deps deps, ReconcilerOptions options)
    : deps_(std::move(deps)), options_(options) {
  // The poller lists the same locations the reconciler keys jobs by.
  if (options_.locate) deps_.observed->regions_in_use().SetLocator(options_.locate);
}

Duration JobReconciler::RetryBackoff(int failures) const {
  double factor = std::pow(2.0, std::max(0, failures - 1));
  double d = static_cast<double>(options_.retry_base.count()) * factor;
  if (d >= static_cast<double>(options_.retry_cap.count())) return options_.retry_cap;
  return Duration(static_cast<Duration::rep>(d));
}

void JobReconciler::SetPhase(Step& st, Phase phase) {
  Phase from = st.rec.status.phase;
  if (from == phase) return;
  st.rec.status.phase = phase;
  ObjectKey key = st.key;
  st.notes.push_back(
      [key, from, phase](ReconcilerObserver& o) { o.OnPhaseChange(key, from, phase); });
}

void JobReconciler::AddEvent(Step& st, std::string type, std::string reason,
                             const std::string& message) {
  store::Event e;
  e.key = st.key;
  e.time = st.now;
  e.type = std::move(type);
  e.reason = std::move(reason);
  e.message = Redact(message);
  std::vector<LogField> fields{{"object", st.key.ToString()},
                               {"reason", e.reason},
                               {"remoteJob", st.rec.status.remote_job_name},
                               {"revision", st.rec.status.synced_revision},
                               {"message", e.message}};
  if (e.type == "Warning") {
    LogWarn("event", fields);
  } else {
    LogInfo("event", fields);
  }
  st.batch.events.push_back(std::move(e));
}

int JobReconciler::NextAttempt(const Step& st, const std::string& spec_hash) const {
  int a = st.rec.status.attempt;
  if (a <= 0) return 1;
  // An attempt number whose submit provably created nothing may be reused;
  // any other is burnt, so a marker never names two different attempts.
  const store::SubmitIntent* i = st.FindAttempt(spec_hash, a);
  if (i && i->state == store::IntentState::kAbandoned) return a;
  return a + 1;
}

std::string JobReconciler::Location(const api::MLSpaceJob& job) const {
  return options_.locate ? options_.locate(job.spec) : job.spec.region;
}

void JobReconciler::StartNewRun(Step& st) {
  auto& s = st.rec.status;
  SetPhase(st, Phase::kPending);
  s.remote_job_name.clear();
  s.start_time.reset();
  s.completion_time.reset();
  s.last_error.clear();
  s.exit_code.reset();
  st.rec.next_attempt_at.reset();
  st.rec.removed_at.reset();
  st.CondOff(api::kCondSubmitted, "NewRun");
  st.CondOff(api::kCondRunning, "NewRun");
  st.CondOff(api::kCondComplete, "NewRun");
  st.CondOff(api::kCondFailed, "NewRun");
  st.CondOff(api::kCondStalled, "NewRun");
}

void JobReconciler::StartNewGeneration(Step& st, const api::MLSpaceJob& job) {
  st.rec.spec_hash = job.spec_hash;
  st.rec.generation += 1;
  st.rec.status.observed_generation = st.rec.generation;
  st.rec.region = Location(job);
  st.rec.failed_attempts = 0;
  StartNewRun(st);
  st.CondOff(api::kCondSpecDrift, "NewGeneration");
  AddEvent(st, "Normal", "NewGeneration",
           "generation " + std::to_string(st.rec.generation) + " (spec " +
               ShortHash(job.spec_hash) + ") accepted");
}

gateway::Outcome<gateway::CancelResult> JobReconciler::CancelRemote(Step& st,
                                                                    const std::string& name,
                                                                    std::string_view reason,
                                                                    const std::string& message) {
  if (name.empty()) return gateway::CancelResult::kNotFound;
  auto out = deps_.gateway->Cancel(name, st.rec.region);
  if (!out.ok()) return out;
  AddEvent(st, "Normal", "Cancelled",
           message + (out.value() == gateway::CancelResult::kNotFound ? " (already gone)" : ""));
  ObjectKey key = st.key;
  std::string r(reason);
  st.notes.push_back([key, r](ReconcilerObserver& o) { o.OnCancellation(key, r); });
  return out;
}

ReconcileResult JobReconciler::Reconcile(const ObjectKey& key) {
  try {
    return ReconcileOnce(key);
  } catch (const std::exception& e) {
    return ReportException(key, e.what());
  } catch (...) {
    return ReportException(key, "a non-standard exception");
  }
}

// A bug or a third-party library's refusal: the object says so (Stalled,
// ReconcileError, the message) instead of keeping a condition from the
// step that threw. The workqueue retries with backoff.
ReconcileResult JobReconciler::ReportException(const ObjectKey& key, const std::string& what) {
  // One printable ASCII line: the message goes into the record's JSON and
  // may quote the very bytes that made a library throw.
  std::string line = what;
  for (char& c : line) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  }
  Status err = InternalError("reconcile threw: " + line);
  try {
    Step st;
    st.key = key;
    st.now = deps_.clock->Now();
    auto rec = deps_.store->Get(key);
    if (!rec.ok()) return Fail(err);
    st.had_record = rec->has_value();
    if (st.had_record) {
      st.rec = **rec;
    } else {
      st.rec.key = key;
      st.rec.created_at = st.now;
    }
    st.original = st.rec;
    std::string msg = Redact(err.message());
    if (!st.CondIs(api::kCondStalled, kTrue, "ReconcileError") || st.rec.status.last_error != msg) {
      AddEvent(st, "Warning", "ReconcileError", msg);
    }
    st.rec.status.last_error = msg;
    st.Cond(api::kCondStalled, kTrue, "ReconcileError", msg);
    return Finish(st, Fail(err));
  } catch (...) {
    return Fail(err);
  }
}

ReconcileResult JobReconciler::ReconcileOnce(const ObjectKey& key) {
  auto desired = deps_.desired->Get();
  if (!desired) return After(std::chrono::seconds(1));  // before the first source sync
  Step st;
  st.key = key;
  st.now = deps_.clock->Now();
  auto rec = deps_.store->Get(key);
  if (!rec.ok()) return Fail(rec.status());
  auto intents = deps_.store->Intents(key);
  if (!intents.ok()) return Fail(intents.status());
  st.had_record = rec->has_value();
  if (st.had_record) {
    st.rec = **rec;
  } else {
    st.rec.key = key;
    st.rec.created_at = st.now;
  }
  st.original = st.rec;
  st.intents = std::move(intents).value();

  const DesiredObject* d = desired->Find(key);
  if (DebugOn()) {
    LogDebug("reconcile", {{"object", key.ToString()},
                           {"desired", !d ? "missing" : (d->job ? "valid" : "invalid")},
                           {"desiredSpec", d && d->job ? ShortHash(d->job->spec_hash) : ""},
                           {"recorded", st.had_record ? "yes" : "no"},
                           {"recordedSpec", ShortHash(st.rec.spec_hash)},
                           {"phase", std::string(api::PhaseName(st.rec.status.phase))},
                           {"remoteJob", st.rec.status.remote_job_name},
                           {"revision", desired->revision},
                           {"sourceOk", desired->source_ok ? "true" : "false"}});
  }
  if (d && d->job) {
    const api::MLSpaceJob& job = *d->job;
    st.rec.source_path = job.source_path;
    st.rec.labels = job.metadata.labels;
    st.rec.annotations = job.metadata.annotations;
    st.rec.status.synced_revision = desired->revision;
  }

  // An open intent means an attempt may exist remotely: settle it first.
  for (auto it = st.intents.rbegin(); it != st.intents.rend(); ++it) {
    if (it->state == store::IntentState::kOpen) {
      if (DebugOn()) {
        LogDebug("open submit intent: settling it before anything else",
                 {{"object", key.ToString()}, {"marker", it->marker}});
      }
      return Finish(st, HandleIntent(st, *it, d, *desired));
    }
  }
  // A record this controller wrote while waiting for its first list has
  // never run an attempt: it may still adopt a job lost with the old store.
  const bool never_ran =
      !st.had_record || (st.rec.status.attempt == 0 && st.rec.status.remote_job_name.empty());
  if (d && d->job && never_ran && st.intents.empty()) {
    bool wait = false;
    if (auto adopted = AdoptLostJob(st, *d, *desired, &wait)) {
      if (!wait) return Finish(st, *adopted);
      // Visible while it waits (kubectl get shows it Pending and why), but
      // nothing is sent: the record has no intent and no attempt.
      const api::MLSpaceJob& job = *d->job;
      if (st.rec.spec_hash != job.spec_hash) StartNewGeneration(st, job);
      if (deps_.encode_spec) st.rec.spec_json = deps_.encode_spec(job.spec);
      st.Cond(api::kCondSubmitted, kFalse, "AwaitingFirstList",
              "the state store was new or empty at start: waiting for a first list of region " +
                  Location(job) + " to adopt this controller's jobs before any submit");
      if (GatewayHealth* h = HealthOf(Location(job)); h && !h->authorized()) {
        MarkUnauthorized(st, h);
      }
      return Finish(st, *adopted);
    }
  }
  if (!d) {
    if (!st.had_record) return Done();
    return Finish(st, HandleMissing(st, *desired));
  }
  if (d->invalid) return Finish(st, HandleInvalid(st, *d->invalid, *desired));
  return Finish(st, HandleJob(st, *d->job, *desired));
}

ReconcileResult JobReconciler::HandleIntent(Step& st, store::SubmitIntent intent,
                                            const DesiredObject* d, const DesiredState& desired) {
  const api::MLSpaceJob* job = d && d->job ? &*d->job : nullptr;
  auto snap = deps_.observed->Region(intent.region);
  if (snap) {
    std::vector<const gateway::RemoteJob*> found;
    for (const gateway::RemoteJob* j : snap->WithMarker(intent.marker)) {
      if (j->created && *j->created < intent.created_at - options_.adopt_clock_skew) continue;
      found.push_back(j);
    }
    if (!found.empty()) {
      const gateway::RemoteJob* keep = found.front();
      if (DebugOn()) {
        LogDebug("marker found in list: adopting, not resubmitting",
                 {{"object", st.key.ToString()},
                  {"marker", intent.marker},
                  {"remoteJob", keep->name},
                  {"carriers", std::to_string(found.size())}});
      }
      // The record follows the adopted attempt (it may never have been
      // written if the controller stopped between intent and status).
      st.rec.region = intent.region;
      if (st.rec.spec_hash != intent.spec_hash) {
        st.rec.spec_hash = intent.spec_hash;
        st.rec.generation += 1;
        st.rec.status.observed_generation = st.rec.generation;
        st.rec.failed_attempts = 0;
      }
      for (size_t i = 1; i < found.size(); ++i) {
        if (gateway::IsFinished(found[i]->status)) continue;
        auto c = CancelRemote(st, found[i]->name, "duplicate",
                              "duplicate of " + keep->name + " (marker " + intent.marker +
                                  "): cancelling " + found[i]->name);
        if (!c.ok()) return GatewayFailed(st, c.error());
        AddEvent(st, "Warning", "DuplicateCancelled",
                 found[i]->name + " carries marker " + intent.marker + " like the older " +
                     keep->name + "; kept the oldest, cancelled the rest");
      }
      intent.state = store::IntentState::kSubmitted;
      intent.remote_job_name = keep->name;
      intent.updated_at = st.now;
      st.batch.intents.push_back(intent);
      auto& s = st.rec.status;
      StartNewRun(st);
      s.attempt = intent.attempt;
      s.remote_job_name = keep->name;
      SetPhase(st, Phase::kSubmitted);
      st.Cond(api::kCondSubmitted, kTrue, "Adopted",
              "attempt " + std::to_string(intent.attempt) + " found as " + keep->name);
      AddEvent(st, "Normal", "Adopted",
               "found attempt " + std::to_string(intent.attempt) + " as " + keep->name +
                   " by its marker " + intent.marker + "; adopted, not resubmitted");
      ObjectKey key = st.key;
      st.notes.push_back([key](ReconcilerObserver& o) { o.OnSubmission(key, "adopted"); });
      return Now();  // the next step observes (or cancels) the adopted job
    }
  }

  // Not seen. Only lists sent after the POST count as evidence of absence.
  if (!snap || snap->started_at <= intent.updated_at) {
    if (DebugOn()) {
      LogDebug("marker not seen; waiting for a list sent after the submit",
               {{"object", st.key.ToString()}, {"marker", intent.marker}});
    }
    deps_.observed->WatchNextList(intent.region, st.key);
    return After(options_.poll_interval);
  }
  bool counted = false;
  {
    std::lock_guard lock(mu_);
    uint64_t& gen = intent_counted_gen_[intent.marker];
    if (snap->generation > gen) {
      gen = snap->generation;
      counted = true;
    }
  }
  if (counted) intent.absent_lists += 1;
  Duration waited = st.now - intent.updated_at;
  // Above a safe multiple of the list lag seen for this controller's own
  // jobs, so a slow list does not turn a lost answer into a duplicate.
  const Duration grace = deps_.observed->lag().Grace(intent.region, options_.ambiguous_grace);
  bool confirmed = intent.absent_lists >= options_.absent_lists_required && waited >= grace;
  if (!confirmed) {
    if (DebugOn()) {
      LogDebug("marker absent; not resubmitting yet",
               {{"object", st.key.ToString()},
                {"marker", intent.marker},
                {"absentLists", std::to_string(intent.absent_lists)},
                {"required", std::to_string(options_.absent_lists_required)},
                {"waited", Secs(waited)},
                {"grace", Secs(options_.ambiguous_grace)}});
    }
    if (counted) st.batch.intents.push_back(intent);
    deps_.observed->WatchNextList(intent.region, st.key);
    st.Cond(api::kCondSubmitted, kUnknown, "SubmitAmbiguous",
            "looking for marker " + intent.marker + " (absent from " +
                std::to_string(intent.absent_lists) + " list(s) so far)");
    return After(std::max(options_.poll_interval, grace - waited));
  }
  {
    std::lock_guard lock(mu_);
    intent_counted_gen_.erase(intent.marker);
  }
  if (!job && !desired.source_ok) {
    // Whether the attempt is still wanted is unknown while the source
    // cannot be read: decide nothing, look again later.
    deps_.observed->WatchNextList(intent.region, st.key);
    return After(options_.poll_interval);
  }
  bool terminal = st.rec.spec_hash == intent.spec_hash && api::IsTerminal(st.rec.status.phase);
  bool wanted =
      job && !job->spec.run_policy.suspend && job->spec_hash == intent.spec_hash && !terminal;
  std::string evidence = "marker " + intent.marker + " absent from " +
                         std::to_string(intent.absent_lists) + " consecutive lists over " +
                         Secs(waited);
  if (DebugOn()) {
    LogDebug("open intent confirmed absent", {{"object", st.key.ToString()},
                                              {"marker", intent.marker},
                                              {"wanted", wanted ? "true" : "false"},
                                              {"absentLists", std::to_string(intent.absent_lists)},
                                              {"waited", Secs(waited)}});
  }
  if (wanted) {
    if (GatewayHealth* h = HealthOf(intent.region)) {
      if (Duration wait = h->Blocked(); wait > Duration::zero()) {
        MarkUnauthorized(st, h);
        return After(wait);
      }
    }
    if (st.rec.spec_hash != intent.spec_hash) {
      st.rec.spec_hash = intent.spec_hash;
      st.rec.generation += 1;
      st.rec.status.observed_generation = st.rec.generation;
      st.rec.failed_attempts = 0;
    }
    st.rec.region = intent.region;
    AddEvent(st, "Normal", "Resubmitting",
             evidence + ": attempt " + std::to_string(intent.attempt) +
                 " was never created; submitting it again with the same marker");
    return SendSubmit(st, *job, intent);
  }
  intent.state = store::IntentState::kAbandoned;
  intent.updated_at = st.now;
  st.batch.intents.push_back(intent);
  AddEvent(st, "Normal", "IntentAbandoned",
           evidence + ": attempt " + std::to_string(intent.attempt) +
               " was never created and is no longer wanted");
  return Now();
}

ReconcileResult JobReconciler::HandleJob(Step& st, const api::MLSpaceJob& job,
                                         const DesiredState& desired) {
  (void)desired;
  auto& s = st.rec.status;
  if (deps_.encode_spec) st.rec.spec_json = deps_.encode_spec(job.spec);
  st.Cond(api::kCondAccepted, kTrue, "Valid", "manifest " + job.source_path + " is valid");
  if (st.CondIs(api::kCondStalled, kTrue, "InvalidManifest") ||
      st.CondIs(api::kCondStalled, kTrue, "PruneRefused")) {
    st.Cond(api::kCondStalled, kFalse, "Resolved", "");
  }
  if (s.phase == Phase::kInvalid) {
    // Back to what the record says about the last valid generation.
    Phase p = Phase::kPending;
    if (st.CondIs(api::kCondComplete, kTrue)) {
      p = Phase::kSucceeded;
    } else if (st.CondIs(api::kCondFailed, kTrue)) {
      p = Phase::kFailed;
    } else if (st.CondIs(api::kCondSuspended, kTrue)) {
      p = Phase::kSuspended;
    } else if (!s.remote_job_name.empty()) {
      p = st.CondIs(api::kCondRunning, kTrue) ? Phase::kRunning : Phase::kSubmitted;
    }
    SetPhase(st, p);
  }
  if (s.phase == Phase::kRemoved) {
    StartNewRun(st);
    st.rec.failed_attempts = 0;
    AddEvent(st, "Normal", "Restored", "manifest is back in revision " + desired.revision);
  }

  if (st.rec.spec_hash.empty()) {
    st.rec.spec_hash = job.spec_hash;
    st.rec.generation = 1;
    s.observed_generation = 1;
    st.rec.region = Location(job);
  } else if (st.rec.spec_hash != job.spec_hash) {
    if (IsActive(st.rec)) {
      if (job.spec.run_policy.on_spec_change == api::SpecChangePolicy::kIgnore) {
        if (!st.CondIs(api::kCondSpecDrift, kTrue)) {
          AddEvent(st, "Normal", "SpecDrift",
                   "spec changed (" + ShortHash(job.spec_hash) + "); onSpecChange=Ignore keeps " +
                       s.remote_job_name + " running");
        }
        st.Cond(api::kCondSpecDrift, kTrue, "SpecChanged",
                "the manifest's spec " + ShortHash(job.spec_hash) + " differs from the running " +
                    ShortHash(st.rec.spec_hash) + " (onSpecChange=Ignore)");
        return Observe(st, &job);
      }
      std::string old = s.remote_job_name;
      auto c =
          CancelRemote(st, old, "replace", "spec changed (onSpecChange=Replace): cancelled " + old);
      if (!c.ok()) return GatewayFailed(st, c.error());
      StartNewGeneration(st, job);
      return Now();  // the next step submits the new generation
    }
    StartNewGeneration(st, job);
  } else {
    st.CondOff(api::kCondSpecDrift, "SpecMatches");
  }
  if (s.phase == Phase::kPending) st.rec.region = Location(job);

  bool suspend = job.spec.run_policy.suspend;
  if (DebugOn()) {
    LogDebug("desired vs recorded", {{"object", st.key.ToString()},
                                     {"specHash", ShortHash(job.spec_hash)},
                                     {"recordedSpecHash", ShortHash(st.rec.spec_hash)},
                                     {"generation", std::to_string(st.rec.generation)},
                                     {"phase", std::string(api::PhaseName(s.phase))},
                                     {"suspend", suspend ? "true" : "false"},
                                     {"attempt", std::to_string(s.attempt)},
                                     {"failedAttempts", std::to_string(st.rec.failed_attempts)}});
  }
  switch (s.phase) {
    case Phase::kSucceeded:
    case Phase::kFailed:
      if (DebugOn()) {
        LogDebug("terminal for this generation; nothing sent",
                 {{"object", st.key.ToString()}, {"phase", std::string(api::PhaseName(s.phase))}});
      }
      return Done();  // terminal: sticky for this generation
    case Phase::kSuspended:
      if (suspend) return Done();
      st.Cond(api::kCondSuspended, kFalse, "Resumed", "runPolicy.suspend is false");
      AddEvent(st, "Normal", "Resumed",
               "resumed: a new attempt starts (not counted against backoffLimit)");
      StartNewRun(st);
      return Submit(st, job);
    case Phase::kPending:
      if (suspend) {
        SetPhase(st, Phase::kSuspended);
        st.rec.next_attempt_at.reset();
        st.Cond(api::kCondSuspended, kTrue, "Suspended", "runPolicy.suspend is true");
        AddEvent(st, "Normal", "Suspended", "suspended before submission");
        return Done();
      }
      if (st.rec.next_attempt_at && st.now < *st.rec.next_attempt_at) {
        if (DebugOn()) {
          LogDebug("retry backoff not elapsed; not submitting",
                   {{"object", st.key.ToString()},
                    {"nextAttemptAt", FormatRfc3339(*st.rec.next_attempt_at)}});
        }
        return After(*st.rec.next_attempt_at - st.now);
      }
      return Submit(st, job);
    case Phase::kSubmitted:
    case Phase::kRunning:
      if (suspend) {
        std::string old = s.remote_job_name;
        auto c = CancelRemote(st, old, "suspend", "suspended: cancelled " + old);
        if (!c.ok()) return GatewayFailed(st, c.error());
        SetPhase(st, Phase::kSuspended);
        st.Cond(api::kCondSuspended, kTrue, "Suspended", "runPolicy.suspend is true");
        st.CondOff(api::kCondRunning, "Suspended");
        return Done();
      }
      return Observe(st, &job);
    default:
      return Done();
  }
}

ReconcileResult JobReconciler::Observe(Step& st, const api::MLSpaceJob* job) {
  auto& s = st.rec.status;
  std::string name = s.remote_job_name;
  const std::string& region = st.rec.region;
  auto snap = deps_.observed->Region(region);
  if (!snap) {
    if (DebugOn()) {
      LogDebug("no list of the region yet; waiting for the poll",
               {{"object", st.key.ToString()}, {"region", region}});
    }
    deps_.observed->WatchNextList(region, st.key);
    return After(options_.poll_interval);
  }
  // The marker this attempt was submitted with, as its intent recorded it:
  // jobs submitted by an earlier version carry a legacy marker, and only
  // this marker's carriers are ours (another instance's never match it).
  const store::SubmitIntent* attempt_intent = st.FindAttempt(st.rec.spec_hash, s.attempt);
  std::string marker = attempt_intent
                           ? attempt_intent->marker
                           : MakeMarker(options_.instance, st.key, st.rec.spec_hash, s.attempt);
  auto carriers = snap->WithMarker(marker);
  if (carriers.size() > 1) {
    const gateway::RemoteJob* keep = carriers.front();
    for (size_t i = 1; i < carriers.size(); ++i) {
      if (gateway::IsFinished(carriers[i]->status)) continue;
      auto c = CancelRemote(st, carriers[i]->name, "duplicate",
                            "duplicate of " + keep->name + " (marker " + marker + "): cancelled " +
                                carriers[i]->name);
      if (!c.ok()) return GatewayFailed(st, c.error());
      AddEvent(st, "Warning", "DuplicateCancelled",
               carriers[i]->name + " carries marker " + marker + " like the older " + keep->name +
                   "; kept the oldest, cancelled the rest");
    }
    if (keep->name != name) {
      s.remote_job_name = keep->name;
      name = keep->name;
    }
  }

  const gateway::RemoteJob* remote = snap->Find(name);
  std::optional<gateway::RemoteJob> got;
  if (!remote) {
    TimePoint since{};
    if (const auto* i = st.FindIntent(marker)) since = i->updated_at;
    if (const auto* c = api::FindCondition(s.conditions, api::kCondSubmitted)) {
      since = std::max(since, c->last_transition_time);
    }
    if (snap->started_at <= since) {
      if (DebugOn()) {
        LogDebug("job not in a list older than its submit; waiting for the next list",
                 {{"object", st.key.ToString()}, {"remoteJob", name}});
      }
      deps_.observed->WatchNextList(region, st.key);
      return After(options_.poll_interval);
    }
    // The list did not show it: ask for this one job.
    if (DebugOn()) {
      LogDebug("job missing from a fresh list; sending one GET",
               {{"object", st.key.ToString()}, {"remoteJob", name}});
    }
    auto g = deps_.gateway->GetIn(name, region);
    if (g.ok()) {
      got = std::move(g).value();
      remote = &*got;
    } else if (g.Is(gateway::ErrorKind::kNotFound)) {
      bool lost = false;
      int lists = 0;
      {
        std::lock_guard lock(mu_);
        Missing& m = missing_[name];
        if (snap->generation > m.counted_gen) {
          m.counted_gen = snap->generation;
          ++m.lists;
        }
        lists = m.lists;
        if (lists >= options_.lost_lists_required) {
          lost = true;
          missing_.erase(name);
        }
      }
      if (lost) {
        return RunFailed(st, job,
                         "remote job " + name + " disappeared (missing from " +
                             std::to_string(lists) + " consecutive lists, GET: not found)");
      }
      deps_.observed->WatchNextList(region, st.key);
      return After(options_.poll_interval);
    } else {
      return GatewayFailed(st, g.error());
    }
  }
  {
    std::lock_guard lock(mu_);
    missing_.erase(name);
  }

  gateway::RemoteStatus rs = remote->status;
  if (DebugOn()) {
    LogDebug("observed remote job", {{"object", st.key.ToString()},
                                     {"remoteJob", name},
                                     {"remoteStatus", std::string(gateway::RemoteStatusName(rs))},
                                     {"phase", std::string(api::PhaseName(s.phase))},
                                     {"listGeneration", std::to_string(snap->generation)}});
  }
  if (gateway::IsSuccess(rs)) {
    SetPhase(st, Phase::kSucceeded);
    s.exit_code.reset();
    s.completion_time = remote->completed.value_or(st.now);
    if (!s.start_time) s.start_time = remote->started.value_or(*s.completion_time);
    st.Cond(api::kCondComplete, kTrue, "Completed", "remote job " + name + " completed");
    st.CondOff(api::kCondRunning, "Completed");
    AddEvent(st, "Normal", "Completed", "remote job " + name + " completed");
    ObjectKey key = st.key;
    Duration run = *s.completion_time - *s.start_time;
    st.notes.push_back([key, run](ReconcilerObserver& o) { o.OnRunDuration(key, run); });
    return Done();
  }
  if (gateway::IsFinished(rs)) {
    FailureReport failure =
        ExplainFailure(*deps_.gateway, *remote, remote->region.empty() ? region : remote->region);
    return RunFailed(
        st, job,
        "remote job " + name + " ended with status " + std::string(gateway::RemoteStatusName(rs)),
        &failure);
  }
  if (s.phase == Phase::kSubmitted && rs == gateway::RemoteStatus::kPending &&
      !remote->pending_reason.empty()) {
    // The backend says why it holds the job (Slurm: partition down, QOS
    // limits): shown in the Submitted condition in its words.
    st.Cond(api::kCondSubmitted, kTrue, "Submitted",
            "attempt " + std::to_string(s.attempt) + " submitted as " + name +
                "; pending: " + remote->pending_reason);
  }
  if (s.phase == Phase::kSubmitted &&
      (rs == gateway::RemoteStatus::kRunning || rs == gateway::RemoteStatus::kCompleting ||
       rs == gateway::RemoteStatus::kRestarting || rs == gateway::RemoteStatus::kTerminating)) {
    SetPhase(st, Phase::kRunning);
    if (!s.start_time) s.start_time = remote->started.value_or(st.now);
    st.Cond(api::kCondRunning, kTrue, "Running", "remote job " + name + " is running");
    AddEvent(st, "Normal", "Running", "remote job " + name + " is running");
    const api::Condition* sub = api::FindCondition(s.conditions, api::kCondSubmitted);
    if (sub) {
      ObjectKey key = st.key;
      Duration pending = *s.start_time - sub->last_transition_time;
      st.notes.push_back(
          [key, pending](ReconcilerObserver& o) { o.OnPendingDuration(key, pending); });
    }
  }
  if (job && job->spec.run_policy.active_deadline_seconds && s.start_time) {
    TimePoint deadline =
        *s.start_time + std::chrono::seconds(*job->spec.run_policy.active_deadline_seconds);
    if (st.now >= deadline) {
      auto c = CancelRemote(st, name, "deadline",
                            "activeDeadlineSeconds " +
                                std::to_string(*job->spec.run_policy.active_deadline_seconds) +
                                " passed: cancelled " + name);
      if (!c.ok()) return GatewayFailed(st, c.error());
      SetPhase(st, Phase::kFailed);
      s.completion_time = st.now;
      st.Cond(api::kCondFailed, kTrue, "DeadlineExceeded",
              "ran longer than activeDeadlineSeconds " +
                  std::to_string(*job->spec.run_policy.active_deadline_seconds));
      st.CondOff(api::kCondRunning, "DeadlineExceeded");
      AddEvent(st, "Warning", "DeadlineExceeded",
               "activeDeadlineSeconds passed since " + FormatRfc3339(*s.start_time) +
                   "; cancelled " + name);
      ObjectKey key = st.key;
      Duration run = st.now - *s.start_time;
      st.notes.push_back([key, run](ReconcilerObserver& o) { o.OnRunDuration(key, run); });
      return Done();
    }
    return After(deadline - st.now);
  }
  return Done();
}

ReconcileResult JobReconciler::RunFailed(Step& st, const api::MLSpaceJob* job,
                                         const std::string& what, const FailureReport* failure) {
  auto& s = st.rec.status;
  // `why` (exit code included) goes into events and lastError; the output's
  // tail only into the conditions, like a pod's termination message.
  std::string why = what;
  std::string output;
  if (failure) {
    s.exit_code = failure->exit_code;
    if (!failure->exit_summary.empty()) why += ", " + failure->exit_summary;
    if (!failure->output.empty()) output = "; last output:\n" + failure->output;
  }
  int limit = job ? job->spec.run_policy.backoff_limit : 0;
  st.rec.failed_attempts += 1;
  s.last_error = Redact(why);
  st.CondOff(api::kCondRunning, "AttemptFailed", why);
  ObjectKey key = st.key;
  if (st.rec.failed_attempts <= limit) {
    Duration backoff = RetryBackoff(st.rec.failed_attempts);
    int failed_attempt = s.attempt;
    SetPhase(st, Phase::kPending);
    s.remote_job_name.clear();
    st.rec.next_attempt_at = st.now + backoff;
    st.Cond(api::kCondSubmitted, kFalse, "Retrying", why + output);
    AddEvent(st, "Warning", "Retried",
             "attempt " + std::to_string(failed_attempt) + " failed: " + why + "; retry " +
                 std::to_string(st.rec.failed_attempts) + " of " + std::to_string(limit) + " in " +
                 Secs(backoff));
    st.notes.push_back([key](ReconcilerObserver& o) { o.OnRetry(key); });
    return After(backoff);
  }
  SetPhase(st, Phase::kFailed);
  s.completion_time = st.now;
  st.Cond(api::kCondFailed, kTrue, "BackoffLimitExceeded",
          why + "; backoffLimit " + std::to_string(limit) + " reached" + output);
  AddEvent(st, "Warning", "BackoffLimitExceeded",
           why + "; " + std::to_string(st.rec.failed_attempts) +
               " failed attempt(s), backoffLimit " + std::to_string(limit));
  if (s.start_time) {
    Duration run = st.now - *s.start_time;
    st.notes.push_back([key, run](ReconcilerObserver& o) { o.OnRunDuration(key, run); });
  }
  return Done();
}

ReconcileResult JobReconciler::Submit(Step& st, const api::MLSpaceJob& job) {
  if (options_.instance.empty()) {
    // Never submit an unqualified marker: another controller could take
    // the job for its own (and this one could take another's).
    return Fail(FailedPreconditionError("no instance identity set; not submitting"));
  }
  store::SubmitIntent intent;
  intent.attempt = NextAttempt(st, job.spec_hash);
  intent.marker = MakeMarker(options_.instance, st.key, job.spec_hash, intent.attempt);
  intent.key = st.key;
  intent.spec_hash = job.spec_hash;
  intent.region = Location(job);
  intent.state = store::IntentState::kOpen;
  intent.created_at = st.now;
  return SendSubmit(st, job, intent);
}

ReconcileResult JobReconciler::SendSubmit(Step& st, const api::MLSpaceJob& job,
                                          store::SubmitIntent intent) {
  auto& s = st.rec.status;
  ObjectKey key = st.key;
  GatewayHealth* health = HealthOf(intent.region);
  if (health) {
    // While the backend refuses the credentials, no intent and no request:
    // one probe per backoff (whoever's turn it is) decides for all of its
    // objects. Other backends' objects are not held back.
    if (Duration wait = health->Blocked(); wait > Duration::zero()) {
      if (DebugOn()) {
        LogDebug("submit not sent: the gateway rejects the credentials",
                 {{"object", st.key.ToString()},
                  {"attempt", std::to_string(intent.attempt)},
                  {"retryIn", Secs(wait)}});
      }
      MarkUnauthorized(st, health);
      return After(wait);
    }
  }
  auto req = deps_.build_request(job, intent.marker);
  if (!req.ok()) {
    std::string msg = Redact(req.status().message());
    if (!st.CondIs(api::kCondStalled, kTrue, "SubmitBlocked") || s.last_error != msg) {
      AddEvent(st, "Warning", "SubmitBlocked", msg);
    }
    s.last_error = msg;
    st.Cond(api::kCondStalled, kTrue, "SubmitBlocked", msg);
    st.notes.push_back([key](ReconcilerObserver& o) { o.OnSubmission(key, "error"); });
    return Fail(req.status(), options_.poll_interval);
  }
  if (!req->job_desc || req->job_desc->find(intent.marker) == std::string::npos) {
    req->job_desc = req->job_desc && !req->job_desc->empty() ? intent.marker + " " + *req->job_desc
                                                             : intent.marker;
  }
  // With backends the location, not the bare region, tells the router
  // which backend (and which of its regions) receives the POST.
  if (options_.locate) req->region = intent.region;
  // The intent is durable before the POST: a crash from here on leaves
  // enough to find the job by its marker.
  intent.state = store::IntentState::kOpen;
  intent.absent_lists = 0;
  intent.updated_at = st.now;
  store::WriteBatch pre;
  pre.intents.push_back(intent);
  if (Status w = deps_.store->Write(pre); !w.ok()) return Fail(w);
  {
    std::lock_guard lock(mu_);
    intent_counted_gen_.erase(intent.marker);
  }
  s.attempt = intent.attempt;
  st.rec.region = intent.region;

  if (DebugOn()) {
    LogDebug("sending submit", {{"object", st.key.ToString()},
                                {"attempt", std::to_string(intent.attempt)},
                                {"marker", intent.marker},
                                {"region", intent.region}});
  }
  auto out = deps_.gateway->Submit(*req);
  intent.updated_at = deps_.clock->Now();
  if (out.ok()) {
    const std::string& name = out.value();
    deps_.observed->lag().RecordSubmit(intent.region, name, intent.updated_at);
    intent.state = store::IntentState::kSubmitted;
    intent.remote_job_name = name;
    st.batch.intents.push_back(intent);
    SetPhase(st, Phase::kSubmitted);
    s.remote_job_name = name;
    s.last_error.clear();
    st.rec.next_attempt_at.reset();
    st.Cond(api::kCondSubmitted, kTrue, "Submitted",
            "attempt " + std::to_string(intent.attempt) + " submitted as " + name);
    st.CondOff(api::kCondStalled, "Submitted");
    AddEvent(st, "Normal", "Submitted",
             "attempt " + std::to_string(intent.attempt) + " submitted as " + name + " (marker " +
                 intent.marker + ")");
    st.notes.push_back([key](ReconcilerObserver& o) { o.OnSubmission(key, "success"); });
    return Done();  // the poller wakes this key when the job changes
  }
  const gateway::Error& e = out.error();
  std::string msg = Redact(e.message);
  switch (e.kind) {
    case gateway::ErrorKind::kAmbiguous:
    case gateway::ErrorKind::kInternal:
      // It may exist: never re-sent blindly. Lists settle it (HandleIntent).
      st.batch.intents.push_back(intent);
      s.last_error = msg;
      st.Cond(api::kCondSubmitted, kUnknown, "SubmitAmbiguous",
              "attempt " + std::to_string(intent.attempt) + ": " + msg + "; looking for marker " +
                  intent.marker);
      AddEvent(st, "Warning", "SubmitAmbiguous",
               "attempt " + std::to_string(intent.attempt) + ": " + msg +
                   "; not resubmitting, looking for marker " + intent.marker + " in lists");
      deps_.observed->WatchNextList(intent.region, st.key);
      st.notes.push_back([key](ReconcilerObserver& o) { o.OnSubmission(key, "ambiguous"); });
      return After(options_.poll_interval);
    case gateway::ErrorKind::kUnauthorized:
      // Provably not processed; a controller-wide state, not this object's
      // retry: the phase stays, a condition says why, GatewayHealth decides
      // when requests resume.
      intent.state = store::IntentState::kAbandoned;
      st.batch.intents.push_back(intent);
      s.last_error = msg;
      MarkUnauthorized(st, health, msg);
      st.notes.push_back([key](ReconcilerObserver& o) { o.OnSubmission(key, "unauthorized"); });
      if (health) return After(std::max(health->Blocked(), options_.gateway_retry_base));
      return Fail(e.ToStatus(), GatewayBackoff(key, e.retry_after));
    case gateway::ErrorKind::kInvalid:
      intent.state = store::IntentState::kAbandoned;
      st.batch.intents.push_back(intent);
      SetPhase(st, Phase::kFailed);
      s.completion_time = st.now;
      s.last_error = msg;
      st.Cond(api::kCondStalled, kTrue, "SubmitRejected", msg);
      st.Cond(api::kCondFailed, kTrue, "SubmitRejected", msg);
      AddEvent(st, "Warning", "SubmitRejected", msg + " (terminal for this generation)");
      st.notes.push_back([key](ReconcilerObserver& o) { o.OnSubmission(key, "invalid"); });
      return Done();
    default: {
      // Provably not processed (429, refused before sending): the same
      // attempt is sent again after the per-object backoff (>= 1 s, doubling),
      // never sooner than Retry-After.
      intent.state = store::IntentState::kAbandoned;
      st.batch.intents.push_back(intent);
      s.last_error = msg;
      st.Cond(api::kCondSubmitted, kFalse, "SubmitRetrying", msg);
      AddEvent(st, "Warning", "SubmitRetrying", msg);
      std::string result = e.kind == gateway::ErrorKind::kThrottled ? "throttled" : "unavailable";
      st.notes.push_back([key, result](ReconcilerObserver& o) { o.OnSubmission(key, result); });
      Duration wait = GatewayBackoff(key, e.retry_after);
      if (DebugOn()) {
        LogDebug("submit not processed; retrying later",
                 {{"object", st.key.ToString()},
                  {"kind", std::string(gateway::ErrorKindName(e.kind))},
                  {"retryIn", Secs(wait)}});
      }
      return Fail(e.ToStatus(), wait);
    }
  }
}

GatewayHealth* JobReconciler::HealthOf(const std::string& location) const {
  return deps_.health ? &deps_.health->For(location) : nullptr;
}

void JobReconciler::MarkUnauthorized(Step& st, const GatewayHealth* health,
                                     const std::string& message) {
  // A condition, not an event per object: the controller logs one WARN per
  // change of the gateway's state, and /readyz shows it. With several
  // backends it names the one refusing.
  std::string who = "the gateway";
  if (health && deps_.health && deps_.health->All().size() > 1) {
    who = "backend " + health->name();
  }
  const std::string why = health && !health->last_error().empty() ? health->last_error() : message;
  st.Cond(api::kCondStalled, kTrue, kReasonGatewayUnauthorized,
          who + " rejects the controller's credentials (" + why +
              "); waiting for them to work, phase kept");
}

Duration JobReconciler::GatewayBackoff(const ObjectKey& key, Duration retry_after) {
  int n = 0;
  {
    std::lock_guard lock(mu_);
    n = ++gateway_failures_[key];
  }
  const double base = std::chrono::duration<double>(options_.gateway_retry_base).count();
  const double cap = std::chrono::duration<double>(options_.gateway_retry_cap).count();
  const double d = std::min(cap, base * std::pow(2.0, std::min(n - 1, 30)));
  return std::max(std::chrono::duration_cast<Duration>(std::chrono::duration<double>(d)),
                  retry_after);
}

ReconcileResult JobReconciler::GatewayFailed(Step& st, const gateway::Error& e) {
  GatewayHealth* health = HealthOf(st.rec.region);
  if (e.kind == gateway::ErrorKind::kUnauthorized && health) {
    MarkUnauthorized(st, health);
    Duration wait = std::max(health->Blocked(), options_.gateway_retry_base);
    if (DebugOn()) {
      LogDebug("gateway call refused (credentials); waiting for the gateway",
               {{"object", st.key.ToString()}, {"retryIn", Secs(wait)}});
    }
    return After(wait);
  }
  Duration wait = GatewayBackoff(st.key, e.retry_after);
  if (DebugOn()) {
    LogDebug("gateway call failed; retrying later",
             {{"object", st.key.ToString()},
              {"kind", std::string(gateway::ErrorKindName(e.kind))},
              {"retryIn", Secs(wait)}});
  }
  return Fail(e.ToStatus(), wait);
}

ReconcileResult JobReconciler::HandleInvalid(Step& st, const InvalidManifest& inv,
                                             const DesiredState& desired) {
  auto& s = st.rec.status;
  s.synced_revision = desired.revision;
  if (st.rec.source_path.empty()) st.rec.source_path = inv.file;
  // Never valid: serve the fields that could be read (a once-valid object
  // keeps the spec of the generation it last ran).
  if (st.rec.spec_hash.empty() && !inv.readable_spec_json.empty()) {
    st.rec.spec_json = Redact(inv.readable_spec_json);
    auto j = nlohmann::json::parse(inv.readable_spec_json, nullptr, /*allow_exceptions=*/false);
    if (j.is_object() && j.contains("region") && j["region"].is_string()) {
      st.rec.region = j["region"].get<std::string>();
    }
  }
  bool running = IsActive(st.rec) ||
                 (s.phase == Phase::kInvalid && !s.remote_job_name.empty() && !s.completion_time);
  bool changed = s.phase != Phase::kInvalid || !st.CondIs(api::kCondAccepted, kFalse, inv.reason) ||
                 s.last_error != Redact(inv.message);
  SetPhase(st, Phase::kInvalid);
  st.Cond(api::kCondAccepted, kFalse, inv.reason, inv.message);
  s.last_error = Redact(inv.message);
  if (running) {
    st.Cond(api::kCondStalled, kTrue, "InvalidManifest",
            "manifest invalid; the last valid generation keeps running as " + s.remote_job_name);
  }
  if (changed) AddEvent(st, "Warning", "Invalid", inv.reason + ": " + inv.message);
  return Done();
}

ReconcileResult JobReconciler::HandleMissing(Step& st, const DesiredState& desired) {
  auto& s = st.rec.status;
  if (s.phase == Phase::kRemoved) {
    TimePoint until = st.rec.removed_at.value_or(st.now) + options_.removed_retention;
    if (st.now >= until) {
      st.drop = true;
      ObjectKey key = st.key;
      st.notes.push_back([key](ReconcilerObserver& o) { o.OnRecordDropped(key); });
      return Done();
    }
    return After(until - st.now);
  }
  PruneVerdict v = desired.source_ok ? desired.prune : ComputePruneVerdict(false, 0, 0, 0, 1.0);
  // An API delete is the user's explicit intent: the guards protect against
  // commits from elsewhere, not against it (a readable source only).
  if (!v.allowed && desired.source_ok && deps_.api_removals &&
      deps_.api_removals->Contains(st.key)) {
    LogInfo("prune guard skipped: the manifest was removed through the API",
            {{"object", st.key.ToString()}, {"pruneReason", v.reason}});
    v = PruneVerdict{};
  }
  if (DebugOn()) {
    LogDebug("manifest missing", {{"object", st.key.ToString()},
                                  {"pruneAllowed", v.allowed ? "true" : "false"},
                                  {"pruneReason", v.reason},
                                  {"active", IsActive(st.rec) ? "true" : "false"},
                                  {"pruneFlag", options_.prune ? "true" : "false"}});
  }
  if (!v.allowed) {
    const api::Condition* c = api::FindCondition(s.conditions, api::kCondStalled);
    bool already =
        c && c->status == kTrue && c->reason == "PruneRefused" && c->message == Redact(v.message);
    if (!already) {
      st.Cond(api::kCondStalled, kTrue, "PruneRefused", v.message);
      AddEvent(st, "Warning", "PruneRefused", v.message);
      ObjectKey key = st.key;
      std::string reason = v.reason;
      st.notes.push_back([key, reason](ReconcilerObserver& o) { o.OnPruneRefused(key, reason); });
    }
    return Done();
  }
  // An Invalid object whose last valid generation still runs (a manifest
  // typo, then the file deleted) has a remote job to cancel as well.
  bool invalid_running =
      s.phase == Phase::kInvalid && !s.remote_job_name.empty() && !s.completion_time;
  if (IsActive(st.rec) || invalid_running) {
    std::string name = s.remote_job_name;
    auto ann = st.rec.annotations.find(api::kPruneAnnotation);
    bool opted_out = ann != st.rec.annotations.end() && ann->second == "disabled";
    if (!options_.prune || opted_out) {
      AddEvent(st, "Normal", "PruneSkipped",
               "manifest removed; remote job " + name + " left running (" +
                   (opted_out ? std::string("mlspace.io/prune: disabled") : "--prune=false") + ")");
    } else {
      auto c = CancelRemote(
          st, name, "prune",
          "manifest removed from revision " + desired.revision + ": cancelled " + name);
      if (!c.ok()) return GatewayFailed(st, c.error());
    }
  }
  SetPhase(st, Phase::kRemoved);
  st.rec.removed_at = st.now;
  st.rec.next_attempt_at.reset();
  st.CondOff(api::kCondRunning, "Removed");
  st.CondOff(api::kCondStalled, "Removed");
  AddEvent(st, "Normal", "Removed",
           "manifest removed from revision " + desired.revision + "; record kept for " +
               Secs(options_.removed_retention));
  return After(options_.removed_retention);
}

ReconcileResult JobReconciler::Finish(Step& st, ReconcileResult r) {
  if (st.CondIs(api::kCondStalled, kTrue, kReasonGatewayUnauthorized) && HealthOf(st.rec.region) &&
      HealthOf(st.rec.region)->authorized()) {
    st.Cond(api::kCondStalled, kFalse, "GatewayAuthorized",
            "the gateway accepts the controller's credentials again");
  }
  bool changed = !st.had_record || !RecordEqual(st.rec, st.original);
  if (st.drop) {
    st.batch.deletes.push_back(st.key);
  } else if (changed || !st.batch.events.empty() || !st.batch.intents.empty()) {
    st.batch.upserts.push_back(st.rec);
  }
  if (!st.batch.upserts.empty() || !st.batch.deletes.empty() || !st.batch.intents.empty() ||
      !st.batch.events.empty()) {
    if (Status w = deps_.store->Write(st.batch); !w.ok()) return Fail(w);
  }
  if (DebugOn()) {
    LogDebug(changed ? "step done; record written" : "step done; nothing changed, nothing written",
             {{"object", st.key.ToString()},
              {"phase", std::string(api::PhaseName(st.rec.status.phase))},
              {"events", std::to_string(st.batch.events.size())},
              {"requeueAfter", r.requeue_after ? Secs(*r.requeue_after) : std::string("none")},
              {"error", r.error.ok() ? std::string() : r.error.ToString()}});
  }
  if (r.error.ok()) {
    std::lock_guard lock(mu_);
    gateway_failures_.erase(st.key);
  }
  bool active = !st.drop && (IsActive(st.rec) || st.rec.status.phase == Phase::kPending);
  deps_.observed->regions_in_use().SetActive(st.key, active ? st.rec.region : std::string());
  if (deps_.observer) {
    for (auto& n : st.notes) n(*deps_.observer);
    if (changed && !st.drop) {
      deps_.observer->OnRecordWritten(
          st.key, RecordSummary{st.rec.region, st.rec.status.remote_job_name, st.rec.status.phase});
    }
  }
  return r;
}

Result<std::vector<ObjectKey>> JobReconciler::AllKeys() {
  std::set<ObjectKey> keys;
  if (auto d = deps_.desired->Get()) {
    for (const auto& [k, v] : d->objects) keys.insert(k);
  }
  MLSPACE_ASSIGN_OR_RETURN(auto records, deps_.store->List());
  for (const auto& r : records) keys.insert(r.key);
  MLSPACE_ASSIGN_OR_RETURN(auto open, deps_.store->OpenIntents());
  for (const auto& i : open) keys.insert(i.key);
  return std::vector<ObjectKey>(keys.begin(), keys.end());
}

Status JobReconciler::Prime() {
  MLSPACE_ASSIGN_OR_RETURN(auto records, deps_.store->List());
  MLSPACE_ASSIGN_OR_RETURN(auto open, deps_.store->OpenIntents());
  RegionTracker& regions = deps_.observed->regions_in_use();
  for (const auto& r : records) {
    if (IsActive(r) || r.status.phase == Phase::kPending) regions.SetActive(r.key, r.region);
  }
  for (const auto& i : open) regions.AddIntentRegion(i.region);
  std::lock_guard lock(mu_);
  if (records.empty() && open.empty()) adopt_lost_before_ = deps_.clock->Now();
  return OkStatus();
}

std::optional<ReconcileResult> JobReconciler::AdoptLostJob(Step& st, const DesiredObject& d,
                                                           const DesiredState& desired,
                                                           bool* wait) {
  TimePoint before;
  {
    std::lock_guard lock(mu_);
    if (!adopt_lost_before_) return std::nullopt;
    before = *adopt_lost_before_;
  }
  if (options_.instance.empty()) return std::nullopt;
  const api::MLSpaceJob& job = *d.job;
  const std::string location = Location(job);
  auto snap = deps_.observed->Region(location);
  if (!snap) {
    // Never POST into a region this controller has not looked at yet.
    deps_.observed->WatchNextList(location, st.key);
    *wait = true;
    return After(options_.poll_interval);
  }
  std::string prefix = MakeMarker(options_.instance, st.key, job.spec_hash, 1);
  prefix.pop_back();  // "mlsj:<instance>:<ns>/<name>/<hash8>/"
  int best = 0;
  std::string best_marker;
  TimePoint oldest{};
  for (const auto& [marker, names] : snap->by_marker) {
    if (marker.compare(0, prefix.size(), prefix) != 0) continue;
    auto parsed = ParseMarker(marker);
    if (!parsed || parsed->attempt <= best) continue;
    std::optional<TimePoint> first;
    for (const gateway::RemoteJob* j : snap->WithMarker(marker)) {
      if (j->created && *j->created >= before) continue;  // not from before the loss
      TimePoint c = j->created ? *j->created : TimePoint{};
      if (!first || c < *first) first = c;
    }
    if (!first) continue;
    best = parsed->attempt;
    best_marker = marker;
    oldest = *first;
  }
  if (best == 0) return std::nullopt;
  LogInfo("state store was empty at start: adopting a job by its marker",
          {{"object", st.key.ToString()}, {"marker", best_marker}});
  store::SubmitIntent intent;
  intent.marker = best_marker;
  intent.key = st.key;
  intent.spec_hash = job.spec_hash;
  intent.attempt = best;
  intent.region = Location(job);
  intent.state = store::IntentState::kOpen;
  // The carriers' own creation time, so the reused-marker guard of
  // HandleIntent (adopt_clock_skew) does not skip a job that ran for hours.
  intent.created_at = oldest;
  intent.updated_at = st.now;
  return HandleIntent(st, intent, &d, desired);
}

std::set<std::string> JobReconciler::RegionsInUse() {
  return deps_.observed->regions_in_use().RegionsInUse(deps_.desired->Get());
}

}  // namespace mlspace::reconciler
