// mlspace-controller: makes MLSpace match the MLSpaceJob manifests committed
// in a git repository. Wiring only: flags, construction of the concrete
// seams, signals. Every rule lives in controller/reconciler.

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <prometheus/counter.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "controller/apiserver/change_log.h"
#include "controller/apiserver/handler.h"
#include "controller/apiserver/server.h"
#include "controller/backends/registry.h"
#include "controller/backends/router.h"
#include "controller/cmd/metrics_bridge.h"
#include "controller/core/build_info.h"
#include "controller/core/flags.h"
#include "controller/core/log.h"
#include "controller/core/redact.h"
#include "controller/core/secret_file.h"
#include "controller/core/time_util.h"
#include "controller/gateway/http/credentials.h"
#include "controller/gateway/http/gateway_client.h"
#include "controller/gateway/local/local_gateway.h"
#include "controller/gateway/slurm/slurm_gateway.h"
#include "controller/metrics/http_server.h"
#include "controller/metrics/metrics.h"
#include "controller/metrics/probes.h"
#include "controller/reconciler/controller.h"
#include "controller/reconciler/instance.h"
#include "controller/reconciler/marker.h"
#include "controller/source/fetch_schedule.h"
#include "controller/source/git_credentials.h"
#include "controller/source/git_manifest_writer.h"
#include "controller/source/git_remote_source.h"
#include "controller/source/git_source.h"
#include "controller/store/sqlite/sqlite_state_store.h"
#include "controller/store/store_health.h"

