// SPDX-License-Identifier: Apache-2.0
// A redis-server, a quiet host, a client, and a recorder of what handlers saw.
#pragma once

#include <catch2/catch.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "fnhost/host.hpp"
#include "fnhost/redis/stream_trigger.hpp"
#include "redis_fixture.hpp"
#include "testing/host_helpers.hpp"
#include "testing/wait.hpp"

namespace fnhost::redis::testing {

// What handlers ran on: every event, in run order, counted per entry id. Thread-safe.
class Recorder {
 public:
  void record(const Event& event) {
    std::lock_guard lock(mu_);
    events_.push_back(event);
    ++runs_[event.id];
  }
  [[nodiscard]] size_t runs() const {
    std::lock_guard lock(mu_);
    return events_.size();
  }
  [[nodiscard]] std::map<std::string, int> runs_by_id() const {
    std::lock_guard lock(mu_);
    return runs_;
  }
  [[nodiscard]] std::vector<Event> events() const {
    std::lock_guard lock(mu_);
    return events_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<Event> events_;
  std::map<std::string, int> runs_;
};

struct TriggerFixture {
  TriggerFixture() : host(fnhost::testing::make_host()), client(redis.client()) {}

  // Options for stream "s", group "g", consumer `consumer`, function `function`, with short
  // waits so stop() and reclaiming are quick.
  [[nodiscard]] StreamTriggerOptions options(std::string function = "f",
                                             std::string consumer = "c1") const {
    return StreamTriggerOptions{.server = redis.server(),
                                .stream = "s",
                                .group = "g",
                                .consumer = std::move(consumer),
                                .function = std::move(function),
                                .read_block = absl::Milliseconds(50),
                                .claim_interval = absl::Milliseconds(50),
                                .reconnect_backoff_initial = absl::Milliseconds(10),
                                .reconnect_backoff_max = absl::Milliseconds(200)};
  }

  std::unique_ptr<StreamTrigger> start(StreamTriggerOptions trigger_options) {
    absl::StatusOr<std::unique_ptr<StreamTrigger>> started =
        StreamTrigger::start(host, std::move(trigger_options));
    INFO(started.status().ToString());
    REQUIRE(started.ok());
    return *std::move(started);
  }

  // A function `name` that records each event and succeeds.
  void register_recording(const std::string& name = "f") {
    REQUIRE(host.register_function({.name = name,
                                    .handler = [this](const Event& event, Context&) -> Result {
                                      recorder.record(event);
                                      return std::string("ok");
                                    }})
                .ok());
  }

  // XADDs `count` entries with data "0".."count-1"; returns their ids in order.
  std::vector<std::string> add_entries(int count, const std::string& stream = "s") {
    std::vector<std::string> ids;
    for (int i = 0; i < count; ++i)
      ids.push_back(client.add(stream, {{"data", std::to_string(i)}}));
    return ids;
  }

  // Declared first, destroyed last: the host's destructor may still run handlers that record.
  Recorder recorder;
  RedisServer redis;
  Host host;
  RedisClient client;
};

// A line with every counter, for INFO().
inline std::string describe(const StreamTriggerStats& stats) {
  return "trigger{read=" + std::to_string(stats.read) + " acked=" + std::to_string(stats.acked) +
         " succeeded=" + std::to_string(stats.succeeded) +
         " dead_lettered=" + std::to_string(stats.dead_lettered) +
         " invalid=" + std::to_string(stats.invalid) +
         " reclaimed=" + std::to_string(stats.reclaimed) +
         " redelivered=" + std::to_string(stats.redelivered) +
         " refused=" + std::to_string(stats.refused) +
         " left_pending=" + std::to_string(stats.left_pending) +
         " errors=" + std::to_string(stats.errors) +
         " reconnects=" + std::to_string(stats.reconnects) +
         " in_flight=" + std::to_string(stats.in_flight) +
         " peak_in_flight=" + std::to_string(stats.peak_in_flight) + "}";
}

}  // namespace fnhost::redis::testing
