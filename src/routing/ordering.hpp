// SPDX-License-Identifier: Apache-2.0
// Ordering keys of one trigger (TriggerSpec::ordering_key): events whose key attribute has the
// same value run one at a time, in publish order, for the trigger's function; different keys
// run in parallel — as SQS FIFO message groups and Kafka partitions do. A key's group exists only
// while one of its events is in flight: the first is admitted at once with the group as its
// Invocation::on_end, later ones wait in the group, and each end (a success or a dead letter,
// after every retry) admits the next.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "common/sync.hpp"
#include "fnhost/event.hpp"
#include "host/host_internal.hpp"

namespace fnhost {
struct HostCore;
}

namespace fnhost::detail {

class OrderingTable;

// One key's events: the one in flight (not stored) and those waiting behind it.
struct OrderingGroup {
  std::shared_ptr<OrderingTable> table;  // keeps the table while an event of the group lives
  std::string key;
  std::deque<std::pair<std::shared_ptr<const Event>, Lineage>> waiting;
};

class OrderingTable : public std::enable_shared_from_this<OrderingTable> {
 public:
  OrderingTable(std::string attribute, HostCore* host, FunctionSlot* slot)
      : attribute_(std::move(attribute)), host_(host), slot_(slot) {}

  // Whether `name` can name a key attribute: 1-64 of [A-Za-z0-9_.-].
  static bool is_valid_attribute(std::string_view name);

  const std::string& attribute() const { return attribute_; }
  HostCore& host() const { return *host_; }
  FunctionSlot& slot() const { return *slot_; }
  // The event's key: the value of the attribute (id, source, type, subject, datacontenttype,
  // topic, or an extension); none when it is unset or empty (such events are not ordered).
  std::optional<std::string_view> key_of(const Event& event) const;

  // Takes an event of `key`: returns its group and sets `*first` when it may run now (the caller
  // admits it with the group as on_end context); otherwise it waits in the group.
  OrderingGroup* enter(std::string_view key, const std::shared_ptr<const Event>& event,
                       const Lineage& lineage, bool* first);
  // The event in flight of `group` ended: moves the next one out (true), or deletes the group
  // (false: `group` is gone).
  bool next(OrderingGroup* group, std::shared_ptr<const Event>& event, Lineage& lineage);
  // Events waiting behind one in flight, over all keys; keys with an event in flight.
  [[nodiscard]] int64_t waiting() const;
  [[nodiscard]] int64_t keys() const;

 private:
  const std::string attribute_;
  HostCore* const host_;
  FunctionSlot* const slot_;
  mutable Mutex mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<OrderingGroup>> groups_ ABSL_GUARDED_BY(mu_);
  int64_t waiting_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace fnhost::detail
