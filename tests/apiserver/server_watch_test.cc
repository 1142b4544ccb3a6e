// Watches over a real loopback socket: chunked events as commits happen,
// many concurrent watchers, the watch cap, and Stop() ending streams.

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "controller/apiserver/change_log.h"
#include "controller/apiserver/server.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_state_store.h"

namespace mlspace::apiserver {
namespace {

using namespace std::chrono_literals;

store::WriteBatch Upsert(const std::string& name, api::Phase phase) {
  store::ObjectRecord r;
  r.key = ObjectKey{"default", name};
  r.spec_json = R"({"region":"SR006","image":"img"})";
  r.region = "SR006";
  r.status.phase = phase;
  store::WriteBatch b;
  b.upserts.push_back(r);
  return b;
}

struct Watcher {
  std::unique_ptr<Poco::Net::HTTPClientSession> session;
  Poco::Net::HTTPResponse response;
  std::istream* in = nullptr;

  Watcher(uint16_t port, const std::string& query) {
    session = std::make_unique<Poco::Net::HTTPClientSession>("127.0.0.1", port);
    session->setTimeout(Poco::Timespan(10, 0));
    Poco::Net::HTTPRequest req(Poco::Net::HTTPRequest::HTTP_GET,
                               "/apis/mlspace.io/v1alpha1/namespaces/default/mlspacejobs?" + query,
                               Poco::Net::HTTPMessage::HTTP_1_1);
    session->sendRequest(req);
    in = &session->receiveResponse(response);
  }
  nlohmann::json Next() {
    std::string line;
    std::getline(*in, line);
    return line.empty() ? nlohmann::json() : nlohmann::json::parse(line);
  }
};

class ServerWatchTest : public ::testing::Test {
 protected:
  void Start(int max_watches, ServerLimits limits = {}) {
    ServerOptions o{HostPort{"127.0.0.1", 0}, 2, ""};
    o.max_watches = max_watches;
    o.limits = limits;
    auto s = ApiServer::Start(handler_, o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(*s);
  }
  testing::FakeClock clock_;
  testing::FakeStateStore store_;
  ChangeLog log_{1024};
  ObservingStore observed_{store_, log_};
  ApiHandler handler_{store_, clock_, ControllerHooks{},
                      HandlerOptions{"", "v0", nullptr, {}, &log_}};
  std::unique_ptr<ApiServer> server_;
};

TEST_F(ServerWatchTest, ManyWatchersSeeACommitAsChunkedJsonLines) {
  ASSERT_TRUE(observed_.Write(Upsert("a", api::Phase::kPending)).ok());
  Start(64);
  std::vector<std::unique_ptr<Watcher>> watchers;
  for (int i = 0; i < 40; ++i) {
    watchers.push_back(std::make_unique<Watcher>(server_->port(), "watch=true"));
    ASSERT_EQ(watchers.back()->response.getStatus(), 200);
    EXPECT_TRUE(watchers.back()->response.getChunkedTransferEncoding());
    EXPECT_EQ(watchers.back()->Next()["type"], "ADDED");
  }
  ASSERT_TRUE(observed_.Write(Upsert("a", api::Phase::kRunning)).ok());
  for (auto& w : watchers) {
    auto e = w->Next();
    EXPECT_EQ(e["type"], "MODIFIED");
    EXPECT_EQ(e["object"]["status"]["phase"], "Running");
  }
  // Plain requests still get a thread while the watches hold theirs.
  Poco::Net::HTTPClientSession plain("127.0.0.1", server_->port());
  Poco::Net::HTTPRequest get(Poco::Net::HTTPRequest::HTTP_GET,
                             "/apis/mlspace.io/v1alpha1/namespaces/default/mlspacejobs/a");
  plain.sendRequest(get);
  Poco::Net::HTTPResponse resp;
  plain.receiveResponse(resp);
  EXPECT_EQ(resp.getStatus(), 200);
  auto start = std::chrono::steady_clock::now();
  server_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

// The head, body and idle timeouts bound how a request arrives, never how
// long its answer streams: kubectl -w sits quiet for hours.
TEST_F(ServerWatchTest, WatchesOutliveTheRequestTimeouts) {
  ASSERT_TRUE(observed_.Write(Upsert("a", api::Phase::kPending)).ok());
  ServerLimits quick;
  quick.head_timeout = 200ms;
  quick.body_timeout = 200ms;
  quick.idle_timeout = 200ms;
  Start(4, quick);
  Watcher w(server_->port(), "watch=true");
  ASSERT_EQ(w.response.getStatus(), 200);
  EXPECT_EQ(w.Next()["type"], "ADDED");
  std::this_thread::sleep_for(1500ms);
  ASSERT_TRUE(observed_.Write(Upsert("a", api::Phase::kRunning)).ok());
  auto e = w.Next();
  EXPECT_EQ(e["type"], "MODIFIED");
  EXPECT_EQ(e["object"]["status"]["phase"], "Running");
}

TEST_F(ServerWatchTest, WatchesBeyondTheCapAreTooManyRequests) {
  Start(1);
  Watcher first(server_->port(), "watch=true&resourceVersion=0");
  ASSERT_EQ(first.response.getStatus(), 200);
  Watcher second(server_->port(), "watch=true&resourceVersion=0");
  EXPECT_EQ(second.response.getStatus(), 429);
}

TEST_F(ServerWatchTest, AClientThatHangsUpFreesItsWatchSlot) {
  Start(1);
  {
    Watcher first(server_->port(), "watch=true");
    ASSERT_EQ(first.response.getStatus(), 200);
    first.session->reset();  // closes the socket
  }
  // The watch notices within about a second and frees the only slot.
  int status = 0;
  for (int i = 0; i < 50 && status != 200; ++i) {
    std::this_thread::sleep_for(100ms);
    Watcher again(server_->port(), "watch=true");
    status = again.response.getStatus();
  }
  EXPECT_EQ(status, 200);
}

}  // namespace
}  // namespace mlspace::apiserver
