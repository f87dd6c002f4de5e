// SPDX-License-Identifier: Apache-2.0
// Internal (src/observability/histogram.hpp).
// DurationHistogram: a lock-free, sharded, log-linear histogram of durations in nanoseconds —
// a function's run times and init times (FunctionSlot::duration, ::init_duration). record()
// is on every invocation's path; snapshot() and summarize() serve FunctionStats and, later, a
// Prometheus exposition.
//
//   histogram.record(end_ns - start_ns);
//   const DurationHistogram::Summary summary = histogram.summarize();  // count, p50 .. max
//
// Accuracy: 64 linear buckets per power of two over [1 us, 1 h] (log_linear_buckets.hpp). A
// percentile is the midpoint of the bucket that holds the exact nearest-rank value, clamped
// into the exact [min, max], so it is within 1/128 (0.78%) of the exact nearest-rank percentile
// when that lies in [1 us, 1 h]. A value below 1 us counts as 1 us and one above 1 h as 1 h;
// count, sum, min and max are exact, of the values as recorded (a negative one as 0).
//
// Recording: kShards shards, each on cache lines of its own. A thread records into the shard
// its thread_local number names, handed out round-robin on its first record, so a pool's
// threads spread evenly (up to kShards threads started together get one each) instead of all
// writing the same lines. Counts are atomic because more threads than shards share them. A
// record costs two relaxed fetch_adds (the bucket and the sum) and reads of min and max, which
// are written only when a record passes them. snapshot() adds the shards up with relaxed
// loads and no lock: exact when no record runs concurrently; otherwise each count is one the
// bucket had during the call.
//
// Memory: one pointer until the first record, which allocates the shard table (kShards x
// 320 B = 2,560 B); a shard then allocates 512 B (64 counts) for each octave its threads
// record in. Durations spanning 100x (~7 octaves) from 8 or more threads: 2,560 + 8 x 7 x 512
// = 31,232 B (30.5 KiB); from one thread: 6,144 B. The ceiling, every octave in every shard:
// 2,560 + 8 x 33 x 512 = 137,728 B (134.5 KiB). Counts are 64-bit: a 32-bit count of one
// bucket in one shard would wrap after 72 minutes at a million records a second.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "common/sync.hpp"
#include "observability/histogram_snapshot.hpp"
#include "observability/log_linear_buckets.hpp"

namespace fnhost::detail {

class DurationHistogram {
 public:
  // Enough to keep the threads of a busy pool apart on most machines, few enough that a
  // histogram recorded from many threads stays in tens of KiB (see Memory above).
  static constexpr int kShards = 8;

  using Summary = HistogramSummary;
  using Snapshot = HistogramSnapshot;

  DurationHistogram() = default;
  DurationHistogram(const DurationHistogram&) = delete;
  DurationHistogram& operator=(const DurationHistogram&) = delete;
  ~DurationHistogram();

  // Counts one duration. Thread-safe and lock-free; allocates only the first time this
  // histogram, or this thread's shard in an octave, sees a value.
  void record(int64_t nanoseconds) {
    const int64_t value = std::max<int64_t>(nanoseconds, 0);
    Shard& shard = shard_of_this_thread();
    const int bucket = log_linear::bucket_of(value);
    std::atomic<Octave*>& octave_slot =
        shard.octaves[static_cast<size_t>(bucket / log_linear::kSubBuckets)];
    Octave* octave = octave_slot.load(std::memory_order_acquire);
    if (octave == nullptr) octave = allocate_octave(octave_slot);
    octave->counts[static_cast<size_t>(bucket % log_linear::kSubBuckets)].fetch_add(
        1, std::memory_order_relaxed);
    shard.sum.fetch_add(value, std::memory_order_relaxed);
    int64_t seen = shard.max.load(std::memory_order_relaxed);
    while (value > seen &&
           !shard.max.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
    }
    seen = shard.min.load(std::memory_order_relaxed);
    while (value < seen &&
           !shard.min.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
    }
  }

  // The shards added up. Thread-safe, lock-free; allocates the snapshot's bucket list.
  Snapshot snapshot() const;

  // count, p50, p90, p99 and max of snapshot(). Thread-safe.
  Summary summarize() const { return snapshot().summary(); }

  // Bytes this histogram has allocated (its shard table and octaves), for the memory claims
  // above and their tests. Thread-safe.
  size_t allocated_bytes() const;

 private:
  // The counts of one shard in one octave: 512 B, eight lines no other shard writes.
  struct alignas(kCacheLine) Octave {
    std::array<std::atomic<uint64_t>, log_linear::kSubBuckets> counts{};
  };

  struct alignas(kCacheLine) Shard {
    std::atomic<int64_t> sum{0};
    std::atomic<int64_t> min{std::numeric_limits<int64_t>::max()};
    std::atomic<int64_t> max{0};
    std::array<std::atomic<Octave*>, log_linear::kOctaves> octaves{};
  };

  struct Shards {
    std::array<Shard, kShards> shards;
  };

  Shard& shard_of_this_thread() {
    // Constant-initialised, so reading it needs no guard; -1 until this thread's first record.
    thread_local int shard = -1;
    if (shard < 0) shard = next_shard();
    Shards* shards = shards_.load(std::memory_order_acquire);
    if (shards == nullptr) shards = allocate_shards();
    return shards->shards[static_cast<size_t>(shard)];
  }

  // The shard for a thread recording for the first time: round-robin over all threads.
  static int next_shard();
  Shards* allocate_shards();
  static Octave* allocate_octave(std::atomic<Octave*>& slot);

  std::atomic<Shards*> shards_{nullptr};
};

}  // namespace fnhost::detail
