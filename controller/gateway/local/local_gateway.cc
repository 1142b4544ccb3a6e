#include "controller/gateway/local/local_gateway.h"

#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include <nlohmann/json.hpp>

#include "controller/core/log.h"
#include "controller/gateway/gateway_json.h"
#include "controller/gateway/launch_args.h"

namespace mlspace::gateway {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

int64_t ToMillis(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
TimePoint FromMillis(int64_t ms) {
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(std::chrono::milliseconds(ms)));
}

std::optional<TimePoint> FileMtime(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(
      std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec)));
}

std::optional<std::string> ReadSmallFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Status WriteFileAtomically(const std::string& path, const std::string& data) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return InternalError("cannot write " + tmp + ": " + std::strerror(errno));
    out << data;
    out.flush();
    if (!out) return InternalError("cannot write " + tmp);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return InternalError("cannot rename " + tmp + ": " + std::strerror(errno));
  }
  return OkStatus();
}

// "exit N" -> N, "signal N" -> 128+N.
std::optional<int> ParseExitFile(const std::string& text) {
  std::istringstream in(text);
  std::string kind;
  int n = 0;
  if (!(in >> kind >> n)) return std::nullopt;
  if (kind == "exit") return n;
  if (kind == "signal") return 128 + n;
  return std::nullopt;
}

// The last `n` lines of a file without reading all of a large one.
Result<std::string> TailFile(const std::string& path, int n) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return std::string();  // no output yet
  const std::streamoff size = in.tellg();
  if (n <= 0) {
    in.seekg(0);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  constexpr std::streamoff kBlock = 64 * 1024;
  std::string buf;
  std::streamoff pos = size;
  while (pos > 0) {
    const std::streamoff len = std::min(kBlock, pos);
    pos -= len;
    std::string block(static_cast<size_t>(len), '\0');
    in.seekg(pos);
    in.read(block.data(), len);
    buf.insert(0, block);
    // A trailing newline ends the last line rather than starting another.
    size_t lines = 0;
    size_t end = buf.size();
    if (end > 0 && buf[end - 1] == '\n') --end;
    for (size_t i = 0; i < end; ++i) lines += buf[i] == '\n';
    if (static_cast<int>(lines) >= n) break;
  }
  size_t end = buf.size();
  if (end > 0 && buf[end - 1] == '\n') --end;
  int seen = 0;
  for (size_t i = end; i > 0; --i) {
    if (buf[i - 1] == '\n' && ++seen == n) return buf.substr(i);
  }
  return buf;
}

// Writes a decimal to a buffer without allocating (used after fork).
size_t FormatInt(char* out, long v) {
  char tmp[24];
  size_t len = 0;
  const bool neg = v < 0;
  unsigned long u = neg ? static_cast<unsigned long>(-v) : static_cast<unsigned long>(v);
  do {
    tmp[len++] = static_cast<char>('0' + u % 10);
    u /= 10;
  } while (u != 0);
  size_t pos = 0;
  if (neg) out[pos++] = '-';
  while (len > 0) out[pos++] = tmp[--len];
  return pos;
}

void WriteAll(int fd, const char* data, size_t len) {
  while (len > 0) {
    const ssize_t w = ::write(fd, data, len);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    data += w;
    len -= static_cast<size_t>(w);
  }
}

// Async-signal-safe write-then-rename, for the supervisor after fork.
void WriteFileRaw(const char* tmp, const char* path, const char* data, size_t len) {
  const int fd = ::open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  WriteAll(fd, data, len);
  ::fsync(fd);
  ::close(fd);
  ::rename(tmp, path);
}

void ResetSignals() {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    signal(sig, SIG_DFL);
  }
}

std::string HexId(std::mt19937_64& rng) {
  static constexpr char kHex[] = "0123456789abcdef";
  uint64_t v = rng();
  std::string s(16, '0');
  for (int i = 15; i >= 0; --i) {
    s[static_cast<size_t>(i)] = kHex[v & 0xf];
    v >>= 4;
  }
  return s;
}

