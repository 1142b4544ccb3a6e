// bench_gateway: the Gateway v2 client and emulator on loopback, in one run.
//
//  1. submit / get / list throughput of GatewayClient (token bucket raised
//     out of the way) against a raw keep-alive loop (one Poco
//     HTTPClientSession, the same requests, the body read but not parsed);
//     rounds of the two are interleaved so machine load hits both alike.
//     Target: client >= 80 % of the raw loop's requests/s.
//  2. parsing a recorded 6,000-job list answer with the client's parser
//     (http::ParseListAnswer, what GatewayClient::List runs per page, into
//     the vector List returns): median of N runs. Target: <= 30 ms. The
//     reference DOM parser (ParseListJobsResponse) is timed alongside.
//  3. the emulator's sustained requests/s with 2 raw keep-alive clients
//     (GET /jobs/{name}). Target: >= 2,000 req/s.
//
// The emulator runs in-process (EmulatorServer over SimulatedGateway,
// --execute=none equivalent, rate limit off). Bounded: well under 60 s.
// Usage: bench_gateway [--seconds-per-op S] (default 3).

#include <Poco/Exception.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <istream>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "controller/gateway/gateway_json.h"
#include "controller/gateway/http/gateway_client.h"
#include "controller/gateway/http/list_parser.h"
#include "controller/gateway/local/emulator_server.h"
#include "controller/gateway/local/sim_gateway.h"

namespace {

using namespace mlspace;           // NOLINT: a benchmark main
using namespace mlspace::gateway;  // NOLINT
using Steady = std::chrono::steady_clock;

constexpr char kApiKey[] = "bench-api-key";
constexpr char kWorkspace[] = "bench-ws";

SubmitRequest BenchRequest(const std::string& region, int i) {
  SubmitRequest r;
  r.script = "/home/jovyan/mlspace-launch";
  r.base_image = "cr.ai.cloud.ru/aicloud-base-images/py3.11-torch2.4.0:0.0.40";
  r.instance_type = "a100.8gpu";
  r.region = region;
  r.n_workers = 2;
  r.job_desc = "mlspace:bench/job-" + std::to_string(i) + ":gen=1";
  r.env_variables = {{"MLSPACE_LAUNCH_SPEC", std::string(256, 'A')}};
  return r;
}

double Seconds(Steady::duration d) { return std::chrono::duration<double>(d).count(); }

// One keep-alive connection, requests written by hand: the floor the client
// is compared against.
class RawLoop {
 public:
  explicit RawLoop(uint16_t port) : session_("127.0.0.1", port) {
    session_.setKeepAlive(true);
    session_.setTimeout(Poco::Timespan(10, 0));
  }
  // Returns the HTTP status (0 on a transport error).
  int Call(const std::string& method, const std::string& target, const std::string& body) {
    try {
      Poco::Net::HTTPRequest req(method, target, Poco::Net::HTTPMessage::HTTP_1_1);
      req.setKeepAlive(true);
      req.set("Accept", "application/json");
      req.set("x-api-key", kApiKey);
      req.set("x-workspace-id", kWorkspace);
      if (!body.empty()) {
        req.setContentType("application/json");
        req.setContentLength(static_cast<std::streamsize>(body.size()));
      }
      std::ostream& out = session_.sendRequest(req);
      if (!body.empty()) out.write(body.data(), static_cast<std::streamsize>(body.size()));
      Poco::Net::HTTPResponse resp;
      std::istream& in = session_.receiveResponse(resp);
      buf_.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
      if (!nodelay_) {
        // Like the client: no Nagle delay on the connection (it exists
        // once the first request connected it).
        session_.socket().setNoDelay(true);
        nodelay_ = true;
      }
      return resp.getStatus();
    } catch (const Poco::Exception&) {
      session_.reset();
      nodelay_ = false;
      return 0;
    }
  }
  const std::string& body() const { return buf_; }

 private:
  Poco::Net::HTTPClientSession session_;
  std::string buf_;
  bool nodelay_ = false;
};

// Hands back recorded answers by request prefix ("POST", "GET /path?").
class CannedTransport final : public http::HttpTransport {
 public:
  void Add(std::string prefix, std::string body) {
    answers_.emplace_back(std::move(prefix), std::move(body));
  }
  http::HttpExchange Send(const http::HttpRequest& request) override {
    const std::string key = request.method + " " + request.target;
    http::HttpExchange ex;
    ex.kind = http::ExchangeKind::kResponse;
    ex.response.status = 200;
    ex.response.headers = {{"Content-Type", "application/json"}};
    for (const auto& [prefix, body] : answers_) {
      if (key.rfind(prefix, 0) == 0) {
        ex.response.body = body;
        return ex;
      }
    }
    ex.response.status = 404;
    return ex;
  }

