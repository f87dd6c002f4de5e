// SPDX-License-Identifier: Apache-2.0
// Internal (connectors/mqtt/src/publisher_link.hpp).
// One clean MQTT session a publisher function sends through: any number of threads publish at
// once (writes are serialised); a reader thread ("fnhost-mqtt-pub") takes PUBACKs and
// PINGRESPs and keeps the connection alive. Once broken (a failed write or read, a protocol
// error, a missing PINGRESP) it stays broken: every waiting and later publish fails with
// Unavailable, and the owner opens a new link.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "codec.hpp"
#include "common/sync.hpp"
#include "fnhost/mqtt/broker.hpp"
#include "mqtt_session.hpp"
#include "wakeup.hpp"

namespace fnhost::mqtt::detail {

class PublisherLink {
 public:
  // Connects (clean session) and starts the reader thread. Unavailable when the broker cannot
  // be reached or refuses; ResourceExhausted when no thread or eventfd can be had.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<PublisherLink>> open(
      const BrokerOptions& options);

  // Sends DISCONNECT if still connected (bounded by a second), stops and joins the reader.
  ~PublisherLink();
  PublisherLink(const PublisherLink&) = delete;
  PublisherLink& operator=(const PublisherLink&) = delete;

  // Publishes `publish` (its packet id is assigned here). QoS 0 returns once written; QoS 1
  // once the broker's PUBACK arrived. Unavailable if the link is or becomes broken,
  // DeadlineExceeded when `deadline` passes first, ResourceExhausted with 65535 PUBACKs
  // outstanding. Thread-safe; blocks.
  [[nodiscard]] absl::Status publish(Publish publish, absl::Time deadline);

  [[nodiscard]] bool is_broken() const { return broken_.load(); }

 private:
  PublisherLink(MqttSession session, absl::Duration keep_alive)
      : session_(std::move(session)), keep_alive_(keep_alive) {}

  void read_loop();
  void break_link(const absl::Status& why);
  absl::Status write(std::string_view packet, absl::Time deadline);

  struct Waiter {
    bool done = false;
    absl::Status status;
  };

  MqttSession session_;
  const absl::Duration keep_alive_;
  Wakeup stop_;
  std::atomic<bool> broken_{false};
  std::thread reader_;

  // Serialises writes; guards the session's send side.
  fnhost::detail::Mutex write_mu_;
  absl::Time ping_since_ ABSL_GUARDED_BY(write_mu_) = absl::InfiniteFuture();

  fnhost::detail::Mutex mu_;
  fnhost::detail::CondVar acked_;
  absl::flat_hash_map<uint16_t, Waiter*> waiters_ ABSL_GUARDED_BY(mu_);
  uint16_t next_packet_id_ ABSL_GUARDED_BY(mu_) = 1;
  absl::Status broken_status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fnhost::mqtt::detail
