// SPDX-License-Identifier: Apache-2.0
// MQTT 3.1.1 packet encoding and strict decoding (OASIS MQTT 3.1.1, sections 2 and 3).
#include "codec.hpp"

#include <algorithm>
#include <utility>

#include "common/quote.hpp"
#include "common/utf8.hpp"
#include "fmt/format.h"

namespace fnhost::mqtt::detail {
namespace {

absl::Status malformed(std::string_view what) {
  return absl::InvalidArgumentError(fmt::format("MQTT packet: {}", what));
}

const char* type_name(uint8_t type) {
  static constexpr const char* kNames[] = {"reserved 0", "CONNECT",  "CONNACK",     "PUBLISH",
                                           "PUBACK",     "PUBREC",   "PUBREL",      "PUBCOMP",
                                           "SUBSCRIBE",  "SUBACK",   "UNSUBSCRIBE", "UNSUBACK",
                                           "PINGREQ",    "PINGRESP", "DISCONNECT",  "reserved 15"};
  return kNames[type & 0x0f];
}

// Reads big-endian integers and length-prefixed strings off a body, remembering the first
// problem.
class BodyReader {
 public:
  explicit BodyReader(std::string_view body) : rest_(body) {}

  std::optional<uint16_t> u16() {
    if (rest_.size() < 2) return std::nullopt;
    const auto value = static_cast<uint16_t>((static_cast<unsigned char>(rest_[0]) << 8) |
                                             static_cast<unsigned char>(rest_[1]));
    rest_.remove_prefix(2);
    return value;
  }
  std::optional<uint8_t> u8() {
    if (rest_.empty()) return std::nullopt;
    const auto value = static_cast<uint8_t>(rest_[0]);
    rest_.remove_prefix(1);
    return value;
  }
  std::optional<std::string_view> string() {
    std::optional<uint16_t> length = u16();
    if (!length || rest_.size() < *length) return std::nullopt;
    std::string_view text = rest_.substr(0, *length);
    rest_.remove_prefix(*length);
    return text;
  }
  std::string_view rest() const { return rest_; }

