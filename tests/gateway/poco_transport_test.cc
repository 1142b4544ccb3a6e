// PocoHttpTransport against a real Poco HTTPServer on 127.0.0.1.

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/StreamCopier.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <thread>

#include "controller/gateway/http/gateway_client.h"
#include "controller/gateway/http/poco_http_transport.h"

namespace mlspace::gateway::http {
namespace {

using std::chrono::milliseconds;

class Handler final : public Poco::Net::HTTPRequestHandler {
 public:
  void handleRequest(Poco::Net::HTTPServerRequest& req,
                     Poco::Net::HTTPServerResponse& resp) override {
    std::string body;
    Poco::StreamCopier::copyToString(req.stream(), body);
    if (req.getURI().find("/slow") != std::string::npos) {
      std::this_thread::sleep_for(milliseconds(600));
    }
    resp.setStatus(Poco::Net::HTTPResponse::HTTP_OK);
    resp.setContentType("application/json");
    std::string out = R"({"method":")" + req.getMethod() + R"(","uri":")" + req.getURI() +
                      R"(","ws":")" + req.get("x-workspace-id", "") + R"(","len":)" +
                      std::to_string(body.size()) + "}";
    resp.setContentLength(static_cast<std::streamsize>(out.size()));
    resp.send() << out;
  }
};

class Factory final : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  Poco::Net::HTTPRequestHandler* createRequestHandler(
      const Poco::Net::HTTPServerRequest&) override {
    return new Handler;
  }
};

class PocoTransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    socket_ = Poco::Net::ServerSocket(Poco::Net::SocketAddress("127.0.0.1", 0));
    port_ = socket_.address().port();
    auto* params = new Poco::Net::HTTPServerParams;
    params->setKeepAlive(true);
    params->setMaxThreads(4);
    server_ = std::make_unique<Poco::Net::HTTPServer>(new Factory, socket_, params);
    server_->start();
  }
  void TearDown() override { server_->stopAll(true); }

  std::string Url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  Poco::Net::ServerSocket socket_;
  int port_ = 0;
  std::unique_ptr<Poco::Net::HTTPServer> server_;
};

TEST_F(PocoTransportTest, KeepAliveReusesOneConnection) {
  PocoTransportOptions o;
  o.base_url = Url();
  auto t = PocoHttpTransport::Create(o);
  ASSERT_TRUE(t.ok()) << t.status().message();
  for (int i = 0; i < 20; ++i) {
    HttpRequest req{
        "POST", "/public/v2/jobs?i=" + std::to_string(i), {{"x-workspace-id", "w"}}, "{\"a\":1}"};
    auto ex = (*t)->Send(req);
    ASSERT_EQ(ex.kind, ExchangeKind::kResponse) << ex.error;
    EXPECT_EQ(ex.response.status, 200);
    EXPECT_EQ(ex.response.body, R"({"method":"POST","uri":"/public/v2/jobs?i=)" +
                                    std::to_string(i) + R"(","ws":"w","len":7})");
    EXPECT_EQ(FindHeader(ex.response.headers, "content-type"), "application/json");
  }
  EXPECT_EQ((*t)->connections_opened(), 1);
  EXPECT_EQ(server_->totalConnections(), 1);
}

TEST_F(PocoTransportTest, ConcurrentCallsUseSeparateConnections) {
  PocoTransportOptions o;
  o.base_url = Url();
  auto t = std::move(PocoHttpTransport::Create(o)).value();
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < 10; ++j) {
        auto ex = t->Send({"GET", "/x", {}, ""});
        if (ex.kind == ExchangeKind::kResponse && ex.response.status == 200) ++ok;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 40);
  EXPECT_LE(t->connections_opened(), 4);
  EXPECT_GE(t->connections_opened(), 1);
}

TEST_F(PocoTransportTest, TimeoutAfterSendingIsNoAnswer) {
  PocoTransportOptions o;
  o.base_url = Url();
  o.request_timeout = milliseconds(150);
  auto t = std::move(PocoHttpTransport::Create(o)).value();
  auto ex = t->Send({"POST", "/slow", {}, "{}"});
  EXPECT_EQ(ex.kind, ExchangeKind::kNoAnswer) << ex.error;
  EXPECT_FALSE(ex.error.empty());
  // The transport recovers with a fresh connection.
  auto again = t->Send({"GET", "/fast", {}, ""});
  EXPECT_EQ(again.kind, ExchangeKind::kResponse) << again.error;
}

TEST(PocoTransportRefusedTest, ConnectionRefusedIsNotSent) {
  int port;
  {
    Poco::Net::ServerSocket s(Poco::Net::SocketAddress("127.0.0.1", 0));
    port = s.address().port();
  }  // closed: nothing listens there now
  PocoTransportOptions o;
  o.base_url = "http://127.0.0.1:" + std::to_string(port);
  o.connect_timeout = milliseconds(500);
  auto t = std::move(PocoHttpTransport::Create(o)).value();
  auto ex = t->Send({"POST", "/public/v2/jobs", {}, "{}"});
  EXPECT_EQ(ex.kind, ExchangeKind::kNotSent) << ex.error;
  EXPECT_NE(ex.error.find("127.0.0.1"), std::string::npos) << ex.error;
}

