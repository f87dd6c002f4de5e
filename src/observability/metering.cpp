// SPDX-License-Identifier: Apache-2.0
#include "observability/metering.hpp"

#include <algorithm>
#include <atomic>
#include <map>

#include "observability/invocation_reports.hpp"

namespace fnhost {

namespace {

void price(FunctionCost& cost, const MeteringOptions& options) {
  cost.cost = cost.gb_seconds * options.price_per_gb_second +
              static_cast<double>(cost.requests) * options.price_per_million_requests / 1e6;
}

void add(FunctionCost& into, const FunctionCost& from, int sign) {
  into.requests += sign * from.requests;
  into.duration += sign * from.duration;
  into.billed_duration += sign * from.billed_duration;
  into.gb_seconds += sign * from.gb_seconds;
  into.cpu_time += sign * from.cpu_time;
  into.cost += sign * from.cost;
}

}  // namespace

namespace detail {

namespace {
std::atomic<uint64_t> next_meter_id{1};

// The calling thread's shard of one meter, and the sums it used last: a thread mostly finishes
// invocations of one function after another.
struct ThreadMeterCache {
  uint64_t meter_id = 0;
  Meter::Shard* shard = nullptr;
  const char* function_data = nullptr;
  size_t function_size = 0;
  Meter::Sums* sums = nullptr;
};
thread_local ThreadMeterCache thread_cache;

void add_relaxed(std::atomic<int64_t>& sum, int64_t value) {
  // The shard's thread is the only writer: no read-modify-write needed.
  sum.store(sum.load(std::memory_order_relaxed) + value, std::memory_order_relaxed);
}
}  // namespace

Meter::Meter(MeteringOptions options)
    : options_(options), id_(next_meter_id.fetch_add(1, std::memory_order_relaxed)) {}

Meter::Sums& Meter::sums_for(std::string_view function) {
  ThreadMeterCache& cache = thread_cache;
  if (cache.meter_id == id_ && cache.function_data == function.data() &&
      cache.function_size == function.size()) {
    return *cache.sums;
  }
  if (cache.meter_id != id_) {
    // A thread meets this meter: a shard of its own (kept by the meter, so a report still sees
    // it after the thread is gone).
    auto shard = std::make_unique<Shard>();
    cache = ThreadMeterCache{.meter_id = id_, .shard = shard.get()};
    MutexLock lock(shards_mu_);
    shards_.push_back(std::move(shard));
  }
  Shard& shard = *cache.shard;
  const absl::string_view key(function.data(), function.size());
  auto it = shard.by_function.find(key);
  if (it == shard.by_function.end()) {
    MutexLock lock(shard.mu);
    it = shard.by_function.try_emplace(std::string(function), std::make_unique<Sums>()).first;
  }
  cache.function_data = function.data();
  cache.function_size = function.size();
  cache.sums = it->second.get();
  return *cache.sums;
}

void Meter::run_finished(const RunFacts& run) {
  const int64_t duration_ns = run.end_ns - run.start_ns;
  const int64_t billed = billed_ms_of_ns(duration_ns);
  Sums& sums = sums_for(run.function);
  add_relaxed(sums.requests, 1);
  add_relaxed(sums.duration_ns, duration_ns);
  add_relaxed(sums.billed_ms, billed);
  add_relaxed(sums.mb_ms, billed * run.memory_mb);
  add_relaxed(sums.cpu_ns, run.cpu_ns);
}

CostReport Meter::report(absl::Time start, absl::Time end) const {
  struct Merged {
    int64_t requests = 0, duration_ns = 0, billed_ms = 0, mb_ms = 0, cpu_ns = 0;
  };
  std::map<std::string, Merged, std::less<>> merged;
  {
    MutexLock shards_lock(shards_mu_);
    for (const auto& shard : shards_) {
      MutexLock lock(shard->mu);
      for (const auto& [name, sums] : shard->by_function) {
        Merged& into = merged[name];
        into.requests += sums->requests.load(std::memory_order_relaxed);
        into.duration_ns += sums->duration_ns.load(std::memory_order_relaxed);
        into.billed_ms += sums->billed_ms.load(std::memory_order_relaxed);
        into.mb_ms += sums->mb_ms.load(std::memory_order_relaxed);
        into.cpu_ns += sums->cpu_ns.load(std::memory_order_relaxed);
      }
    }
  }
  CostReport report{.start = start, .end = end};
  for (const auto& [name, sums] : merged) {
    FunctionCost cost{.function = name,
                      .requests = sums.requests,
                      .duration = absl::Nanoseconds(sums.duration_ns),
                      .billed_duration = absl::Milliseconds(sums.billed_ms),
                      .gb_seconds = static_cast<double>(sums.mb_ms) / (1024.0 * 1000.0),
                      .cpu_time = absl::Nanoseconds(sums.cpu_ns)};
    price(cost, options_);
    add(report.total, cost, 1);
    report.functions.push_back(std::move(cost));
  }
  return report;
}

}  // namespace detail

CostReport CostReport::since(const CostReport& earlier) const {
  CostReport window{.start = earlier.end, .end = end};
  for (const FunctionCost& now : functions) {
    FunctionCost cost = now;
    const auto before =
        std::find_if(earlier.functions.begin(), earlier.functions.end(),
                     [&](const FunctionCost& f) { return f.function == now.function; });
    if (before != earlier.functions.end()) add(cost, *before, -1);
    if (cost.requests <= 0) continue;
    add(window.total, cost, 1);
    window.functions.push_back(std::move(cost));
  }
  return window;
}

}  // namespace fnhost
