#include "controller/cli/commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <thread>
#include <variant>

#include <nlohmann/json.hpp>

#include "controller/api/types.h"
#include "controller/api/yaml_json.h"
#include "controller/cli/args.h"
#include "controller/cli/http_client.h"
#include "controller/cli/kubeconfig.h"
#include "controller/cli/merge_patch.h"
#include "controller/cli/printer.h"
#include "controller/cli/validate.h"
#include "controller/core/build_info.h"
#include "controller/core/flags.h"
#include "controller/core/time_util.h"

namespace mlspace::cli {
namespace {

using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

constexpr char kTableAccept[] =
    "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s."
    "io,application/json";
constexpr char kDefaultFieldManager[] = "mlspacectl";
constexpr char kClientSideManager[] = "mlspacectl-client-side-apply";
constexpr char kResource[] = "mlspacejobs.mlspace.io";

// One object read from a manifest, with where it came from.
struct ManifestObject {
  std::string source;  // "jobs/a.yaml:3"
  json object;
  std::string name() const { return object["metadata"].value("name", ""); }
  std::string ns() const { return object["metadata"].value("namespace", ""); }
};

// A failed command: what to print (already formatted) and the exit code.
struct Failure {
  std::string message;
  int code = 1;
};

std::string FormatServerError(const HttpResponse& r, const std::string& what) {
  if (r.status == 401) return "error: You must be logged in to the server (Unauthorized)";
  json s = json::parse(r.body, nullptr, false);
  if (s.is_discarded() || !s.is_object() || s.value("kind", "") != "Status") {
    std::string first = r.body.substr(0, r.body.find('\n'));
    if (first.size() > 300) first.resize(300);
    return "Error from server: HTTP " + std::to_string(r.status) +
           (what.empty() ? "" : " " + what) + (first.empty() ? "" : ": " + first);
  }
  std::string reason = s.value("reason", "");
  std::string message = s.value("message", "");
  if (r.status == 422 && s.contains("details") && s["details"].is_object()) {
    const json& d = s["details"];
    std::string head = "The " + d.value("kind", std::string(api::kKind)) + " \"" +
                       d.value("name", "") + "\" is invalid";
    if (!d.contains("causes") || !d["causes"].is_array() || d["causes"].empty()) return head;
    const json& causes = d["causes"];
    auto line = [](const json& c) {
      std::string f = c.value("field", "");
      return (f.empty() ? "" : f + ": ") + c.value("message", "");
    };
    if (causes.size() == 1) return head + ": " + line(causes[0]);
    std::string out = head + ":";
    for (const auto& c : causes) out += "\n* " + line(c);
    return out;
  }
  std::string prefix = "Error from server" + (reason.empty() ? "" : " (" + reason + ")") + ": ";
  return prefix + (what.empty() ? "" : what + ": ") + message;
}

std::string DryRunSuffix(const std::string& mode) {
  if (mode == "server") return " (server dry run)";
  if (mode == "client") return " (dry run)";
  return "";
}

class Ctl {
 public:
  Ctl(const CommandLine& cl, const Io& io) : cl_(cl), io_(io) {}

  int Run();

 private:
  std::ostream& out() { return *io_.out; }
  std::ostream& err() { return *io_.err; }

  // Connection and client, made on first use.
  std::optional<Failure> Connect();
  std::string Collection(const std::string& ns) const {
    return std::string("/apis/") + api::kApiVersion + "/namespaces/" + QueryEscape(ns) + "/" +
           api::kPlural;
  }
  std::string ObjectPath(const std::string& ns, const std::string& name) const {
    return Collection(ns) + "/" + QueryEscape(name);
  }
  Result<HttpResponse> Call(const std::string& method, const std::string& path,
                            const std::string& body = "", const std::string& content_type = "",
                            const std::string& accept = "application/json");
  // Call + JSON body of a 2xx answer; Failure (formatted) otherwise.
  std::variant<json, Failure> CallJson(const std::string& method, const std::string& path,
                                       const std::string& body = "",
                                       const std::string& content_type = "",
                                       const std::string& accept = "application/json",
                                       const std::string& what = "");
  Result<std::vector<ManifestObject>> ReadManifests();
  std::optional<std::string> DryRunMode(Failure* f);

  int Fail(const Failure& f) {
    err() << f.message << "\n";
    return f.code;
  }
  int Fail(const std::string& m, int code = 1) { return Fail(Failure{m, code}); }

  int Get();
  int Describe();
  int Apply();
  int Delete();
  int Diff();
  int Logs();
  int Wait();
  int Suspend(bool suspend);
  int Reconcile();
  int Version();

  // Prints a list/object/table per -o.
  void Print(const json& body, const std::string& output, bool headers);
  // Reads a watch stream until it ends or `on_event` returns false.
  Result<HttpResponse> Watch(const std::string& path, const std::string& accept,
                             std::chrono::milliseconds idle,
                             const std::function<bool(const json&)>& on_event);

