#include <gtest/gtest.h>

#include "controller/gateway/job_gateway.h"

namespace mlspace::gateway {
namespace {

SubmitRequest Minimal() {
  SubmitRequest r;
  r.script = "/home/jovyan/train.py";
  r.base_image = "cr.ai.cloud.ru/aicloud-base-images/py3.11-torch2.4.0:0.0.40";
  r.instance_type = "a100.1gpu";
  return r;
}

// Expects an InvalidArgument naming `field`.
void ExpectRejected(const SubmitRequest& r, const std::string& field) {
  Status s = ValidateSubmitRequest(r);
  ASSERT_FALSE(s.ok()) << "expected rejection for " << field;
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message().rfind(field, 0), 0u) << s.message();
}

TEST(ValidateSubmitRequestTest, MinimalAndFullRequestsPass) {
  EXPECT_TRUE(ValidateSubmitRequest(Minimal()).ok());
  SubmitRequest r = Minimal();
  r.region = "SR005";
  r.type = "pytorch2";
  r.n_workers = 64;
  r.processes_per_worker = 8;
  r.priority_class = "medium";
  r.max_retry = 3;
  r.health_params = HealthParams{30, "restart", {"notify"}};
  r.checkpoint_dir = "/home/jovyan/ckpt";
  r.logs_dir = "/home/jovyan";
  r.shm_size_class = "large";
  r.env_variables = {{"A", "1"}};
  r.flags = {{"spec-version", "1"}};
  EXPECT_TRUE(ValidateSubmitRequest(r).ok()) << ValidateSubmitRequest(r).message();
}

TEST(ValidateSubmitRequestTest, RequiredFields) {
  auto r = Minimal();
  r.script.clear();
  ExpectRejected(r, "script");
  r = Minimal();
  r.base_image.clear();
  ExpectRejected(r, "base_image");
  r = Minimal();
  r.instance_type.clear();
  ExpectRejected(r, "instance_type");
}

TEST(ValidateSubmitRequestTest, Enums) {
  auto r = Minimal();
  r.region = "SR007";
  ExpectRejected(r, "region");
  r = Minimal();
  r.type = "mpi";
  ExpectRejected(r, "type");
  r = Minimal();
  r.priority_class = "shared-cluster";  // read-only value, not accepted on submit
  ExpectRejected(r, "priority_class");
  r = Minimal();
  r.shm_size_class = "huge";
  ExpectRejected(r, "shm_size_class");
  r = Minimal();
  r.health_params = HealthParams{30, "stop", {}};
  ExpectRejected(r, "health_params.action");
  r = Minimal();
  r.health_params = HealthParams{30, "delete", {"page"}};
  ExpectRejected(r, "health_params.sub_actions");
}

TEST(ValidateSubmitRequestTest, Ranges) {
  auto r = Minimal();
  r.n_workers = 0;
  ExpectRejected(r, "n_workers");
  r.n_workers = 1;
  EXPECT_TRUE(ValidateSubmitRequest(r).ok());
  r = Minimal();
  r.processes_per_worker = 0;
  ExpectRejected(r, "processes_per_worker");
  for (int bad : {2, 101, -1}) {
    r = Minimal();
    r.max_retry = bad;
    ExpectRejected(r, "max_retry");
  }
  for (int good : {3, 100}) {
    r = Minimal();
    r.max_retry = good;
    EXPECT_TRUE(ValidateSubmitRequest(r).ok()) << good;
  }
  for (int bad : {19, 721, 0}) {
    r = Minimal();
    r.health_params = HealthParams{bad, "delete", {}};
    ExpectRejected(r, "health_params.log_period");
  }
  for (int good : {20, 720}) {
    r = Minimal();
    r.health_params = HealthParams{good, "delete", {}};
    EXPECT_TRUE(ValidateSubmitRequest(r).ok()) << good;
  }
}

TEST(ValidateSubmitRequestTest, HealthNeedsActionOrSubActions) {
  auto r = Minimal();
  r.health_params = HealthParams{30, std::nullopt, {}};
  ExpectRejected(r, "health_params");
  r.health_params->sub_actions = {"notify"};
  EXPECT_TRUE(ValidateSubmitRequest(r).ok());
}

TEST(ValidateSubmitRequestTest, DirsUnderJovyanAndNamedKeys) {
  auto r = Minimal();
  r.checkpoint_dir = "/tmp/ckpt";
  ExpectRejected(r, "checkpoint_dir");
  r = Minimal();
  r.logs_dir = "/home/jovyanx/logs";
  ExpectRejected(r, "logs_dir");
  r = Minimal();
  r.env_variables = {{"", "x"}};
  ExpectRejected(r, "env_variables");
  r = Minimal();
  r.flags = {{"", "x"}};
  ExpectRejected(r, "flags");
}

}  // namespace
}  // namespace mlspace::gateway
