// SPDX-License-Identifier: Apache-2.0
// InflightTable: which PUBACK each message in flight owes.
#include "inflight_table.hpp"

#include <algorithm>
#include <vector>

namespace fnhost::mqtt::detail {

void InflightTable::add(uint64_t token, uint16_t packet_id, std::string_view topic,
                        uint64_t payload_hash) {
  Entry entry{.packet_id = packet_id, .payload_hash = payload_hash};
  if (packet_id != 0) {
    entry.topic = std::string(topic);
    by_packet_id_[packet_id] = token;
  }
  entries_.emplace(token, std::move(entry));
}

InflightTable::Arrival InflightTable::arrive(uint16_t packet_id, std::string_view topic,
                                             uint64_t payload_hash) {
  const auto owner = by_packet_id_.find(packet_id);
  if (owner == by_packet_id_.end()) return Arrival::kNew;
  const auto entry = entries_.find(owner->second);
  if (entry == entries_.end()) {
    by_packet_id_.erase(owner);
    return Arrival::kNew;
  }
  if (entry->second.topic != topic || entry->second.payload_hash != payload_hash) {
    entry->second.packet_id = 0;
    by_packet_id_.erase(owner);
    if (entry->second.settled) entries_.erase(entry);
    return Arrival::kNew;
  }
  if (!entry->second.settled) return Arrival::kStillRunning;
  erase(entry);
  return Arrival::kAckNow;
}

std::optional<uint16_t> InflightTable::settle(uint64_t token, bool acknowledge, bool connected) {
  const auto entry = entries_.find(token);
  if (entry == entries_.end()) return std::nullopt;
  const uint16_t packet_id = entry->second.packet_id;
  if (!acknowledge || packet_id == 0 || connected) {
    erase(entry);
    if (acknowledge && packet_id != 0) return packet_id;
    return std::nullopt;
  }
  entry->second.settled = true;
  return std::nullopt;
}

void InflightTable::forget_session() {
  by_packet_id_.clear();
  for (auto entry = entries_.begin(); entry != entries_.end();) {
    if (entry->second.settled) {
      entries_.erase(entry++);
    } else {
      entry->second.packet_id = 0;
      ++entry;
    }
  }
}

void InflightTable::forget_unredelivered() {
  std::vector<uint64_t> waiting;
  for (const auto& [token, entry] : entries_) {
    if (entry.settled) waiting.push_back(token);
  }
  for (const uint64_t token : waiting) erase(entries_.find(token));
}

size_t InflightTable::unsettled_owed() const {
  return static_cast<size_t>(std::count_if(entries_.begin(), entries_.end(), [](const auto& item) {
    return item.second.packet_id != 0 && !item.second.settled;
  }));
}

void InflightTable::erase(absl::flat_hash_map<uint64_t, Entry>::iterator entry) {
  if (entry->second.packet_id != 0) {
    const auto owner = by_packet_id_.find(entry->second.packet_id);
    if (owner != by_packet_id_.end() && owner->second == entry->first) by_packet_id_.erase(owner);
  }
  entries_.erase(entry);
}

}  // namespace fnhost::mqtt::detail
