// SPDX-License-Identifier: Apache-2.0
// Connector: start (validate, connect, subscribe), the connector's thread (read, hand messages
// to the host, acknowledge settled ones, keep alive, reconnect) and stop (drain, disconnect).
#include "fnhost/mqtt/connector.hpp"

#include <poll.h>
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "codec.hpp"
#include "common/quote.hpp"
#include "common/random.hpp"
#include "common/sync.hpp"
#include "fmt/format.h"
#include "inflight_table.hpp"
#include "mqtt_session.hpp"
#include "reconnect_backoff.hpp"
#include "settlement_inbox.hpp"
#include "status_text.hpp"
#include "topic_filters.hpp"
#include "wakeup.hpp"

namespace fnhost::mqtt {
namespace {

using detail::InflightTable;
using detail::MqttSession;
using detail::Publish;

// A ResourceExhausted refusal is offered again after this, doubling up to the maximum.
constexpr absl::Duration kFirstThrottleDelay = absl::Milliseconds(1);
constexpr absl::Duration kMaxThrottleDelay = absl::Milliseconds(250);

uint64_t hash_of(std::string_view payload) { return std::hash<std::string_view>{}(payload); }

// Codes a retry cannot cure: such a message is acknowledged and counted as refused.
bool is_permanent_refusal(const absl::Status& status) {
  return !status.ok() && !absl::IsResourceExhausted(status) && !absl::IsUnavailable(status);
}

}  // namespace

struct Connector::Impl {
  Impl(Host& host_ref, ConnectorOptions config, std::vector<std::string> patterns)
      : host(host_ref),
        options(std::move(config)),
        matcher(std::move(patterns)),
        source(fmt::format("mqtt://{}:{}", options.broker.host, options.broker.port)),
        inbox(std::make_shared<detail::SettlementInbox>()) {
    for (const Subscription& subscription : options.subscriptions) {
      requests.push_back(
          {.filter = subscription.filter, .qos = static_cast<uint8_t>(subscription.qos)});
    }
  }

  // ---- shared with other threads ----
  Host& host;
  const ConnectorOptions options;
  const detail::SubscriptionMatcher matcher;
  const std::string source;
  std::vector<detail::SubscribeRequest> requests;
  const std::shared_ptr<detail::SettlementInbox> inbox;
  detail::Wakeup stop_wakeup;
  std::atomic<bool> stop_requested{false};
  std::thread thread;
  std::once_flag stopped;
  mutable fnhost::detail::Mutex stats_mu;
  ConnectorStats stats ABSL_GUARDED_BY(stats_mu);

  // ---- the connector's thread only ----
  std::optional<MqttSession> session;
  InflightTable inflight;
  uint64_t next_token = 1;
  uint16_t next_packet_id = 1;
  // Messages the host refused with ResourceExhausted, to be offered again, in arrival order.
  std::deque<Publish> throttled;
  absl::Duration throttle_delay = kFirstThrottleDelay;
  absl::Time throttle_retry_at = absl::InfiniteFuture();
  // When the PINGREQ still unanswered went out (InfiniteFuture: none).
  absl::Time ping_since = absl::InfiniteFuture();
  // After a reconnect that resumed the session: a PINGREQ went out, and its PINGRESP marks the
  // end of the broker's redeliveries.
  bool redelivery_marker_pending = false;
  int reconnect_attempt = 0;
  bool draining = false;
  absl::Time drain_deadline = absl::InfiniteFuture();

  // ---- helpers ----
  template <class Update>
  void update_stats(Update&& update) {
    fnhost::detail::MutexLock lock(stats_mu);
    update(stats);
  }
  void count_error(const absl::Status& status) {
    update_stats([&](ConnectorStats& s) {
      ++s.errors;
      s.last_error = status.ToString();
    });
  }
  void publish_gauges() {
    const auto in_flight = static_cast<int64_t>(inflight.size() + throttled.size());
    const bool connected = session.has_value();
    update_stats([&](ConnectorStats& s) {
      s.in_flight = in_flight;
      s.connected = connected;
    });
  }
  uint16_t take_packet_id() {
    const uint16_t id = next_packet_id;
    next_packet_id = next_packet_id == 65535 ? 1 : static_cast<uint16_t>(next_packet_id + 1);
    return id;
  }
  // stop() cancels blocking waits until the drain begins; the drain's own writes must finish.
  int cancel_fd() const { return draining ? -1 : stop_wakeup.fd(); }
  absl::Time write_deadline() const { return absl::Now() + options.broker.keep_alive; }

