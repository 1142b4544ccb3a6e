#include "controller/gateway/slurm/slurm_options.h"

#include <cctype>
#include <set>

namespace mlspace::gateway::slurm {

namespace {

class Parser {
 public:
  explicit Parser(std::string_view where) : where_(where) {}

  Status Fail(const std::string& field, const std::string& message) const {
    std::string m(where_);
    if (!m.empty() && !field.empty()) m += m.ends_with(':') ? " " : ".";
    m += field;
    return InvalidArgumentError(m + ": " + message);
  }

  Result<std::string> Str(const YAML::Node& n, const std::string& field) const {
    if (!n.IsScalar() || n.Scalar().empty()) return Fail(field, "expected a non-empty string");
    return n.Scalar();
  }

  Result<int> PositiveInt(const YAML::Node& n, const std::string& field) const {
    int v = 0;
    if (!n.IsScalar() || !YAML::convert<int>::decode(n, v) || v <= 0) {
      return Fail(field, "expected a positive integer");
    }
    return v;
  }

  Status Keys(const YAML::Node& n, const std::string& field,
              const std::set<std::string>& allowed) const {
    for (const auto& kv : n) {
      const std::string key = kv.first.as<std::string>("");
      if (!allowed.contains(key)) {
        std::string list;
        for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
        return Fail(field.empty() ? key : field + "." + key, "unknown field (known: " + list + ")");
      }
    }
    return OkStatus();
  }

 private:
  std::string_view where_;
};

}  // namespace

std::string_view ContainerRuntimeName(ContainerRuntime r) {
  switch (r) {
    case ContainerRuntime::kNone:
      return "none";
    case ContainerRuntime::kApptainer:
      return "apptainer";
    case ContainerRuntime::kPyxis:
      return "pyxis";
  }
  return "none";
}

std::optional<int64_t> MemToMegabytes(std::string_view mem) {
  if (mem.empty()) return std::nullopt;
  std::string_view digits = mem;
  char unit = 'M';  // Slurm's default unit
  if (!std::isdigit(static_cast<unsigned char>(mem.back()))) {
    unit = static_cast<char>(std::toupper(static_cast<unsigned char>(mem.back())));
    digits.remove_suffix(1);
  }
  if (digits.empty() || digits.size() > 12) return std::nullopt;
  int64_t n = 0;
  for (char c : digits) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    n = n * 10 + (c - '0');
  }
  switch (unit) {
    case 'K':
      return (n + 1023) / 1024;  // rounded up
    case 'M':
      return n;
    case 'G':
      return n * 1024;
    case 'T':
      return n * 1024 * 1024;
    default:
      return std::nullopt;
  }
}

