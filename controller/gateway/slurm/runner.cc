#include "controller/gateway/slurm/runner.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

extern char** environ;

namespace mlspace::gateway::slurm {

namespace {

void CloseFd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

int ExitStatusOf(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

ProcessRunner::ProcessRunner(std::map<std::string, std::string> extra_env) {
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string kv(*e);
    const std::string name = kv.substr(0, kv.find('='));
    if (!extra_env.contains(name)) env_.push_back(std::move(kv));
  }
  for (const auto& [k, v] : extra_env) env_.push_back(k + "=" + v);
}

CommandResult ProcessRunner::Run(const std::vector<std::string>& argv, const std::string& input,
                                 Duration timeout) {
  CommandResult r;
  if (argv.empty()) {
    r.err = "empty command";
    return r;
  }
  // Prepared before fork: the child only makes async-signal-safe calls.
  std::vector<std::string> args = argv;
  std::vector<char*> cargv;
  for (auto& a : args) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  std::vector<std::string> envs = env_;
  std::vector<char*> cenv;
  for (auto& e : envs) cenv.push_back(e.data());
  cenv.push_back(nullptr);

  int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1}, exec_err[2] = {-1, -1};
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0 ||
      ::pipe2(exec_err, O_CLOEXEC) != 0) {
    r.err = std::string("pipe: ") + std::strerror(errno);
    for (int* p : {in, out, err, exec_err}) {
      CloseFd(p[0]);
      CloseFd(p[1]);
    }
    return r;
  }
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execvpe(cargv[0], cargv.data(), cenv.data());
    const int e = errno;
    [[maybe_unused]] auto n = ::write(exec_err[1], &e, sizeof e);
    ::_exit(127);
  }
  CloseFd(in[0]);
  CloseFd(out[1]);
  CloseFd(err[1]);
  CloseFd(exec_err[1]);
  if (pid < 0) {
    r.err = std::string("fork: ") + std::strerror(errno);
    CloseFd(in[1]);
    CloseFd(out[0]);
    CloseFd(err[0]);
    CloseFd(exec_err[0]);
    return r;
  }
  int child_errno = 0;
  ssize_t n = 0;
  while ((n = ::read(exec_err[0], &child_errno, sizeof child_errno)) < 0 && errno == EINTR) {
  }
  CloseFd(exec_err[0]);
  if (n == static_cast<ssize_t>(sizeof child_errno)) {
    CloseFd(in[1]);
    CloseFd(out[0]);
    CloseFd(err[0]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    r.err = "cannot execute " + argv[0] + ": " + std::strerror(child_errno);
    return r;
  }
  r.started = true;

  // A command that exits without reading its stdin must not kill us with
  // SIGPIPE: blocked in this thread while writing, a pending one discarded.
  sigset_t pipe_set, old_mask;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  ::pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);
  ::fcntl(in[1], F_SETFL, O_NONBLOCK);
  size_t written = 0;
  if (input.empty()) CloseFd(in[1]);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[65536];
  while (out[0] >= 0 || err[0] >= 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      r.timed_out = true;
      break;
    }
    pollfd fds[3];
    int nfds = 0;
    int idx_out = -1, idx_err = -1, idx_in = -1;
    if (out[0] >= 0) fds[idx_out = nfds++] = {out[0], POLLIN, 0};
    if (err[0] >= 0) fds[idx_err = nfds++] = {err[0], POLLIN, 0};
    if (in[1] >= 0) fds[idx_in = nfds++] = {in[1], POLLOUT, 0};
    const int rc = ::poll(fds, nfds, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (rc < 0) {
      if (errno == EINTR) continue;
      break;
    }
    auto drain = [&](int idx, int& fd, std::string& to) {
      if (idx < 0 || fds[idx].revents == 0) return;
      const ssize_t got = ::read(fd, buf, sizeof buf);
      if (got > 0) {
        to.append(buf, static_cast<size_t>(got));
      } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
        CloseFd(fd);
      }
    };
    drain(idx_out, out[0], r.out);
    drain(idx_err, err[0], r.err);
    if (idx_in >= 0 && fds[idx_in].revents != 0) {
      if ((fds[idx_in].revents & (POLLERR | POLLHUP)) != 0) {
        CloseFd(in[1]);
      } else {
        const ssize_t w = ::write(in[1], input.data() + written, input.size() - written);
        if (w > 0) written += static_cast<size_t>(w);
        if (written == input.size() || (w < 0 && errno != EAGAIN && errno != EINTR)) {
          CloseFd(in[1]);
        }
      }
    }
  }
  CloseFd(in[1]);
  CloseFd(out[0]);
  CloseFd(err[0]);
  const timespec zero{0, 0};
  while (::sigtimedwait(&pipe_set, nullptr, &zero) > 0) {
  }
  ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  if (r.timed_out) ::kill(-pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  r.exit_code = ExitStatusOf(status);
  return r;
}

}  // namespace mlspace::gateway::slurm