  // Establishes a session and its subscriptions. At start() and after a lost session every
  // filter is subscribed; a resumed session still has them.
  absl::Status connect(bool first) {
    absl::StatusOr<MqttSession> connected =
        MqttSession::connect(options.broker, /*clean_session=*/false, cancel_fd());
    if (!connected.ok()) return connected.status();
    if (first || !connected->session_present()) {
      if (!first) inflight.forget_session();
      const absl::Time deadline = absl::Now() + options.broker.connect_timeout;
      absl::Status subscribed =
          connected->subscribe(take_packet_id(), requests, deadline, cancel_fd());
      if (!subscribed.ok()) {
        if (absl::IsUnavailable(subscribed)) {
          return absl::UnavailableError(fmt::format("MQTT broker {}:{}: waiting for SUBACK: {}",
                                                    options.broker.host, options.broker.port,
                                                    detail::message_text(subscribed)));
        }
        return subscribed;
      }
      // Entries settled while disconnected were for the lost session: nothing to redeliver.
      inflight.forget_unredelivered();
    } else {
      absl::Status marked =
          connected->send(detail::encode_pingreq(), write_deadline(), cancel_fd());
      if (!marked.ok()) return marked;
      ping_since = absl::Now();
      redelivery_marker_pending = true;
    }
    session = *std::move(connected);
    return absl::OkStatus();
  }

  void connection_lost(const absl::Status& why) {
    if (session) session->shutdown();
    session.reset();
    // Never accepted by the host: the broker delivers them again after the reconnect.
    throttled.clear();
    throttle_retry_at = absl::InfiniteFuture();
    ping_since = absl::InfiniteFuture();
    redelivery_marker_pending = false;
    count_error(why);
    publish_gauges();
  }

  bool send(std::string_view packet) {
    absl::Status sent = session->send(packet, write_deadline(), cancel_fd());
    if (sent.ok()) return true;
    connection_lost(absl::IsCancelled(sent) ? absl::UnavailableError("stopping") : sent);
    return false;
  }

  void send_puback(uint16_t packet_id) {
    if (send(detail::encode_puback(packet_id))) update_stats([](ConnectorStats& s) { ++s.acked; });
  }

  // A message the host can never take: acknowledged (QoS 1) without running.
  void refuse(const Publish& publish, const absl::Status& why) {
    update_stats([&](ConnectorStats& s) {
      ++s.refused;
      s.last_error = why.ToString();
    });
    if (publish.qos == 1 && session) send_puback(publish.packet_id);
  }

  Event event_of(const Publish& publish) const {
    Event event{
        .source = source, .type = "mqtt.message", .topic = publish.topic, .data = publish.payload};
    event.extensions.emplace_back("mqttqos", std::to_string(publish.qos));
    if (publish.retain) event.extensions.emplace_back("mqttretain", "true");
    if (publish.dup) event.extensions.emplace_back("mqttdup", "true");
    return event;
  }

  // Hands `publish` to the host. Returns false when the host refused it for capacity: the
  // caller keeps it to offer again.
  bool offer(const Publish& publish) {
    const std::optional<size_t> index = matcher.match(publish.topic);
    if (!index) {
      refuse(publish, absl::InvalidArgumentError(
                          fmt::format("topic {} is not an fnhost topic or matches no subscription",
                                      fnhost::detail::quote_for_message(publish.topic))));
      return true;
    }
    const uint64_t token = next_token++;
    SettledCallback settled = [inbox = inbox, token](const SettledEvent& event) {
      inbox->push(token, event.outcome);
    };
    const std::string& function = options.subscriptions[*index].function;
    absl::Status accepted =
        function.empty() ? host.publish(event_of(publish), std::move(settled))
                         : host.invoke_async(function, event_of(publish), std::move(settled));
    if (accepted.ok()) {
      inflight.add(token, publish.qos == 1 ? publish.packet_id : 0, publish.topic,
                   hash_of(publish.payload));
      update_stats([](ConnectorStats& s) { ++s.accepted; });
      return true;
    }
    if (absl::IsResourceExhausted(accepted)) {
      update_stats([](ConnectorStats& s) { ++s.throttled; });
      return false;
    }
    if (is_permanent_refusal(accepted)) {
      refuse(publish, accepted);
      return true;
    }
    // Unavailable: the host is shutting down. Not acknowledged: the broker keeps it.
    update_stats([&](ConnectorStats& s) {
      ++s.dropped;
      s.last_error = accepted.ToString();
    });
    return true;
  }

  void offer_or_wait(Publish publish) {
    if (!throttled.empty()) {
      throttled.push_back(std::move(publish));
      return;
    }
    if (offer(publish)) return;
    throttled.push_back(std::move(publish));
    throttle_delay = kFirstThrottleDelay;
    throttle_retry_at = absl::Now() + throttle_delay;
  }