  const CommandLine& cl_;
  const Io& io_;
  Connection conn_;
  std::unique_ptr<HttpClient> http_;
  std::chrono::milliseconds timeout_{30000};
};

std::optional<Failure> Ctl::Connect() {
  if (http_) return std::nullopt;
  ConnectionFlags f;
  f.server = cl_.Get("server");
  f.token = cl_.Get("token");
  f.certificate_authority = cl_.Get("certificate-authority");
  if (cl_.Has("insecure-skip-tls-verify")) {
    f.insecure_skip_tls_verify = cl_.GetBool("insecure-skip-tls-verify");
  }
  f.kubeconfig = cl_.Get("kubeconfig");
  f.context = cl_.Get("context");
  f.namespace_ = cl_.Get("namespace");
  auto conn = ResolveConnection(f, io_.getenv);
  if (!conn.ok()) return Failure{"error: " + conn.status().message(), 1};
  conn_ = *conn;
  auto client = NewHttpClient(conn_, timeout_);
  if (!client.ok()) return Failure{"error: " + client.status().message(), 1};
  http_ = std::move(*client);
  return std::nullopt;
}

Result<HttpResponse> Ctl::Call(const std::string& method, const std::string& path,
                               const std::string& body, const std::string& content_type,
                               const std::string& accept) {
  HttpRequest req;
  req.method = method;
  req.path = path;
  req.body = body;
  if (!content_type.empty()) req.headers["Content-Type"] = content_type;
  req.headers["Accept"] = accept;
  return http_->Do(req);
}

std::variant<json, Failure> Ctl::CallJson(const std::string& method, const std::string& path,
                                          const std::string& body, const std::string& content_type,
                                          const std::string& accept, const std::string& what) {
  auto r = Call(method, path, body, content_type, accept);
  if (!r.ok()) return Failure{"error: " + r.status().message(), 1};
  if (r->status < 200 || r->status > 299) return Failure{FormatServerError(*r, what), 1};
  json j = json::parse(r->body, nullptr, false);
  if (j.is_discarded()) {
    return Failure{"error: " + method + " " + path + ": the answer is not JSON", 1};
  }
  return j;
}

std::optional<std::string> Ctl::DryRunMode(Failure* f) {
  std::string mode = cl_.Get("dry-run", "none");
  if (mode != "none" && mode != "client" && mode != "server") {
    *f = Failure{"mlspacectl: flag --dry-run \"" + mode +
                     "\": expected one of none|client|server (see mlspacectl " + cl_.command +
                     " --help)",
                 kExitUsage};
    return std::nullopt;
  }
  return mode;
}

Result<std::vector<ManifestObject>> Ctl::ReadManifests() {
  std::vector<std::pair<std::string, std::string>> texts;  // (name, bytes)
  for (const auto& f : cl_.GetAll("filename")) {
    if (f == "-") {
      std::ostringstream ss;
      ss << io_.in->rdbuf();
      texts.emplace_back("<stdin>", ss.str());
      continue;
    }
    std::error_code ec;
    std::vector<std::string> files;
    if (std::filesystem::is_directory(f, ec)) {
      for (auto it = std::filesystem::recursive_directory_iterator(f, ec);
           !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
        if (it->path().filename().string().starts_with(".")) {
          if (it->is_directory()) it.disable_recursion_pending();
          continue;
        }
        std::string ext = it->path().extension().string();
        if (it->is_regular_file() && (ext == ".yaml" || ext == ".yml" || ext == ".json")) {
          files.push_back(it->path().string());
        }
      }
      std::sort(files.begin(), files.end());
    } else if (std::filesystem::exists(f, ec)) {
      files.push_back(f);
    } else {
      return NotFoundError("the path \"" + f + "\" does not exist");
    }
    for (const auto& path : files) {
      std::ifstream in(path, std::ios::binary);
      if (!in) return NotFoundError(path + ": cannot read");
      std::ostringstream ss;
      ss << in.rdbuf();
      texts.emplace_back(path, ss.str());
    }
  }
  std::vector<ManifestObject> objects;
  for (const auto& [name, text] : texts) {
    auto docs = api::internal::ParseYamlStream(text);
    if (!docs.ok()) return InvalidArgumentError(name + ":" + docs.status().message());
    for (const auto& d : *docs) {
      if (d.value.is_null()) continue;
      std::string where = name + ":" + std::to_string(d.start.line);
      if (!d.value.is_object()) return InvalidArgumentError(where + ": not a mapping");
      std::string av = d.value.value("apiVersion", "");
      std::string kind = d.value.value("kind", "");
      if (av != api::kApiVersion || kind != api::kKind) {
        return InvalidArgumentError(
            where + ": " + (kind.empty() ? "a document without kind" : kind) + " " + av +
            ": mlspacectl only handles " + api::kApiVersion + " " + api::kKind);
      }
      ManifestObject o{where, d.value};
      if (!o.object.contains("metadata") || !o.object["metadata"].is_object() ||
          !o.object["metadata"].contains("name") || !o.object["metadata"]["name"].is_string()) {
        return InvalidArgumentError(where + ": metadata.name: Required value");
      }
      std::string ns = o.ns();
      if (ns.empty()) {
        o.object["metadata"]["namespace"] = conn_.namespace_;
      } else if (conn_.namespace_explicit && ns != conn_.namespace_) {
        return InvalidArgumentError(where + ": the namespace from the provided object \"" + ns +
                                    "\" does not match the namespace \"" + conn_.namespace_ +
                                    "\". You must pass '--namespace=" + ns +
                                    "' to perform this operation.");
      }
      objects.push_back(std::move(o));
    }
  }
  if (objects.empty()) return InvalidArgumentError("no objects passed to " + cl_.command);
  return objects;
}

void Ctl::Print(const json& body, const std::string& output, bool headers) {
  if (output == "json") {
    out() << body.dump(4) << "\n";
    return;
  }
  if (output == "yaml") {
    out() << ToYaml(body);
    return;
  }
  if (output == "name") {
    auto one = [&](const json& o) {
      out() << ResourceName(o.value("/metadata/name"_json_pointer, std::string())) << "\n";
    };
    if (body.value("kind", "") == "Table") {
      for (const auto& r : body.value("rows", json::array())) {
        if (r.contains("object")) one(r["object"]);
      }
    } else if (body.contains("items")) {
      for (const auto& o : body["items"]) one(o);
    } else {
      one(body);
    }
    return;
  }
  TableOptions t;
  t.wide = output == "wide";
  t.with_namespace = cl_.GetBool("all-namespaces");
  t.headers = !cl_.GetBool("no-headers");
  std::string text = FormatTable(body, t);
  // Rows after the list (watch) are measured with the header, so they line
  // up under it unless they are wider.
  if (!headers && t.headers) text.erase(0, text.find('\n') + 1);
  out() << text;
}

Result<HttpResponse> Ctl::Watch(const std::string& path, const std::string& accept,
                                std::chrono::milliseconds idle,
                                const std::function<bool(const json&)>& on_event) {
  HttpRequest req;
  req.path = path;
  req.headers["Accept"] = accept;
  std::string buf;
  return http_->Stream(
      req,
      [&](std::string_view data) {
        buf.append(data);
        size_t nl;
        while ((nl = buf.find('\n')) != std::string::npos) {
          std::string line = buf.substr(0, nl);
          buf.erase(0, nl + 1);
          if (line.find_first_not_of(" \r\t") == std::string::npos) continue;
          json ev = json::parse(line, nullptr, false);
          if (ev.is_discarded()) continue;
          if (!on_event(ev)) return false;
        }
        return true;
      },
      idle);
}

int Ctl::Get() {
  std::string output = cl_.Get("output");
  if (!output.empty() && output != "wide" && output != "yaml" && output != "json" &&
      output != "name") {
    return Fail("mlspacectl: flag --output \"" + output +
                    "\": expected one of wide|yaml|json|name (see mlspacectl get --help)",
                kExitUsage);
  }
  bool all = cl_.GetBool("all-namespaces");
  bool table = output.empty() || output == "wide";
  std::string accept = table ? kTableAccept : "application/json";
  std::string name = cl_.args.empty() ? "" : cl_.args[0];
  if (all && !name.empty())
    return Fail("error: a resource cannot be retrieved by name across all namespaces");
  std::string list_path = all ? std::string("/apis/") + api::kApiVersion + "/" + api::kPlural
                              : Collection(conn_.namespace_);
  std::string query;
  if (cl_.Has("selector")) query += "&labelSelector=" + QueryEscape(cl_.Get("selector"));
  std::string path = name.empty() ? list_path + (query.empty() ? "" : "?" + query.substr(1))
                                  : ObjectPath(conn_.namespace_, name);
  auto body = CallJson("GET", path, "", "", accept);
  if (auto* f = std::get_if<Failure>(&body)) return Fail(*f);
  json& j = std::get<json>(body);
  bool empty =
      (j.contains("rows") && j["rows"].empty()) || (j.contains("items") && j["items"].empty());
  if (empty && (table || output == "name")) {
    err() << (all ? std::string("No resources found")
                  : "No resources found in " + conn_.namespace_ + " namespace.")
          << "\n";
  } else {
    Print(j, output, true);
  }
  out().flush();
  if (!cl_.GetBool("watch")) return 0;

  std::string rv = j.value("/metadata/resourceVersion"_json_pointer, std::string());
  std::string watch =
      list_path + "?watch=true&resourceVersion=" + QueryEscape(rv.empty() ? "0" : rv);
  if (!query.empty()) watch += query;
  if (!name.empty()) {
    watch += "&fieldSelector=" + QueryEscape("metadata.name=" + name);
  }
  json columns = j.value("columnDefinitions", json::array());
  bool first = true;
  bool by_name = !name.empty();
  auto r = Watch(watch, accept, std::chrono::milliseconds(0), [&](const json& ev) {
    std::string type = ev.value("type", "");
    if (type == "BOOKMARK") return true;
    if (type == "ERROR") {
      err() << "error: watch ended: " << ev.value("/object/message"_json_pointer, std::string())
            << "\n";
      return false;
    }
    // A watch from a named GET's version repeats the object as ADDED.
    if (by_name && first && type == "ADDED") {
      first = false;
      return true;
    }
    first = false;
    if (output == "yaml") out() << "---\n";
    json obj = ev.value("object", json::object());
    // kube-apiserver may leave the columns out after the list; keep the list's.
    if (obj.value("kind", "") == "Table" && !obj["columnDefinitions"].is_array()) {
      obj["columnDefinitions"] = columns;
    }
    Print(obj, output, false);
    out().flush();
    return true;
  });
  if (!r.ok()) return Fail("error: " + r.status().message());
  if (r->status < 200 || r->status > 299) return Fail(FormatServerError(*r, ""));
  return 0;
}

std::string Age(const std::string& rfc3339) {
  auto t = ParseRfc3339(rfc3339);
  if (!t.ok()) return "";
  auto secs =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now() - *t)
          .count();
  if (secs < 0) secs = 0;
  if (secs < 120) return std::to_string(secs) + "s";
  if (secs < 600)
    return std::to_string(secs / 60) + "m" + (secs % 60 ? std::to_string(secs % 60) + "s" : "");
  if (secs < 3 * 3600) return std::to_string(secs / 60) + "m";
  if (secs < 8 * 3600)
    return std::to_string(secs / 3600) + "h" +
           (secs % 3600 / 60 ? std::to_string(secs % 3600 / 60) + "m" : "");
  if (secs < 48 * 3600) return std::to_string(secs / 3600) + "h";
  return std::to_string(secs / 86400) + "d";
}

int Ctl::Describe() {
  const std::string& name = cl_.args[0];
  auto body = CallJson("GET", ObjectPath(conn_.namespace_, name));
  if (auto* f = std::get_if<Failure>(&body)) return Fail(*f);
  const json& o = std::get<json>(body);
  const json md = o.value("metadata", json::object());
  auto kv = [](const json& m) {
    if (!m.is_object() || m.empty()) return std::string("<none>");
    std::string s;
    for (auto it = m.begin(); it != m.end(); ++it) {
      if (!s.empty()) s += "\n              ";
      s += it.key() + "=" + (it->is_string() ? it->get<std::string>() : it->dump());
    }
    return s;
  };
  std::ostringstream s;
  s << "Name:         " << md.value("name", "") << "\n";
  s << "Namespace:    " << md.value("namespace", "") << "\n";
  s << "Labels:       " << kv(md.value("labels", json::object())) << "\n";
  json annotations = md.value("annotations", json::object());
  if (annotations.is_object()) annotations.erase(kLastAppliedAnnotation);
  s << "Annotations:  " << kv(annotations) << "\n";
  s << "API Version:  " << o.value("apiVersion", "") << "\n";
  s << "Kind:         " << o.value("kind", "") << "\n";
  s << "Metadata:\n";
  s << "  Creation Timestamp:  " << md.value("creationTimestamp", "") << "\n";
  if (md.contains("generation")) s << "  Generation:          " << md["generation"].dump() << "\n";
  s << "  Resource Version:    " << md.value("resourceVersion", "") << "\n";
  s << "  UID:                 " << md.value("uid", "") << "\n";
  // The spec as YAML, indented: every field, defaults included.
  auto indented = [](const std::string& yaml) {
    std::string outs;
    std::istringstream in(yaml);
    std::string line;
    while (std::getline(in, line)) outs += "  " + line + "\n";
    return outs;
  };
  if (o.contains("spec")) s << "Spec:\n" << indented(ToYaml(o["spec"]));
  json st = o.value("status", json::object());
  if (!st.is_object()) st = json::object();
  json conditions = st.value("conditions", json::array());
  st.erase("conditions");
  s << "Status:\n";
  for (const char* k : {"phase", "attempt", "remoteJobName", "startTime", "completionTime",
                        "observedGeneration", "syncedRevision", "sourcePath"}) {
    if (!st.contains(k)) continue;
    std::string label = k;
    label[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(label[0])));
    label += ":";
    label.resize(std::max<size_t>(label.size() + 1, 21), ' ');
    s << "  " << label << (st[k].is_string() ? st[k].get<std::string>() : st[k].dump()) << "\n";
    st.erase(k);
  }
  if (!st.empty()) s << indented(ToYaml(st));
  s << "Conditions:\n";
  if (conditions.is_array() && !conditions.empty()) {
    json t = {{"columnDefinitions", json::array({{{"name", "Type"}},
                                                 {{"name", "Status"}},
                                                 {{"name", "Reason"}},
                                                 {{"name", "Last Transition"}},
                                                 {{"name", "Message"}}})},
              {"rows", json::array()}};
    for (const auto& c : conditions) {
      t["rows"].push_back(
          {{"cells", json::array({c.value("type", ""), c.value("status", ""), c.value("reason", ""),
                                  c.value("lastTransitionTime", ""), c.value("message", "")})}});
    }
    s << indented(FormatTable(t, {}));
  } else {
    s << "  <none>\n";
  }
  std::string selector = "involvedObject.name=" + name + ",involvedObject.kind=" + api::kKind;
  auto ev = Call("GET", "/api/v1/namespaces/" + QueryEscape(conn_.namespace_) +
                            "/events?fieldSelector=" + QueryEscape(selector));
  s << "Events:";
  json events = json::array();
  if (ev.ok() && ev->status == 200) {
    json l = json::parse(ev->body, nullptr, false);
    if (!l.is_discarded() && l.contains("items")) events = l["items"];
  }
  if (events.empty()) {
    s << "  <none>\n";
  } else {
    s << "\n";
    json t = {{"columnDefinitions", json::array({{{"name", "Type"}},
                                                 {{"name", "Reason"}},
                                                 {{"name", "Age"}},
                                                 {{"name", "From"}},
                                                 {{"name", "Message"}}})},
              {"rows", json::array()}};
    for (const auto& e : events) {
      std::string last = e.value("lastTimestamp", "");
      if (last.empty()) last = e.value("eventTime", "");
      int count = e.value("count", 1);
      std::string age = Age(last);
      if (count > 1) age += " (x" + std::to_string(count) + ")";
      t["rows"].push_back(
          {{"cells", json::array({e.value("type", ""), e.value("reason", ""), age,
                                  e.value("/source/component"_json_pointer, std::string()),
                                  e.value("message", "")})}});
    }
    s << indented(FormatTable(t, {}));
  }
  if (!ev.ok()) err() << "warning: events: " << ev.status().message() << "\n";
  out() << s.str();
  return 0;
}