namespace mlspace::cmd {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;

struct Config {
  std::string manifests;
  std::string git_url;
  std::string git_ref;
  Duration git_interval = std::chrono::minutes(1);
  std::string state_dir = ".mlspace-state";
  std::string gateway = "local";
  std::string gateway_url;
  std::string backends_file;
  bool gateway_insecure = false;
  double gateway_rate = 10;
  int gateway_burst = 20;
  std::string secrets_dir;
  std::string launcher_path;
  std::string local_launcher;
  std::string slurm_config;  // --gateway=slurm
  int local_max_running = 4;
  int workers = 4;
  Duration poll_interval = seconds(30);
  Duration resync_interval = std::chrono::minutes(10);
  Duration source_poll_interval = seconds(30);
  Duration removed_retention = std::chrono::hours(24);
  Duration shutdown_grace = seconds(30);
  Duration gateway_timeout = seconds(60);
  Duration ambiguous_grace = reconciler::ReconcilerOptions().ambiguous_grace;
  Duration retry_base = reconciler::ReconcilerOptions().retry_base;
  Duration retry_cap = reconciler::ReconcilerOptions().retry_cap;
  HostPort metrics_bind{"", 8080};
  HostPort health_bind{"", 8081};
  std::string api_bind = "127.0.0.1:8081";
  std::string api_token_file;
  std::string api_tls_cert_file;
  std::string api_tls_key_file;
  int api_max_connections = apiserver::ServerLimits().max_connections;
  int api_max_connections_per_client = apiserver::ServerLimits().max_connections_per_client;
  bool prune = true;
  double prune_max_fraction = 0.5;
  std::string log_format = "text";
  std::string log_level = "info";
  std::string ports_file;
  std::string instance;
  bool check_config = false;
  std::string api_write;  // "": commit with --manifests, off with --git-url
  std::string git_author = source::kDefaultGitAuthor;
};

FlagSet MakeFlags(Config& c) {
  FlagSet f("mlspace-controller",
            "Makes Cloud.ru MLSpace match the MLSpaceJob manifests committed in a git "
            "repository:\nsubmits each job exactly once, retries failures, cancels what was "
            "removed or suspended.");
  f.String("manifests", &c.manifests, "DIR",
           "directory of MLSpaceJob manifests inside a git work tree");
  f.String("git-url", &c.git_url, "URL",
           "clone manifests from this URL instead (file://, https, ssh)");
  f.String("git-ref", &c.git_ref, "REF",
           "branch, tag or ref to follow with --git-url (default: remote HEAD)");
  f.Dur("git-interval", &c.git_interval, "how often to fetch --git-url (jittered)");
  f.String("state-dir", &c.state_dir, "DIR", "where the state store (SQLite) and local jobs live");
  f.String("gateway", &c.gateway, "local",
           "\"local\" runs jobs as local processes, \"slurm\" on Slurm (--slurm-config); ignored "
           "with --gateway-url");
  f.String("gateway-url", &c.gateway_url, "URL",
           "Gateway v2 base URL, e.g. https://api.ai.cloud.ru");
  f.String("backends", &c.backends_file, "FILE",
           "named backends (YAML, docs/backends.md) instead of --gateway/--gateway-url; "
           "manifests pick one with spec.backend");
  f.Bool("gateway-insecure", &c.gateway_insecure, "allow plain http to a non-loopback gateway");
  f.Double("gateway-rate", &c.gateway_rate, "gateway requests per second (token bucket)", 0.1,
           10000);
  f.Int("gateway-burst", &c.gateway_burst, "gateway token bucket burst", 1, 100000);
  f.Func(
      "gateway-timeout", "DURATION",
      "deadline of one gateway request: connect, send, first byte and whole answer",
      [&c](std::string_view v) -> Status {
        auto d = ParseDuration(v);
        if (!d.ok()) return d.status();
        if (*d <= Duration::zero()) return InvalidArgumentError("must be more than 0");
        c.gateway_timeout = *d;
        return OkStatus();
      },
      FormatDuration(c.gateway_timeout));
  f.String("secrets-dir", &c.secrets_dir, "DIR",
           "directory of mounted secrets: <name>/<key> for secretKeyRef, mlspace/* for gateway "
           "credentials");
  f.String("launcher-path", &c.launcher_path, "PATH",
           "mlspace-launch path as the job's container sees it (default "
           "/home/jovyan/.mlspace/bin/mlspace-launch)");
  f.String("local-launcher", &c.local_launcher, "FILE",
           "mlspace-launch binary for --gateway=local (default: next to this binary)");
  f.String("slurm-config", &c.slurm_config, "FILE",
           "Slurm backend configuration for --gateway=slurm (docs/slurm.md)");
  f.Int("local-max-running", &c.local_max_running, "local jobs running at once", 1, 1024);
  f.Int("workers", &c.workers, "concurrent reconciles", 1, 256);
  f.Dur("poll-interval", &c.poll_interval, "how often each region's job list is polled");
  f.Dur("resync-interval", &c.resync_interval, "how often every object is reconciled anyway");
  f.Dur("source-poll-interval", &c.source_poll_interval,
        "fallback poll of the manifests when no change notification came");
  f.Dur("removed-retention", &c.removed_retention, "how long removed objects stay readable");
  f.Dur("shutdown-grace", &c.shutdown_grace, "time in-flight reconciles get on SIGTERM");
  f.Dur("ambiguous-submit-grace", &c.ambiguous_grace,
        "a submit whose answer was lost is sent again (same marker) only when its marker was "
        "absent from 2 lists and this long passed (raised to 3x the list lag seen for the "
        "controller's own jobs, at most 30m)");
  f.Dur("retry-backoff-base", &c.retry_base,
        "wait before retrying a failed attempt: base*2^(failures-1), capped");
  f.Dur("retry-backoff-cap", &c.retry_cap, "the longest wait between retries of failed attempts");
  f.Address("metrics-bind-address", &c.metrics_bind, "Prometheus /metrics listener");
  f.Address("health-probe-bind-address", &c.health_bind,
            "/healthz and /readyz listener when the API is off");
  f.String("api-bind-address", &c.api_bind, "HOST:PORT",
           "Kubernetes-compatible API listener (\"off\" disables it)");
  f.String("api-token-file", &c.api_token_file, "FILE",
           "bearer tokens the API requires: kube-apiserver --token-auth-file CSV "
           "(token,user,uid[,\"groups\"]) or one bare token per line");
  f.String("api-tls-cert-file", &c.api_tls_cert_file, "FILE",
           "serve the API over https with this PEM certificate (reloaded on change)");
  f.String("api-tls-private-key-file", &c.api_tls_key_file, "FILE",
           "PEM private key of --api-tls-cert-file");
  f.Int("api-max-connections", &c.api_max_connections,
        "open API connections in all; more are answered 503 (clamped below the descriptor "
        "limit)",
        1, 1 << 20);
  f.Int("api-max-connections-per-client", &c.api_max_connections_per_client,
        "open API connections per client address; more are answered 503", 1, 1 << 20);
  f.Bool("prune", &c.prune, "cancel remote jobs of removed manifests");
  f.Double("prune-max-fraction", &c.prune_max_fraction,
           "refuse to prune more than this fraction of objects at once", 0, 1);
  // Checked after parsing rather than as Choice flags, so --check-config
  // reports a bad value together with every other problem.
  f.String("log-format", &c.log_format, "text|json", "log line format");
  f.String("log-level", &c.log_level, "debug|info|warn|error", "least severe level logged");
  f.String("ports-file", &c.ports_file, "FILE",
           "write the bound ports as JSON here (useful with port 0)");
  f.String("instance", &c.instance, "NAME",
           "this controller's identity in its jobs' markers (DNS-1123 label); recorded in the "
           "state store at first start (default: derived from --git-url, else --manifests)");
  f.String("api-write", &c.api_write, "off|commit|push",
           "what API writes (kubectl apply, patch, delete) do: commit the manifest change on the "
           "checked-out branch of --manifests, also push it (to origin, or to --git-url), or "
           "refuse them (default: commit with --manifests, off with --git-url)");
  f.String("git-author", &c.git_author, "\"NAME <EMAIL>\"",
           "author and committer of the commits API writes make");
  f.Bool("check-config", &c.check_config,
         "validate the flags, files and credentials' presence, then exit without starting: 0 "
         "when usable, else one line per problem and exit 2");
  return f;
}

// Prints the one-line error; `code` is kExitUsage for a usage error (bad
// flags, found before any work), 1 for a failure to start.
int Fail(const std::string& message, int code = 1) {
  std::fprintf(stderr, "mlspace-controller: %s\n", Redact(message).c_str());
  return code;
}

// "<context>: <message>", unless the message already begins with the
// context (the libraries name the flag or subject themselves: "--manifests
// /x: not a git work tree", "gateway credentials: ..."), or with `also`.
std::string InContext(const std::string& context, const std::string& message,
                      const std::string& also = "") {
  if (message.rfind(context, 0) == 0) return message;
  if (!also.empty() && message.rfind(also, 0) == 0) return message;
  return context + ": " + message;
}

// The local gateway's launcher: --local-launcher, else beside this binary
// (an install) or in the build tree's launcher/ folder.
std::string FindLocalLauncher(const std::string& flag) {
  if (!flag.empty()) return flag;
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return "";
  for (const fs::path& candidate :
       {self.parent_path() / "mlspace-launch",
        self.parent_path().parent_path().parent_path() / "launcher" / "mlspace-launch"}) {
    if (fs::exists(candidate, ec)) return candidate.string();
  }
  return "";
}

// --check-config: every problem a start would hit before touching the network
// or the state store, found in one pass so that a chart's rendered arguments
// (or a systemd unit) can be checked in CI against this binary. Reads files
// and the environment only; creates, locks and contacts nothing.
bool CheckConfigRequested(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view a(argv[i]);
    if (a == "--") break;
    if (a == "--check-config" || a == "-check-config" || a.starts_with("--check-config=")) {
      return a.find("=false") == std::string_view::npos;
    }
  }
  return false;
}

