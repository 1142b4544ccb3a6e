// Fuzzes what the API reads from a request line and its credentials: the
// request target (percent-decoding, repeated keys) through
// ParseRequestTarget as the listener calls it, label and field selectors,
// the log subresource's tailLines/attempt/previous, and the
// --api-token-file CSV reader with Authorization headers against it.
//
// Input: first line = request target, second = Authorization header, the
// rest = token file text. Invariants: nothing crashes; every answer is a
// valid HTTP status whose JSON body parses; a selector that parses matches
// deterministically; a token file that parses has at least one token, and
// a header that authenticates once authenticates again as the same user.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "controller/apiserver/auth.h"
#include "controller/apiserver/handler.h"
#include "controller/apiserver/server.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_state_store.h"

namespace {

using mlspace::apiserver::ApiHandler;
using mlspace::apiserver::ApiRequest;

void Check(bool condition) {
  if (!condition) std::abort();
}

std::string_view NextLine(std::string_view& in) {
  size_t nl = in.find('\n');
  std::string_view line = in.substr(0, nl);
  in = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
  return line;
}

struct World {
  mlspace::testing::FakeClock clock;
  mlspace::testing::FakeStateStore store;
  mlspace::apiserver::ControllerHooks hooks = [] {
    mlspace::apiserver::ControllerHooks h;
    h.job_logs = [](const std::string& job, const std::string&, int) {
      return mlspace::gateway::Outcome<std::string>("output of " + job + "\nline 2\n");
    };
    return h;
  }();
  ApiHandler handler{store, clock, hooks, mlspace::apiserver::HandlerOptions{}};
  World() {
    mlspace::store::WriteBatch b;
    for (const char* name : {"a", "b"}) {
      mlspace::store::ObjectRecord r;
      r.key = mlspace::ObjectKey{"ns", name};
      r.spec_json = R"({"region":"SR006"})";
      r.region = "SR006";
      r.labels = {{"team", name}, {"tier", "gpu"}};
      r.status.phase = mlspace::api::Phase::kRunning;
      r.status.attempt = 1;
      r.status.remote_job_name = std::string("lj-") + name;
      b.upserts.push_back(r);
    }
    Check(store.Write(b).ok());
  }
};

void FuzzTarget(World& world, const std::string& target) {
  ApiRequest req;
  req.method = "GET";
  if (!mlspace::apiserver::ParseRequestTarget(target, req).ok()) return;
  auto resp = world.handler.Handle(req);
  Check(resp.status >= 200 && resp.status < 600);
  if (resp.stream) return;  // a follow: not run here (it polls)
  if (resp.content_type.rfind("application/json", 0) == 0) {
    Check(nlohmann::json::accept(resp.body));
  }
  auto sel = mlspace::apiserver::LabelSelector::Parse(req.Query("labelSelector"));
  if (sel.ok()) {
    std::map<std::string, std::string> labels{{"team", "a"}, {"tier", "gpu"}};
    Check(sel->Matches(labels) == sel->Matches(labels));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static World world;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string target(NextLine(in));
  std::string authorization(NextLine(in));
  FuzzTarget(world, target);
  // The same query on the list and on the log subresource.
  size_t q = target.find('?');
  std::string query = q == std::string::npos ? "" : target.substr(q);
  FuzzTarget(world, "/apis/mlspace.io/v1alpha1/mlspacejobs" + query);
  FuzzTarget(world, "/apis/mlspace.io/v1alpha1/namespaces/ns/mlspacejobs/a/log" + query);

  auto tokens = mlspace::apiserver::TokenAuthenticator::Parse(in, "fuzz");
  if (tokens.ok()) {
    Check(tokens->size() > 0);
    auto first = tokens->Authenticate(authorization);
    auto second = tokens->Authenticate(authorization);
    Check(first.has_value() == second.has_value());
    if (first) Check(first->name == second->name && !first->name.empty());
  }
  return 0;
}
