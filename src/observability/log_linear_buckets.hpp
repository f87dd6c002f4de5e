// SPDX-License-Identifier: Apache-2.0
// Internal (src/observability/log_linear_buckets.hpp).
// The bucket layout of DurationHistogram, log-linear as in HdrHistogram: each power of two
// [2^e, 2^(e+1)) ns (an "octave") is cut into 64 buckets of equal width 2^(e-6) ns, for
// e = 9..41. That covers the tracked range [1 us, 1 h] (2^9 ns = 512 ns, 2^42 ns ~ 73 min);
// a value outside it is clamped to the nearer end first.
//
// Why 64 buckets per octave: every value in a bucket is within half a width of its midpoint,
// and a value v in octave e is at least 2^e, so |midpoint - v| <= 2^(e-7) <= v / 128: 0.78%,
// inside the 1% the histogram promises. 32 buckets would allow 1.6%; 128 would double the
// memory for accuracy nobody reads.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>

namespace fnhost::detail::log_linear {

inline constexpr int kSubBucketBits = 6;
inline constexpr int kSubBuckets = 1 << kSubBucketBits;  // buckets per octave
inline constexpr int kLowestOctave = 9;                  // [512 ns, 1024 ns) holds 1 us
inline constexpr int kHighestOctave = 41;                // [~36.6 min, ~73.3 min) holds 1 h
inline constexpr int kOctaves = kHighestOctave - kLowestOctave + 1;
inline constexpr int kBuckets = kOctaves * kSubBuckets;

// The tracked range: recorded values are clamped into [kLowestNs, kHighestNs].
inline constexpr int64_t kLowestNs = 1'000;               // 1 us
inline constexpr int64_t kHighestNs = 3'600'000'000'000;  // 1 h

static_assert(kLowestNs >= int64_t{1} << kLowestOctave, "1 us must fall in the lowest octave");
static_assert(kHighestNs < int64_t{1} << (kHighestOctave + 1),
              "1 h must fall in the highest octave");

// The bucket of `nanoseconds`, clamped into the tracked range first: 0 .. kBuckets - 1.
constexpr int bucket_of(int64_t nanoseconds) {
  const auto value = static_cast<uint64_t>(std::clamp(nanoseconds, kLowestNs, kHighestNs));
  const int octave = 63 - std::countl_zero(value);  // floor(log2(value))
  // The top kSubBucketBits + 1 bits of the value: 64 + the bucket within its octave.
  const auto top_bits = static_cast<int>(value >> (octave - kSubBucketBits));
  return (octave - kLowestOctave) * kSubBuckets + (top_bits - kSubBuckets);
}

// The smallest value of `bucket`.
constexpr int64_t lower_edge_of(int bucket) {
  const int octave = kLowestOctave + bucket / kSubBuckets;
  return int64_t{kSubBuckets + bucket % kSubBuckets} << (octave - kSubBucketBits);
}

// The width of `bucket`: it holds [lower_edge_of(bucket), lower_edge_of(bucket) + width).
constexpr int64_t width_of(int bucket) {
  return int64_t{1} << (kLowestOctave + bucket / kSubBuckets - kSubBucketBits);
}

// The value that stands for every value in `bucket` (a whole number: widths are >= 8 ns).
constexpr int64_t midpoint_of(int bucket) { return lower_edge_of(bucket) + width_of(bucket) / 2; }

}  // namespace fnhost::detail::log_linear
