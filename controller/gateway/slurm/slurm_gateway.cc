#include "controller/gateway/slurm/slurm_gateway.h"

#include <sys/stat.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "controller/gateway/http/poco_http_transport.h"
#include "controller/gateway/launch_args.h"
#include "controller/gateway/slurm/restd_client.h"

namespace mlspace::gateway::slurm {

namespace {

constexpr std::string_view kRegionTag = "mlspace-region=";
constexpr std::string_view kTypeTag = "mlspace-instance-type=";

Error MakeError(ErrorKind kind, std::string message) {
  Error e;
  e.kind = kind;
  e.message = std::move(message);
  return e;
}

// Single-quoted for /bin/sh: nothing inside is expanded.
std::string ShellQuote(std::string_view s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'') {
      q += "'\\''";
    } else {
      q += c;
    }
  }
  q += "'";
  return q;
}

bool IsShellName(std::string_view s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

// Job ids as this gateway hands them out: digits only, which also keeps
// them safe inside output file names.
bool IsJobId(std::string_view s) {
  if (s.empty() || s.size() > 20) return false;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

std::string Trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

// Slurm's "error:" lines, joined into one line ("sbatch: error: " dropped).
std::string SlurmErrors(std::string_view err) {
  std::string out;
  std::istringstream in{std::string(err)};
  std::string line;
  while (std::getline(in, line)) {
    line = Trim(line);
    if (line.empty()) continue;
    if (auto p = line.find("error: "); p != std::string::npos) line = line.substr(p + 7);
    if (!out.empty()) out += "; ";
    out += line;
  }
  return out.size() > 1000 ? out.substr(0, 1000) + "..." : out;
}

std::string TagValue(std::string_view comment, std::string_view tag) {
  std::istringstream in{std::string(comment)};
  std::string tok;
  while (in >> tok) {
    if (tok.starts_with(tag)) return tok.substr(tag.size());
  }
  return "";
}

std::string StripTags(std::string_view comment) {
  std::istringstream in{std::string(comment)};
  std::string tok, out;
  while (in >> tok) {
    if (tok.starts_with(kRegionTag) || tok.starts_with(kTypeTag)) continue;
    if (!out.empty()) out += ' ';
    out += tok;
  }
  return out;
}

// 22.05 prints plain numbers; later versions {"set": b, "number": n}.
std::optional<int64_t> Number(const nlohmann::json& j) {
  if (j.is_number_integer()) return j.get<int64_t>();
  if (j.is_object()) {
    if (j.contains("set") && j["set"].is_boolean() && !j["set"].get<bool>()) return std::nullopt;
    if (j.contains("number") && j["number"].is_number_integer()) {
      return j["number"].get<int64_t>();
    }
  }
  return std::nullopt;
}

std::optional<TimePoint> EpochTime(const nlohmann::json& j) {
  auto n = Number(j);
  if (!n || *n <= 0) return std::nullopt;
  return TimePoint(std::chrono::seconds(*n));
}

std::string StringOr(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return "";
  if (it->is_string()) return it->get<std::string>();
  // 23.x: job_state is a list of flags, the first the base state.
  if (it->is_array() && !it->empty() && (*it)[0].is_string()) return (*it)[0].get<std::string>();
  if (it->is_number_integer()) return std::to_string(it->get<int64_t>());
  return "";
}

std::string ReadFile(const std::string& path, bool* found) {
  std::ifstream in(path, std::ios::binary);
  *found = static_cast<bool>(in);
  if (!in) return "";
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string TailLines(const std::string& text, int tail) {
  if (tail <= 0) return text;
  size_t pos = text.size();
  if (pos > 0 && text[pos - 1] == '\n') --pos;
  int lines = 0;
  while (pos > 0) {
    if (text[pos - 1] == '\n' && ++lines == tail) break;
    --pos;
  }
  return text.substr(pos);
}

}  // namespace

Outcome<SlurmJobSpec> BuildJobSpec(const SlurmOptions& opts, const SubmitRequest& req) {
  auto invalid = [&](const std::string& field, const std::string& msg) {
    Error e =
        MakeError(ErrorKind::kInvalid, "submit " + (req.label.empty() ? req.script : req.label) +
                                           ": " + field + ": " + msg);
    e.field_errors.push_back(field + ": " + msg);
    return e;
  };
  const std::string launcher = opts.launcher_path.empty() ? req.script : opts.launcher_path;
  if (launcher.empty()) return invalid("script", "empty (and no launcherPath configured)");
  const std::string region = req.region.value_or(opts.default_region);
  auto part = opts.partitions.find(region);
  if (part == opts.partitions.end()) {
    std::string known;
    for (const auto& [r, p] : opts.partitions) known += (known.empty() ? "" : ", ") + r;
    return invalid("region",
                   "\"" + region + "\" has no Slurm partition configured (known: " + known + ")");
  }
  auto type = opts.instance_types.find(req.instance_type);
  if (type == opts.instance_types.end()) {
    std::string known;
    for (const auto& [t, r] : opts.instance_types) known += (known.empty() ? "" : ", ") + t;
    return invalid(
        "instance_type",
        "\"" + req.instance_type + "\" has no Slurm resources configured (known: " + known + ")");
  }
  const int workers = req.n_workers.value_or(1);
  if (workers < 1) return invalid("n_workers", "must be at least 1");
  const std::string desc = req.job_desc.value_or("");
  if (desc.find('\n') != std::string::npos) return invalid("job_desc", "contains a newline");
  if (opts.container_runtime != ContainerRuntime::kNone && req.base_image.empty()) {
    return invalid("base_image", "required by container runtime " +
                                     std::string(ContainerRuntimeName(opts.container_runtime)));
  }

  SlurmJobSpec spec;
  spec.name = desc.substr(0, desc.find_first_of(" \t"));
  if (spec.name.empty()) spec.name = "mlspace-job";
  spec.comment = desc;
  if (!spec.comment.empty()) spec.comment += ' ';
  spec.comment.append(kRegionTag)
      .append(region)
      .append(" ")
      .append(kTypeTag)
      .append(req.instance_type);
  spec.partition = part->second;
  spec.output = opts.output_dir + "/slurm-%j.out";
  spec.workers = workers;
  spec.resources = type->second;

  std::string& s = spec.script;
  s = "#!/bin/sh\n# Written by mlspace-operator's Slurm gateway (docs/slurm.md).\n";
  s += "export MLSPACE_JOB_NAME=\"$SLURM_JOB_ID\"\n";
  for (const auto& [k, v] : req.env_variables) {
    if (!IsShellName(k)) return invalid("env_variables." + k, "not a valid variable name");
    s += "export " + k + "=" + ShellQuote(v) + "\n";
  }
  std::vector<std::string> line{opts.srun, "--kill-on-bad-exit=1"};
  const std::string image = opts.image_prefix + req.base_image;
  if (opts.container_runtime == ContainerRuntime::kPyxis) {
    line.push_back("--container-image=" + image);
  } else if (opts.container_runtime == ContainerRuntime::kApptainer) {
    line.push_back(opts.apptainer);
    line.push_back("exec");
    line.push_back(image);
  }
  line.push_back(launcher);
  for (auto& f : LaunchFlagArgs(req)) line.push_back(std::move(f));
  for (size_t i = 0; i < line.size(); ++i) {
    if (i > 0) s += " \\\n  ";
    s += ShellQuote(line[i]);
  }
  s += "\nrc=$?\n";
  // Written after srun returns (a cancelled job is killed before this), by
  // rename so a reader never sees half a line.
  const std::string exit_base = ShellQuote(opts.output_dir + "/slurm-") + "\"$SLURM_JOB_ID\"";
  s += "printf 'exit %d\\n' \"$rc\" > " + exit_base + "'.exit.tmp' && mv -f " + exit_base +
       "'.exit.tmp' " + exit_base + "'.exit'\n";
  s += "exit \"$rc\"\n";
  return spec;
}

SbatchCommand ToSbatch(const SlurmOptions& opts, const SlurmJobSpec& spec) {
  SbatchCommand cmd;
  auto& a = cmd.argv;
  a = {opts.sbatch,
       "--parsable",
       "--job-name=" + spec.name,
       "--comment=" + spec.comment,
       "--partition=" + spec.partition,
       "--output=" + spec.output};
  if (opts.worker_layout == WorkerLayout::kNode) {
    a.push_back("--nodes=" + std::to_string(spec.workers));
    a.push_back("--ntasks-per-node=1");
  } else {
    a.push_back("--ntasks=" + std::to_string(spec.workers));
  }
  const SlurmResources& res = spec.resources;
  if (res.cpus_per_task) a.push_back("--cpus-per-task=" + std::to_string(*res.cpus_per_task));
  if (!res.mem.empty()) a.push_back("--mem=" + res.mem);
  if (!res.gres.empty()) a.push_back("--gres=" + res.gres);
  for (const auto& extra : opts.extra_sbatch_args) a.push_back(extra);
  cmd.script = spec.script;
  return cmd;
}

Outcome<SbatchCommand> BuildSbatch(const SlurmOptions& opts, const SubmitRequest& req) {
  auto spec = BuildJobSpec(opts, req);
  if (!spec.ok()) return spec.error();
  return ToSbatch(opts, *spec);
}

std::string ToRestdSubmitBody(const SlurmOptions& opts, const SlurmJobSpec& spec,
                              const std::map<std::string, std::string>& environment) {
  nlohmann::json job = {
      {"name", spec.name},
      {"comment", spec.comment},
      {"partition", spec.partition},
      {"standard_output", spec.output},
      {"current_working_directory", opts.output_dir},
      {"environment", nlohmann::json::object()},
  };
  for (const auto& [k, v] : environment) job["environment"][k] = v;
  if (opts.worker_layout == WorkerLayout::kNode) {
    job["nodes"] = {spec.workers, spec.workers};
    job["tasks"] = spec.workers;
    job["tasks_per_node"] = 1;
  } else {
    job["tasks"] = spec.workers;
  }
  const SlurmResources& res = spec.resources;
  if (res.cpus_per_task) job["cpus_per_task"] = *res.cpus_per_task;
  if (!res.mem.empty()) {
    // Checked when the options were parsed (restd mode).
    if (auto mb = MemToMegabytes(res.mem)) job["memory_per_node"] = *mb;
  }
  if (!res.gres.empty()) job["gres"] = res.gres;
  for (const auto& extra : opts.extra_sbatch_args) {
    const auto eq = extra.find('=');
    const std::string opt = extra.substr(0, eq), value = extra.substr(eq + 1);
    if (opt == "--account") job["account"] = value;
    if (opt == "--qos") job["qos"] = value;
    if (opt == "--reservation") job["reservation"] = value;
    if (opt == "--constraint") job["constraints"] = value;
  }
  return nlohmann::json{{"script", spec.script}, {"job", job}}.dump();
}

RemoteStatus MapJobState(std::string_view state) {
  if (state == "PENDING" || state == "CONFIGURING" || state == "REQUEUED" ||
      state == "REQUEUE_HOLD" || state == "REQUEUE_FED" || state == "RESV_DEL_HOLD") {
    return RemoteStatus::kPending;
  }
  if (state == "RUNNING" || state == "SUSPENDED" || state == "RESIZING" || state == "STOPPED" ||
      state == "SIGNALING" || state == "STAGE_OUT") {
    return RemoteStatus::kRunning;
  }
  if (state == "COMPLETING") return RemoteStatus::kCompleting;
  if (state == "COMPLETED") return RemoteStatus::kCompleted;
  if (state == "CANCELLED") return RemoteStatus::kStopped;
  if (state == "FAILED" || state == "TIMEOUT" || state == "NODE_FAIL" || state == "PREEMPTED" ||
      state == "BOOT_FAIL" || state == "DEADLINE" || state == "OUT_OF_MEMORY" ||
      state == "REVOKED" || state == "SPECIAL_EXIT") {
    return RemoteStatus::kFailed;
  }
  return RemoteStatus::kUnknown;
}

int DecodeWaitStatus(int raw) {
  if ((raw & 0x7f) != 0) return 128 + (raw & 0x7f);
  return (raw >> 8) & 0xff;
}

Outcome<std::vector<SlurmJob>> ParseSqueueJson(std::string_view text, std::string_view source) {
  const std::string src(source);
  nlohmann::json doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return MakeError(ErrorKind::kInternal, src + ": answer is not a JSON object");
  }
  if (auto e = doc.find("errors"); e != doc.end() && e->is_array() && !e->empty()) {
    std::string msg;
    for (const auto& x : *e) {
      std::string one = x.is_object() ? StringOr(x, "error") : x.dump();
      if (one.empty()) one = x.dump();
      msg += (msg.empty() ? "" : "; ") + one;
    }
    return MakeError(ErrorKind::kUnavailable, src + ": " + msg);
  }
  auto jobs = doc.find("jobs");
  if (jobs == doc.end() || !jobs->is_array()) {
    return MakeError(ErrorKind::kInternal, src + ": no \"jobs\" array in the answer");
  }
  std::vector<SlurmJob> out;
  out.reserve(jobs->size());
  for (const auto& j : *jobs) {
    if (!j.is_object()) return MakeError(ErrorKind::kInternal, src + ": a job is not an object");
    SlurmJob sj;
    auto id = j.contains("job_id") ? Number(j["job_id"]) : std::nullopt;
    if (!id) return MakeError(ErrorKind::kInternal, src + ": a job without job_id");
    sj.id = std::to_string(*id);
    sj.name = StringOr(j, "name");
    sj.comment = StringOr(j, "comment");
    sj.state = StringOr(j, "job_state");
    sj.reason = StringOr(j, "state_reason");
    sj.partition = StringOr(j, "partition");
    if (j.contains("submit_time")) sj.submitted = EpochTime(j["submit_time"]);
    if (j.contains("start_time")) sj.started = EpochTime(j["start_time"]);
    const RemoteStatus rs = MapJobState(sj.state);
    if (IsFinished(rs)) {
      if (j.contains("end_time")) sj.ended = EpochTime(j["end_time"]);
      if (auto ec = j.find("exit_code"); ec != j.end()) {
        if (auto raw = Number(*ec)) {
          sj.exit_code = DecodeWaitStatus(static_cast<int>(*raw));
        } else if (ec->is_object()) {
          // 23.x: {"status": [...], "return_code": {...}, "signal": {"id": {...}}}
          std::optional<int64_t> sig;
          if (ec->contains("signal") && (*ec)["signal"].is_object() &&
              (*ec)["signal"].contains("id")) {
            sig = Number((*ec)["signal"]["id"]);
          }
          if (sig && *sig > 0) {
            sj.exit_code = 128 + static_cast<int>(*sig);
          } else if (ec->contains("return_code")) {
            if (auto rc = Number((*ec)["return_code"])) sj.exit_code = static_cast<int>(*rc);
          }
        }
      }
    } else if (sj.started && sj.state == "PENDING") {
      sj.started.reset();  // the scheduler's estimate, not a start
    }
    out.push_back(std::move(sj));
  }
  return out;
}

RemoteJob ToRemoteJob(const SlurmJob& job) {
  RemoteJob r;
  r.name = job.id;
  r.status = MapJobState(job.state);
  r.region = TagValue(job.comment, kRegionTag);
  r.instance_type = TagValue(job.comment, kTypeTag);
  r.job_desc = StripTags(job.comment);
  r.created = job.submitted;
  // "None" is Slurm's "no reason"; anything else says why it waits.
  if (r.status == RemoteStatus::kPending && job.reason != "None") r.pending_reason = job.reason;
  if (r.status != RemoteStatus::kPending) r.started = job.started;
  if (IsFinished(r.status)) {
    r.completed = job.ended;
    r.exit_code = job.exit_code;
  }
  return r;
}

Error MapSbatchFailure(const CommandResult& r, std::string_view what) {
  const std::string w(what);
  if (!r.started) return MakeError(ErrorKind::kUnavailable, w + ": " + r.err);
  if (r.timed_out) {
    return MakeError(ErrorKind::kAmbiguous,
                     w + ": no answer within the command timeout (killed); the job may exist");
  }
  const std::string errs = SlurmErrors(r.err);
  if (r.exit_code > 128) {
    return MakeError(ErrorKind::kAmbiguous,
                     w + ": killed by signal " + std::to_string(r.exit_code - 128) +
                         "; the job may exist" + (errs.empty() ? "" : ": " + errs));
  }
  // Transport failures: the controller was not reached (nothing happened),
  // or was reached and the answer lost (something may have happened).
  static constexpr std::string_view kUnreachable[] = {
      "Unable to contact slurm controller", "Connection refused",
      "Could not establish a configuration source", "Unable to establish controller machine"};
  static constexpr std::string_view kLost[] = {"Socket timed out", "Zero Bytes were transmitted",
                                               "Connection reset", "Broken pipe"};
  for (auto s : kLost) {
    if (r.err.find(s) != std::string::npos) {
      return MakeError(ErrorKind::kAmbiguous, w + ": " + errs + " (the job may exist)");
    }
  }
  for (auto s : kUnreachable) {
    if (r.err.find(s) != std::string::npos) {
      return MakeError(ErrorKind::kUnavailable, w + ": " + errs);
    }
  }
  Error e = MakeError(ErrorKind::kInvalid,
                      w + ": refused by Slurm: " +
                          (errs.empty() ? "exit code " + std::to_string(r.exit_code) : errs));
  if (!errs.empty()) e.field_errors.push_back("slurm: " + errs);
  return e;
}

SlurmGateway::SlurmGateway(SlurmOptions opts, std::unique_ptr<Runner> runner,
                           std::unique_ptr<http::HttpTransport> restd)
    : opts_(std::move(opts)),
      runner_(std::move(runner)),
      restd_(opts_.restd && restd
                 ? std::make_unique<RestdClient>(*opts_.restd, opts_.slurm_conf, std::move(restd))
                 : nullptr) {}

SlurmGateway::~SlurmGateway() = default;

CommandResult SlurmGateway::Run(const std::vector<std::string>& argv, const std::string& input) {
  return runner_->Run(argv, input, opts_.command_timeout);
}

Outcome<std::string> SlurmGateway::Submit(const SubmitRequest& req) {
  auto spec = BuildJobSpec(opts_, req);
  if (!spec.ok()) return spec.error();
  const std::string label = req.label.empty() ? req.script : req.label;
  if (restd_) {
    return restd_->Submit(ToRestdSubmitBody(opts_, *spec, restd_->job_environment()),
                          "slurmrestd submit " + label);
  }
  const SbatchCommand cmd = ToSbatch(opts_, *spec);
  const std::string what = "sbatch " + label;
  CommandResult r = Run(cmd.argv, cmd.script);
  if (!r.started || r.timed_out || r.exit_code != 0) return MapSbatchFailure(r, what);
  // --parsable: "<id>" or "<id>;<cluster>".
  std::string id = Trim(r.out);
  id = id.substr(0, id.find(';'));
  if (!IsJobId(id)) {
    return MakeError(
        ErrorKind::kAmbiguous,
        what + ": unexpected answer \"" + Trim(r.out).substr(0, 200) + "\"; the job may exist");
  }
  return id;
}

Outcome<std::vector<SlurmJob>> SlurmGateway::Squeue() {
  if (restd_) return restd_->Jobs();
  CommandResult r = Run({opts_.squeue, "--json"});
  if (!r.started || r.timed_out || r.exit_code != 0) {
    std::string why = !r.started    ? r.err
                      : r.timed_out ? "no answer within the command timeout"
                                    : SlurmErrors(r.err);
    if (why.empty()) why = "exit code " + std::to_string(r.exit_code);
    return MakeError(ErrorKind::kUnavailable, "squeue --json: " + why);
  }
  return ParseSqueueJson(r.out);
}

Outcome<std::vector<RemoteJob>> SlurmGateway::List(const ListOptions& lo) {
  auto jobs = Squeue();
  if (!jobs.ok()) return jobs.error();
  std::vector<RemoteJob> out;
  for (const SlurmJob& j : *jobs) {
    if (j.comment.find(kRegionTag) == std::string::npos) continue;  // not ours
    RemoteJob r = ToRemoteJob(j);
    if (!lo.region.empty() && r.region != lo.region) continue;
    if (!lo.statuses.empty() &&
        std::find(lo.statuses.begin(), lo.statuses.end(), r.status) == lo.statuses.end()) {
      continue;
    }
    out.push_back(std::move(r));
  }
  return out;
}

Outcome<std::optional<RemoteJob>> SlurmGateway::FromSacct(const std::string& id) {
  if (opts_.accounting == Accounting::kOff) return std::optional<RemoteJob>();
  if (restd_) return restd_->AccountingJob(id, opts_.accounting);
  CommandResult r = Run({opts_.sacct, "--noheader", "--parsable2", "--allocations", "--jobs=" + id,
                         "--format=JobIDRaw,State,ExitCode,Comment"});
  const bool disabled = r.err.find("accounting storage is disabled") != std::string::npos;
  if (!r.started || r.timed_out || r.exit_code != 0 || disabled) {
    if (opts_.accounting == Accounting::kAuto && (disabled || !r.started)) {
      return std::optional<RemoteJob>();
    }
    std::string why = !r.started    ? r.err
                      : r.timed_out ? "no answer within the command timeout"
                                    : SlurmErrors(r.err);
    return MakeError(ErrorKind::kUnavailable, "sacct --jobs=" + id + ": " + why);
  }
  std::istringstream in(r.out);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::string cell;
    std::istringstream ls(line);
    while (std::getline(ls, cell, '|')) f.push_back(cell);
    if (f.size() < 3 || f[0] != id) continue;
    RemoteJob job;
    job.name = id;
    const std::string state = f[1].substr(0, f[1].find(' '));  // "CANCELLED by 0"
    job.status = MapJobState(state);
    if (f.size() >= 4) {
      job.region = TagValue(f[3], kRegionTag);
      job.instance_type = TagValue(f[3], kTypeTag);
      job.job_desc = StripTags(f[3]);
    }
    if (IsFinished(job.status)) {
      // "code:signal"
      const auto colon = f[2].find(':');
      try {
        const int code = std::stoi(f[2].substr(0, colon));
        const int sig = colon == std::string::npos ? 0 : std::stoi(f[2].substr(colon + 1));
        job.exit_code = sig > 0 ? 128 + sig : code;
      } catch (const std::exception&) {
      }
    }
    return std::optional<RemoteJob>(std::move(job));
  }
  return std::optional<RemoteJob>();
}

