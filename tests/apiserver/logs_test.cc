// The log subresource through ApiHandler: which remote job each attempt
// reads, clear answers when there is nothing to read, and follow.

#include "controller/apiserver/logs.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <mutex>
#include <nlohmann/json.hpp>

#include "controller/apiserver/handler.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_state_store.h"

namespace mlspace::apiserver {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

constexpr char kPath[] = "/apis/mlspace.io/v1alpha1/namespaces/nlp/mlspacejobs/llama/log";

// A scripted JobGateway::Logs: text per remote job, errors on demand.
struct FakeLogs {
  std::mutex mu;
  std::map<std::string, std::string> text;
  std::map<std::string, gateway::ErrorKind> errors;
  std::vector<std::pair<std::string, int>> calls;  // (job, tail)
  gateway::Outcome<std::string> operator()(const std::string& job, const std::string& region,
                                           int tail) {
    std::lock_guard lock(mu);
    calls.emplace_back(job, tail);
    EXPECT_EQ(region, "SR006");
    if (auto e = errors.find(job); e != errors.end()) {
      gateway::Error err;
      err.kind = e->second;
      err.message = "logs " + job + ": boom";
      return err;
    }
    return text[job];
  }
};

class LogsTest : public ::testing::Test {
 protected:
  void SetUp() override { Put(api::Phase::kRunning, 2, "lj-2"); }

  void Put(api::Phase phase, int attempt, std::string remote) {
    store::ObjectRecord r;
    r.key = ObjectKey{"nlp", "llama"};
    r.spec_hash = "hash-gen-1";
    r.generation = 1;
    r.region = "SR006";
    r.status.phase = phase;
    r.status.attempt = attempt;
    r.status.remote_job_name = std::move(remote);
    store::WriteBatch b;
    b.upserts = {r};
    for (int a = 1; a <= 2; ++a) {
      store::SubmitIntent i;
      i.marker = "mlsj:nlp/llama/hash-gen/" + std::to_string(a);
      i.key = r.key;
      i.spec_hash = "hash-gen-1";
      i.attempt = a;
      i.region = "SR006";
      i.state = store::IntentState::kSubmitted;
      i.remote_job_name = "lj-" + std::to_string(a);
      b.intents.push_back(i);
    }
    ASSERT_TRUE(store_.Write(b).ok());
  }

  ApiResponse Get(std::multimap<std::string, std::string> query = {}) {
    ApiRequest req;
    req.method = "GET";
    req.path = kPath;
    req.query = std::move(query);
    return handler_.Handle(req);
  }
  static std::string Message(const ApiResponse& r) {
    return json::parse(r.body).value("message", std::string());
  }

  testing::FakeClock clock_;
  testing::FakeStateStore store_;
  FakeLogs logs_;
  ControllerHooks Hooks() {
    ControllerHooks h;
    h.job_logs = [this](const std::string& j, const std::string& r, int t) {
      return logs_(j, r, t);
    };
    return h;
  }
  ApiHandler handler_{store_, clock_, Hooks(),
                      HandlerOptions{"", "v", nullptr,
                                     LogOptions{std::chrono::milliseconds(1),
                                                std::chrono::seconds(5), 4, [](Duration) {}}}};
};

TEST_F(LogsTest, ReadsTheCurrentAttemptsOutput) {
  logs_.text["lj-2"] = "epoch 1\nepoch 2\n";
  auto r = Get();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/plain; charset=utf-8");
  EXPECT_EQ(r.body, "epoch 1\nepoch 2\n");
  EXPECT_EQ(logs_.calls.back(), std::make_pair(std::string("lj-2"), 0));
}

TEST_F(LogsTest, TailLinesAndEarlierAttempts) {
  logs_.text["lj-1"] = "a\nb\nc\n";
  logs_.text["lj-2"] = "x\ny\n";
  auto tail = Get({{"tailLines", "1"}});
  EXPECT_EQ(tail.body, "y\n");
  EXPECT_EQ(logs_.calls.back().second, 1) << "the tail is asked of the gateway";
  auto first = Get({{"attempt", "1"}, {"tailLines", "2"}});
  EXPECT_EQ(first.status, 200);
  EXPECT_EQ(first.body, "b\nc\n");
  auto previous = Get({{"previous", "true"}});
  EXPECT_EQ(previous.body, "a\nb\nc\n");
  auto unknown = Get({{"attempt", "5"}});
  EXPECT_EQ(unknown.status, 404);
  EXPECT_THAT(Message(unknown), HasSubstr("attempt 5 of mlspacejobs.mlspace.io \"llama\""));
}

TEST_F(LogsTest, ClearAnswersWhenThereIsNothingToRead) {
  ApiRequest other;
  other.method = "GET";
  other.path = "/apis/mlspace.io/v1alpha1/namespaces/nlp/mlspacejobs/nope/log";
  auto missing = handler_.Handle(other);
  EXPECT_EQ(missing.status, 404);
  EXPECT_THAT(Message(missing), HasSubstr("\"nope\" not found"));

  // A first attempt still being submitted: nothing has started.
  store::WriteBatch drop;
  drop.deletes = {ObjectKey{"nlp", "llama"}};
  ASSERT_TRUE(store_.Write(drop).ok());
  store::ObjectRecord fresh;
  fresh.key = ObjectKey{"nlp", "llama"};
  fresh.region = "SR006";
  fresh.status.phase = api::Phase::kPending;
  store::WriteBatch b;
  b.upserts = {fresh};
  ASSERT_TRUE(store_.Write(b).ok());
  auto pending = Get();
  EXPECT_EQ(pending.status, 400);
  EXPECT_THAT(Message(pending), HasSubstr("has not started: no remote job yet (phase Pending)"));
}

TEST_F(LogsTest, RetryWaitingShowsTheLastAttemptThatRan) {
  Put(api::Phase::kPending, 3, "");  // attempt 3 waits for its backoff
  logs_.text["lj-2"] = "failed run\n";
  auto r = Get();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "failed run\n");
}

