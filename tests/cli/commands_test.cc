// Every mlspacectl command against a small recording API server on loopback
// (Poco's HTTPServer, real sockets; mlspacectl's real Poco client). The
// server keeps objects in memory with the standard wire shapes (POST
// create, merge PATCH, apply PATCH, DELETE, dryRun=All, Table, watch) and
// records every request, so the tests check what mlspacectl sends as well
// as what it prints. The real controller is exercised by e2e/cli.

#include "controller/cli/commands.h"

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/StreamCopier.h>
#include <Poco/URI.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include <nlohmann/json.hpp>

#include "controller/cli/merge_patch.h"

namespace mlspace::cli {
namespace {

using nlohmann::json;

struct Recorded {
  std::string method;
  std::string path;  // without the query
  std::map<std::string, std::string> query;
  std::string content_type;
  std::string accept;
  std::string authorization;
  std::string body;
};

class FakeApi {
 public:
  FakeApi() : socket_(Poco::Net::SocketAddress("127.0.0.1", 0)) {
    auto params = new Poco::Net::HTTPServerParams;
    params->setMaxThreads(4);
    server_ = std::make_unique<Poco::Net::HTTPServer>(new Factory(this), socket_, params);
    server_->start();
  }
  ~FakeApi() { server_->stopAll(true); }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(socket_.address().port()); }

  std::vector<Recorded> Requests() {
    std::lock_guard<std::mutex> l(mu_);
    return requests_;
  }
  // Requests other than GET.
  std::vector<Recorded> Writes() {
    std::vector<Recorded> w;
    for (auto& r : Requests()) {
      if (r.method != "GET") w.push_back(r);
    }
    return w;
  }
  void Put(const json& o) {
    std::lock_guard<std::mutex> l(mu_);
    objects_[o["metadata"]["name"].get<std::string>()] = o;
  }
  std::optional<json> Object(const std::string& name) {
    std::lock_guard<std::mutex> l(mu_);
    auto it = objects_.find(name);
    if (it == objects_.end()) return std::nullopt;
    return it->second;
  }
  // Forgets objects, requests and stream events (one server serves the suite:
  // stopping a Poco HTTPServer takes a quarter second).
  void Reset() {
    std::lock_guard<std::mutex> l(mu_);
    requests_.clear();
    objects_.clear();
    events_.clear();
  }
  void SetStreamEvents(std::vector<json> events) {
    std::lock_guard<std::mutex> l(mu_);
    events_ = std::move(events);
  }

 private:
  class Handler : public Poco::Net::HTTPRequestHandler {
   public:
    explicit Handler(FakeApi* api) : api_(api) {}
    void handleRequest(Poco::Net::HTTPServerRequest& req,
                       Poco::Net::HTTPServerResponse& resp) override {
      api_->Handle(req, resp);
    }

   private:
    FakeApi* api_;
  };
  class Factory : public Poco::Net::HTTPRequestHandlerFactory {
   public:
    explicit Factory(FakeApi* api) : api_(api) {}
    Poco::Net::HTTPRequestHandler* createRequestHandler(
        const Poco::Net::HTTPServerRequest&) override {
      return new Handler(api_);
    }

   private:
    FakeApi* api_;
  };

  static json StatusBody(int code, const std::string& reason, const std::string& message) {
    return {{"kind", "Status"}, {"apiVersion", "v1"}, {"status", "Failure"},
            {"code", code},     {"reason", reason},   {"message", message}};
  }
  static void Send(Poco::Net::HTTPServerResponse& resp, int code, const json& body) {
    resp.setStatus(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(code));
    resp.setContentType("application/json");
    std::string b = body.dump();
    resp.setContentLength(static_cast<std::streamsize>(b.size()));
    resp.send() << b;
  }
  json Table(const std::vector<json>& objs, bool wide_col) {
    json t = {
        {"kind", "Table"},
        {"apiVersion", "meta.k8s.io/v1"},
        {"metadata", {{"resourceVersion", "7"}}},
        {"columnDefinitions",
         json::array({{{"name", "Name"}, {"type", "string"}},
                      {{"name", "Phase"}, {"type", "string"}},
                      {{"name", "Image"}, {"type", "string"}, {"priority", wide_col ? 1 : 0}}})},
        {"rows", json::array()}};
    for (const auto& o : objs) {
      t["rows"].push_back(
          {{"cells", json::array({o["metadata"]["name"],
                                  o.value("/status/phase"_json_pointer, std::string("Pending")),
                                  o.value("/spec/image"_json_pointer, std::string())})},
           {"object", {{"kind", "PartialObjectMetadata"}, {"metadata", o["metadata"]}}}});
    }
    return t;
  }

