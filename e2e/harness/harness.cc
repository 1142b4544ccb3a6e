#include "e2e/harness/harness.h"

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace mlspace::e2e {

namespace fs = std::filesystem;

TempDir::TempDir() {
  std::string tmpl = (fs::temp_directory_path() / "mlspace-e2e-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  if (std::getenv("MLSPACE_E2E_KEEP")) return;
  std::error_code ec;
  fs::remove_all(path_, ec);
}

int Sh(const std::string& command, std::string* out) {
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (!p) return -1;
  std::array<char, 4096> buf;
  std::string collected;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) collected.append(buf.data(), n);
  int rc = pclose(p);
  if (out) *out = collected;
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc);
}

void WriteFile(const std::string& path, const std::string& content) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << content;
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

Process::Process(std::vector<std::string> argv, std::string log_path,
                 std::map<std::string, std::string> extra_env)
    : log_path_(std::move(log_path)) {
  std::vector<std::string> env_storage;
  for (char** e = environ; *e; ++e) {
    std::string kv(*e);
    if (!extra_env.count(kv.substr(0, kv.find('=')))) env_storage.push_back(kv);
  }
  for (const auto& [k, v] : extra_env) env_storage.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_storage) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_path_.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  int rc = posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("posix_spawn " + argv[0] + " failed");
}

Process::~Process() {
  if (Running()) {
    ::kill(pid_, SIGKILL);
    Wait(std::chrono::seconds(10));
  }
}

bool Process::Running() {
  if (exit_code_) return false;
  int status = 0;
  pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return false;
  }
  return r == 0;
}

void Process::Signal(int sig) {
  if (Running()) ::kill(pid_, sig);
}

std::optional<int> Process::Wait(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (Running()) {
    if (std::chrono::steady_clock::now() > deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return exit_code_;
}

GitRepo::GitRepo(std::string path) : path_(std::move(path)) {
  fs::create_directories(path_);
  Sh("git -C '" + path_ + "' init -q -b main");
  Sh("git -C '" + path_ + "' config user.email e2e@example.test");
  Sh("git -C '" + path_ + "' config user.name e2e");
}

void GitRepo::Write(const std::string& rel, const std::string& content) {
  WriteFile(path_ + "/" + rel, content);
}

void GitRepo::Remove(const std::string& rel) { fs::remove(path_ + "/" + rel); }

std::string GitRepo::Commit(const std::string& message) {
  Sh("git -C '" + path_ + "' add -A && git -C '" + path_ + "' commit -q --allow-empty -m '" +
     message + "'");
  std::string sha;
  Sh("git -C '" + path_ + "' rev-parse HEAD", &sha);
  while (!sha.empty() && (sha.back() == '\n' || sha.back() == '\r')) sha.pop_back();
  return sha;
}

HttpReply HttpCall(const std::string& method, int port, const std::string& path_and_query,
                   const std::string& body, const std::map<std::string, std::string>& headers) {
  HttpReply reply;
  try {
    Poco::Net::HTTPClientSession session("127.0.0.1", static_cast<Poco::UInt16>(port));
    session.setTimeout(Poco::Timespan(10, 0));
    Poco::Net::HTTPRequest req(method, path_and_query, Poco::Net::HTTPMessage::HTTP_1_1);
    for (const auto& [k, v] : headers) req.set(k, v);
    if (!body.empty()) {
      req.setContentLength(static_cast<std::streamsize>(body.size()));
      if (!req.has("Content-Type")) req.setContentType("application/json");
    }
    session.sendRequest(req) << body;
    Poco::Net::HTTPResponse resp;
    std::istream& in = session.receiveResponse(resp);
    Poco::StreamCopier::copyToString(in, reply.body);
    reply.status = resp.getStatus();
  } catch (const std::exception&) {
    reply.status = 0;
  }
  return reply;
}

nlohmann::json GetJson(int port, const std::string& path) {
  HttpReply r = HttpCall("GET", port, path);
  if (r.status == 0) return nullptr;
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  return j.is_discarded() ? nlohmann::json(nullptr) : j;
}

bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

std::optional<int> WaitForPortFile(const std::string& path, std::chrono::milliseconds timeout) {
  std::optional<int> port;
  WaitFor(
      [&] {
        std::string s = ReadFile(path);
        if (s.empty()) return false;
        try {
          port = std::stoi(s);
        } catch (...) {
          return false;
        }
        return *port > 0;
      },
      timeout);
  return port;
}

std::optional<ControllerPorts> WaitForControllerPorts(const std::string& path,
                                                      std::chrono::milliseconds timeout,
                                                      const std::function<bool()>& gave_up) {
  std::optional<ControllerPorts> ports;
  WaitFor(
      [&] {
        auto j = nlohmann::json::parse(ReadFile(path), nullptr, false);
        if (j.is_discarded() || !j.is_object() || !j.contains("api") ||
            !j["api"].is_number_integer()) {
          return gave_up && gave_up();
        }
        ControllerPorts p;
        p.api = j["api"].get<int>();
        if (j.contains("metrics") && j["metrics"].is_number_integer()) {
          p.metrics = j["metrics"].get<int>();
        }
        ports = p;
        return true;
      },
      timeout);
  return ports;
}

std::string BinaryPath(const std::string& rel) {
  const char* dir = std::getenv("MLSPACE_BINARY_DIR");
  return std::string(dir ? dir : ".") + "/" + rel;
}

std::string SourcePath(const std::string& rel) {
  const char* dir = std::getenv("MLSPACE_SOURCE_DIR");
  return std::string(dir ? dir : ".") + "/" + rel;
}

namespace {

std::string FindKubectl() {
  if (const char* k = std::getenv("MLSPACE_KUBECTL"); k && *k) return k;
  if (fs::exists("/usr/bin/kubectl")) return "/usr/bin/kubectl";
  std::string out;
  Sh("'" + SourcePath("scripts/tools.sh") + "' 2>&1", &out);
  size_t at = out.find("KUBECTL=");
  if (at == std::string::npos) return "/usr/bin/kubectl";
  size_t end = out.find('\n', at);
  return out.substr(at + 8, end == std::string::npos ? std::string::npos : end - at - 8);
}

}  // namespace

const std::string& KubectlPath() {
  static const std::string path = FindKubectl();
  return path;
}

}  // namespace mlspace::e2e