// What a local job inherits from the controller: PATH, HOME, LANG and USER
// (defaults when the controller has none), nothing else.
std::map<std::string, std::string> MinimalJobEnv() {
  std::map<std::string, std::string> env;
  for (const char* name : kLocalJobBaseEnv) {
    if (const char* value = std::getenv(name); value != nullptr) env[name] = value;
  }
  if (!env.contains("PATH")) env["PATH"] = "/usr/local/bin:/usr/bin:/bin";
  if (!env.contains("LANG")) env["LANG"] = "C.UTF-8";
  if (!env.contains("HOME") || !env.contains("USER")) {
    // getpwuid_r: the gateway is multi-threaded.
    struct passwd pw {};
    struct passwd* found = nullptr;
    std::vector<char> buf(16384);
    if (::getpwuid_r(::getuid(), &pw, buf.data(), buf.size(), &found) == 0 && found != nullptr) {
      if (!env.contains("HOME")) env["HOME"] = pw.pw_dir;
      if (!env.contains("USER")) env["USER"] = pw.pw_name;
    }
  }
  return env;
}

// The request as the record on disk keeps it: env_variables carry secret
// values (secretKeyRef, file contents, SSH keys), which reach the process
// but never the file.
json RecordedRequest(const SubmitRequest& req) {
  json j = SubmitRequestToJson(req);
  if (auto it = j.find("env_variables"); it != j.end() && it->is_object()) {
    for (auto& [name, value] : it->items()) value = std::string(kMaskedValue);
  }
  return j;
}

Error MakeError(ErrorKind kind, std::string message) {
  Error e;
  e.kind = kind;
  e.message = std::move(message);
  return e;
}

}  // namespace

struct LocalGateway::Job {
  std::string name;
  uint64_t seq = 0;
  SubmitRequest req;
  std::string region;
  RemoteStatus status = RemoteStatus::kPending;
  TimePoint created;
  std::optional<TimePoint> started;
  std::optional<TimePoint> completed;
  int pid = 0;             // process group of the job
  int supervisor_pid = 0;  // the monitor that writes `exit`
  bool cancel_requested = false;
  std::optional<TimePoint> kill_at;
  bool killed = false;
  std::optional<int> exit_code;
  std::string note;  // why a job failed without running (spawn errors)
  // Loaded from a record: the env_variables values were masked on disk, so
  // the job cannot be started (or restarted) with them any more.
  bool env_values_lost = false;
};

LocalGateway::LocalGateway(LocalGatewayOptions opts, const Clock& clock)
    : opts_(std::move(opts)), clock_(clock) {}

Result<std::unique_ptr<LocalGateway>> LocalGateway::Create(LocalGatewayOptions opts,
                                                           const Clock& clock) {
  if (opts.state_dir.empty()) return InvalidArgumentError("local gateway: state_dir is empty");
  if (opts.max_running < 1) {
    return InvalidArgumentError("local gateway: max_running must be >= 1");
  }
  std::unique_ptr<LocalGateway> gw(new LocalGateway(std::move(opts), clock));
  MLSPACE_RETURN_IF_ERROR(gw->Load());
  gw->thread_ = std::thread([g = gw.get()] { g->Loop(); });
  return gw;
}

LocalGateway::~LocalGateway() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::string LocalGateway::JobDir(const std::string& name) const {
  return opts_.state_dir + "/jobs/" + name;
}

