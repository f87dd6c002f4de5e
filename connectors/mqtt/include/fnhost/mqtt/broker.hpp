// SPDX-License-Identifier: Apache-2.0
// File: fnhost/mqtt/broker.hpp
// `fnhost::mqtt::BrokerOptions`: where an MQTT 3.1.1 broker is and how to log in to it, shared
// by the subscribing Connector (fnhost/mqtt/connector.hpp) and the publishing destination
// (fnhost/mqtt/publisher.hpp). Plain TCP only (no TLS).
//
//   fnhost::mqtt::BrokerOptions broker{.host = "127.0.0.1", .port = 1883,
//                                      .client_id = "thumbnailer-1"};
#pragma once

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace fnhost::mqtt {

// A broker and a login. Field order is API: append only.
struct BrokerOptions {
  // Host name or address of the broker (resolved with getaddrinfo, IPv4 or IPv6). 1..255 bytes.
  std::string host = "127.0.0.1";
  // TCP port, 1..65535.
  int port = 1883;
  // The MQTT client id: 1..128 bytes of printable ASCII without spaces. The broker keeps one
  // session per client id; a second connection with the same id takes the session over (the
  // first is disconnected). Required by the Connector (its session is persistent); optional
  // for a publisher (empty: the broker assigns one to a clean session).
  std::string client_id;
  // Login, sent only when non-empty: at most 65535 bytes each; a password needs a username.
  std::string username;
  std::string password;
  // The MQTT keep-alive: a PINGREQ goes out when nothing was sent for this long, and the
  // connection is closed (then reconnected) when its PINGRESP takes longer than this again.
  // Whole seconds, 1 s..65535 s.
  absl::Duration keep_alive = absl::Seconds(30);
  // Bounds resolving, the TCP connect, CONNACK and each SUBACK. > 0, <= 10 min.
  absl::Duration connect_timeout = absl::Seconds(10);
  // The largest packet body (the MQTT Remaining Length) accepted from the broker, in bytes. A
  // larger PUBLISH is skipped as it arrives and refused (acknowledged and counted, see
  // ConnectorStats::refused); any other larger packet closes the connection. 1 KiB..256 MiB.
  size_t max_packet_bytes = 1024 * 1024 + 65536;
};

// Checks `options` without connecting: InvalidArgument naming the field (prefixed by
// `context`, e.g. "ConnectorOptions::broker"). `require_client_id`: the Connector needs one.
[[nodiscard]] absl::Status validate_broker_options(const BrokerOptions& options,
                                                   std::string_view context,
                                                   bool require_client_id);

}  // namespace fnhost::mqtt