  void retry_throttled() {
    if (throttled.empty() || absl::Now() < throttle_retry_at) return;
    while (!throttled.empty() && session) {
      if (!offer(throttled.front())) {
        throttle_delay = std::min(throttle_delay * 2, kMaxThrottleDelay);
        throttle_retry_at = absl::Now() + throttle_delay;
        return;
      }
      throttled.pop_front();
    }
    throttle_retry_at = absl::InfiniteFuture();
  }

  void on_publish(detail::Incoming incoming) {
    Publish& publish = std::get<Publish>(incoming.packet);
    update_stats([](ConnectorStats& s) { ++s.received; });
    // While stopping nothing new is taken; unacknowledged, it stays with the broker.
    if (draining) return;
    if (incoming.oversize) {
      refuse(publish, absl::InvalidArgumentError(fmt::format(
                          "a message of {} bytes on {} is over max_packet_bytes",
                          incoming.body_bytes, fnhost::detail::quote_for_message(publish.topic))));
      return;
    }
    if (publish.qos == 1) {
      switch (inflight.arrive(publish.packet_id, publish.topic, hash_of(publish.payload))) {
        case InflightTable::Arrival::kStillRunning:
          update_stats([](ConnectorStats& s) { ++s.redelivered; });
          return;
        case InflightTable::Arrival::kAckNow:
          update_stats([](ConnectorStats& s) { ++s.redelivered; });
          send_puback(publish.packet_id);
          return;
        case InflightTable::Arrival::kNew:
          break;
      }
    }
    offer_or_wait(std::move(publish));
  }

  void on_packet(detail::Incoming incoming) {
    if (std::holds_alternative<Publish>(incoming.packet)) {
      on_publish(std::move(incoming));
    } else if (std::holds_alternative<detail::Pingresp>(incoming.packet)) {
      ping_since = absl::InfiniteFuture();
      if (redelivery_marker_pending) {
        redelivery_marker_pending = false;
        inflight.forget_unredelivered();
      }
    } else {
      connection_lost(absl::InvalidArgumentError(
          "MQTT broker sent a packet this client never asked for (CONNACK, PUBACK, SUBACK or "
          "UNSUBACK after the handshake)"));
    }
  }

  // Whether another message may be taken from the broker now.
  bool may_take() const {
    if (draining) return true;
    return throttled.empty() && inflight.size() < static_cast<size_t>(options.max_in_flight);
  }

  // Handles the packets already received, as far as max_in_flight allows.
  void handle_received() {
    while (session && may_take()) {
      absl::StatusOr<std::optional<detail::Incoming>> next = session->next();
      if (!next.ok()) {
        connection_lost(next.status());
        return;
      }
      if (!next->has_value()) return;
      on_packet(**std::move(next));
    }
  }

  void apply_settlements() {
    for (const detail::Settled& settled : inbox->take()) {
      const bool acknowledge = settled.outcome != Settlement::kDropped;
      if (!acknowledge) update_stats([](ConnectorStats& s) { ++s.dropped; });
      if (std::optional<uint16_t> packet_id =
              inflight.settle(settled.token, acknowledge, session.has_value())) {
        send_puback(*packet_id);
      }
    }
  }

  void keep_alive() {
    if (!session) return;
    const absl::Time now = absl::Now();
    const absl::Duration keep_alive = options.broker.keep_alive;
    // While reading is paused a PINGRESP cannot be seen: its wait starts over.
    if (!may_take() && ping_since != absl::InfiniteFuture()) ping_since = now;
    if (ping_since != absl::InfiniteFuture() && now - ping_since >= keep_alive) {
      connection_lost(absl::UnavailableError(
          fmt::format("no PINGRESP within the keep-alive ({})", absl::FormatDuration(keep_alive))));
      return;
    }
    if (now - session->last_sent() >= keep_alive) {
      if (!send(detail::encode_pingreq())) return;
      if (ping_since == absl::InfiniteFuture()) ping_since = now;
    }
  }

  absl::Time next_wakeup() const {
    absl::Time at = throttle_retry_at;
    if (session) {
      at = std::min(at, session->last_sent() + options.broker.keep_alive);
      if (ping_since != absl::InfiniteFuture()) {
        at = std::min(at, ping_since + options.broker.keep_alive);
      }
    }
    if (draining) at = std::min(at, drain_deadline);
    return at;
  }