bool IsGitUrl(const std::string& url) {
  for (const char* scheme : {"file://", "https://", "http://", "ssh://", "git://"}) {
    if (url.starts_with(scheme)) return url.size() > std::string_view(scheme).size();
  }
  // scp-like ssh: [user@]host:path, no scheme and no slash before the colon.
  size_t colon = url.find(':');
  return url.find("://") == std::string::npos && colon != std::string::npos && colon > 0 &&
         colon + 1 < url.size() && url.find('/') > colon;
}

// The nearest existing directory at or above `path` (or "" when none).
fs::path NearestExisting(fs::path path) {
  std::error_code ec;
  path = fs::absolute(path, ec);
  while (!path.empty() && !fs::exists(path, ec)) {
    if (path == path.parent_path()) return {};
    path = path.parent_path();
  }
  return path;
}

// --api-write, defaulted by the source: commit in a local work tree, off
// for a --git-url clone (read-only unless push is asked for).
Result<source::ApiWriteMode> ResolveApiWrite(const Config& cfg) {
  if (cfg.api_write.empty()) {
    return cfg.git_url.empty() ? source::ApiWriteMode::kCommit : source::ApiWriteMode::kOff;
  }
  MLSPACE_ASSIGN_OR_RETURN(source::ApiWriteMode mode, source::ParseApiWriteMode(cfg.api_write));
  if (mode == source::ApiWriteMode::kCommit && !cfg.git_url.empty()) {
    return InvalidArgumentError(
        "--api-write=commit: a --git-url clone has no work tree to commit in; use push (or off)");
  }
  return mode;
}

// The credentials a --backends entry reads when it is made, present and
// readable (never sent anywhere): an mlspace backend's gateway credentials
// (its secretsDir alone, or the environment and --secrets-dir, as MakeMlspace
// reads them) and a slurm backend's restd.tokenFile with auth: jwt.
std::vector<std::string> CheckBackendCredentials(const backends::BackendConfig& b,
                                                 const std::string& secrets_dir) {
  std::vector<std::string> problems;
  const std::string field = b.where + ": backends[" + b.name + "]";
  if (b.type == "mlspace") {
    gateway::http::EnvLookup env = [](const std::string& name) -> std::optional<std::string> {
      const char* v = std::getenv(name.c_str());
      if (!v) return std::nullopt;
      return std::string(v);
    };
    std::string dir = secrets_dir;
    if (const YAML::Node d = b.node["secretsDir"]; d && d.IsScalar()) {
      dir = d.Scalar();
      env = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
    }
    if (auto creds = gateway::http::LoadCredentials(env, dir); !creds.ok()) {
      problems.push_back(field + ": " + creds.status().message());
    }
  } else if (b.type == "slurm") {
    auto o = gateway::slurm::ParseSlurmOptions(b.node["slurm"], b.where);
    if (o.ok() && o->restd && o->restd->auth == gateway::slurm::RestdOptions::Auth::kJwt) {
      auto token = ReadSecretFile(o->restd->token_file);
      if (!token.ok()) {
        problems.push_back(field + ".slurm.restd.tokenFile: " + token.status().message());
      } else if (token->empty()) {
        problems.push_back(field + ".slurm.restd.tokenFile: \"" + o->restd->token_file +
                           "\" is empty");
      }
    }
  }
  return problems;
}

