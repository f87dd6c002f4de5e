// SPDX-License-Identifier: Apache-2.0
#include "host/invocation_pool.hpp"

#include "host/host_internal.hpp"

namespace fnhost::detail {

namespace {

struct InvocationRecycling {
  using Node = Invocation;
  static Invocation*& next(Invocation* invocation) { return invocation->pool_next; }
  static void destroy(Invocation* invocation) { delete invocation; }
};
using RecordPool = RecyclingPool<InvocationRecycling>;

// A publish's shared event must fit one pooled block, or every publish would allocate.
static_assert(sizeof(Event) + 64 <= EventBlock::kBytes);

}  // namespace

Invocation* InvocationPool::acquire() {
  if (Invocation* invocation = RecordPool::take()) return invocation;
  return new Invocation();
}

void InvocationPool::recycle(Invocation* invocation) {
  invocation->release_payload();
  RecordPool::put(invocation);
}

void InvocationPool::trim_excess() {
  RecordPool::trim_excess();
  EventBlockPool::trim_excess();
}

void InvocationPool::trim_excess_now_and_then() {
  RecordPool::trim_excess_now_and_then();
  EventBlockPool::trim_excess_now_and_then();
}

}  // namespace fnhost::detail
