// mlspace-gateway-emulator: the Gateway v2 jobs API on loopback, backed by
// LocalGateway (real local processes) or a timer-driven simulation. Wiring
// only: flags -> options -> EmulatorServer. See docs/emulator.md.

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "controller/core/log.h"
#include "controller/core/time_util.h"
#include "controller/gateway/local/emulator_server.h"
#include "controller/gateway/local/local_gateway.h"
#include "controller/gateway/local/sim_gateway.h"

namespace {

using namespace mlspace;  // NOLINT: a main's wiring
namespace gw = mlspace::gateway;
namespace emu = mlspace::gateway::emulator;

constexpr const char* kHelp = R"(Usage: mlspace-gateway-emulator [flags]

Serves the MLSpace Gateway v2 jobs API on loopback for tests, e2e runs and
benchmarks. Prints "listening on HOST:PORT" once ready; stops on SIGTERM or
SIGINT.

Server:
  --listen HOST:PORT        bind address (default 127.0.0.1:0; 0 = any free port)
  --port-file FILE          also write the chosen port to FILE
  --threads N               HTTP worker threads (default 32)
  --record FILE             append every request and answer as JSON lines
  --log-level LEVEL         debug|info|warn|error (default info)
Auth (every jobs call needs x-workspace-id and a bearer token or x-api-key):
  --client-id ID            service-account id accepted by /service_auth
  --client-secret SECRET    its secret (or --client-secret-file FILE)
  --api-key KEY             x-api-key accepted instead of a token (or --api-key-file)
  --workspace-id ID         required x-workspace-id value (default: any)
  --token-ttl DURATION      lifetime of issued tokens (default 1h)
  --rate-limit N            requests per minute, 429 + Retry-After beyond (default
                            1000; 0 disables)
Backend:
  --execute local|none      local: run jobs as processes through mlspace-launch
                            (default); none: simulate, no processes
  --state-dir DIR           local: job records and logs (default ./.mlspace-emulator)
  --launcher PATH           local: program run for every job (default: the
                            mlspace-launch beside this binary, else the job's script)
  --max-running N           local: jobs running at once (default 4)
  --kill-grace DURATION     local: SIGTERM -> SIGKILL delay on cancel (default 10s)
  --pending-duration D      none: time a job stays pending (default 1s)
  --run-duration D          none: time a job runs (default 5s)
Faults (RULE = probability 0..1 | every:N, optionally @op+op with ops auth ping
submit list get delete restart logs; default: all jobs operations):
  --fault-429 RULE, --fault-500 RULE, --fault-502 RULE, --fault-503 RULE
  --fault-after-create RULE     create the job, then answer --fault-after-create-code
  --fault-after-create-code N   (default 500)
  --fault-latency DURATION      added latency, on --fault-latency-rule (default always)
  --fault-drop RULE             close the connection without an answer
  --fault-drop-after-create RULE  create the job, then close without an answer
  --fault-hide-polls N          new jobs are missing from the next N list answers
  --fault-retry-after SECONDS   Retry-After sent with injected 429/503 (default 1)
Control endpoints (no auth): GET|POST|DELETE /_emulator/faults (JSON object
with the --fault-* names without the prefix), GET /_emulator/stats.
)";

int Fail(const std::string& message) {
  std::fprintf(stderr, "mlspace-gateway-emulator: %s\n", message.c_str());
  return 2;
}

std::string ReadSecretFile(const std::string& path, bool& ok) {
  std::ifstream in(path);
  ok = static_cast<bool>(in);
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

std::string DefaultLauncher() {
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  const auto candidate = self.parent_path() / "mlspace-launch";
  if (std::filesystem::exists(candidate, ec)) return candidate.string();
  // Build tree: <build>/controller/cmd/.. -> <build>/launcher/mlspace-launch.
  const auto in_build =
      self.parent_path().parent_path().parent_path() / "launcher" / "mlspace-launch";
  if (std::filesystem::exists(in_build, ec)) return in_build.string();
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> flags;
  static const std::vector<std::string> kKnown = {
      "listen",      "port-file",    "threads",          "record",
      "log-level",   "client-id",    "client-secret",    "client-secret-file",
      "api-key",     "api-key-file", "workspace-id",     "token-ttl",
      "rate-limit",  "execute",      "state-dir",        "launcher",
      "max-running", "kill-grace",   "pending-duration", "run-duration"};
  emu::EmulatorOptions opts;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kHelp, stdout);
      return 0;
    }
    if (arg.rfind("--", 0) != 0) return Fail("unexpected argument \"" + arg + "\" (see --help)");
    std::string name = arg.substr(2);
    std::string value;
    const size_t eq = name.find('=');
    if (eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    } else {
      if (i + 1 >= argc) return Fail("flag --" + name + " needs a value");
      value = argv[++i];
    }
    if (name.rfind("fault-", 0) == 0) {
      const Status s = emu::ApplyFaultSetting(opts.faults, name.substr(6), value);
      if (!s.ok()) return Fail("--" + name + ": " + s.message());
      continue;
    }
    if (std::find(kKnown.begin(), kKnown.end(), name) == kKnown.end()) {
      return Fail("unknown flag --" + name + " (see --help)");
    }
    flags[name] = value;
  }
  auto get = [&](const std::string& k, const std::string& def) {
    const auto it = flags.find(k);
    return it == flags.end() ? def : it->second;
  };
  auto get_int = [&](const std::string& k, int def, int min, int& out) -> bool {
    const std::string v = get(k, std::to_string(def));
    char* end = nullptr;
    const long n = std::strtol(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0' || n < min || n > 1'000'000'000) return false;
    out = static_cast<int>(n);
    return true;
  };
  auto get_duration = [&](const std::string& k, const std::string& def, Duration& out) -> bool {
    auto d = ParseDuration(get(k, def));
    if (!d.ok()) return false;
    out = *d;
    return true;
  };

  if (flags.count("log-level")) {
    auto lvl = ParseLogLevel(flags["log-level"]);
    if (!lvl.ok()) return Fail("--log-level: " + lvl.status().message());
    Logger::Get().SetLevel(*lvl);
  }
  opts.listen = get("listen", "127.0.0.1:0");
  opts.record_path = get("record", "");
  opts.client_id = get("client-id", "");
  opts.client_secret = get("client-secret", "");
  opts.api_key = get("api-key", "");
  opts.workspace_id = get("workspace-id", "");
  bool ok = true;
  if (flags.count("client-secret-file")) {
    opts.client_secret = ReadSecretFile(flags["client-secret-file"], ok);
    if (!ok) return Fail("--client-secret-file: cannot read " + flags["client-secret-file"]);
  }
  if (flags.count("api-key-file")) {
    opts.api_key = ReadSecretFile(flags["api-key-file"], ok);
    if (!ok) return Fail("--api-key-file: cannot read " + flags["api-key-file"]);
  }
  if (!get_int("threads", 32, 1, opts.max_threads)) return Fail("--threads: want an integer >= 1");
  if (!get_int("rate-limit", 1000, 0, opts.rate_limit_per_minute)) {
    return Fail("--rate-limit: want an integer >= 0");
  }
  if (!get_duration("token-ttl", "1h", opts.token_ttl) || opts.token_ttl.count() <= 0) {
    return Fail("--token-ttl: want a positive duration like 1h or 30s");
  }

  const std::string execute = get("execute", "local");
  std::unique_ptr<gw::JobGateway> backend;
  if (execute == "local") {
    gw::LocalGatewayOptions lo;
    lo.state_dir = get("state-dir", ".mlspace-emulator");
    lo.launcher_path = flags.count("launcher") ? flags["launcher"] : DefaultLauncher();
    if (!get_int("max-running", 4, 1, lo.max_running)) {
      return Fail("--max-running: want an integer >= 1");
    }
    if (!get_duration("kill-grace", "10s", lo.kill_grace)) {
      return Fail("--kill-grace: want a duration like 10s");
    }
    auto local = gw::LocalGateway::Create(lo);
    if (!local.ok()) return Fail(local.status().message());
    backend = std::move(local).value();
  } else if (execute == "none") {
    gw::SimGatewayOptions so;
    if (!get_duration("pending-duration", "1s", so.pending_duration)) {
      return Fail("--pending-duration: want a duration like 500ms or 2s");
    }
    if (!get_duration("run-duration", "5s", so.run_duration)) {
      return Fail("--run-duration: want a duration like 5s or 1m");
    }
    backend = std::make_unique<gw::SimulatedGateway>(so);
  } else {
    return Fail("--execute: want local or none, got \"" + execute + "\"");
  }

  // Block the stop signals before any thread starts, so they are taken only
  // by sigwait below (LocalGateway unblocks them again for the jobs).
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  emu::EmulatorServer server(opts, *backend);
  if (Status s = server.Start(); !s.ok()) return Fail(s.message());
  // The port file first: whoever reads the stdout line may look for it.
  if (flags.count("port-file")) {
    const std::string path = flags["port-file"];
    {
      std::ofstream out(path + ".tmp");
      out << server.port() << "\n";
      if (!out) return Fail("--port-file: cannot write " + path);
    }
    std::error_code ec;
    std::filesystem::rename(path + ".tmp", path, ec);
    if (ec) return Fail("--port-file: cannot write " + path + ": " + ec.message());
  }
  const std::string host = opts.listen.substr(0, opts.listen.rfind(':'));
  std::printf("listening on %s:%u\n", host.empty() ? "0.0.0.0" : host.c_str(),
              static_cast<unsigned>(server.port()));
  std::fflush(stdout);
  LogInfo("emulator ready", {{"port", std::to_string(server.port())}, {"execute", execute}});
  int sig = 0;
  sigwait(&stop_signals, &sig);
  LogInfo("emulator stopping", {{"signal", std::to_string(sig)}});
  server.Stop();
  return 0;
}
