// Fuzzes the Kubernetes-compatible API's request handling: arbitrary
// method, path, query values, Accept header and body go through
// ApiHandler::Handle over a store holding a few objects. Every answer must
// be a valid HTTP status with a body that parses as JSON when it claims to.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "controller/apiserver/handler.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_state_store.h"

namespace {

using mlspace::apiserver::ApiHandler;
using mlspace::apiserver::ApiRequest;

void Check(bool condition) {
  if (!condition) std::abort();
}

// Splits the input at '\n' into method, path, labelSelector, fieldSelector,
// accept, body (the rest).
std::string_view NextField(std::string_view& in) {
  size_t nl = in.find('\n');
  std::string_view field = in.substr(0, nl);
  in = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
  return field;
}

struct World {
  mlspace::testing::FakeClock clock;
  mlspace::testing::FakeStateStore store;
  ApiHandler handler{store, clock, mlspace::apiserver::ControllerHooks{},
                     mlspace::apiserver::HandlerOptions{}};
  World() {
    mlspace::store::WriteBatch b;
    for (const char* name : {"a", "b"}) {
      mlspace::store::ObjectRecord r;
      r.key = mlspace::ObjectKey{"ns", name};
      r.spec_json = R"({"region":"SR006"})";
      r.labels = {{"team", name}};
      b.upserts.push_back(r);
    }
    mlspace::store::Event e;
    e.key = mlspace::ObjectKey{"ns", "a"};
    e.reason = "Submitted";
    b.events.push_back(e);
    Check(store.Write(b).ok());
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static World world;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  ApiRequest req;
  req.method = std::string(NextField(in));
  req.path = std::string(NextField(in));
  req.query.emplace("labelSelector", std::string(NextField(in)));
  req.query.emplace("fieldSelector", std::string(NextField(in)));
  req.headers["accept"] = std::string(NextField(in));
  req.body = std::string(in);
  auto resp = world.handler.Handle(req);
  Check(resp.status >= 200 && resp.status < 600);
  if (resp.content_type.rfind("application/json", 0) == 0) {
    Check(nlohmann::json::accept(resp.body));
  }
  return 0;
}