TEST_F(LogsTest, GoneAndUnreachableOutputAndBadQueries) {
  logs_.errors["lj-2"] = gateway::ErrorKind::kNotFound;
  auto gone = Get();
  EXPECT_EQ(gone.status, 404);
  EXPECT_THAT(Message(gone), HasSubstr("output of remote job lj-2"));
  EXPECT_THAT(Message(gone), HasSubstr("is gone"));
  logs_.errors["lj-2"] = gateway::ErrorKind::kUnavailable;
  auto down = Get();
  EXPECT_EQ(down.status, 503);
  EXPECT_THAT(Message(down), HasSubstr("logs lj-2: boom"));
  EXPECT_EQ(Get({{"tailLines", "-1"}}).status, 400);
  EXPECT_EQ(Get({{"tailLines", "ten"}}).status, 400);
  EXPECT_EQ(Get({{"attempt", "0"}}).status, 400);
  ApiRequest post;
  post.method = "POST";
  post.path = kPath;
  EXPECT_EQ(handler_.Handle(post).status, 405);
}

TEST_F(LogsTest, FollowSendsNewOutputAndEndsWhenTheJobEnds) {
  logs_.text["lj-2"] = "line 1\nline 2\n";
  auto r = Get({{"follow", "true"}, {"tailLines", "1"}});
  ASSERT_EQ(r.status, 200);
  ASSERT_TRUE(r.stream);
  std::vector<std::string> chunks;
  int polls = 0;
  r.stream([&](std::string_view piece) {
    if (piece.empty()) {
      // Between polls: the job writes more, then ends after the third poll.
      ++polls;
      std::lock_guard lock(logs_.mu);
      logs_.text["lj-2"] += "line " + std::to_string(polls + 2) + "\n";
      if (polls == 3) {
        store::ObjectRecord rec = **store_.Get(ObjectKey{"nlp", "llama"});
        rec.status.phase = api::Phase::kFailed;
        store::WriteBatch b;
        b.upserts = {rec};
        EXPECT_TRUE(store_.Write(b).ok());
      }
      return true;
    }
    chunks.emplace_back(piece);
    return true;
  });
  EXPECT_EQ(polls, 3) << "the stream ends at the poll that sees the job ended";
  ASSERT_EQ(chunks.size(), 4u);
  EXPECT_EQ(chunks[0], "line 2\n");
  EXPECT_EQ(chunks[1], "line 3\n");
  EXPECT_EQ(chunks[3], "line 5\n") << "output written before the end is sent";
}

TEST_F(LogsTest, FollowStopsWhenTheClientGoesAway) {
  logs_.text["lj-2"] = "x\n";
  auto r = Get({{"follow", "1"}});
  ASSERT_TRUE(r.stream);
  int writes = 0;
  r.stream([&](std::string_view piece) {
    ++writes;
    if (!piece.empty()) return true;
    return writes < 5;  // then the client is gone
  });
  EXPECT_EQ(writes, 5);
}

TEST_F(LogsTest, FollowsAreBoundedAndReleased) {
  logs_.text["lj-2"] = "x\n";
  std::vector<ApiResponse> open;
  for (int i = 0; i < 4; ++i) {
    open.push_back(Get({{"follow", "true"}}));
    ASSERT_EQ(open.back().status, 200);
  }
  auto refused = Get({{"follow", "true"}});
  EXPECT_EQ(refused.status, 429);
  EXPECT_THAT(Message(refused), HasSubstr("too many log follows open (4)"));
  EXPECT_EQ(Get().status, 200) << "reading without follow is not limited";
  open.pop_back();  // one answer done: its slot is free again
  EXPECT_EQ(Get({{"follow", "true"}}).status, 200);
}

TEST(LastLinesTest, CountsAFinalUnterminatedLine) {
  EXPECT_EQ(LastLines("a\nb\nc\n", 2), "b\nc\n");
  EXPECT_EQ(LastLines("a\nb\nc", 2), "b\nc");
  EXPECT_EQ(LastLines("a\nb\n", 5), "a\nb\n");
  EXPECT_EQ(LastLines("a\nb\n", 0), "a\nb\n");
  EXPECT_EQ(LastLines("", 3), "");
}

}  // namespace
}  // namespace mlspace::apiserver
