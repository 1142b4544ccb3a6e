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

#include "controller/core/address.h"
#include "controller/core/build_info.h"
#include "controller/core/flags.h"
#include "controller/core/log.h"
#include "controller/core/secret_file.h"
#include "controller/core/time_util.h"
#include "controller/gateway/local/emulator_server.h"
#include "controller/gateway/local/local_gateway.h"
#include "controller/gateway/local/sim_gateway.h"

namespace {

using namespace mlspace;  // NOLINT: a main's wiring
namespace gw = mlspace::gateway;
namespace emu = mlspace::gateway::emulator;

constexpr const char* kSummary =
    R"(Serves the MLSpace Gateway v2 jobs API on loopback for tests, e2e runs and
benchmarks. Prints "listening on HOST:PORT" once ready; stops on SIGTERM or
SIGINT.
Fault RULE = a probability 0..1 or every:N, optionally @op+op with ops auth ping
submit list get delete restart logs (default: all jobs operations).
Control endpoints (no auth): GET|POST|DELETE /_emulator/faults (JSON object
with the --fault-* names without the prefix), GET /_emulator/stats.)";

// Flag values before they become EmulatorOptions.
struct Config {
  HostPort bind{"127.0.0.1", 0};
  std::string port_file;
  int threads = 32;
  std::string record;
  std::string log_level = "info";
  std::string log_format = "text";
  std::string client_id;
  std::string client_secret;
  std::string client_secret_file;
  std::string api_key;
  std::string api_key_file;
  std::string workspace_id;
  Duration token_ttl = std::chrono::hours(1);
  int rate_limit = 1000;
  std::string execute = "local";
  std::string state_dir = ".mlspace-emulator";
  std::string local_launcher;
  int local_max_running = 4;
  Duration kill_grace = std::chrono::seconds(10);
  Duration pending_duration = std::chrono::seconds(1);
  Duration run_duration = std::chrono::seconds(5);
};

// Flag names follow mlspace-controller's for the same things (--bind-address
// like its --*-bind-address, --local-launcher, --local-max-running); the
// emulator's earlier spellings stay as hidden aliases.
FlagSet MakeFlags(Config& c, emu::FaultConfig& faults) {
  FlagSet f("mlspace-gateway-emulator", kSummary, /*env_prefix=*/"");
  f.Section("Server");
  f.Address("bind-address", &c.bind, "where to listen; port 0 picks a free port");
  f.Alias("listen", "bind-address");
  f.String("port-file", &c.port_file, "FILE", "also write the chosen port to FILE");
  f.Int("threads", &c.threads, "HTTP worker threads", 1, 100000);
  f.String("record", &c.record, "FILE", "append every request and answer as JSON lines");
  f.Choice("log-level", &c.log_level, {"debug", "info", "warn", "error"}, "least severe log level");
  f.Choice("log-format", &c.log_format, {"text", "json"}, "log line format");
  f.Section("Auth (every jobs call needs x-workspace-id and a bearer token or x-api-key)");
  f.String("client-id", &c.client_id, "ID", "service-account id accepted by /service_auth");
  f.String("client-secret", &c.client_secret, "SECRET",
           "its secret (or --client-secret-file FILE)");
  f.String("client-secret-file", &c.client_secret_file, "FILE", "file holding the client secret");
  f.String("api-key", &c.api_key, "KEY", "x-api-key accepted instead of a token");
  f.String("api-key-file", &c.api_key_file, "FILE", "file holding the x-api-key");
  f.String("workspace-id", &c.workspace_id, "ID", "required x-workspace-id value (default: any)");
  f.Func(
      "token-ttl", "DURATION", "lifetime of issued tokens",
      [&c](std::string_view v) -> Status {
        auto d = ParseDuration(v);
        if (!d.ok() || d->count() <= 0) {
          return InvalidArgumentError("want a positive duration like 1h or 30s");
        }
        c.token_ttl = *d;
        return OkStatus();
      },
      "1h");
  f.Int("rate-limit", &c.rate_limit, "requests per minute, 429 + Retry-After beyond (0 disables)",
        0, 1000000000);
  f.Section("Backend");
  f.Choice("execute", &c.execute, {"local", "none"},
           "local: run jobs as processes through mlspace-launch; none: simulate, no processes");
  f.String("state-dir", &c.state_dir, "DIR", "local: job records and logs");
  f.String("local-launcher", &c.local_launcher, "FILE",
           "local: program run for every job (default: the mlspace-launch beside this binary, "
           "else the job's script)");
  f.Alias("launcher", "local-launcher");
  f.Int("local-max-running", &c.local_max_running, "local: jobs running at once", 1, 1000000);
  f.Alias("max-running", "local-max-running");
  f.Dur("kill-grace", &c.kill_grace, "local: SIGTERM -> SIGKILL delay on cancel");
  f.Dur("pending-duration", &c.pending_duration, "none: time a job stays pending");
  f.Dur("run-duration", &c.run_duration, "none: time a job runs");
  f.Section("Faults");
  for (const std::string& key : emu::FaultKeys()) {
    std::string placeholder = "RULE";
    std::string help = "inject this fault by RULE";
    if (key == "after-create-code") {
      placeholder = "N";
      help = "HTTP code answered by --fault-after-create (default 500)";
    } else if (key == "latency") {
      placeholder = "DURATION";
      help = "added latency, on --fault-latency-rule (default always)";
    } else if (key == "hide-polls") {
      placeholder = "N";
      help = "new jobs are missing from the next N list answers";
    } else if (key == "retry-after") {
      placeholder = "N";
      help = "Retry-After seconds sent with injected 429/503 (default 1)";
    } else if (key == "after-create") {
      help = "create the job, then answer --fault-after-create-code";
    } else if (key == "drop") {
      help = "close the connection without an answer";
    } else if (key == "drop-after-create") {
      help = "create the job, then close without an answer";
    } else if (key == "latency-rule") {
      help = "when --fault-latency applies";
    } else {
      help = "answer " + key + " by RULE";
    }
    f.Func("fault-" + key, placeholder, help,
           [&faults, key](std::string_view v) { return emu::ApplyFaultSetting(faults, key, v); });
  }
  return f;
}

