// Every body the client can send validates against the Gateway v2 request
// schemas extracted from the OpenAPI document
// (controller/gateway/schemas/gateway-v2-requests.json).

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "controller/gateway/gateway_json.h"
#include "controller/schema/validator.h"

namespace mlspace::gateway {
namespace {

using nlohmann::json;

schema::Validator LoadValidator() {
  const char* src = std::getenv("MLSPACE_SOURCE_DIR");
  std::string dir = src != nullptr ? src : ".";
  std::ifstream in(dir + "/controller/gateway/schemas/gateway-v2-requests.json");
  EXPECT_TRUE(in.good()) << "schema file not found under " << dir;
  auto v = schema::Validator::Create(json::parse(in));
  EXPECT_TRUE(v.ok()) << v.status().message();
  return std::move(v).value();
}

std::string Errors(const std::vector<schema::ValidationError>& errs) {
  std::string out;
  for (const auto& e : errs) out += e.ToString() + "; ";
  return out;
}

SubmitRequest Base() {
  SubmitRequest r;
  r.script = "/home/jovyan/mlspace-launch";
  r.base_image = "cr.ai.cloud.ru/aicloud-base-images/py3.11-torch2.4.0:0.0.40";
  r.instance_type = "a100.1gpu";
  return r;
}

// A corpus that sets each optional field alone and all of them together,
// over every enum value the local check accepts.
std::vector<SubmitRequest> Corpus() {
  std::vector<SubmitRequest> out{Base()};
  for (const char* region : {"DGX2-MT", "A100-MT", "SR003", "SR004", "SR005", "SR006", "SR008"}) {
    auto r = Base();
    r.region = region;
    out.push_back(r);
  }
  for (const char* type : {"binary", "horovod", "pytorch", "pytorch2", "torchrun",
                           "pytorch_elastic", "nogpu", "binary_exp"}) {
    auto r = Base();
    r.type = type;
    out.push_back(r);
  }
  for (const char* p : {"shared-low", "shared-medium", "low", "medium", "high"}) {
    auto r = Base();
    r.priority_class = p;
    out.push_back(r);
  }
  for (const char* s : {"small", "medium", "large"}) {
    auto r = Base();
    r.shm_size_class = s;
    out.push_back(r);
  }
  auto full = Base();
  full.region = "SR006";
  full.type = "binary";
  full.n_workers = 3;
  full.processes_per_worker = 8;
  full.priority_class = "high";
  full.queue_name = "q";
  full.allocation_name = "alloc";
  full.job_desc = "mlspace:nlp/llama-sft:gen=3";
  full.max_retry = 100;
  full.health_params = HealthParams{720, "restart", {"notify"}};
  full.checkpoint_dir = "/home/jovyan/ckpt";
  full.logs_dir = "/home/jovyan/logs";
  full.conda_env = "/home/jovyan/venv";
  full.internet = true;
  full.env_variables = {{"A", "1"}, {"B", ""}};
  full.flags = {{"spec-version", "1"}, {"spec-part-0", std::string(65535, 'Q')}};
  full.shm_size_class = "small";
  out.push_back(full);
  auto health_only_notify = Base();
  health_only_notify.health_params = HealthParams{20, std::nullopt, {"notify"}};
  out.push_back(health_only_notify);
  auto health_delete = Base();
  health_delete.health_params = HealthParams{20, "delete", {}};
  out.push_back(health_delete);
  return out;
}

TEST(RequestContractTest, EverySubmitBodyMatchesRunJobRequest) {
  auto v = LoadValidator();
  int checked = 0;
  for (const auto& r : Corpus()) {
    ASSERT_TRUE(ValidateSubmitRequest(r).ok()) << ValidateSubmitRequest(r).message();
    json body = SubmitRequestToJson(r);
    auto errs = v.Validate(body, "/components/schemas/RunJobRequest");
    EXPECT_TRUE(errs.empty()) << body.dump().substr(0, 300) << ": " << Errors(errs);
    ++checked;
  }
  EXPECT_EQ(checked, 27);
}

TEST(RequestContractTest, SchemaRejectsWhatTheServiceRejects) {
  // Guards the check above against a validator that accepts everything.
  auto v = LoadValidator();
  json extra = SubmitRequestToJson(Base());
  extra["label"] = "nlp/x";
  EXPECT_FALSE(v.Validate(extra, "/components/schemas/RunJobRequest").empty());
  json zero = SubmitRequestToJson(Base());
  zero["n_workers"] = 0;
  EXPECT_FALSE(v.Validate(zero, "/components/schemas/RunJobRequest").empty());
}

TEST(RequestContractTest, RestartAndServiceAuthBodies) {
  auto v = LoadValidator();
  auto restart =
      v.Validate(RestartRequestToJson("lm-mpi-job-1"), "/components/schemas/RestartJobRequest");
  EXPECT_TRUE(restart.empty()) << Errors(restart);
  auto auth =
      v.Validate(ServiceAccountToJson("id", "secret"), "/components/schemas/ServiceAccount");
  EXPECT_TRUE(auth.empty()) << Errors(auth);
}

}  // namespace
}  // namespace mlspace::gateway
