// Issue 11, slow and hostile peers: PocoHttpTransport and GatewayClient
// against tiny loopback servers inside the test that drip their answer a
// byte at a time or send far more than any legitimate answer. Bounded time:
// every case ends within a few seconds or the test fails.

#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/StreamSocket.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include "controller/gateway/http/gateway_client.h"
#include "controller/gateway/http/poco_http_transport.h"

namespace mlspace::gateway::http {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using SteadyClock = std::chrono::steady_clock;

// One-connection-at-a-time raw HTTP server: reads a request head, then runs
// `answer` on the socket. `answer` writes whatever it wants, as slowly as it
// wants, and returns when the peer is gone or it is done.
class RawServer {
 public:
  using Answer = std::function<void(Poco::Net::StreamSocket&, const std::atomic<bool>& stop)>;

  explicit RawServer(Answer answer)
      : socket_(Poco::Net::SocketAddress("127.0.0.1", 0)), answer_(std::move(answer)) {
    thread_ = std::thread([this] { Run(); });
  }
  ~RawServer() {
    stop_ = true;
    thread_.join();
  }
  std::string Url() const { return "http://127.0.0.1:" + std::to_string(socket_.address().port()); }
  int connections() const { return connections_.load(); }

 private:
  void Run() {
    while (!stop_) {
      if (!socket_.poll(Poco::Timespan(50'000), Poco::Net::Socket::SELECT_READ)) continue;
      Poco::Net::StreamSocket s;
      try {
        s = socket_.acceptConnection();
      } catch (...) {
        continue;
      }
      ++connections_;
      s.setReceiveTimeout(Poco::Timespan(2, 0));
      std::string head;
      char c;
      try {
        while (head.find("\r\n\r\n") == std::string::npos && s.receiveBytes(&c, 1) == 1) head += c;
        answer_(s, stop_);
      } catch (...) {
        // the client went away: what these tests want
      }
    }
  }

  Poco::Net::ServerSocket socket_;
  Answer answer_;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::thread thread_;
};

// Writes `text` one byte per `every` until done or stopped; false when the
// peer closed.
bool Drip(Poco::Net::StreamSocket& s, const std::string& text, milliseconds every,
          const std::atomic<bool>& stop) {
  for (char c : text) {
    if (stop) return false;
    if (s.sendBytes(&c, 1) != 1) return false;
    std::this_thread::sleep_for(every);
  }
  return true;
}

void DripForever(Poco::Net::StreamSocket& s, const std::string& prefix,
                 const std::atomic<bool>& stop) {
  if (!Drip(s, prefix, milliseconds(20), stop)) return;
  while (Drip(s, "x", milliseconds(100), stop)) {
  }
}

PocoTransportOptions Options(const std::string& url, milliseconds total) {
  PocoTransportOptions o;
  o.base_url = url;
  o.connect_timeout = seconds(2);
  o.request_timeout = seconds(30);  // per recv: never reached by a drip
  o.total_timeout = total;
  return o;
}

double SecondsSince(SteadyClock::time_point t) {
  return std::chrono::duration<double>(SteadyClock::now() - t).count();
}

TEST(SlowPeerTest, DrippedBodyEndsAtTheOverallDeadline) {
  RawServer server([](Poco::Net::StreamSocket& s, const std::atomic<bool>& stop) {
    DripForever(s, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n{", stop);
  });
  auto t = std::move(PocoHttpTransport::Create(Options(server.Url(), milliseconds(1500)))).value();
  auto start = SteadyClock::now();
  auto ex = t->Send({"GET", "/public/v2/jobs?region=A", {}, ""});
  double took = SecondsSince(start);
  EXPECT_EQ(ex.kind, ExchangeKind::kNoAnswer) << ex.error;
  EXPECT_NE(ex.error.find("deadline"), std::string::npos) << ex.error;
  EXPECT_GE(took, 1.4);
  EXPECT_LT(took, 4.0) << "a dripping peer held the call past its deadline";
}

TEST(SlowPeerTest, DrippedHeadersEndAtTheOverallDeadline) {
  RawServer server([](Poco::Net::StreamSocket& s, const std::atomic<bool>& stop) {
    // Never finishes the status line's header block.
    if (!Drip(s, "HTTP/1.1 200 OK\r\n", milliseconds(20), stop)) return;
    while (Drip(s, "X-Slow: y\r\n", milliseconds(100), stop)) {
    }
  });
  auto t = std::move(PocoHttpTransport::Create(Options(server.Url(), milliseconds(1000)))).value();
  auto start = SteadyClock::now();
  auto ex = t->Send({"POST", "/public/v2/jobs", {}, "{}"});
  double took = SecondsSince(start);
  EXPECT_EQ(ex.kind, ExchangeKind::kNoAnswer) << ex.error;
  EXPECT_LT(took, 3.5);
}

TEST(SlowPeerTest, DrippedSubmitAnswerIsAmbiguousWithinTheDeadline) {
  RawServer server([](Poco::Net::StreamSocket& s, const std::atomic<bool>& stop) {
    DripForever(s, "HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{\"job_name\":", stop);
  });
  ClientOptions o;
  o.base_url = server.Url();
  o.credentials.workspace_id = "ws";
  o.credentials.api_key = "k";
  o.total_timeout = milliseconds(1000);
  o.request_timeout = seconds(30);
  auto c = std::move(MakeGatewayClient(o)).value();
  SubmitRequest r;
  r.script = "/home/jovyan/train.py";
  r.base_image = "img:1";
  r.instance_type = "a100.1gpu";
  r.region = "SR003";
  auto start = SteadyClock::now();
  auto out = c->Submit(r);
  double took = SecondsSince(start);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().kind, ErrorKind::kAmbiguous) << out.error().message;
  EXPECT_EQ(server.connections(), 1);  // never re-sent
  EXPECT_LT(took, 3.5);
}

// Peak resident set of this process, in bytes (the kernel's VmHWM).
long PeakRssBytes() {
  std::ifstream f("/proc/self/status");
  for (std::string line; std::getline(f, line);) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6)) * 1024;
  }
  return -1;
}

// Resets VmHWM to the current RSS (Linux >= 4.0), so a later reading shows
// the peak of what runs in between.
void ResetPeakRss() { std::ofstream("/proc/self/clear_refs") << "5"; }

constexpr long kHugeAnswer = 100L << 20;  // 100 MiB

void SendHuge(Poco::Net::StreamSocket& s, const std::atomic<bool>& stop, bool with_length) {
  std::string head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n";
  head += with_length ? "Content-Length: " + std::to_string(kHugeAnswer) + "\r\n\r\n"
                      : "Transfer-Encoding: chunked\r\n\r\n";
  s.sendBytes(head.data(), static_cast<int>(head.size()));
  std::string block(64 * 1024, ' ');
  block.front() = '[';
  std::string chunk_head = "10000\r\n";  // 64 KiB chunks
  for (long sent = 0; sent < kHugeAnswer && !stop; sent += static_cast<long>(block.size())) {
    if (!with_length) s.sendBytes(chunk_head.data(), static_cast<int>(chunk_head.size()));
    s.sendBytes(block.data(), static_cast<int>(block.size()));
    if (!with_length) s.sendBytes("\r\n", 2);
  }
  if (!with_length) s.sendBytes("0\r\n\r\n", 5);
}

TEST(HugeAnswerTest, OversizedAnswerIsAbandonedWithBoundedMemory) {
  for (bool with_length : {false, true}) {
    RawServer server([with_length](Poco::Net::StreamSocket& s, const std::atomic<bool>& stop) {
      SendHuge(s, stop, with_length);
    });
    auto t = std::move(PocoHttpTransport::Create(Options(server.Url(), seconds(20)))).value();
    ResetPeakRss();
    const long before = PeakRssBytes();
    ASSERT_GT(before, 0);
    HttpRequest req{"GET", "/public/v2/jobs?region=A", {}, ""};
    req.max_answer_bytes = 4 << 20;
    auto ex = t->Send(req);
    const long grew = PeakRssBytes() - before;
    EXPECT_EQ(ex.kind, ExchangeKind::kNoAnswer) << ex.error;
    EXPECT_TRUE(ex.too_large) << ex.error;
    EXPECT_NE(ex.error.find("limit"), std::string::npos) << ex.error;
    // The 100 MiB answer was never held: well under a quarter of it.
    EXPECT_LT(grew, 24L << 20) << "peak RSS grew by " << grew << " bytes (chunked=" << !with_length
                               << ")";
  }
}

// The GatewayClient's own caps: a list page may be up to 64 MiB, so a
// 100 MiB list answer fails the list (not retried) and never costs the
// 2.5x the body the unbounded reader did.
TEST(HugeAnswerTest, ClientListOf100MiBFailsWithBoundedMemory) {
  RawServer server(
      [](Poco::Net::StreamSocket& s, const std::atomic<bool>& stop) { SendHuge(s, stop, false); });
  ClientOptions o;
  o.base_url = server.Url();
  o.credentials.workspace_id = "ws";
  o.credentials.api_key = "k";
  o.total_timeout = seconds(30);
  auto c = std::move(MakeGatewayClient(o)).value();
  ResetPeakRss();
  const long before = PeakRssBytes();
  auto out = c->List({"SR003", {}, 6000});
  const long grew = PeakRssBytes() - before;
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().kind, ErrorKind::kInternal) << out.error().message;
  EXPECT_NE(out.error().message.find("too large"), std::string::npos) << out.error().message;
  EXPECT_EQ(server.connections(), 1);  // not retried
  // At most the 64 MiB cap plus the string's growth slack; the unbounded
  // reader needed >= 100 MiB for the body alone.
  EXPECT_LT(grew, 100L << 20) << "peak RSS grew by " << grew << " bytes";
}

}  // namespace
}  // namespace mlspace::gateway::http
