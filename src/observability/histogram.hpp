// SPDX-License-Identifier: Apache-2.0
// A lock-free log-linear histogram of durations: 4 sub-buckets per power of two from 1 us to
// ~18 min (values outside are clamped), so a percentile is within 25% of the true value. The
// bucket array is allocated on the first record, so a function that never runs pays 8 bytes.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cstdint>
#include <memory>

namespace fnhost::detail {

class DurationHistogram {
 public:
  static constexpr int kSubBits = 2;
  static constexpr int kMinExponent = 10;  // 2^10 ns ~ 1 us
  static constexpr int kMaxExponent = 40;  // 2^40 ns ~ 18 min
  static constexpr int kBuckets = (kMaxExponent - kMinExponent + 1) << kSubBits;

  DurationHistogram() = default;
  DurationHistogram(const DurationHistogram&) = delete;
  DurationHistogram& operator=(const DurationHistogram&) = delete;
  ~DurationHistogram() { delete buckets_.load(std::memory_order_acquire); }

  void record(int64_t nanoseconds) {
    Buckets* buckets = buckets_.load(std::memory_order_acquire);
    if (buckets == nullptr) buckets = allocate();
    (*buckets).counts[bucket_of(nanoseconds)].fetch_add(1, std::memory_order_relaxed);
    int64_t seen = max_.load(std::memory_order_relaxed);
    while (nanoseconds > seen &&
           !max_.compare_exchange_weak(seen, nanoseconds, std::memory_order_relaxed)) {
    }
  }

  struct Summary {
    int64_t count = 0;
    int64_t p50 = 0, p90 = 0, p99 = 0, max = 0;  // nanoseconds
  };

  // Percentiles from a racy read of the buckets: exact when no record runs concurrently.
  Summary summarize() const {
    Summary summary;
    const Buckets* buckets = buckets_.load(std::memory_order_acquire);
    if (buckets == nullptr) return summary;
    std::array<int64_t, kBuckets> counts{};
    for (int i = 0; i < kBuckets; ++i) {
      counts[static_cast<size_t>(i)] =
          static_cast<int64_t>(buckets->counts[i].load(std::memory_order_relaxed));
      summary.count += counts[static_cast<size_t>(i)];
    }
    if (summary.count == 0) return summary;
    summary.max = max_.load(std::memory_order_relaxed);
    const auto percentile = [&](int per_mille) {
      const int64_t rank = std::max<int64_t>(1, (summary.count * per_mille + 999) / 1000);
      int64_t seen = 0;
      for (int i = 0; i < kBuckets; ++i) {
        seen += counts[static_cast<size_t>(i)];
        if (seen >= rank) return std::min(upper_bound_of(i), summary.max);
      }
      return summary.max;
    };
    summary.p50 = percentile(500);
    summary.p90 = percentile(900);
    summary.p99 = percentile(990);
    return summary;
  }

 private:
  struct Buckets {
    std::array<std::atomic<uint64_t>, kBuckets> counts{};
  };

  static int bucket_of(int64_t nanoseconds) {
    const uint64_t value = static_cast<uint64_t>(std::max<int64_t>(nanoseconds, 1));
    const int exponent = 63 - std::countl_zero(value);
    if (exponent < kMinExponent) return 0;
    if (exponent > kMaxExponent) return kBuckets - 1;
    const int sub = static_cast<int>((value >> (exponent - kSubBits)) & ((1 << kSubBits) - 1));
    return ((exponent - kMinExponent) << kSubBits) + sub;
  }

  static int64_t upper_bound_of(int bucket) {
    const int exponent = (bucket >> kSubBits) + kMinExponent;
    const int sub = bucket & ((1 << kSubBits) - 1);
    const int64_t base = int64_t{1} << exponent;
    return base + (base >> kSubBits) * (sub + 1);
  }

  Buckets* allocate() {
    auto fresh = std::make_unique<Buckets>();
    Buckets* expected = nullptr;
    if (buckets_.compare_exchange_strong(expected, fresh.get(), std::memory_order_acq_rel)) {
      return fresh.release();
    }
    return expected;
  }

  std::atomic<Buckets*> buckets_{nullptr};
  std::atomic<int64_t> max_{0};
};

}  // namespace fnhost::detail