  void Handle(Poco::Net::HTTPServerRequest& req, Poco::Net::HTTPServerResponse& resp) {
    Poco::URI uri(req.getURI());
    Recorded r;
    r.method = req.getMethod();
    r.path = uri.getPath();
    for (const auto& [k, v] : uri.getQueryParameters()) r.query[k] = v;
    r.content_type = req.get("Content-Type", "");
    r.accept = req.get("Accept", "");
    r.authorization = req.get("Authorization", "");
    std::ostringstream body;
    Poco::StreamCopier::copyStream(req.stream(), body);
    r.body = body.str();
    std::unique_lock<std::mutex> l(mu_);
    requests_.push_back(r);
    const std::string coll = "/apis/mlspace.io/v1alpha1/namespaces/default/mlspacejobs";
    bool dry = r.query.count("dryRun") && r.query["dryRun"] == "All";
    bool table = r.accept.find("as=Table") != std::string::npos;
    if (r.path == "/version") return Send(resp, 200, {{"gitVersion", "v0.9.9-fake"}});
    if (r.path == "/reconcile" && r.method == "POST")
      return Send(resp, 202, {{"status", "accepted"}});
    if (r.path == "/api/v1/namespaces/default/events") {
      return Send(resp, 200,
                  {{"kind", "EventList"},
                   {"items", json::array({{{"type", "Normal"},
                                           {"reason", "Submitted"},
                                           {"message", "remote job rj-1 submitted"},
                                           {"count", 2},
                                           {"source", {{"component", "mlspace-controller"}}}}})}});
    }
    if (r.path == "/apis/mlspace.io/v1alpha1/mlspacejobs") r.path = coll;  // -A: one namespace here
    if (r.path == coll && r.method == "GET" && r.query.count("watch")) {
      std::vector<json> events = events_;
      l.unlock();
      resp.setChunkedTransferEncoding(true);
      resp.setContentType("application/json");
      std::ostream& os = resp.send();
      for (const auto& e : events) os << e.dump() << "\n" << std::flush;
      return;
    }
    if (r.path == coll && r.method == "GET") {
      std::vector<json> objs;
      for (const auto& [n, o] : objects_) {
        std::string sel = r.query.count("labelSelector") ? r.query["labelSelector"] : "";
        if (!sel.empty()) {
          auto eq = sel.find('=');
          if (o.value(json::json_pointer("/metadata/labels/" + sel.substr(0, eq)), std::string()) !=
              sel.substr(eq + 1)) {
            continue;
          }
        }
        objs.push_back(o);
      }
      if (table) return Send(resp, 200, Table(objs, true));
      return Send(
          resp, 200,
          {{"kind", "MLSpaceJobList"}, {"metadata", {{"resourceVersion", "7"}}}, {"items", objs}});
    }
    if (r.path == coll && r.method == "POST") {
      json o = json::parse(r.body);
      std::string name = o["metadata"]["name"];
      if (name == "invalid") {
        json s = StatusBody(422, "Invalid", "MLSpaceJob \"invalid\" is invalid");
        s["details"] = {{"name", "invalid"},
                        {"kind", "MLSpaceJob"},
                        {"causes", json::array({{{"field", "spec.region"},
                                                 {"message", "Unsupported value: \"mars-1\""}}})}};
        return Send(resp, 422, s);
      }
      if (objects_.count(name)) return Send(resp, 409, StatusBody(409, "AlreadyExists", "exists"));
      o["metadata"]["generation"] = 1;
      o["metadata"]["resourceVersion"] = "8";
      if (!dry) objects_[name] = o;
      return Send(resp, 201, o);
    }
    if (r.path.rfind(coll + "/", 0) == 0) {
      std::string rest = r.path.substr(coll.size() + 1);
      bool log = rest.size() > 4 && rest.substr(rest.size() - 4) == "/log";
      std::string name = log ? rest.substr(0, rest.size() - 4) : rest;
      auto it = objects_.find(name);
      if (it == objects_.end() &&
          !(r.method == "PATCH" && r.content_type == "application/apply-patch+yaml")) {
        return Send(
            resp, 404,
            StatusBody(404, "NotFound", "mlspacejobs.mlspace.io \"" + name + "\" not found"));
      }
      if (log) {
        std::string text = "line 1\nline 2\n";
        if (r.query.count("tailLines") && r.query["tailLines"] == "1") text = "line 2\n";
        resp.setContentType("text/plain");
        resp.setContentLength(static_cast<std::streamsize>(text.size()));
        resp.send() << text;
        return;
      }
      if (r.method == "GET") {
        if (table) return Send(resp, 200, Table({it->second}, true));
        return Send(resp, 200, it->second);
      }
      if (r.method == "DELETE") {
        if (!dry) objects_.erase(it);
        return Send(resp, 200, {{"kind", "Status"}, {"status", "Success"}});
      }
      if (r.method == "PATCH") {
        json o;
        if (r.content_type == "application/apply-patch+yaml") {
          o = json::parse(r.body);
          o["metadata"]["generation"] = 1;
        } else if (r.content_type == "application/merge-patch+json") {
          o = ApplyMergePatch(it->second, json::parse(r.body));
          o["metadata"]["generation"] = it->second["metadata"].value("generation", 1) + 1;
        } else {
          return Send(resp, 415, StatusBody(415, "UnsupportedMediaType", r.content_type));
        }
        o["metadata"]["resourceVersion"] = "9";
        if (!dry) objects_[name] = o;
        return Send(resp, 200, o);
      }
    }
    Send(resp, 404, StatusBody(404, "NotFound", "no route " + r.path));
  }

