#pragma once

// Test harness for JobReconciler: fakes for every seam, a FakeClock, and
// helpers to set the desired state, poll the gateway and read what the
// reconciler recorded.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "controller/reconciler/desired_state.h"
#include "controller/reconciler/job_reconciler.h"
#include "controller/reconciler/marker.h"
#include "controller/reconciler/observed_cache.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_job_gateway.h"
#include "tests/fakes/fake_state_store.h"

namespace mlspace::reconciler::testing {

using namespace std::chrono_literals;
using mlspace::testing::FakeClock;
using mlspace::testing::FakeJobGateway;
using mlspace::testing::FakeStateStore;

class RecordingObserver : public ReconcilerObserver {
 public:
  void OnSubmission(const ObjectKey&, std::string_view r) override {
    Add("submit:" + std::string(r));
  }
  void OnRetry(const ObjectKey&) override { Add("retry"); }
  void OnCancellation(const ObjectKey&, std::string_view r) override {
    Add("cancel:" + std::string(r));
  }
  void OnPhaseChange(const ObjectKey&, api::Phase, api::Phase to) override {
    Add("phase:" + std::string(api::PhaseName(to)));
  }
  void OnPruneRefused(const ObjectKey&, std::string_view r) override {
    Add("prune-refused:" + std::string(r));
  }
  void OnRecordWritten(const ObjectKey&, const RecordSummary& r) override {
    Add("written:" + std::string(api::PhaseName(r.phase)) + ":" + r.region + ":" + r.remote_job);
  }
  void OnRecordDropped(const ObjectKey&) override { Add("dropped"); }
  void OnRunDuration(const ObjectKey&, Duration) override { Add("run-duration"); }
  void OnPendingDuration(const ObjectKey&, Duration) override { Add("pending-duration"); }
  int Count(const std::string& e) const {
    std::lock_guard lock(mu_);
    return static_cast<int>(std::count(events_.begin(), events_.end(), e));
  }

 private:
  void Add(std::string e) {
    std::lock_guard lock(mu_);
    events_.push_back(std::move(e));
  }
  mutable std::mutex mu_;
  std::vector<std::string> events_;
};

inline api::MLSpaceJob MakeJob(const std::string& name, const std::string& hash,
                               const std::string& region = "SR006") {
  api::MLSpaceJob j;
  j.metadata.name = name;
  j.metadata.namespace_name = "default";
  j.spec.region = region;
  j.spec.image = "cr.ai.cloud.ru/acme/pytorch:2.4";
  j.spec.instance_type = "a100.1gpu";
  j.spec.command = {"python", "train.py"};
  j.spec_hash = hash;
  j.source_path = "jobs/" + name + ".yaml";
  return j;
}

// A simple request builder standing in for api::BuildSubmitRequest.
inline Result<gateway::SubmitRequest> SimpleBuild(const api::MLSpaceJob& job,
                                                  const std::string& marker) {
  gateway::SubmitRequest r;
  r.script = "/home/jovyan/.mlspace/bin/mlspace-launch";
  r.base_image = job.spec.image;
  r.instance_type = job.spec.instance_type;
  r.region = job.spec.region;
  r.job_desc = marker;
  return r;
}

// Everything one controller process holds in memory; the store and the
// gateway outlive it (a "restart" builds a new Process over them).
struct Process {
  Process(FakeStateStore& store, gateway::JobGateway& gw, FakeClock& clock,
          DesiredStateHolder& desired, ReconcilerOptions opts, RecordingObserver* obs,
          SubmitRequestBuilder build = SimpleBuild, GatewayHealthSet* health = nullptr) {
    JobReconciler::Deps d;
    d.store = &store;
    d.gateway = &gw;
    d.clock = &clock;
    d.desired = &desired;
    d.observed = &observed;
    d.build_request = std::move(build);
    d.observer = obs;
    d.health = health;  // as the Controller wires it; null: no health gate
    // As Controller::Start does: this instance's markers, and legacy ones
    // when the store predates instance-qualified markers.
    auto id = store.Identity();
    observed.SetOwner(opts.instance, id.ok() && id->legacy_markers);
    reconciler = std::make_unique<JobReconciler>(std::move(d), opts);
    poller = std::make_unique<RegionPoller>(
        gw, observed, clock, [this] { return reconciler->RegionsInUse(); },
        [this](const ObjectKey& k) {
          std::lock_guard lock(mu);
          enqueued.insert(k);
        });
  }
  ObservedCache observed;
  std::unique_ptr<JobReconciler> reconciler;
  std::unique_ptr<RegionPoller> poller;
  std::mutex mu;
  std::set<ObjectKey> enqueued;
};

class ReconcilerTest : public ::testing::Test {
 protected:
  static constexpr char kInstance[] = "test";

