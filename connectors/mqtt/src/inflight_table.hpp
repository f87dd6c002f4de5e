// SPDX-License-Identifier: Apache-2.0
// Internal (connectors/mqtt/src/inflight_table.hpp).
// The messages a Connector handed to the host and has not let go of, and which PUBACK each one
// owes the broker. The rules that make acknowledgement exact live here:
//   - a QoS 1 message is acknowledged when the host settles it as succeeded or dead-lettered,
//     on the connection that is up then;
//   - settled while no connection is up, it waits: the broker delivers it again on the next
//     connection (the session is persistent) and that redelivery is answered with the PUBACK,
//     not run again; one the broker does not deliver again right after the reconnect is
//     forgotten (it was not outstanding at the broker);
//   - a redelivery of a message still running here is not run twice;
//   - a message the host dropped is not acknowledged and leaves the table: the broker delivers
//     it again after the next connect, and it then runs again;
//   - when the broker lost the session, nothing in flight can be acknowledged any more.
// Used by the connector's thread only; not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"

namespace fnhost::mqtt::detail {

class InflightTable {
 public:
  // What a received QoS 1 PUBLISH is, given what is in flight.
  enum class Arrival {
    kNew,           // not in flight: hand it to the host
    kStillRunning,  // a redelivery of a message the host still has: ignore it
    kAckNow,        // a redelivery of one settled while disconnected: send its PUBACK now
  };

  // Records a message the host accepted under `token`; `packet_id` 0 for QoS 0 (no PUBACK owed).
  void add(uint64_t token, uint16_t packet_id, std::string_view topic, uint64_t payload_hash);

  // Classifies a QoS 1 PUBLISH. kAckNow removes the entry. A packet id in flight with another
  // topic or payload is a new message (the broker forgot the old one): the old entry then owes
  // no PUBACK.
  [[nodiscard]] Arrival arrive(uint16_t packet_id, std::string_view topic, uint64_t payload_hash);

  // The host settled `token`. `acknowledge`: succeeded or dead-lettered (false: dropped).
  // Returns the packet id to acknowledge now when `connected` and one is owed; otherwise the
  // entry is removed, or (owed, not connected) kept until its redelivery.
  std::optional<uint16_t> settle(uint64_t token, bool acknowledge, bool connected);

  // The broker did not keep the session: no PUBACK is owed any more.
  void forget_session();
  // After a reconnect, once the broker delivered again what it had outstanding: entries still
  // waiting for a redelivery are dropped.
  void forget_unredelivered();

  // Entries (the max_in_flight count).
  [[nodiscard]] size_t size() const { return entries_.size(); }
  // QoS 1 messages the host has not settled and that owe a PUBACK (what stop() waits for).
  [[nodiscard]] size_t unsettled_owed() const;

 private:
  struct Entry {
    uint16_t packet_id = 0;  // 0: no PUBACK owed
    std::string topic;
    uint64_t payload_hash = 0;
    bool settled = false;
  };
  void erase(absl::flat_hash_map<uint64_t, Entry>::iterator entry);

  absl::flat_hash_map<uint64_t, Entry> entries_;          // by token
  absl::flat_hash_map<uint16_t, uint64_t> by_packet_id_;  // packet id -> token, owed only
};

}  // namespace fnhost::mqtt::detail
