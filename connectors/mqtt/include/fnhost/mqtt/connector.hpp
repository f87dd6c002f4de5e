// SPDX-License-Identifier: Apache-2.0
// File: fnhost/mqtt/connector.hpp
// `fnhost::mqtt::Connector`: MQTT topic filters as triggers (target fnhost::mqtt). It keeps a
// persistent MQTT 3.1.1 session (clean session off) with a broker, subscribes with the given
// filters at QoS 0 or 1 (shared subscriptions `$share/<group>/<filter>` included), and turns
// every message into an Event (topic = the MQTT topic, data = the payload) that goes into the
// host: Host::publish, or Host::invoke_async on a named function. A QoS 1 message is
// acknowledged (PUBACK) only once the host settled it — it succeeded or was dead-lettered — so
// a message the host dropped, or that was still running when the process went away, is
// delivered again by the broker (at least once). Reconnects with jittered exponential backoff.
//
//   auto connector = fnhost::mqtt::Connector::start(host, {
//       .broker = {.host = "127.0.0.1", .port = 1883, .client_id = "thumbnailer-1"},
//       .subscriptions = {{.filter = "$share/thumbs/uploads/+/images/#", .qos = 1,
//                          .function = "thumbnail"},
//                         {.filter = "devices/+/temp", .qos = 0}}}).value();
//   ...
//   connector->stop();                 // settle and acknowledge what is in flight, disconnect
//   host.shutdown(absl::Seconds(5));
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "fnhost/host.hpp"
#include "fnhost/mqtt/broker.hpp"

namespace fnhost::mqtt {

// One topic filter and where its messages go. Field order is API: append only.
struct Subscription {
  // An MQTT topic filter, checked with the rules of fnhost topic patterns (levels split by '/',
  // each non-empty; '+' a whole level; '#' a whole last level; 1..1024 bytes, at most 64
  // levels), or a shared subscription `$share/<group>/<filter>` (group: 1..128 bytes without
  // '/', '+' or '#'), whose messages the broker spreads over the sessions sharing the group.
  std::string filter;
  // The maximum QoS asked for: 0 (at most once) or 1 (at least once, acknowledged after the
  // host settled the message).
  int qos = 1;
  // Empty: each message is published into the host (Host::publish, routed by its topic to the
  // host's triggers). Otherwise the function each message is invoked on (Host::invoke_async);
  // it must be registered when start() runs.
  std::string function;
};

// Configuration of a Connector. Validated by Connector::start(). Field order is API.
struct ConnectorOptions {
  // The broker and the session's client id (required: the session is persistent).
  BrokerOptions broker;
  // 1..64 subscriptions whose filters do not overlap (no topic matches two of them), so each
  // message has exactly one destination.
  std::vector<Subscription> subscriptions;
  // Messages taken from the broker and not yet settled (QoS 0 and 1) or acknowledged, at most;
  // at the limit the connector stops reading from the broker until one settles. 1..65535.
  int max_in_flight = 64;
  // Reconnect backoff: the n-th attempt in a row waits a uniform draw in [d/2, d] with
  // d = min(max_reconnect_delay, initial_reconnect_delay * 2^(n-1)). 1 ms..max_reconnect_delay;
  // max_reconnect_delay <= 1 h.
  absl::Duration initial_reconnect_delay = absl::Milliseconds(100);
  absl::Duration max_reconnect_delay = absl::Seconds(30);
  // How long stop() waits for messages in flight to settle (and be acknowledged). 0..1 h.
  absl::Duration stop_timeout = absl::Seconds(10);
};

// Checks `options` (but not that the functions are registered): InvalidArgument naming the
// field, e.g. `ConnectorOptions::subscriptions[1].filter: ...`.
[[nodiscard]] absl::Status validate_connector_options(const ConnectorOptions& options);

// A Connector's counters (each exact at some moment of the stats() call).
struct ConnectorStats {
  // PUBLISH packets read from the broker (redeliveries included).
  int64_t received = 0;
  // Messages the host accepted (publish or invoke_async returned OK).
  int64_t accepted = 0;
  // PUBACKs sent.
  int64_t acked = 0;
  // Messages the host can never take, acknowledged (QoS 1) and counted here without running:
  // a topic that is not an fnhost topic (an empty level, over 1024 bytes or 64 levels), a
  // payload over max_packet_bytes, a topic no subscription's filter matches (left over from an
  // earlier run of the session), or a refusal that retrying cannot cure (NotFound: the function
  // was removed; InvalidArgument; PermissionDenied; FailedPrecondition).
  int64_t refused = 0;
  // Messages let go without an outcome: a QoS 0 message the host refused as shutting down, and
  // a QoS 1 message the host dropped (Settlement::kDropped) or refused as shutting down — left
  // unacknowledged, so the broker delivers it again after the next connect.
  int64_t dropped = 0;
  // QoS 1 redeliveries of a message still in flight here (not run again).
  int64_t redelivered = 0;
  // ResourceExhausted refusals from the host (each message waits and is offered again).
  int64_t throttled = 0;
  // Successful connects after a lost connection.
  int64_t reconnects = 0;
  // Failed connects, lost connections and protocol errors.
  int64_t errors = 0;
  // Messages taken and not yet settled or acknowledged (the max_in_flight count).
  int64_t in_flight = 0;
  // Whether a session is established now.
  bool connected = false;
  // The last error, empty if none.
  std::string last_error;
};

// A running MQTT subscriber in front of one Host. Thread-safe: stats(), is_connected() and
// stop() may be called from any thread but a handler the connector invoked (stop() would wait
// for it). The host must outlive the connector.
class Connector {
 public:
  // Connects (bounded by broker.connect_timeout), subscribes, and starts the connector's thread
  // ("fnhost-mqtt"). Returns once every SUBACK granted its filter: messages published after it
  // returns reach the host. InvalidArgument for a bad option (the message names the field),
  // NotFound for a subscription's unregistered function, Unavailable when the broker cannot be
  // reached, times out or refuses the connection (the message says why), PermissionDenied when
  // the broker refuses a subscription. `host` is kept by reference.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Connector>> start(Host& host,
                                                                        ConnectorOptions options);

  Connector(const Connector&) = delete;
  Connector& operator=(const Connector&) = delete;
  // Stops (see stop()).
  ~Connector();

  // Stops taking messages (any read from now on is left unacknowledged for the broker to
  // deliver again), waits up to stop_timeout for the QoS 1 messages in flight to settle and
  // acknowledges them, then sends DISCONNECT and closes the connection; messages unsettled at
  // the deadline stay unacknowledged and are redelivered to the session's next connection.
  // The session itself stays on the broker. Idempotent; blocks.
  void stop();

  [[nodiscard]] ConnectorStats stats() const;
  // Whether a session is established now.
  [[nodiscard]] bool is_connected() const;

 private:
  struct Impl;
  explicit Connector(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fnhost::mqtt