int Ctl::Apply() {
  if (cl_.GetAll("filename").empty()) {
    return Fail("mlspacectl: apply needs -f FILE|DIR|- (see mlspacectl apply --help)", kExitUsage);
  }
  Failure f;
  auto mode = DryRunMode(&f);
  if (!mode) return Fail(f);
  auto objects = ReadManifests();
  if (!objects.ok()) return Fail("error: " + objects.status().message());
  bool server_side = cl_.GetBool("server-side");
  std::string manager =
      cl_.Get("field-manager", server_side ? kDefaultFieldManager : kClientSideManager);
  std::string dry = *mode == "server" ? "&dryRun=All" : "";
  int rc = 0;
  for (const auto& mo : *objects) {
    std::string name = mo.name();
    std::string ns = mo.ns();
    std::string what = "error when applying \"" + mo.source + "\"";
    if (server_side) {
      if (*mode == "client") {
        out() << ResourceName(name) << " serverside-applied" << DryRunSuffix(*mode) << "\n";
        continue;
      }
      std::string path =
          ObjectPath(ns, name) + "?fieldManager=" + QueryEscape(manager) +
          "&fieldValidation=Strict&force=" + (cl_.GetBool("force-conflicts") ? "true" : "false") +
          dry;
      auto r = CallJson("PATCH", path, mo.object.dump(), "application/apply-patch+yaml",
                        "application/json", what);
      if (auto* fl = std::get_if<Failure>(&r)) {
        err() << fl->message << "\n";
        rc = 1;
        continue;
      }
      out() << ResourceName(name) << " serverside-applied" << DryRunSuffix(*mode) << "\n";
      continue;
    }
    // Client-side apply: the manifest plus the annotation that remembers it,
    // so the next apply can remove fields the manifest dropped.
    json modified = mo.object;
    json remembered = mo.object;
    if (remembered["metadata"].contains("annotations")) {
      remembered["metadata"]["annotations"].erase(kLastAppliedAnnotation);
      if (remembered["metadata"]["annotations"].empty()) {
        remembered["metadata"].erase("annotations");
      }
    }
    modified["metadata"]["annotations"][kLastAppliedAnnotation] = remembered.dump() + "\n";
    auto live = Call("GET", ObjectPath(ns, name));
    if (!live.ok()) {
      err() << "error: " << live.status().message() << "\n";
      rc = 1;
      continue;
    }
    if (live->status == 404) {
      if (*mode != "client") {
        std::string path = Collection(ns) + "?fieldManager=" + QueryEscape(manager) +
                           "&fieldValidation=Strict" + dry;
        auto r = CallJson("POST", path, modified.dump(), "application/json", "application/json",
                          "error when creating \"" + mo.source + "\"");
        if (auto* fl = std::get_if<Failure>(&r)) {
          err() << fl->message << "\n";
          rc = 1;
          continue;
        }
      }
      out() << ResourceName(name) << " created" << DryRunSuffix(*mode) << "\n";
      continue;
    }
    if (live->status != 200) {
      err() << FormatServerError(*live, what) << "\n";
      rc = 1;
      continue;
    }
    json current = json::parse(live->body, nullptr, false);
    json original = json::object();
    std::string last = current.value(
        json::json_pointer("/metadata/annotations/" +
                           std::string("kubectl.kubernetes.io~1last-applied-configuration")),
        std::string());
    if (!last.empty()) {
      original = json::parse(last, nullptr, false);
      if (original.is_discarded()) original = json::object();
    }
    json patch = ThreeWayMergePatch(original, modified, current);
    if (patch.empty()) {
      out() << ResourceName(name) << " unchanged" << DryRunSuffix(*mode) << "\n";
      continue;
    }
    if (*mode != "client") {
      std::string path = ObjectPath(ns, name) + "?fieldManager=" + QueryEscape(manager) +
                         "&fieldValidation=Strict" + dry;
      auto r = CallJson("PATCH", path, patch.dump(), "application/merge-patch+json",
                        "application/json", what);
      if (auto* fl = std::get_if<Failure>(&r)) {
        err() << fl->message << "\n";
        rc = 1;
        continue;
      }
    }
    out() << ResourceName(name) << " configured" << DryRunSuffix(*mode) << "\n";
  }
  return rc;
}

