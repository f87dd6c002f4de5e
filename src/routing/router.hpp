// SPDX-License-Identifier: Apache-2.0
// Router: the triggers of one host and the topic trie that finds them. Publishing matches
// under a shared lock and takes a reference to each matching trigger, then queues the
// invocations outside the lock (admission runs observers, user code that may subscribe);
// subscribe and unsubscribe take the lock exclusively, so a change is atomic for publishers:
// a publish that starts after unsubscribe() returned never matches the removed trigger.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "fnhost/event.hpp"
#include "fnhost/router.hpp"
#include "routing/topic.hpp"

namespace fnhost::detail {

struct Principal;

struct FunctionSlot;
class OrderingTable;
class Batcher;

struct Trigger {
  TriggerId id = 0;
  std::string pattern;
  Filter filter;
  bool filters = false;  // false when the filter passes every event (skip evaluating it)
  // The function's registry slot: slots outlive removal (a re-registered name reuses its
  // slot), so a trigger of a removed function is refused by admission, never dangling.
  FunctionSlot* slot = nullptr;
  // Whose trigger it is (Caller::subscribe): its deliveries run as this principal; null: the
  // host. Principals live as long as the host.
  const Principal* owner = nullptr;

  std::atomic<int64_t> delivered{0};
  std::atomic<int64_t> filtered_out{0};
  std::atomic<int64_t> refused{0};
  std::atomic<int64_t> throttled{0};
  // Null unless TriggerSpec::ordering_key is set.
  std::shared_ptr<OrderingTable> ordering;
  // Null unless TriggerSpec::batch_size >= 2; owned by the host.
  Batcher* batcher = nullptr;
};

// Matching triggers of one event; inline up to a fan-out of 8. Valid while the lock
// Router::match returned is held.
using Matches = absl::InlinedVector<Trigger*, 8>;

class Router {
 public:
  // At most this many triggers per host.
  static constexpr size_t kMaxTriggers = 1'000'000;

  // Adds a trigger for `slot`'s function. InvalidArgument for a bad pattern or filter,
  // ResourceExhausted past kMaxTriggers.
  absl::StatusOr<TriggerId> add(std::string pattern, Filter filter, FunctionSlot* slot,
                                std::string ordering_key = {}, Batcher* batcher = nullptr,
                                const Principal* owner = nullptr);
  // The name of the function trigger `id` delivers to; NotFound if no trigger has that id.
  absl::StatusOr<std::string> function_of(TriggerId id) const;
  // NotFound if no trigger has that id.
  // `*batcher` (may be null) receives the removed trigger's batcher, if it had one.
  absl::Status remove(TriggerId id, Batcher** batcher = nullptr);
  // Every trigger, by id; `function_name` reads a slot's name.
  std::vector<TriggerInfo> list() const;

  // Appends the triggers whose pattern matches `event.topic` (a valid topic) and whose filter
  // passes it; counts the ones a filter refused. They stay valid (an unsubscribe waits) while
  // the returned lock is held: a publish delivers under it, and pays no reference count per
  // subscriber. Nothing that waits may run under it.
  [[nodiscard]] std::shared_lock<std::shared_mutex> match(const Event& event, Matches& out) const;

  int64_t size() const;

  // Takes an id from the triggers' counter for something else that shares their id space
  // (schedules), so unsubscribe() finds either by id.
  TriggerId allocate_id();

 private:
  mutable std::shared_mutex mu_;
  TopicTrie trie_;  // pattern -> Trigger* (as its bits); guarded by mu_
  absl::flat_hash_map<TriggerId, std::shared_ptr<Trigger>> triggers_;  // guarded by mu_
  TriggerId next_id_ = 1;                                              // guarded by mu_
};

}  // namespace fnhost::detail
