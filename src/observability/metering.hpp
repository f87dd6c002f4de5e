// SPDX-License-Identifier: Apache-2.0
// Internal (src/observability/metering.hpp).
// HostOptions::metering: a HostObserver that sums, per function, what each finished
// invocation is billed (Lambda's rules: see fnhost/metering.hpp). Every thread that finishes
// invocations sums into a shard of its own, so metering takes no lock and shares no cache line
// on the invocation path: the thread is the shard's only writer (plain loads and stores of
// relaxed atomics), and a report reads every shard. A lock is taken only when a thread meets a
// function for the first time.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "common/sync.hpp"
#include "fnhost/metering.hpp"
#include "fnhost/observability.hpp"
#include "observability/host_observer.hpp"

namespace fnhost::detail {

class Meter final : public HostObserver {
 public:
  explicit Meter(MeteringOptions options);
  void run_finished(const RunFacts& run) override;
  // Every function's sums, priced, for the window [start, end].
  [[nodiscard]] CostReport report(absl::Time start, absl::Time end) const;

  // One function's sums in one shard. Written by the shard's thread only, on a line of its own:
  // two threads' sums side by side would bounce that line between their CPUs on every
  // invocation.
  struct alignas(kCacheLine) Sums {
    std::atomic<int64_t> requests{0};
    std::atomic<int64_t> duration_ns{0};
    std::atomic<int64_t> billed_ms{0};
    std::atomic<int64_t> mb_ms{0};  // billed ms × memory_mb: exact, unlike summed GB-seconds
    std::atomic<int64_t> cpu_ns{0};
  };
  struct alignas(kCacheLine) Shard {
    // Inserted into by the shard's thread under `mu`; read by reports under `mu`; looked up by
    // the shard's thread without it (it is the only one that changes the map).
    mutable Mutex mu;
    absl::flat_hash_map<std::string, std::unique_ptr<Sums>> by_function;
  };

 private:
  Sums& sums_for(std::string_view function);

  const MeteringOptions options_;
  const uint64_t id_;  // tells this meter from one that later reuses its address
  mutable Mutex shards_mu_;
  std::vector<std::unique_ptr<Shard>> shards_ ABSL_GUARDED_BY(shards_mu_);
};

}  // namespace fnhost::detail