int Ctl::Delete() {
  Failure f;
  auto mode = DryRunMode(&f);
  if (!mode) return Fail(f);
  int sources =
      (cl_.args.empty() ? 0 : 1) + (cl_.Has("filename") ? 1 : 0) + (cl_.Has("selector") ? 1 : 0);
  if (sources != 1) {
    return Fail(
        "mlspacectl: delete needs exactly one of NAME..., -f FILE or -l SELECTOR (see mlspacectl "
        "delete --help)",
        kExitUsage);
  }
  std::vector<std::pair<std::string, std::string>> targets;  // (ns, name)
  for (const auto& n : cl_.args) targets.emplace_back(conn_.namespace_, n);
  if (cl_.Has("filename")) {
    auto objects = ReadManifests();
    if (!objects.ok()) return Fail("error: " + objects.status().message());
    for (const auto& o : *objects) targets.emplace_back(o.ns(), o.name());
  }
  if (cl_.Has("selector")) {
    auto list = CallJson(
        "GET", Collection(conn_.namespace_) + "?labelSelector=" + QueryEscape(cl_.Get("selector")));
    if (auto* fl = std::get_if<Failure>(&list)) return Fail(*fl);
    for (const auto& o : std::get<json>(list).value("items", json::array())) {
      targets.emplace_back(o.value("/metadata/namespace"_json_pointer, conn_.namespace_),
                           o.value("/metadata/name"_json_pointer, std::string()));
    }
    if (targets.empty()) {
      err() << "No resources found\n";
      return 0;
    }
  }
  int rc = 0;
  for (const auto& [ns, name] : targets) {
    if (*mode != "client") {
      std::string path = ObjectPath(ns, name) + (*mode == "server" ? "?dryRun=All" : "");
      auto r =
          CallJson("DELETE", path, R"({"propagationPolicy":"Background"})", "application/json");
      if (auto* fl = std::get_if<Failure>(&r)) {
        err() << fl->message << "\n";
        rc = 1;
        continue;
      }
    }
    out() << "mlspacejob.mlspace.io \"" << name << "\" deleted" << DryRunSuffix(*mode) << "\n";
  }
  return rc;
}