std::optional<RemoteJob> SlurmGateway::FromExitFile(const std::string& id) const {
  const std::string path = opts_.output_dir + "/slurm-" + id + ".exit";
  bool found = false;
  const std::string text = ReadFile(path, &found);
  if (!found) return std::nullopt;
  std::istringstream in(text);
  std::string word;
  int code = -1;
  if (!(in >> word >> code) || word != "exit" || code < 0) return std::nullopt;
  RemoteJob job;
  job.name = id;
  job.status = code == 0 ? RemoteStatus::kCompleted : RemoteStatus::kFailed;
  job.exit_code = code;
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    job.completed = TimePoint(std::chrono::seconds(st.st_mtim.tv_sec));
  }
  return job;
}

Outcome<RemoteJob> SlurmGateway::Get(const std::string& job_name) {
  if (!IsJobId(job_name)) {
    return MakeError(ErrorKind::kNotFound, "slurm job \"" + job_name + "\": not a Slurm job id");
  }
  auto jobs = Squeue();
  if (!jobs.ok()) return jobs.error();
  for (const SlurmJob& j : *jobs) {
    if (j.id == job_name) return ToRemoteJob(j);
  }
  // Slurm forgot it (MinJobAge): accounting, then the exit file, then
  // whether it ever had output at all.
  auto acct = FromSacct(job_name);
  if (!acct.ok()) return acct.error();
  if (acct->has_value()) return **acct;
  if (auto from_file = FromExitFile(job_name)) return *from_file;
  struct stat st;
  if (::stat((opts_.output_dir + "/slurm-" + job_name + ".out").c_str(), &st) == 0) {
    {
      std::lock_guard lock(mu_);
      unknown_outcome_.insert(job_name);
    }
    RemoteJob job;
    job.name = job_name;
    job.status = RemoteStatus::kTerminated;
    job.completed = TimePoint(std::chrono::seconds(st.st_mtim.tv_sec));
    return job;
  }
  return MakeError(ErrorKind::kNotFound, "slurm job " + job_name +
                                             ": not in squeue, not in accounting, no output in " +
                                             opts_.output_dir);
}

