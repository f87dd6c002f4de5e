// SPDX-License-Identifier: Apache-2.0
// Internal (src/observability/metering.hpp).
// HostOptions::metering: an InvocationObserver that sums, per function, what each finished
// invocation is billed (Lambda's rules: see fnhost/metering.hpp). Sums live in a few striped
// shards, each thread always writing the same one, so invocations on different threads rarely
// meet on a lock; a report merges them.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "common/sync.hpp"
#include "fnhost/metering.hpp"
#include "fnhost/observability.hpp"

namespace fnhost::detail {

class Meter final : public InvocationObserver {
 public:
  explicit Meter(MeteringOptions options) : options_(options) {}
  void on_finished(const FinishedInvocation& finished) override;
  // Every function's sums, priced, for the window [start, end].
  [[nodiscard]] CostReport report(absl::Time start, absl::Time end) const;

 private:
  struct Sums {
    int64_t requests = 0;
    int64_t duration_ns = 0;
    int64_t billed_ms = 0;
    int64_t mb_ms = 0;  // billed ms × memory_mb: exact, unlike a running sum of GB-seconds
    int64_t cpu_ns = 0;
  };
  struct alignas(kCacheLine) Shard {
    Mutex mu;
    absl::flat_hash_map<std::string, Sums> sums ABSL_GUARDED_BY(mu);
  };
  static constexpr size_t kShards = 8;

  const MeteringOptions options_;
  mutable std::array<Shard, kShards> shards_;
};

}  // namespace fnhost::detail
