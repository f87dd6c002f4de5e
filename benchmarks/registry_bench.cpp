// SPDX-License-Identifier: Apache-2.0
// File: benchmarks/registry_bench.cpp
// Google Benchmark micro-benchmarks of the host's per-call bookkeeping, through the public API:
//   has_function/N        registry lookup of a present name among N registered functions
//   invoke_async_notfound lookup miss plus the refusal (NotFound) on the invoke_async path
//   invoke_async_full     admission refusal: the function's one slot is busy and its one queue
//                         place taken, so every call is ResourceExhausted
//   function_stats        reading one function's counters
//   register_remove       registering and removing a function among 1,000 others
// Target: each well under the ~100-200 ns a no-op invoke_async may cost in total (issue 3: the
// full invoke_async path at >= the best peer's bare task rate).
//
//   build/bench/benchmarks/registry_bench --benchmark_min_time=0.05
#include <benchmark/benchmark.h>

#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>
#include <vector>

#include "fnhost/host.hpp"

namespace fnhost::bench {
namespace {

std::string function_name(int i) {
  char name[32];
  std::snprintf(name, sizeof(name), "fn-%06d", i);
  return name;
}

Result noop_handler(const Event&, Context&) { return std::string(); }

Host make_host(int functions) {
  auto host = Host::create({.log_sink = nullptr});
  if (!host.ok()) std::abort();
  for (int i = 0; i < functions; ++i) {
    if (!host->register_function({.name = function_name(i), .handler = noop_handler}).ok()) {
      std::abort();
    }
  }
  return std::move(*host);
}

void has_function(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  Host host = make_host(n);
  std::vector<std::string> names;
  for (int i = 0; i < n; ++i) names.push_back(function_name((i * 7919) % n));
  std::size_t next = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(host.has_function(names[next]));
    if (++next == names.size()) next = 0;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(has_function)->Arg(10)->Arg(1'000)->Arg(10'000);

void invoke_async_notfound(benchmark::State& state) {
  Host host = make_host(1'000);
  for (auto _ : state) {
    benchmark::DoNotOptimize(host.invoke_async("missing", Event{}));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(invoke_async_notfound);

void invoke_async_full(benchmark::State& state) {
  auto created = Host::create({.log_sink = nullptr});
  if (!created.ok()) std::abort();
  Host host = std::move(*created);
  std::mutex mu;
  std::condition_variable cv;
  bool open = false;
  bool started = false;
  const absl::Status registered = host.register_function({
      .name = "gated",
      .handler = [&](const Event&, Context&) -> Result {
        std::unique_lock<std::mutex> lock(mu);
        started = true;
        cv.notify_all();
        cv.wait(lock, [&] { return open; });
        return std::string();
      },
      .timeout = absl::Hours(1),
      .max_concurrency = 1,
      .max_queued = 1,
  });
  if (!registered.ok()) std::abort();
  (void)host.invoke_async("gated", Event{});
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return started; });
  }
  (void)host.invoke_async("gated", Event{});  // takes the one queue place
  int64_t accepted = 0;
  for (auto _ : state) {
    if (host.invoke_async("gated", Event{}).ok()) ++accepted;
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    open = true;
  }
  cv.notify_all();
  (void)host.shutdown(absl::Seconds(30));
  if (accepted != 0) state.SkipWithError("a call was admitted past max_queued");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(invoke_async_full);

void function_stats(benchmark::State& state) {
  Host host = make_host(1'000);
  const std::string name = function_name(500);
  for (auto _ : state) {
    benchmark::DoNotOptimize(host.function_stats(name));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(function_stats);

void register_remove(benchmark::State& state) {
  Host host = make_host(1'000);
  for (auto _ : state) {
    if (!host.register_function({.name = "extra", .handler = noop_handler}).ok() ||
        !host.remove_function("extra").ok()) {
      state.SkipWithError("register/remove failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(register_remove);

}  // namespace
}  // namespace fnhost::bench

BENCHMARK_MAIN();