std::vector<std::string> CheckConfig(const Config& cfg, const std::vector<std::string>& extra) {
  std::vector<std::string> problems;
  auto problem = [&problems](std::string line) { problems.push_back(std::move(line)); };
  std::error_code ec;
  for (const std::string& arg : extra) problem("unexpected argument \"" + arg + "\"");
  if (auto s = ParseLogLevel(cfg.log_level); !s.ok()) problem("--" + s.status().message());
  if (auto s = ParseLogFormat(cfg.log_format); !s.ok()) problem("--" + s.status().message());

  // The source: one of a git work tree or a remote URL.
  if (cfg.manifests.empty() == cfg.git_url.empty()) {
    problem("give exactly one of --manifests DIR or --git-url URL");
  }
  if (!cfg.manifests.empty()) {
    if (!fs::is_directory(cfg.manifests, ec) || access(cfg.manifests.c_str(), R_OK | X_OK) != 0) {
      problem("--manifests \"" + cfg.manifests + "\": not a readable directory");
    } else {
      bool in_work_tree = false;
      for (fs::path p = fs::absolute(cfg.manifests, ec); !p.empty(); p = p.parent_path()) {
        if (fs::exists(p / ".git", ec)) in_work_tree = true;
        if (in_work_tree || p == p.parent_path()) break;
      }
      if (!in_work_tree)
        problem("--manifests \"" + cfg.manifests + "\": not inside a git work tree");
    }
  }
  if (!cfg.git_url.empty() && !IsGitUrl(cfg.git_url)) {
    problem("--git-url \"" + source::RedactUrl(cfg.git_url) +
            "\": expected file://, https://, http://, ssh://, git:// or user@host:path");
  }
  if (!cfg.git_ref.empty() && cfg.git_url.empty()) problem("--git-ref needs --git-url");
  if (auto m = ResolveApiWrite(cfg); !m.ok()) problem(m.status().message());
  if (auto a = source::ParseGitAuthor(cfg.git_author); !a.ok()) problem(a.status().message());
  if (!cfg.instance.empty() && !reconciler::IsValidInstance(cfg.instance)) {
    problem("--instance \"" + cfg.instance +
            "\": expected a DNS-1123 label (1-63 of a-z, 0-9 and '-', alphanumeric at both ends)");
  }

  // Directories the controller reads or writes.
  if (!cfg.secrets_dir.empty() && !fs::is_directory(cfg.secrets_dir, ec)) {
    problem("--secrets-dir \"" + cfg.secrets_dir + "\": not a directory");
  }
  if (cfg.state_dir.empty()) {
    problem("--state-dir: empty");
  } else if (fs::exists(cfg.state_dir, ec)) {
    if (!fs::is_directory(cfg.state_dir, ec) || access(cfg.state_dir.c_str(), W_OK | X_OK) != 0) {
      problem("--state-dir \"" + cfg.state_dir + "\": not a writable directory");
    }
  } else {
    fs::path parent = NearestExisting(cfg.state_dir);
    if (parent.empty() || !fs::is_directory(parent, ec) ||
        access(parent.c_str(), W_OK | X_OK) != 0) {
      problem("--state-dir \"" + cfg.state_dir + "\": cannot be created (\"" + parent.string() +
              "\" is not writable)");
    }
  }

  // Credentials: present and readable, never checked against a server.
  if (!cfg.git_url.empty() && !cfg.secrets_dir.empty()) {
    if (auto creds = source::LoadGitCredentials(cfg.secrets_dir + "/git"); !creds.ok()) {
      problem("--secrets-dir: git credentials: " + creds.status().message());
    }
  }
  if (!cfg.backends_file.empty()) {
    // Replaces the gateway flags; each backend's settings are checked here.
    if (!cfg.gateway_url.empty()) problem("--gateway-url: not with --backends (name it there)");
    backends::TypeRegistry types;
    backends::RegisterBuiltinTypes(types);
    if (auto b = backends::LoadBackendsFile(cfg.backends_file, types); !b.ok()) {
      std::istringstream lines(b.status().message());
      for (std::string line; std::getline(lines, line);) problem(line);
    } else {
      for (const auto& backend : b->backends) {
        for (std::string& p : CheckBackendCredentials(backend, cfg.secrets_dir)) problem(p);
      }
    }
  } else if (!cfg.gateway_url.empty()) {
    if (!cfg.gateway_url.starts_with("https://") && !cfg.gateway_url.starts_with("http://")) {
      problem("--gateway-url \"" + cfg.gateway_url + "\": expected an http:// or https:// URL");
    }
    auto env = [](const std::string& name) -> std::optional<std::string> {
      const char* v = std::getenv(name.c_str());
      if (!v) return std::nullopt;
      return std::string(v);
    };
    if (auto creds = gateway::http::LoadCredentials(env, cfg.secrets_dir); !creds.ok()) {
      problem(creds.status().message());
    }
  } else if (cfg.gateway == "slurm") {
    if (cfg.slurm_config.empty()) {
      problem("--gateway=slurm: pass --slurm-config FILE");
    } else if (auto o = gateway::slurm::LoadSlurmOptionsFile(cfg.slurm_config); !o.ok()) {
      problem("--slurm-config: " + o.status().message());
    }
  } else if (cfg.gateway != "local") {
    problem("--gateway \"" + cfg.gateway +
            "\": expected \"local\" or \"slurm\" (or set --gateway-url)");
  } else {
    std::string launcher = FindLocalLauncher(cfg.local_launcher);
    if (launcher.empty() || access(launcher.c_str(), X_OK) != 0) {
      problem("--gateway=local: mlspace-launch not found or not executable" +
              (cfg.local_launcher.empty() ? std::string("; pass --local-launcher PATH")
                                          : " at \"" + cfg.local_launcher + "\""));
    }
  }

  // The API listener and its token.
  std::optional<HostPort> api_bind;
  if (cfg.api_bind != "off" && !cfg.api_bind.empty()) {
    auto hp = ParseHostPort(cfg.api_bind, "--api-bind-address");
    if (hp.ok()) {
      api_bind = *hp;
    } else {
      problem(hp.status().message());
    }
  }
  if (!cfg.api_token_file.empty()) {
    auto tokens = apiserver::TokenAuthenticator::Load(cfg.api_token_file);
    if (!tokens.ok()) problem(tokens.status().message());
  }
  const apiserver::TlsFiles tls{cfg.api_tls_cert_file, cfg.api_tls_key_file};
  if (tls.enabled()) {
    auto certs = apiserver::CertificateSource::Create(tls);
    if (!certs.ok()) problem(certs.status().message());
  }
  if (api_bind && !api_bind->IsLoopback() && (cfg.api_token_file.empty() || !tls.enabled())) {
    problem("--api-bind-address " + api_bind->ToString() +
            ": a non-loopback API needs --api-token-file and --api-tls-cert-file/"
            "--api-tls-private-key-file (kubectl sends tokens only over https)");
  }
  if (!cfg.ports_file.empty()) {
    fs::path parent = fs::absolute(cfg.ports_file, ec).parent_path();
    if (!fs::is_directory(parent, ec) || access(parent.c_str(), W_OK) != 0) {
      problem("--ports-file \"" + cfg.ports_file + "\": its directory is not writable");
    }
  }
  return problems;
}

// Prints each problem on its own line (secrets masked) and returns the exit
// code: 0 when there is none, 2 otherwise.
int ReportProblems(const std::vector<std::string>& problems) {
  for (const std::string& p : problems) {
    std::fprintf(stderr, "mlspace-controller: %s\n", Redact(p).c_str());
  }
  if (!problems.empty()) return 2;
  std::fputs("mlspace-controller: configuration OK\n", stdout);
  return 0;
}