Outcome<CancelResult> SlurmGateway::Cancel(const std::string& job_name, const std::string&) {
  if (!IsJobId(job_name)) return CancelResult::kNotFound;
  if (restd_) return restd_->Cancel(job_name);
  CommandResult r = Run({opts_.scancel, job_name});
  if (r.started && !r.timed_out && r.err.find("Invalid job id") != std::string::npos) {
    return CancelResult::kNotFound;
  }
  if (!r.started || r.timed_out || r.exit_code != 0) {
    std::string why = !r.started    ? r.err
                      : r.timed_out ? "no answer within the command timeout"
                                    : SlurmErrors(r.err);
    if (why.empty()) why = "exit code " + std::to_string(r.exit_code);
    return MakeError(ErrorKind::kUnavailable, "scancel " + job_name + ": " + why);
  }
  return CancelResult::kDeleted;
}

Outcome<std::string> SlurmGateway::Restart(const std::string& job_name) {
  return MakeError(ErrorKind::kInvalid,
                   "restart " + job_name + ": not supported by the slurm gateway (resubmit)");
}

Outcome<std::string> SlurmGateway::Logs(const std::string& job_name, const std::string&, int tail) {
  if (!IsJobId(job_name)) {
    return MakeError(ErrorKind::kNotFound, "slurm job \"" + job_name + "\": not a Slurm job id");
  }
  bool found = false;
  std::string text = ReadFile(opts_.output_dir + "/slurm-" + job_name + ".out", &found);
  bool unknown = false;
  {
    std::lock_guard lock(mu_);
    unknown = unknown_outcome_.contains(job_name);
  }
  if (unknown) {
    if (!text.empty() && text.back() != '\n') text += '\n';
    text += "mlspace-slurm: outcome unknown: Slurm no longer knows job " + job_name +
            " (MinJobAge passed), accounting has no record and the job left no exit file\n";
  }
  return TailLines(text, tail);
}

