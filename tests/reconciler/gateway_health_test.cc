// Gateway failures classified (401/403 controller-wide, 429/5xx/network per
// object with backoff) and the reconciler's debug decision lines.

#include "controller/reconciler/gateway_health.h"

#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "controller/core/log.h"
#include "tests/reconciler/harness.h"

namespace mlspace::reconciler::testing {
namespace {

using Fault = FakeJobGateway::SubmitFault;

// Captures log lines at `level` for the test's lifetime.
class LogCapture {
 public:
  explicit LogCapture(LogLevel level) {
    Logger::Get().SetLevel(level);
    Logger::Get().SetSink([this](std::string_view line) {
      std::lock_guard lock(mu_);
      lines_.emplace_back(line);
    });
  }
  ~LogCapture() {
    Logger::Get().ResetSink();
    Logger::Get().SetLevel(LogLevel::kInfo);
  }
  std::vector<std::string> Matching(const std::string& needle) const {
    std::lock_guard lock(mu_);
    std::vector<std::string> out;
    for (const auto& l : lines_) {
      if (l.find(needle) != std::string::npos) out.push_back(l);
    }
    return out;
  }
  size_t size() const {
    std::lock_guard lock(mu_);
    return lines_.size();
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> lines_;
};

class RecordingHealthObserver : public GatewayHealthObserver {
 public:
  void OnGatewayUp(const std::string& backend, bool up) override {
    std::lock_guard lock(mu_);
    ups.push_back(up);
    by_backend.push_back(backend + (up ? ":up" : ":down"));
  }
  void OnGatewayAuthFailure(const std::string& backend) override {
    std::lock_guard lock(mu_);
    ++auth_failures;
    ++auth_failures_of[backend];
  }
  std::vector<bool> ups;
  std::vector<std::string> by_backend;
  int auth_failures = 0;
  std::map<std::string, int> auth_failures_of;

