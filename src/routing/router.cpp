// SPDX-License-Identifier: Apache-2.0
#include "routing/router.hpp"

#include <algorithm>
#include <mutex>
#include <utility>

#include "fmt/format.h"
#include "host/host_internal.hpp"
#include "routing/batcher.hpp"
#include "routing/ordering.hpp"

namespace fnhost::detail {

namespace {

// The trie stores each trigger under its own pattern, as the bits of its address: a match
// needs no second lookup.
uint64_t trie_value(const Trigger* trigger) { return reinterpret_cast<uintptr_t>(trigger); }
Trigger* trigger_of(uint64_t value) {
  return reinterpret_cast<Trigger*>(static_cast<uintptr_t>(value));
}

}  // namespace

absl::StatusOr<TriggerId> Router::add(std::string pattern, Filter filter, FunctionSlot* slot,
                                      std::string ordering_key, Batcher* batcher,
                                      const Principal* owner) {
  if (absl::Status valid = validate_topic_pattern(pattern); !valid.ok()) return valid;
  if (absl::Status valid = filter.validate(); !valid.ok()) return valid;
  auto trigger = std::make_shared<Trigger>();
  if (!ordering_key.empty()) {
    if (!OrderingTable::is_valid_attribute(ordering_key)) {
      return absl::InvalidArgumentError(
          fmt::format("ordering_key \"{}\" must be an attribute name: 1-64 of [A-Za-z0-9_.-]",
                      ordering_key.substr(0, 64)));
    }
    trigger->ordering = std::make_shared<OrderingTable>(std::move(ordering_key), slot->host, slot);
  }
  trigger->pattern = std::move(pattern);
  trigger->batcher = batcher;
  trigger->filters = !filter.is_match_all();
  trigger->filter = std::move(filter);
  trigger->slot = slot;
  trigger->owner = owner;
  std::unique_lock lock(mu_);
  if (triggers_.size() >= kMaxTriggers) {
    return absl::ResourceExhaustedError(
        fmt::format("a host holds at most {} triggers; unsubscribe some first", kMaxTriggers));
  }
  trigger->id = next_id_++;
  trie_.insert(trigger->pattern, trie_value(trigger.get()));
  const TriggerId id = trigger->id;
  triggers_.emplace(id, std::move(trigger));
  return id;
}

TriggerId Router::allocate_id() {
  std::unique_lock lock(mu_);
  return next_id_++;
}

absl::Status Router::remove(TriggerId id, Batcher** batcher) {
  std::shared_ptr<Trigger> removed;  // destroyed after the lock is released
  std::unique_lock lock(mu_);
  auto it = triggers_.find(id);
  if (it == triggers_.end()) {
    return absl::NotFoundError(fmt::format("no trigger has id {}", id));
  }
  removed = std::move(it->second);
  triggers_.erase(it);
  trie_.erase(removed->pattern, trie_value(removed.get()));
  if (batcher != nullptr) *batcher = removed->batcher;
  return absl::OkStatus();
}

absl::StatusOr<std::string> Router::function_of(TriggerId id) const {
  std::shared_lock lock(mu_);
  auto it = triggers_.find(id);
  if (it == triggers_.end()) return absl::NotFoundError(fmt::format("no trigger has id {}", id));
  return it->second->slot->name;
}

std::vector<TriggerInfo> Router::list() const {
  std::vector<TriggerInfo> infos;
  std::shared_lock lock(mu_);
  infos.reserve(triggers_.size());
  for (const auto& [id, trigger] : triggers_) {
    infos.push_back({.id = id,
                     .pattern = trigger->pattern,
                     .function = trigger->slot->name,
                     .filter = trigger->filter.to_string(),
                     .delivered = trigger->delivered.load(std::memory_order_relaxed),
                     .filtered_out = trigger->filtered_out.load(std::memory_order_relaxed),
                     .refused = trigger->refused.load(std::memory_order_relaxed),
                     .throttled = trigger->throttled.load(std::memory_order_relaxed),
                     .ordering_key = trigger->ordering ? trigger->ordering->attribute() : "",
                     .ordered_waiting = trigger->ordering ? trigger->ordering->waiting() : 0,
                     .batch_size = trigger->batcher ? trigger->batcher->batch_size() : 0,
                     .batches = trigger->batcher ? trigger->batcher->batches.load() : 0,
                     .batched_waiting = trigger->batcher ? trigger->batcher->waiting() : 0});
  }
  lock.unlock();
  std::sort(infos.begin(), infos.end(),
            [](const TriggerInfo& a, const TriggerInfo& b) { return a.id < b.id; });
  return infos;
}

std::shared_lock<std::shared_mutex> Router::match(const Event& event, Matches& out) const {
  // No user code runs in here, so one buffer per thread serves every call.
  thread_local std::vector<uint64_t> found;
  found.clear();
  std::shared_lock lock(mu_);
  trie_.match(event.topic, found);
  for (const uint64_t value : found) {
    Trigger* trigger = trigger_of(value);
    if (trigger->filters && !trigger->filter.matches(event)) {
      trigger->filtered_out.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    out.push_back(trigger);
  }
  return lock;
}

int64_t Router::size() const {
  std::shared_lock lock(mu_);
  return static_cast<int64_t>(triggers_.size());
}

}  // namespace fnhost::detail
