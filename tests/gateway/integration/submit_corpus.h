#pragma once

// SubmitRequest variants for sessions against the emulator: each optional
// field alone, every enum value the local check accepts, and everything
// together. Test-only.

#include <string>
#include <vector>

#include "controller/gateway/job_gateway.h"

namespace mlspace::gateway::integration {

inline SubmitRequest BaseRequest(const std::string& marker) {
  SubmitRequest r;
  r.script = "/home/jovyan/mlspace-launch";
  r.base_image = "cr.ai.cloud.ru/aicloud-base-images/py3.11-torch2.4.0:0.0.40";
  r.instance_type = "a100.1gpu";
  r.job_desc = marker;
  return r;
}

inline std::vector<SubmitRequest> SubmitCorpus() {
  std::vector<SubmitRequest> out;
  int n = 0;
  auto next = [&] { return BaseRequest("mlspace:corpus/" + std::to_string(n++)); };
  auto bare = next();
  bare.job_desc.reset();  // only the three required fields
  out.push_back(bare);
  for (const char* region : {"DGX2-MT", "A100-MT", "SR003", "SR004", "SR005", "SR006", "SR008"}) {
    auto r = next();
    r.region = region;
    out.push_back(r);
  }
  for (const char* type : {"binary", "horovod", "pytorch", "pytorch2", "torchrun",
                           "pytorch_elastic", "nogpu", "binary_exp"}) {
    auto r = next();
    r.type = type;
    out.push_back(r);
  }
  for (const char* p : {"shared-low", "shared-medium", "low", "medium", "high"}) {
    auto r = next();
    r.priority_class = p;
    out.push_back(r);
  }
  for (const char* s : {"small", "medium", "large"}) {
    auto r = next();
    r.shm_size_class = s;
    out.push_back(r);
  }
  {
    auto r = next();
    r.n_workers = 1;
    out.push_back(r);
    r = next();
    r.processes_per_worker = 4;
    out.push_back(r);
    r = next();
    r.max_retry = 3;
    out.push_back(r);
    r = next();
    r.internet = false;
    out.push_back(r);
    r = next();
    r.queue_name = "team-queue";
    r.allocation_name = "alloc-1";
    out.push_back(r);
    r = next();
    r.env_variables = {{"EMPTY", ""}, {"QUOTED", "a \"b\" c"}, {"UNICODE", "\xd0\x9f\xd1\x80"}};
    out.push_back(r);
    r = next();
    r.flags = {{"lr", "0.001"}, {"epochs", "3"}};
    out.push_back(r);
  }
  for (int period : {20, 720}) {
    auto r = next();
    r.health_params = HealthParams{period, std::nullopt, {"notify"}};
    out.push_back(r);
  }
  for (const char* action : {"delete", "restart"}) {
    auto r = next();
    r.health_params = HealthParams{60, action, {}};
    out.push_back(r);
  }
  auto full = next();
  full.region = "SR006";
  full.type = "binary";
  full.n_workers = 3;
  full.processes_per_worker = 8;
  full.priority_class = "high";
  full.queue_name = "q";
  full.allocation_name = "alloc";
  full.max_retry = 100;
  full.health_params = HealthParams{720, "restart", {"notify"}};
  full.checkpoint_dir = "/home/jovyan/ckpt";
  full.logs_dir = "/home/jovyan/logs";
  full.conda_env = "/home/jovyan/venv";
  full.internet = true;
  full.env_variables = {{"A", "1"}, {"B", ""}};
  full.flags = {{"spec-version", "1"}, {"spec-part-0", std::string(4096, 'Q')}};
  full.shm_size_class = "small";
  full.label = "nlp/llama-sft";  // never serialised
  out.push_back(full);
  return out;
}

}  // namespace mlspace::gateway::integration