 private:
  std::mutex mu_;
};

gateway::Error AuthError() {
  gateway::Error e;
  e.kind = gateway::ErrorKind::kUnauthorized;
  e.http_status = 401;
  e.message = "list SR006: 401 from gateway: Invalid api-key for workspace (code 10)";
  return e;
}

TEST(GatewayHealthTest, UnauthorizedPausesRequestsAndProbesWithGrowingBackoff) {
  FakeClock clock;
  RecordingHealthObserver obs;
  LogCapture logs(LogLevel::kInfo);
  GatewayHealth h(clock, {}, &obs);
  int recovered = 0;
  h.SetOnRecovered([&] { ++recovered; });
  EXPECT_EQ(obs.ups, (std::vector<bool>{true}));
  EXPECT_TRUE(h.Check().ok());

  // Two requests in flight when the credentials break: both answer 401.
  auto t1 = h.Admit();
  auto t2 = h.Admit();
  ASSERT_TRUE(t1.allowed && t2.allowed);
  gateway::Error e = AuthError();
  h.Report(t1, &e);
  h.Report(t2, &e);
  EXPECT_FALSE(h.authorized());
  EXPECT_EQ(obs.auth_failures, 2);
  EXPECT_EQ(obs.ups, (std::vector<bool>{true, false}));
  EXPECT_EQ(h.Blocked(), Duration(std::chrono::seconds(30)));
  Status check = h.Check();
  EXPECT_FALSE(check.ok());
  EXPECT_NE(check.message().find("Invalid api-key"), std::string::npos) << check.message();
  EXPECT_NE(check.message().find("next probe in 30s"), std::string::npos) << check.message();

  // Nothing is admitted before the backoff; then exactly one probe.
  clock.Advance(std::chrono::seconds(29));
  EXPECT_FALSE(h.Admit().allowed);
  clock.Advance(std::chrono::seconds(1));
  auto probe = h.Admit();
  EXPECT_TRUE(probe.allowed);
  EXPECT_TRUE(probe.probe);
  EXPECT_FALSE(h.Admit().allowed) << "a second request while the probe is out";
  h.Report(probe, &e);
  EXPECT_EQ(h.Blocked(), Duration(std::chrono::seconds(60)));

  // 30 s, 60 s, 120 s, 240 s, then capped at 5 min.
  for (int want : {120, 240, 300, 300}) {
    clock.Advance(h.Blocked());
    auto p = h.Admit();
    ASSERT_TRUE(p.probe);
    h.Report(p, &e);
    EXPECT_EQ(h.Blocked(), Duration(std::chrono::seconds(want)));
  }
  // A probe that gets no verdict (503) keeps the state and the backoff.
  clock.Advance(h.Blocked());
  auto p503 = h.Admit();
  gateway::Error unavailable;
  unavailable.kind = gateway::ErrorKind::kUnavailable;
  unavailable.http_status = 503;
  h.Report(p503, &unavailable);
  EXPECT_FALSE(h.authorized());
  EXPECT_EQ(h.Blocked(), Duration(std::chrono::minutes(5)));
  EXPECT_EQ(recovered, 0);

  // The credentials work again: a probe answered "job not found" recovers.
  clock.Advance(h.Blocked());
  auto ok_probe = h.Admit();
  gateway::Error not_found;
  not_found.kind = gateway::ErrorKind::kNotFound;
  not_found.http_status = 200;
  h.Report(ok_probe, &not_found);
  EXPECT_TRUE(h.authorized());
  EXPECT_TRUE(h.Check().ok());
  EXPECT_EQ(h.Blocked(), Duration::zero());
  EXPECT_EQ(recovered, 1);
  EXPECT_EQ(obs.ups, (std::vector<bool>{true, false, true}));
  EXPECT_EQ(obs.auth_failures, 7);

  // One WARN for the change of state, however many 401s came.
  EXPECT_EQ(logs.Matching(" WARN ").size(), 1u);
  EXPECT_EQ(logs.Matching("accepts the credentials again").size(), 1u);

  // A new failure starts again at 30 s.
  auto t3 = h.Admit();
  h.Report(t3, &e);
  EXPECT_EQ(h.Blocked(), Duration(std::chrono::seconds(30)));
  EXPECT_EQ(logs.Matching(" WARN ").size(), 2u);
}

TEST(GatewayHealthTest, RequestsRefusedLocallyProveNothing) {
  FakeClock clock;
  GatewayHealth h(clock);
  auto t = h.Admit();
  gateway::Error e = AuthError();
  h.Report(t, &e);
  clock.Advance(std::chrono::seconds(30));
  auto probe = h.Admit();
  // A submit refused by local validation (never sent) says nothing.
  gateway::Error local;
  local.kind = gateway::ErrorKind::kInvalid;
  local.http_status = 0;
  h.Report(probe, &local);
  EXPECT_FALSE(h.authorized());
}

TEST(GatewayHealthTest, HealthCheckedGatewayShortCircuitsWithoutRequests) {
  FakeClock clock;
  FakeJobGateway inner(&clock);
  GatewayHealth h(clock);
  HealthCheckedGateway gw(inner, h);
  inner.SetUnauthorized(true);
  gateway::ListOptions lo;
  lo.region = "SR006";
  EXPECT_TRUE(gw.List(lo).Is(gateway::ErrorKind::kUnauthorized));
  EXPECT_EQ(inner.CountCalls("List"), 1);
  for (int i = 0; i < 5; ++i) {
    auto out = gw.Get("j");
    ASSERT_TRUE(out.Is(gateway::ErrorKind::kUnauthorized));
    EXPECT_GT(out.error().retry_after, Duration::zero());
    EXPECT_NE(out.error().message.find("not sent"), std::string::npos);
  }
  EXPECT_EQ(inner.CountCalls("Get"), 0);
  inner.SetUnauthorized(false);
  clock.Advance(std::chrono::seconds(30));
  EXPECT_TRUE(gw.Get("j").Is(gateway::ErrorKind::kNotFound));  // the probe: authorized
  EXPECT_TRUE(h.authorized());
  EXPECT_TRUE(gw.List(lo).ok());
}

// Issue 11: a Retry-After longer than the client sleeps through applies to
// every call to that gateway, not only to the call that got it.
TEST(GatewayHealthTest, RetryAfterPausesEveryCallUntilItExpires) {
  LogCapture logs(LogLevel::kInfo);
  FakeClock clock;
  FakeJobGateway inner(&clock);
  GatewayHealth h(clock);
  HealthCheckedGateway gw(inner, h);
  gateway::ListOptions lo;
  lo.region = "SR006";
  inner.ThrottleNextLists(1, std::chrono::hours(1));
  auto first = gw.List(lo);
  ASSERT_TRUE(first.Is(gateway::ErrorKind::kThrottled));
  EXPECT_EQ(inner.CountCalls("List"), 1);
  EXPECT_EQ(h.ThrottledFor(), Duration(std::chrono::hours(1)));
  clock.Advance(std::chrono::minutes(10));
  auto list = gw.List(lo);
  ASSERT_TRUE(list.Is(gateway::ErrorKind::kThrottled));
  EXPECT_EQ(list.error().retry_after, Duration(std::chrono::minutes(50)));
  EXPECT_EQ(list.error().http_status, 0) << "refused locally";
  EXPECT_NE(list.error().message.find("not sent"), std::string::npos) << list.error().message;
  EXPECT_TRUE(gw.Get("j").Is(gateway::ErrorKind::kThrottled));
  gateway::SubmitRequest req;
  req.script = "/x.py";
  EXPECT_TRUE(gw.Submit(req).Is(gateway::ErrorKind::kThrottled));
  EXPECT_TRUE(gw.Logs("j", "SR006", 10).Is(gateway::ErrorKind::kThrottled));
  EXPECT_EQ(inner.CountCalls("List"), 1);
  EXPECT_EQ(inner.CountCalls("Get"), 0);
  EXPECT_EQ(inner.CountCalls("Submit"), 0);
  EXPECT_TRUE(h.authorized()) << "a 429 says nothing about the credentials";
  EXPECT_TRUE(h.Check().ok());
  EXPECT_EQ(logs.Matching("Retry-After").size(), 1u) << "one WARN for the pause";
  clock.Advance(std::chrono::minutes(50));
  EXPECT_EQ(h.ThrottledFor(), Duration::zero());
  EXPECT_TRUE(gw.List(lo).ok());
  EXPECT_EQ(inner.CountCalls("List"), 2);
}

TEST(GatewayHealthTest, RegionPollerDoesNotListDuringRetryAfterAndSaysWhyOnce) {
  LogCapture logs(LogLevel::kInfo);
  FakeClock clock;
  FakeJobGateway inner(&clock);
  GatewayHealth h(clock);
  HealthCheckedGateway gw(inner, h);
  ObservedCache cache;
  RegionPoller poller(
      gw, cache, clock, [] { return std::set<std::string>{"SR006"}; }, [](const ObjectKey&) {});
  inner.ThrottleNextLists(1, std::chrono::seconds(3600));
  EXPECT_EQ(poller.PollOnce(), 1);
  for (int i = 0; i < 100; ++i) {  // every 30 s for 50 min
    clock.Advance(std::chrono::seconds(30));
    EXPECT_EQ(poller.PollOnce(), 1);
  }
  EXPECT_EQ(inner.CountCalls("List"), 1) << "listed again during the Retry-After";
  EXPECT_EQ(logs.Matching("WARN").size(), 2u)
      << "the first failed list and the pause, no line per poll";
  EXPECT_EQ(logs.Matching("Retry-After").size(), 1u);
  clock.Advance(std::chrono::seconds(600));
  EXPECT_EQ(poller.PollOnce(), 0);
  EXPECT_EQ(inner.CountCalls("List"), 2);
}

// The reconciler with the controller's wiring: HealthCheckedGateway +
// GatewayHealth over the fake gateway.
class ClassifiedFailuresTest : public ReconcilerTest {
 protected:
  ClassifiedFailuresTest() : health_(clock_), set_(health_), gated_(gateway_, set_) {
    health_.SetOnRecovered([this] { ++recovered_; });
    RestartGated();
  }
  void RestartGated() {
    proc_ = std::make_unique<Process>(store_, gated_, clock_, desired_, opts_, &observer_,
                                      SimpleBuild, &set_);
  }
  GatewayHealth health_;
  GatewayHealthSet set_;
  HealthCheckedGateway gated_;
  int recovered_ = 0;
};

TEST_F(ClassifiedFailuresTest, WrongCredentialsPauseEveryObjectAndRecoverOnce) {
  LogCapture logs(LogLevel::kInfo);
  gateway_.SetUnauthorized(true);
  std::vector<api::MLSpaceJob> jobs;
  for (const char* n : {"a", "b", "c"}) jobs.push_back(MakeJob(n, std::string(n) + "hash0001"));
  SetDesired(jobs);

  // The first object's submit meets the 401; the others send nothing.
  for (const char* n : {"a", "b", "c"}) {
    auto r = Reconcile(n);
    EXPECT_TRUE(r.error.ok()) << "a controller-wide state, not an object's error";
    ASSERT_TRUE(r.requeue_after.has_value());
    EXPECT_GE(*r.requeue_after, Duration(std::chrono::seconds(29)));
    auto rec = Record(n);
    EXPECT_EQ(rec.status.phase, api::Phase::kPending) << n;
    const api::Condition* c = Cond(rec, api::kCondStalled);
    ASSERT_NE(c, nullptr) << n;
    EXPECT_EQ(c->status, "True");
    EXPECT_EQ(c->reason, kReasonGatewayUnauthorized);
    EXPECT_NE(c->message.find("Invalid api-key"), std::string::npos) << c->message;
  }
  EXPECT_EQ(gateway_.CountCalls("Submit"), 1);
  // b and c never wrote an intent: nothing was going to be sent.
  EXPECT_EQ(store_.AllIntents().size(), 1u);
  // Polls while paused send nothing either, and log no WARN per poll.
  for (int i = 0; i < 3; ++i) Poll(std::chrono::seconds(5));
  EXPECT_EQ(gateway_.CountCalls("List"), 0);
  // Reconciling again within the backoff sends nothing and writes nothing.
  size_t writes = store_.committed_writes().size();
  for (const char* n : {"a", "b", "c"}) Reconcile(n);
  EXPECT_EQ(gateway_.CountCalls("Submit"), 1);
  EXPECT_EQ(store_.committed_writes().size(), writes);

  // The probe after 30 s is still refused: one more request, not three.
  clock_.Advance(std::chrono::seconds(30));
  for (const char* n : {"a", "b", "c"}) Reconcile(n);
  EXPECT_EQ(gateway_.CountCalls("Submit"), 2);
  EXPECT_EQ(health_.Blocked(), Duration(std::chrono::seconds(60)));

  // Credentials fixed: the next probe succeeds and each object submits once.
  gateway_.SetUnauthorized(false);
  clock_.Advance(std::chrono::seconds(60));
  for (const char* n : {"a", "b", "c"}) {
    auto r = Reconcile(n);
    EXPECT_TRUE(r.error.ok()) << r.error.ToString();
    auto rec = Record(n);
    EXPECT_EQ(rec.status.phase, api::Phase::kSubmitted) << n;
    const api::Condition* c = Cond(rec, api::kCondStalled);
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->status, "False");
  }
  EXPECT_EQ(gateway_.CountCalls("Submit"), 5);  // 2 refused + one per object
  std::set<std::string> names;
  for (const char* n : {"a", "b", "c"}) names.insert(Record(n).status.remote_job_name);
  EXPECT_EQ(names.size(), 3u);
  EXPECT_EQ(recovered_, 1);
  EXPECT_EQ(logs.Matching(" WARN ").size(), 1u) << "one WARN per change of state";
}

TEST_F(ClassifiedFailuresTest, RunningObjectKeepsItsPhaseWhileUnauthorized) {
  auto job = MakeJob("a", "aaaa1111");
  std::string name = SubmitAndRun(job);
  gateway_.SetUnauthorized(true);
  // Suspending needs a cancel: refused, the phase stays Running.
  job.spec.run_policy.suspend = true;
  SetDesired({job});
  auto r = Reconcile();
  EXPECT_TRUE(r.error.ok());
  auto rec = Record();
  EXPECT_EQ(rec.status.phase, api::Phase::kRunning);
  EXPECT_EQ(Cond(rec, api::kCondStalled)->reason, kReasonGatewayUnauthorized);
  gateway_.SetUnauthorized(false);
  clock_.Advance(std::chrono::seconds(30));
  Reconcile();
  EXPECT_EQ(PhaseOf(), api::Phase::kSuspended);
  EXPECT_EQ(gateway_.cancelled(), (std::vector<std::string>{name}));
}

TEST_F(ClassifiedFailuresTest, ThrottledAndUnavailableBackOffPerObjectFromOneSecond) {
  SetDesired({MakeJob("a", "aaaa1111")});
  gateway_.ScriptSubmit(Fault::kThrottled);  // no Retry-After
  gateway_.ScriptSubmit(Fault::kUnavailable);
  gateway_.ScriptSubmit(Fault::kThrottled);
  gateway_.ScriptSubmit(Fault::kThrottled, std::chrono::seconds(10));  // Retry-After wins
  std::vector<Duration> waits;
  for (int i = 0; i < 4; ++i) {
    auto r = Reconcile();
    EXPECT_FALSE(r.error.ok());
    ASSERT_TRUE(r.requeue_after.has_value());
    waits.push_back(*r.requeue_after);
  }
  EXPECT_EQ(waits, (std::vector<Duration>{std::chrono::seconds(1), std::chrono::seconds(2),
                                          std::chrono::seconds(4), std::chrono::seconds(10)}));
  EXPECT_EQ(PhaseOf(), api::Phase::kPending);
  EXPECT_TRUE(health_.authorized()) << "429/5xx say nothing about the credentials";
  // Success resets the count: the next failure starts at 1 s again. (The
  // 10 s Retry-After paused every call to the gateway until it passed.)
  EXPECT_FALSE(Reconcile().error.ok());
  clock_.Advance(std::chrono::seconds(10));
  EXPECT_TRUE(Reconcile().error.ok());
  EXPECT_EQ(PhaseOf(), api::Phase::kSubmitted);
  SetDesired({MakeJob("b", "bbbb1111")});
  gateway_.ScriptSubmit(Fault::kThrottled);
  auto r = Reconcile("b");
  ASSERT_TRUE(r.requeue_after.has_value());
  EXPECT_EQ(*r.requeue_after, Duration(std::chrono::seconds(1)));
  // Identical retries are one aggregated event.
  auto ev = store_.Events(Key("a"), 100);
  ASSERT_TRUE(ev.ok());
  int retrying = 0;
  for (const auto& e : *ev) {
    if (e.reason == "SubmitRetrying" && e.message == "submit: 429 from gateway") {
      ++retrying;
      EXPECT_EQ(e.count, 3);
    }
  }
  EXPECT_EQ(retrying, 1);
}

TEST_F(ClassifiedFailuresTest, RejectedBodyIsTerminalWithTheGatewaysMessage) {
  LogCapture logs(LogLevel::kInfo);
  SetDesired({MakeJob("a", "aaaa1111")});
  gateway_.ScriptSubmit(Fault::kInvalid, Duration::zero(),
                        "submit default/a: 422 from gateway: body.n_workers: ensure this value "
                        "is greater than 0");
  auto r = Reconcile();
  EXPECT_TRUE(r.error.ok());
  EXPECT_FALSE(r.requeue_after.has_value());
  auto rec = Record();
  EXPECT_EQ(rec.status.phase, api::Phase::kFailed);
  EXPECT_NE(rec.status.last_error.find("body.n_workers: ensure this value"), std::string::npos);
  EXPECT_EQ(Cond(rec, api::kCondStalled)->reason, "SubmitRejected");
  // Terminal for the generation: reconciling again sends nothing.
  clock_.Advance(std::chrono::hours(1));
  Reconcile();
  EXPECT_EQ(gateway_.CountCalls("Submit"), 1);
  EXPECT_TRUE(health_.authorized()) << "a 422 proves the credentials work";
  // A Warning event is logged at WARN.
  auto warn = logs.Matching(" WARN event");
  ASSERT_EQ(warn.size(), 1u);
  EXPECT_NE(warn[0].find("SubmitRejected"), std::string::npos) << warn[0];
}

TEST_F(ClassifiedFailuresTest, DebugLinesExplainEachDecision) {
  auto job = MakeJob("a", "aaaa1111");
  {
    LogCapture logs(LogLevel::kInfo);
    SetDesired({job});
    Reconcile();
    EXPECT_TRUE(logs.Matching(" DEBUG ").empty());
  }
  LogCapture logs(LogLevel::kDebug);
  std::string name = Record().status.remote_job_name;
  // Submitted, no list yet: waits for the poll.
  Reconcile();
  EXPECT_EQ(logs.Matching("no list of the region yet").size(), 1u);
  gateway_.SetStatus(name, gateway::RemoteStatus::kSucceeded);
  Poll();
  Reconcile();
  auto compared = logs.Matching("desired vs recorded");
  ASSERT_FALSE(compared.empty());
  EXPECT_NE(compared.back().find("specHash=aaaa1111"), std::string::npos) << compared.back();
  EXPECT_NE(compared.back().find("recordedSpecHash=aaaa1111"), std::string::npos);
  EXPECT_FALSE(logs.Matching("remoteStatus=Succeeded").empty());
  // Terminal: why nothing is sent.
  Reconcile();
  EXPECT_EQ(logs.Matching("terminal for this generation; nothing sent").size(), 1u);
  EXPECT_FALSE(logs.Matching("nothing changed, nothing written").empty());

  // A new object: the submit decision and the request.
  SetDesired({job, MakeJob("b", "bbbb2222")});
  Reconcile("b");
  auto sent = logs.Matching("sending submit");
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_NE(sent[0].find("marker=" + MarkerOf(MakeJob("b", "bbbb2222"), 1)), std::string::npos)
      << sent[0];
  // Under a refused credential: why the submit was not sent.
  gateway_.SetUnauthorized(true);
  SetDesired({job, MakeJob("b", "bbbb2222"), MakeJob("c", "cccc3333"), MakeJob("d", "dddd4444")});
  Reconcile("c");
  Reconcile("d");
  EXPECT_EQ(logs.Matching("submit not sent: the gateway rejects the credentials").size(), 1u);
}

// --- Issue 15: one GatewayHealth per backend ---------------------------------

// Two backends behind one JobGateway, as backends::BackendRouter routes them
// (the reconciler cannot link it): a location "<backend>/<region>" goes to
// that backend's fake, unchanged, so its lists and jobs keep the location.
class TwoBackendGateway final : public gateway::JobGateway {
 public:
  TwoBackendGateway(FakeJobGateway& a, FakeJobGateway& b) : a_(a), b_(b) {}
  gateway::Outcome<std::string> Submit(const gateway::SubmitRequest& req) override {
    return Of(req.region.value_or("")).Submit(req);
  }
  gateway::Outcome<gateway::RemoteJob> Get(const std::string& job_name) override {
    return a_.Get(job_name);
  }
  gateway::Outcome<gateway::RemoteJob> GetIn(const std::string& job_name,
                                             const std::string& location) override {
    return Of(location).Get(job_name);
  }
  gateway::Outcome<std::vector<gateway::RemoteJob>> List(
      const gateway::ListOptions& opts) override {
    return Of(opts.region).List(opts);
  }
  gateway::Outcome<gateway::CancelResult> Cancel(const std::string& job_name,
                                                 const std::string& location) override {
    return Of(location).Cancel(job_name, location);
  }
  gateway::Outcome<std::string> Restart(const std::string& job_name) override {
    return a_.Restart(job_name);
  }
  gateway::Outcome<std::string> Logs(const std::string& job_name, const std::string& location,
                                     int tail) override {
    return Of(location).Logs(job_name, location, tail);
  }