 private:
  std::string_view rest_;
};

void append_u16(uint16_t value, std::string& out) {
  out += static_cast<char>(value >> 8);
  out += static_cast<char>(value & 0xff);
}

void append_string(std::string_view text, std::string& out) {
  append_u16(static_cast<uint16_t>(text.size()), out);
  out.append(text);
}

std::string packet(uint8_t first_byte, std::string_view body) {
  std::string out;
  out.reserve(kMaxFixedHeaderBytes + body.size());
  out += static_cast<char>(first_byte);
  append_remaining_length(body.size(), out);
  out.append(body);
  return out;
}

absl::Status check_flags(uint8_t first_byte, uint8_t required) {
  if ((first_byte & 0x0f) != required) {
    return malformed(fmt::format("{} with flags {:#x}, must be {:#x}", type_name(first_byte >> 4),
                                 first_byte & 0x0f, required));
  }
  return absl::OkStatus();
}

absl::Status check_length(uint8_t first_byte, std::string_view body, size_t required) {
  if (body.size() != required) {
    return malformed(fmt::format("{} of {} bytes, must be {}", type_name(first_byte >> 4),
                                 body.size(), required));
  }
  return absl::OkStatus();
}

absl::StatusOr<uint16_t> packet_id_of(uint8_t first_byte, BodyReader& reader) {
  std::optional<uint16_t> id = reader.u16();
  if (!id)
    return malformed(fmt::format("{} too short for a packet id", type_name(first_byte >> 4)));
  if (*id == 0) return malformed(fmt::format("{} with packet id 0", type_name(first_byte >> 4)));
  return *id;
}

absl::StatusOr<Connack> decode_connack(uint8_t first_byte, std::string_view body) {
  if (absl::Status flags = check_flags(first_byte, 0); !flags.ok()) return flags;
  if (absl::Status length = check_length(first_byte, body, 2); !length.ok()) return length;
  const auto ack_flags = static_cast<uint8_t>(body[0]);
  const auto code = static_cast<uint8_t>(body[1]);
  if ((ack_flags & 0xfe) != 0) {
    return malformed(fmt::format("CONNACK with reserved flag bits set ({:#x})", ack_flags));
  }
  if (code > 5) return malformed(fmt::format("CONNACK with unknown return code {}", code));
  const bool session_present = (ack_flags & 1) != 0;
  if (code != 0 && session_present) {
    return malformed(fmt::format("CONNACK refusing (code {}) with a session present", code));
  }
  return Connack{.session_present = session_present, .return_code = code};
}

// The flags, topic and packet id of a PUBLISH; `reader` is left at the payload.
absl::StatusOr<Publish> decode_publish_start(uint8_t first_byte, BodyReader& reader) {
  Publish publish;
  publish.dup = (first_byte & 0x08) != 0;
  publish.qos = static_cast<uint8_t>((first_byte >> 1) & 0x03);
  publish.retain = (first_byte & 0x01) != 0;
  if (publish.qos == 3) return malformed("PUBLISH with QoS 3");
  if (publish.qos == 2) return malformed("PUBLISH with QoS 2 (never subscribed at QoS 2)");
  if (publish.qos == 0 && publish.dup) return malformed("PUBLISH with QoS 0 and DUP set");
  std::optional<std::string_view> topic = reader.string();
  if (!topic) return malformed("PUBLISH too short for its topic");
  if (absl::Status valid = check_topic_name(*topic); !valid.ok()) return valid;
  publish.topic = std::string(*topic);
  if (publish.qos > 0) {
    absl::StatusOr<uint16_t> id = packet_id_of(first_byte, reader);
    if (!id.ok()) return id.status();
    publish.packet_id = *id;
  }
  return publish;
}

absl::StatusOr<Publish> decode_publish(uint8_t first_byte, std::string_view body) {
  BodyReader reader(body);
  absl::StatusOr<Publish> publish = decode_publish_start(first_byte, reader);
  if (publish.ok()) publish->payload = std::string(reader.rest());
  return publish;
}

absl::StatusOr<Puback> decode_puback(uint8_t first_byte, std::string_view body) {
  if (absl::Status flags = check_flags(first_byte, 0); !flags.ok()) return flags;
  if (absl::Status length = check_length(first_byte, body, 2); !length.ok()) return length;
  BodyReader reader(body);
  absl::StatusOr<uint16_t> id = packet_id_of(first_byte, reader);
  if (!id.ok()) return id.status();
  return Puback{.packet_id = *id};
}

absl::StatusOr<Suback> decode_suback(uint8_t first_byte, std::string_view body) {
  if (absl::Status flags = check_flags(first_byte, 0); !flags.ok()) return flags;
  if (body.size() < 3) return malformed(fmt::format("SUBACK of {} bytes, at least 3", body.size()));
  BodyReader reader(body);
  absl::StatusOr<uint16_t> id = packet_id_of(first_byte, reader);
  if (!id.ok()) return id.status();
  Suback suback{.packet_id = *id};
  for (const char byte : reader.rest()) {
    const auto code = static_cast<uint8_t>(byte);
    if (code > 2 && code != kSubscriptionFailure) {
      return malformed(fmt::format("SUBACK with return code {:#x}", code));
    }
    suback.return_codes.push_back(code);
  }
  return suback;
}

absl::StatusOr<Unsuback> decode_unsuback(uint8_t first_byte, std::string_view body) {
  if (absl::Status flags = check_flags(first_byte, 0); !flags.ok()) return flags;
  if (absl::Status length = check_length(first_byte, body, 2); !length.ok()) return length;
  BodyReader reader(body);
  absl::StatusOr<uint16_t> id = packet_id_of(first_byte, reader);
  if (!id.ok()) return id.status();
  return Unsuback{.packet_id = *id};
}

}  // namespace

absl::Status check_topic_name(std::string_view topic) {
  if (topic.empty()) return malformed("empty topic name");
  for (size_t at = 0; at < topic.size();) {
    const char c = topic[at];
    if (c == '\0' || c == '+' || c == '#') {
      return malformed(fmt::format("topic name {} has {} at byte {}",
                                   fnhost::detail::quote_for_message(topic),
                                   c == '\0' ? "NUL" : fmt::format("'{}'", c), at));
    }
    const size_t length = fnhost::detail::utf8_sequence_length(topic.substr(at));
    if (length == 0) {
      return malformed(fmt::format("topic name {} is not UTF-8 at byte {}",
                                   fnhost::detail::quote_for_message(topic), at));
    }
    at += length;
  }
  if (topic.size() > 65535) return malformed("topic name over 65535 bytes");
  return absl::OkStatus();
}

absl::StatusOr<std::optional<FixedHeader>> read_fixed_header(std::string_view bytes) {
  if (bytes.empty()) return std::optional<FixedHeader>();
  size_t length = 0;
  size_t multiplier = 1;
  for (size_t index = 1; index < kMaxFixedHeaderBytes; ++index) {
    if (index >= bytes.size()) return std::optional<FixedHeader>();
    const auto digit = static_cast<uint8_t>(bytes[index]);
    length += (digit & 0x7f) * multiplier;
    if ((digit & 0x80) == 0) {
      // A last length byte of 0 after others is a longer form of a shorter encoding.
      if (digit == 0 && index > 1) return malformed("Remaining Length not in its shortest form");
      return std::optional<FixedHeader>(FixedHeader{.first_byte = static_cast<uint8_t>(bytes[0]),
                                                    .remaining_length = length,
                                                    .header_bytes = index + 1});
    }
    multiplier *= 128;
  }
  return malformed("Remaining Length longer than 4 bytes");
}

void append_remaining_length(size_t length, std::string& out) {
  do {
    auto digit = static_cast<uint8_t>(length % 128);
    length /= 128;
    if (length > 0) digit |= 0x80;
    out += static_cast<char>(digit);
  } while (length > 0);
}

absl::StatusOr<ServerPacket> decode_server_packet(uint8_t first_byte, std::string_view body) {
  const auto type = static_cast<PacketType>(first_byte >> 4);
  switch (type) {
    case PacketType::kConnack:
      return decode_connack(first_byte, body);
    case PacketType::kPublish:
      return decode_publish(first_byte, body);
    case PacketType::kPuback:
      return decode_puback(first_byte, body);
    case PacketType::kSuback:
      return decode_suback(first_byte, body);
    case PacketType::kUnsuback:
      return decode_unsuback(first_byte, body);
    case PacketType::kPingresp:
      if (absl::Status flags = check_flags(first_byte, 0); !flags.ok()) return flags;
      if (absl::Status length = check_length(first_byte, body, 0); !length.ok()) return length;
      return Pingresp{};
    default:
      return malformed(
          fmt::format("{} is not a packet a server sends this client", type_name(first_byte >> 4)));
  }
}

absl::StatusOr<Publish> decode_publish_head(uint8_t first_byte, std::string_view head) {
  if (static_cast<PacketType>(first_byte >> 4) != PacketType::kPublish) {
    return malformed(fmt::format("{} is not a PUBLISH", type_name(first_byte >> 4)));
  }
  BodyReader reader(head);
  return decode_publish_start(first_byte, reader);
}

std::string encode_connect(const ConnectFields& fields) {
  std::string body;
  append_string("MQTT", body);
  body += static_cast<char>(4);  // protocol level: 3.1.1
  uint8_t flags = 0;
  if (fields.clean_session) flags |= 0x02;
  if (fields.password) flags |= 0x40;
  if (fields.username) flags |= 0x80;
  body += static_cast<char>(flags);
  append_u16(fields.keep_alive_seconds, body);
  append_string(fields.client_id, body);
  if (fields.username) append_string(*fields.username, body);
  if (fields.password) append_string(*fields.password, body);
  return packet(static_cast<uint8_t>(PacketType::kConnect) << 4, body);
}

std::string encode_publish(const Publish& publish) {
  std::string body;
  body.reserve(2 + publish.topic.size() + 2 + publish.payload.size());
  append_string(publish.topic, body);
  if (publish.qos > 0) append_u16(publish.packet_id, body);
  body.append(publish.payload);
  auto first =
      static_cast<uint8_t>((static_cast<uint8_t>(PacketType::kPublish) << 4) | (publish.qos << 1));
  if (publish.dup) first |= 0x08;
  if (publish.retain) first |= 0x01;
  return packet(first, body);
}

std::string encode_puback(uint16_t packet_id) {
  std::string body;
  append_u16(packet_id, body);
  return packet(static_cast<uint8_t>(PacketType::kPuback) << 4, body);
}

std::string encode_subscribe(uint16_t packet_id, std::span<const SubscribeRequest> requests) {
  std::string body;
  append_u16(packet_id, body);
  for (const SubscribeRequest& request : requests) {
    append_string(request.filter, body);
    body += static_cast<char>(request.qos);
  }
  // SUBSCRIBE's fixed header flags are 0b0010 (section 3.8.1).
  return packet(static_cast<uint8_t>((static_cast<uint8_t>(PacketType::kSubscribe) << 4) | 0x02),
                body);
}

std::string encode_pingreq() { return packet(static_cast<uint8_t>(PacketType::kPingreq) << 4, {}); }

std::string encode_disconnect() {
  return packet(static_cast<uint8_t>(PacketType::kDisconnect) << 4, {});
}

void PacketSplitter::append(std::string_view bytes) {
  if (skipping_) {
    const size_t skipped = std::min(skip_left_, bytes.size());
    skip_left_ -= skipped;
    bytes.remove_prefix(skipped);
  }
  buffer_.append(bytes);
}

absl::StatusOr<std::optional<PacketSplitter::Cut>> PacketSplitter::next() {
  if (skipping_) {
    if (skip_left_ > 0) return std::optional<Cut>();
    std::optional<Cut> done = std::move(skipping_);
    skipping_.reset();
    return done;
  }
  absl::StatusOr<std::optional<FixedHeader>> header = read_fixed_header(buffer_);
  if (!header.ok()) return header.status();
  if (!header->has_value()) return std::optional<Cut>();
  const FixedHeader& fixed = **header;
  if (fixed.remaining_length <= max_body_bytes_) {
    if (buffer_.size() < fixed.header_bytes + fixed.remaining_length) return std::optional<Cut>();
    Cut cut{.frame = {.first_byte = fixed.first_byte,
                      .body = buffer_.substr(fixed.header_bytes, fixed.remaining_length)},
            .full_length = fixed.remaining_length};
    buffer_.erase(0, fixed.header_bytes + fixed.remaining_length);
    return std::optional<Cut>(std::move(cut));
  }
  if (static_cast<PacketType>(fixed.first_byte >> 4) != PacketType::kPublish) {
    return malformed(fmt::format("{} of {} bytes, over the limit of {}",
                                 type_name(fixed.first_byte >> 4), fixed.remaining_length,
                                 max_body_bytes_));
  }
  // An oversize PUBLISH: keep its head, skip the rest as it arrives.
  const size_t head = std::min(fixed.remaining_length, kOversizeHeadBytes);
  if (buffer_.size() < fixed.header_bytes + head) return std::optional<Cut>();
  Cut cut{
      .frame = {.first_byte = fixed.first_byte, .body = buffer_.substr(fixed.header_bytes, head)},
      .oversize = true,
      .full_length = fixed.remaining_length};
  const size_t tail = fixed.remaining_length - head;
  const size_t available = buffer_.size() - fixed.header_bytes - head;
  const size_t skipped_now = std::min(tail, available);
  buffer_.erase(0, fixed.header_bytes + head + skipped_now);
  skip_left_ = tail - skipped_now;
  if (skip_left_ == 0) return std::optional<Cut>(std::move(cut));
  skipping_ = std::move(cut);
  return std::optional<Cut>();
}

}  // namespace fnhost::mqtt::detail
