// SPDX-License-Identifier: Apache-2.0
// Recycles invocation records. A record is taken by the thread that admits an invocation and
// freed by the worker that runs it, so malloc/free would pay glibc's cross-thread path, and a
// shared lock-free queue costs a contended dequeue per admission. Instead each thread keeps a
// small list of free records and trades whole batches of them with a shared depot, so the
// shared state is touched once per kBatch records.
#pragma once

#include <cstddef>
#include <cstdint>

namespace fnhost::detail {

struct Invocation;

class InvocationPool {
 public:
  // A record (its payload released; see Invocation::begin_admission): from this thread's
  // list, else a batch from the depot, else new.
  static Invocation* acquire();
  // Takes back a record whose last reference was dropped; releases its payload.
  static void recycle(Invocation* invocation);

  // Frees the depot's records beyond kMaxDepotBatches batches: called when a host runs out of
  // work, never on the path of an invocation, so a burst's records go back to the allocator
  // once the burst is over (bounding what it pins) without workers contending on allocator
  // locks while it runs.
  static void trim_excess();
  // trim_excess(), at most once per kTrimIntervalNs across the process: a flood that keeps
  // running out of work for a moment (a fan-out whose producer is a little slower than its
  // workers) would otherwise free records at each such moment and allocate them again at once
  // (a tenth of W7's time went to malloc and free).
  static void trim_excess_now_and_then();
  static constexpr int64_t kTrimIntervalNs = 50'000'000;

  static constexpr int kBatch = 32;
  // Batches the depot keeps after trim_excess().
  static constexpr size_t kMaxDepotBatches = 128;
};

}  // namespace fnhost::detail
