// SPDX-License-Identifier: Apache-2.0
#include "observability/histogram_snapshot.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

#include "observability/log_linear_buckets.hpp"

namespace fnhost::detail {
namespace {

// ceil(quantile * count), kept in [1, count]. A product within a relative 1e-9 of a whole
// number counts as that number: 0.99 has no exact binary form, and 0.99 * n must still be the
// rank the decimal says, not one more.
int64_t nearest_rank(double quantile, int64_t count) {
  if (!(quantile > 0.0)) return 1;  // NaN too
  if (quantile >= 1.0) return count;
  const double scaled = quantile * static_cast<double>(count);
  const double whole = std::round(scaled);
  const double rank = std::abs(scaled - whole) <= 1e-9 * whole ? whole : std::ceil(scaled);
  return std::clamp(static_cast<int64_t>(rank), int64_t{1}, count);
}

}  // namespace

HistogramSnapshot::HistogramSnapshot(std::vector<Bucket> buckets, int64_t sum, int64_t min,
                                     int64_t max)
    : buckets_(std::move(buckets)), sum_(sum) {
  for (const Bucket& bucket : buckets_) count_ += bucket.count;
  if (count_ == 0) return;
  max_ = max;
  // A snapshot taken while a shard records its first value may see the count before the
  // shard's min; min <= max keeps the clamping in percentile() well defined.
  min_ = std::min(min, max);
}

int64_t HistogramSnapshot::percentile(double quantile) const {
  if (count_ == 0) return 0;
  const int64_t rank = nearest_rank(quantile, count_);
  if (rank == 1) return min_;
  if (rank == count_) return max_;
  int64_t seen = 0;
  for (const Bucket& bucket : buckets_) {
    seen += bucket.count;
    // The value at `rank` is in this bucket, so within 1/128 of its midpoint (see
    // log_linear_buckets.hpp); it is also in [min, max], so clamping can only bring the
    // estimate nearer — and makes a histogram of one repeated value exact.
    if (seen >= rank) return std::clamp(log_linear::midpoint_of(bucket.index), min_, max_);
  }
  return max_;
}

HistogramSummary HistogramSnapshot::summary() const {
  return {.count = count_,
          .p50 = percentile(0.5),
          .p90 = percentile(0.9),
          .p99 = percentile(0.99),
          .max = max_};
}

std::vector<int64_t> HistogramSnapshot::cumulative_at(
    const std::vector<int64_t>& upper_bounds_ns) const {
  std::vector<int64_t> counts;
  counts.reserve(upper_bounds_ns.size());
  for (const int64_t bound : upper_bounds_ns) {
    int64_t at_most = 0;
    for (const Bucket& bucket : buckets_) {
      if (log_linear::midpoint_of(bucket.index) > bound) break;
      at_most += bucket.count;
    }
    counts.push_back(at_most);
  }
  return counts;
}

}  // namespace fnhost::detail
