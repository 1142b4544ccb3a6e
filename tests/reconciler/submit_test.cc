// Exactly-once submission: intents, markers, ambiguous answers, adoption,
// crash points, and the gateway's error classes.

#include <stdexcept>

#include "controller/core/redact.h"
#include "tests/reconciler/harness.h"

namespace mlspace::reconciler::testing {
namespace {

using gateway::RemoteStatus;
using Fault = FakeJobGateway::SubmitFault;

TEST_F(ReconcilerTest, SubmitCommitsOpenIntentWithMarkerBeforePost) {
  auto job = MakeJob("a", "0123456789abcdef");
  SetDesired({job});
  int submits_at_first_write = -1;
  store_.SetWriteHook([&](const store::WriteBatch& b) {
    if (submits_at_first_write < 0) {
      submits_at_first_write = gateway_.CountCalls("Submit");
      EXPECT_TRUE(b.upserts.empty()) << "the pre-POST write carries only the intent";
      EXPECT_EQ(b.intents.size(), 1u);
      EXPECT_EQ(b.intents[0].state, store::IntentState::kOpen);
      EXPECT_EQ(b.intents[0].marker, "mlsj:test:default/a/01234567/1");
    }
    return OkStatus();
  });
  auto r = Reconcile();
  EXPECT_TRUE(r.error.ok());
  EXPECT_EQ(submits_at_first_write, 0) << "intent must be durable before the POST";
  ASSERT_EQ(gateway_.submits().size(), 1u);
  EXPECT_EQ(gateway_.submits()[0].job_desc.value_or(""), "mlsj:test:default/a/01234567/1");
  auto rec = Record();
  EXPECT_EQ(rec.status.phase, api::Phase::kSubmitted);
  EXPECT_EQ(rec.status.attempt, 1);
  EXPECT_EQ(rec.status.remote_job_name, gateway_.Jobs()[0].name);
  EXPECT_EQ(store_.AllIntents().at("mlsj:test:default/a/01234567/1").state,
            store::IntentState::kSubmitted);
  EXPECT_EQ(CountEvent("Submitted"), 1);
  EXPECT_EQ(observer_.Count("submit:success"), 1);
}

// The per-object metrics series follow OnRecordWritten: a new object
// throttled before its first submit is reported in Pending (it has no
// phase change to report), each change once, and an idle reconcile not at all.
TEST_F(ReconcilerTest, RecordWritesAreReportedOncePerChange) {
  SetDesired({MakeJob("a", "0123456789abcdef")});
  gateway_.ScriptSubmit(Fault::kThrottled, 5s);
  Reconcile();
  EXPECT_EQ(observer_.Count("written:Pending:SR006:"), 1);
  clock_.Advance(10s);
  ASSERT_TRUE(Reconcile().error.ok());
  const std::string name = Record().status.remote_job_name;
  ASSERT_FALSE(name.empty());
  EXPECT_EQ(observer_.Count("written:Submitted:SR006:" + name), 1);
  Reconcile();
  Reconcile();
  EXPECT_EQ(observer_.Count("written:Submitted:SR006:" + name), 1);
  EXPECT_EQ(observer_.Count("written:Pending:SR006:"), 1);
}

TEST_F(ReconcilerTest, RepeatedReconcilesNeverSubmitTwice) {
  SetDesired({MakeJob("a", "0123456789abcdef")});
  for (int i = 0; i < 5; ++i) {
    Reconcile();
    Poll();
  }
  EXPECT_EQ(gateway_.CountCalls("Submit"), 1);
}

TEST_F(ReconcilerTest, MarkerMissingFromBuilderJobDescIsAdded) {
  auto job = MakeJob("a", "0123456789abcdef");
  SetDesired({job});
  Restart([](const api::MLSpaceJob& j, const std::string& m) {
    auto r = SimpleBuild(j, m);
    r->job_desc = "team training run";
    return r;
  });
  Reconcile();
  ASSERT_EQ(gateway_.submits().size(), 1u);
  EXPECT_EQ(FindMarker(gateway_.submits()[0].job_desc.value_or("")), MarkerOf(job, 1));
}

TEST_F(ReconcilerTest, AmbiguousSubmitThatCreatedTheJobIsAdoptedNotResubmitted) {
  auto job = MakeJob("a", "0123456789abcdef");
  SetDesired({job});
  gateway_.ScriptSubmit(Fault::kAmbiguousCreated);
  auto r = Reconcile();
  EXPECT_TRUE(r.error.ok());
  EXPECT_EQ(PhaseOf(), api::Phase::kPending);
  EXPECT_EQ(CountEvent("SubmitAmbiguous"), 1);
  EXPECT_EQ(store_.AllIntents().at(MarkerOf(job, 1)).state, store::IntentState::kOpen);
  // Before any list: nothing is resent.
  Reconcile();
  EXPECT_EQ(gateway_.CountCalls("Submit"), 1);
  Poll();
  EXPECT_TRUE(proc_->enqueued.count(Key("a"))) << "the new job's key is enqueued by the poll";
  Reconcile();
  auto rec = Record();
  EXPECT_EQ(rec.status.phase, api::Phase::kSubmitted);
  EXPECT_EQ(rec.status.remote_job_name, gateway_.Jobs()[0].name);
  EXPECT_EQ(CountEvent("Adopted"), 1);
  EXPECT_EQ(observer_.Count("submit:adopted"), 1);
  for (int i = 0; i < 4; ++i) {
    Poll(60s);
    Reconcile();
  }
  EXPECT_EQ(gateway_.CountCalls("Submit"), 1);
  EXPECT_EQ(gateway_.JobsWithMarker(MarkerOf(job, 1)).size(), 1u);
}

TEST_F(ReconcilerTest, AmbiguousSubmitThatDidNotCreateIsResentWithSameMarkerAfterTwoListsAndGrace) {
  auto job = MakeJob("a", "0123456789abcdef");
  SetDesired({job});
  gateway_.ScriptSubmit(Fault::kAmbiguousNotCreated);
  Reconcile();
  Poll(20s);  // first fresh list, 20s after the POST
  Reconcile();
  EXPECT_EQ(gateway_.CountCalls("Submit"), 1) << "one absent list is not enough";
  EXPECT_EQ(store_.AllIntents().at(MarkerOf(job, 1)).absent_lists, 1);
  Reconcile();  // same list again: not counted twice
  EXPECT_EQ(store_.AllIntents().at(MarkerOf(job, 1)).absent_lists, 1);
  Poll(20s);  // second fresh list at 40s: grace (60s) not over
  Reconcile();
  EXPECT_EQ(gateway_.CountCalls("Submit"), 1) << "the grace period is not over";
  Poll(25s);  // third list at 65s
  Reconcile();
  ASSERT_EQ(gateway_.CountCalls("Submit"), 2);
  auto subs = gateway_.submits();
  EXPECT_EQ(subs[0].job_desc, subs[1].job_desc) << "resubmitted with the SAME marker";
  EXPECT_EQ(PhaseOf(), api::Phase::kSubmitted);
  EXPECT_EQ(Record().status.attempt, 1);
  EXPECT_EQ(CountEvent("Resubmitting"), 1);
  EXPECT_EQ(gateway_.JobsWithMarker(MarkerOf(job, 1)).size(), 1u);
}

TEST_F(ReconcilerTest, AmbiguousJobHiddenFromOneListIsAdoptedWhenItAppears) {
  auto job = MakeJob("a", "0123456789abcdef");
  SetDesired({job});
  gateway_.ScriptSubmit(Fault::kAmbiguousCreated);
  Reconcile();
  gateway_.HideFromLists(gateway_.Jobs()[0].name, 1);
  Poll();
  Reconcile();
  EXPECT_EQ(PhaseOf(), api::Phase::kPending);
  Poll(40s);  // visible again, before the grace ends
  Reconcile();
  EXPECT_EQ(PhaseOf(), api::Phase::kSubmitted);
  EXPECT_EQ(gateway_.CountCalls("Submit"), 1);
}

TEST_F(ReconcilerTest, InternalErrorAfterSendingIsTreatedAsAmbiguous) {
  auto job = MakeJob("a", "0123456789abcdef");
  SetDesired({job});
  gateway_.ScriptSubmit(Fault::kInternalCreated);
  Reconcile();
  Poll();
  Reconcile();
  EXPECT_EQ(PhaseOf(), api::Phase::kSubmitted);
  EXPECT_EQ(gateway_.CountCalls("Submit"), 1);
}

// Throws from Submit before anything is sent: the process "dies" between
// the intent commit and the POST.
class CrashBeforePost : public gateway::JobGateway {
 public:
  explicit CrashBeforePost(FakeJobGateway& inner) : inner_(inner) {}
  gateway::Outcome<std::string> Submit(const gateway::SubmitRequest&) override {
    throw std::runtime_error("crash");
  }
  gateway::Outcome<gateway::RemoteJob> Get(const std::string& n) override { return inner_.Get(n); }
  gateway::Outcome<std::vector<gateway::RemoteJob>> List(const gateway::ListOptions& o) override {
    return inner_.List(o);
  }
  gateway::Outcome<gateway::CancelResult> Cancel(const std::string& n,
                                                 const std::string& r) override {
    return inner_.Cancel(n, r);
  }
  gateway::Outcome<std::string> Restart(const std::string& n) override { return inner_.Restart(n); }
  gateway::Outcome<std::string> Logs(const std::string& n, const std::string& r, int t) override {
    return inner_.Logs(n, r, t);
  }