 private:
  FakeJobGateway& Of(const std::string& location) { return location.rfind("b/", 0) == 0 ? b_ : a_; }
  FakeJobGateway& a_;
  FakeJobGateway& b_;
};

std::string BackendOf(const std::string& location) {
  size_t slash = location.find('/');
  return slash == std::string::npos ? "" : location.substr(0, slash);
}

// The Controller's wiring with two backends "a" (the default) and "b": one
// GatewayHealthSet, the HealthCheckedGateway over the router, locations
// "<spec.backend>/<region>".
class PerBackendHealthTest : public ReconcilerTest {
 protected:
  PerBackendHealthTest()
      : gw_b_(&clock_),
        router_(gateway_, gw_b_),
        set_(clock_, {}, &health_obs_, {"a", "b"}, BackendOf),
        gated_(router_, set_) {
    set_.SetOnRecovered([this](const std::string& backend) { recovered_.push_back(backend); });
    opts_.locate = [](const api::JobSpec& spec) {
      return (spec.backend.empty() ? std::string("a") : spec.backend) + "/" + spec.region;
    };
    proc_ = std::make_unique<Process>(store_, gated_, clock_, desired_, opts_, &observer_,
                                      SimpleBuild, &set_);
  }
  static api::MLSpaceJob On(const std::string& backend, const std::string& name) {
    api::MLSpaceJob j = MakeJob(name, name + "hash0001");
    j.spec.backend = backend;
    return j;
  }
  bool Unauthorized(const std::string& name) {
    return Cond(Record(name), api::kCondStalled) &&
           Cond(Record(name), api::kCondStalled)->reason == kReasonGatewayUnauthorized &&
           Cond(Record(name), api::kCondStalled)->status == "True";
  }

