// SPDX-License-Identifier: Apache-2.0
// Recycles invocation records. A record is taken by the thread that admits an invocation and
// freed by the worker that runs it, so malloc/free would pay glibc's cross-thread path, and a
// shared lock-free queue costs a contended dequeue per admission. Instead each thread keeps a
// small list of free records and trades whole batches of them with a shared depot, so the
// shared state is touched once per kBatch records.
#pragma once

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

  static constexpr int kBatch = 32;
  // Records kept in the depot at most (beyond that, freed): bounds the memory a burst pins.
  static constexpr int kMaxDepotBatches = 128;
};

}  // namespace fnhost::detail
