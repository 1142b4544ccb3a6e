// Watches over a real loopback socket: chunked events as commits happen,
// many concurrent watchers, the watch cap, Stop() ending streams, and a
// watcher that stops reading being dropped instead of buffered.

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/StreamSocket.h>
#include <gtest/gtest.h>

#include <atomic>
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

// A watcher that stops reading costs no queue: its events go straight to
// its socket, a write that stalls for the send timeout (body_timeout) drops
// it (it reconnects and relists, as informers do), and meanwhile commits
// and the other watchers go on at their own pace.
TEST_F(ServerWatchTest, AWatcherThatStopsReadingIsDroppedAndHoldsNobodyBack) {
  ASSERT_TRUE(observed_.Write(Upsert("a", api::Phase::kPending)).ok());
  ServerLimits limits;
  limits.body_timeout = 1s;
  Start(2, limits);
  const std::string from = "watch=true&resourceVersion=" + std::to_string(log_.CurrentVersion());

  // The stuck watcher: a small receive window, read up to its 200, then never.
  Poco::Net::StreamSocket stuck(Poco::Net::SocketAddress::IPv4);
  stuck.setReceiveBufferSize(4096);
  stuck.connect(Poco::Net::SocketAddress("127.0.0.1", server_->port()));
  const std::string head = "GET /apis/mlspace.io/v1alpha1/namespaces/default/mlspacejobs?" + from +
                           " HTTP/1.1\r\nHost: x\r\n\r\n";
  stuck.sendBytes(head.data(), static_cast<int>(head.size()));
  std::string got;
  char buf[512];
  while (got.find("\r\n\r\n") == std::string::npos) {
    int n = stuck.receiveBytes(buf, sizeof(buf));
    ASSERT_GT(n, 0);
    got.append(buf, static_cast<size_t>(n));
  }
  ASSERT_EQ(got.rfind("HTTP/1.1 200", 0), 0u) << got;

  // A reading watcher, counting the changes as they come.
  Watcher reader(server_->port(), from);
  ASSERT_EQ(reader.response.getStatus(), 200);
  std::atomic<int> seen{0};
  std::thread read([&] {
    for (auto e = reader.Next(); e.is_object(); e = reader.Next()) {
      if (e["type"] == "MODIFIED") ++seen;
    }
  });

  // Changes of ~128 KiB each until the stuck watcher is dropped (socket
  // buffers take some MB first, then a write to it makes no progress for
  // the send timeout): a third watch is refused while it holds its slot.
  const std::string pad(128 * 1024, 'x');
  int writes = 0;
  Duration slowest{};
  bool dropped = false;
  for (; writes < 300 && !dropped; ++writes) {
    auto b = Upsert("a", writes % 2 ? api::Phase::kRunning : api::Phase::kPending);
    b.upserts[0].spec_json =
        R"({"region":"SR006","image":")" + pad + std::to_string(writes) + "\"}";
    auto t0 = std::chrono::steady_clock::now();
    if (!observed_.Write(b).ok()) {
      ADD_FAILURE() << "store write " << writes << " failed";
      break;
    }
    slowest = std::max<Duration>(slowest, std::chrono::steady_clock::now() - t0);
    if (writes % 8 == 7) {
      Watcher probe(server_->port(), from);
      dropped = probe.response.getStatus() == 200;
      if (!dropped) {
        EXPECT_EQ(probe.response.getStatus(), 429);
      }
      std::this_thread::sleep_for(100ms);
    }
  }
  EXPECT_TRUE(dropped) << "after " << writes << " changes of 128 KiB";
  // Commits never waited for the stuck socket (each stalled write to it
  // takes the 1 s send timeout to give up).
  EXPECT_LT(slowest, 1s);
  // The reading watcher saw every change.
  for (int i = 0; i < 200 && seen.load() < writes; ++i) std::this_thread::sleep_for(100ms);
  EXPECT_EQ(seen.load(), writes);
  server_->Stop();
  read.join();
}

}  // namespace
}  // namespace mlspace::apiserver