Status LocalGateway::Load() {
  std::error_code ec;
  const fs::path root = fs::path(opts_.state_dir) / "jobs";
  fs::create_directories(root, ec);
  if (ec)
    return InternalError("local gateway: cannot create " + root.string() + ": " + ec.message());
  std::vector<std::unique_ptr<Job>> loaded;
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    if (!entry.is_directory()) continue;
    const std::string file = (entry.path() / "job.json").string();
    auto text = ReadSmallFile(file);
    if (!text) continue;  // a job whose first write never completed
    auto job = std::make_unique<Job>();
    try {
      const json j = json::parse(*text);
      job->name = j.at("name").get<std::string>();
      job->seq = j.at("seq").get<uint64_t>();
      auto req = SubmitRequestFromJson(j.at("request"));
      if (!req.ok()) return req.status().WithContext(file);
      job->req = std::move(req).value();
      job->env_values_lost = !job->req.env_variables.empty();
      job->region = j.at("region").get<std::string>();
      job->status = ParseRemoteStatus(j.at("status").get<std::string>());
      job->created = FromMillis(j.at("created_ms").get<int64_t>());
      if (j.contains("started_ms")) job->started = FromMillis(j["started_ms"].get<int64_t>());
      if (j.contains("completed_ms")) job->completed = FromMillis(j["completed_ms"].get<int64_t>());
      job->pid = j.value("pid", 0);
      job->supervisor_pid = j.value("supervisor_pid", 0);
      job->cancel_requested = j.value("cancel_requested", false);
      if (j.contains("kill_at_ms")) job->kill_at = FromMillis(j["kill_at_ms"].get<int64_t>());
      job->killed = j.value("killed", false);
      if (j.contains("exit_code")) job->exit_code = j["exit_code"].get<int>();
      job->note = j.value("note", "");
    } catch (const json::exception& e) {
      return DataLossError("local gateway: " + file + ": " + e.what());
    }
    // Crashed between forking the job and recording it: the supervisor's
    // pid file tells that the job did start, so it must not start twice.
    if (job->status == RemoteStatus::kPending) {
      if (auto pids = ReadSmallFile(JobDir(job->name) + "/pid")) {
        std::istringstream in(*pids);
        if (in >> job->pid >> job->supervisor_pid) {
          job->status = RemoteStatus::kRunning;
          job->started = FileMtime(JobDir(job->name) + "/pid");
        }
      }
    }
    if (job->status == RemoteStatus::kPending && job->env_values_lost) {
      // Its secret values were never written down: starting it with "***"
      // would run the wrong job. Failed, so the controller submits anew.
      job->status = RemoteStatus::kFailed;
      job->completed = clock_.Now();
      job->note =
          "the job was pending when the gateway stopped; its env_variables values are not "
          "kept on disk, so it cannot start (submit it again)";
      if (Status s = PersistLocked(*job); !s.ok()) return s;
    }
    seq_ = std::max(seq_, job->seq);
    loaded.push_back(std::move(job));
  }
  if (ec) return InternalError("local gateway: cannot read " + root.string() + ": " + ec.message());
  std::sort(loaded.begin(), loaded.end(),
            [](const auto& a, const auto& b) { return a->seq < b->seq; });
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& job : loaded) {
    order_.push_back(job->name);
    jobs_[job->name] = std::move(job);
  }
  PollLocked();
  return OkStatus();
}

Status LocalGateway::PersistLocked(const Job& job) {
  json j;
  j["name"] = job.name;
  j["seq"] = job.seq;
  j["request"] = RecordedRequest(job.req);
  j["region"] = job.region;
  j["status"] = std::string(RemoteStatusName(job.status));
  j["created_ms"] = ToMillis(job.created);
  if (job.started) j["started_ms"] = ToMillis(*job.started);
  if (job.completed) j["completed_ms"] = ToMillis(*job.completed);
  if (job.pid) j["pid"] = job.pid;
  if (job.supervisor_pid) j["supervisor_pid"] = job.supervisor_pid;
  if (job.cancel_requested) j["cancel_requested"] = true;
  if (job.kill_at) j["kill_at_ms"] = ToMillis(*job.kill_at);
  if (job.killed) j["killed"] = true;
  if (job.exit_code) j["exit_code"] = *job.exit_code;
  if (!job.note.empty()) j["note"] = job.note;
  return WriteFileAtomically(JobDir(job.name) + "/job.json", j.dump(2) + "\n");
}

std::string LocalGateway::NewName() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  while (true) {
    std::string name = "lj-" + HexId(rng);
    std::error_code ec;
    if (jobs_.count(name) == 0 && !fs::exists(JobDir(name), ec)) return name;
  }
}

