// The listener's security: true reason phrases, https with certificate
// reload, bearer tokens over TLS, refusing unsafe binds, and streaming.

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/StreamCopier.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>
#include <vector>

#include "controller/apiserver/server.h"
#include "controller/core/log.h"
#include "controller/core/redact.h"
#include "tests/apiserver/test_tls.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_state_store.h"

namespace mlspace::apiserver {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string RawHttp(int port, const std::string& request) {
  Poco::Net::StreamSocket s(Poco::Net::SocketAddress("127.0.0.1", static_cast<uint16_t>(port)));
  s.sendBytes(request.data(), static_cast<int>(request.size()));
  std::string out;
  char buf[4096];
  int n;
  while ((n = s.receiveBytes(buf, sizeof(buf))) > 0) out.append(buf, n);
  return out;
}

class SecureServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/secure_server_test_" + std::to_string(::getpid());
    std::filesystem::create_directories(dir_);
    cert_ = dir_ + "/tls.crt";
    key_ = dir_ + "/tls.key";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Writes a new pair the way a Secret mount rotates it: new files renamed
  // over the old ones.
  void Rotate(const std::string& cn) {
    ASSERT_TRUE(testing::WriteSelfSigned(cn, cert_ + ".new", key_ + ".new"));
    std::filesystem::rename(key_ + ".new", key_);
    std::filesystem::rename(cert_ + ".new", cert_);
  }

  std::string dir_, cert_, key_;
  mlspace::testing::FakeClock clock_;
  mlspace::testing::FakeStateStore store_;
};