  ReconcilerTest() : gateway_(&clock_) {
    opts_.ambiguous_grace = 60s;
    opts_.poll_interval = 30s;
    opts_.instance = kInstance;
    Restart();
  }

  // A fresh process over the same store and gateway (crash + restart).
  void Restart(SubmitRequestBuilder build = SimpleBuild) {
    proc_ = std::make_unique<Process>(store_, gateway_, clock_, desired_, opts_, &observer_,
                                      std::move(build));
  }
  void Restart(gateway::JobGateway& gw) {
    proc_ = std::make_unique<Process>(store_, gw, clock_, desired_, opts_, &observer_);
  }

  void SetDesired(const std::vector<api::MLSpaceJob>& jobs, const std::string& rev = "rev1",
                  std::vector<ParsedObject> extra = {}) {
    std::vector<ParsedObject> parsed = std::move(extra);
    for (const auto& j : jobs) parsed.push_back({j.key(), j.source_path, j, std::nullopt});
    auto s = std::make_shared<DesiredState>();
    s->revision = rev;
    s->objects = BuildDesiredObjects(parsed);
    s->prune = PruneVerdict{};
    desired_.Set(s);
  }
  void SetDesiredState(DesiredState s) {
    desired_.Set(std::make_shared<DesiredState>(std::move(s)));
  }

  runtime::ReconcileResult Reconcile(const std::string& name = "a") {
    return proc_->reconciler->Reconcile(Key(name));
  }
  // Advances past the poll interval and lists every region once.
  void Poll(Duration advance = 30s) {
    clock_.Advance(advance);
    proc_->poller->PollOnce();
  }
  static ObjectKey Key(const std::string& name) { return ObjectKey{"default", name}; }

  store::ObjectRecord Record(const std::string& name = "a") {
    auto r = store_.Get(Key(name));
    EXPECT_TRUE(r.ok());
    EXPECT_TRUE(r->has_value()) << "no record for " << name;
    return r->has_value() ? **r : store::ObjectRecord{};
  }
  bool HasRecord(const std::string& name = "a") {
    auto r = store_.Get(Key(name));
    return r.ok() && r->has_value();
  }
  api::Phase PhaseOf(const std::string& name = "a") { return Record(name).status.phase; }
  std::vector<std::string> EventReasons(const std::string& name = "a") {
    std::vector<std::string> out;
    auto ev = store_.Events(Key(name), 1000);
    if (ev.ok()) {
      for (const auto& e : *ev) out.push_back(e.reason);
    }
    return out;
  }
  int CountEvent(const std::string& reason, const std::string& name = "a") {
    auto r = EventReasons(name);
    return static_cast<int>(std::count(r.begin(), r.end(), reason));
  }
  const api::Condition* Cond(const store::ObjectRecord& r, const char* type) {
    return api::FindCondition(r.status.conditions, type);
  }
  std::string MarkerOf(const api::MLSpaceJob& j, int attempt) {
    return MakeMarker(kInstance, j.key(), j.spec_hash, attempt);
  }
  // Submits `job` and lets the gateway report it running.
  std::string SubmitAndRun(const api::MLSpaceJob& job) {
    SetDesired({job});
    EXPECT_TRUE(Reconcile(job.metadata.name).error.ok());
    auto rec = Record(job.metadata.name);
    EXPECT_EQ(rec.status.phase, api::Phase::kSubmitted);
    gateway_.SetStatus(rec.status.remote_job_name, gateway::RemoteStatus::kRunning);
    Poll();
    Reconcile(job.metadata.name);
    EXPECT_EQ(PhaseOf(job.metadata.name), api::Phase::kRunning);
    return rec.status.remote_job_name;
  }

  FakeClock clock_;
  FakeStateStore store_;
  FakeJobGateway gateway_;
  DesiredStateHolder desired_;
  RecordingObserver observer_;
  ReconcilerOptions opts_;
  std::unique_ptr<Process> proc_;
};

}  // namespace mlspace::reconciler::testing
