// Phase transitions after submission: running, success, retries with
// backoff, lost jobs, suspend/resume, deadlines, spec changes, removal and
// the prune guards, invalid manifests.

#include "tests/reconciler/harness.h"

namespace mlspace::reconciler::testing {
namespace {

using gateway::RemoteStatus;

TEST_F(ReconcilerTest, FirstRunningSetsStartTimeOnce) {
  auto job = MakeJob("a", "0123456789abcdef");
  SetDesired({job});
  Reconcile();
  std::string name = Record().status.remote_job_name;
  Poll();
  Reconcile();
  EXPECT_EQ(PhaseOf(), api::Phase::kSubmitted) << "remote Pending keeps Submitted";
  EXPECT_FALSE(Record().status.start_time.has_value());
  gateway_.SetStatus(name, RemoteStatus::kRunning);
  TimePoint started = clock_.Now();
  Poll();
  Reconcile();
  auto rec = Record();
  EXPECT_EQ(rec.status.phase, api::Phase::kRunning);
  ASSERT_TRUE(rec.status.start_time.has_value());
  EXPECT_EQ(*rec.status.start_time, started);
  EXPECT_EQ(Cond(rec, api::kCondRunning)->status, "True");
  EXPECT_EQ(observer_.Count("pending-duration"), 1);
  gateway_.SetStatus(name, RemoteStatus::kRestarting);
  Poll();
  Reconcile();
  EXPECT_EQ(*Record().status.start_time, started);
}

TEST_F(ReconcilerTest, BackendPendingReasonIsShownInTheSubmittedCondition) {
  auto job = MakeJob("a", "0123456789abcdef");
  SetDesired({job});
  Reconcile();
  std::string name = Record().status.remote_job_name;
  Poll();
  Reconcile();
  EXPECT_EQ(Cond(Record(), api::kCondSubmitted)->message.find("pending:"), std::string::npos);
  gateway_.SetPendingReason(name, "PartitionDown");
  Poll();
  Reconcile();
  auto rec = Record();
  EXPECT_EQ(rec.status.phase, api::Phase::kSubmitted);
  EXPECT_EQ(Cond(rec, api::kCondSubmitted)->status, "True");
  EXPECT_NE(Cond(rec, api::kCondSubmitted)
                ->message.find("submitted as " + name + "; pending: PartitionDown"),
            std::string::npos)
      << Cond(rec, api::kCondSubmitted)->message;
  gateway_.SetStatus(name, RemoteStatus::kRunning);
  Poll();
  Reconcile();
  EXPECT_EQ(PhaseOf(), api::Phase::kRunning);
}

TEST_F(ReconcilerTest, SucceededSetsCompletionTimeAndIsStickyForTheGeneration) {
  auto job = MakeJob("a", "0123456789abcdef");
  std::string name = SubmitAndRun(job);
  gateway_.SetStatus(name, RemoteStatus::kCompleted);
  Poll();
  Reconcile();
  auto rec = Record();
  EXPECT_EQ(rec.status.phase, api::Phase::kSucceeded);
  EXPECT_TRUE(rec.status.completion_time.has_value());
  EXPECT_EQ(Cond(rec, api::kCondComplete)->status, "True");
  // Whatever the gateway says later, a finished generation never runs again.
  gateway_.SetStatus(name, RemoteStatus::kFailed);
  Poll();
  Reconcile();
  gateway_.Vanish(name);
  for (int i = 0; i < 3; ++i) {
    Poll();
    Reconcile();
  }
  EXPECT_EQ(PhaseOf(), api::Phase::kSucceeded);
  EXPECT_EQ(gateway_.CountCalls("Submit"), 1);
}

TEST_F(ReconcilerTest, RemoteFailureRetriesWithNewMarkerAfter10sThen20s) {
  auto job = MakeJob("a", "0123456789abcdef");
  job.spec.run_policy.backoff_limit = 3;
  std::string name = SubmitAndRun(job);
  gateway_.SetStatus(name, RemoteStatus::kFailed);
  Poll();
  auto r = Reconcile();
  auto rec = Record();
  EXPECT_EQ(rec.status.phase, api::Phase::kPending);
  EXPECT_EQ(rec.failed_attempts, 1);
  ASSERT_TRUE(r.requeue_after.has_value());
  EXPECT_EQ(*r.requeue_after, Duration(10s));
  EXPECT_EQ(CountEvent("Retried"), 1);
  EXPECT_EQ(observer_.Count("retry"), 1);
  clock_.Advance(9s);
  Reconcile();
  EXPECT_EQ(gateway_.CountCalls("Submit"), 1) << "backoff not elapsed";
  clock_.Advance(1s);
  Reconcile();
  ASSERT_EQ(gateway_.CountCalls("Submit"), 2);
  EXPECT_EQ(gateway_.submits()[1].job_desc, MarkerOf(job, 2)) << "each attempt is a new marker";
  EXPECT_EQ(Record().status.attempt, 2);
  gateway_.SetStatus(Record().status.remote_job_name, RemoteStatus::kStopped);
  Poll();
  r = Reconcile();
  ASSERT_TRUE(r.requeue_after.has_value());
  EXPECT_EQ(*r.requeue_after, Duration(20s));
}

TEST_F(ReconcilerTest, RetryBackoffIsCappedAtSixMinutes) {
  auto job = MakeJob("a", "0123456789abcdef");
  job.spec.run_policy.backoff_limit = 10;
  SetDesired({job});
  std::vector<Duration> waits;
  for (int i = 0; i < 7; ++i) {
    Reconcile();  // submit
    gateway_.SetStatus(Record().status.remote_job_name, RemoteStatus::kFailed);
    Poll();
    auto r = Reconcile();
    ASSERT_TRUE(r.requeue_after.has_value());
    waits.push_back(*r.requeue_after);
    clock_.Advance(*r.requeue_after);
  }
  std::vector<Duration> want = {10s, 20s, 40s, 80s, 160s, 320s, 360s};
  EXPECT_EQ(waits, want);
}

TEST_F(ReconcilerTest, BackoffLimitExceededFailsTheObject) {
  auto job = MakeJob("a", "0123456789abcdef");
  job.spec.run_policy.backoff_limit = 1;
  SetDesired({job});
  Reconcile();
  gateway_.SetStatus(Record().status.remote_job_name, RemoteStatus::kFailed);
  Poll();
  Reconcile();
  clock_.Advance(10s);
  Reconcile();
  ASSERT_EQ(gateway_.CountCalls("Submit"), 2);
  gateway_.SetStatus(Record().status.remote_job_name, RemoteStatus::kTerminated);
  Poll();
  Reconcile();
  auto rec = Record();
  EXPECT_EQ(rec.status.phase, api::Phase::kFailed);
  EXPECT_EQ(Cond(rec, api::kCondFailed)->reason, "BackoffLimitExceeded");
  EXPECT_EQ(CountEvent("BackoffLimitExceeded"), 1);
  clock_.Advance(1h);
  Poll();
  Reconcile();
  EXPECT_EQ(gateway_.CountCalls("Submit"), 2);
}

TEST_F(ReconcilerTest, JobMissingFromConsecutiveListsCountsAsFailedAttempt) {
  auto job = MakeJob("a", "0123456789abcdef");
  std::string name = SubmitAndRun(job);
  gateway_.Vanish(name);
  Poll();
  Reconcile();
  EXPECT_EQ(PhaseOf(), api::Phase::kRunning) << "one absence is not enough";
  EXPECT_GE(gateway_.CountCalls("Get"), 1) << "a job the list cannot show is asked for by GET";
  Poll();
  Reconcile();
  auto rec = Record();
  EXPECT_EQ(rec.status.phase, api::Phase::kPending);
  EXPECT_EQ(rec.failed_attempts, 1);
  EXPECT_NE(rec.status.last_error.find("disappeared"), std::string::npos);
}

TEST_F(ReconcilerTest, JobHiddenFromAListButShownByGetKeepsRunning) {
  auto job = MakeJob("a", "0123456789abcdef");
  std::string name = SubmitAndRun(job);
  gateway_.HideFromLists(name, 3);
  for (int i = 0; i < 3; ++i) {
    Poll();
    Reconcile();
  }
  EXPECT_EQ(PhaseOf(), api::Phase::kRunning);
  EXPECT_EQ(gateway_.CountCalls("Submit"), 1);
}

TEST_F(ReconcilerTest, SuspendCancelsAndResumeStartsUncountedNewAttempt) {
  auto job = MakeJob("a", "0123456789abcdef");
  job.spec.run_policy.backoff_limit = 0;
  std::string name = SubmitAndRun(job);
  job.spec.run_policy.suspend = true;  // same spec_hash: suspend is excluded
  SetDesired({job}, "rev2");
  Reconcile();
  auto rec = Record();
  EXPECT_EQ(rec.status.phase, api::Phase::kSuspended);
  EXPECT_EQ(gateway_.cancelled(), std::vector<std::string>{name});
  EXPECT_EQ(Cond(rec, api::kCondSuspended)->status, "True");
  EXPECT_EQ(observer_.Count("cancel:suspend"), 1);
  Poll();  // the remote Stopped is our doing: no retry
  Reconcile();
  EXPECT_EQ(PhaseOf(), api::Phase::kSuspended);
  EXPECT_EQ(Record().failed_attempts, 0);
  job.spec.run_policy.suspend = false;
  SetDesired({job}, "rev3");
  Reconcile();
  rec = Record();
  EXPECT_EQ(rec.status.phase, api::Phase::kSubmitted);
  EXPECT_EQ(rec.status.attempt, 2);
  EXPECT_EQ(rec.failed_attempts, 0) << "resume does not count against backoffLimit";
  EXPECT_EQ(gateway_.submits().back().job_desc, MarkerOf(job, 2));
}

TEST_F(ReconcilerTest, SuspendBeforeSubmissionSendsNothing) {
  auto job = MakeJob("a", "0123456789abcdef");
  job.spec.run_policy.suspend = true;
  SetDesired({job});
  Reconcile();
  EXPECT_EQ(PhaseOf(), api::Phase::kSuspended);
  EXPECT_EQ(gateway_.CountCalls("Submit"), 0);
}

TEST_F(ReconcilerTest, ActiveDeadlineCancelsAndFailsWithDeadlineExceeded) {
  auto job = MakeJob("a", "0123456789abcdef");
  job.spec.run_policy.active_deadline_seconds = 3600;
  std::string name = SubmitAndRun(job);
  clock_.Advance(1800s);
  auto r = Reconcile();
  EXPECT_EQ(PhaseOf(), api::Phase::kRunning);
  ASSERT_TRUE(r.requeue_after.has_value());
  TimePoint deadline = *Record().status.start_time + 3600s;  // the remote's start
  EXPECT_EQ(*r.requeue_after, deadline - clock_.Now()) << "woken when the deadline passes";
  clock_.Advance(1800s);
  Reconcile();
  auto rec = Record();
  EXPECT_EQ(rec.status.phase, api::Phase::kFailed);
  EXPECT_EQ(Cond(rec, api::kCondFailed)->reason, "DeadlineExceeded");
  EXPECT_EQ(gateway_.cancelled(), std::vector<std::string>{name});
  EXPECT_EQ(CountEvent("DeadlineExceeded"), 1);
  EXPECT_EQ(observer_.Count("cancel:deadline"), 1);
}

TEST_F(ReconcilerTest, SpecChangeWithReplaceCancelsThenSubmitsNewGeneration) {
  auto job = MakeJob("a", "0123456789abcdef");
  std::string name = SubmitAndRun(job);
  auto v2 = MakeJob("a", "fedcba9876543210");
  SetDesired({v2}, "rev2");
  auto r = Reconcile();
  EXPECT_EQ(gateway_.cancelled(), std::vector<std::string>{name});
  EXPECT_EQ(PhaseOf(), api::Phase::kPending);
  EXPECT_EQ(Record().generation, 2);
  ASSERT_TRUE(r.requeue_after.has_value());
  EXPECT_EQ(*r.requeue_after, Duration::zero());
  Reconcile();
  auto rec = Record();
  EXPECT_EQ(rec.status.phase, api::Phase::kSubmitted);
  EXPECT_EQ(rec.status.observed_generation, 2);
  EXPECT_EQ(gateway_.submits().back().job_desc, MarkerOf(v2, 2));
  EXPECT_EQ(observer_.Count("cancel:replace"), 1);
}

TEST_F(ReconcilerTest, SpecChangeWithIgnoreKeepsRunningAndSetsSpecDrift) {
  auto job = MakeJob("a", "0123456789abcdef");
  std::string name = SubmitAndRun(job);
  auto v2 = MakeJob("a", "fedcba9876543210");
  v2.spec.run_policy.on_spec_change = api::SpecChangePolicy::kIgnore;
  SetDesired({v2}, "rev2");
  Reconcile();
  auto rec = Record();
  EXPECT_EQ(rec.status.phase, api::Phase::kRunning);
  EXPECT_EQ(rec.status.remote_job_name, name);
  ASSERT_NE(Cond(rec, api::kCondSpecDrift), nullptr);
  EXPECT_EQ(Cond(rec, api::kCondSpecDrift)->status, "True");
  EXPECT_TRUE(gateway_.cancelled().empty());
  EXPECT_EQ(gateway_.CountCalls("Submit"), 1);
}

TEST_F(ReconcilerTest, FinishedGenerationPlusNewGenerationStartsNewRun) {
  auto job = MakeJob("a", "0123456789abcdef");
  std::string name = SubmitAndRun(job);
  gateway_.SetStatus(name, RemoteStatus::kSucceeded);
  Poll();
  Reconcile();
  ASSERT_EQ(PhaseOf(), api::Phase::kSucceeded);
  auto v2 = MakeJob("a", "fedcba9876543210");
  SetDesired({v2}, "rev2");
  Reconcile();
  auto rec = Record();
  EXPECT_EQ(rec.status.phase, api::Phase::kSubmitted);
  EXPECT_EQ(rec.generation, 2);
  EXPECT_FALSE(rec.status.completion_time.has_value());
  EXPECT_EQ(Cond(rec, api::kCondComplete)->status, "False");
  EXPECT_EQ(gateway_.CountCalls("Submit"), 2);
}

TEST_F(ReconcilerTest, RemovalCancelsActiveJobAndMarksRemoved) {
  auto job = MakeJob("a", "0123456789abcdef");
  std::string name = SubmitAndRun(job);
  SetDesired({}, "rev2");
  auto r = Reconcile();
  auto rec = Record();
  EXPECT_EQ(rec.status.phase, api::Phase::kRemoved);
  EXPECT_EQ(gateway_.cancelled(), std::vector<std::string>{name});
  EXPECT_EQ(observer_.Count("cancel:prune"), 1);
  ASSERT_TRUE(r.requeue_after.has_value());
  EXPECT_EQ(*r.requeue_after, opts_.removed_retention);
}

// The poll lists the regions of the desired objects plus those of runs
// still in flight whose manifest is gone (so their cancel is observed);
// both follow changes (the desired regions are cached per desired state).
TEST_F(ReconcilerTest, RegionsInUseFollowDesiredStateAndRunsInFlight) {
  using Regions = std::set<std::string>;
  auto a = MakeJob("a", "0123456789abcdef", "SR006");
  auto b = MakeJob("b", "fedcba9876543210", "SR004");
  SetDesired({a, b});
  EXPECT_EQ(proc_->reconciler->RegionsInUse(), (Regions{"SR004", "SR006"}));
  ASSERT_TRUE(Reconcile("b").error.ok());  // b's run is in flight in SR004
  SetDesired({a}, "rev2");
  EXPECT_EQ(proc_->reconciler->RegionsInUse(), (Regions{"SR004", "SR006"}))
      << "b is still running remotely";
  Reconcile("b");  // pruned: cancelled, Removed
  EXPECT_EQ(PhaseOf("b"), api::Phase::kRemoved);
  EXPECT_EQ(proc_->reconciler->RegionsInUse(), (Regions{"SR006"}));
  a.spec.region = "SR008";
  SetDesired({a}, "rev3");
  EXPECT_EQ(proc_->reconciler->RegionsInUse(), (Regions{"SR008"}));
}

TEST_F(ReconcilerTest, RemovedRecordIsDroppedAfterRetention) {
  opts_.removed_retention = 1h;
  Restart();
  SubmitAndRun(MakeJob("a", "0123456789abcdef"));
  SetDesired({}, "rev2");
  Reconcile();
  clock_.Advance(59min);
  Reconcile();
  EXPECT_TRUE(HasRecord()) << "readable during the retention period";
  clock_.Advance(1min);
  Reconcile();
  EXPECT_FALSE(HasRecord());
  EXPECT_EQ(observer_.Count("dropped"), 1);
}

TEST_F(ReconcilerTest, PruneRefusedWhenSourceReadFailed) {
  std::string name = SubmitAndRun(MakeJob("a", "0123456789abcdef"));
  DesiredState failed;
  failed.revision = "rev1";
  failed.source_ok = false;  // nothing readable: objects empty
  SetDesiredState(failed);
  Reconcile();
  Reconcile();
  auto rec = Record();
  EXPECT_EQ(rec.status.phase, api::Phase::kRunning);
  EXPECT_TRUE(gateway_.cancelled().empty());
  EXPECT_EQ(Cond(rec, api::kCondStalled)->reason, "PruneRefused");
  EXPECT_EQ(CountEvent("PruneRefused"), 1) << "one event per refusal, not per reconcile";
  EXPECT_EQ(observer_.Count("prune-refused:SourceReadFailed"), 1);
}

TEST_F(ReconcilerTest, PruneRefusedWhenRevisionIsEmptyButPreviousWasNot) {
  std::string name = SubmitAndRun(MakeJob("a", "0123456789abcdef"));
  DesiredState empty;
  empty.revision = "rev2";
  empty.prune = ComputePruneVerdict(true, 0, 1, 1, 0.5);
  ASSERT_FALSE(empty.prune.allowed);
  SetDesiredState(empty);
  Reconcile();
  EXPECT_EQ(PhaseOf(), api::Phase::kRunning);
  EXPECT_TRUE(gateway_.cancelled().empty());
  EXPECT_EQ(observer_.Count("prune-refused:EmptyRevision"), 1);
}

TEST_F(ReconcilerTest, PruneRefusedWhenMoreThanMaxFractionRemovedAtOnce) {
  auto a = MakeJob("a", "0123456789abcdef");
  auto b = MakeJob("b", "1123456789abcdef");
  auto c = MakeJob("c", "2123456789abcdef");
  SetDesired({a, b, c});
  for (auto n : {"a", "b", "c"}) Reconcile(n);
  DesiredState next;
  next.revision = "rev2";
  next.objects[c.key()] = std::make_shared<DesiredObject>(DesiredObject{c, std::nullopt});
  next.prune = ComputePruneVerdict(true, 1, 3, 2, 0.5);  // 67% > 50%
  ASSERT_FALSE(next.prune.allowed);
  EXPECT_EQ(next.prune.reason, "TooManyRemovals");
  SetDesiredState(next);
  Reconcile("a");
  Reconcile("b");
  EXPECT_TRUE(gateway_.cancelled().empty());
  EXPECT_EQ(PhaseOf("a"), api::Phase::kSubmitted);
  EXPECT_EQ(CountEvent("PruneRefused", "a"), 1);
  EXPECT_TRUE(ComputePruneVerdict(true, 2, 3, 1, 0.5).allowed) << "33% is within 50%";
}

TEST_F(ReconcilerTest, PruneDisabledAnnotationNeverCancels) {
  auto job = MakeJob("a", "0123456789abcdef");
  job.metadata.annotations[api::kPruneAnnotation] = "disabled";
  std::string name = SubmitAndRun(job);
  SetDesired({}, "rev2");
  Reconcile();
  EXPECT_EQ(PhaseOf(), api::Phase::kRemoved);
  EXPECT_TRUE(gateway_.cancelled().empty());
  EXPECT_EQ(CountEvent("PruneSkipped"), 1);
}

TEST_F(ReconcilerTest, PruneFlagOffNeverCancels) {
  opts_.prune = false;
  Restart();
  SubmitAndRun(MakeJob("a", "0123456789abcdef"));
  SetDesired({}, "rev2");
  Reconcile();
  EXPECT_EQ(PhaseOf(), api::Phase::kRemoved);
  EXPECT_TRUE(gateway_.cancelled().empty());
}

// Issue 11: an exception escaping a reconcile is an error on the object
// (Stalled=True ReconcileError with the message), not a stale condition.
TEST_F(ReconcilerTest, ExceptionInAReconcileIsAConditionOnTheObject) {
  Restart([](const api::MLSpaceJob&, const std::string&) -> Result<gateway::SubmitRequest> {
    throw std::runtime_error("[json.exception.type_error.316] invalid UTF-8 byte at index 3: 0xFF");
  });
  SetDesired({MakeJob("a", "h1")});
  auto r = Reconcile();
  EXPECT_FALSE(r.error.ok());
  auto rec = Record();
  const api::Condition* stalled = Cond(rec, api::kCondStalled);
  ASSERT_NE(stalled, nullptr);
  EXPECT_EQ(stalled->status, "True");
  EXPECT_EQ(stalled->reason, "ReconcileError");
  EXPECT_NE(stalled->message.find("invalid UTF-8 byte at index 3"), std::string::npos);
  EXPECT_NE(rec.status.last_error.find("reconcile threw"), std::string::npos);
  const api::Condition* submitted = Cond(rec, api::kCondSubmitted);
  EXPECT_TRUE(submitted == nullptr || submitted->reason != "SubmitAmbiguous");
  EXPECT_EQ(gateway_.CountCalls("Submit"), 0);
  EXPECT_EQ(CountEvent("ReconcileError"), 1);
  Reconcile();
  EXPECT_EQ(CountEvent("ReconcileError"), 1) << "the same error is one event";
}

TEST_F(ReconcilerTest, InvalidManifestSendsNothing) {
  ParsedObject bad{Key("a"), "jobs/a.yaml", std::nullopt,
                   InvalidManifest{"InvalidSpec", "jobs/a.yaml:7:5: spec.workers: must be >= 1",
                                   "jobs/a.yaml", ""}};
  SetDesired({}, "rev1", {bad});
  Reconcile();
  auto rec = Record();
  EXPECT_EQ(rec.status.phase, api::Phase::kInvalid);
  EXPECT_EQ(Cond(rec, api::kCondAccepted)->status, "False");
  EXPECT_NE(Cond(rec, api::kCondAccepted)->message.find("jobs/a.yaml:7:5"), std::string::npos);
  EXPECT_EQ(gateway_.CountCalls("Submit"), 0);
  EXPECT_EQ(CountEvent("Invalid"), 1);
}

TEST_F(ReconcilerTest, InvalidNewRevisionKeepsRunningGenerationWithStalled) {
  auto job = MakeJob("a", "0123456789abcdef");
  std::string name = SubmitAndRun(job);
  ParsedObject bad{
      Key("a"), "jobs/a.yaml", std::nullopt,
      InvalidManifest{"ParseError", "jobs/a.yaml:3:1: bad indentation", "jobs/a.yaml", ""}};
  SetDesired({}, "rev2", {bad});
  Reconcile();
  auto rec = Record();
  EXPECT_EQ(rec.status.phase, api::Phase::kInvalid);
  EXPECT_EQ(Cond(rec, api::kCondStalled)->status, "True");
  EXPECT_TRUE(gateway_.cancelled().empty()) << "the last valid generation keeps running";
  SetDesired({job}, "rev3");
  Reconcile();
  EXPECT_EQ(PhaseOf(), api::Phase::kRunning);
  EXPECT_EQ(Cond(Record(), api::kCondStalled)->status, "False");
  EXPECT_EQ(gateway_.CountCalls("Submit"), 1);
}

TEST_F(ReconcilerTest, DuplicateNamesMakeTheObjectInvalidAndSendNothing) {
  auto one = MakeJob("a", "0123456789abcdef");
  auto two = MakeJob("a", "fedcba9876543210");
  two.source_path = "jobs/copy.yaml";
  SetDesired({one, two});
  Reconcile();
  auto rec = Record();
  EXPECT_EQ(rec.status.phase, api::Phase::kInvalid);
  EXPECT_EQ(Cond(rec, api::kCondAccepted)->reason, "DuplicateName");
  EXPECT_NE(Cond(rec, api::kCondAccepted)->message.find("jobs/copy.yaml"), std::string::npos);
  EXPECT_NE(Cond(rec, api::kCondAccepted)->message.find("jobs/a.yaml"), std::string::npos);
  EXPECT_EQ(gateway_.CountCalls("Submit"), 0);
}

TEST_F(ReconcilerTest, ReappearingManifestStartsANewRun) {
  auto job = MakeJob("a", "0123456789abcdef");
  SubmitAndRun(job);
  SetDesired({}, "rev2");
  Reconcile();
  ASSERT_EQ(PhaseOf(), api::Phase::kRemoved);
  SetDesired({job}, "rev3");
  Reconcile();
  auto rec = Record();
  EXPECT_EQ(rec.status.phase, api::Phase::kSubmitted);
  EXPECT_EQ(rec.status.attempt, 2);
  EXPECT_EQ(gateway_.JobsWithMarker(MarkerOf(job, 2)).size(), 1u);
}

TEST_F(ReconcilerTest, CancelFailureKeepsPhaseAndRetries) {
  auto job = MakeJob("a", "0123456789abcdef");
  std::string name = SubmitAndRun(job);
  SetDesired({}, "rev2");
  gateway_.FailNextCancels(1);
  auto r = Reconcile();
  EXPECT_FALSE(r.error.ok());
  EXPECT_EQ(PhaseOf(), api::Phase::kRunning);
  Reconcile();
  EXPECT_EQ(PhaseOf(), api::Phase::kRemoved);
  EXPECT_EQ(gateway_.cancelled(), std::vector<std::string>{name});
}

}  // namespace
}  // namespace mlspace::reconciler::testing
