// SPDX-License-Identifier: Apache-2.0
#include "observability/metering.hpp"

#include <algorithm>
#include <atomic>
#include <map>

#include "observability/invocation_reports.hpp"

namespace fnhost {

namespace {

// Each thread's shard, chosen once, round robin.
size_t thread_shard(size_t shards) {
  static std::atomic<size_t> next{0};
  thread_local const size_t mine = next.fetch_add(1, std::memory_order_relaxed);
  return mine % shards;
}

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

void Meter::on_finished(const FinishedInvocation& finished) {
  // Never started: nothing ran, nothing is billed.
  if (finished.outcome == InvocationOutcome::kDropped) return;
  const int64_t billed = InvocationReports::billed_ms(finished.duration);
  Shard& shard = shards_[thread_shard(kShards)];
  MutexLock lock(shard.mu);
  auto it = shard.sums.find(absl::string_view(finished.function.data(), finished.function.size()));
  if (it == shard.sums.end()) it = shard.sums.try_emplace(std::string(finished.function)).first;
  Sums& sums = it->second;
  ++sums.requests;
  sums.duration_ns += absl::ToInt64Nanoseconds(finished.duration);
  sums.billed_ms += billed;
  sums.mb_ms += billed * finished.memory_mb;
  sums.cpu_ns += absl::ToInt64Nanoseconds(finished.cpu_time);
}

CostReport Meter::report(absl::Time start, absl::Time end) const {
  std::map<std::string, Sums, std::less<>> merged;
  for (Shard& shard : shards_) {
    MutexLock lock(shard.mu);
    for (const auto& [name, sums] : shard.sums) {
      Sums& into = merged[name];
      into.requests += sums.requests;
      into.duration_ns += sums.duration_ns;
      into.billed_ms += sums.billed_ms;
      into.mb_ms += sums.mb_ms;
      into.cpu_ns += sums.cpu_ns;
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
    const auto before = std::find_if(earlier.functions.begin(), earlier.functions.end(),
                                     [&](const FunctionCost& f) { return f.function == now.function; });
    if (before != earlier.functions.end()) add(cost, *before, -1);
    if (cost.requests <= 0) continue;
    add(window.total, cost, 1);
    window.functions.push_back(std::move(cost));
  }
  return window;
}

}  // namespace fnhost