// Runs `diff -u -N a b`; its exit code (0 same, 1 different), output in *text.
Result<int> RunDiff(const std::string& a, const std::string& b, std::string* text) {
  std::string cmd = "diff -u -N '" + a + "' '" + b + "' 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return UnavailableError("cannot run diff");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) text->append(buf, n);
  int st = pclose(p);
  if (st == -1 || !WIFEXITED(st)) return UnavailableError("diff did not run");
  int code = WEXITSTATUS(st);
  if (code > 1)
    return UnavailableError("diff failed (exit " + std::to_string(code) + "): " + *text);
  return code;
}

int Ctl::Diff() {
  if (cl_.GetAll("filename").empty()) {
    return Fail("mlspacectl: diff needs -f FILE|DIR|- (see mlspacectl diff --help)", kExitUsage);
  }
  auto objects = ReadManifests();
  if (!objects.ok()) return Fail("error: " + objects.status().message());
  bool server_side = cl_.GetBool("server-side");
  std::string manager =
      cl_.Get("field-manager", server_side ? kDefaultFieldManager : kClientSideManager);
  // Named like kubectl's, under $TMPDIR.
  std::error_code tmp_ec;
  std::string tmp = std::filesystem::temp_directory_path(tmp_ec).string();
  if (tmp_ec) tmp = "/tmp";
  std::string live_tmpl = tmp + "/LIVE-XXXXXX";
  std::string merged_tmpl = tmp + "/MERGED-XXXXXX";
  if (!mkdtemp(live_tmpl.data()) || !mkdtemp(merged_tmpl.data())) {
    return Fail("error: cannot create a temporary directory in " + tmp);
  }
  std::string live_dir = live_tmpl, merged_dir = merged_tmpl;
  struct Cleanup {
    std::vector<std::string> dirs;
    ~Cleanup() {
      std::error_code ec;
      for (const auto& d : dirs) std::filesystem::remove_all(d, ec);
    }
  } cleanup{{live_dir, merged_dir}};
  auto clean = [](json o) {
    if (o.is_object() && o.contains("metadata") && o["metadata"].is_object()) {
      o["metadata"].erase("managedFields");
    }
    return o;
  };
  for (const auto& mo : *objects) {
    std::string name = mo.name(), ns = mo.ns();
    std::string what = "error when diffing \"" + mo.source + "\"";
    auto live = Call("GET", ObjectPath(ns, name));
    if (!live.ok()) return Fail("error: " + live.status().message());
    json current;  // null: no live object
    if (live->status == 200) {
      current = json::parse(live->body, nullptr, false);
    } else if (live->status != 404) {
      return Fail(FormatServerError(*live, what));
    }
    json merged;
    if (server_side) {
      auto r = CallJson("PATCH",
                        ObjectPath(ns, name) + "?dryRun=All&fieldManager=" + QueryEscape(manager) +
                            "&force=" + (cl_.GetBool("force-conflicts") ? "true" : "false"),
                        mo.object.dump(), "application/apply-patch+yaml", "application/json", what);
      if (auto* fl = std::get_if<Failure>(&r)) return Fail(*fl);
      merged = std::get<json>(r);
    } else {
      json modified = mo.object;
      json remembered = mo.object;
      if (remembered["metadata"].contains("annotations")) {
        remembered["metadata"]["annotations"].erase(kLastAppliedAnnotation);
        if (remembered["metadata"]["annotations"].empty())
          remembered["metadata"].erase("annotations");
      }
      modified["metadata"]["annotations"][kLastAppliedAnnotation] = remembered.dump() + "\n";
      if (current.is_null()) {
        auto r =
            CallJson("POST", Collection(ns) + "?dryRun=All&fieldManager=" + QueryEscape(manager),
                     modified.dump(), "application/json", "application/json", what);
        if (auto* fl = std::get_if<Failure>(&r)) return Fail(*fl);
        merged = std::get<json>(r);
      } else {
        json original = json::object();
        std::string last = current.value(
            json::json_pointer(
                "/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration"),
            std::string());
        if (!last.empty()) {
          original = json::parse(last, nullptr, false);
          if (original.is_discarded()) original = json::object();
        }
        json patch = ThreeWayMergePatch(original, modified, current);
        if (patch.empty()) {
          merged = current;
        } else {
          // The live version as a lock: the diff is against what was read.
          patch["metadata"]["resourceVersion"] =
              current.value("/metadata/resourceVersion"_json_pointer, std::string());
          auto r = CallJson(
              "PATCH", ObjectPath(ns, name) + "?dryRun=All&fieldManager=" + QueryEscape(manager),
              patch.dump(), "application/merge-patch+json", "application/json", what);
          if (auto* fl = std::get_if<Failure>(&r)) return Fail(*fl);
          merged = std::get<json>(r);
        }
      }
    }
    std::string file =
        std::string(api::kGroup) + "." + api::kVersion + "." + api::kKind + "." + ns + "." + name;
    if (!current.is_null()) std::ofstream(live_dir + "/" + file) << ToYaml(clean(current));
    std::ofstream(merged_dir + "/" + file) << ToYaml(clean(merged));
  }
  std::string text;
  auto code = RunDiff(live_dir, merged_dir, &text);
  if (!code.ok()) return Fail("error: " + code.status().message());
  out() << text;
  return *code;
}

