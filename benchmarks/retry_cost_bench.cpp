// SPDX-License-Identifier: Apache-2.0
// File: benchmarks/retry_cost_bench.cpp
// fnhost_retry_cost_bench: what an event waiting for its retry costs. Queues N events (payload
// of 15 bytes, which std::string keeps inline) for a function that always fails with a
// retryable error and a one-hour backoff, waits until all N wait for their retry, and prints the
// heap bytes per waiting event (mallinfo2, after minus before, over N), the threads busy
// meanwhile, and the same with the backoff over (all N re-queued and dead-lettered). The target:
// a waiting retry holds no thread and costs <= 256 bytes; the exit code is 1 if it misses.
//
//   fnhost_retry_cost_bench [N]      (default 200000)
#include <malloc.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "fnhost/fnhost.hpp"

namespace {

size_t heap_in_use() { return mallinfo2().uordblks; }

template <class Done>
bool wait_for(Done&& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(2);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t n = argc > 1 ? std::atoll(argv[1]) : 200'000;
  auto clock = fnhost::ManualClock::create();
  auto host = fnhost::Host::create({.log_sink = nullptr,
                                    .clock = clock,
                                    .dead_letter_store = nullptr})
                  .value();
  if (!host.register_function({.name = "fails",
                               .handler = [](const fnhost::Event&, fnhost::Context&) -> fnhost::Result {
                                 return absl::UnavailableError("down");
                               },
                               .retry = {.max_attempts = 2,
                                         .initial_backoff = absl::Hours(1),
                                         .max_backoff = absl::Hours(1)}})
           .ok()) {
    return 1;
  }
  const auto retries = [&] { return host.function_stats("fails").value().retries; };
  // Warm up the pools (invocation records, queue blocks) so they are not counted.
  for (int i = 0; i < 1000; ++i) (void)host.invoke_async("fails", fnhost::Event::with_data("warm"));
  if (!wait_for([&] { return retries() == 1000; })) return 1;
  const std::string payload(15, 'x');
  const size_t before = heap_in_use();
  for (int64_t i = 0; i < n; ++i) {
    if (!host.invoke_async("fails", fnhost::Event::with_data(payload)).ok()) return 1;
  }
  if (!wait_for([&] { return retries() == n + 1000; })) return 1;
  if (!wait_for([&] { return host.executor_stats().busy == 0; })) return 1;
  const size_t after = heap_in_use();
  const fnhost::ExecutorStats executor = host.executor_stats();
  std::printf("## fnhost_retry_cost_bench\n\n");
  std::printf("| waiting retries | heap bytes per waiting retry (target <= 256) | workers busy while they wait |\n");
  std::printf("|---|---|---|\n");
  const double per_retry = static_cast<double>(after - before) / static_cast<double>(n);
  std::printf("| %lld | %.1f | %lld |\n", static_cast<long long>(n), per_retry,
              static_cast<long long>(executor.busy));
  // The backoff passes: every event is re-queued, fails again and is dead-lettered (no store).
  clock->advance(absl::Hours(1));
  if (!wait_for([&] {
        return host.function_stats("fails").value().events_dead_lettered == n + 1000;
      })) {
    return 1;
  }
  std::printf("\nafter the backoff: %lld dead-lettered, %lld pending\n",
              static_cast<long long>(host.function_stats("fails").value().events_dead_lettered),
              static_cast<long long>(host.function_stats("fails").value().events_pending));
  // A size, not a speed: the same on any machine, so it may fail the run.
  const bool met = per_retry <= 256 && executor.busy == 0;
  if (!met) std::printf("FAILED: the target is <= 256 bytes and no thread per waiting retry\n");
  return met ? 0 : 1;
}