Outcome<std::string> LocalGateway::Submit(const SubmitRequest& req) {
  if (req.script.empty() && opts_.launcher_path.empty()) {
    Error e = MakeError(ErrorKind::kInvalid, "submit: script is empty");
    e.field_errors.push_back("body.script: field required");
    return e;
  }
  std::unique_lock<std::mutex> lock(mu_);
  auto job = std::make_unique<Job>();
  job->name = NewName();
  job->seq = ++seq_;
  job->req = req;
  job->region = req.region.value_or(opts_.default_region);
  job->created = clock_.Now();
  std::error_code ec;
  fs::create_directories(JobDir(job->name), ec);
  if (ec) {
    return MakeError(ErrorKind::kUnavailable,
                     "submit: cannot create " + JobDir(job->name) + ": " + ec.message());
  }
  if (Status s = PersistLocked(*job); !s.ok()) {
    return MakeError(ErrorKind::kUnavailable, "submit: " + s.message());
  }
  std::string name = job->name;
  order_.push_back(name);
  jobs_[name] = std::move(job);
  PollLocked();  // start it now when a slot is free
  return name;
}

Status LocalGateway::StartLocked(Job& job) {
  const std::string dir = JobDir(job.name);
  const std::string exe = opts_.launcher_path.empty() ? job.req.script : opts_.launcher_path;
  // Everything the children need is prepared here: after fork only
  // async-signal-safe calls are made (the parent may be multi-threaded).
  std::vector<std::string> args{exe};
  for (auto& a : LaunchFlagArgs(job.req)) args.push_back(std::move(a));
  // A clean environment, as a job on MLSpace gets: never the controller's
  // own (MLSPACE_CLIENT_SECRET, the API key, ...).
  std::map<std::string, std::string> env = MinimalJobEnv();
  for (const auto& [k, v] : job.req.env_variables) env[k] = v;
  env["MLSPACE_JOB_NAME"] = job.name;
  std::vector<std::string> env_strings;
  env_strings.reserve(env.size());
  for (const auto& [k, v] : env) {
    std::string kv = k;
    kv.append("=").append(v);
    env_strings.push_back(std::move(kv));
  }
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  envp.reserve(env_strings.size() + 1);
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  const std::string log_path = dir + "/output.log";
  const std::string exit_path = dir + "/exit";
  const std::string exit_tmp = dir + "/exit.tmp";
  const std::string pid_path = dir + "/pid";
  const std::string pid_tmp = dir + "/pid.tmp";
  const char* exec_failed = "mlspace local gateway: cannot execute the job's program\n";

  const int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) return InternalError("cannot open " + log_path + ": " + std::strerror(errno));
  const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  int pipe_fds[2] = {-1, -1};
  if (null_fd < 0 || ::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    const std::string err = std::strerror(errno);
    ::close(log_fd);
    if (null_fd >= 0) ::close(null_fd);
    return InternalError("cannot create a pipe: " + err);
  }
  const pid_t intermediate = ::fork();
  if (intermediate < 0) {
    const std::string err = std::strerror(errno);
    ::close(log_fd);
    ::close(null_fd);
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    return UnavailableError("fork failed: " + err);
  }
  if (intermediate == 0) {
    // Intermediate: a new session, then the supervisor, then exit so the
    // supervisor is re-parented and never becomes our zombie.
    ::setsid();
    const pid_t supervisor = ::fork();
    if (supervisor != 0) ::_exit(supervisor < 0 ? 1 : 0);
    ResetSignals();
    ::dup2(null_fd, 0);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    const pid_t child = ::fork();
    if (child == 0) {
      ::setpgid(0, 0);
      if (::chdir(dir.c_str()) != 0) ::_exit(127);
      ::close_range(3, ~0U, 0);
      ::execvpe(argv[0], argv.data(), envp.data());
      WriteAll(2, exec_failed, std::strlen(exec_failed));
      ::_exit(127);
    }
    if (child < 0) ::_exit(1);
    ::setpgid(child, child);
    char buf[64];
    size_t len = FormatInt(buf, child);
    buf[len++] = ' ';
    len += FormatInt(buf + len, ::getpid());
    buf[len++] = '\n';
    WriteFileRaw(pid_tmp.c_str(), pid_path.c_str(), buf, len);
    const int pids[2] = {child, ::getpid()};
    WriteAll(pipe_fds[1], reinterpret_cast<const char*>(pids), sizeof(pids));
    ::close_range(3, ~0U, 0);
    int wstatus = 0;
    while (::waitpid(child, &wstatus, 0) < 0 && errno == EINTR) {
    }
    if (WIFSIGNALED(wstatus)) {
      // `buf` is written with an explicit length, never read as a C string.
      std::memcpy(buf, "signal ", 7);  // NOLINT(bugprone-not-null-terminated-result)
      len = 7 + FormatInt(buf + 7, WTERMSIG(wstatus));
    } else {
      std::memcpy(buf, "exit ", 5);  // NOLINT(bugprone-not-null-terminated-result)
      len = 5 + FormatInt(buf + 5, WEXITSTATUS(wstatus));
    }
    buf[len++] = '\n';
    WriteFileRaw(exit_tmp.c_str(), exit_path.c_str(), buf, len);
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  ::close(log_fd);
  ::close(null_fd);
  while (::waitpid(intermediate, nullptr, 0) < 0 && errno == EINTR) {
  }
  int pids[2] = {0, 0};
  size_t got = 0;
  while (got < sizeof(pids)) {
    const ssize_t r = ::read(pipe_fds[0], reinterpret_cast<char*>(pids) + got, sizeof(pids) - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += static_cast<size_t>(r);
  }
  ::close(pipe_fds[0]);
  if (got != sizeof(pids)) return InternalError("the job's supervisor did not start");
  job.pid = pids[0];
  job.supervisor_pid = pids[1];
  job.status = RemoteStatus::kRunning;
  job.started = clock_.Now();
  LogInfo("local job started", {{"job", job.name}, {"pid", std::to_string(job.pid)}});
  return PersistLocked(job);
}

void LocalGateway::PollLocked() {
  const TimePoint now = clock_.Now();
  int running = 0;
  for (const auto& name : order_) {
    Job& job = *jobs_[name];
    if (job.status != RemoteStatus::kRunning) continue;
    const std::string exit_path = JobDir(name) + "/exit";
    auto text = ReadSmallFile(exit_path);
    if (!text) {
      if (job.supervisor_pid > 0 && ::kill(job.supervisor_pid, 0) != 0 && errno == ESRCH) {
        text = ReadSmallFile(exit_path);  // it may have finished in between
        if (!text) {
          job.status = RemoteStatus::kFailed;
          job.completed = now;
          job.note = "the job's supervisor vanished without recording an outcome";
          (void)PersistLocked(job);
          continue;
        }
      } else {
        if (job.cancel_requested && job.kill_at && now >= *job.kill_at && !job.killed) {
          ::kill(-job.pid, SIGKILL);
          job.killed = true;
          (void)PersistLocked(job);
        }
        ++running;
        continue;
      }
    }
    job.exit_code = ParseExitFile(*text);
    job.completed = FileMtime(exit_path).value_or(now);
    if (job.cancel_requested) {
      job.status = RemoteStatus::kStopped;
    } else {
      job.status = job.exit_code == 0 ? RemoteStatus::kCompleted : RemoteStatus::kFailed;
    }
    LogInfo("local job ended", {{"job", name},
                                {"status", std::string(RemoteStatusName(job.status))},
                                {"exitCode", std::to_string(job.exit_code.value_or(-1))}});
    (void)PersistLocked(job);
  }
  for (const auto& name : order_) {
    if (running >= opts_.max_running) break;
    Job& job = *jobs_[name];
    if (job.status != RemoteStatus::kPending) continue;
    if (Status s = StartLocked(job); !s.ok()) {
      job.status = RemoteStatus::kFailed;
      job.completed = now;
      job.note = s.message();
      LogWarn("local job failed to start", {{"job", name}, {"error", s.message()}});
      (void)PersistLocked(job);
      continue;
    }
    ++running;
  }
}

void LocalGateway::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    PollLocked();
    const TimePoint deadline = clock_.Now() + opts_.poll_interval;
    while (!stop_ && clock_.Now() < deadline) clock_.WaitUntil(cv_, lock, deadline);
  }
}