  // One round with a session: wait for the broker, a settlement, a timer or stop().
  void serve_once() {
    handle_received();
    if (!session) return;
    const bool reading = may_take();
    pollfd fds[3] = {{.fd = inbox->fd(), .events = POLLIN, .revents = 0},
                     {.fd = stop_wakeup.fd(), .events = POLLIN, .revents = 0},
                     {.fd = session->fd(), .events = POLLIN, .revents = 0}};
    const nfds_t count = reading ? 3 : 2;
    const int ready = ::poll(fds, count, detail::poll_timeout_ms(next_wakeup()));
    if (ready < 0 && errno != EINTR) {
      connection_lost(absl::UnavailableError(fmt::format("poll: {}", std::strerror(errno))));
      return;
    }
    if (reading && ready > 0 && fds[2].revents != 0) {
      if (absl::Status received = session->receive_available(); !received.ok()) {
        connection_lost(received);
      }
    }
    apply_settlements();
    handle_received();
    retry_throttled();
    keep_alive();
    publish_gauges();
  }

  // Waits the backoff (settlements still applied meanwhile), then tries once to reconnect.
  void reconnect_once() {
    ++reconnect_attempt;
    const absl::Time wake_at =
        absl::Now() + detail::reconnect_delay(options.initial_reconnect_delay,
                                              options.max_reconnect_delay, reconnect_attempt,
                                              fnhost::detail::thread_random_bits());
    while (!stop_requested.load() && absl::Now() < wake_at) {
      pollfd fds[2] = {{.fd = inbox->fd(), .events = POLLIN, .revents = 0},
                       {.fd = stop_wakeup.fd(), .events = POLLIN, .revents = 0}};
      ::poll(fds, 2, detail::poll_timeout_ms(wake_at));
      apply_settlements();
      publish_gauges();
    }
    if (stop_requested.load()) return;
    absl::Status connected = connect(/*first=*/false);
    if (!connected.ok()) {
      if (!absl::IsCancelled(connected)) count_error(connected);
      session.reset();
      return;
    }
    reconnect_attempt = 0;
    update_stats([](ConnectorStats& s) { ++s.reconnects; });
    publish_gauges();
  }

  void begin_drain() {
    draining = true;
    stop_wakeup.clear();
    drain_deadline = absl::Now() + options.stop_timeout;
    throttled.clear();
    throttle_retry_at = absl::InfiniteFuture();
  }

  void run() {
    pthread_setname_np(pthread_self(), "fnhost-mqtt");
    for (;;) {
      if (stop_requested.load() && !draining) begin_drain();
      if (draining) {
        apply_settlements();
        if (!session || inflight.unsettled_owed() == 0 || absl::Now() >= drain_deadline) break;
      }
      if (session) {
        serve_once();
      } else {
        reconnect_once();
      }
    }
    if (session) {
      // Bounded: the broker is told the connection ends on purpose (no will, session kept).
      absl::Status said =
          session->send(detail::encode_disconnect(), absl::Now() + absl::Seconds(1), -1);
      static_cast<void>(said);
      session.reset();
    }
    publish_gauges();
  }
};

Connector::Connector(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Connector::~Connector() { stop(); }

absl::StatusOr<std::unique_ptr<Connector>> Connector::start(Host& host, ConnectorOptions options) {
  if (absl::Status valid = validate_connector_options(options); !valid.ok()) return valid;
  std::vector<std::string> patterns;
  for (size_t index = 0; index < options.subscriptions.size(); ++index) {
    const Subscription& subscription = options.subscriptions[index];
    if (!subscription.function.empty() && !host.has_function(subscription.function)) {
      return absl::NotFoundError(
          fmt::format("ConnectorOptions::subscriptions[{}].function: no function {} is registered",
                      index, fnhost::detail::quote_for_message(subscription.function)));
    }
    patterns.push_back(detail::parse_filter(subscription.filter)->pattern);
  }
  auto impl = std::make_unique<Impl>(host, std::move(options), std::move(patterns));
  if (!impl->inbox->ok() || !impl->stop_wakeup.ok()) {
    return absl::ResourceExhaustedError("MQTT connector: cannot create an eventfd");
  }
  if (absl::Status connected = impl->connect(/*first=*/true); !connected.ok()) return connected;
  impl->publish_gauges();
  Impl& running = *impl;
  try {
    impl->thread = std::thread([&running] { running.run(); });
  } catch (const std::system_error& error) {
    return absl::ResourceExhaustedError(
        fmt::format("MQTT connector: cannot start its thread: {}", error.what()));
  }
  return std::unique_ptr<Connector>(new Connector(std::move(impl)));
}

void Connector::stop() {
  std::call_once(impl_->stopped, [this] {
    impl_->stop_requested.store(true);
    impl_->stop_wakeup.signal();
    if (impl_->thread.joinable()) impl_->thread.join();
  });
}

ConnectorStats Connector::stats() const {
  fnhost::detail::MutexLock lock(impl_->stats_mu);
  return impl_->stats;
}

bool Connector::is_connected() const {
  fnhost::detail::MutexLock lock(impl_->stats_mu);
  return impl_->stats.connected;
}

}  // namespace fnhost::mqtt
