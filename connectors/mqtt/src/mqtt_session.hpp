// SPDX-License-Identifier: Apache-2.0
// Internal (connectors/mqtt/src/mqtt_session.hpp).
// One MQTT 3.1.1 connection to a broker: the CONNECT/CONNACK handshake, SUBSCRIBE/SUBACK, and
// sending and receiving packets over a TcpConnection. Not thread-safe: one thread reads
// (receive_available, next); writers serialise send() themselves; shutdown() may be called
// from any thread to wake a reader.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "codec.hpp"
#include "fnhost/mqtt/broker.hpp"
#include "tcp_connection.hpp"

namespace fnhost::mqtt::detail {

// A decoded packet from the broker. `oversize`: a PUBLISH over max_packet_bytes whose payload
// was skipped (its topic and packet id are there); `body_bytes` is its announced length.
struct Incoming {
  ServerPacket packet;
  bool oversize = false;
  size_t body_bytes = 0;
};

class MqttSession {
 public:
  // Connects, sends CONNECT (with `clean_session`) and waits for CONNACK, all before
  // options.connect_timeout. Unavailable when the broker cannot be reached, times out, breaks
  // the protocol or refuses (the message names the CONNACK code's meaning); Cancelled when
  // `wake_fd` became readable.
  [[nodiscard]] static absl::StatusOr<MqttSession> connect(const BrokerOptions& options,
                                                           bool clean_session, int wake_fd);

  // Whether the broker resumed a stored session (CONNACK's session present flag).
  [[nodiscard]] bool session_present() const { return session_present_; }

  // Sends SUBSCRIBE with `packet_id` and waits for its SUBACK before `deadline`; packets that
  // arrive meanwhile are kept for next(). PermissionDenied naming the first filter the broker
  // refused; Unavailable for a broken connection; InvalidArgument for a SUBACK that does not
  // answer the request.
  [[nodiscard]] absl::Status subscribe(uint16_t packet_id,
                                       std::span<const SubscribeRequest> requests,
                                       absl::Time deadline, int wake_fd);

  // Writes one encoded packet before `deadline` (see TcpConnection::write_all).
  [[nodiscard]] absl::Status send(std::string_view packet, absl::Time deadline, int wake_fd);

  // Reads what the connection holds now, without waiting. Unavailable when it is closed.
  [[nodiscard]] absl::Status receive_available();

  // The next packet received and decoded, nullopt if none is complete; InvalidArgument for a
  // protocol violation (the connection must then be closed).
  [[nodiscard]] absl::StatusOr<std::optional<Incoming>> next();

  // Wakes a thread polling this connection; later reads and writes fail.
  void shutdown() { connection_.shutdown(); }

  [[nodiscard]] int fd() const { return connection_.fd(); }
  // When the last packet was written (for keep-alive).
  [[nodiscard]] absl::Time last_sent() const { return last_sent_; }

 private:
  MqttSession(TcpConnection connection, size_t max_packet_bytes)
      : connection_(std::move(connection)), splitter_(max_packet_bytes) {}

  // The next packet cut from the byte stream (early_ aside).
  absl::StatusOr<std::optional<Incoming>> next_from_stream();
  // Waits (before `deadline`) for the next packet from the byte stream.
  absl::StatusOr<Incoming> wait_packet(absl::Time deadline, int wake_fd);

  TcpConnection connection_;
  PacketSplitter splitter_;
  std::deque<Incoming> early_;  // packets read while waiting for a SUBACK
  bool session_present_ = false;
  absl::Time last_sent_ = absl::Now();
};

}  // namespace fnhost::mqtt::detail