void LocalGateway::PollNow() {
  std::lock_guard<std::mutex> lock(mu_);
  PollLocked();
}

RemoteJob LocalGateway::ToRemote(const Job& job) const {
  RemoteJob r;
  r.name = job.name;
  r.status = job.status;
  r.region = job.region;
  r.job_desc = job.req.job_desc.value_or("");
  r.instance_type = job.req.instance_type;
  r.created = job.created;
  r.started = job.started;
  r.completed = job.completed;
  r.exit_code = job.exit_code;
  return r;
}

Outcome<RemoteJob> LocalGateway::Get(const std::string& job_name) {
  std::lock_guard<std::mutex> lock(mu_);
  const auto it = jobs_.find(job_name);
  if (it == jobs_.end())
    return MakeError(ErrorKind::kNotFound, "get " + job_name + ": job not found");
  return ToRemote(*it->second);
}

Outcome<std::vector<RemoteJob>> LocalGateway::List(const ListOptions& opts) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<RemoteJob> out;
  for (const auto& name : order_) {
    const Job& job = *jobs_.at(name);
    if (!opts.region.empty() && job.region != opts.region) continue;
    if (!opts.statuses.empty() &&
        std::find(opts.statuses.begin(), opts.statuses.end(), job.status) == opts.statuses.end()) {
      continue;
    }
    out.push_back(ToRemote(job));
  }
  return out;
}

