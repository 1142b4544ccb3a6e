#pragma once

#include <chrono>
#include <filesystem>
#include <system_error>
#include <thread>

namespace mlspace::gateway::testing {

// Job supervisors outlive the gateway by design and may still be writing
// their exit file when a test ends; retry until the tree is gone.
inline void RemoveTree(const std::filesystem::path& dir) {
  for (int i = 0; i < 100; ++i) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    if (!ec) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace mlspace::gateway::testing
