// SPDX-License-Identifier: Apache-2.0
// Internal (src/observability/histogram_snapshot.hpp).
// HistogramSnapshot: the merged counts of a DurationHistogram at one moment, and what is read
// from them — any percentile, the fixed summary FunctionStats reports, and cumulative counts at
// chosen bounds for a Prometheus exposition. All values are in nanoseconds.
//
//   const HistogramSnapshot snapshot = slot.duration.snapshot();
//   const int64_t p999 = snapshot.percentile(0.999);
//   const auto le = snapshot.cumulative_at({1'000'000, 10'000'000, kNoUpperBound});
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

namespace fnhost::detail {

// What FunctionStats reports of a histogram (DurationSummary, in nanoseconds).
struct HistogramSummary {
  int64_t count = 0;
  int64_t p50 = 0, p90 = 0, p99 = 0, max = 0;
};

// A plain value: copyable, immutable, independent of the histogram it was taken from.
class HistogramSnapshot {
 public:
  // The count of one non-empty bucket (log_linear_buckets.hpp numbers the buckets).
  struct Bucket {
    int index = 0;
    int64_t count = 0;
  };

  // An upper bound for cumulative_at() that every value is below: Prometheus' "+Inf".
  static constexpr int64_t kNoUpperBound = std::numeric_limits<int64_t>::max();

  // The empty snapshot: every reading is 0.
  HistogramSnapshot() = default;
  // `buckets`: the non-empty buckets in ascending index order. `sum`, `min` and `max` of the
  // recorded values; `min` and `max` are ignored when there are no counts.
  HistogramSnapshot(std::vector<Bucket> buckets, int64_t sum, int64_t min, int64_t max);

  int64_t count() const { return count_; }
  int64_t sum() const { return sum_; }  // of the values as recorded (negatives as 0)
  int64_t min() const { return min_; }  // exact
  int64_t max() const { return max_; }  // exact

  // The nearest-rank percentile for `quantile` in [0, 1] (percentile(0.99) is p99): an
  // estimate of the value at rank ceil(quantile * count) in sorted order, within 1/128 of it
  // when it lies in [1 us, 1 h]. Rank 1 is min and rank count is max, exactly. 0 when empty.
  int64_t percentile(double quantile) const;

  // p50, p90, p99 as percentile() gives them, with count and max.
  HistogramSummary summary() const;

  // For each of `upper_bounds_ns`, how many values are at most that bound, the way a
  // Prometheus histogram's cumulative "le" buckets count them. A bucket counts in full when its
  // midpoint is at most the bound, so each count is exact for some bound within 1/128 of the
  // one asked (exact for a bound one below a bucket's lower edge); values below 1 us count as
  // 1 us. kNoUpperBound gives count(). Any order; the result has the same order.
  std::vector<int64_t> cumulative_at(const std::vector<int64_t>& upper_bounds_ns) const;

 private:
  std::vector<Bucket> buckets_;
  int64_t count_ = 0;
  int64_t sum_ = 0;
  int64_t min_ = 0;
  int64_t max_ = 0;
};

}  // namespace fnhost::detail