Outcome<CancelResult> LocalGateway::Cancel(const std::string& job_name, const std::string& region) {
  std::lock_guard<std::mutex> lock(mu_);
  const auto it = jobs_.find(job_name);
  if (it == jobs_.end() || (!region.empty() && it->second->region != region)) {
    return CancelResult::kNotFound;
  }
  Job& job = *it->second;
  if (job.status == RemoteStatus::kPending) {
    job.status = RemoteStatus::kStopped;
    job.cancel_requested = true;
    job.completed = clock_.Now();
  } else if (job.status == RemoteStatus::kRunning && !job.cancel_requested) {
    job.cancel_requested = true;
    job.kill_at = clock_.Now() + opts_.kill_grace;
    if (job.pid > 0) ::kill(-job.pid, SIGTERM);
  } else {
    return CancelResult::kDeleted;
  }
  if (Status s = PersistLocked(job); !s.ok()) {
    LogWarn("local job record not saved", {{"job", job_name}, {"error", s.message()}});
  }
  cv_.notify_all();
  return CancelResult::kDeleted;
}

Outcome<std::string> LocalGateway::Restart(const std::string& job_name) {
  SubmitRequest req;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const auto it = jobs_.find(job_name);
    if (it == jobs_.end()) {
      return MakeError(ErrorKind::kNotFound, "restart " + job_name + ": job not found");
    }
    if (it->second->env_values_lost) {
      return MakeError(ErrorKind::kInvalid,
                       "restart " + job_name +
                           ": its env_variables values are not kept on disk across a restart of "
                           "the gateway; submit the job again");
    }
    req = it->second->req;
  }
  return Submit(req);
}

Outcome<std::string> LocalGateway::Logs(const std::string& job_name, const std::string& region,
                                        int tail) {
  std::string path;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const auto it = jobs_.find(job_name);
    if (it == jobs_.end() || (!region.empty() && it->second->region != region)) {
      return MakeError(ErrorKind::kNotFound, "logs " + job_name + ": job not found");
    }
    path = JobDir(job_name) + "/output.log";
    if (!it->second->note.empty() && !it->second->started) {
      return it->second->note + "\n";
    }
  }
  auto text = TailFile(path, tail);
  if (!text.ok())
    return MakeError(ErrorKind::kUnavailable, "logs " + job_name + ": " + text.status().message());
  return std::move(text).value();
}

std::optional<SubmitRequest> LocalGateway::Request(const std::string& job_name) const {
  std::lock_guard<std::mutex> lock(mu_);
  const auto it = jobs_.find(job_name);
  if (it == jobs_.end()) return std::nullopt;
  return it->second->req;
}

std::optional<int> LocalGateway::ExitCode(const std::string& job_name) const {
  std::lock_guard<std::mutex> lock(mu_);
  const auto it = jobs_.find(job_name);
  if (it == jobs_.end()) return std::nullopt;
  return it->second->exit_code;
}

}  // namespace mlspace::gateway