  FakeJobGateway gw_b_;  // gateway_ (the fixture's) is backend a
  TwoBackendGateway router_;
  RecordingHealthObserver health_obs_;
  GatewayHealthSet set_;
  HealthCheckedGateway gated_;
  std::vector<std::string> recovered_;
};

TEST_F(PerBackendHealthTest, WrongCredentialsOnOneBackendNeverPauseAnother) {
  LogCapture logs(LogLevel::kInfo);
  gateway_.SetUnauthorized(true);  // backend a's key is wrong
  SetDesired({On("a", "a1"), On("a", "a2"), On("b", "b1"), On("b", "b2")});

  // a1 meets the 401; a2 sends nothing; both of b's objects submit at once.
  for (const char* n : {"a1", "a2", "b1", "b2"}) {
    auto r = Reconcile(n);
    EXPECT_TRUE(r.error.ok()) << n << ": " << r.error.ToString();
  }
  EXPECT_EQ(gateway_.CountCalls("Submit"), 1);
  EXPECT_EQ(gw_b_.CountCalls("Submit"), 2);
  EXPECT_EQ(PhaseOf("a1"), api::Phase::kPending);
  EXPECT_EQ(PhaseOf("a2"), api::Phase::kPending);
  EXPECT_EQ(PhaseOf("b1"), api::Phase::kSubmitted);
  EXPECT_EQ(PhaseOf("b2"), api::Phase::kSubmitted);
  // Objects on the failing backend get the condition, naming it; b's not.
  EXPECT_TRUE(Unauthorized("a1"));
  EXPECT_TRUE(Unauthorized("a2"));
  EXPECT_NE(Cond(Record("a2"), api::kCondStalled)->message.find("backend a rejects"),
            std::string::npos)
      << Cond(Record("a2"), api::kCondStalled)->message;
  for (const char* n : {"b1", "b2"}) {
    const api::Condition* c = Cond(Record(n), api::kCondStalled);
    EXPECT_TRUE(c == nullptr || c->status != "True") << n;
  }

  // Each backend's state, check and metrics hooks are its own.
  EXPECT_FALSE(set_.Find("a")->authorized());
  EXPECT_TRUE(set_.Find("b")->authorized());
  EXPECT_FALSE(set_.Find("a")->Check().ok());
  EXPECT_TRUE(set_.Find("b")->Check().ok());
  EXPECT_EQ(health_obs_.by_backend, (std::vector<std::string>{"a:up", "b:up", "a:down"}));
  EXPECT_EQ(health_obs_.auth_failures_of["a"], 1);
  EXPECT_EQ(health_obs_.auth_failures_of.count("b"), 0u);
  // Polls list b (its jobs run on) and send nothing to a while it waits.
  gw_b_.SetStatus(Record("b1").status.remote_job_name, gateway::RemoteStatus::kRunning);
  Poll(std::chrono::seconds(5));
  EXPECT_EQ(gateway_.CountCalls("List"), 0);
  EXPECT_GE(gw_b_.CountCalls("List"), 1);
  Reconcile("b1");
  EXPECT_EQ(PhaseOf("b1"), api::Phase::kRunning);
  // A new object on b submits at once, whatever a's backoff.
  SetDesired({On("a", "a1"), On("a", "a2"), On("b", "b1"), On("b", "b2"), On("b", "b3")});
  EXPECT_TRUE(Reconcile("b3").error.ok());
  EXPECT_EQ(PhaseOf("b3"), api::Phase::kSubmitted);
  EXPECT_EQ(gw_b_.CountCalls("Submit"), 3);
  EXPECT_EQ(gateway_.CountCalls("Submit"), 1);
  EXPECT_EQ(logs.Matching(" WARN ").size(), 1u) << "one WARN, for backend a";
  EXPECT_EQ(logs.Matching("backend=a").size(), 1u);

  // a's key fixed: its probe after 30 s recovers a alone; its objects submit.
  gateway_.SetUnauthorized(false);
  clock_.Advance(std::chrono::seconds(30));
  for (const char* n : {"a1", "a2"}) {
    EXPECT_TRUE(Reconcile(n).error.ok());
    EXPECT_EQ(PhaseOf(n), api::Phase::kSubmitted) << n;
    EXPECT_FALSE(Unauthorized(n)) << n;
  }
  EXPECT_EQ(recovered_, (std::vector<std::string>{"a"}));
  EXPECT_EQ(gateway_.CountCalls("Submit"), 3);  // the refused one + one each
  EXPECT_EQ(gw_b_.CountCalls("Submit"), 3);
  EXPECT_EQ(health_obs_.by_backend, (std::vector<std::string>{"a:up", "b:up", "a:down", "a:up"}));
}

TEST_F(PerBackendHealthTest, RetryAfterOfOneBackendDoesNotPauseAnother) {
  SetDesired({On("a", "a1"), On("b", "b1")});
  // a's first submit is answered 429 with a Retry-After of an hour.
  gateway_.ScriptSubmit(Fault::kThrottled, std::chrono::hours(1));
  auto r = Reconcile("a1");
  EXPECT_FALSE(r.error.ok());
  ASSERT_TRUE(r.requeue_after.has_value());
  EXPECT_GE(*r.requeue_after, Duration(std::chrono::hours(1)));
  EXPECT_EQ(set_.Find("a")->ThrottledFor(), Duration(std::chrono::hours(1)));
  EXPECT_EQ(set_.Find("b")->ThrottledFor(), Duration::zero());

  // b submits and is listed; a gets no request of any kind meanwhile.
  EXPECT_TRUE(Reconcile("b1").error.ok());
  EXPECT_EQ(PhaseOf("b1"), api::Phase::kSubmitted);
  for (int i = 0; i < 10; ++i) Poll(std::chrono::seconds(30));
  EXPECT_EQ(gw_b_.CountCalls("List"), 10);
  EXPECT_EQ(gateway_.CountCalls("List"), 0);
  clock_.Advance(std::chrono::minutes(10));
  auto again = Reconcile("a1");
  EXPECT_FALSE(again.error.ok());
  EXPECT_EQ(gateway_.CountCalls("Submit"), 1) << "sent during a's Retry-After";
  EXPECT_EQ(PhaseOf("a1"), api::Phase::kPending);
  // Both stay authorized: a 429 says nothing about credentials.
  EXPECT_TRUE(set_.Find("a")->authorized());
  EXPECT_TRUE(set_.Find("a")->Check().ok());

  // After the pause a's submit goes out.
  clock_.Advance(std::chrono::minutes(50));
  EXPECT_TRUE(Reconcile("a1").error.ok());
  EXPECT_EQ(PhaseOf("a1"), api::Phase::kSubmitted);
  EXPECT_EQ(gateway_.CountCalls("Submit"), 2);
}

TEST(GatewayHealthSetTest, LocationsPickTheirBackendAndUnknownOnesTheDefault) {
  FakeClock clock;
  RecordingHealthObserver obs;
  GatewayHealthSet set(clock, {}, &obs, {"emu", "lab"}, BackendOf);
  EXPECT_EQ(set.All().size(), 2u);
  EXPECT_EQ(set.Default().name(), "emu");
  EXPECT_EQ(set.For("lab/workstation").name(), "lab");
  EXPECT_EQ(set.For("emu/SR006").name(), "emu");
  EXPECT_EQ(set.For("SR006").name(), "emu") << "a plain location is the default's";
  EXPECT_EQ(set.For("gone/SR006").name(), "emu") << "a backend no longer configured";
  EXPECT_EQ(set.Find("nope"), nullptr);
  EXPECT_EQ(obs.by_backend, (std::vector<std::string>{"emu:up", "lab:up"}));

  // Through HealthCheckedGateway, a refusal names the backend when there are
  // several; Get (no location) is the default's.
  FakeJobGateway a(&clock), b(&clock);
  TwoBackendGateway router(a, b);
  GatewayHealthSet two(clock, {}, nullptr, {"a", "b"}, BackendOf);
  HealthCheckedGateway gw(router, two);
  b.SetUnauthorized(true);
  gateway::ListOptions lo;
  lo.region = "b/SR006";
  EXPECT_TRUE(gw.List(lo).Is(gateway::ErrorKind::kUnauthorized));
  auto refused = gw.List(lo);
  ASSERT_TRUE(refused.Is(gateway::ErrorKind::kUnauthorized));
  EXPECT_NE(refused.error().message.find("not sent, backend b rejects the credentials"),
            std::string::npos)
      << refused.error().message;
  EXPECT_EQ(b.CountCalls("List"), 1);
  lo.region = "a/SR006";
  EXPECT_TRUE(gw.List(lo).ok());
  EXPECT_TRUE(gw.Get("x").Is(gateway::ErrorKind::kNotFound)) << "a's, and a is fine";
  EXPECT_EQ(a.CountCalls("Get"), 1);
  // A set of one keeps the single-gateway wording.
  GatewayHealth single(clock);
  HealthCheckedGateway one(b, single);
  lo.region = "SR006";
  EXPECT_TRUE(one.List(lo).Is(gateway::ErrorKind::kUnauthorized));
  auto msg = one.List(lo).error().message;
  EXPECT_NE(msg.find("not sent, the gateway rejects"), std::string::npos) << msg;
}

}  // namespace
}  // namespace mlspace::reconciler::testing
