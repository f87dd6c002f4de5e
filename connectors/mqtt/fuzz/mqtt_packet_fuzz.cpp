// SPDX-License-Identifier: Apache-2.0
// libFuzzer target for the MQTT packet decoder of connectors/mqtt/src/codec.cpp (built by
// scripts/fuzz.sh). The input is a byte stream from a broker: it is cut into packets by the
// PacketSplitter (a small size limit, so oversize PUBLISH skipping is exercised too) and each
// packet decoded strictly. A PUBLISH the decoder accepts, encoded again, decodes to the same
// message; an oversize one keeps a valid topic; the splitter never holds more than it was given.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "codec.hpp"

namespace {

using fnhost::mqtt::detail::PacketSplitter;
using fnhost::mqtt::detail::Publish;

void require(bool condition) {
  if (!condition) std::abort();
}

void check_publish_round_trip(const Publish& publish) {
  require(fnhost::mqtt::detail::check_topic_name(publish.topic).ok());
  require(publish.qos <= 1);
  require((publish.qos == 0) == (publish.packet_id == 0));
  const std::string encoded = fnhost::mqtt::detail::encode_publish(publish);
  PacketSplitter splitter(encoded.size());
  splitter.append(encoded);
  auto cut = splitter.next();
  require(cut.ok() && cut->has_value());
  auto again =
      fnhost::mqtt::detail::decode_server_packet((*cut)->frame.first_byte, (*cut)->frame.body);
  require(again.ok());
  const Publish& decoded = std::get<Publish>(*again);
  require(decoded.topic == publish.topic && decoded.payload == publish.payload &&
          decoded.qos == publish.qos && decoded.dup == publish.dup &&
          decoded.retain == publish.retain && decoded.packet_id == publish.packet_id);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  // The first byte picks how the stream is sliced into reads.
  const size_t slice = input.empty() ? 1 : 1 + static_cast<unsigned char>(input[0]) % 64;
  PacketSplitter splitter(256);
  for (size_t at = 0; at < input.size(); at += slice) {
    splitter.append(input.substr(at, slice));
    require(splitter.buffered() <= input.size());
    for (;;) {
      auto cut = splitter.next();
      if (!cut.ok()) return 0;  // a malformed length: the stream is unusable
      if (!cut->has_value()) break;
      const auto& frame = (*cut)->frame;
      if ((*cut)->oversize) {
        require((*cut)->full_length > 256);
        auto head = fnhost::mqtt::detail::decode_publish_head(frame.first_byte, frame.body);
        if (head.ok()) require(fnhost::mqtt::detail::check_topic_name(head->topic).ok());
        continue;
      }
      require(frame.body.size() == (*cut)->full_length);
      auto packet = fnhost::mqtt::detail::decode_server_packet(frame.first_byte, frame.body);
      if (packet.ok()) {
        if (const auto* publish = std::get_if<Publish>(&*packet))
          check_publish_round_trip(*publish);
      }
    }
  }
  return 0;
}
