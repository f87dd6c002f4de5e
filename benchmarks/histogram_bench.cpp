// SPDX-License-Identifier: Apache-2.0
// File: benchmarks/histogram_bench.cpp
// Google Benchmark micro-benchmarks of the duration histogram (internal, so src/ is on its
// include path), which every finished invocation records into:
//   record/threads:N       DurationHistogram::record from N threads into one histogram (one
//                          function run by N workers), durations log-uniform over 10 us .. 10 ms
//   shared_counter/threads:N  a relaxed fetch_add on one atomic all N threads share: what a
//                          record would cost if every worker wrote the same cache line
//   summarize              DurationHistogram::summarize (FunctionStats) after 8 threads recorded
// Target: record within a few ns of one uncontended fetch_add, and per-thread cost not growing
// with threads up to DurationHistogram::kShards (on as many cores), unlike shared_counter.
//
//   cmake --preset bench && cmake --build --preset bench --target histogram_bench
//   build/bench/benchmarks/histogram_bench --benchmark_min_time=0.05
#include <benchmark/benchmark.h>

#include <array>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <random>
#include <thread>
#include <vector>

#include "observability/histogram.hpp"

namespace {

using fnhost::detail::DurationHistogram;

constexpr size_t kDurations = 4'096;

// Log-uniform over 10 us .. 10 ms: 10 octaves, typical of a function's run times.
const std::array<int64_t, kDurations>& durations() {
  static const std::array<int64_t, kDurations> values = [] {
    std::array<int64_t, kDurations> generated{};
    std::mt19937_64 random(1);
    std::uniform_real_distribution<double> exponent(std::log(1e4), std::log(1e7));
    for (int64_t& value : generated) value = std::llround(std::exp(exponent(random)));
    return generated;
  }();
  return values;
}

void record(benchmark::State& state) {
  static DurationHistogram histogram;
  const auto& values = durations();
  size_t next = static_cast<size_t>(state.thread_index()) * 613 % kDurations;
  for (auto _ : state) {
    histogram.record(values[next]);
    next = (next + 1) % kDurations;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(record)->ThreadRange(1, 8)->UseRealTime();

void shared_counter(benchmark::State& state) {
  static std::atomic<int64_t> counter{0};
  for (auto _ : state) counter.fetch_add(1, std::memory_order_relaxed);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(shared_counter)->ThreadRange(1, 8)->UseRealTime();

void summarize(benchmark::State& state) {
  DurationHistogram histogram;
  std::vector<std::thread> recorders;
  for (int t = 0; t < 8; ++t) {
    recorders.emplace_back([&histogram] {
      for (const int64_t value : durations()) histogram.record(value);
    });
  }
  for (std::thread& recorder : recorders) recorder.join();
  for (auto _ : state) benchmark::DoNotOptimize(histogram.summarize());
}
BENCHMARK(summarize);

}  // namespace

BENCHMARK_MAIN();
