// SPDX-License-Identifier: Apache-2.0
#include "host/invocation_pool.hpp"

#include <atomic>
#include <vector>

#include "common/sync.hpp"
#include "host/host_internal.hpp"
#include "platform/platform.hpp"

namespace fnhost::detail {

namespace {

// Batches of kBatch records chained through Invocation::pool_next. Unbounded while work flows:
// a record freed to the allocator by a worker goes back to the arena of the producer thread
// that allocated it, under that arena's lock, and under a flood those frees made workers sleep
// on the lock (and the executor count them blocked). The excess is freed by trim_excess(), when
// a host runs out of work.
class Depot {
 public:
  void put(Invocation* batch) {
    SpinLockHolder lock(mu_);
    batches_.push_back(batch);
    size_.store(batches_.size(), std::memory_order_relaxed);
  }
  Invocation* take() {
    SpinLockHolder lock(mu_);
    if (batches_.empty()) return nullptr;
    Invocation* batch = batches_.back();
    batches_.pop_back();
    size_.store(batches_.size(), std::memory_order_relaxed);
    return batch;
  }
  // Takes the batches beyond `keep` out, for the caller to free outside the lock.
  std::vector<Invocation*> take_excess(size_t keep) {
    std::vector<Invocation*> excess;
    if (size_.load(std::memory_order_relaxed) <= keep) return excess;
    SpinLockHolder lock(mu_);
    while (batches_.size() > keep) {
      excess.push_back(batches_.back());
      batches_.pop_back();
    }
    size_.store(batches_.size(), std::memory_order_relaxed);
    return excess;
  }

 private:
  SpinLock mu_;
  std::vector<Invocation*> batches_ ABSL_GUARDED_BY(mu_);
  std::atomic<size_t> size_{0};  // batches_.size(), readable without the lock
};

// Never destroyed: worker threads may still recycle records while the process exits.
Depot& depot() {
  static Depot* const instance = new Depot();
  return *instance;
}

void free_chain(Invocation* chain) {
  while (chain != nullptr) {
    Invocation* next = chain->pool_next;
    delete chain;
    chain = next;
  }
}

// This thread's free records: `ready` serves acquire(); recycled records gather in `filling`
// until it holds a batch, which goes to the depot if `ready` is already well stocked.
struct LocalCache {
  Invocation* ready = nullptr;
  int ready_count = 0;
  Invocation* filling = nullptr;
  int filling_count = 0;

  LocalCache() = default;
  LocalCache(const LocalCache&) = delete;
  LocalCache& operator=(const LocalCache&) = delete;
  ~LocalCache() {
    free_chain(ready);
    free_chain(filling);
  }
};

LocalCache& local_cache() {
  thread_local LocalCache cache;
  return cache;
}

}  // namespace

Invocation* InvocationPool::acquire() {
  LocalCache& cache = local_cache();
  if (cache.ready == nullptr) {
    if (cache.filling != nullptr) {
      cache.ready = cache.filling;
      cache.ready_count = cache.filling_count;
      cache.filling = nullptr;
      cache.filling_count = 0;
    } else if (Invocation* batch = depot().take()) {
      cache.ready = batch;
      cache.ready_count = kBatch;
    } else {
      return new Invocation();
    }
  }
  Invocation* invocation = cache.ready;
  cache.ready = invocation->pool_next;
  --cache.ready_count;
  invocation->pool_next = nullptr;
  return invocation;
}

void InvocationPool::recycle(Invocation* invocation) {
  invocation->release_payload();
  LocalCache& cache = local_cache();
  if (cache.ready_count < kBatch) {
    invocation->pool_next = cache.ready;
    cache.ready = invocation;
    ++cache.ready_count;
    return;
  }
  invocation->pool_next = cache.filling;
  cache.filling = invocation;
  if (++cache.filling_count < kBatch) return;
  Invocation* batch = cache.filling;
  cache.filling = nullptr;
  cache.filling_count = 0;
  depot().put(batch);
}

void InvocationPool::trim_excess_now_and_then() {
  static std::atomic<int64_t> last_trim_ns{0};
  const int64_t now = platform::now_ns();
  int64_t last = last_trim_ns.load(std::memory_order_relaxed);
  if (now - last < kTrimIntervalNs) return;
  if (!last_trim_ns.compare_exchange_strong(last, now, std::memory_order_relaxed)) return;
  trim_excess();
}

void InvocationPool::trim_excess() {
  for (Invocation* batch : depot().take_excess(kMaxDepotBatches)) free_chain(batch);
}

}  // namespace fnhost::detail
