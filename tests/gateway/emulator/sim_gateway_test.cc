#include "controller/gateway/local/sim_gateway.h"

#include <chrono>
#include <set>

#include <gtest/gtest.h>

#include "tests/fakes/fake_clock.h"

namespace mlspace::gateway {
namespace {

using std::chrono::seconds;

SubmitRequest Req(const std::string& region = "SR006") {
  SubmitRequest r;
  r.script = "/x";
  r.base_image = "img";
  r.instance_type = "a100.1gpu";
  r.region = region;
  return r;
}

class SimGatewayTest : public ::testing::Test {
 protected:
  SimGatewayTest() : sim_(Options(), clock_) {}
  static SimGatewayOptions Options() {
    SimGatewayOptions o;
    o.pending_duration = seconds(2);
    o.run_duration = seconds(5);
    return o;
  }
  RemoteStatus StatusOf(const std::string& name) { return sim_.Get(name)->status; }

  testing::FakeClock clock_;
  SimulatedGateway sim_;
};

TEST_F(SimGatewayTest, MovesPendingRunningCompletedOnTheClock) {
  const std::string name = *sim_.Submit(Req());
  EXPECT_EQ(StatusOf(name), RemoteStatus::kPending);
  clock_.Advance(seconds(2));
  EXPECT_EQ(StatusOf(name), RemoteStatus::kRunning);
  auto job = sim_.Get(name);
  ASSERT_TRUE(job->started.has_value());
  EXPECT_EQ(*job->started - *job->created, seconds(2));
  clock_.Advance(seconds(5));
  job = sim_.Get(name);
  EXPECT_EQ(job->status, RemoteStatus::kCompleted);
  EXPECT_EQ(*job->completed - *job->started, seconds(5));
}

TEST_F(SimGatewayTest, EnvCanMakeAJobFail) {
  SubmitRequest r = Req();
  r.env_variables["MLSPACE_SIM_RESULT"] = "failed";
  const std::string name = *sim_.Submit(r);
  clock_.Advance(seconds(8));
  EXPECT_EQ(StatusOf(name), RemoteStatus::kFailed);
}

TEST_F(SimGatewayTest, CancelStopsPendingAndRunningButNotFinished) {
  const std::string pending = *sim_.Submit(Req());
  clock_.Advance(seconds(1));
  EXPECT_EQ(*sim_.Cancel(pending, "SR006"), CancelResult::kDeleted);
  const std::string running = *sim_.Submit(Req());
  clock_.Advance(seconds(3));
  EXPECT_EQ(*sim_.Cancel(running, ""), CancelResult::kDeleted);
  const std::string done = *sim_.Submit(Req());
  clock_.Advance(seconds(10));
  EXPECT_EQ(*sim_.Cancel(done, ""), CancelResult::kDeleted);
  EXPECT_EQ(StatusOf(pending), RemoteStatus::kStopped);
  EXPECT_FALSE(sim_.Get(pending)->started.has_value());
  EXPECT_EQ(StatusOf(running), RemoteStatus::kStopped);
  EXPECT_TRUE(sim_.Get(running)->started.has_value());
  EXPECT_EQ(StatusOf(done), RemoteStatus::kCompleted);
  EXPECT_EQ(*sim_.Cancel("sj-none", ""), CancelResult::kNotFound);
  EXPECT_EQ(*sim_.Cancel(done, "SR004"), CancelResult::kNotFound);
}

TEST_F(SimGatewayTest, ListFiltersAndRestartCopiesTheRequest) {
  SubmitRequest r = Req();
  r.job_desc = "m";
  const std::string a = *sim_.Submit(r);
  clock_.Advance(seconds(3));
  const std::string b = *sim_.Submit(Req("SR004"));
  ListOptions lo;
  lo.region = "SR006";
  auto l = sim_.List(lo);
  ASSERT_EQ(l->size(), 1u);
  EXPECT_EQ((*l)[0].job_desc, "m");
  lo.region = "SR004";
  lo.statuses = {RemoteStatus::kRunning};
  EXPECT_TRUE(sim_.List(lo)->empty());
  lo.statuses = {RemoteStatus::kPending};
  EXPECT_EQ(sim_.List(lo)->at(0).name, b);
  auto again = sim_.Restart(a);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(sim_.Get(*again)->job_desc, "m");
  EXPECT_TRUE(sim_.Restart("sj-none").Is(ErrorKind::kNotFound));
  EXPECT_TRUE(sim_.Get("sj-none").Is(ErrorKind::kNotFound));
}

TEST_F(SimGatewayTest, TenThousandJobsHaveUniqueNames) {
  std::set<std::string> names;
  for (int i = 0; i < 10000; ++i) names.insert(*sim_.Submit(Req()));
  EXPECT_EQ(names.size(), 10000u);
  EXPECT_EQ(sim_.size(), 10000u);
  ListOptions lo;
  lo.region = "SR006";
  EXPECT_EQ(sim_.List(lo)->size(), 10000u);
}

}  // namespace
}  // namespace mlspace::gateway
