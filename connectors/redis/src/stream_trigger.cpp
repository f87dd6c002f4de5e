// SPDX-License-Identifier: Apache-2.0
// StreamTrigger: start (validate, connect, create the group, start the two threads) and stop
// (stop reading, wait for settlements to be acknowledged, leave the rest pending, join).
#include "fnhost/redis/stream_trigger.hpp"

#include <pthread.h>

#include <chrono>
#include <mutex>
#include <system_error>
#include <thread>
#include <utility>

#include "acknowledger.hpp"
#include "connection.hpp"
#include "flow.hpp"
#include "fmt/format.h"
#include "reader.hpp"

namespace fnhost::redis {

struct StreamTrigger::Impl {
  explicit Impl(StreamTriggerOptions trigger_options) : options(std::move(trigger_options)) {}

  StreamTriggerOptions options;
  std::shared_ptr<detail::Flow> flow = std::make_shared<detail::Flow>();
  std::unique_ptr<detail::Reader> reader;
  std::unique_ptr<detail::Acknowledger> acknowledger;
  std::thread reader_thread;
  std::thread acknowledger_thread;
  std::once_flag stopped;
};

StreamTrigger::StreamTrigger(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

StreamTrigger::~StreamTrigger() { stop(); }

absl::StatusOr<std::unique_ptr<StreamTrigger>> StreamTrigger::start(Host& host,
                                                                    StreamTriggerOptions options) {
  if (absl::Status valid = validate_stream_trigger_options(options); !valid.ok()) return valid;
  if (!options.function.empty() && !host.has_function(options.function)) {
    return absl::NotFoundError(
        fmt::format("StreamTriggerOptions::function: \"{}\" is not registered",
                    options.function.substr(0, 128)));
  }
  auto impl = std::make_unique<Impl>(std::move(options));
  const StreamTriggerOptions& config = impl->options;
  // The reader's replies may take a whole BLOCK longer than the server's io_timeout.
  auto connection = std::make_unique<detail::Connection>(config.server, config.read_block);
  if (absl::Status connected = connection->ensure_connected(); !connected.ok()) return connected;
  if (config.create_group) {
    if (absl::Status group = detail::ensure_group(*connection, config); !group.ok()) {
      const absl::string_view message = group.message();
      return absl::UnavailableError(fmt::format(
          "redis stream \"{}\": cannot create group \"{}\": {}", config.stream.substr(0, 128),
          config.group.substr(0, 128), std::string_view(message.data(), message.size())));
    }
  }
  impl->reader = std::make_unique<detail::Reader>(host, config, impl->flow, std::move(connection));
  impl->acknowledger = std::make_unique<detail::Acknowledger>(config, impl->flow);
  try {
    impl->acknowledger_thread = std::thread([acknowledger = impl->acknowledger.get()] {
      pthread_setname_np(pthread_self(), "fnhost-redis-a");
      acknowledger->run();
    });
    impl->reader_thread = std::thread([reader = impl->reader.get()] { reader->run(); });
  } catch (const std::system_error& error) {
    {
      detail::MutexLock lock(impl->flow->mu);
      impl->flow->stop_reading = true;
      impl->flow->stop_acking = true;
      impl->flow->settled_changed.notify_all();
    }
    if (impl->acknowledger_thread.joinable()) impl->acknowledger_thread.join();
    return absl::ResourceExhaustedError(
        fmt::format("redis stream trigger: cannot start its threads: {}", error.what()));
  }
  return std::unique_ptr<StreamTrigger>(new StreamTrigger(std::move(impl)));
}

StreamTriggerStats StreamTrigger::stats() const {
  const detail::Counters& counters = impl_->flow->counters;
  const auto get = [](const std::atomic<int64_t>& counter) {
    return counter.load(std::memory_order_relaxed);
  };
  return StreamTriggerStats{.read = get(counters.read),
                            .acked = get(counters.acked),
                            .succeeded = get(counters.succeeded),
                            .dead_lettered = get(counters.dead_lettered),
                            .invalid = get(counters.invalid),
                            .reclaimed = get(counters.reclaimed),
                            .redelivered = get(counters.redelivered),
                            .refused = get(counters.refused),
                            .left_pending = get(counters.left_pending),
                            .errors = get(counters.errors),
                            .reconnects = get(counters.reconnects),
                            .in_flight = impl_->flow->in_flight_count(),
                            .peak_in_flight = get(counters.peak_in_flight),
                            .reading = impl_->flow->reading.load(std::memory_order_acquire)};
}

void StreamTrigger::stop() {
  std::call_once(impl_->stopped, [this] {
    detail::Flow& flow = *impl_->flow;
    // 1. No new entries: the reader finishes its current command (at most read_block) and
    //    leaves the entries the host has not accepted.
    {
      detail::MutexLock lock(flow.mu);
      flow.stop_reading = true;
      flow.in_flight_changed.notify_all();
    }
    if (impl_->reader_thread.joinable()) impl_->reader_thread.join();
    // 2. Entries in flight settle and are acknowledged, for up to stop_timeout.
    const auto deadline =
        std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(impl_->options.stop_timeout);
    {
      detail::MutexLock lock(flow.mu);
      while (!flow.in_flight.empty() && flow.in_flight_changed.wait_until(flow.mu, deadline)) {
      }
    }
    // 3. The acknowledger tries what settled one last time, then leaves.
    {
      detail::MutexLock lock(flow.mu);
      flow.stop_acking = true;
      flow.settled_changed.notify_all();
    }
    if (impl_->acknowledger_thread.joinable()) impl_->acknowledger_thread.join();
    // 4. What never settled stays pending in the group; its settlement, if it comes, is ignored.
    detail::MutexLock lock(flow.mu);
    flow.closed = true;
    flow.counters.left_pending.fetch_add(static_cast<int64_t>(flow.in_flight.size()),
                                         std::memory_order_relaxed);
    flow.in_flight.clear();
  });
}

}  // namespace fnhost::redis
