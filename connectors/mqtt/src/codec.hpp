// SPDX-License-Identifier: Apache-2.0
// Internal (connectors/mqtt/src/codec.hpp).
// The MQTT 3.1.1 packets the connector exchanges with a broker, as bytes: encoders for what a
// client sends (CONNECT, PUBLISH, PUBACK, SUBSCRIBE, PINGREQ, DISCONNECT) and a strict decoder
// for what a server sends (CONNACK, PUBLISH, PUBACK, SUBACK, UNSUBACK, PINGRESP). Anything a
// server must not send, or sends malformed, is InvalidArgument naming the problem: the session
// then closes the connection (the spec's answer to a protocol violation).
//
//   PacketSplitter splitter(1 << 20);
//   splitter.append(bytes_read);
//   while (auto frame = splitter.next()) { ... decode_server_packet(frame->first_byte,
//                                                                   frame->body) ... }
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace fnhost::mqtt::detail {

enum class PacketType : uint8_t {
  kConnect = 1,
  kConnack = 2,
  kPublish = 3,
  kPuback = 4,
  kPubrec = 5,
  kPubrel = 6,
  kPubcomp = 7,
  kSubscribe = 8,
  kSuback = 9,
  kUnsubscribe = 10,
  kUnsuback = 11,
  kPingreq = 12,
  kPingresp = 13,
  kDisconnect = 14,
};

// The largest Remaining Length four length bytes can encode (the spec's limit).
inline constexpr size_t kMaxRemainingLength = 268'435'455;
// A fixed header is at most 5 bytes: the type-and-flags byte and 1..4 length bytes.
inline constexpr size_t kMaxFixedHeaderBytes = 5;
// SUBACK return code for a refused subscription.
inline constexpr uint8_t kSubscriptionFailure = 0x80;

// CONNECT's fields (protocol "MQTT" level 4).
struct ConnectFields {
  std::string client_id;
  bool clean_session = false;
  uint16_t keep_alive_seconds = 60;
  std::optional<std::string> username;
  std::optional<std::string> password;
};

// CONNACK: the session flag and the return code (0 accepted, 1..5 refused).
struct Connack {
  bool session_present = false;
  uint8_t return_code = 0;
};

// PUBLISH, either direction. packet_id is 0 for QoS 0.
struct Publish {
  std::string topic;
  std::string payload;
  uint8_t qos = 0;
  bool dup = false;
  bool retain = false;
  uint16_t packet_id = 0;
};

struct Puback {
  uint16_t packet_id = 0;
};

struct Suback {
  uint16_t packet_id = 0;
  // One per requested filter: the granted QoS (0..2) or kSubscriptionFailure.
  std::vector<uint8_t> return_codes;
};

struct Unsuback {
  uint16_t packet_id = 0;
};

struct Pingresp {};

// Every packet a server may send a client that subscribes at QoS 0 and 1 only.
using ServerPacket = std::variant<Connack, Publish, Puback, Suback, Unsuback, Pingresp>;

// One filter of a SUBSCRIBE.
struct SubscribeRequest {
  std::string filter;
  uint8_t qos = 0;
};

// The fixed header of a packet: its first byte (type and flags) and body length, and how many
// bytes the header itself took.
struct FixedHeader {
  uint8_t first_byte = 0;
  size_t remaining_length = 0;
  size_t header_bytes = 0;
};

// Reads a fixed header from the start of `bytes`: nullopt while the length bytes are not all
// there, InvalidArgument for a length over four bytes or one not in its shortest form.
[[nodiscard]] absl::StatusOr<std::optional<FixedHeader>> read_fixed_header(std::string_view bytes);

// Appends the Remaining Length encoding of `length` (<= kMaxRemainingLength) to `out`.
void append_remaining_length(size_t length, std::string& out);

// Decodes the body of a packet a server sent, strictly: the flags each type requires, exact
// lengths, packet ids non-zero, topics non-empty well-formed UTF-8 without NUL or wildcards,
// QoS 0..1 for PUBLISH (the connector never subscribes at QoS 2, so QoS 2 is a violation),
// no DUP on QoS 0, SUBACK codes 0, 1, 2 or 0x80, CONNACK codes 0..5 with no session on a
// refusal. Packet types a server never sends (CONNECT, SUBSCRIBE, ...) or that belong to QoS 2
// (PUBREC, PUBREL, PUBCOMP) are refused too.
[[nodiscard]] absl::StatusOr<ServerPacket> decode_server_packet(uint8_t first_byte,
                                                                std::string_view body);

// Decodes the start of a PUBLISH too large to keep: its flags, topic and packet id from the
// first bytes of its body (`head`, which may end anywhere after the packet id); the payload is
// left empty. Same checks as decode_server_packet.
[[nodiscard]] absl::StatusOr<Publish> decode_publish_head(uint8_t first_byte,
                                                          std::string_view head);

// Whether `topic` is an MQTT topic name a client may publish to: 1..65535 bytes of well-formed
// UTF-8 without NUL, '+' or '#'.
[[nodiscard]] absl::Status check_topic_name(std::string_view topic);

// Encoders. Strings must fit their 16-bit lengths (the options are validated for that).
[[nodiscard]] std::string encode_connect(const ConnectFields& fields);
[[nodiscard]] std::string encode_publish(const Publish& publish);
[[nodiscard]] std::string encode_puback(uint16_t packet_id);
[[nodiscard]] std::string encode_subscribe(uint16_t packet_id,
                                           std::span<const SubscribeRequest> requests);
[[nodiscard]] std::string encode_pingreq();
[[nodiscard]] std::string encode_disconnect();

// A whole packet cut from the byte stream.
struct Frame {
  uint8_t first_byte = 0;
  std::string body;
};

// Cuts a byte stream into packets. A packet whose body exceeds `max_body_bytes` is not kept:
// for a PUBLISH, the first kOversizeHeadBytes of its body are kept (enough for any topic and the
// packet id) and the rest is skipped as it arrives, and the frame comes out with `oversize` set;
// any other type that large is InvalidArgument.
class PacketSplitter {
 public:
  static constexpr size_t kOversizeHeadBytes = 2 + 65535 + 2;

  explicit PacketSplitter(size_t max_body_bytes) : max_body_bytes_(max_body_bytes) {}

  struct Cut {
    Frame frame;
    bool oversize = false;   // body was cut to its head; see the class comment
    size_t full_length = 0;  // the body's length as announced
  };

  // Adds bytes read from the connection.
  void append(std::string_view bytes);
  // The next whole packet, nullopt if more bytes are needed, or InvalidArgument (the stream is
  // then unusable).
  [[nodiscard]] absl::StatusOr<std::optional<Cut>> next();
  // Bytes held (not yet cut into packets).
  [[nodiscard]] size_t buffered() const { return buffer_.size(); }

 private:
  size_t max_body_bytes_;
  std::string buffer_;
  // While skipping the tail of an oversize PUBLISH: the frame so far and bytes left to skip.
  std::optional<Cut> skipping_;
  size_t skip_left_ = 0;
};

}  // namespace fnhost::mqtt::detail
