// LocalGateway running jobs through the real mlspace-launch with the flags a
// real job gets (launchspec::EncodeFlags), as the controller submits them.

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <thread>

#include <gtest/gtest.h>

#include <system_error>

#include "controller/gateway/local/local_gateway.h"
#include "controller/launchspec/launch_spec.h"

#ifndef MLSPACE_LAUNCH_PATH
#error "MLSPACE_LAUNCH_PATH must name the mlspace-launch binary"
#endif

#include "tests/gateway/local/remove_tree.h"

namespace mlspace::gateway {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

bool WaitFor(const std::function<bool()>& pred, milliseconds timeout = milliseconds(10000)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return pred();
}

using testing::RemoveTree;

class LocalGatewayLaunchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("lgwl-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "work");
    LocalGatewayOptions opts;
    opts.state_dir = (dir_ / "state").string();
    opts.launcher_path = MLSPACE_LAUNCH_PATH;
    opts.poll_interval = milliseconds(10);
    opts.kill_grace = milliseconds(2000);
    auto gw = LocalGateway::Create(opts);
    ASSERT_TRUE(gw.ok()) << gw.status().ToString();
    gw_ = std::move(gw).value();
  }
  void TearDown() override {
    gw_.reset();
    RemoveTree(dir_);
  }

  std::string SubmitSpec(const launchspec::LaunchSpec& spec) {
    SubmitRequest req;
    req.script = "/home/jovyan/.mlspace/bin/mlspace-launch";  // the remote path
    req.base_image = "cr.ai.cloud.ru/aicloud-base-images/py3.11-torch2.4.0:0.0.40";
    req.instance_type = "cpu.2C.8G";
    req.type = "binary";
    req.flags = launchspec::EncodeFlags(spec);
    auto name = gw_->Submit(req);
    EXPECT_TRUE(name.ok());
    return name.ok() ? *name : std::string();
  }

  bool Finished(const std::string& name) {
    auto j = gw_->Get(name);
    return j.ok() && IsFinished(j->status);
  }

  fs::path dir_;
  std::unique_ptr<LocalGateway> gw_;
};

TEST_F(LocalGatewayLaunchTest, RunsTheSpecWithEnvAndWorkDir) {
  launchspec::LaunchSpec spec;
  spec.executable = "/bin/sh";
  spec.args = {"-c", "echo \"$GREETING from $(pwd)\"; exit 5"};
  spec.env = {{"GREETING", "hi"}};
  spec.work_dir = (dir_ / "work").string();
  const std::string name = SubmitSpec(spec);
  ASSERT_TRUE(WaitFor([&] { return Finished(name); }));
  EXPECT_EQ(gw_->Get(name)->status, RemoteStatus::kFailed);
  EXPECT_EQ(gw_->ExitCode(name), 5);
  EXPECT_EQ(*gw_->Logs(name, "", 0), "hi from " + (dir_ / "work").string() + "\n");
}

TEST_F(LocalGatewayLaunchTest, SuccessIsCompleted) {
  launchspec::LaunchSpec spec;
  spec.executable = "/bin/echo";
  spec.args = {"done"};
  const std::string name = SubmitSpec(spec);
  ASSERT_TRUE(WaitFor([&] { return Finished(name); }));
  EXPECT_EQ(gw_->Get(name)->status, RemoteStatus::kCompleted);
  EXPECT_EQ(*gw_->Logs(name, "", 0), "done\n");
}

TEST_F(LocalGatewayLaunchTest, CancelStopsTheJobThroughTheLauncher) {
  launchspec::LaunchSpec spec;
  spec.executable = "/bin/sleep";
  spec.args = {"30"};
  const std::string name = SubmitSpec(spec);
  ASSERT_TRUE(WaitFor([&] { return gw_->Get(name)->status == RemoteStatus::kRunning; }));
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(gw_->Cancel(name, "").ok());
  ASSERT_TRUE(WaitFor([&] { return Finished(name); }));
  // SIGTERM sufficed: well before the 2 s SIGKILL grace.
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(1500));
  EXPECT_EQ(gw_->Get(name)->status, RemoteStatus::kStopped);
}

TEST_F(LocalGatewayLaunchTest, CorruptSpecFailsWithTheLaunchersCode) {
  launchspec::LaunchSpec spec;
  spec.executable = "/bin/true";
  SubmitRequest req;
  req.script = "x";
  req.base_image = "img";
  req.instance_type = "cpu.2C.8G";
  req.flags = launchspec::EncodeFlags(spec);
  req.flags["spec-sha256"] = std::string(64, '0');
  auto name = gw_->Submit(req);
  ASSERT_TRUE(name.ok());
  ASSERT_TRUE(WaitFor([&] { return Finished(*name); }));
  EXPECT_EQ(gw_->Get(*name)->status, RemoteStatus::kFailed);
  EXPECT_EQ(gw_->ExitCode(*name), 203);  // checksum mismatch
}

}  // namespace
}  // namespace mlspace::gateway
