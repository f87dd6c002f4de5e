// SPDX-License-Identifier: Apache-2.0
// Recycles objects that one thread allocates and another frees: invocation records and the
// shared events a publish fans out. malloc/free would pay glibc's cross-thread path (a free
// takes the lock of the arena the producer allocated from, and under a flood workers sleep on
// it, and the executor counts them blocked), and a shared lock-free queue costs a contended
// operation per object. Instead each thread keeps a small list of free nodes and trades whole
// batches of them with a shared depot, so the shared state is touched once per kBatch nodes.
//
// Traits name the node type and how to chain and free it:
//   struct Traits {
//     using Node = ...;
//     static Node*& next(Node* node);  // the free-list link, unused while the node is live
//     static void destroy(Node* node); // gives it back to the allocator
//     static constexpr size_t kNodeBytes;  // optional: a node's bytes, if not sizeof(Node)
//   };
// Each Traits type gets its own depot and thread-local lists.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/sync.hpp"
#include "platform/platform.hpp"

namespace fnhost::detail {

template <class Traits>
class RecyclingPool {
 public:
  using Node = typename Traits::Node;

  static constexpr int kBatch = 32;
  // Batches the depot keeps after trim_excess().
  static constexpr size_t kMaxDepotBatches = 128;
  static constexpr int64_t kTrimIntervalNs = 50'000'000;

  // The bytes of one node: Traits::kNodeBytes where the node is more than its type.
  static constexpr size_t node_bytes() {
    if constexpr (requires { Traits::kNodeBytes; }) {
      return Traits::kNodeBytes;
    } else {
      return sizeof(Node);
    }
  }

  // A free node from this thread's list, else a batch from the depot; null if there is none
  // (the caller allocates a new one).
  static Node* take() {
    LocalCache& cache = local_cache();
    if (cache.ready == nullptr) {
      if (cache.filling != nullptr) {
        cache.ready = cache.filling;
        cache.ready_count = cache.filling_count;
        cache.filling = nullptr;
        cache.filling_count = 0;
      } else if (Node* batch = depot().take()) {
        cache.ready = batch;
        cache.ready_count = kBatch;
      } else {
        return nullptr;
      }
    }
    Node* node = cache.ready;
    cache.ready = Traits::next(node);
    --cache.ready_count;
    Traits::next(node) = nullptr;
    // The next take's node, most often freed by another thread: its lines travel meanwhile.
    if (cache.ready != nullptr) prefetch_for_write(cache.ready, node_bytes());
    return node;
  }

  // Takes back a node nobody uses any more.
  static void put(Node* node) {
    LocalCache& cache = local_cache();
    if (cache.ready_count < kBatch) {
      Traits::next(node) = cache.ready;
      cache.ready = node;
      ++cache.ready_count;
      return;
    }
    Traits::next(node) = cache.filling;
    cache.filling = node;
    if (++cache.filling_count < kBatch) return;
    Node* batch = cache.filling;
    cache.filling = nullptr;
    cache.filling_count = 0;
    depot().put(batch);
  }

  // Frees the depot's batches beyond kMaxDepotBatches: called when a host runs out of work,
  // never on the path of an invocation, so a burst's nodes go back to the allocator once the
  // burst is over (bounding what it pins) without workers contending on allocator locks while
  // it runs.
  static void trim_excess() {
    for (Node* batch : depot().take_excess(kMaxDepotBatches)) free_chain(batch);
  }

  // trim_excess(), at most once per kTrimIntervalNs across the process: a flood that keeps
  // running out of work for a moment (a fan-out whose producer is a little slower than its
  // workers) would otherwise free nodes at each such moment and allocate them again at once.
  static void trim_excess_now_and_then() {
    static std::atomic<int64_t> last_trim_ns{0};
    const int64_t now = platform::now_ns();
    int64_t last = last_trim_ns.load(std::memory_order_relaxed);
    if (now - last < kTrimIntervalNs) return;
    if (!last_trim_ns.compare_exchange_strong(last, now, std::memory_order_relaxed)) return;
    trim_excess();
  }

 private:
  static void free_chain(Node* chain) {
    while (chain != nullptr) {
      Node* next = Traits::next(chain);
      Traits::destroy(chain);
      chain = next;
    }
  }

  // Batches of kBatch nodes chained through Traits::next. Unbounded while work flows; the
  // excess is freed by trim_excess().
  class Depot {
   public:
    void put(Node* batch) {
      SpinLockHolder lock(mu_);
      batches_.push_back(batch);
      size_.store(batches_.size(), std::memory_order_relaxed);
    }
    Node* take() {
      SpinLockHolder lock(mu_);
      if (batches_.empty()) return nullptr;
      Node* batch = batches_.back();
      batches_.pop_back();
      size_.store(batches_.size(), std::memory_order_relaxed);
      return batch;
    }
    // Takes the batches beyond `keep` out, for the caller to free outside the lock.
    std::vector<Node*> take_excess(size_t keep) {
      std::vector<Node*> excess;
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
    std::vector<Node*> batches_ ABSL_GUARDED_BY(mu_);
    std::atomic<size_t> size_{0};  // batches_.size(), readable without the lock
  };

  // Never destroyed: worker threads may still recycle nodes while the process exits.
  static Depot& depot() {
    static Depot* const instance = new Depot();
    return *instance;
  }

  // This thread's free nodes: `ready` serves take(); recycled nodes gather in `filling` until
  // it holds a batch, which goes to the depot if `ready` is already well stocked.
  struct LocalCache {
    Node* ready = nullptr;
    int ready_count = 0;
    Node* filling = nullptr;
    int filling_count = 0;

    LocalCache() = default;
    LocalCache(const LocalCache&) = delete;
    LocalCache& operator=(const LocalCache&) = delete;
    ~LocalCache() {
      free_chain(ready);
      free_chain(filling);
    }
  };

  static LocalCache& local_cache() {
    thread_local LocalCache cache;
    return cache;
  }
};

}  // namespace fnhost::detail