int Fail(const std::string& message, int code = 1) {
  std::fprintf(stderr, "mlspace-gateway-emulator: %s\n", message.c_str());
  return code;
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
  Config cfg;
  emu::EmulatorOptions opts;
  FlagSet flags = MakeFlags(cfg, opts.faults);
  if (Status s = flags.Parse(argc, argv); !s.ok()) return Fail(s.message(), kExitUsage);
  if (flags.help_requested()) {
    std::fputs(flags.Help().c_str(), stdout);
    return 0;
  }
  if (flags.version_requested()) {
    std::printf("%s\n", VersionLine("mlspace-gateway-emulator").c_str());
    return 0;
  }
  if (!flags.positional().empty()) {
    return Fail("unexpected argument \"" + flags.positional()[0] + "\" (see --help)", kExitUsage);
  }
  Logger::Get().SetLevel(*ParseLogLevel(cfg.log_level));  // checked by the flag
  Logger::Get().SetFormat(*ParseLogFormat(cfg.log_format));

  opts.listen = cfg.bind.ToString();
  opts.record_path = cfg.record;
  opts.client_id = cfg.client_id;
  opts.client_secret = cfg.client_secret;
  opts.api_key = cfg.api_key;
  opts.workspace_id = cfg.workspace_id;
  opts.max_threads = cfg.threads;
  opts.rate_limit_per_minute = cfg.rate_limit;
  opts.token_ttl = cfg.token_ttl;
  // The controller's rule for secret files (core ReadSecretFile: edge
  // whitespace trimmed), so one key file serves both sides.
  if (!cfg.client_secret_file.empty()) {
    auto v = ReadSecretFile(cfg.client_secret_file);
    if (!v.ok()) return Fail("--client-secret-file: " + v.status().message());
    opts.client_secret = *v;
  }
  if (!cfg.api_key_file.empty()) {
    auto v = ReadSecretFile(cfg.api_key_file);
    if (!v.ok()) return Fail("--api-key-file: " + v.status().message());
    opts.api_key = *v;
  }

  std::unique_ptr<gw::JobGateway> backend;
  if (cfg.execute == "local") {
    gw::LocalGatewayOptions lo;
    lo.state_dir = cfg.state_dir;
    lo.launcher_path = cfg.local_launcher.empty() ? DefaultLauncher() : cfg.local_launcher;
    lo.max_running = cfg.local_max_running;
    lo.kill_grace = cfg.kill_grace;
    auto local = gw::LocalGateway::Create(lo);
    if (!local.ok()) return Fail(local.status().message());
    backend = std::move(local).value();
  } else {
    gw::SimGatewayOptions so;
    so.pending_duration = cfg.pending_duration;
    so.run_duration = cfg.run_duration;
    backend = std::make_unique<gw::SimulatedGateway>(so);
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
  if (!cfg.port_file.empty()) {
    const std::string& path = cfg.port_file;
    {
      std::ofstream out(path + ".tmp");
      out << server.port() << "\n";
      if (!out) return Fail("--port-file " + path + ": cannot write");
    }
    std::error_code ec;
    std::filesystem::rename(path + ".tmp", path, ec);
    if (ec) return Fail("--port-file " + path + ": cannot write: " + ec.message());
  }
  const std::string bound = BoundAddress(cfg.bind, server.port());
  std::printf("listening on %s\n", bound.c_str());
  std::fflush(stdout);
  LogInfo("emulator ready", {{"address", bound}, {"execute", cfg.execute}});
  int sig = 0;
  sigwait(&stop_signals, &sig);
  LogInfo("emulator stopping", {{"signal", std::to_string(sig)}});
  server.Stop();
  return 0;
}