int Ctl::Logs() {
  const std::string& name = cl_.args[0];
  std::string q;
  if (cl_.Has("tail")) q += "&tailLines=" + QueryEscape(cl_.Get("tail"));
  if (cl_.Has("attempt")) q += "&attempt=" + QueryEscape(cl_.Get("attempt"));
  if (cl_.GetBool("previous")) q += "&previous=true";
  bool follow = cl_.GetBool("follow");
  if (follow) q += "&follow=true";
  std::string path =
      ObjectPath(conn_.namespace_, name) + "/log" + (q.empty() ? "" : "?" + q.substr(1));
  HttpRequest req;
  req.path = path;
  req.headers["Accept"] = "text/plain, application/json";
  auto r = http_->Stream(
      req,
      [&](std::string_view data) {
        out().write(data.data(), static_cast<std::streamsize>(data.size()));
        out().flush();
        return true;
      },
      follow ? std::chrono::milliseconds(0) : timeout_);
  if (!r.ok()) return Fail("error: " + r.status().message());
  if (r->status < 200 || r->status > 299) return Fail(FormatServerError(*r, ""));
  return 0;
}

// Whether `o` has condition `type` True for its current generation.
bool ConditionMet(const json& o, const std::string& type) {
  int64_t generation = o.value("/metadata/generation"_json_pointer, int64_t{0});
  int64_t observed = o.value("/status/observedGeneration"_json_pointer, int64_t{-1});
  if (observed >= 0 && observed < generation) return false;
  for (const auto& c : o.value("/status/conditions"_json_pointer, json::array())) {
    if (c.value("type", "") != type) continue;
    int64_t cg = c.value("observedGeneration", int64_t{-1});
    if (cg >= 0 && cg < generation) return false;
    return c.value("status", "") == "True";
  }
  return false;
}

