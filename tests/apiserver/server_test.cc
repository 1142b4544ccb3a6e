#include "controller/apiserver/server.h"

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_state_store.h"

namespace mlspace::apiserver {
namespace {

TEST(ApiServerTest, ServesOverLoopbackOnAnyPort) {
  testing::FakeClock clock;
  testing::FakeStateStore store;
  ApiHandler handler(store, clock, ControllerHooks{}, HandlerOptions{});
  auto server = ApiServer::Start(handler, ServerOptions{HostPort{"127.0.0.1", 0}, 2, ""});
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  ASSERT_NE((*server)->port(), 0);

  Poco::Net::HTTPClientSession session("127.0.0.1", (*server)->port());
  for (int i = 0; i < 2; ++i) {  // the second request reuses the connection
    Poco::Net::HTTPRequest req(Poco::Net::HTTPRequest::HTTP_GET,
                               "/apis/mlspace.io/v1alpha1/namespaces/default/mlspacejobs",
                               Poco::Net::HTTPMessage::HTTP_1_1);
    session.sendRequest(req);
    Poco::Net::HTTPResponse resp;
    std::string body;
    Poco::StreamCopier::copyToString(session.receiveResponse(resp), body);
    EXPECT_EQ(resp.getStatus(), 200);
    EXPECT_EQ(nlohmann::json::parse(body)["kind"], "MLSpaceJobList");
  }
  (*server)->Stop();
}

TEST(ApiServerTest, RefusesNonLoopbackWithoutToken) {
  testing::FakeClock clock;
  testing::FakeStateStore store;
  ApiHandler handler(store, clock, ControllerHooks{}, HandlerOptions{});
  auto server = ApiServer::Start(handler, ServerOptions{HostPort{"", 0}, 2, ""});
  ASSERT_FALSE(server.ok());
  EXPECT_NE(server.status().message().find("needs --api-token-file"), std::string::npos);
}

TEST(ApiServerTest, AddressInUseIsAClearError) {
  testing::FakeClock clock;
  testing::FakeStateStore store;
  ApiHandler handler(store, clock, ControllerHooks{}, HandlerOptions{});
  auto first = ApiServer::Start(handler, ServerOptions{HostPort{"127.0.0.1", 0}, 2, ""});
  ASSERT_TRUE(first.ok());
  auto second =
      ApiServer::Start(handler, ServerOptions{HostPort{"127.0.0.1", (*first)->port()}, 2, ""});
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("--api-bind-address"), std::string::npos);
}

}  // namespace
}  // namespace mlspace::apiserver
