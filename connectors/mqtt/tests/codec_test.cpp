// SPDX-License-Identifier: Apache-2.0
// The MQTT 3.1.1 codec: encodings byte for byte, and the strict decoder against malformed input.
#include "codec.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "testing/host_helpers.hpp"

namespace fnhost::mqtt::detail {
namespace {

using fnhost::testing::message_contains;

std::string bytes(std::initializer_list<int> values) {
  std::string out;
  for (const int value : values) out += static_cast<char>(value);
  return out;
}

// Splits one whole packet and decodes it.
absl::StatusOr<ServerPacket> decode_whole(const std::string& packet) {
  PacketSplitter splitter(1 << 20);
  splitter.append(packet);
  absl::StatusOr<std::optional<PacketSplitter::Cut>> cut = splitter.next();
  if (!cut.ok()) return cut.status();
  REQUIRE(cut->has_value());
  REQUIRE(splitter.buffered() == 0);
  return decode_server_packet((*cut)->frame.first_byte, (*cut)->frame.body);
}

TEST_CASE("Remaining Length uses 1 to 4 bytes in its shortest form", "[mqtt][codec]") {
  for (const size_t length : {size_t{0}, size_t{127}, size_t{128}, size_t{16383}, size_t{16384},
                              size_t{2097151}, size_t{2097152}, kMaxRemainingLength}) {
    std::string encoded = "\x30";
    append_remaining_length(length, encoded);
    absl::StatusOr<std::optional<FixedHeader>> header = read_fixed_header(encoded);
    REQUIRE(header.ok());
    REQUIRE(header->has_value());
    CHECK((*header)->remaining_length == length);
    CHECK((*header)->header_bytes == encoded.size());
  }
  std::string encoded;
  append_remaining_length(321, encoded);
  CHECK(encoded == bytes({0xc1, 0x02}));
}

TEST_CASE("read_fixed_header waits for its length bytes and refuses bad lengths", "[mqtt][codec]") {
  CHECK(!read_fixed_header("")->has_value());
  CHECK(!read_fixed_header(bytes({0x30}))->has_value());
  CHECK(!read_fixed_header(bytes({0x30, 0x80, 0x80}))->has_value());
  absl::StatusOr<std::optional<FixedHeader>> too_long =
      read_fixed_header(bytes({0x30, 0xff, 0xff, 0xff, 0xff, 0x01}));
  REQUIRE(!too_long.ok());
  CHECK(message_contains(too_long.status(), "longer than 4 bytes"));
  absl::StatusOr<std::optional<FixedHeader>> padded = read_fixed_header(bytes({0x30, 0x80, 0x00}));
  REQUIRE(!padded.ok());
  CHECK(message_contains(padded.status(), "shortest form"));
}

TEST_CASE("Client packets are encoded as MQTT 3.1.1 specifies", "[mqtt][codec]") {
  SECTION("CONNECT with a persistent session and a login") {
    const std::string connect = encode_connect({.client_id = "c1",
                                                .clean_session = false,
                                                .keep_alive_seconds = 30,
                                                .username = "u",
                                                .password = "p"});
    CHECK(connect == bytes({0x10, 20, 0, 4,   'M', 'Q', 'T', 'T', 4, 0xc0, 0,
                            30,   0,  2, 'c', '1', 0,   1,   'u', 0, 1,    'p'}));
  }
  SECTION("CONNECT with a clean session and no login") {
    const std::string connect = encode_connect({.client_id = "",
                                                .clean_session = true,
                                                .keep_alive_seconds = 60,
                                                .username = {},
                                                .password = {}});
    CHECK(connect == bytes({0x10, 12, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, 0}));
  }
  SECTION("PUBLISH QoS 1 retained, PUBACK, SUBSCRIBE, PINGREQ, DISCONNECT") {
    CHECK(encode_publish({.topic = "a/b",
                          .payload = "hi",
                          .qos = 1,
                          .dup = false,
                          .retain = true,
                          .packet_id = 7}) ==
          bytes({0x33, 9, 0, 3, 'a', '/', 'b', 0, 7, 'h', 'i'}));
    CHECK(encode_puback(0x1234) == bytes({0x40, 2, 0x12, 0x34}));
    const std::vector<SubscribeRequest> requests = {{.filter = "a/#", .qos = 1},
                                                    {.filter = "b", .qos = 0}};
    CHECK(encode_subscribe(5, requests) ==
          bytes({0x82, 12, 0, 5, 0, 3, 'a', '/', '#', 1, 0, 1, 'b', 0}));
    CHECK(encode_pingreq() == bytes({0xc0, 0}));
    CHECK(encode_disconnect() == bytes({0xe0, 0}));
  }
}

TEST_CASE("Server packets decode, and a PUBLISH round-trips", "[mqtt][codec]") {
  absl::StatusOr<ServerPacket> connack = decode_whole(bytes({0x20, 2, 1, 0}));
  REQUIRE(connack.ok());
  CHECK(std::get<Connack>(*connack).session_present);

  const Publish original{.topic = "devices/7/temp",
                         .payload = std::string("\0x\xff", 3),
                         .qos = 1,
                         .dup = true,
                         .retain = false,
                         .packet_id = 65535};
  absl::StatusOr<ServerPacket> publish = decode_whole(encode_publish(original));
  REQUIRE(publish.ok());
  const Publish& decoded = std::get<Publish>(*publish);
  CHECK(decoded.topic == original.topic);
  CHECK(decoded.payload == original.payload);
  CHECK(decoded.qos == 1);
  CHECK(decoded.dup);
  CHECK(decoded.packet_id == 65535);

  absl::StatusOr<ServerPacket> suback = decode_whole(bytes({0x90, 5, 0, 9, 0, 1, 0x80}));
  REQUIRE(suback.ok());
  CHECK(std::get<Suback>(*suback).return_codes == std::vector<uint8_t>{0, 1, 0x80});
  CHECK(std::holds_alternative<Pingresp>(*decode_whole(bytes({0xd0, 0}))));
  CHECK(std::get<Puback>(*decode_whole(bytes({0x40, 2, 0, 3}))).packet_id == 3);
}

TEST_CASE("Malformed or unexpected server packets are refused, naming the problem",
          "[mqtt][codec]") {
  struct Case {
    std::string packet;
    std::string says;
  };
  const std::vector<Case> cases = {
      {bytes({0x21, 2, 0, 0}), "flags"},                    // CONNACK with flags
      {bytes({0x20, 3, 0, 0, 0}), "must be 2"},             // CONNACK too long
      {bytes({0x20, 2, 2, 0}), "reserved flag"},            // CONNACK reserved bit
      {bytes({0x20, 2, 0, 6}), "unknown return code"},      // CONNACK code 6
      {bytes({0x20, 2, 1, 5}), "session present"},          // refusal with a session
      {bytes({0x36, 5, 0, 1, 'a', 0, 1}), "QoS 3"},         // PUBLISH QoS 3
      {bytes({0x34, 5, 0, 1, 'a', 0, 1}), "QoS 2"},         // PUBLISH QoS 2
      {bytes({0x38, 3, 0, 1, 'a'}), "DUP"},                 // QoS 0 with DUP
      {bytes({0x32, 5, 0, 1, 'a', 0, 0}), "packet id 0"},   // QoS 1, id 0
      {bytes({0x32, 4, 0, 1, 'a', 0}), "packet id"},        // QoS 1, id cut
      {bytes({0x30, 3, 0, 5, 'a'}), "topic"},               // topic longer than the body
      {bytes({0x30, 2, 0, 0}), "empty topic"},              // empty topic
      {bytes({0x30, 3, 0, 1, '+'}), "'+'"},                 // wildcard in a topic
      {bytes({0x30, 3, 0, 1, '#'}), "'#'"},                 // wildcard in a topic
      {bytes({0x30, 3, 0, 1, 0}), "NUL"},                   // NUL in a topic
      {bytes({0x30, 3, 0, 1, 0xc0}), "UTF-8"},              // bad UTF-8
      {bytes({0x30, 5, 0, 3, 0xed, 0xa0, 0x80}), "UTF-8"},  // a surrogate
      {bytes({0x41, 2, 0, 1}), "flags"},                    // PUBACK with flags
      {bytes({0x40, 2, 0, 0}), "packet id 0"},              // PUBACK id 0
      {bytes({0x40, 1, 0}), "must be 2"},                   // PUBACK short
      {bytes({0x90, 2, 0, 1}), "at least 3"},               // SUBACK without codes
      {bytes({0x90, 3, 0, 1, 3}), "return code"},           // SUBACK code 3
      {bytes({0xd0, 1, 0}), "must be 0"},                   // PINGRESP with a body
      {bytes({0x10, 0}), "CONNECT"},                        // server never sends these
      {bytes({0x62, 2, 0, 1}), "PUBREL"},
      {bytes({0x82, 0}), "SUBSCRIBE"},
      {bytes({0xc0, 0}), "PINGREQ"},
      {bytes({0xe0, 0}), "DISCONNECT"},
      {bytes({0xf0, 0}), "reserved"},
      {bytes({0x00, 0}), "reserved"},
  };
  for (const Case& bad : cases) {
    INFO(bad.says);
    absl::StatusOr<ServerPacket> decoded = decode_whole(bad.packet);
    REQUIRE(!decoded.ok());
    CHECK(decoded.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(message_contains(decoded.status(), bad.says));
  }
}

TEST_CASE("PacketSplitter cuts packets however the bytes arrive", "[mqtt][codec]") {
  const std::string stream = encode_publish({.topic = "t",
                                             .payload = std::string(300, 'x'),
                                             .qos = 0,
                                             .dup = false,
                                             .retain = false,
                                             .packet_id = 0}) +
                             bytes({0xd0, 0}) + bytes({0x40, 2, 0, 9});
  PacketSplitter splitter(1 << 20);
  std::vector<uint8_t> types;
  for (const char byte : stream) {
    splitter.append(std::string_view(&byte, 1));
    for (;;) {
      absl::StatusOr<std::optional<PacketSplitter::Cut>> cut = splitter.next();
      REQUIRE(cut.ok());
      if (!cut->has_value()) break;
      types.push_back(static_cast<uint8_t>((*cut)->frame.first_byte >> 4));
      REQUIRE(decode_server_packet((*cut)->frame.first_byte, (*cut)->frame.body).ok());
    }
  }
  CHECK(types == std::vector<uint8_t>{3, 13, 4});
  CHECK(splitter.buffered() == 0);
}

TEST_CASE(
    "An oversize PUBLISH keeps its head and skips its payload while other oversize packets fail",
    "[mqtt][codec]") {
  PacketSplitter splitter(1024);
  const std::string big = encode_publish({.topic = "big/one",
                                          .payload = std::string(100000, 'p'),
                                          .qos = 1,
                                          .dup = false,
                                          .retain = false,
                                          .packet_id = 42});
  // Delivered in three slices, followed by a small packet.
  splitter.append(std::string_view(big).substr(0, 20));
  REQUIRE(!splitter.next()->has_value());
  splitter.append(std::string_view(big).substr(20, 50000));
  REQUIRE(!splitter.next()->has_value());
  splitter.append(std::string_view(big).substr(50020));
  splitter.append(bytes({0xd0, 0}));
  absl::StatusOr<std::optional<PacketSplitter::Cut>> cut = splitter.next();
  REQUIRE(cut.ok());
  REQUIRE(cut->has_value());
  CHECK((*cut)->oversize);
  CHECK((*cut)->full_length == big.size() - 4);
  absl::StatusOr<Publish> head = decode_publish_head((*cut)->frame.first_byte, (*cut)->frame.body);
  REQUIRE(head.ok());
  CHECK(head->topic == "big/one");
  CHECK(head->packet_id == 42);
  absl::StatusOr<std::optional<PacketSplitter::Cut>> after = splitter.next();
  REQUIRE(after.ok());
  REQUIRE(after->has_value());
  CHECK((*after)->frame.first_byte == 0xd0);

  PacketSplitter strict(1024);
  std::string huge_suback = bytes({0x90});
  append_remaining_length(5000, huge_suback);
  strict.append(huge_suback);
  absl::StatusOr<std::optional<PacketSplitter::Cut>> refused = strict.next();
  REQUIRE(!refused.ok());
  CHECK(message_contains(refused.status(), "over the limit"));
}

TEST_CASE("check_topic_name accepts UTF-8 topics and refuses wildcards", "[mqtt][codec]") {
  CHECK(check_topic_name("a/b/c").ok());
  CHECK(check_topic_name("caf\xc3\xa9/\xe2\x82\xac").ok());
  CHECK(check_topic_name("/leading/and//empty/").ok());  // valid MQTT, not an fnhost topic
  CHECK(!check_topic_name("").ok());
  CHECK(!check_topic_name("a/+").ok());
  CHECK(!check_topic_name("a/#").ok());
  CHECK(!check_topic_name(std::string(65536, 'a')).ok());
}

}  // namespace
}  // namespace fnhost::mqtt::detail