int Ctl::Wait() {
  const std::string& name = cl_.args[0];
  std::string cond = cl_.Get("for");
  if (!cond.starts_with("condition=") || cond.size() == 10) {
    return Fail(
        "mlspacectl: flag --for \"" + cond +
            "\": expected condition=TYPE, e.g. condition=Complete (see mlspacectl wait --help)",
        kExitUsage);
  }
  std::string type = cond.substr(10);
  if (auto eq = type.find('='); eq != std::string::npos) type.resize(eq);  // condition=X=True
  Duration timeout = std::chrono::seconds(30);
  if (cl_.Has("timeout")) {
    auto d = ParseDuration(cl_.Get("timeout"));
    if (!d.ok())
      return Fail("mlspacectl: flag --timeout \"" + cl_.Get("timeout") +
                      "\": " + d.status().message() + " (see mlspacectl wait --help)",
                  kExitUsage);
    timeout = *d;
  }
  auto deadline = SteadyClock::now() + std::chrono::duration_cast<SteadyClock::duration>(timeout);
  std::string done = ResourceName(name) + " condition met\n";
  while (true) {
    auto body = CallJson("GET", ObjectPath(conn_.namespace_, name));
    if (auto* f = std::get_if<Failure>(&body)) return Fail(*f);
    const json& o = std::get<json>(body);
    if (ConditionMet(o, type)) {
      out() << done;
      return 0;
    }
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
    if (left.count() <= 0) break;
    std::string rv = o.value("/metadata/resourceVersion"_json_pointer, std::string());
    std::string watch = Collection(conn_.namespace_) +
                        "?watch=true&fieldSelector=" + QueryEscape("metadata.name=" + name) +
                        "&resourceVersion=" + QueryEscape(rv) +
                        "&timeoutSeconds=" + std::to_string(left.count() / 1000 + 1);
    bool met = false, gone = false;
    auto r = Watch(watch, "application/json", left, [&](const json& ev) {
      std::string t = ev.value("type", "");
      if (t == "DELETED") {
        gone = true;
        return false;
      }
      if (t == "ERROR") return false;  // 410: read the object again
      if ((t == "ADDED" || t == "MODIFIED") && ConditionMet(ev["object"], type)) {
        met = true;
        return false;
      }
      return SteadyClock::now() < deadline;
    });
    if (met) {
      out() << done;
      return 0;
    }
    if (gone)
      return Fail("error: " + ResourceName(name) + " was deleted while waiting for condition " +
                  type);
    if (!r.ok() && r.status().code() != StatusCode::kDeadlineExceeded) {
      return Fail("error: " + r.status().message());
    }
    if (r.ok() && (r->status < 200 || r->status > 299)) return Fail(FormatServerError(*r, ""));
    if (SteadyClock::now() >= deadline) break;
    // A watch that ended early (server timeout, restart): a short pause
    // keeps a server that closes at once from being hammered.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return Fail("error: timed out waiting for the condition on mlspacejobs/" + name);
}

int Ctl::Suspend(bool suspend) {
  Failure f;
  auto mode = DryRunMode(&f);
  if (!mode) return Fail(f);
  json patch = {{"spec", {{"runPolicy", {{"suspend", suspend}}}}}};
  int rc = 0;
  for (const auto& name : cl_.args) {
    if (*mode != "client") {
      std::string path = ObjectPath(conn_.namespace_, name) +
                         "?fieldManager=" + kDefaultFieldManager +
                         (*mode == "server" ? "&dryRun=All" : "");
      auto r = CallJson("PATCH", path, patch.dump(), "application/merge-patch+json");
      if (auto* fl = std::get_if<Failure>(&r)) {
        err() << fl->message << "\n";
        rc = 1;
        continue;
      }
    }
    out() << ResourceName(name) << (suspend ? " suspended" : " resumed") << DryRunSuffix(*mode)
          << "\n";
  }
  return rc;
}

int Ctl::Reconcile() {
  auto r = Call("POST", "/reconcile");
  if (!r.ok()) return Fail("error: " + r.status().message());
  if (r->status < 200 || r->status > 299) return Fail(FormatServerError(*r, ""));
  out() << "reconcile requested: the controller syncs git and polls the gateway now\n";
  return 0;
}

int Ctl::Version() {
  out() << "Client Version: " << VersionLine("mlspacectl") << "\n";
  if (cl_.GetBool("client")) return 0;
  if (auto f = Connect()) return Fail(*f);
  auto body = CallJson("GET", "/version");
  if (auto* fl = std::get_if<Failure>(&body)) return Fail(*fl);
  out() << "Server Version: " << std::get<json>(body).value("gitVersion", "unknown") << "\n";
  return 0;
}

int Ctl::Run() {
  if (cl_.Has("request-timeout")) {
    auto d = ParseDuration(cl_.Get("request-timeout"));
    if (!d.ok() || d->count() <= 0) {
      return Fail("mlspacectl: flag --request-timeout \"" + cl_.Get("request-timeout") +
                      "\": expected a positive duration like 30s",
                  kExitUsage);
    }
    timeout_ = std::chrono::duration_cast<std::chrono::milliseconds>(*d);
  }
  const std::string& c = cl_.command;
  if (c == "validate") return RunValidate(cl_.args, out(), err());
  if (c == "completion") {
    std::string script = CompletionScript(cl_.args[0]);
    if (script.empty()) {
      return Fail("mlspacectl: completion \"" + cl_.args[0] + "\": expected bash or zsh",
                  kExitUsage);
    }
    out() << script;
    return 0;
  }
  if (c == "version") return Version();
  if (auto f = Connect()) return Fail(*f);
  if (c == "get") return Get();
  if (c == "describe") return Describe();
  if (c == "apply") return Apply();
  if (c == "delete") return Delete();
  if (c == "diff") return Diff();
  if (c == "logs") return Logs();
  if (c == "wait") return Wait();
  if (c == "suspend") return Suspend(true);
  if (c == "resume") return Suspend(false);
  if (c == "reconcile") return Reconcile();
  return Fail("mlspacectl: command " + c + " is not implemented", kExitUsage);
}

}  // namespace

