// SPDX-License-Identifier: Apache-2.0
// File: fnhost/mqtt/publisher.hpp
// `fnhost::mqtt::register_publisher`: a function that publishes the events it receives to an
// MQTT broker — a destination for results (FunctionSpec::on_success = {.function = name}) or a
// function to invoke or trigger like any other.
//
//   absl::Status made = fnhost::mqtt::register_publisher(host, "to-mqtt", {
//       .broker = {.host = "127.0.0.1", .port = 1883},
//       .topic = "thumbnails/done", .qos = 1});
//   host.register_function({.name = "thumbnail", .handler = ...,
//                           .on_success = {.function = "to-mqtt"}});
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "fnhost/delivery.hpp"
#include "fnhost/host.hpp"
#include "fnhost/mqtt/broker.hpp"

namespace fnhost::mqtt {

// What a publisher sends as the MQTT payload.
enum class PublishedPayload {
  // A destination record of a success (read_destination_record) sends the handler's result
  // (`fnhostresult`); any other event sends its data.
  kResultOrData,
  // The event's data, always.
  kData,
};

// Configuration of a publisher function. Field order is API: append only.
struct PublisherOptions {
  // The broker; client_id may be empty (the broker assigns one). The session is clean.
  BrokerOptions broker;
  // The MQTT topic of every message; empty: `topic_prefix` + the event's topic (an event
  // without a topic then fails with InvalidArgument, not retried). A fixed topic must be a
  // valid topic name (no '+' or '#', well-formed UTF-8, 1..65535 bytes).
  std::string topic;
  // Prepended to the event's topic when `topic` is empty, e.g. "results/". At most 1024 bytes.
  std::string topic_prefix;
  // 0: sent once, no acknowledgement; 1: the invocation succeeds only once the broker's PUBACK
  // arrived.
  int qos = 1;
  // Sets the MQTT retain flag.
  bool retain = false;
  // What the payload is.
  PublishedPayload payload = PublishedPayload::kResultOrData;
  // Bounds waiting for a PUBACK (QoS 1); the invocation then fails with DeadlineExceeded and is
  // retried by its RetryPolicy (the broker may then get it twice). > 0, <= 10 min.
  absl::Duration ack_timeout = absl::Seconds(10);
  // The function's retry policy (a failed publish is Unavailable or DeadlineExceeded, retried).
  RetryPolicy retry;
  // The function's timeout: must cover connect_timeout + ack_timeout. > 0, <= 1 h.
  absl::Duration timeout = absl::Seconds(30);
};

// Checks `options` without connecting: InvalidArgument naming the field.
[[nodiscard]] absl::Status validate_publisher_options(const PublisherOptions& options);

// Registers function `name` (FunctionSpec rules) whose handler publishes each event it gets to
// the broker and returns an empty result. The connection is opened by the first invocation and
// reopened by the next one after it breaks, so registering needs no broker; a publish that
// cannot connect fails with Unavailable (retried). One connection per publisher function,
// shared by its concurrent invocations; it closes when the function is removed or the host
// destroyed. InvalidArgument for a bad option, otherwise as Host::register_function.
[[nodiscard]] absl::Status register_publisher(Host& host, std::string name,
                                              PublisherOptions options);

}  // namespace fnhost::mqtt