 private:
  FakeJobGateway& inner_;
};

TEST_F(ReconcilerTest, CrashAfterIntentCommitBeforePostResubmitsExactlyOnceAfterRestart) {
  auto job = MakeJob("a", "0123456789abcdef");
  SetDesired({job});
  CrashBeforePost crashing(gateway_);
  Restart(crashing);
  // The throw stands for a crash between the intent commit and the POST;
  // Reconcile reports it on the object (ReconcileError), the intent stays.
  EXPECT_FALSE(Reconcile().error.ok());
  ASSERT_EQ(store_.OpenIntents()->size(), 1u);

  Restart();  // fresh process, same store and gateway
  ASSERT_TRUE(proc_->reconciler->Prime().ok());
  EXPECT_TRUE(proc_->reconciler->RegionsInUse().count("SR006"));
  for (int i = 0; i < 6; ++i) {
    Poll();
    Reconcile();
  }
  EXPECT_EQ(gateway_.CountCalls("Submit"), 1);
  EXPECT_EQ(gateway_.JobsWithMarker(MarkerOf(job, 1)).size(), 1u);
  EXPECT_EQ(PhaseOf(), api::Phase::kSubmitted);
  EXPECT_TRUE(store_.OpenIntents()->empty());
}

TEST_F(ReconcilerTest, CrashAfterPostBeforeStatusWriteAdoptsAfterRestart) {
  auto job = MakeJob("a", "0123456789abcdef");
  SetDesired({job});
  int writes = 0;
  store_.SetWriteHook([&](const store::WriteBatch&) {
    return ++writes == 2 ? UnavailableError("crash before the status write") : OkStatus();
  });
  auto r = Reconcile();
  EXPECT_FALSE(r.error.ok());
  store_.ClearFailures();
  EXPECT_FALSE(HasRecord());
  ASSERT_EQ(gateway_.Jobs().size(), 1u) << "the job exists remotely with the marker";

  Restart();
  ASSERT_TRUE(proc_->reconciler->Prime().ok());
  Poll();
  Reconcile();
  auto rec = Record();
  EXPECT_EQ(rec.status.phase, api::Phase::kSubmitted);
  EXPECT_EQ(rec.status.remote_job_name, gateway_.Jobs()[0].name);
  EXPECT_EQ(CountEvent("Adopted"), 1);
  for (int i = 0; i < 4; ++i) {
    Poll(60s);
    Reconcile();
  }
  EXPECT_EQ(gateway_.CountCalls("Submit"), 1);
}

TEST_F(ReconcilerTest, OpenIntentForRemovedObjectIsAbandonedNotResubmitted) {
  auto job = MakeJob("a", "0123456789abcdef");
  SetDesired({job});
  gateway_.ScriptSubmit(Fault::kAmbiguousNotCreated);
  Reconcile();
  SetDesired({}, "rev2");
  for (int i = 0; i < 4; ++i) {
    Poll();
    Reconcile();
  }
  EXPECT_EQ(gateway_.CountCalls("Submit"), 1);
  EXPECT_EQ(store_.AllIntents().at(MarkerOf(job, 1)).state, store::IntentState::kAbandoned);
  EXPECT_EQ(CountEvent("IntentAbandoned"), 1);
}

TEST_F(ReconcilerTest, OpenIntentIsNeitherAbandonedNorResentWhileSourceFails) {
  auto job = MakeJob("a", "0123456789abcdef");
  SetDesired({job});
  gateway_.ScriptSubmit(Fault::kAmbiguousNotCreated);
  Reconcile();
  DesiredState failed;
  failed.revision = "rev1";
  failed.source_ok = false;
  SetDesiredState(failed);
  for (int i = 0; i < 4; ++i) {
    Poll();
    Reconcile();
  }
  EXPECT_EQ(store_.AllIntents().at(MarkerOf(job, 1)).state, store::IntentState::kOpen);
  EXPECT_EQ(gateway_.CountCalls("Submit"), 1);
  SetDesired({job}, "rev1");
  Poll();
  Reconcile();
  EXPECT_EQ(gateway_.CountCalls("Submit"), 2);
  EXPECT_EQ(gateway_.submits()[1].job_desc, MarkerOf(job, 1));
  EXPECT_EQ(gateway_.JobsWithMarker(MarkerOf(job, 1)).size(), 1u);
}

TEST_F(ReconcilerTest, TwoRemoteJobsWithOneMarkerKeepOldestAndCancelTheRest) {
  auto job = MakeJob("a", "0123456789abcdef");
  SetDesired({job});
  gateway::RemoteJob older;
  older.region = "SR006";
  older.job_desc = MarkerOf(job, 1);
  older.status = RemoteStatus::kRunning;
  older.created = clock_.Now() - 10s;
  std::string old_name = gateway_.AddJob(older);
  Reconcile();  // submits a second job with the same marker
  std::string ours = Record().status.remote_job_name;
  ASSERT_NE(ours, old_name);
  Poll();
  Reconcile();
  auto rec = Record();
  EXPECT_EQ(rec.status.remote_job_name, old_name) << "the oldest is kept";
  EXPECT_EQ(gateway_.cancelled(), std::vector<std::string>{ours});
  EXPECT_EQ(CountEvent("DuplicateCancelled"), 1);
  EXPECT_EQ(observer_.Count("cancel:duplicate"), 1);
}

TEST_F(ReconcilerTest, DuplicateMarkersFoundWhileResolvingIntentKeepOldest) {
  auto job = MakeJob("a", "0123456789abcdef");
  SetDesired({job});
  gateway_.ScriptSubmit(Fault::kAmbiguousCreated);
  Reconcile();
  clock_.Advance(1s);
  gateway::RemoteJob dup;
  dup.region = "SR006";
  dup.job_desc = MarkerOf(job, 1);
  std::string dup_name = gateway_.AddJob(dup);
  std::string first = gateway_.Jobs()[0].name;
  ASSERT_NE(first, dup_name);
  Poll();
  Reconcile();
  EXPECT_EQ(Record().status.remote_job_name, first);
  EXPECT_EQ(gateway_.cancelled(), std::vector<std::string>{dup_name});
  EXPECT_EQ(CountEvent("DuplicateCancelled"), 1);
}

TEST_F(ReconcilerTest, GatewayInvalidIsStalledAndTerminalForTheGeneration) {
  SetDesired({MakeJob("a", "0123456789abcdef")});
  gateway_.ScriptSubmit(Fault::kInvalid, Duration::zero(),
                        "submit default/a: 422 from gateway: body.n_workers: must be > 0");
  Reconcile();
  auto rec = Record();
  EXPECT_EQ(rec.status.phase, api::Phase::kFailed);
  ASSERT_NE(Cond(rec, api::kCondStalled), nullptr);
  EXPECT_EQ(Cond(rec, api::kCondStalled)->status, "True");
  EXPECT_NE(Cond(rec, api::kCondStalled)->message.find("n_workers"), std::string::npos);
  for (int i = 0; i < 3; ++i) {
    Poll();
    Reconcile();
  }
  EXPECT_EQ(gateway_.CountCalls("Submit"), 1) << "terminal for this generation";
  SetDesired({MakeJob("a", "fedcba9876543210")}, "rev2");
  Reconcile();
  EXPECT_EQ(gateway_.CountCalls("Submit"), 2) << "a new generation may run";
}

TEST_F(ReconcilerTest, ThrottledSubmitRequeuesHonouringRetryAfterAndReusesTheAttempt) {
  auto job = MakeJob("a", "0123456789abcdef");
  SetDesired({job});
  gateway_.ScriptSubmit(Fault::kThrottled, 7s);
  auto r = Reconcile();
  EXPECT_FALSE(r.error.ok());
  ASSERT_TRUE(r.requeue_after.has_value());
  EXPECT_EQ(*r.requeue_after, Duration(7s));
  EXPECT_EQ(PhaseOf(), api::Phase::kPending);
  EXPECT_EQ(observer_.Count("submit:throttled"), 1);
  Reconcile();
  ASSERT_EQ(gateway_.CountCalls("Submit"), 2);
  EXPECT_EQ(Record().status.attempt, 1) << "nothing was created: the attempt is reused";
  EXPECT_EQ(gateway_.submits()[1].job_desc, MarkerOf(job, 1));
  EXPECT_EQ(PhaseOf(), api::Phase::kSubmitted);
}

TEST_F(ReconcilerTest, UnavailableSubmitRequeuesWithBackoff) {
  SetDesired({MakeJob("a", "0123456789abcdef")});
  gateway_.ScriptSubmit(Fault::kUnavailable);
  auto r = Reconcile();
  EXPECT_FALSE(r.error.ok());
  EXPECT_EQ(r.error.code(), StatusCode::kUnavailable);
  EXPECT_EQ(PhaseOf(), api::Phase::kPending);
  Reconcile();
  EXPECT_EQ(PhaseOf(), api::Phase::kSubmitted);
}

TEST_F(ReconcilerTest, SecretValuesNeverReachStatusEventsOrStore) {
  const std::string secret = "wandb-key-9f8e7d6c5b4a";
  Restart([&](const api::MLSpaceJob& j, const std::string& m) {
    SecretRegistry::Get().Add(secret);  // what api::ResolveSecrets does
    auto r = SimpleBuild(j, m);
    r->env_variables["WANDB_API_KEY"] = secret;
    return r;
  });
  SetDesired({MakeJob("a", "0123456789abcdef")});
  // A gateway that echoes the request body in its 422 message.
  gateway_.ScriptSubmit(Fault::kInvalid, Duration::zero(),
                        "422: body.env_variables.WANDB_API_KEY=" + secret + " rejected");
  Reconcile();
  EXPECT_EQ(gateway_.submits()[0].env_variables.at("WANDB_API_KEY"), secret);
  auto rec = Record();
  for (const auto& b : store_.committed_writes()) {
    for (const auto& e : b.events) EXPECT_EQ(e.message.find(secret), std::string::npos);
    for (const auto& u : b.upserts) {
      EXPECT_EQ(u.status.last_error.find(secret), std::string::npos);
      for (const auto& c : u.status.conditions)
        EXPECT_EQ(c.message.find(secret), std::string::npos);
    }
  }
  EXPECT_EQ(store_.calls().failed_write, 0) << "the store refuses secret values: none was sent";
  EXPECT_NE(rec.status.last_error.find("***"), std::string::npos);
  SecretRegistry::Get().ClearForTesting();
}

TEST_F(ReconcilerTest, MissingSecretBlocksSubmitWithoutAnIntent) {
  Restart([](const api::MLSpaceJob&, const std::string&) -> Result<gateway::SubmitRequest> {
    return NotFoundError("env WANDB_API_KEY: secret wandb/api-key not found in --secrets-dir");
  });
  SetDesired({MakeJob("a", "0123456789abcdef")});
  auto r = Reconcile();
  EXPECT_FALSE(r.error.ok());
  EXPECT_EQ(gateway_.CountCalls("Submit"), 0);
  EXPECT_TRUE(store_.AllIntents().empty());
  auto rec = Record();
  ASSERT_NE(Cond(rec, api::kCondStalled), nullptr);
  EXPECT_EQ(Cond(rec, api::kCondStalled)->reason, "SubmitBlocked");
}

TEST_F(ReconcilerTest, StatusIsWrittenOncePerReconcileAndNotAtAllWhenNothingChanged) {
  SetDesired({MakeJob("a", "0123456789abcdef")});
  Reconcile();
  EXPECT_EQ(store_.committed_writes().size(), 2u) << "intent before POST + one status write";
  Poll();
  size_t before = store_.committed_writes().size();
  Reconcile();  // remote Pending, nothing new
  Reconcile();
  EXPECT_EQ(store_.committed_writes().size(), before);
  gateway_.SetStatus(Record().status.remote_job_name, RemoteStatus::kRunning);
  Poll();
  Reconcile();
  EXPECT_EQ(store_.committed_writes().size(), before + 1);
  auto last = store_.committed_writes().back();
  EXPECT_EQ(last.upserts.size(), 1u);
  EXPECT_FALSE(last.events.empty());
}

// ---- Observe before acting: a lost state store costs no duplicate -------

// The state directory is lost (a new, empty store) while the jobs run: after
// Prime and the first list, each job is adopted by this instance's marker,
// nothing is POSTed, and the records follow the remote jobs.
TEST_F(ReconcilerTest, EmptyStoreAdoptsRunningJobsByMarkerInsteadOfPosting) {
  auto a = MakeJob("a", "0123456789abcdef");
  auto b = MakeJob("b", "fedcba9876543210");
  SetDesired({a, b});
  std::string name_a = SubmitAndRun(a);
  std::string name_b = SubmitAndRun(b);
  SetDesired({a, b});  // SubmitAndRun left only b desired
  ASSERT_EQ(gateway_.CountCalls("Submit"), 2);
  clock_.Advance(std::chrono::hours(3));  // well past adopt_clock_skew

  FakeStateStore lost;  // the new, empty state directory
  ASSERT_TRUE(lost.RecordInstance(kInstance).ok());
  Process p(lost, gateway_, clock_, desired_, opts_, &observer_);
  ASSERT_TRUE(p.reconciler->Prime().ok());
  // Before any list the region is unknown: wait, never POST blind.
  auto early = p.reconciler->Reconcile(Key("a"));
  EXPECT_TRUE(early.error.ok());
  EXPECT_EQ(gateway_.CountCalls("Submit"), 2);
  {
    // Visible while it waits, with the reason, and no intent written.
    auto rec = lost.Get(Key("a"));
    ASSERT_TRUE(rec.ok() && rec->has_value());
    EXPECT_EQ((*rec)->status.phase, api::Phase::kPending);
    const api::Condition* c = api::FindCondition((*rec)->status.conditions, api::kCondSubmitted);
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->reason, "AwaitingFirstList");
    auto intents = lost.Intents(Key("a"));
    ASSERT_TRUE(intents.ok());
    EXPECT_TRUE(intents->empty());
  }
  clock_.Advance(30s);
  p.poller->PollOnce();
  for (int i = 0; i < 3; ++i) {
    for (const char* n : {"a", "b"}) EXPECT_TRUE(p.reconciler->Reconcile(Key(n)).error.ok());
    clock_.Advance(30s);
    p.poller->PollOnce();
  }
  EXPECT_EQ(gateway_.CountCalls("Submit"), 2) << "no POST after the state was lost";
  EXPECT_EQ(gateway_.CountCalls("Cancel"), 0);
  for (auto [n, remote] : {std::pair{"a", name_a}, std::pair{"b", name_b}}) {
    auto rec = lost.Get(Key(n));
    ASSERT_TRUE(rec.ok() && rec->has_value()) << n;
    EXPECT_EQ((*rec)->status.remote_job_name, remote);
    EXPECT_EQ((*rec)->status.phase, api::Phase::kRunning) << n;
    EXPECT_EQ((*rec)->status.attempt, 1);
  }
}

// The list showed this controller's own job 80s after its POST answer: the
// ambiguous-submit grace (60s configured) grows to 3x that, so a job whose
// answer was lost and that the list hides for 100s is adopted, not re-sent.
TEST_F(ReconcilerTest, LearnedListLagKeepsGraceAboveItSoASlowListCausesNoDuplicate) {
  auto a = MakeJob("a", "0123456789abcdef");
  auto b = MakeJob("b", "fedcba9876543210");
  SetDesired({a, b});
  ASSERT_TRUE(Reconcile("b").error.ok());
  ASSERT_EQ(gateway_.Jobs().size(), 1u);
  gateway_.HideFromLists(gateway_.Jobs()[0].name, 4);
  for (int i = 0; i < 5; ++i) Poll(20s);  // shown by the 5th list, 100s after
  EXPECT_EQ(proc_->observed.lag().WorstLag(a.spec.region), 80s);

  gateway_.ScriptSubmit(Fault::kAmbiguousCreated);
  Reconcile("a");
  ASSERT_EQ(gateway_.Jobs().size(), 2u);
  gateway_.HideFromLists(gateway_.Jobs()[1].name, 5);
  for (int i = 0; i < 5; ++i) {
    Poll(20s);
    Reconcile("a");
    EXPECT_EQ(gateway_.CountCalls("Submit"), 2) << "re-sent after " << (i + 1) * 20 << "s";
  }
  Poll(20s);  // visible now
  Reconcile("a");
  EXPECT_EQ(PhaseOf("a"), api::Phase::kSubmitted);
  EXPECT_EQ(CountEvent("Adopted", "a"), 1);
  EXPECT_EQ(gateway_.CountCalls("Submit"), 2);
  EXPECT_EQ(gateway_.JobsWithMarker(MarkerOf(a, 1)).size(), 1u);
}

}  // namespace
}  // namespace mlspace::reconciler::testing