std::string CompletionScript(const std::string& shell) {
  std::string commands;
  for (const auto& c : Commands()) commands += (commands.empty() ? "" : " ") + c.name;
  std::string flags;
  for (const auto& f : GlobalFlags()) flags += " --" + f.name;
  std::string per_command;
  for (const auto& c : Commands()) {
    std::string fl;
    for (const auto& f : c.flags) fl += " --" + f.name;
    per_command += "    " + c.name + ") flags=\"" + fl + flags + " --help\" ;;\n";
  }
  std::string bash =
      "# mlspacectl bash completion: source <(mlspacectl completion bash)\n"
      "_mlspacectl() {\n"
      "  local cur prev cmd i flags\n"
      "  cur=\"${COMP_WORDS[COMP_CWORD]}\"\n"
      "  prev=\"${COMP_WORDS[COMP_CWORD-1]}\"\n"
      "  cmd=\"\"\n"
      "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
      "    case \"${COMP_WORDS[i]}\" in -*) ;; *) cmd=\"${COMP_WORDS[i]}\"; break ;; esac\n"
      "  done\n"
      "  if [[ -z \"$cmd\" ]]; then\n"
      "    COMPREPLY=($(compgen -W \"" +
      commands + flags +
      " --help --version\" -- \"$cur\"))\n"
      "    return\n"
      "  fi\n"
      "  case \"$prev\" in\n"
      "    -f|--filename|--kubeconfig|--certificate-authority) COMPREPLY=($(compgen -f -- "
      "\"$cur\")); return ;;\n"
      "    -o|--output) COMPREPLY=($(compgen -W \"wide yaml json name\" -- \"$cur\")); return ;;\n"
      "    --for) COMPREPLY=($(compgen -W \"condition=Complete condition=Failed\" -- \"$cur\")); "
      "return ;;\n"
      "  esac\n"
      "  case \"$cmd\" in\n" +
      per_command +
      "  esac\n"
      "  if [[ \"$cur\" == -* ]]; then\n"
      "    COMPREPLY=($(compgen -W \"$flags\" -- \"$cur\"))\n"
      "    return\n"
      "  fi\n"
      "  case \"$cmd\" in\n"
      "    get|describe|delete|logs|wait|suspend|resume)\n"
      "      local names\n"
      "      names=$(mlspacectl get -o name 2>/dev/null | sed 's|^mlspacejob.mlspace.io/||')\n"
      "      COMPREPLY=($(compgen -W \"$names\" -- \"$cur\")) ;;\n"
      "    validate) COMPREPLY=($(compgen -f -- \"$cur\")) ;;\n"
      "    completion) COMPREPLY=($(compgen -W \"bash zsh\" -- \"$cur\")) ;;\n"
      "  esac\n"
      "}\n"
      "complete -F _mlspacectl mlspacectl\n";
  if (shell == "bash") return bash;
  if (shell == "zsh") {
    return "#compdef mlspacectl\n# mlspacectl zsh completion: source <(mlspacectl completion zsh)\n"
           "autoload -U +X bashcompinit && bashcompinit\n" +
           bash;
  }
  return "";
}

int RunMlspacectl(const std::vector<std::string>& argv, const Io& io) {
  auto cl = ParseCommandLine(argv);
  if (!cl.ok()) {
    *io.err << "mlspacectl: " << cl.status().message() << "\n";
    return kExitUsage;
  }
  if (cl->help) {
    *io.out << HelpText(cl->command);
    return 0;
  }
  if (cl->version) {
    *io.out << VersionLine("mlspacectl") << "\n";
    return 0;
  }
  return Ctl(*cl, io).Run();
}

}  // namespace mlspace::cli