 private:
  std::vector<std::pair<std::string, std::string>> answers_;
};

struct Rate {
  long requests = 0;
  double seconds = 0;
  long errors = 0;
  double per_second() const { return seconds > 0 ? requests / seconds : 0; }
};

// Runs `one` repeatedly for `budget`; `one` returns false on a failed call.
void RunFor(Steady::duration budget, Rate& rate, const std::function<bool()>& one) {
  const auto start = Steady::now();
  const auto end = start + budget;
  auto now = start;
  while (now < end) {
    if (!one()) ++rate.errors;
    ++rate.requests;
    now = Steady::now();
  }
  rate.seconds += Seconds(now - start);
}

const char* Verdict(bool ok) { return ok ? "PASS" : "MISS"; }

}  // namespace

int main(int argc, char** argv) {
  double seconds_per_op = 3;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--seconds-per-op" && i + 1 < argc) {
      seconds_per_op = std::atof(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: bench_gateway [--seconds-per-op S]\n");
      return 2;
    }
  }
  if (seconds_per_op <= 0 || seconds_per_op > 10) {
    std::fprintf(stderr, "bench_gateway: --seconds-per-op must be in (0, 10]\n");
    return 2;
  }

  SimGatewayOptions so;
  so.pending_duration = std::chrono::hours(1);  // stable answers during the run
  SimulatedGateway sim(so);
  emulator::EmulatorOptions eo;
  eo.listen = "127.0.0.1:0";
  eo.api_key = kApiKey;
  eo.workspace_id = kWorkspace;
  eo.rate_limit_per_minute = 0;
  emulator::EmulatorServer server(eo, sim);
  if (Status s = server.Start(); !s.ok()) {
    std::fprintf(stderr, "bench_gateway: %s\n", s.message().c_str());
    return 1;
  }
  const uint16_t port = server.port();

  http::ClientOptions co;
  co.base_url = "http://127.0.0.1:" + std::to_string(port);
  co.credentials.api_key = kApiKey;
  co.credentials.workspace_id = kWorkspace;
  co.rate_per_second = 1e9;  // the bucket is measured out, not the wire
  co.burst = 1e9;
  http::PocoTransportOptions to;
  to.base_url = co.base_url;
  auto transport_made = http::PocoHttpTransport::Create(to);
  if (!transport_made.ok()) return 1;
  std::shared_ptr<http::PocoHttpTransport> transport = std::move(transport_made).value();
  co.transport = transport;
  auto made = http::MakeGatewayClient(co);
  if (!made.ok()) {
    std::fprintf(stderr, "bench_gateway: %s\n", made.status().message().c_str());
    return 1;
  }
  http::GatewayClient& client = **made;

  // Fixtures: 20 jobs in SR003 for the list loop (small answers), one job
  // to GET, and the 6,000-job region for the parse test.
  std::string get_name;
  for (int i = 0; i < 20; ++i) {
    auto n = client.Submit(BenchRequest("SR003", i));
    if (!n.ok()) {
      std::fprintf(stderr, "bench_gateway: fixture submit: %s\n", n.error().message.c_str());
      return 1;
    }
    get_name = *n;
  }
  for (int i = 0; i < 6000; ++i) {
    auto n = sim.Submit(BenchRequest("SR004", i));
    if (!n.ok()) return 1;
  }

  const std::string submit_body = SubmitRequestToJson(BenchRequest("SR005", 0)).dump();
  const std::string list_target = "/public/v2/jobs?region=SR003&limit=6000&offset=0";
  const std::string get_target = "/public/v2/jobs/" + get_name;
  const SubmitRequest submit_req = BenchRequest("SR005", 0);
  const ListOptions list_opts{"SR003", {}, 6000};

  std::printf(
      "bench_gateway: emulator on 127.0.0.1:%u (in-process, execute=none, rate limit off)\n",
      static_cast<unsigned>(port));
  std::printf("hardware threads: %u\n\n", std::thread::hardware_concurrency());

  // --- 1. client vs raw keep-alive loop ---------------------------------------
  struct Op {
    const char* name;
    std::function<bool()> client;
    std::function<bool(RawLoop&)> raw;
  };
  std::vector<Op> ops = {
      {"submit", [&] { return client.Submit(submit_req).ok(); },
       [&](RawLoop& r) { return r.Call("POST", "/public/v2/jobs", submit_body) == 200; }},
      {"get", [&] { return client.Get(get_name).ok(); },
       [&](RawLoop& r) { return r.Call("GET", get_target, "") == 200; }},
      {"list(20 jobs)",
       [&] {
         auto l = client.List(list_opts);
         return l.ok() && l->size() == 20;
       },
       [&](RawLoop& r) { return r.Call("GET", list_target, "") == 200; }},
  };
  RawLoop raw(port);
  // Warm both paths (connections, allocator).
  for (auto& op : ops) {
    for (int i = 0; i < 50; ++i) {
      op.client();
      op.raw(raw);
    }
  }
  // Many short interleaved rounds, the order flipped every round; the
  // verdict uses the median of the per-round client/raw ratios, which a
  // load spike from other processes on the machine moves least.
  constexpr int kRounds = 20;
  const auto slice = std::chrono::duration_cast<Steady::duration>(
      std::chrono::duration<double>(seconds_per_op / (2 * kRounds)));
  bool client_ok = true;
  std::printf("%-14s %12s %12s %9s %13s  target >= 80%%\n", "op", "client req/s", "raw req/s",
              "ratio", "median ratio");
  for (auto& op : ops) {
    Rate c, r;
    std::vector<double> ratios;
    for (int round = 0; round < kRounds; ++round) {
      Rate cr, rr;
      auto raw_one = [&] { return op.raw(raw); };
      if (round % 2 == 0) {
        RunFor(slice, cr, op.client);
        RunFor(slice, rr, raw_one);
      } else {
        RunFor(slice, rr, raw_one);
        RunFor(slice, cr, op.client);
      }
      if (rr.per_second() > 0) ratios.push_back(cr.per_second() / rr.per_second());
      c.requests += cr.requests;
      c.seconds += cr.seconds;
      c.errors += cr.errors;
      r.requests += rr.requests;
      r.seconds += rr.seconds;
      r.errors += rr.errors;
    }
    std::sort(ratios.begin(), ratios.end());
    const double median = ratios.empty() ? 0 : ratios[ratios.size() / 2];
    const double ratio = r.per_second() > 0 ? c.per_second() / r.per_second() : 0;
    const bool pass = median >= 0.8 && c.errors == 0 && r.errors == 0;
    client_ok = client_ok && pass;
    std::printf("%-14s %12.0f %12.0f %8.1f%% %12.1f%%  %s", op.name, c.per_second(), r.per_second(),
                ratio * 100, median * 100, Verdict(pass));
    if (c.errors || r.errors) std::printf(" (errors: client %ld, raw %ld)", c.errors, r.errors);
    std::printf("  [client connections so far: %d]\n", transport->connections_opened());
  }

  // The client's own CPU per call, network excluded: the same calls on a
  // transport that hands back the emulator's recorded answers.
  {
    auto canned = std::make_shared<CannedTransport>();
    canned->Add("POST", (raw.Call("POST", "/public/v2/jobs", submit_body), raw.body()));
    canned->Add("GET /public/v2/jobs/", (raw.Call("GET", get_target, ""), raw.body()));
    canned->Add("GET /public/v2/jobs?", (raw.Call("GET", list_target, ""), raw.body()));
    http::ClientOptions no_net = co;
    no_net.transport = canned;
    auto offline = http::MakeGatewayClient(no_net);
    if (!offline.ok()) return 1;
    http::GatewayClient& oc = **offline;
    std::printf("client CPU per call, no network (canned answers):");
    const std::pair<const char*, std::function<bool()>> calls[] = {
        {"submit", [&] { return oc.Submit(submit_req).ok(); }},
        {"get", [&] { return oc.Get(get_name).ok(); }},
        {"list(20)", [&] { return oc.List(list_opts).ok(); }}};
    for (const auto& [name, call] : calls) {
      Rate rate;
      RunFor(std::chrono::milliseconds(200), rate, call);
      std::printf(" %s %.1f us%s", name, rate.seconds * 1e6 / static_cast<double>(rate.requests),
                  rate.errors ? " (errors!)" : "");
    }
    std::printf("\n");
  }

  // --- 2. parsing a 6,000-job list answer --------------------------------------
  if (raw.Call("GET", "/public/v2/jobs?region=SR004&limit=6000&offset=0", "") != 200) {
    std::fprintf(stderr, "bench_gateway: could not record the 6,000-job answer\n");
    return 1;
  }
  const std::string recorded = raw.body();
  constexpr int kParseRuns = 15;
  size_t parsed_jobs = 0;
  auto time_parse = [&](const std::function<Result<ListPage>(std::string_view)>& parse) {
    std::vector<double> ms;
    for (int i = 0; i < kParseRuns; ++i) {
      const auto t0 = Steady::now();
      auto page = parse(recorded);
      std::vector<RemoteJob> all;  // as GatewayClient::List collects them
      if (page.ok()) {
        all.reserve(page->jobs.size());
        for (auto& j : page->jobs) all.push_back(std::move(j));
      }
      ms.push_back(Seconds(Steady::now() - t0) * 1000);
      parsed_jobs = all.size();
    }
    std::sort(ms.begin(), ms.end());
    return ms;
  };
  const std::vector<double> dom_ms = time_parse(ParseListJobsResponse);
  const size_t dom_jobs = parsed_jobs;
  const std::vector<double> parse_ms = time_parse(http::ParseListAnswer);
  const double parse_median = parse_ms[parse_ms.size() / 2];
  // The whole client call for the same list, HTTP and emulator included.
  std::vector<double> list_ms;
  for (int i = 0; i < 5; ++i) {
    const auto t0 = Steady::now();
    auto l = client.List(ListOptions{"SR004", {}, 6000});
    list_ms.push_back(Seconds(Steady::now() - t0) * 1000);
    if (!l.ok() || l->size() != 6000) {
      std::fprintf(stderr, "bench_gateway: 6,000-job list failed\n");
      return 1;
    }
  }
  std::sort(list_ms.begin(), list_ms.end());
  const bool parse_ok = parse_median <= 30 && parsed_jobs == 6000 && dom_jobs == 6000;
  std::printf("\n6,000-job list answer: %.2f MB, %zu jobs parsed\n",
              static_cast<double>(recorded.size()) / 1e6, parsed_jobs);
  std::printf("  parse median of %d: %.1f ms (min %.1f, max %.1f)  target <= 30 ms  %s\n",
              kParseRuns, parse_median, parse_ms.front(), parse_ms.back(), Verdict(parse_ok));
  std::printf("  reference DOM parser (nlohmann tree, ParseListJobsResponse): median %.1f ms\n",
              dom_ms[dom_ms.size() / 2]);
  std::printf(
      "  client List over loopback (emulator builds + sends + client parses), median of "
      "5: %.1f ms\n",
      list_ms[list_ms.size() / 2]);

  // --- 3. emulator sustained requests/s ----------------------------------------
  constexpr int kThreads = 2;
  const auto sustain =
      std::chrono::duration_cast<Steady::duration>(std::chrono::duration<double>(seconds_per_op));
  std::vector<Rate> rates(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      RawLoop loop(port);
      RunFor(sustain, rates[static_cast<size_t>(t)],
             [&] { return loop.Call("GET", get_target, "") == 200; });
    });
  }
  for (auto& th : threads) th.join();
  double total = 0;
  long errors = 0;
  for (const auto& r : rates) {
    total += r.per_second();
    errors += r.errors;
  }
  const bool emu_ok = total >= 2000 && errors == 0;
  std::printf(
      "\nemulator sustained: %.0f req/s (%d keep-alive clients, GET /jobs/{name}, %.1f s)"
      "  target >= 2,000  %s\n",
      total, kThreads, seconds_per_op, Verdict(emu_ok));
  if (errors) std::printf("  errors: %ld\n", errors);

  const auto stats = server.Stats();
  std::printf("\nemulator served %llu requests, %llu jobs created\n",
              static_cast<unsigned long long>(stats["requests"].get<uint64_t>()),
              static_cast<unsigned long long>(stats["jobs_created"].get<uint64_t>()));
  server.Stop();
  std::printf("\nresult: client %s, parse %s, emulator %s\n", Verdict(client_ok), Verdict(parse_ok),
              Verdict(emu_ok));
  return 0;
}
