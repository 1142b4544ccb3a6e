#include "controller/cli/kubeconfig.h"

#include <Poco/Base64Decoder.h>
#include <Poco/Exception.h>
#include <Poco/URI.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

namespace mlspace::cli {
namespace {

struct Kubeconfig {
  std::string path;
  YAML::Node root;
};

std::string Scalar(const YAML::Node& n, const char* key) {
  if (!n || !n.IsMap()) return "";
  YAML::Node v = n[key];
  if (!v || !v.IsScalar()) return "";
  return v.as<std::string>();
}

// The `inner` map of the entry named `name` in the list `list` (clusters,
// users, contexts), searched across the files in order.
YAML::Node FindNamed(const std::vector<Kubeconfig>& files, const char* list, const char* inner,
                     const std::string& name) {
  for (const auto& f : files) {
    YAML::Node l = f.root[list];
    if (!l || !l.IsSequence()) continue;
    for (const auto& item : l) {
      if (item.IsMap() && Scalar(item, "name") == name) return item[inner];
    }
  }
  return YAML::Node();
}

// A path in a kubeconfig is relative to the file that holds it.
std::string RelativeTo(const std::string& file, const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  return (std::filesystem::path(file).parent_path() / path).string();
}

// Which file of the list defines the named entry (for relative paths).
std::string FileOf(const std::vector<Kubeconfig>& files, const char* list,
                   const std::string& name) {
  for (const auto& f : files) {
    YAML::Node l = f.root[list];
    if (!l || !l.IsSequence()) continue;
    for (const auto& item : l) {
      if (item.IsMap() && Scalar(item, "name") == name) return f.path;
    }
  }
  return "";
}

Result<std::string> ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFoundError(path + ": cannot read");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Result<std::vector<Kubeconfig>> LoadFiles(const ConnectionFlags& flags, const GetEnv& getenv_fn) {
  std::vector<std::string> paths;
  bool required = false;
  if (!flags.kubeconfig.empty()) {
    paths.push_back(flags.kubeconfig);
    required = true;
  } else if (const char* kc = getenv_fn("KUBECONFIG"); kc && *kc) {
    std::stringstream ss(kc);
    std::string p;
    while (std::getline(ss, p, ':')) {
      if (!p.empty()) paths.push_back(p);
    }
  } else if (const char* home = getenv_fn("HOME"); home && *home) {
    paths.push_back(std::string(home) + "/.kube/config");
  }
  std::vector<Kubeconfig> files;
  for (const auto& p : paths) {
    std::error_code ec;
    if (!std::filesystem::exists(p, ec)) {
      if (required) return NotFoundError("--kubeconfig " + p + ": no such file");
      continue;
    }
    auto text = ReadAll(p);
    if (!text.ok()) return text.status();
    try {
      YAML::Node root = YAML::Load(*text);
      if (root && !root.IsNull() && !root.IsMap()) {
        return InvalidArgumentError(p + ": not a kubeconfig (expected a mapping)");
      }
      files.push_back({p, root});
    } catch (const YAML::Exception& e) {
      return InvalidArgumentError(p + ":" + std::to_string(e.mark.line + 1) + ":" +
                                  std::to_string(e.mark.column + 1) + ": " + e.msg);
    }
  }
  return files;
}

Status CheckServer(const std::string& server, const std::string& origin) {
  try {
    Poco::URI uri(server);
    if ((uri.getScheme() != "http" && uri.getScheme() != "https") || uri.getHost().empty()) {
      return InvalidArgumentError(origin + " \"" + server + "\": expected http(s)://HOST[:PORT]");
    }
  } catch (const Poco::Exception& e) {
    return InvalidArgumentError(origin + " \"" + server + "\": " + e.message());
  }
  return Status();
}

}  // namespace

Result<Connection> ResolveConnection(const ConnectionFlags& flags, const GetEnv& getenv_fn) {
  auto env = [&](const char* name) -> std::string {
    const char* v = getenv_fn(name);
    return v ? v : "";
  };
  MLSPACE_ASSIGN_OR_RETURN(auto files, LoadFiles(flags, getenv_fn));

  std::string context_name = flags.context;
  if (context_name.empty()) {
    for (const auto& f : files) {
      context_name = Scalar(f.root, "current-context");
      if (!context_name.empty()) break;
    }
  }
  YAML::Node context, cluster, user;
  std::string cluster_name, user_name;
  if (!context_name.empty()) {
    context = FindNamed(files, "contexts", "context", context_name);
    if ((!context || !context.IsMap()) && !flags.context.empty()) {
      return NotFoundError("--context " + flags.context + ": no such context in the kubeconfig");
    }
    cluster_name = Scalar(context, "cluster");
    user_name = Scalar(context, "user");
    if (!cluster_name.empty()) cluster = FindNamed(files, "clusters", "cluster", cluster_name);
    if (!user_name.empty()) user = FindNamed(files, "users", "user", user_name);
  }

  Connection c;
  std::string origin;
  if (!flags.server.empty()) {
    c.server = flags.server;
    origin = "--server";
  } else if (!env("MLSPACE_SERVER").empty()) {
    c.server = env("MLSPACE_SERVER");
    origin = "MLSPACE_SERVER";
  } else if (!Scalar(cluster, "server").empty()) {
    c.server = Scalar(cluster, "server");
    origin = "kubeconfig cluster " + cluster_name + " server";
  } else {
    return InvalidArgumentError(
        "no API server: give --server, set MLSPACE_SERVER or use a kubeconfig context "
        "(--kubeconfig, $KUBECONFIG, ~/.kube/config)");
  }
  while (!c.server.empty() && c.server.back() == '/') c.server.pop_back();
  if (Status s = CheckServer(c.server, origin); !s.ok()) return s;

  if (!flags.token.empty()) {
    c.token = flags.token;
  } else if (!env("MLSPACE_TOKEN").empty()) {
    c.token = env("MLSPACE_TOKEN");
  } else if (!Scalar(user, "token").empty()) {
    c.token = Scalar(user, "token");
  } else if (std::string tf = Scalar(user, "tokenFile"); !tf.empty()) {
    auto t = ReadAll(RelativeTo(FileOf(files, "users", user_name), tf));
    if (!t.ok())
      return InvalidArgumentError("kubeconfig user " + user_name +
                                  " tokenFile: " + t.status().message());
    c.token = *t;
    while (!c.token.empty() && (c.token.back() == '\n' || c.token.back() == '\r')) {
      c.token.pop_back();
    }
  }

  if (!flags.certificate_authority.empty()) {
    c.ca_file = flags.certificate_authority;
  } else if (std::string data = Scalar(cluster, "certificate-authority-data"); !data.empty()) {
    try {
      std::istringstream in(data);
      Poco::Base64Decoder dec(in);
      std::ostringstream out;
      out << dec.rdbuf();
      c.ca_pem = out.str();
    } catch (const Poco::Exception& e) {
      return InvalidArgumentError("kubeconfig cluster " + cluster_name +
                                  " certificate-authority-data: not base64 (" + e.message() + ")");
    }
    if (c.ca_pem.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
      return InvalidArgumentError("kubeconfig cluster " + cluster_name +
                                  " certificate-authority-data: no PEM certificate in it");
    }
  } else if (std::string ca = Scalar(cluster, "certificate-authority"); !ca.empty()) {
    c.ca_file = RelativeTo(FileOf(files, "clusters", cluster_name), ca);
  }

  if (flags.insecure_skip_tls_verify) {
    c.insecure_skip_tls_verify = *flags.insecure_skip_tls_verify;
  } else {
    c.insecure_skip_tls_verify = Scalar(cluster, "insecure-skip-tls-verify") == "true";
  }

  if (!flags.namespace_.empty()) {
    c.namespace_ = flags.namespace_;
    c.namespace_explicit = true;
  } else if (std::string ns = Scalar(context, "namespace"); !ns.empty()) {
    c.namespace_ = ns;
  }
  return c;
}

}  // namespace mlspace::cli