  Poco::Net::ServerSocket socket_;
  std::unique_ptr<Poco::Net::HTTPServer> server_;
  std::mutex mu_;
  std::vector<Recorded> requests_;
  std::map<std::string, json> objects_;
  std::vector<json> events_;
};

json Job(const std::string& name, const std::string& image = "img:1") {
  return {{"apiVersion", "mlspace.io/v1alpha1"},
          {"kind", "MLSpaceJob"},
          {"metadata", {{"name", name}, {"namespace", "default"}, {"labels", {{"team", "a"}}}}},
          {"spec", {{"region", "SR006"}, {"image", image}, {"workers", 1}}},
          {"status", {{"phase", "Running"}}}};
}

class CommandsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { api_ptr_ = new FakeApi; }
  static void TearDownTestSuite() {
    delete api_ptr_;
    api_ptr_ = nullptr;
  }
  void SetUp() override {
    api_.Reset();
    char tmpl[] = "/tmp/mlspacectl-cmd-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    env_["HOME"] = dir_;  // no kubeconfig
    env_["MLSPACE_SERVER"] = api_.url();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  int Run(std::vector<std::string> args, const std::string& stdin_text = "") {
    args.insert(args.begin(), "mlspacectl");
    std::istringstream in(stdin_text);
    out_.str("");
    err_.str("");
    Io io;
    io.in = &in;
    io.out = &out_;
    io.err = &err_;
    io.getenv = [this](const char* n) -> const char* {
      auto it = env_.find(n);
      return it == env_.end() ? nullptr : it->second.c_str();
    };
    return RunMlspacectl(args, io);
  }
  std::string Write(const std::string& rel, const std::string& text) {
    std::string p = dir_ + "/" + rel;
    std::filesystem::create_directories(std::filesystem::path(p).parent_path());
    std::ofstream(p) << text;
    return p;
  }
  static std::string Manifest(const std::string& name, const std::string& image = "img:1") {
    return "apiVersion: mlspace.io/v1alpha1\nkind: MLSpaceJob\nmetadata:\n  name: " + name +
           "\nspec:\n  region: SR006\n  image: " + image + "\n";
  }

  static FakeApi* api_ptr_;
  FakeApi& api_ = *api_ptr_;
  std::string dir_;
  std::map<std::string, std::string> env_;
  std::ostringstream out_, err_;
};

FakeApi* CommandsTest::api_ptr_ = nullptr;

TEST_F(CommandsTest, ApplyCreatesConfiguresAndLeavesUnchanged) {
  std::string f = Write("jobs/a.yaml", Manifest("a") + "---\n" + Manifest("b"));
  ASSERT_EQ(Run({"apply", "-f", dir_ + "/jobs"}), 0) << err_.str();
  EXPECT_EQ(out_.str(), "mlspacejob.mlspace.io/a created\nmlspacejob.mlspace.io/b created\n");
  auto writes = api_.Writes();
  ASSERT_EQ(writes.size(), 2u);
  EXPECT_EQ(writes[0].method, "POST");
  EXPECT_EQ(writes[0].query["fieldManager"], "mlspacectl-client-side-apply");
  EXPECT_EQ(writes[0].query["fieldValidation"], "Strict");
  EXPECT_EQ(writes[0].content_type, "application/json");
  json posted = json::parse(writes[0].body);
  EXPECT_EQ(posted["metadata"]["namespace"], "default");
  ASSERT_TRUE(posted["metadata"]["annotations"].contains(kLastAppliedAnnotation));

  // Same files again: nothing sent.
  ASSERT_EQ(Run({"apply", "-f", f}), 0) << err_.str();
  EXPECT_EQ(out_.str(), "mlspacejob.mlspace.io/a unchanged\nmlspacejob.mlspace.io/b unchanged\n");
  EXPECT_EQ(api_.Writes().size(), 2u);

  // A changed image: one merge patch with just the change and the annotation.
  Write("jobs/a.yaml", Manifest("a", "img:2"));
  ASSERT_EQ(Run({"apply", "-f", f}), 0) << err_.str();
  EXPECT_EQ(out_.str(), "mlspacejob.mlspace.io/a configured\n");
  writes = api_.Writes();
  ASSERT_EQ(writes.size(), 3u);
  EXPECT_EQ(writes[2].method, "PATCH");
  EXPECT_EQ(writes[2].path, "/apis/mlspace.io/v1alpha1/namespaces/default/mlspacejobs/a");
  EXPECT_EQ(writes[2].content_type, "application/merge-patch+json");
  json patch = json::parse(writes[2].body);
  EXPECT_EQ(patch["spec"], json({{"image", "img:2"}}));
  EXPECT_EQ(api_.Object("a")->value("/spec/image"_json_pointer, std::string()), "img:2");
}

TEST_F(CommandsTest, ApplyFromStdinDryRunsAndServerSide) {
  ASSERT_EQ(Run({"apply", "-f", "-", "--dry-run=server"}, Manifest("s")), 0) << err_.str();
  EXPECT_EQ(out_.str(), "mlspacejob.mlspace.io/s created (server dry run)\n");
  EXPECT_EQ(api_.Writes().back().query["dryRun"], "All");
  EXPECT_FALSE(api_.Object("s"));

  size_t before = api_.Writes().size();
  ASSERT_EQ(Run({"apply", "-f", "-", "--dry-run"}, Manifest("s")), 0) << err_.str();
  EXPECT_EQ(out_.str(), "mlspacejob.mlspace.io/s created (dry run)\n");
  EXPECT_EQ(api_.Writes().size(), before);

  ASSERT_EQ(Run({"apply", "-f", "-", "--server-side", "--force-conflicts"}, Manifest("s")), 0)
      << err_.str();
  EXPECT_EQ(out_.str(), "mlspacejob.mlspace.io/s serverside-applied\n");
  Recorded w = api_.Writes().back();
  EXPECT_EQ(w.method, "PATCH");
  EXPECT_EQ(w.content_type, "application/apply-patch+yaml");
  EXPECT_EQ(w.query["fieldManager"], "mlspacectl");
  EXPECT_EQ(w.query["force"], "true");
  json body = json::parse(w.body);
  EXPECT_FALSE(body["metadata"].contains("annotations"));  // no last-applied annotation
  EXPECT_TRUE(api_.Object("s"));
}

TEST_F(CommandsTest, ApplyErrorsLikeKubectl) {
  std::string bad = Write("bad.yaml", Manifest("invalid"));
  EXPECT_EQ(Run({"apply", "-f", bad}), 1);
  EXPECT_EQ(err_.str(),
            "The MLSpaceJob \"invalid\" is invalid: spec.region: Unsupported value: \"mars-1\"\n");
  std::string cm = Write("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n");
  EXPECT_EQ(Run({"apply", "-f", cm}), 1);
  EXPECT_NE(err_.str().find(cm + ":1: ConfigMap v1: mlspacectl only handles"), std::string::npos)
      << err_.str();
  EXPECT_EQ(Run({"apply", "-f", dir_ + "/missing.yaml"}), 1);
  EXPECT_NE(err_.str().find("does not exist"), std::string::npos);
  std::string other_ns = Write("ns.yaml", Manifest("n") + "  namespace: x\n");
  other_ns = Write("ns.yaml",
                   "apiVersion: mlspace.io/v1alpha1\nkind: MLSpaceJob\nmetadata:\n  name: n\n  "
                   "namespace: x\nspec: {}\n");
  EXPECT_EQ(Run({"apply", "-n", "y", "-f", other_ns}), 1);
  EXPECT_NE(err_.str().find("does not match the namespace \"y\""), std::string::npos);
  EXPECT_EQ(Run({"apply"}), 2);
  EXPECT_EQ(Run({"apply", "-f", bad, "--dry-run=sometimes"}), 2);
  EXPECT_NE(err_.str().find("--dry-run \"sometimes\""), std::string::npos);
  EXPECT_TRUE(api_.Writes().size() == 1u);  // only the invalid POST was sent
}

TEST_F(CommandsTest, GetTableNameYamlAndErrors) {
  api_.Put(Job("train-a"));
  api_.Put(Job("b", "img:2"));
  ASSERT_EQ(Run({"get"}), 0) << err_.str();
  EXPECT_EQ(out_.str(), "NAME      PHASE\nb         Running\ntrain-a   Running\n");
  EXPECT_NE(api_.Requests().back().accept.find("as=Table;v=v1;g=meta.k8s.io"), std::string::npos);
  ASSERT_EQ(Run({"get", "-o", "wide", "-l", "team=a"}), 0);
  EXPECT_EQ(out_.str(),
            "NAME      PHASE     IMAGE\nb         Running   img:2\ntrain-a   Running   img:1\n");
  EXPECT_EQ(api_.Requests().back().query["labelSelector"], "team=a");
  ASSERT_EQ(Run({"get", "-A", "-o", "name"}), 0);
  EXPECT_EQ(out_.str(), "mlspacejob.mlspace.io/b\nmlspacejob.mlspace.io/train-a\n");
  EXPECT_EQ(api_.Requests().back().path, "/apis/mlspace.io/v1alpha1/mlspacejobs");
  ASSERT_EQ(Run({"get", "b", "-o", "yaml"}), 0);
  EXPECT_NE(out_.str().find("  image: img:2\n"), std::string::npos) << out_.str();
  ASSERT_EQ(Run({"get", "b", "-ojson"}), 0);
  EXPECT_EQ(json::parse(out_.str())["spec"]["image"], "img:2");

  EXPECT_EQ(Run({"get", "nope"}), 1);
  EXPECT_EQ(err_.str(),
            "Error from server (NotFound): mlspacejobs.mlspace.io \"nope\" not found\n");
  ASSERT_EQ(Run({"get", "-l", "team=zzz"}), 0);
  EXPECT_EQ(out_.str(), "");
  EXPECT_EQ(err_.str(), "No resources found in default namespace.\n");
  EXPECT_EQ(Run({"get", "-o", "jsonpath"}), 2);
}

TEST_F(CommandsTest, GetWatchPrintsEachChange) {
  api_.Put(Job("w"));
  api_.SetStreamEvents(
      {{{"type", "MODIFIED"},
        {"object",
         {{"kind", "Table"},
          {"columnDefinitions", nullptr},
          {"rows", json::array({{{"cells", json::array({"w", "Succeeded", "img:1"})}}})}}}}});
  // The event's Table has no column definitions (kube-apiserver may leave
  // them out after the list): the list's are used.
  ASSERT_EQ(Run({"get", "-w"}), 0) << err_.str();
  EXPECT_EQ(out_.str(), "NAME   PHASE\nw      Running\nw      Succeeded\n");
  auto reqs = api_.Requests();
  EXPECT_EQ(reqs.back().query["watch"], "true");
  EXPECT_EQ(reqs.back().query["resourceVersion"], "7");
}

TEST_F(CommandsTest, DescribeShowsSpecStatusConditionsEvents) {
  json o = Job("d");
  o["status"]["conditions"] = json::array({{{"type", "Running"},
                                            {"status", "True"},
                                            {"reason", "RemoteRunning"},
                                            {"message", "rj-1 runs"}}});
  o["status"]["remoteJobName"] = "rj-1";
  api_.Put(o);
  ASSERT_EQ(Run({"describe", "d"}), 0) << err_.str();
  std::string s = out_.str();
  for (const char* want :
       {"Name:         d\n", "Labels:       team=a\n", "Spec:\n", "  image: img:1\n", "  Phase:",
        "Running\n", "  RemoteJobName:", "rj-1\n", "Conditions:\n", "RemoteRunning", "rj-1 runs",
        "Events:\n", "Submitted", "remote job rj-1 submitted", "(x2)", "mlspace-controller"}) {
    EXPECT_NE(s.find(want), std::string::npos) << want << "\n" << s;
  }
  EXPECT_EQ(api_.Requests().back().query["fieldSelector"],
            "involvedObject.name=d,involvedObject.kind=MLSpaceJob");
}

TEST_F(CommandsTest, DeleteByNameFileAndSelector) {
  api_.Put(Job("x"));
  api_.Put(Job("y"));
  json other = Job("z");
  other["metadata"]["labels"]["team"] = "b";
  api_.Put(other);
  ASSERT_EQ(Run({"delete", "x"}), 0) << err_.str();
  EXPECT_EQ(out_.str(), "mlspacejob.mlspace.io \"x\" deleted\n");
  Recorded d = api_.Writes().back();
  EXPECT_EQ(d.method, "DELETE");
  EXPECT_EQ(json::parse(d.body), json({{"propagationPolicy", "Background"}}));
  EXPECT_FALSE(api_.Object("x"));

  ASSERT_EQ(Run({"delete", "-l", "team=b", "--dry-run=server"}), 0) << err_.str();
  EXPECT_EQ(out_.str(), "mlspacejob.mlspace.io \"z\" deleted (server dry run)\n");
  EXPECT_TRUE(api_.Object("z"));
  ASSERT_EQ(Run({"delete", "-l", "team=b"}), 0);
  EXPECT_FALSE(api_.Object("z"));

  std::string f = Write("y.yaml", Manifest("y"));
  ASSERT_EQ(Run({"delete", "-f", f}), 0) << err_.str();
  EXPECT_FALSE(api_.Object("y"));

  EXPECT_EQ(Run({"delete", "gone"}), 1);
  EXPECT_EQ(err_.str(),
            "Error from server (NotFound): mlspacejobs.mlspace.io \"gone\" not found\n");
  EXPECT_EQ(Run({"delete"}), 2);
  EXPECT_EQ(Run({"delete", "a", "-l", "x=y"}), 2);
}

TEST_F(CommandsTest, SuspendResumeMergePatch) {
  api_.Put(Job("s"));
  ASSERT_EQ(Run({"suspend", "s"}), 0) << err_.str();
  EXPECT_EQ(out_.str(), "mlspacejob.mlspace.io/s suspended\n");
  Recorded w = api_.Writes().back();
  EXPECT_EQ(w.method, "PATCH");
  EXPECT_EQ(w.content_type, "application/merge-patch+json");
  EXPECT_EQ(json::parse(w.body), json::parse(R"({"spec":{"runPolicy":{"suspend":true}}})"));
  EXPECT_EQ(api_.Object("s")->value("/spec/runPolicy/suspend"_json_pointer, false), true);
  ASSERT_EQ(Run({"resume", "s"}), 0);
  EXPECT_EQ(out_.str(), "mlspacejob.mlspace.io/s resumed\n");
  EXPECT_EQ(api_.Object("s")->value("/spec/runPolicy/suspend"_json_pointer, true), false);
  EXPECT_EQ(Run({"suspend", "nope"}), 1);
}

TEST_F(CommandsTest, DiffShowsServerDryRunAgainstLive) {
  std::string f = Write("a.yaml", Manifest("a"));
  ASSERT_EQ(Run({"apply", "-f", f}), 0) << err_.str();
  ASSERT_EQ(Run({"diff", "-f", f}), 0) << out_.str() << err_.str();
  EXPECT_EQ(out_.str(), "");
  Write("a.yaml", Manifest("a", "img:2"));
  size_t before = api_.Writes().size();
  EXPECT_EQ(Run({"diff", "-f", f}), 1) << err_.str();
  std::string d = out_.str();
  EXPECT_NE(d.find("-  image: img:1\n"), std::string::npos) << d;
  EXPECT_NE(d.find("+  image: img:2\n"), std::string::npos) << d;
  EXPECT_NE(d.find("mlspace.io.v1alpha1.MLSpaceJob.default.a"), std::string::npos) << d;
  Recorded w = api_.Writes().back();
  EXPECT_EQ(api_.Writes().size(), before + 1);
  EXPECT_EQ(w.query["dryRun"], "All");
  EXPECT_EQ(json::parse(w.body)["metadata"]["resourceVersion"], "8");  // the live version as lock
  EXPECT_EQ(api_.Object("a")->value("/spec/image"_json_pointer, std::string()), "img:1");
  // A new object: the whole dry-run create is the diff.
  std::string n = Write("n.yaml", Manifest("new"));
  EXPECT_EQ(Run({"diff", "-f", n}), 1);
  EXPECT_NE(out_.str().find("+  name: new\n"), std::string::npos) << out_.str();
  EXPECT_FALSE(api_.Object("new"));
}

TEST_F(CommandsTest, LogsWaitReconcileVersion) {
  api_.Put(Job("l"));
  ASSERT_EQ(Run({"logs", "l", "--tail", "1", "--attempt", "2"}), 0) << err_.str();
  EXPECT_EQ(out_.str(), "line 2\n");
  Recorded r = api_.Requests().back();
  EXPECT_EQ(r.path, "/apis/mlspace.io/v1alpha1/namespaces/default/mlspacejobs/l/log");
  EXPECT_EQ(r.query["tailLines"], "1");
  EXPECT_EQ(r.query["attempt"], "2");
  EXPECT_EQ(Run({"logs", "nope"}), 1);

  json done = Job("l");
  done["metadata"]["generation"] = 1;
  done["status"]["observedGeneration"] = 1;
  done["status"]["conditions"] = json::array({{{"type", "Complete"}, {"status", "True"}}});
  api_.SetStreamEvents({{{"type", "MODIFIED"}, {"object", done}}});
  ASSERT_EQ(Run({"wait", "l", "--for=condition=Complete", "--timeout", "10s"}), 0) << err_.str();
  EXPECT_EQ(out_.str(), "mlspacejob.mlspace.io/l condition met\n");
  EXPECT_EQ(api_.Requests().back().query["fieldSelector"], "metadata.name=l");
  // Never met: the watch ends at once each time, until the timeout.
  api_.SetStreamEvents({});
  EXPECT_EQ(Run({"wait", "l", "--for=condition=Failed", "--timeout=600ms"}), 1);
  EXPECT_EQ(err_.str(), "error: timed out waiting for the condition on mlspacejobs/l\n");
  EXPECT_EQ(Run({"wait", "l", "--for=Complete"}), 2);

  ASSERT_EQ(Run({"reconcile"}), 0);
  EXPECT_EQ(api_.Requests().back().method, "POST");
  EXPECT_EQ(api_.Requests().back().path, "/reconcile");
  ASSERT_EQ(Run({"version"}), 0);
  EXPECT_NE(out_.str().find("Client Version: mlspacectl "), std::string::npos);
  EXPECT_NE(out_.str().find("Server Version: v0.9.9-fake"), std::string::npos);
}

TEST_F(CommandsTest, TokenSentAndConnectionErrors) {
  env_["MLSPACE_TOKEN"] = "s3cret";
  ASSERT_EQ(Run({"get"}), 0) << err_.str();
  EXPECT_EQ(api_.Requests().back().authorization, "Bearer s3cret");
  // Never over plain http to another host.
  EXPECT_EQ(Run({"get", "--server", "http://example.invalid:80"}), 1);
  EXPECT_NE(err_.str().find("refusing to send a token over plain http"), std::string::npos);
  EXPECT_EQ(err_.str().find("s3cret"), std::string::npos);
  env_.erase("MLSPACE_TOKEN");
  // Nothing listens on port 1.
  EXPECT_EQ(Run({"get", "--server", "http://127.0.0.1:1"}), 1);
  EXPECT_NE(err_.str().find("error: GET http://127.0.0.1:1/apis/"), std::string::npos)
      << err_.str();
  env_.erase("MLSPACE_SERVER");
  EXPECT_EQ(Run({"get"}), 1);
  EXPECT_NE(err_.str().find("no API server"), std::string::npos);
}

TEST_F(CommandsTest, HelpVersionCompletionUsage) {
  EXPECT_EQ(Run({"--help"}), 0);
  EXPECT_NE(out_.str().find("Commands:"), std::string::npos);
  EXPECT_EQ(Run({"apply", "--help"}), 0);
  EXPECT_NE(out_.str().find("--server-side"), std::string::npos);
  EXPECT_EQ(Run({"--version"}), 0);
  EXPECT_EQ(out_.str().rfind("mlspacectl ", 0), 0u);
  EXPECT_EQ(Run({"completion", "bash"}), 0);
  EXPECT_NE(out_.str().find("complete -F _mlspacectl mlspacectl"), std::string::npos);
  // The script is valid bash.
  std::string script = dir_ + "/completion.bash";
  std::ofstream(script) << out_.str();
  EXPECT_EQ(std::system(("bash -n '" + script + "'").c_str()), 0);
  EXPECT_EQ(
      std::system(
          ("bash -c 'source \"" + script + "\" && complete -p mlspacectl' >/dev/null").c_str()),
      0);
  EXPECT_EQ(Run({"completion", "zsh"}), 0);
  EXPECT_NE(out_.str().find("bashcompinit"), std::string::npos);
  EXPECT_EQ(Run({"completion", "fish"}), 2);
  EXPECT_EQ(Run({"get", "--nope"}), 2);
  EXPECT_EQ(err_.str(),
            "mlspacectl: unknown flag --nope for \"get\" (see mlspacectl get --help)\n");
  EXPECT_EQ(Run({"get", "--request-timeout", "soon"}), 2);
}

}  // namespace
}  // namespace mlspace::cli
