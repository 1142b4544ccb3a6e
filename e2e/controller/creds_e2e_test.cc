// Credentials and files end to end (issues 11 and 15): the real controller
// submits a job with spec.files (one inline, one from a secret) and a
// secretKeyRef env var to the real emulator, which runs it locally through
// the real mlspace-launch. The files are written with their modes before
// the command starts; the secret values reach the job and nothing else: not
// the launch flags, the emulator's record or job records, the controller's
// log or state store.

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "e2e/controller/controller_e2e_util.h"

namespace mlspace::e2e {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;

constexpr char kFileSecret[] = "machine h login u password SEKRET-FILE-4242";
constexpr char kEnvSecret[] = "SEKRET-ENV-4343";

std::string Slurp(const fs::path& p) { return ReadFile(p.string()); }

// Every regular file under `root` whose bytes contain `needle`.
std::vector<std::string> FilesContaining(const fs::path& root, const std::string& needle) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (!it->is_regular_file(ec)) continue;
    if (Slurp(it->path()).find(needle) != std::string::npos) out.push_back(it->path().string());
  }
  return out;
}

TEST(CredsE2eTest, FilesAndSecretsReachTheJobAndNothingElse) {
  TempDir tmp;
  const fs::path root = tmp.path();
  fs::create_directories(root / "secrets/netrc");
  fs::create_directories(root / "secrets/wandb");
  fs::create_directories(root / "home");
  fs::create_directories(root / "home2");
  WriteFile((root / "secrets/netrc/file").string(), std::string(kFileSecret) + "\n");
  WriteFile((root / "secrets/wandb/api-key").string(), kEnvSecret);

  GitRepo repo(tmp / "repo");
  // The job prints its inline file, a digest of the secret file, its mode,
  // and whether its env secret arrived; the carrier of the file's content
  // must be gone from its environment.
  const std::string home = (root / "home").string();
  repo.Write("jobs/files.yaml",
             "apiVersion: mlspace.io/v1alpha1\nkind: MLSpaceJob\nmetadata:\n  name: files\n"
             "spec:\n  region: SR006\n  image: cr.ai.cloud.ru/base/py3.11:1\n"
             "  instanceType: cpu.2C.8G\n"
             "  command: [/bin/sh, -c, 'cat conf/train.yaml; sha256sum < ~/.netrc; "
             "stat -c %a ~/.netrc; "
             "[ \"$WANDB_API_KEY\" = " +
                 std::string(kEnvSecret) +
                 " ] && echo env-ok; env | grep -c MLSPACE_SECRET_FILE_ || true']\n"
                 "  env:\n"
                 "    - {name: HOME, value: " +
                 home +
                 "}\n"
                 "    - name: WANDB_API_KEY\n"
                 "      valueFrom: {secretKeyRef: {name: wandb, key: api-key}}\n"
                 "  files:\n"
                 "    - {path: conf/train.yaml, content: \"lr: 3e-4\\n\"}\n"
                 "    - path: ~/.netrc\n"
                 "      secretKeyRef: {name: netrc, key: file}\n"
                 "      mode: 0o600\n");
  // Two workers with ephemeral SSH keys (LocalGateway runs one process,
  // standing in for each worker's launcher).
  const std::string home2 = (root / "home2").string();
  repo.Write("jobs/ssh.yaml",
             "apiVersion: mlspace.io/v1alpha1\nkind: MLSpaceJob\nmetadata:\n  name: ssh\n"
             "spec:\n  region: SR006\n  image: cr.ai.cloud.ru/base/py3.11:1\n"
             "  instanceType: cpu.2C.8G\n  workers: 2\n"
             "  command: [/bin/sh, -c, 'stat -c %a ~/.ssh/id_ed25519']\n"
             "  env:\n    - {name: HOME, value: " +
                 home2 +
                 "}\n"
                 "  ssh: {ephemeralKeys: true}\n");
  // The same on a home the user already keeps keys in (a Slurm cluster's
  // shared home, LocalGateway's own user): nothing of theirs is replaced.
  const fs::path home3 = root / "home3";
  fs::create_directories(home3 / ".ssh");
  const std::string user_line = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ user@laptop\n";
  std::ofstream(home3 / ".ssh/authorized_keys") << user_line;
  std::ofstream(home3 / ".ssh/id_ed25519") << "the user's own private key\n";
  std::ofstream(home3 / ".ssh/config") << "Host bastion\n  User me\n";
  repo.Write("jobs/ssh-shared.yaml",
             "apiVersion: mlspace.io/v1alpha1\nkind: MLSpaceJob\nmetadata:\n  name: ssh-shared\n"
             "spec:\n  region: SR006\n  image: cr.ai.cloud.ru/base/py3.11:1\n"
             "  instanceType: cpu.2C.8G\n  workers: 2\n"
             "  command: [/bin/true]\n"
             "  env:\n    - {name: HOME, value: " +
                 home3.string() +
                 "}\n"
                 "  ssh: {ephemeralKeys: true}\n");
  repo.Commit("files");

  Emulator emulator(tmp, {"--execute=local", "--state-dir", tmp / "emu-state", "--local-launcher",
                          BinaryPath("launcher/mlspace-launch")});
  ASSERT_GT(emulator.port(), 0) << ReadFile(tmp / "emulator.log");
  ControllerProcess controller(
      tmp, repo.path(), tmp / "state", emulator,
      {"--poll-interval", "200ms", "--source-poll-interval", "1s", "--workers", "2",
       "--secrets-dir", tmp / "secrets", "--shutdown-grace", "5s"});
  ASSERT_TRUE(controller.WaitReady()) << ReadFile(tmp / "controller.log");
  ASSERT_TRUE(WaitFor([&] { return controller.Phase("files") == "Succeeded"; }, 40s))
      << controller.Object("files").dump() << "\n"
      << ReadFile(tmp / "controller.log") << ReadFile(tmp / "emulator.log");

  ASSERT_TRUE(WaitFor([&] { return controller.Phase("ssh") == "Succeeded"; }, 40s))
      << controller.Object("ssh").dump();
  // The installed pair is one OpenSSH accepts: the public key it derives from
  // id_ed25519 is the one in authorized_keys.
  const fs::path ssh_dir = root / "home2/.ssh";
  const std::string authorized = Slurp(ssh_dir / "authorized_keys");
  ASSERT_TRUE(authorized.starts_with("ssh-ed25519 ")) << authorized;
  const std::string derived_file = (root / "derived.pub").string();
  ASSERT_EQ(std::system(("ssh-keygen -y -f '" + (ssh_dir / "id_ed25519").string() + "' > '" +
                         derived_file + "'")
                            .c_str()),
            0);
  const std::string derived = Slurp(derived_file);
  EXPECT_EQ(authorized.substr(0, authorized.rfind(' ')), derived.substr(0, derived.rfind(' ')))
      << derived;
  struct stat key_st {};
  ASSERT_EQ(::stat((ssh_dir / "id_ed25519").c_str(), &key_st), 0);
  EXPECT_EQ(key_st.st_mode & 0777, 0600u);
  EXPECT_NE(Slurp(ssh_dir / "config").find("StrictHostKeyChecking accept-new"), std::string::npos);
  ASSERT_TRUE(WaitFor([&] { return controller.Phase("ssh-shared") == "Succeeded"; }, 40s))
      << controller.Object("ssh-shared").dump();
  EXPECT_EQ(Slurp(home3 / ".ssh/id_ed25519"), "the user's own private key\n");
  EXPECT_EQ(Slurp(home3 / ".ssh/config"), "Host bastion\n  User me\n");
  // No public key beside the user's private one: the pair there stays theirs.
  EXPECT_FALSE(fs::exists(home3 / ".ssh/id_ed25519.pub"));
  const std::string shared_authorized = Slurp(home3 / ".ssh/authorized_keys");
  ASSERT_TRUE(shared_authorized.starts_with(user_line)) << shared_authorized;
  const std::string job_line = shared_authorized.substr(user_line.size());
  ASSERT_TRUE(job_line.starts_with("ssh-ed25519 ")) << shared_authorized;
  // The job's pair is in its own directory, and it is the authorized one.
  const fs::path own_key = home3 / ".ssh/mlspace/default.ssh-shared/id_ed25519";
  const std::string own_derived = (root / "own-derived.pub").string();
  ASSERT_EQ(
      std::system(("ssh-keygen -y -f '" + own_key.string() + "' > '" + own_derived + "'").c_str()),
      0);
  const std::string own_pub = Slurp(own_derived);
  EXPECT_EQ(job_line.substr(0, job_line.rfind(' ')), own_pub.substr(0, own_pub.rfind(' ')));
  EXPECT_EQ(Slurp(home3 / ".ssh/mlspace/default.ssh-shared/id_ed25519.pub"), job_line);
  const std::string private_key = Slurp(ssh_dir / "id_ed25519");
  const std::string key_line = private_key.substr(private_key.find('\n') + 1, 70);

  const std::string job = controller.Object("files")["status"].value("remoteJobName", "");
  ASSERT_FALSE(job.empty());
  const fs::path job_dir = root / "emu-state/jobs" / job;
  const std::string output = Slurp(job_dir / "output.log");
  EXPECT_NE(output.find("lr: 3e-4\n"), std::string::npos) << output;
  EXPECT_NE(output.find("\n600\n"), std::string::npos) << output;
  EXPECT_NE(output.find("env-ok\n0\n"), std::string::npos) << output;
  EXPECT_EQ(Slurp(root / "home/.netrc"), kFileSecret);
  struct stat st {};
  ASSERT_EQ(::stat((root / "home/.netrc").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(Slurp(job_dir / "conf/train.yaml"), "lr: 3e-4\n");

  // The request's flags carry the names, the secrets went as env_variables
  // (redacted in the record).
  bool saw_submit = false;
  bool saw_files = false;
  for (const auto& r : emulator.Record()) {
    if (r.value("op", "") != "submit") continue;
    saw_submit = true;
    const json& body = r["body"];
    // Version 3 for the SSH jobs (their files are kept or appended to).
    const bool ssh_job = body.value("job_desc", "").find(":default/ssh") != std::string::npos;
    EXPECT_EQ(body["flags"].value("spec-version", ""), ssh_job ? "3" : "2") << body.dump();
    for (const auto& [name, value] : body["env_variables"].items()) {
      EXPECT_EQ(value, "<redacted>") << name;
    }
    if (body["env_variables"].contains("WANDB_API_KEY")) {
      saw_files = body["env_variables"].contains("MLSPACE_SECRET_FILE_1");
    }
  }
  EXPECT_TRUE(saw_submit);
  EXPECT_TRUE(saw_files) << "the files job's submit carries both secrets";

  controller.process().Signal(SIGTERM);
  controller.process().Wait(10s);
  // Nowhere but the file the job asked for: not the emulator's job record or
  // record file, the logs, the controller's state store.
  for (const std::string& secret : {std::string(kFileSecret), std::string(kEnvSecret)}) {
    for (const auto& where : {root / "emu-state", root / "state"}) {
      EXPECT_TRUE(FilesContaining(where, secret).empty())
          << secret << " in " << FilesContaining(where, secret).front();
    }
    EXPECT_EQ(ReadFile(emulator.record_path()).find(secret), std::string::npos) << secret;
    EXPECT_EQ(ReadFile(tmp / "controller.log").find(secret), std::string::npos) << secret;
    EXPECT_EQ(ReadFile(tmp / "emulator.log").find(secret), std::string::npos) << secret;
  }
  // The SSH private key: only in the worker's ~/.ssh.
  ASSERT_EQ(key_line.size(), 70u);
  for (const auto& where : {root / "emu-state", root / "state"}) {
    EXPECT_TRUE(FilesContaining(where, key_line).empty()) << "private key in " << where;
  }
  EXPECT_EQ(ReadFile(tmp / "controller.log").find(key_line), std::string::npos);
  // Nor base64 of the file secret (how it travels) in the stored records.
  EXPECT_EQ(Slurp(job_dir / "job.json").find("U0VLUkVU"), std::string::npos);
}

}  // namespace
}  // namespace mlspace::e2e