int Run(int argc, char** argv) {
  Config cfg;
  FlagSet flags = MakeFlags(cfg);
  if (Status s = flags.Parse(argc, argv); !s.ok()) {
    if (CheckConfigRequested(argc, argv)) return ReportProblems({s.message()});
    return Fail(s.message(), kExitUsage);
  }
  if (flags.help_requested()) {
    std::fputs(flags.Help().c_str(), stdout);
    return 0;
  }
  if (flags.version_requested()) {
    std::printf("%s\n", VersionLine("mlspace-controller").c_str());
    return 0;
  }
  if (cfg.check_config) return ReportProblems(CheckConfig(cfg, flags.positional()));
  if (!flags.positional().empty()) {
    return Fail("unexpected argument \"" + flags.positional()[0] + "\" (see --help)", kExitUsage);
  }
  auto level = ParseLogLevel(cfg.log_level);
  if (!level.ok()) {
    return Fail("--log-level \"" + cfg.log_level + "\": expected one of debug|info|warn|error",
                kExitUsage);
  }
  auto format = ParseLogFormat(cfg.log_format);
  if (!format.ok()) {
    return Fail("--log-format \"" + cfg.log_format + "\": expected one of text|json", kExitUsage);
  }
  Logger::Get().SetLevel(*level);
  Logger::Get().SetFormat(*format);

  if (Status s = reconciler::CheckInstanceFlag(cfg.instance); !s.ok()) {
    return Fail(s.message(), kExitUsage);
  }
  if (cfg.manifests.empty() == cfg.git_url.empty()) {
    return Fail("give exactly one of --manifests DIR or --git-url URL", kExitUsage);
  }
  if (cfg.backends_file.empty() && cfg.gateway_url.empty() && cfg.gateway != "local" &&
      cfg.gateway != "slurm") {
    return Fail(
        "--gateway \"" + cfg.gateway + "\": expected \"local\" or \"slurm\" (or set --gateway-url)",
        kExitUsage);
  }
  auto api_write = ResolveApiWrite(cfg);
  if (!api_write.ok()) return Fail(api_write.status().message(), kExitUsage);
  auto git_author = source::ParseGitAuthor(cfg.git_author);
  if (!git_author.ok()) return Fail(git_author.status().message(), kExitUsage);
  if (!cfg.manifests.empty()) {
    std::error_code ec;
    if (!fs::is_directory(cfg.manifests, ec)) {
      return Fail("--manifests \"" + cfg.manifests + "\": not a readable directory");
    }
  }
  std::optional<HostPort> api_bind;
  if (cfg.api_bind != "off" && !cfg.api_bind.empty()) {
    auto hp = ParseHostPort(cfg.api_bind, "--api-bind-address");
    if (!hp.ok()) return Fail(hp.status().message(), kExitUsage);
    api_bind = *hp;
  }
  std::shared_ptr<const apiserver::TokenAuthenticator> api_tokens;
  if (!cfg.api_token_file.empty()) {
    auto tokens = apiserver::TokenAuthenticator::Load(cfg.api_token_file);
    if (!tokens.ok()) return Fail(tokens.status().message());
    api_tokens = std::make_shared<const apiserver::TokenAuthenticator>(std::move(tokens).value());
  }
  const apiserver::TlsFiles api_tls{cfg.api_tls_cert_file, cfg.api_tls_key_file};
  if (api_bind && !api_bind->IsLoopback() && (!api_tokens || !api_tls.enabled())) {
    return Fail("--api-bind-address " + api_bind->ToString() +
                    ": a non-loopback API needs --api-token-file and --api-tls-cert-file/"
                    "--api-tls-private-key-file (kubectl sends tokens only over https)",
                kExitUsage);
  }

  // Signals are taken by sigwait below; block them before any thread starts
  // so no worker thread receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // SIGTERM must work at any time, also while start-up waits on a slow
  // gateway or remote (Controller::Start lists every region): a thread takes
  // the signals from here on. One during start-up exits at once — the store
  // is crash-safe, so this loses no more than a SIGKILL would; one later
  // starts the graceful shutdown at the end of Run.
  struct SignalState {
    std::atomic<bool> started{false};
    std::promise<int> signalled;
  };
  auto signal_state = std::make_shared<SignalState>();
  std::thread([signals, signal_state] {
    int sig = 0;
    sigwait(&signals, &sig);
    if (!signal_state->started.load()) {
      LogInfo("shutting down during start-up", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
      std::fflush(stdout);
      std::fflush(stderr);
      std::_Exit(0);
    }
    signal_state->signalled.set_value(sig);
  }).detach();
  std::future<int> signalled = signal_state->signalled.get_future();

  const Clock& clock = SystemClock::Get();

  // One controller per state directory: the store takes a file lock.
  auto store = store::SqliteStateStore::Open(cfg.state_dir);
  if (!store.ok()) return Fail(store.status().message());

  std::unique_ptr<source::ManifestSource> source;
  std::string git_clone_dir;               // --git-url: the clone API pushes commit in
  source::GitCredentials git_credentials;  // --git-url: for fetch and push
  if (!cfg.manifests.empty()) {
    auto s = source::GitSource::Open({cfg.manifests, true});
    if (!s.ok()) return Fail(InContext("--manifests", s.status().message()));
    source = std::move(*s);
  } else {
    source::GitRemoteSource::Options o;
    o.url = cfg.git_url;
    o.ref = cfg.git_ref;
    o.state_dir = cfg.state_dir;
    if (!cfg.secrets_dir.empty()) {
      // An unreadable credential file stops the start: fetching anonymously
      // instead would only fail later with a less clear "authentication" error.
      auto creds = source::LoadGitCredentials(cfg.secrets_dir + "/git");
      if (!creds.ok()) return Fail("--secrets-dir: " + creds.status().message());
      o.credentials = *creds;
    }
    auto s = source::GitRemoteSource::Open(o);
    if (!s.ok()) return Fail(InContext("--git-url", s.status().message()));
    git_clone_dir = (*s)->checkout_dir();
    git_credentials = o.credentials;
    source = std::move(*s);
  }

  metrics::Metrics metrics;
  MetricsBridge bridge(metrics, **store);

  // API writes become commits (issue 13); null keeps the API read-only.
  std::shared_ptr<source::GitManifestWriter> writer;
  // The controller (set once constructed): told of the writer's deletes so
  // its prune guards accept them (deleting the last manifest cancels).
  auto removal_sink = std::make_shared<std::atomic<reconciler::Controller*>>(nullptr);
  if (*api_write != source::ApiWriteMode::kOff) {
    auto& commits = prometheus::BuildCounter()
                        .Name("mlspace_api_git_commits_total")
                        .Help(
                            "API writes by result: committed, pushed, unchanged, refused, "
                            "conflict, error")
                        .Register(*metrics.registry());
    for (const char* r : {"committed", "pushed", "unchanged", "refused", "conflict", "error"}) {
      commits.Add({{"result", r}});
    }
    source::GitManifestWriter::Options wo;
    wo.mode = *api_write;
    wo.author = *git_author;
    if (!cfg.manifests.empty()) {
      wo.manifests_dir = cfg.manifests;
    } else {
      wo.clone_dir = git_clone_dir;
      wo.remote_branch = cfg.git_ref == "HEAD" ? "" : cfg.git_ref;
      wo.credentials = git_credentials;
    }
    // The controller syncs the new commit at once: the local source reads
    // HEAD, the remote one the fetched ref the writer moved after its push.
    wo.on_commit = [src = source.get()] { src->Wake(); };
    wo.on_removed = [removal_sink](const ObjectKey& key, const std::string& commit) {
      if (reconciler::Controller* c = removal_sink->load()) c->NoteApiRemoval(key, commit);
    };
    wo.on_result = [&commits](std::string_view r) {
      commits.Add({{"result", std::string(r)}}).Increment();
    };
    auto w = source::GitManifestWriter::Open(std::move(wo));
    if (!w.ok()) return Fail(InContext("--api-write", w.status().message()));
    writer = std::move(*w);
  }

  std::unique_ptr<gateway::JobGateway> gateway;
  // --backends: every backend of the file behind a router; else the one
  // gateway of the flags becomes the single "default" backend (below).
  std::shared_ptr<const backends::Catalog> catalog;
  if (!cfg.backends_file.empty()) {
    if (!cfg.gateway_url.empty()) {
      return Fail("--gateway-url: not with --backends (name it there)", kExitUsage);
    }
    backends::TypeRegistry types;
    backends::RegisterBuiltinTypes(types);
    auto bc = backends::LoadBackendsFile(cfg.backends_file, types);
    if (!bc.ok()) return Fail(bc.status().message(), kExitUsage);
    catalog = std::make_shared<const backends::Catalog>(std::move(bc).value());
    backends::BuildContext ctx;
    ctx.clock = &clock;
    ctx.state_dir = cfg.state_dir;
    ctx.secrets_dir = cfg.secrets_dir;
    ctx.local_launcher = FindLocalLauncher(cfg.local_launcher);
    ctx.http_observer = [&bridge](const std::string& name) { return bridge.GatewayObserver(name); };
    std::vector<std::unique_ptr<gateway::JobGateway>> gateways;
    for (const backends::BackendConfig& b : catalog->config().backends) {
      auto g = types.Find(b.type)->make(b, ctx);
      if (!g.ok()) return Fail(InContext("--backends " + cfg.backends_file, g.status().message()));
      gateways.push_back(std::move(g).value());
    }
    gateway = std::make_unique<backends::BackendRouter>(catalog, std::move(gateways));
  } else if (!cfg.gateway_url.empty()) {
    auto env = [](const std::string& name) -> std::optional<std::string> {
      const char* v = std::getenv(name.c_str());
      if (!v) return std::nullopt;
      return std::string(v);
    };
    // Followed, not read once: fixing a wrong secret file recovers without
    // a restart (the controller pauses on 401/403 and probes until then).
    auto creds = gateway::http::CredentialFiles::Load(env, cfg.secrets_dir, clock);
    if (!creds.ok()) return Fail(InContext("gateway credentials", creds.status().message()));
    gateway::http::ClientOptions o;
    o.base_url = cfg.gateway_url;
    o.credential_files = *creds;
    o.allow_insecure = cfg.gateway_insecure;
    o.rate_per_second = cfg.gateway_rate;
    o.burst = cfg.gateway_burst;
    o.total_timeout = cfg.gateway_timeout;
    o.request_timeout = std::min(o.request_timeout, cfg.gateway_timeout);
    o.clock = &clock;
    o.observer = bridge.GatewayObserver("default");
    auto client = gateway::http::MakeGatewayClient(o);
    if (!client.ok()) {
      return Fail(InContext("--gateway-url", client.status().message()));
    }
    gateway = std::move(*client);
  } else if (cfg.gateway == "slurm") {
    if (cfg.slurm_config.empty()) return Fail("--gateway=slurm: pass --slurm-config FILE");
    auto o = gateway::slurm::LoadSlurmOptionsFile(cfg.slurm_config);
    if (!o.ok()) return Fail("--slurm-config: " + o.status().message());
    auto slurm = gateway::slurm::MakeSlurmGateway(std::move(*o));
    if (!slurm.ok()) return Fail("--gateway=slurm: " + slurm.status().message());
    gateway = std::move(*slurm);
  } else {
    gateway::LocalGatewayOptions o;
    o.state_dir = cfg.state_dir + "/local-jobs";
    o.launcher_path = FindLocalLauncher(cfg.local_launcher);
    o.max_running = cfg.local_max_running;
    if (o.launcher_path.empty()) {
      return Fail("--gateway=local: mlspace-launch not found; pass --local-launcher PATH");
    }
    auto local = gateway::LocalGateway::Create(o, clock);
    if (!local.ok()) {
      return Fail(InContext("--gateway=local", local.status().message(), "local gateway"));
    }
    gateway = std::move(*local);
  }

  if (!catalog) {
    backends::TypeRegistry types;
    backends::RegisterBuiltinTypes(types);
    catalog = std::make_shared<const backends::Catalog>(backends::SingleBackend(
        "default", cfg.gateway_url.empty() ? cfg.gateway : "mlspace", &types));
    std::vector<std::unique_ptr<gateway::JobGateway>> single;
    single.push_back(std::move(gateway));
    gateway = std::make_unique<backends::BackendRouter>(catalog, std::move(single));
  }

  // Each configured backend's gateway series exist from the start (up 1,
  // counters 0), labelled with its name.
  for (const backends::BackendConfig& b : catalog->config().backends) {
    metrics.RegisterBackend(b.name);
  }

  // Both paths above made `gateway` a BackendRouter.
  static_cast<backends::BackendRouter&>(*gateway).SetObserver(
      [&metrics](const std::string& backend, std::string_view op, std::string_view result) {
        metrics.IncBackendRequest(backend, std::string(op), std::string(result));
      });

  reconciler::ControllerOptions copts;
  copts.check_job = [catalog](const api::JobSpec& spec) { return catalog->CheckJob(spec); };
  copts.reconciler.locate = [catalog](const api::JobSpec& spec) { return catalog->Locate(spec); };
  // One GatewayHealth per backend: a 401 or Retry-After of one never pauses
  // another's requests.
  copts.backends.push_back(catalog->config().default_name);
  for (const std::string& name : catalog->config().Names()) {
    if (name != catalog->config().default_name) copts.backends.push_back(name);
  }
  copts.backend_of = [catalog](const std::string& location) {
    return catalog->BackendName(location);
  };
  copts.workers = cfg.workers;
  copts.reconciler.poll_interval = cfg.poll_interval;
  copts.resync_interval = cfg.resync_interval;
  copts.source_poll_interval = cfg.source_poll_interval;
  copts.reconciler.prune = cfg.prune;
  copts.prune_max_fraction = cfg.prune_max_fraction;
  copts.launcher_path = cfg.launcher_path;
  copts.reconciler.removed_retention = cfg.removed_retention;
  copts.shutdown_grace = cfg.shutdown_grace;
  copts.instance = cfg.instance;
  std::error_code abs_ec;
  copts.instance_source = cfg.git_url.empty()
                              ? fs::absolute(cfg.manifests, abs_ec).lexically_normal().string()
                              : cfg.git_url;
  copts.state_dir = cfg.state_dir;
  copts.source_url = cfg.manifests.empty() ? source::RedactUrl(cfg.git_url) : cfg.manifests;
  copts.source_ref = cfg.git_ref;
  copts.reconciler.ambiguous_grace = cfg.ambiguous_grace;
  copts.reconciler.retry_base = cfg.retry_base;
  copts.reconciler.retry_cap = cfg.retry_cap;

  DirectorySecretResolver secrets(cfg.secrets_dir);
  // The API serves list/get/watch from memory, fed by every committed write.
  apiserver::ChangeLog change_log;
  if (Status s = change_log.Load(**store); !s.ok()) return Fail(s.message());
  // Store failures (a full disk) are counted and turn /readyz red until a
  // write succeeds again (the "store" check below).
  store::HealthTrackingStore tracked_store(
      **store, [&metrics](std::string_view op) { metrics.IncStoreErrors(std::string(op)); });
  apiserver::ObservingStore observed_store(tracked_store, change_log);

  reconciler::ControllerDeps deps;
  deps.secrets = &secrets;
  deps.source = source.get();
  deps.gateway = gateway.get();
  deps.store = &observed_store;
  deps.clock = &clock;
  deps.reconciler_observer = &bridge;
  deps.queue_observer = &bridge;
  deps.pool_observer = &bridge;
  deps.source_observer = &bridge;
  deps.poll_observer = &bridge;  // list visibility lag
  if (!cfg.git_url.empty()) {
    // --git-interval drives the remote fetch, with backoff after failures.
    deps.fetch_delay = [interval = cfg.git_interval,
                        rng = std::make_shared<std::mt19937_64>(std::random_device{}())](int f) {
      double u = std::uniform_real_distribution<double>(0, 1)(*rng);
      return Duration(source::NextFetchDelay(
          std::chrono::duration_cast<std::chrono::milliseconds>(interval), f, u));
    };
  }
  deps.gateway_health_observer = &bridge;
  auto controller = std::make_unique<reconciler::Controller>(std::move(deps), copts);
  removal_sink->store(controller.get());

  metrics.RegisterController(reconciler::Controller::kName, cfg.workers);
  metrics.RegisterWorkqueue(reconciler::Controller::kName);
  bridge.LoadObjects();

  metrics::Probes probes;
  // "Worker not stuck": every gateway call ends by --gateway-timeout, so a
  // reconcile (a few calls of up to 5 attempts each, with backoff and
  // Retry-After waits of at most 30 s) cannot legitimately be busy with one
  // object longer than this; past it the liveness probe fails naming the
  // object, and the kubelet restarts the controller.
  const Duration stuck_after = 2 * 5 * (cfg.gateway_timeout + seconds(30)) + seconds(60);
  auto longest_busy = [&controller] {
    std::optional<std::pair<std::string, Duration>> out;
    if (auto b = controller->LongestBusyWorker()) out.emplace(b->key, b->busy_for);
    return out;
  };
  probes.AddHealthCheck(
      "workers",
      [&controller, stuck = metrics::StuckWorkerCheck(longest_busy, stuck_after)]() -> Status {
        if (controller->queue().ShuttingDown()) return UnavailableError("shutting down");
        return stuck();
      });
  probes.AddReadyCheck("controller", [&controller]() -> Status {
    std::string why;
    return controller->Ready(&why) ? OkStatus() : UnavailableError(why);
  });
  probes.AddReadyCheck("store", tracked_store.AsCheck());
  // Failing while a backend's gateway answers 401/403 (wrong or expired
  // credentials): "gateway" from flags (one backend), one "gateway:<name>"
  // per backend with --backends, so /readyz?verbose names the failing one.
  for (size_t i = 0; i < controller->gateway_health().All().size(); ++i) {
    const std::string& name = controller->gateway_health().All()[i]->name();
    probes.AddReadyCheck(catalog->config().qualified ? "gateway:" + name : "gateway",
                         [&controller, i]() -> Status {
                           if (!controller) return UnavailableError("shutting down");
                           return controller->gateway_health().All()[i]->Check();
                         });
  }

  metrics::HttpServerOptions mo;
  mo.bind_address = cfg.metrics_bind.ToString();
  if (cfg.metrics_bind.host.empty()) mo.bind_address = ":" + std::to_string(cfg.metrics_bind.port);
  mo.metrics = &metrics;
  mo.probes = &probes;
  auto metrics_server = metrics::HttpServer::Start(mo);
  if (!metrics_server.ok()) return Fail(metrics_server.status().message());
  const std::string metrics_address = BoundAddress(cfg.metrics_bind, (*metrics_server)->port());
  LogInfo("metrics listening", {{"address", metrics_address}});

  // Gauges read rather than reported: the workqueue's in-flight times (a
  // stuck reconcile shows as a growing longest_running_processor_seconds).
  // gitops_* follow the source status (MetricsBridge::OnSourceStatus).
  bridge.StartGauges({reconciler::Controller::kName, &controller->queue()}, clock, seconds(1));

  // The listeners open before Controller::Start: the API serves the stored
  // objects (and /readyz says "not synced yet") while a restart parses every
  // manifest, seconds at 10,000. /reconcile waits for Start to have run.
  std::atomic<bool> controller_started{false};
  apiserver::ApiHandler handler(
      **store, clock,
      apiserver::ControllerHooks{
          [&controller] { return !controller->queue().ShuttingDown(); },
          [&controller](std::string* why) { return controller->Ready(why); },
          [&controller, &controller_started] {
            if (controller_started.load()) controller->TriggerReconcile();
          },
          [&controller] { return controller->source_status(); },
          // Through the health check: a paused backend is not asked.
          [&controller](const std::string& job, const std::string& region, int tail) {
            return controller->checked_gateway().Logs(job, region, tail);
          }},
      [&] {
        apiserver::HandlerOptions ho{
            "", "v" + metrics::DefaultBuildInfo().version, api_tokens, {}, &change_log};
        ho.writer = writer;              // --api-write; null = read-only
        ho.job_check = copts.check_job;  // refused as a committed manifest would be
        ho.on_write = [&metrics](std::string_view verb, int code) {
          metrics.IncApiWrite(verb, code);
        };
        return ho;
      }());
  // /readyz on the API port is the probe report too (the "gateway" check).
  handler.SetReadyReport([&probes](bool verbose) {
    metrics::ProbeReport r = probes.RunReady(verbose);
    return std::make_pair(r.ok, r.body);
  });
  std::unique_ptr<apiserver::ApiServer> api_server;
  std::unique_ptr<metrics::HttpServer> probe_server;
  int api_port = 0;
  std::string api_address = "off";
  if (api_bind) {
    apiserver::ServerOptions api_options{*api_bind, 8, api_tokens ? "token-file" : "", api_tls};
    api_options.limits.max_connections = cfg.api_max_connections;
    api_options.limits.max_connections_per_client = cfg.api_max_connections_per_client;
    auto s = apiserver::ApiServer::Start(handler, api_options);
    if (!s.ok()) {
      controller->Stop();
      bridge.StopGauges();  // before `controller` goes
      return Fail(s.status().message());
    }
    api_server = std::move(*s);
    api_port = api_server->port();
    api_address = BoundAddress(*api_bind, api_port);
  } else {
    metrics::HttpServerOptions po;
    po.bind_address = cfg.health_bind.host.empty() ? ":" + std::to_string(cfg.health_bind.port)
                                                   : cfg.health_bind.ToString();
    po.flag = "--health-probe-bind-address";
    po.probes = &probes;
    auto s = metrics::HttpServer::Start(po);
    if (!s.ok()) {
      controller->Stop();
      bridge.StopGauges();  // before `controller` goes
      return Fail(s.status().message());
    }
    probe_server = std::move(*s);
  }
  if (!cfg.ports_file.empty()) {
    nlohmann::json ports{{"metrics", (*metrics_server)->port()}, {"api", api_port}};
    if (probe_server) ports["health"] = probe_server->port();
    std::string tmp = cfg.ports_file + ".tmp";
    std::ofstream(tmp) << ports.dump() << "\n";
    fs::rename(tmp, cfg.ports_file);
  }
  if (Status s = controller->Start(); !s.ok()) {
    bridge.StopGauges();  // before `controller` goes
    return Fail("start: " + s.message());
  }
  controller_started.store(true);
  LogInfo("controller started",
          {{"version", std::string(GetBuildVersion().version)},
           {"commit", std::string(GetBuildVersion().commit)},
           {"source", cfg.manifests.empty() ? cfg.git_url : cfg.manifests},
           {"gateway", !cfg.backends_file.empty() ? "--backends " + cfg.backends_file
                       : cfg.gateway_url.empty()  ? cfg.gateway
                                                  : cfg.gateway_url},
           {"stateDir", cfg.state_dir},
           {"api", api_address},
           {"metrics", metrics_address},
           {"health",
            probe_server ? BoundAddress(cfg.health_bind, probe_server->port()) : api_address}});

  signal_state->started.store(true);
  int sig = signalled.get();
  LogInfo("shutting down", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
  if (api_server) api_server->Stop();
  bool clean = controller->Stop();
  bridge.StopGauges();
  removal_sink->store(nullptr);
  controller.reset();
  LogInfo(clean ? "stopped" : "stopped; some reconciles did not finish within the grace period");
  return 0;
}

}  // namespace
}  // namespace mlspace::cmd

int main(int argc, char** argv) { return mlspace::cmd::Run(argc, argv); }
