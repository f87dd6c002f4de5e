// SPDX-License-Identifier: Apache-2.0
// PublisherLink: publish and wait for PUBACK; the reader thread.
#include "publisher_link.hpp"

#include <poll.h>
#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <system_error>
#include <utility>

#include "fmt/format.h"
#include "status_text.hpp"

namespace fnhost::mqtt::detail {

absl::StatusOr<std::unique_ptr<PublisherLink>> PublisherLink::open(const BrokerOptions& options) {
  absl::StatusOr<MqttSession> session =
      MqttSession::connect(options, /*clean_session=*/true, /*wake_fd=*/-1);
  if (!session.ok()) return session.status();
  std::unique_ptr<PublisherLink> link(new PublisherLink(*std::move(session), options.keep_alive));
  if (!link->stop_.ok()) return absl::ResourceExhaustedError("MQTT publisher: no eventfd");
  PublisherLink& running = *link;
  try {
    link->reader_ = std::thread([&running] { running.read_loop(); });
  } catch (const std::system_error& error) {
    return absl::ResourceExhaustedError(
        fmt::format("MQTT publisher: cannot start its thread: {}", error.what()));
  }
  return link;
}

PublisherLink::~PublisherLink() {
  if (!broken_.load()) {
    fnhost::detail::MutexLock lock(write_mu_);
    static_cast<void>(
        session_.send(encode_disconnect(), absl::Now() + absl::Seconds(1), /*wake_fd=*/-1));
  }
  stop_.signal();
  if (reader_.joinable()) reader_.join();
}

absl::Status PublisherLink::write(std::string_view packet, absl::Time deadline) {
  absl::Status written;
  {
    fnhost::detail::MutexLock lock(write_mu_);
    written = session_.send(packet, deadline, stop_.fd());
  }
  if (!written.ok()) {
    break_link(absl::UnavailableError(fmt::format("MQTT publish: {}", message_text(written))));
  }
  return written;
}

absl::Status PublisherLink::publish(Publish publish, absl::Time deadline) {
  if (publish.qos == 0) {
    absl::Status written = write(encode_publish(publish), deadline);
    if (!written.ok()) return absl::UnavailableError(message_text(written));
    return absl::OkStatus();
  }
  Waiter waiter;
  {
    fnhost::detail::MutexLock lock(mu_);
    if (!broken_status_.ok()) return broken_status_;
    if (waiters_.size() >= 65535) {
      return absl::ResourceExhaustedError("MQTT publisher: 65535 PUBACKs outstanding");
    }
    while (next_packet_id_ == 0 || waiters_.contains(next_packet_id_)) ++next_packet_id_;
    publish.packet_id = next_packet_id_++;
    waiters_[publish.packet_id] = &waiter;
  }
  const uint16_t packet_id = publish.packet_id;
  static_cast<void>(write(encode_publish(publish), deadline));
  fnhost::detail::MutexLock lock(mu_);
  const auto until =
      std::chrono::system_clock::now() +
      absl::ToChronoMilliseconds(std::max(deadline - absl::Now(), absl::ZeroDuration()));
  while (!waiter.done) {
    if (!acked_.wait_until(mu_, until) && !waiter.done) {
      waiters_.erase(packet_id);
      return absl::DeadlineExceededError(
          fmt::format("MQTT publish to {}: no PUBACK in time", publish.topic.substr(0, 64)));
    }
  }
  return waiter.status;
}

void PublisherLink::break_link(const absl::Status& why) {
  broken_.store(true);
  session_.shutdown();
  fnhost::detail::MutexLock lock(mu_);
  if (broken_status_.ok()) broken_status_ = why;
  for (auto& [packet_id, waiter] : waiters_) {
    waiter->done = true;
    waiter->status = broken_status_;
  }
  waiters_.clear();
  acked_.notify_all();
}

void PublisherLink::read_loop() {
  pthread_setname_np(pthread_self(), "fnhost-mqtt-pub");
  while (!broken_.load()) {
    absl::Time wake_at;
    {
      fnhost::detail::MutexLock lock(write_mu_);
      wake_at = session_.last_sent() + keep_alive_;
      if (ping_since_ != absl::InfiniteFuture())
        wake_at = std::min(wake_at, ping_since_ + keep_alive_);
    }
    pollfd fds[2] = {{.fd = session_.fd(), .events = POLLIN, .revents = 0},
                     {.fd = stop_.fd(), .events = POLLIN, .revents = 0}};
    const int ready = ::poll(fds, 2, poll_timeout_ms(wake_at));
    if (ready < 0 && errno != EINTR) {
      break_link(
          absl::UnavailableError(fmt::format("MQTT publisher: poll: {}", std::strerror(errno))));
      return;
    }
    if ((fds[1].revents & POLLIN) != 0) return;
    if (fds[0].revents != 0) {
      if (absl::Status received = session_.receive_available(); !received.ok()) {
        break_link(
            absl::UnavailableError(fmt::format("MQTT publisher: {}", message_text(received))));
        return;
      }
      for (;;) {
        absl::StatusOr<std::optional<Incoming>> next = session_.next();
        if (!next.ok()) {
          break_link(absl::UnavailableError(
              fmt::format("MQTT publisher: {}", message_text(next.status()))));
          return;
        }
        if (!next->has_value()) break;
        if (const auto* puback = std::get_if<Puback>(&(*next)->packet)) {
          fnhost::detail::MutexLock lock(mu_);
          if (auto waiter = waiters_.find(puback->packet_id); waiter != waiters_.end()) {
            waiter->second->done = true;
            waiters_.erase(waiter);
            acked_.notify_all();
          }
        } else if (std::holds_alternative<Pingresp>((*next)->packet)) {
          fnhost::detail::MutexLock lock(write_mu_);
          ping_since_ = absl::InfiniteFuture();
        } else {
          break_link(absl::UnavailableError(
              "MQTT publisher: the broker sent a packet a publisher never asked for"));
          return;
        }
      }
    }
    const absl::Time now = absl::Now();
    bool ping_due = false;
    bool ping_missing = false;
    {
      fnhost::detail::MutexLock lock(write_mu_);
      if (ping_since_ != absl::InfiniteFuture() && now - ping_since_ >= keep_alive_) {
        ping_missing = true;
      } else if (now - session_.last_sent() >= keep_alive_) {
        ping_due = true;
        if (ping_since_ == absl::InfiniteFuture()) ping_since_ = now;
      }
    }
    if (ping_missing) {
      break_link(absl::UnavailableError("MQTT publisher: no PINGRESP within the keep-alive"));
      return;
    }
    if (ping_due) static_cast<void>(write(encode_pingreq(), now + keep_alive_));
  }
}

}  // namespace fnhost::mqtt::detail
