// SPDX-License-Identifier: Apache-2.0
// ThreadProbe's view of another thread: waiting for a contended mutex (contention, which more
// threads would not relieve) against blocked on a condition (which they would); and the pool
// not growing for workers that queue on a mutex.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <sys/syscall.h>

#include <catch2/catch.hpp>

#include "fmt/format.h"
#include "fnhost/executor.hpp"
#include "platform/platform.hpp"
#include "testing/wait.hpp"

namespace {

namespace platform = fnhost::detail::platform;
using fnhost::testing::wait_until;

#if defined(__linux__) && defined(SYS_futex)

TEST_CASE("syscall_waits_for_lock reads a futex wait on a contended glibc lock", "[platform]") {
  const auto futex = [](const char* op, const char* value) {
    return fmt::format("{} 0x7f57f7ff1c60 {} {} 0x0 0x7 0x5618b12a91f0 0x7f57f7d4d838\n",
                       static_cast<long>(SYS_futex), op, value);
  };
  CHECK(platform::syscall_waits_for_lock(futex("0x80", "0x2")));  // private
  CHECK(platform::syscall_waits_for_lock(futex("0x0", "0x2")));   // shared
  // A mutex locked without waiters, absl's waiter, a condition variable's bitset wait.
  CHECK_FALSE(platform::syscall_waits_for_lock(futex("0x80", "0x1")));
  CHECK_FALSE(platform::syscall_waits_for_lock(futex("0x80", "0x0")));
  CHECK_FALSE(platform::syscall_waits_for_lock(futex("0x89", "0x2")));
  CHECK_FALSE(platform::syscall_waits_for_lock(futex("0x189", "0x2")));
  // Another syscall with the same arguments, a running thread, and garbage.
  CHECK_FALSE(platform::syscall_waits_for_lock(
      fmt::format("{} 0x7f57f7ff1c60 0x80 0x2 0x0\n", static_cast<long>(SYS_futex) + 1)));
  CHECK_FALSE(platform::syscall_waits_for_lock("running\n"));
  CHECK_FALSE(platform::syscall_waits_for_lock(""));
  CHECK_FALSE(platform::syscall_waits_for_lock(fmt::format("{} 0x1 0x80", SYS_futex)));
  CHECK_FALSE(platform::syscall_waits_for_lock(fmt::format("{} 0x1 0x80 2\n", SYS_futex)));
  CHECK_FALSE(platform::syscall_waits_for_lock(fmt::format("{}x 0x1 0x80 0x2\n", SYS_futex)));
  CHECK_FALSE(platform::syscall_waits_for_lock("-1 0x80 0x2 0x2\n"));
}

// A thread the test can probe: its id and CPU clock, published once it runs.
struct ProbedThread {
  std::atomic<int64_t> tid{0};
  std::atomic<int64_t> cpu_clock{0};
  void announce() {
    cpu_clock.store(platform::current_thread_cpu_clock());
    tid.store(platform::current_thread_id());
  }
  bool open(platform::ThreadProbe& probe) const {
    return wait_until([&] { return tid.load() != 0; }) && probe.open(tid.load(), cpu_clock.load());
  }
};

TEST_CASE("ThreadProbe tells a thread waiting for a mutex from one waiting on a condition",
          "[platform]") {
  std::mutex mutex;
  std::unique_lock<std::mutex> held(mutex);
  ProbedThread locker;
  std::thread waiting_for_mutex([&] {
    locker.announce();
    std::lock_guard<std::mutex> lock(mutex);
  });
  platform::ThreadProbe probe;
  REQUIRE(locker.open(probe));
  CHECK(wait_until([&] { return !probe.is_runnable() && probe.waits_for_lock(); }));
  held.unlock();
  waiting_for_mutex.join();

  std::condition_variable condition;
  bool ready = false;
  ProbedThread sleeper;
  std::thread waiting_on_condition([&] {
    sleeper.announce();
    std::unique_lock<std::mutex> lock(mutex);
    condition.wait(lock, [&] { return ready; });
  });
  platform::ThreadProbe condition_probe;
  REQUIRE(sleeper.open(condition_probe));
  REQUIRE(wait_until([&] { return !condition_probe.is_runnable(); }));
  // Asleep on the condition, not on a lock (sampled a while: never seen as a lock wait).
  bool ever_lock = false;
  for (int i = 0; i < 200; ++i) ever_lock = ever_lock || condition_probe.waits_for_lock();
  CHECK_FALSE(ever_lock);
  {
    std::lock_guard<std::mutex> lock(mutex);
    ready = true;
  }
  condition.notify_one();
  waiting_on_condition.join();
}

TEST_CASE("workers queued on a contended mutex do not grow the pool like blocked ones",
          "[executor]") {
  // Every task takes a mutex the test holds for a while: the workers sleep on it with little
  // CPU, which looked blocked and grew the pool by kBlockedGrowth a tick (to the task count).
  // Waiting for a lock is contention; only the stall rule (one thread, at doubling intervals
  // from 50 ms) may add threads.
  constexpr int kTasks = 64;
  auto executor = fnhost::AutoscalingExecutor::create({.cpu_count = 2}).value();
  std::mutex mutex;
  std::unique_lock<std::mutex> held(mutex);
  std::atomic<int> done{0};
  for (int i = 0; i < kTasks; ++i) {
    REQUIRE(executor
                ->submit([&] {
                  std::lock_guard<std::mutex> lock(mutex);
                  done.fetch_add(1);
                })
                .ok());
  }
  // The hold under test: hundreds of monitor ticks (1 ms each) of workers asleep on it.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(done.load() == 0);
  held.unlock();
  REQUIRE(wait_until([&] { return done.load() == kTasks; }));
  const fnhost::ExecutorStats stats = executor->stats();
  INFO("peak_threads " << stats.peak_threads);
  CHECK(stats.peak_threads <= 2 + 6);
  CHECK(executor->shutdown().ok());
}

#endif

}  // namespace
