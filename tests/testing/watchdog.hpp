// SPDX-License-Identifier: Apache-2.0
// A watchdog for tests whose failure mode is a hang (a shutdown that never returns, a destructor
// that never finishes): if the guarded scope has not ended within `limit`, it prints what was
// being waited for and aborts the test binary, so the run reports the hang and the case's name
// instead of sitting until ctest's timeout. Only for scopes that end on their own when the code
// is right; the limit is far above any healthy run, sanitizers and loaded machines included.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

namespace fnhost::testing {

class Watchdog {
 public:
  Watchdog(std::string what, std::chrono::seconds limit) : what_(std::move(what)) {
    thread_ = std::thread([this, limit] {
      std::unique_lock<std::mutex> lock(mu_);
      if (cv_.wait_for(lock, limit, [this] { return disarmed_; })) return;
      std::fprintf(stderr, "watchdog: %s did not finish within %llds (hang); aborting\n",
                   what_.c_str(), static_cast<long long>(limit.count()));
      std::fflush(stderr);
      std::abort();
    });
  }
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      disarmed_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

 private:
  const std::string what_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool disarmed_ = false;
  std::thread thread_;
};

}  // namespace fnhost::testing