TEST_F(SecureServerTest, AnswersCarryTheirTrueReasonPhrase) {
  ApiHandler handler(store_, clock_, ControllerHooks{}, HandlerOptions{"t0ken-abc", "v"});
  auto server = ApiServer::Start(handler, ServerOptions{HostPort{"127.0.0.1", 0}, 2, "x", {}});
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  int port = (*server)->port();
  EXPECT_THAT(RawHttp(port, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
              StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(RawHttp(port, "GET /apis HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
              StartsWith("HTTP/1.1 401 Unauthorized\r\n"));
  const std::string auth = "Authorization: Bearer t0ken-abc\r\n";
  EXPECT_THAT(
      RawHttp(port, "GET /nope HTTP/1.1\r\nHost: x\r\n" + auth + "Connection: close\r\n\r\n"),
      StartsWith("HTTP/1.1 404 Not Found\r\n"));
  EXPECT_THAT(RawHttp(port, "PUT /version HTTP/1.1\r\nHost: x\r\n" + auth +
                                "Content-Length: 0\r\nConnection: close\r\n\r\n"),
              StartsWith("HTTP/1.1 405 Method Not Allowed\r\n"));
  EXPECT_THAT(RawHttp(port,
                      "GET /apis/mlspace.io/v1alpha1/mlspacejobs?labelSelector=a%20in%20(b) "
                      "HTTP/1.1\r\nHost: x\r\n" +
                          auth + "Connection: close\r\n\r\n"),
              StartsWith("HTTP/1.1 400 Bad Request\r\n"));
}

// Each request is logged with the caller's user name from the token file
// (debug level); a refused one is a WARN line. Tokens never reach a line.
TEST_F(SecureServerTest, TheCallersUserNameIsLoggedNeverTheToken) {
  std::ofstream(dir_ + "/tokens.csv") << "s3cret-token-1,alice,uid-1,\"ops,ml\"\n";
  auto tokens = TokenAuthenticator::Load(dir_ + "/tokens.csv");
  ASSERT_TRUE(tokens.ok()) << tokens.status().ToString();
  HandlerOptions ho;
  ho.tokens = std::make_shared<const TokenAuthenticator>(std::move(tokens).value());
  ApiHandler handler(store_, clock_, ControllerHooks{}, ho);
  auto server = ApiServer::Start(handler, ServerOptions{HostPort{"127.0.0.1", 0}, 2, "tokens", {}});
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  std::mutex mu;
  std::vector<std::string> lines;
  Logger::Get().SetLevel(LogLevel::kDebug);
  Logger::Get().SetSink([&](std::string_view line) {
    std::lock_guard lock(mu);
    lines.emplace_back(line);
  });
  const std::string get =
      "GET /apis/mlspace.io/v1alpha1/mlspacejobs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n";
  EXPECT_THAT(RawHttp((*server)->port(), get + "Authorization: Bearer s3cret-token-1\r\n\r\n"),
              StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(RawHttp((*server)->port(), get + "Authorization: Bearer s3cret-token-2\r\n\r\n"),
              StartsWith("HTTP/1.1 401 Unauthorized\r\n"));
  (*server)->Stop();
  Logger::Get().ResetSink();
  Logger::Get().SetLevel(LogLevel::kInfo);
  int served = 0, refused = 0;
  for (const auto& l : lines) {
    EXPECT_THAT(l, ::testing::Not(HasSubstr("s3cret-token"))) << l;
    if (l.find("DEBUG API request ") != std::string::npos &&
        l.find("path=/apis/mlspace.io/v1alpha1/mlspacejobs") != std::string::npos) {
      ++served;
      EXPECT_THAT(l, HasSubstr("code=200"));
      EXPECT_THAT(l, HasSubstr("user=alice"));
    }
    if (l.find("WARN API request refused: no valid bearer token") != std::string::npos) {
      ++refused;
      EXPECT_THAT(l, HasSubstr("client=127.0.0.1"));
    }
  }
  EXPECT_EQ(served, 1);
  EXPECT_EQ(refused, 1);
  SecretRegistry::Get().ClearForTesting();
}

TEST_F(SecureServerTest, NonLoopbackBindNeedsTlsAndAToken) {
  ApiHandler handler(store_, clock_, ControllerHooks{}, HandlerOptions{});
  ASSERT_TRUE(testing::WriteSelfSigned("api", cert_, key_));
  for (const auto& opts : {ServerOptions{HostPort{"0.0.0.0", 0}, 2, "", {}},
                           ServerOptions{HostPort{"0.0.0.0", 0}, 2, "token-file", {}},
                           ServerOptions{HostPort{"", 0}, 2, "", TlsFiles{cert_, key_}}}) {
    auto server = ApiServer::Start(handler, opts);
    ASSERT_FALSE(server.ok());
    EXPECT_THAT(server.status().message(),
                HasSubstr("a non-loopback API needs --api-token-file and --api-tls-cert-file"));
    EXPECT_EQ(server.status().message().find('\n'), std::string::npos);
  }
}

TEST_F(SecureServerTest, BadTlsFilesFailTheStartNamingTheFlag) {
  ApiHandler handler(store_, clock_, ControllerHooks{}, HandlerOptions{});
  ASSERT_TRUE(testing::WriteSelfSigned("api", cert_, key_));
  auto no_key = ApiServer::Start(
      handler, ServerOptions{HostPort{"127.0.0.1", 0}, 2, "", TlsFiles{cert_, dir_ + "/none"}});
  ASSERT_FALSE(no_key.ok());
  EXPECT_THAT(no_key.status().message(), HasSubstr("--api-tls-private-key-file"));
  auto only_cert = ApiServer::Start(
      handler, ServerOptions{HostPort{"127.0.0.1", 0}, 2, "", TlsFiles{cert_, ""}});
  ASSERT_FALSE(only_cert.ok());
  EXPECT_THAT(only_cert.status().message(), HasSubstr("must be given together"));
  // A key that belongs to another certificate.
  ASSERT_TRUE(testing::WriteSelfSigned("other", dir_ + "/o.crt", dir_ + "/o.key"));
  auto mismatch = ApiServer::Start(
      handler, ServerOptions{HostPort{"127.0.0.1", 0}, 2, "", TlsFiles{cert_, dir_ + "/o.key"}});
  ASSERT_FALSE(mismatch.ok());
  EXPECT_THAT(mismatch.status().message(), HasSubstr("does not match the certificate"));
  std::ofstream(dir_ + "/junk.crt") << "not a certificate\n";
  auto junk = ApiServer::Start(
      handler, ServerOptions{HostPort{"127.0.0.1", 0}, 2, "", TlsFiles{dir_ + "/junk.crt", key_}});
  ASSERT_FALSE(junk.ok());
  EXPECT_THAT(junk.status().message(), HasSubstr("--api-tls-cert-file"));
}

TEST_F(SecureServerTest, ServesHttpsWithTokensAndReloadsARotatedCertificate) {
  auto tokens = TokenAuthenticator::Parse("tls-token-1,alice,uid-1\n", "t");
  ASSERT_TRUE(tokens.ok());
  HandlerOptions ho;
  ho.tokens = std::make_shared<const TokenAuthenticator>(std::move(tokens).value());
  ApiHandler handler(store_, clock_, ControllerHooks{}, ho);
  Rotate("first");
  auto server = ApiServer::Start(
      handler, ServerOptions{HostPort{"127.0.0.1", 0}, 2, "token-file", TlsFiles{cert_, key_}});
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  int port = (*server)->port();
  const std::string list =
      "GET /apis/mlspace.io/v1alpha1/mlspacejobs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n";

  auto without = testing::TlsRoundTrip(port, list + "\r\n");
  ASSERT_TRUE(without.handshake_ok);
  EXPECT_EQ(without.peer_cn, "first");
  EXPECT_THAT(without.response, StartsWith("HTTP/1.1 401 Unauthorized\r\n"));
  auto with = testing::TlsRoundTrip(port, list + "Authorization: Bearer tls-token-1\r\n\r\n");
  EXPECT_THAT(with.response, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(with.response, HasSubstr("MLSpaceJobList"));

  // Plain http on the https port gets no answer.
  std::string plain;
  try {
    plain = RawHttp(port, list + "\r\n");
  } catch (const Poco::Exception&) {
  }
  EXPECT_THAT(plain, ::testing::Not(HasSubstr("MLSpaceJobList")));

  Rotate("second");
  auto rotated = testing::TlsRoundTrip(port, list + "Authorization: Bearer tls-token-1\r\n\r\n");
  EXPECT_EQ(rotated.peer_cn, "second");
  EXPECT_THAT(rotated.response, StartsWith("HTTP/1.1 200 OK\r\n"));

  // A half-written rotation does not break serving: the last good pair stays.
  std::ofstream(cert_, std::ios::trunc) << "-----BEGIN CERTIFICATE-----\ntruncated";
  auto broken = testing::TlsRoundTrip(port, list + "Authorization: Bearer tls-token-1\r\n\r\n");
  EXPECT_EQ(broken.peer_cn, "second");
  Rotate("third");
  EXPECT_EQ(testing::TlsRoundTrip(port, list + "\r\n").peer_cn, "third");
  (*server)->Stop();
}

TEST_F(SecureServerTest, StreamsChunkedAndStopEndsAFollow) {
  store::ObjectRecord r;
  r.key = ObjectKey{"default", "a"};
  r.region = "SR006";
  r.status.phase = api::Phase::kRunning;
  r.status.attempt = 1;
  r.status.remote_job_name = "lj-1";
  store::WriteBatch b;
  b.upserts = {r};
  ASSERT_TRUE(store_.Write(b).ok());
  std::atomic<int> reads{0};
  HandlerOptions ho;
  ho.logs.follow_poll = std::chrono::milliseconds(5);
  ControllerHooks hooks;
  hooks.job_logs = [&](const std::string&, const std::string&, int) {
    ++reads;
    return gateway::Outcome<std::string>(std::string("hello\n"));
  };
  ApiHandler handler(store_, clock_, hooks, ho);
  auto server = ApiServer::Start(handler, ServerOptions{HostPort{"127.0.0.1", 0}, 2, "", {}});
  ASSERT_TRUE(server.ok());
  Poco::Net::HTTPClientSession session("127.0.0.1", (*server)->port());
  Poco::Net::HTTPRequest req(Poco::Net::HTTPRequest::HTTP_GET,
                             "/apis/mlspace.io/v1alpha1/namespaces/default/mlspacejobs/a/"
                             "log?follow=true",
                             Poco::Net::HTTPMessage::HTTP_1_1);
  session.sendRequest(req);
  Poco::Net::HTTPResponse resp;
  std::istream& in = session.receiveResponse(resp);
  EXPECT_EQ(resp.getStatus(), 200);
  EXPECT_TRUE(resp.getChunkedTransferEncoding());
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "hello");
  // The job is still running: the follow goes on until the server stops.
  while (reads < 3) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::thread stopper([&] { (*server)->Stop(); });
  std::string rest;
  Poco::StreamCopier::copyToString(in, rest);
  stopper.join();
  EXPECT_EQ(rest, "") << "nothing new was written";
}

}  // namespace
}  // namespace mlspace::apiserver

namespace mlspace::apiserver {
namespace {

// TLS heads are encrypted, so a worker reads them; the whole-head deadline
// still holds there: a client dripping a ClientHello byte by byte, each
// byte well within the read timeout, is cut off at the deadline.
TEST_F(SecureServerTest, ADrippedHandshakeIsCutOffAtTheHeadDeadline) {
  ASSERT_TRUE(testing::WriteSelfSigned("127.0.0.1", cert_, key_));
  ApiHandler handler(store_, clock_, ControllerHooks{}, HandlerOptions{});
  ServerOptions options{HostPort{"127.0.0.1", 0}, 2, "", TlsFiles{cert_, key_}};
  options.limits.head_timeout = std::chrono::milliseconds(500);
  auto server = ApiServer::Start(handler, options);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  Poco::Net::StreamSocket s(
      Poco::Net::SocketAddress("127.0.0.1", static_cast<uint16_t>((*server)->port())));
  // A handshake record announcing 512 bytes, then one byte per 100 ms.
  const char record[] = {0x16, 0x03, 0x01, 0x02, 0x00};
  s.sendBytes(record, sizeof(record));
  const auto t0 = std::chrono::steady_clock::now();
  bool closed = false;
  while (std::chrono::steady_clock::now() - t0 < std::chrono::seconds(4)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const char zero = 0;
    try {
      s.sendBytes(&zero, 1);
      if (s.poll(Poco::Timespan(0), Poco::Net::Socket::SELECT_READ)) {
        char buf[64];
        if (s.receiveBytes(buf, sizeof(buf)) <= 0) {
          closed = true;
          break;
        }
      }
    } catch (const Poco::Exception&) {
      closed = true;  // reset by the server
      break;
    }
  }
  EXPECT_TRUE(closed);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
}

}  // namespace
}  // namespace mlspace::apiserver
