#include "controller/gateway/slurm/restd_client.h"

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "controller/core/redact.h"
#include "controller/gateway/slurm/slurm_gateway.h"

namespace mlspace::gateway::slurm {

namespace {

Error MakeError(ErrorKind kind, std::string message, int http_status = 0) {
  Error e;
  e.kind = kind;
  e.message = Redact(message);
  e.http_status = http_status;
  return e;
}

std::string Trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

// The answer's "errors": each entry's "error" (Slurm's own words, as
// sbatch prints them), one per line; empty when there are none or the body
// is not JSON.
std::string AnswerErrors(const std::string& body) {
  nlohmann::json doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return "";
  auto it = doc.find("errors");
  if (it == doc.end() || !it->is_array()) return "";
  std::string out;
  for (const auto& e : *it) {
    std::string one;
    if (e.is_object()) {
      if (auto m = e.find("error"); m != e.end() && m->is_string()) one = m->get<std::string>();
      if (one.empty()) {
        if (auto d = e.find("description"); d != e.end() && d->is_string()) {
          one = d->get<std::string>();
        }
      }
    }
    if (one.empty()) one = e.dump();
    out += "error: " + one + "\n";
  }
  return out;
}

// The body as a one-line excerpt for messages (non-JSON answers such as
// "Authentication failure" or "Unable find requested URL").
std::string Excerpt(const std::string& body) {
  std::string s = Trim(body);
  for (char& c : s) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return s.size() > 200 ? s.substr(0, 200) + "..." : s;
}

std::optional<int64_t> Int(const nlohmann::json& j) {
  if (j.is_number_integer()) return j.get<int64_t>();
  if (j.is_object() && j.contains("number") && j["number"].is_number_integer()) {
    if (j.contains("set") && j["set"].is_boolean() && !j["set"].get<bool>()) return std::nullopt;
    return j["number"].get<int64_t>();
  }
  return std::nullopt;
}

}  // namespace

RestdClient::RestdClient(RestdOptions opts, std::string slurm_conf,
                         std::unique_ptr<http::HttpTransport> transport)
    : opts_(std::move(opts)), transport_(std::move(transport)) {
  const char* path = std::getenv("PATH");
  environment_["PATH"] = path != nullptr && *path != '\0'
                             ? path
                             : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  if (!slurm_conf.empty()) environment_["SLURM_CONF"] = slurm_conf;
  for (const auto& [k, v] : opts_.environment) environment_[k] = v;
}

Outcome<http::HttpExchange> RestdClient::Exchange(const std::string& method,
                                                  const std::string& path, const std::string& body,
                                                  size_t cap) {
  http::HttpRequest req;
  req.method = method;
  req.target = path;
  req.body = body;
  req.max_answer_bytes = cap;
  req.headers.emplace_back("Accept", "application/json");
  if (!body.empty()) req.headers.emplace_back("Content-Type", "application/json");
  if (opts_.auth == RestdOptions::Auth::kJwt) {
    // Re-read every time: `scontrol token` tokens expire and get rotated.
    std::ifstream in(opts_.token_file, std::ios::binary);
    if (!in) {
      return MakeError(ErrorKind::kUnauthorized,
                       "slurmrestd: cannot read restd.tokenFile " + opts_.token_file);
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    std::string token = Trim(ss.str());
    if (token.starts_with("SLURM_JWT=")) token = Trim(token.substr(10));
    if (token.empty() || token.find_first_of("\r\n") != std::string::npos) {
      return MakeError(ErrorKind::kUnauthorized,
                       "slurmrestd: restd.tokenFile " + opts_.token_file + " holds no token");
    }
    SecretRegistry::Get().Add(token);
    req.headers.emplace_back("X-SLURM-USER-NAME", opts_.user_name);
    req.headers.emplace_back("X-SLURM-USER-TOKEN", token);
  }
  return transport_->Send(req);
}

Outcome<std::string> RestdClient::Submit(const std::string& body, const std::string& what) {
  const std::string path = "/slurm/" + opts_.api_version + "/job/submit";
  auto ex = Exchange("POST", path, body, 0);
  if (!ex.ok()) return ex.error();
  switch (ex->kind) {
    case http::ExchangeKind::kNotSent:
      return MakeError(ErrorKind::kUnavailable, what + ": slurmrestd not reached: " + ex->error);
    case http::ExchangeKind::kNoAnswer:
      return MakeError(ErrorKind::kAmbiguous, what + ": slurmrestd's answer was lost (" +
                                                  ex->error + "); the job may exist");
    case http::ExchangeKind::kResponse:
      break;
  }
  const http::HttpResponse& resp = ex->response;
  if (resp.status == 401 || resp.status == 403) {
    return MakeError(ErrorKind::kUnauthorized,
                     what + ": slurmrestd refused the credentials (" + std::to_string(resp.status) +
                         " " + Excerpt(resp.body) + ")",
                     resp.status);
  }
  if (resp.status == 404) {
    return MakeError(
        ErrorKind::kUnavailable,
        what + ": slurmrestd has no " + path +
            " (is restd.apiVersion one of its openapi plugins?): " + Excerpt(resp.body),
        404);
  }
  if (const std::string errs = AnswerErrors(resp.body); !errs.empty()) {
    // What sbatch would have printed on stderr: the same mapping, so the
    // object's status carries Slurm's words either way.
    CommandResult r;
    r.started = true;
    r.exit_code = 1;
    r.err = errs;
    Error e = MapSbatchFailure(r, what);
    e.http_status = resp.status;
    return e;
  }
  nlohmann::json doc = nlohmann::json::parse(resp.body, nullptr, /*allow_exceptions=*/false);
  std::optional<int64_t> id;
  if (resp.status == 200 && doc.is_object() && doc.contains("job_id")) id = Int(doc["job_id"]);
  if (!id || *id <= 0) {
    return MakeError(ErrorKind::kAmbiguous,
                     what + ": slurmrestd answered " + std::to_string(resp.status) +
                         " without a job id (\"" + Excerpt(resp.body) + "\"); the job may exist",
                     resp.status);
  }
  return std::to_string(*id);
}

Outcome<http::HttpResponse> RestdClient::Call(const std::string& method, const std::string& path,
                                              size_t cap) {
  const std::string what = "slurmrestd " + method + " " + path;
  auto ex = Exchange(method, path, "", cap);
  if (!ex.ok()) return ex.error();
  if (ex->kind != http::ExchangeKind::kResponse) {
    // Reads and cancels are safe to repeat: a lost answer is only unavailable.
    return MakeError(ErrorKind::kUnavailable, what + ": " + ex->error);
  }
  const http::HttpResponse& resp = ex->response;
  if (resp.status == 401 || resp.status == 403) {
    return MakeError(ErrorKind::kUnauthorized,
                     what + ": " + std::to_string(resp.status) + " " + Excerpt(resp.body),
                     resp.status);
  }
  return std::move(ex->response);
}

Error RestdClient::Failed(const std::string& method, const std::string& path,
                          const http::HttpResponse& resp) {
  std::string why = AnswerErrors(resp.body);
  if (why.empty()) why = Excerpt(resp.body);
  for (char& c : why) {
    if (c == '\n') c = ' ';
  }
  return MakeError(
      ErrorKind::kUnavailable,
      "slurmrestd " + method + " " + path + ": " + std::to_string(resp.status) + " " + Trim(why),
      resp.status);
}

Outcome<std::vector<SlurmJob>> RestdClient::Jobs() {
  const std::string path = "/slurm/" + opts_.api_version + "/jobs";
  auto resp = Call("GET", path, kRestdJobsAnswerCap);
  if (!resp.ok()) return resp.error();
  if (resp->status != 200) return Failed("GET", path, *resp);
  return ParseSqueueJson(resp->body, "slurmrestd GET " + path);
}

Outcome<CancelResult> RestdClient::Cancel(const std::string& id) {
  const std::string path = "/slurm/" + opts_.api_version + "/job/" + id;
  auto resp = Call("DELETE", path, 0);
  if (!resp.ok()) return resp.error();
  const std::string errs = AnswerErrors(resp->body);
  if (errs.find("Invalid job id") != std::string::npos) return CancelResult::kNotFound;
  if (errs.find("already completing or completed") != std::string::npos) {
    return CancelResult::kDeleted;
  }
  if (resp->status == 200 && errs.empty()) return CancelResult::kDeleted;
  return Failed("DELETE", path, *resp);
}

Outcome<std::optional<RemoteJob>> RestdClient::AccountingJob(const std::string& id,
                                                             Accounting accounting) {
  if (accounting == Accounting::kOff) return std::optional<RemoteJob>();
  const std::string path = "/slurmdb/" + opts_.api_version + "/job/" + id;
  auto resp = Call("GET", path, 0);
  if (!resp.ok()) return resp.error();
  if (resp->status == 404 && accounting == Accounting::kAuto && AnswerErrors(resp->body).empty()) {
    // No such path: slurmrestd runs without the slurmdb plugin (no slurmdbd).
    return std::optional<RemoteJob>();
  }
  if (resp->status != 200) return Failed("GET", path, *resp);
  return ParseSlurmdbJob(resp->body, id);
}

Outcome<std::optional<RemoteJob>> ParseSlurmdbJob(std::string_view text, const std::string& id) {
  nlohmann::json doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return MakeError(ErrorKind::kInternal, "slurmdb job " + id + ": answer is not a JSON object");
  }
  if (const std::string errs = AnswerErrors(std::string(text)); !errs.empty()) {
    // slurmdbd has no record of the job: the same as sacct printing nothing.
    if (errs.find("not found") != std::string::npos ||
        errs.find("Nothing found") != std::string::npos) {
      return std::optional<RemoteJob>();
    }
    std::string one = errs;
    for (char& c : one) {
      if (c == '\n') c = ' ';
    }
    return MakeError(ErrorKind::kUnavailable, "slurmdb job " + id + ": " + Trim(one));
  }
  auto jobs = doc.find("jobs");
  if (jobs == doc.end() || !jobs->is_array()) {
    return MakeError(ErrorKind::kInternal, "slurmdb job " + id + ": no \"jobs\" array");
  }
  for (const auto& j : *jobs) {
    if (!j.is_object() || !j.contains("job_id")) continue;
    auto jid = Int(j["job_id"]);
    if (!jid || std::to_string(*jid) != id) continue;
    SlurmJob sj;
    sj.id = id;
    if (auto n = j.find("name"); n != j.end() && n->is_string()) sj.name = n->get<std::string>();
    if (auto c = j.find("comment"); c != j.end()) {
      if (c->is_string()) {
        sj.comment = c->get<std::string>();
      } else if (c->is_object() && c->contains("job") && (*c)["job"].is_string()) {
        sj.comment = (*c)["job"].get<std::string>();
      }
    }
    if (auto st = j.find("state"); st != j.end() && st->is_object()) {
      if (auto cur = st->find("current"); cur != st->end() && cur->is_string()) {
        sj.state = cur->get<std::string>();
      }
    }
    if (IsFinished(MapJobState(sj.state))) {
      if (auto ec = j.find("exit_code"); ec != j.end() && ec->is_object()) {
        std::optional<int64_t> sig, rc;
        if (auto s = ec->find("signal");
            s != ec->end() && s->is_object() && s->contains("signal_id")) {
          sig = Int((*s)["signal_id"]);
        }
        if (ec->contains("return_code")) rc = Int((*ec)["return_code"]);
        if (sig && *sig > 0) {
          sj.exit_code = 128 + static_cast<int>(*sig);
        } else if (rc) {
          sj.exit_code = static_cast<int>(*rc);
        }
      }
    }
    return std::optional<RemoteJob>(ToRemoteJob(sj));
  }
  return std::optional<RemoteJob>();
}

}  // namespace mlspace::gateway::slurm