Result<SlurmOptions> ParseSlurmOptions(const YAML::Node& node, std::string_view where) {
  Parser p(where);
  SlurmOptions o;
  try {
    if (!node.IsMap()) return p.Fail("", "expected a mapping");
    if (Status s = p.Keys(node, "",
                          {"partitions", "defaultRegion", "instanceTypes", "containerRuntime",
                           "imagePrefix", "workerLayout", "outputDir", "launcherPath", "sbatch",
                           "squeue", "scancel", "sacct", "srun", "apptainer", "slurmConf",
                           "accounting", "sbatchArgs", "commandTimeoutSeconds", "restd"});
        !s.ok()) {
      return s;
    }
    const YAML::Node parts = node["partitions"];
    if (!parts || !parts.IsMap() || parts.size() == 0) {
      return p.Fail("partitions", "expected a non-empty mapping of region to partition");
    }
    for (const auto& kv : parts) {
      const std::string region = kv.first.as<std::string>("");
      MLSPACE_ASSIGN_OR_RETURN(o.partitions[region], p.Str(kv.second, "partitions." + region));
    }
    if (const YAML::Node n = node["defaultRegion"]) {
      MLSPACE_ASSIGN_OR_RETURN(o.default_region, p.Str(n, "defaultRegion"));
      if (!o.partitions.contains(o.default_region)) {
        return p.Fail("defaultRegion", "\"" + o.default_region + "\" is not in partitions");
      }
    }
    if (const YAML::Node types = node["instanceTypes"]) {
      if (!types.IsMap()) return p.Fail("instanceTypes", "expected a mapping");
      for (const auto& kv : types) {
        const std::string type = kv.first.as<std::string>("");
        const std::string field = "instanceTypes." + type;
        SlurmResources res;
        const YAML::Node& r = kv.second;
        if (r.IsNull()) {
          o.instance_types[type] = res;
          continue;
        }
        if (!r.IsMap()) return p.Fail(field, "expected a mapping (cpusPerTask, mem, gres)");
        if (Status s = p.Keys(r, field, {"cpusPerTask", "mem", "gres"}); !s.ok()) return s;
        if (const YAML::Node n = r["cpusPerTask"]) {
          MLSPACE_ASSIGN_OR_RETURN(res.cpus_per_task, p.PositiveInt(n, field + ".cpusPerTask"));
        }
        if (const YAML::Node n = r["mem"]) {
          MLSPACE_ASSIGN_OR_RETURN(res.mem, p.Str(n, field + ".mem"));
        }
        if (const YAML::Node n = r["gres"]) {
          MLSPACE_ASSIGN_OR_RETURN(res.gres, p.Str(n, field + ".gres"));
        }
        o.instance_types[type] = std::move(res);
      }
    }
    if (const YAML::Node n = node["containerRuntime"]) {
      MLSPACE_ASSIGN_OR_RETURN(std::string v, p.Str(n, "containerRuntime"));
      if (v == "none") {
        o.container_runtime = ContainerRuntime::kNone;
      } else if (v == "apptainer") {
        o.container_runtime = ContainerRuntime::kApptainer;
      } else if (v == "pyxis") {
        o.container_runtime = ContainerRuntime::kPyxis;
      } else {
        return p.Fail("containerRuntime",
                      "\"" + v + "\": expected \"none\", \"apptainer\" or \"pyxis\"");
      }
    }
    if (const YAML::Node n = node["workerLayout"]) {
      MLSPACE_ASSIGN_OR_RETURN(std::string v, p.Str(n, "workerLayout"));
      if (v == "node") {
        o.worker_layout = WorkerLayout::kNode;
      } else if (v == "task") {
        o.worker_layout = WorkerLayout::kTask;
      } else {
        return p.Fail("workerLayout", "\"" + v + "\": expected \"node\" or \"task\"");
      }
    }
    if (const YAML::Node n = node["accounting"]) {
      MLSPACE_ASSIGN_OR_RETURN(std::string v, p.Str(n, "accounting"));
      if (v == "auto") {
        o.accounting = Accounting::kAuto;
      } else if (v == "on") {
        o.accounting = Accounting::kOn;
      } else if (v == "off") {
        o.accounting = Accounting::kOff;
      } else {
        return p.Fail("accounting", "\"" + v + "\": expected \"auto\", \"on\" or \"off\"");
      }
    }
    const YAML::Node out = node["outputDir"];
    if (!out) return p.Fail("outputDir", "required (a directory shared with the nodes)");
    MLSPACE_ASSIGN_OR_RETURN(o.output_dir, p.Str(out, "outputDir"));
    if (!o.output_dir.starts_with("/")) return p.Fail("outputDir", "expected an absolute path");
    struct StrField {
      const char* name;
      std::string* to;
    };
    for (const StrField& f :
         {StrField{"imagePrefix", &o.image_prefix}, StrField{"launcherPath", &o.launcher_path},
          StrField{"sbatch", &o.sbatch}, StrField{"squeue", &o.squeue},
          StrField{"scancel", &o.scancel}, StrField{"sacct", &o.sacct}, StrField{"srun", &o.srun},
          StrField{"apptainer", &o.apptainer}, StrField{"slurmConf", &o.slurm_conf}}) {
      if (const YAML::Node n = node[f.name]) {
        MLSPACE_ASSIGN_OR_RETURN(*f.to, p.Str(n, f.name));
      }
    }
    if (const YAML::Node n = node["sbatchArgs"]) {
      if (!n.IsSequence()) return p.Fail("sbatchArgs", "expected a list of strings");
      for (size_t i = 0; i < n.size(); ++i) {
        MLSPACE_ASSIGN_OR_RETURN(std::string a,
                                 p.Str(n[i], "sbatchArgs[" + std::to_string(i) + "]"));
        if (!a.starts_with("-")) {
          return p.Fail("sbatchArgs[" + std::to_string(i) + "]",
                        "\"" + a + "\": expected an option (--name=value)");
        }
        o.extra_sbatch_args.push_back(std::move(a));
      }
    }
    if (const YAML::Node n = node["commandTimeoutSeconds"]) {
      MLSPACE_ASSIGN_OR_RETURN(int secs, p.PositiveInt(n, "commandTimeoutSeconds"));
      o.command_timeout = std::chrono::seconds(secs);
    }
    if (const YAML::Node r = node["restd"]) {
      if (!r.IsMap()) return p.Fail("restd", "expected a mapping (url, apiVersion, auth, ...)");
      if (Status s = p.Keys(r, "restd",
                            {"url", "apiVersion", "auth", "tokenFile", "userName", "environment"});
          !s.ok()) {
        return s;
      }
      RestdOptions ro;
      if (!r["url"]) return p.Fail("restd.url", "required (http://HOST:PORT or unix:/PATH)");
      MLSPACE_ASSIGN_OR_RETURN(ro.url, p.Str(r["url"], "restd.url"));
      const bool unix_socket = ro.url.starts_with("unix:");
      if (unix_socket) {
        if (ro.url.size() < 7 || ro.url[5] != '/') {
          return p.Fail("restd.url", "\"" + ro.url + "\": expected unix:/absolute/path");
        }
      } else if (!ro.url.starts_with("http://") && !ro.url.starts_with("https://")) {
        return p.Fail("restd.url",
                      "\"" + ro.url + "\": expected http://HOST:PORT, https://... or unix:/PATH");
      }
      if (const YAML::Node n = r["apiVersion"]) {
        MLSPACE_ASSIGN_OR_RETURN(ro.api_version, p.Str(n, "restd.apiVersion"));
        const std::string& v = ro.api_version;
        if (!v.starts_with("v0.0.") || v.size() > 10 ||
            v.find_first_not_of("0123456789", 5) != std::string::npos || v.size() == 5) {
          return p.Fail("restd.apiVersion", "\"" + v + "\": expected v0.0.N, e.g. v0.0.38");
        }
      }
      std::string auth = unix_socket && !r["tokenFile"] ? "local" : "jwt";
      if (const YAML::Node n = r["auth"]) {
        MLSPACE_ASSIGN_OR_RETURN(auth, p.Str(n, "restd.auth"));
      }
      if (auth == "jwt") {
        ro.auth = RestdOptions::Auth::kJwt;
        if (!r["tokenFile"]) return p.Fail("restd.tokenFile", "required with auth: jwt");
        if (!r["userName"]) return p.Fail("restd.userName", "required with auth: jwt");
        MLSPACE_ASSIGN_OR_RETURN(ro.token_file, p.Str(r["tokenFile"], "restd.tokenFile"));
        MLSPACE_ASSIGN_OR_RETURN(ro.user_name, p.Str(r["userName"], "restd.userName"));
      } else if (auth == "local") {
        ro.auth = RestdOptions::Auth::kLocal;
        if (!unix_socket) {
          return p.Fail("restd.auth", "local works over a unix: socket only (use jwt over http)");
        }
        if (r["tokenFile"] || r["userName"]) {
          return p.Fail(r["tokenFile"] ? "restd.tokenFile" : "restd.userName",
                        "only used with auth: jwt");
        }
      } else {
        return p.Fail("restd.auth", "\"" + auth + "\": expected \"jwt\" or \"local\"");
      }
      if (const YAML::Node env = r["environment"]) {
        if (!env.IsMap()) return p.Fail("restd.environment", "expected a mapping NAME: value");
        for (const auto& kv : env) {
          const std::string name = kv.first.as<std::string>("");
          if (name.empty() || name.find('=') != std::string::npos) {
            return p.Fail("restd.environment." + name, "not a valid variable name");
          }
          if (!kv.second.IsScalar()) {
            return p.Fail("restd.environment." + name, "expected a string");
          }
          ro.environment[name] = kv.second.Scalar();
        }
      }
      for (size_t i = 0; i < o.extra_sbatch_args.size(); ++i) {
        const std::string& a = o.extra_sbatch_args[i];
        const std::string opt = a.substr(0, a.find('='));
        if (a.find('=') == std::string::npos ||
            !(opt == "--account" || opt == "--qos" || opt == "--reservation" ||
              opt == "--constraint")) {
          return p.Fail("sbatchArgs[" + std::to_string(i) + "]",
                        "\"" + a +
                            "\": with restd only --account=, --qos=, --reservation= and "
                            "--constraint= are supported");
        }
      }
      for (const auto& [type, res] : o.instance_types) {
        if (!res.mem.empty() && !MemToMegabytes(res.mem)) {
          return p.Fail("instanceTypes." + type + ".mem",
                        "\"" + res.mem + "\": with restd expected N, NK, NM, NG or NT");
        }
      }
      o.restd = std::move(ro);
    }
  } catch (const YAML::Exception& e) {
    return p.Fail("", e.what());
  }
  return o;
}

Result<SlurmOptions> LoadSlurmOptionsFile(const std::string& path) {
  YAML::Node node;
  try {
    node = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    return InvalidArgumentError(path + ": " + e.what());
  }
  return ParseSlurmOptions(node, path + ":");
}

}  // namespace mlspace::gateway::slurm
