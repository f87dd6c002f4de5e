// SPDX-License-Identifier: Apache-2.0
#include "observability/histogram.hpp"

#include <utility>
#include <vector>

namespace fnhost::detail {

// The byte counts the header's Memory paragraph states.
static_assert(sizeof(DurationHistogram) == sizeof(void*));

DurationHistogram::~DurationHistogram() {
  Shards* shards = shards_.load(std::memory_order_acquire);
  if (shards == nullptr) return;
  for (Shard& shard : shards->shards) {
    for (std::atomic<Octave*>& octave : shard.octaves) {
      delete octave.load(std::memory_order_acquire);
    }
  }
  delete shards;
}

int DurationHistogram::next_shard() {
  // Process-wide, the one piece of state histograms share: it only spreads threads over the
  // shards, so it changes which cache lines a record writes, never what a histogram reports.
  // Threads of one pool usually record first in the order they were started, so a pool of up
  // to kShards threads gets a shard per thread.
  static std::atomic<unsigned> next{0};
  return static_cast<int>(next.fetch_add(1, std::memory_order_relaxed) % kShards);
}

DurationHistogram::Shards* DurationHistogram::allocate_shards() {
  static_assert(sizeof(Shard) == 320 && sizeof(Shards) == 2'560);
  auto* fresh = new Shards();
  Shards* expected = nullptr;
  // acq_rel: publishes the zeroed table to other recorders, or acquires the one that won.
  if (shards_.compare_exchange_strong(expected, fresh, std::memory_order_acq_rel)) return fresh;
  delete fresh;
  return expected;
}

DurationHistogram::Octave* DurationHistogram::allocate_octave(std::atomic<Octave*>& slot) {
  static_assert(sizeof(Octave) == 512);
  auto* fresh = new Octave();
  Octave* expected = nullptr;
  if (slot.compare_exchange_strong(expected, fresh, std::memory_order_acq_rel)) return fresh;
  delete fresh;
  return expected;
}

DurationHistogram::Snapshot DurationHistogram::snapshot() const {
  const Shards* shards = shards_.load(std::memory_order_acquire);
  if (shards == nullptr) return {};
  std::vector<Snapshot::Bucket> buckets;
  for (int octave = 0; octave < log_linear::kOctaves; ++octave) {
    std::array<uint64_t, log_linear::kSubBuckets> counts{};
    for (const Shard& shard : shards->shards) {
      const Octave* counted =
          shard.octaves[static_cast<size_t>(octave)].load(std::memory_order_acquire);
      if (counted == nullptr) continue;
      for (size_t sub = 0; sub < counts.size(); ++sub) {
        counts[sub] += counted->counts[sub].load(std::memory_order_relaxed);
      }
    }
    for (size_t sub = 0; sub < counts.size(); ++sub) {
      if (counts[sub] == 0) continue;
      buckets.push_back({.index = octave * log_linear::kSubBuckets + static_cast<int>(sub),
                         .count = static_cast<int64_t>(counts[sub])});
    }
  }
  int64_t sum = 0;
  int64_t min = std::numeric_limits<int64_t>::max();
  int64_t max = 0;
  for (const Shard& shard : shards->shards) {
    sum += shard.sum.load(std::memory_order_relaxed);
    min = std::min(min, shard.min.load(std::memory_order_relaxed));
    max = std::max(max, shard.max.load(std::memory_order_relaxed));
  }
  return Snapshot(std::move(buckets), sum, min, max);
}

size_t DurationHistogram::allocated_bytes() const {
  const Shards* shards = shards_.load(std::memory_order_acquire);
  if (shards == nullptr) return 0;
  size_t bytes = sizeof(Shards);
  for (const Shard& shard : shards->shards) {
    for (const std::atomic<Octave*>& octave : shard.octaves) {
      if (octave.load(std::memory_order_acquire) != nullptr) bytes += sizeof(Octave);
    }
  }
  return bytes;
}

}  // namespace fnhost::detail
