// Fuzzes the write verbs' bodies: merge patches, JSON patches, server-side
// apply configurations, create and update bodies go through
// ApiHandler::Handle against a fake ManifestWriter holding one committed
// document. Invariants: every answer is a valid HTTP status with a JSON
// body, and whatever the API writes back is a document the controller
// accepts (it parses and validates as a committed manifest would), so no
// request can commit an invalid manifest.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "controller/api/manifest.h"
#include "controller/api/yaml_json.h"
#include "controller/apiserver/handler.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_manifest_writer.h"
#include "tests/fakes/fake_state_store.h"

namespace {

using mlspace::apiserver::ApiHandler;
using mlspace::apiserver::ApiRequest;

void Check(bool condition) {
  if (!condition) std::abort();
}

constexpr char kDoc[] =
    "apiVersion: mlspace.io/v1alpha1\nkind: MLSpaceJob\nmetadata:\n  name: a\n  namespace: ns\n"
    "  labels: {team: a}\nspec:\n  region: SR006\n  image: img\n  instanceType: cpu\n"
    "  command: [python, t.py]\n";

struct World {
  mlspace::testing::FakeClock clock;
  mlspace::testing::FakeStateStore store;
  std::shared_ptr<mlspace::testing::FakeManifestWriter> writer =
      std::make_shared<mlspace::testing::FakeManifestWriter>();
  ApiHandler handler{store, clock, mlspace::apiserver::ControllerHooks{}, [this] {
                       mlspace::apiserver::HandlerOptions o;
                       o.writer = writer;
                       return o;
                     }()};
  World() {
    mlspace::store::WriteBatch b;
    mlspace::store::ObjectRecord r;
    r.key = mlspace::ObjectKey{"ns", "a"};
    r.spec_json = R"({"region":"SR006"})";
    b.upserts.push_back(r);
    Check(store.Write(b).ok());
  }
};

}  // namespace

// Input: byte 0 picks the verb and content type, byte 1 the query flags
// (dryRun, force, fieldValidation), the rest is the body.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static World world;
  if (size < 2) return 0;
  const mlspace::ObjectKey key{"ns", "a"};
  world.writer->Reset();
  world.writer->Put(key, kDoc);
  ApiRequest req;
  req.path = "/apis/mlspace.io/v1alpha1/namespaces/ns/mlspacejobs/a";
  switch (data[0] % 6) {
    case 0:
      req.method = "PATCH";
      req.headers["content-type"] = "application/merge-patch+json";
      break;
    case 1:
      req.method = "PATCH";
      req.headers["content-type"] = "application/json-patch+json";
      break;
    case 2:
      req.method = "PATCH";
      req.headers["content-type"] = "application/apply-patch+yaml";
      break;
    case 3:
      req.method = "PUT";
      req.headers["content-type"] = "application/json";
      break;
    case 4:
      req.method = "POST";
      req.path = "/apis/mlspace.io/v1alpha1/namespaces/ns/mlspacejobs";
      req.headers["content-type"] = "application/json";
      world.writer->Put(mlspace::ObjectKey{"ns", "b"}, kDoc);  // an existing other name
      break;
    default:
      req.method = "DELETE";
      break;
  }
  req.query.emplace("fieldManager", "fuzz");
  if (data[1] & 1) req.query.emplace("dryRun", "All");
  if (data[1] & 2) req.query.emplace("force", "true");
  static const char* const kValidation[] = {"Strict", "Warn", "Ignore", ""};
  req.query.emplace("fieldValidation", kValidation[(data[1] >> 2) & 3]);
  req.body.assign(reinterpret_cast<const char*>(data + 2), size - 2);

  auto resp = world.handler.Handle(req);
  Check(resp.status >= 200 && resp.status < 600);
  Check(nlohmann::json::accept(resp.body));
  for (const auto& w : world.writer->writes()) {
    if (w.op == mlspace::api::WriteOp::kDelete) continue;
    auto doc = mlspace::api::internal::YamlToJson(w.yaml);
    Check(doc.ok());
    Check(mlspace::api::ParseObject(*doc, "fuzz").ok());
  }
  return 0;
}