// slurmrestd's unix:/path URLs: the same exchanges over an AF_UNIX socket
// (a Poco HTTPServer listening on one), connections reused; a missing
// socket is "not sent".
TEST(PocoTransportUnixTest, ExchangesOverAUnixSocket) {
  const std::string path = "/tmp/mlspace-transport-test-" + std::to_string(::getpid()) + ".sock";
  ::unlink(path.c_str());
  Poco::Net::ServerSocket socket(
      Poco::Net::SocketAddress(Poco::Net::SocketAddress::UNIX_LOCAL, path));
  auto* params = new Poco::Net::HTTPServerParams;
  params->setKeepAlive(true);
  Poco::Net::HTTPServer server(new Factory, socket, params);
  server.start();
  PocoTransportOptions o;
  o.base_url = "http://localhost";
  o.unix_socket = path;
  auto t = PocoHttpTransport::Create(o);
  ASSERT_TRUE(t.ok()) << t.status().message();
  for (int i = 0; i < 3; ++i) {
    auto ex = (*t)->Send(HttpRequest{"DELETE", "/slurm/v0.0.38/job/" + std::to_string(i), {}, ""});
    ASSERT_EQ(ex.kind, ExchangeKind::kResponse) << ex.error;
    EXPECT_EQ(ex.response.body, R"({"method":"DELETE","uri":"/slurm/v0.0.38/job/)" +
                                    std::to_string(i) + R"(","ws":"","len":0})");
  }
  EXPECT_EQ((*t)->connections_opened(), 1);
  server.stopAll(true);
  ::unlink(path.c_str());

  o.unix_socket = path + ".absent";
  auto absent = PocoHttpTransport::Create(o);
  ASSERT_TRUE(absent.ok());
  auto ex = (*absent)->Send(HttpRequest{"GET", "/slurm/v0.0.38/jobs", {}, ""});
  EXPECT_EQ(ex.kind, ExchangeKind::kNotSent);
  EXPECT_NE(ex.error.find("unix:" + path + ".absent"), std::string::npos) << ex.error;

  o.base_url = "https://localhost";
  EXPECT_FALSE(PocoHttpTransport::Create(o).ok());  // TLS over a unix socket: refused
}

TEST_F(PocoTransportTest, ClientEndToEndOverLoopback) {
  ClientOptions o;
  o.base_url = Url();
  o.credentials.workspace_id = "ws-1";
  o.credentials.api_key = "key-1234";
  auto c = MakeGatewayClient(o);
  ASSERT_TRUE(c.ok()) << c.status().message();
  // The echo server answers every call with 200 and no job_name field, so a
  // Get fails as an unparseable status answer: proof the full path ran.
  auto out = (*c)->Get("abc");
  ASSERT_TRUE(out.Is(ErrorKind::kInternal));
  EXPECT_EQ(out.error().message, "get abc: status answer: field status missing or not a string");
}

TEST(TransportConfigTest, LoopbackAndUrls) {
  EXPECT_TRUE(IsLoopbackHost("127.0.0.1"));
  EXPECT_TRUE(IsLoopbackHost("127.8.9.10"));
  EXPECT_TRUE(IsLoopbackHost("localhost"));
  EXPECT_TRUE(IsLoopbackHost("::1"));
  EXPECT_FALSE(IsLoopbackHost("128.0.0.1"));
  EXPECT_FALSE(IsLoopbackHost("api.ai.cloud.ru"));
  auto u = ParseBaseUrl("https://api.ai.cloud.ru/base/");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->path_prefix, "/base");
  EXPECT_FALSE(ParseBaseUrl("https://user:pw@host").ok());
  PocoTransportOptions o;
  o.base_url = "http://10.0.0.1:80";
  EXPECT_FALSE(PocoHttpTransport::Create(o).ok());
  o.allow_insecure = true;
  EXPECT_TRUE(PocoHttpTransport::Create(o).ok());
  o.base_url = "https://127.0.0.1:1";
  EXPECT_TRUE(PocoHttpTransport::Create(o).ok());
}

TEST(TransportConfigTest, ProxyFromEnvironmentHonoursNoProxy) {
  std::map<std::string, std::string> env = {{"HTTPS_PROXY", "http://u:p%40ss@proxy.corp:3128"},
                                            {"no_proxy", "internal.corp, .svc ,10.1.2.3:443"}};
  EnvLookup lookup = [&](const std::string& k) -> std::optional<std::string> {
    auto it = env.find(k);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
  auto target = [](const std::string& url) { return ParseBaseUrl(url).value(); };
  auto p = ProxyFromEnvironment(target("https://api.ai.cloud.ru"), lookup);
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(p->has_value());
  EXPECT_EQ((*p)->host, "proxy.corp");
  EXPECT_EQ((*p)->port, 3128);
  EXPECT_EQ((*p)->username, "u");
  EXPECT_EQ((*p)->password, "p@ss");
  for (const char* bypass : {"https://internal.corp", "https://a.internal.corp", "https://x.svc",
                             "https://10.1.2.3", "https://127.0.0.1:9"}) {
    auto q = ProxyFromEnvironment(target(bypass), lookup);
    ASSERT_TRUE(q.ok());
    EXPECT_FALSE(q->has_value()) << bypass;
  }
  auto notinternal = ProxyFromEnvironment(target("https://notinternal.corp"), lookup);
  ASSERT_TRUE(notinternal.ok());
  EXPECT_TRUE(notinternal->has_value());
  // HTTPS_PROXY does not apply to http targets.
  auto plain = ProxyFromEnvironment(target("http://example.com"), lookup);
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(plain->has_value());
  env["NO_PROXY"] = "*";
  env.erase("no_proxy");
  auto star = ProxyFromEnvironment(target("https://api.ai.cloud.ru"), lookup);
  ASSERT_TRUE(star.ok());
  EXPECT_FALSE(star->has_value());
}

}  // namespace
}  // namespace mlspace::gateway::http
