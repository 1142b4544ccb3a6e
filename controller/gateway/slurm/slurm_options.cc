#include "controller/gateway/slurm/slurm_options.h"

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

Result<SlurmOptions> ParseSlurmOptions(const YAML::Node& node, std::string_view where) {
  Parser p(where);
  SlurmOptions o;
  try {
    if (!node.IsMap()) return p.Fail("", "expected a mapping");
    if (Status s = p.Keys(node, "",
                          {"partitions", "defaultRegion", "instanceTypes", "containerRuntime",
                           "imagePrefix", "workerLayout", "outputDir", "launcherPath", "sbatch",
                           "squeue", "scancel", "sacct", "srun", "apptainer", "slurmConf",
                           "accounting", "sbatchArgs", "commandTimeoutSeconds"});
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
