#include "controller/apiserver/logs.h"

#include <atomic>
#include <charconv>
#include <memory>
#include <thread>

#include "controller/api/types.h"
#include "controller/apiserver/handler.h"
#include "controller/apiserver/object_codec.h"

namespace mlspace::apiserver {
namespace {

ApiResponse Fail(int code, std::string_view reason, const std::string& message) {
  ApiResponse r;
  r.status = code;
  r.body = StatusFailure(code, reason, message)
               .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

bool Truthy(const std::string& v) { return v == "true" || v == "1"; }

// A non-negative integer query value; nullopt when absent, error when bad.
Result<std::optional<int>> IntParam(const ApiRequest& req, const std::string& key) {
  if (req.query.find(key) == req.query.end()) return std::optional<int>();
  std::string v = req.Query(key);
  int n = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || end != v.data() + v.size() || n < 0) {
    return InvalidArgumentError(key + " \"" + v.substr(0, 40) + "\": want a non-negative integer");
  }
  return std::optional<int>(n);
}

bool IsActive(api::Phase p) { return p == api::Phase::kSubmitted || p == api::Phase::kRunning; }

// Open follows in this process; a FollowSlot holds one while it lives.
std::atomic<int> g_follows{0};
struct FollowSlot {
  FollowSlot() { ++g_follows; }
  ~FollowSlot() { --g_follows; }
  FollowSlot(const FollowSlot&) = delete;
  FollowSlot& operator=(const FollowSlot&) = delete;
};

std::string ObjectName(const ObjectKey& key) {
  return std::string(api::kPlural) + "." + api::kGroup + " \"" + key.name + "\"";
}

}  // namespace

std::string LastLines(const std::string& text, int lines) {
  if (lines <= 0) return text;
  size_t end = text.size();
  if (end > 0 && text[end - 1] == '\n') --end;  // the final newline ends the last line
  size_t pos = end;
  int seen = 0;
  while (pos > 0) {
    if (text[pos - 1] == '\n' && ++seen == lines) break;
    --pos;
  }
  return text.substr(pos);
}

ApiResponse ServeJobLog(const ApiRequest& req, const ObjectKey& key, store::StateStore& store,
                        const JobLogsFn& logs, const LogOptions& options) {
  if (req.method != "GET") {
    return Fail(405, "MethodNotAllowed", "the log subresource answers GET only");
  }
  auto tail = IntParam(req, "tailLines");
  if (!tail.ok()) return Fail(400, "BadRequest", tail.status().message());
  auto attempt = IntParam(req, "attempt");
  if (!attempt.ok()) return Fail(400, "BadRequest", attempt.status().message());
  if (attempt->has_value() && **attempt == 0) {
    return Fail(400, "BadRequest", "attempt: attempts count from 1");
  }
  const bool follow = Truthy(req.Query("follow"));
  const bool previous = Truthy(req.Query("previous"));
  if (!logs) return Fail(503, "ServiceUnavailable", "job logs are not available in this server");

  auto rec = store.Get(key);
  if (!rec.ok()) return Fail(500, "InternalError", rec.status().message());
  if (!rec->has_value()) {
    ApiResponse r = Fail(404, "NotFound", ObjectName(key) + " not found");
    return r;
  }
  const store::ObjectRecord& r = **rec;
  auto intents = store.Intents(key);
  if (!intents.ok()) return Fail(500, "InternalError", intents.status().message());

  // The remote job of each attempt of the current generation.
  auto job_of = [&](int a) -> std::string {
    if (a == r.status.attempt && !r.status.remote_job_name.empty()) {
      return r.status.remote_job_name;
    }
    for (const auto& i : *intents) {
      if (i.spec_hash == r.spec_hash && i.attempt == a && !i.remote_job_name.empty()) {
        return i.remote_job_name;
      }
    }
    return "";
  };
  int want = attempt->value_or(r.status.attempt);
  if (previous && !attempt->has_value()) want = r.status.attempt - 1;
  std::string job;
  if (want >= 1) job = job_of(want);
  if (job.empty() && !attempt->has_value() && !previous) {
    // Between attempts (a retry waiting for its backoff) the newest attempt
    // that reached the gateway is the one worth reading.
    for (int a = want - 1; a >= 1 && job.empty(); --a) {
      job = job_of(a);
      if (!job.empty()) want = a;
    }
  }
  if (job.empty()) {
    if (attempt->has_value() || previous) {
      return Fail(404, "NotFound",
                  "attempt " + std::to_string(want) + " of " + ObjectName(key) +
                      " has no remote job (generation " + std::to_string(r.generation) +
                      " is at attempt " + std::to_string(r.status.attempt) + ")");
    }
    return Fail(400, "BadRequest",
                ObjectName(key) + " has not started: no remote job yet (phase " +
                    std::string(api::PhaseName(r.status.phase)) + ")");
  }
  const std::string region = r.region;
  auto first = logs(job, region, follow ? 0 : tail->value_or(0));
  if (!first.ok()) {
    // The emulator and, per its OpenAPI, the service answer an unknown
    // job's logs with 400: both mean the output is gone.
    if (first.error().kind == gateway::ErrorKind::kNotFound ||
        first.error().kind == gateway::ErrorKind::kInvalid) {
      return Fail(404, "NotFound",
                  "the output of remote job " + job + " (attempt " + std::to_string(want) + " of " +
                      ObjectName(key) + ") is gone: " + first.error().message);
    }
    return Fail(503, "ServiceUnavailable",
                "reading the output of remote job " + job + ": " + first.error().message);
  }
  ApiResponse resp;
  resp.content_type = "text/plain; charset=utf-8";
  if (!follow) {
    resp.body = tail->has_value() ? LastLines(*first, **tail) : std::move(first).value();
    return resp;
  }
  // Follow: the first answer (its tail), then what is new at each poll.
  if (g_follows.load() >= options.max_follows) {
    return Fail(429, "TooManyRequests",
                "too many log follows open (" + std::to_string(options.max_follows) +
                    "); read without follow=true or retry later");
  }
  auto slot = std::make_shared<FollowSlot>();  // released with the answer
  std::string initial = std::move(first).value();
  resp.stream = [initial = std::move(initial), tail_lines = tail->value_or(0), job, region, key,
                 &store, logs, options, slot](const ChunkWriter& write) {
    size_t sent = initial.size();
    std::string head = tail_lines > 0 ? LastLines(initial, tail_lines) : initial;
    if (!head.empty() && !write(head)) return;
    auto sleep = options.sleep ? options.sleep : [](Duration d) { std::this_thread::sleep_for(d); };
    Duration waited{0};
    bool last_round = false;
    while (!last_round && waited < options.follow_max) {
      if (!write("")) return;  // the server is stopping
      sleep(options.follow_poll);
      waited += options.follow_poll;
      auto now = store.Get(key);
      // The job ended (or was replaced, or the object went away): one
      // last read, then the stream ends.
      last_round = !now.ok() || !now->has_value() || (*now)->status.remote_job_name != job ||
                   !IsActive((*now)->status.phase);
      auto text = logs(job, region, 0);
      if (!text.ok()) {
        if (text.error().kind == gateway::ErrorKind::kNotFound) return;
        continue;  // a transient gateway error: try again at the next poll
      }
      if (text->size() < sent) sent = 0;  // the output was truncated: start over
      if (text->size() > sent) {
        if (!write(std::string_view(*text).substr(sent))) return;
        sent = text->size();
      }
    }
  };
  return resp;
}

}  // namespace mlspace::apiserver
