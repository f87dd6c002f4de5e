// SPDX-License-Identifier: Apache-2.0
// MqttSession: handshake, subscribe, send, receive.
#include "mqtt_session.hpp"

#include <poll.h>

#include <utility>

#include "common/quote.hpp"
#include "common/status_macros.hpp"
#include "fmt/format.h"
#include "status_text.hpp"

namespace fnhost::mqtt::detail {
namespace {

// How much one receive_available() call reads at most, so a busy connection cannot keep the
// reading thread from its other duties.
constexpr size_t kReadChunk = 64 * 1024;
constexpr int kReadChunksPerCall = 16;

const char* connack_meaning(uint8_t code) {
  switch (code) {
    case 1:
      return "unacceptable protocol version (the broker does not speak MQTT 3.1.1)";
    case 2:
      return "client identifier rejected";
    case 3:
      return "server unavailable";
    case 4:
      return "bad user name or password";
    case 5:
      return "not authorized";
    default:
      return "unknown refusal";
  }
}

absl::Status unavailable(const BrokerOptions& options, std::string_view what) {
  return absl::UnavailableError(
      fmt::format("MQTT broker {}:{}: {}", options.host.substr(0, 255), options.port, what));
}

}  // namespace

absl::StatusOr<MqttSession> MqttSession::connect(const BrokerOptions& options, bool clean_session,
                                                 int wake_fd) {
  const absl::Time deadline = absl::Now() + options.connect_timeout;
  absl::StatusOr<TcpConnection> connection =
      TcpConnection::open(options.host, options.port, deadline, wake_fd);
  if (!connection.ok()) {
    if (absl::IsCancelled(connection.status())) return connection.status();
    return unavailable(options, message_text(connection.status()));
  }
  MqttSession session(*std::move(connection), options.max_packet_bytes);
  ConnectFields fields{
      .client_id = options.client_id,
      .clean_session = clean_session,
      .keep_alive_seconds = static_cast<uint16_t>(absl::ToInt64Seconds(options.keep_alive))};
  if (!options.username.empty()) fields.username = options.username;
  if (!options.password.empty()) fields.password = options.password;
  if (absl::Status sent = session.send(encode_connect(fields), deadline, wake_fd); !sent.ok()) {
    if (absl::IsCancelled(sent)) return sent;
    return unavailable(options, fmt::format("sending CONNECT: {}", message_text(sent)));
  }
  absl::StatusOr<Incoming> reply = session.wait_packet(deadline, wake_fd);
  if (!reply.ok()) {
    if (absl::IsCancelled(reply.status())) return reply.status();
    return unavailable(options,
                       fmt::format("waiting for CONNACK: {}", message_text(reply.status())));
  }
  const auto* connack = std::get_if<Connack>(&reply->packet);
  if (connack == nullptr) return unavailable(options, "the first packet was not a CONNACK");
  if (connack->return_code != 0) {
    return unavailable(options,
                       fmt::format("connection refused (CONNACK code {}: {})", connack->return_code,
                                   connack_meaning(connack->return_code)));
  }
  session.session_present_ = connack->session_present;
  return session;
}

absl::Status MqttSession::subscribe(uint16_t packet_id, std::span<const SubscribeRequest> requests,
                                    absl::Time deadline, int wake_fd) {
  FNHOST_RETURN_IF_ERROR(send(encode_subscribe(packet_id, requests), deadline, wake_fd));
  for (;;) {
    absl::StatusOr<Incoming> incoming = wait_packet(deadline, wake_fd);
    if (!incoming.ok()) return incoming.status();
    const auto* suback = std::get_if<Suback>(&incoming->packet);
    if (suback == nullptr) {
      early_.push_back(*std::move(incoming));
      continue;
    }
    if (suback->packet_id != packet_id || suback->return_codes.size() != requests.size()) {
      return absl::InvalidArgumentError(fmt::format(
          "SUBACK for packet {} with {} codes does not answer SUBSCRIBE {} of {} filters",
          suback->packet_id, suback->return_codes.size(), packet_id, requests.size()));
    }
    for (size_t index = 0; index < requests.size(); ++index) {
      if (suback->return_codes[index] == kSubscriptionFailure) {
        return absl::PermissionDeniedError(
            fmt::format("the broker refused the subscription to {}",
                        fnhost::detail::quote_for_message(requests[index].filter)));
      }
    }
    return absl::OkStatus();
  }
}

absl::Status MqttSession::send(std::string_view packet, absl::Time deadline, int wake_fd) {
  absl::Status written = connection_.write_all(packet, deadline, wake_fd);
  if (written.ok()) last_sent_ = absl::Now();
  return written;
}

absl::Status MqttSession::receive_available() {
  std::string bytes;
  for (int chunk = 0; chunk < kReadChunksPerCall; ++chunk) {
    bytes.clear();
    absl::StatusOr<size_t> got = connection_.read_available(bytes, kReadChunk);
    if (!got.ok()) return got.status();
    if (*got == 0) break;
    splitter_.append(bytes);
    if (*got < kReadChunk) break;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<Incoming>> MqttSession::next() {
  if (!early_.empty()) {
    Incoming first = std::move(early_.front());
    early_.pop_front();
    return std::optional<Incoming>(std::move(first));
  }
  return next_from_stream();
}

absl::StatusOr<std::optional<Incoming>> MqttSession::next_from_stream() {
  absl::StatusOr<std::optional<PacketSplitter::Cut>> cut = splitter_.next();
  if (!cut.ok()) return cut.status();
  if (!cut->has_value()) return std::optional<Incoming>();
  const Frame& frame = (*cut)->frame;
  if ((*cut)->oversize) {
    absl::StatusOr<Publish> head = decode_publish_head(frame.first_byte, frame.body);
    if (!head.ok()) return head.status();
    return std::optional<Incoming>(
        Incoming{.packet = *std::move(head), .oversize = true, .body_bytes = (*cut)->full_length});
  }
  absl::StatusOr<ServerPacket> packet = decode_server_packet(frame.first_byte, frame.body);
  if (!packet.ok()) return packet.status();
  return std::optional<Incoming>(
      Incoming{.packet = *std::move(packet), .body_bytes = (*cut)->full_length});
}

absl::StatusOr<Incoming> MqttSession::wait_packet(absl::Time deadline, int wake_fd) {
  for (;;) {
    absl::StatusOr<std::optional<Incoming>> ready = next_from_stream();
    if (!ready.ok()) return ready.status();
    if (ready->has_value()) return **std::move(ready);
    absl::StatusOr<short> readable = wait_ready(connection_.fd(), POLLIN, deadline, wake_fd);
    if (!readable.ok()) return readable.status();
    if (*readable == 0) return absl::UnavailableError("timed out");
    FNHOST_RETURN_IF_ERROR(receive_available());
  }
}

}  // namespace fnhost::mqtt::detail
