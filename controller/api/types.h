#pragma once

// The MLSpaceJob resource as the controller sees it after parsing,
// defaulting and validation (see crd/mlspace.io_mlspacejobs.yaml, the single
// source of truth for the schema). Plain data; no behaviour, no I/O.

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "controller/core/clock.h"
#include "controller/core/object_key.h"

namespace mlspace::api {

inline constexpr char kGroup[] = "mlspace.io";
inline constexpr char kVersion[] = "v1alpha1";
inline constexpr char kApiVersion[] = "mlspace.io/v1alpha1";
inline constexpr char kKind[] = "MLSpaceJob";
inline constexpr char kPlural[] = "mlspacejobs";
inline constexpr char kPruneAnnotation[] = "mlspace.io/prune";  // "disabled" opts out

struct SecretKeyRef {
  std::string name;  // DIR/<name>/<key> under --secrets-dir
  std::string key;
  bool operator==(const SecretKeyRef&) const = default;
};

struct EnvVar {
  std::string name;
  std::optional<std::string> value;            // exactly one of value and
  std::optional<SecretKeyRef> secret_key_ref;  // secret_key_ref is set
  bool operator==(const EnvVar&) const = default;
};

// Limits of spec.files (launchspec/launch_spec.h has the same values; the
// launcher checks them again): one file, one secret file, all files, count.
inline constexpr size_t kMaxSpecFileBytes = 512 << 10;
inline constexpr size_t kMaxSpecSecretFileBytes = 64 << 10;
inline constexpr size_t kMaxSpecFilesTotalBytes = 512 << 10;
inline constexpr size_t kMaxSpecFiles = 64;
// Env names a job may not use: the carriers of secret file contents.
inline constexpr char kSecretFileEnvPrefix[] = "MLSPACE_SECRET_FILE_";

// spec.files[]: a file mlspace-launch writes before the command starts.
struct JobFile {
  std::string path;                    // relative (to workingDir), "~/..." or absolute under home
  std::optional<std::string> content;  // exactly one of content and
  std::optional<SecretKeyRef> secret_key_ref;  // secret_key_ref is set
  std::optional<int> mode;                     // permission bits; unset = 0644
  bool operator==(const JobFile&) const = default;
};

struct HealthCheck {
  int log_period_minutes = 0;  // 20..720
  std::string action;          // "delete" | "restart" | "" (notify only)
  bool notify = false;         // sub_actions: [notify]
  bool operator==(const HealthCheck&) const = default;
};

enum class SpecChangePolicy { kReplace, kIgnore };

struct RunPolicy {
  int backoff_limit = 3;
  std::optional<int64_t> active_deadline_seconds;
  bool suspend = false;
  SpecChangePolicy on_spec_change = SpecChangePolicy::kReplace;
  bool operator==(const RunPolicy&) const = default;
};

struct JobSpec {
  std::string region;  // ModelTrainingRegion, e.g. SR006
  std::string image;   // base_image
  std::string instance_type;
  int workers = 1;                          // n_workers
  std::optional<int> processes_per_worker;  // unset = gateway "default"
  std::string type = "binary";              // Gateway JobType
  std::vector<std::string> command;         // command[0] is the executable
  std::string working_dir;                  // empty = launcher's cwd
  std::vector<EnvVar> env;
  std::optional<std::string> priority_class;  // JobPriority
  std::optional<bool> internet;
  std::string queue;       // queue_name, optional
  std::string allocation;  // allocation_name, optional
  std::optional<HealthCheck> health_check;
  std::optional<int> max_retry;              // gateway-side retries, 3..100
  std::optional<std::string> launcher_path;  // overrides --launcher-path
  std::vector<JobFile> files;                // spec.files, written at start
  bool ssh_ephemeral_keys = false;           // spec.ssh.ephemeralKeys
  // Names a configured backend (--backends); empty = the default one.
  std::string backend;
  RunPolicy run_policy;
  bool operator==(const JobSpec&) const = default;
};

struct ObjectMeta {
  std::string name;
  std::string namespace_name = "default";
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  bool operator==(const ObjectMeta&) const = default;
};

struct MLSpaceJob {
  ObjectMeta metadata;
  JobSpec spec;
  // Lowercase hex SHA-256 of the canonical JSON of the defaulted spec
  // (suspend excluded, so suspending does not start a new generation).
  // The first 8 characters go into the submit marker.
  std::string spec_hash;
  std::string source_path;  // file, relative to the manifests directory

  ObjectKey key() const { return ObjectKey{metadata.namespace_name, metadata.name}; }
};

enum class Phase {
  kPending,
  kSubmitted,
  kRunning,
  kSucceeded,
  kFailed,
  kSuspended,
  kRemoved,
  kInvalid,
};

std::string_view PhaseName(Phase phase);  // "Pending", "Submitted", ...
std::optional<Phase> ParsePhase(std::string_view name);
inline bool IsTerminal(Phase p) { return p == Phase::kSucceeded || p == Phase::kFailed; }

// Condition types (metav1.Condition.type).
inline constexpr char kCondAccepted[] = "Accepted";
inline constexpr char kCondSubmitted[] = "Submitted";
inline constexpr char kCondRunning[] = "Running";
inline constexpr char kCondComplete[] = "Complete";
inline constexpr char kCondFailed[] = "Failed";
inline constexpr char kCondSuspended[] = "Suspended";
inline constexpr char kCondSpecDrift[] = "SpecDrift";
inline constexpr char kCondStalled[] = "Stalled";

struct Condition {
  std::string type;
  std::string status = "Unknown";  // "True" | "False" | "Unknown"
  std::string reason;              // CamelCase
  std::string message;             // one line, already redacted
  TimePoint last_transition_time{};
  bool operator==(const Condition&) const = default;
};

struct JobStatus {
  Phase phase = Phase::kPending;
  std::vector<Condition> conditions;
  std::string remote_job_name;
  int attempt = 0;
  int64_t observed_generation = 0;
  std::string synced_revision;  // git sha of the manifest's revision
  std::optional<TimePoint> start_time;
  std::optional<TimePoint> completion_time;
  std::string last_error;
  // Exit code of the latest failed attempt, when known (the launcher's
  // 200-209 are its own failures); cleared by a new run.
  std::optional<int> exit_code = std::nullopt;
  bool operator==(const JobStatus&) const = default;
};

// Sets or updates the condition of `type`; last_transition_time changes only
// when `status` changes (Kubernetes meta.SetStatusCondition semantics).
void SetCondition(std::vector<Condition>& conditions, Condition c, TimePoint now);
const Condition* FindCondition(const std::vector<Condition>& conditions, std::string_view type);

}  // namespace mlspace::api
