// SPDX-License-Identifier: Apache-2.0
// Recycles invocation records and the events a publish shares among its subscribers: both are
// taken by the thread that admits work and freed by the worker that runs it (see
// common/recycling_pool.hpp for why that is not left to malloc and free).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>

#include "common/recycling_pool.hpp"
#include "fnhost/event.hpp"

namespace fnhost::detail {

struct Invocation;

class InvocationPool {
 public:
  // A record (its payload released; see Invocation::begin_admission): recycled, else new.
  static Invocation* acquire();
  // Takes back a record whose last reference was dropped; releases its payload.
  static void recycle(Invocation* invocation);

  // Give what a burst left in the pools (records and shared events) back to the allocator;
  // see RecyclingPool::trim_excess and trim_excess_now_and_then.
  static void trim_excess();
  static void trim_excess_now_and_then();
};

// Memory for one shared Event with its shared_ptr control block, from a recycling pool.
struct EventBlock {
  static constexpr size_t kBytes = 384;
  EventBlock* next = nullptr;  // free-list link, overwritten while the block holds an event
};

struct EventBlockRecycling {
  using Node = EventBlock;
  static constexpr size_t kNodeBytes = EventBlock::kBytes;  // a block is more than its link
  static EventBlock*& next(EventBlock* block) { return block->next; }
  static void destroy(EventBlock* block) { ::operator delete(block, EventBlock::kBytes); }
};
using EventBlockPool = RecyclingPool<EventBlockRecycling>;

// The allocator std::allocate_shared uses for shared events: one pooled block for an object
// that fits (the event with its control block), the default allocator for anything else.
template <class T>
struct EventBlockAllocator {
  using value_type = T;
  EventBlockAllocator() = default;
  template <class U>
  explicit EventBlockAllocator(const EventBlockAllocator<U>&) noexcept {}

  static constexpr bool kPooled =
      sizeof(T) <= EventBlock::kBytes && alignof(T) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__;

  T* allocate(size_t n) {
    if (!kPooled || n != 1) return std::allocator<T>().allocate(n);
    if (EventBlock* block = EventBlockPool::take()) {
      block->~EventBlock();
      return reinterpret_cast<T*>(block);
    }
    return static_cast<T*>(::operator new(EventBlock::kBytes));
  }
  void deallocate(T* object, size_t n) noexcept {
    if (!kPooled || n != 1) {
      std::allocator<T>().deallocate(object, n);
      return;
    }
    EventBlockPool::put(new (static_cast<void*>(object)) EventBlock());
  }
  template <class U>
  bool operator==(const EventBlockAllocator<U>&) const noexcept {
    return true;
  }
};

// The one immutable copy of an event that its deliveries share.
inline std::shared_ptr<const Event> make_shared_event(Event&& event) {
  return std::allocate_shared<const Event>(EventBlockAllocator<Event>(), std::move(event));
}

}  // namespace fnhost::detail