Result<std::unique_ptr<JobGateway>> MakeSlurmGateway(SlurmOptions opts,
                                                     std::unique_ptr<Runner> runner) {
  std::error_code ec;
  std::filesystem::create_directories(opts.output_dir, ec);
  if (ec) {
    return InvalidArgumentError("slurm outputDir " + opts.output_dir + ": " + ec.message());
  }
  if (!runner) {
    std::map<std::string, std::string> env;
    if (!opts.slurm_conf.empty()) env["SLURM_CONF"] = opts.slurm_conf;
    runner = std::make_unique<ProcessRunner>(std::move(env));
  }
  std::unique_ptr<http::HttpTransport> restd;
  if (opts.restd) {
    http::PocoTransportOptions t;
    const std::string& url = opts.restd->url;
    if (url.starts_with("unix:")) {
      t.base_url = "http://localhost";
      t.unix_socket = url.substr(5);
    } else {
      t.base_url = url;
    }
    // One exchange ends within the command timeout, like one Slurm tool.
    t.connect_timeout = std::min<Duration>(opts.command_timeout, std::chrono::seconds(10));
    t.request_timeout = opts.command_timeout;
    t.total_timeout = opts.command_timeout;
    auto made = http::PocoHttpTransport::Create(t);
    if (!made.ok()) {
      return InvalidArgumentError("slurm restd.url: " + made.status().message());
    }
    restd = std::move(*made);
  }
  return std::unique_ptr<JobGateway>(
      std::make_unique<SlurmGateway>(std::move(opts), std::move(runner), std::move(restd)));
}

}  // namespace mlspace::gateway::slurm
