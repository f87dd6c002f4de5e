// SPDX-License-Identifier: Apache-2.0
// The worker process of the kill test: one Host consuming a stream through a consumer group.
// Its handler records each event it runs in Redis — RPUSH `deliveries` <entry id> (every run)
// and SADD `processed` <entry id> (the effect, applied once per id) — so the test can count
// what ran where even after this process is killed. On SIGTERM it stops, writes its trigger's
// counters to the hash `stats:<consumer>`, and exits 0.
//
//   fnhost_redis_test_worker <port> <stream> <group> <consumer> <max_in_flight> <claim_idle_ms>
//                            <work_us>
// `work_us` is how long each event's simulated work takes (so a kill lands mid-stream).
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

#include "connection.hpp"
#include "fnhost/host.hpp"
#include "fnhost/redis/stream_trigger.hpp"

namespace {

using fnhost::redis::detail::Connection;

fnhost::Result record(Connection& connection, const std::string& consumer,
                      const fnhost::Event& event) {
  if (absl::Status connected = connection.ensure_connected(); !connected.ok()) return connected;
  absl::StatusOr<std::vector<fnhost::redis::detail::Reply>> recorded = connection.run_all({
      {"RPUSH", "deliveries", event.id},
      {"RPUSH", "deliveries:" + consumer, event.id},
      {"SADD", "processed", event.id},
  });
  if (!recorded.ok()) return recorded.status();
  return std::string();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 8) {
    std::fprintf(stderr,
                 "usage: %s <port> <stream> <group> <consumer> <max_in_flight> <claim_idle_ms> "
                 "<work_us>\n",
                 argv[0]);
    return 2;
  }
  const fnhost::redis::ServerOptions server{.port = std::atoi(argv[1])};
  const std::string consumer = argv[4];
  const std::chrono::microseconds work(std::atoi(argv[7]));
  // SIGTERM is taken with sigwait: block it before any thread exists, so every thread inherits
  // the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  absl::StatusOr<fnhost::Host> created =
      fnhost::Host::create({.executor_options = {.max_threads = 4}, .log_sink = nullptr});
  if (!created.ok()) return 1;
  fnhost::Host& host = *created;
  absl::Status registered = host.register_function({
      .name = "work",
      .handler = [consumer, work](const fnhost::Event& event,
                                  fnhost::Context& ctx) -> fnhost::Result {
        std::this_thread::sleep_for(work);  // the event's simulated work
        return record(*ctx.instance_state<Connection>(), consumer, event);
      },
      .init = [server](const fnhost::InitContext&) -> absl::StatusOr<fnhost::InstanceState> {
        return std::make_shared<Connection>(server);
      },
      .timeout = absl::Seconds(30),
  });
  if (!registered.ok()) return 1;
  absl::StatusOr<std::unique_ptr<fnhost::redis::StreamTrigger>> trigger =
      fnhost::redis::StreamTrigger::start(host,
                                          {.server = server,
                                           .stream = argv[2],
                                           .group = argv[3],
                                           .consumer = consumer,
                                           .function = "work",
                                           .max_in_flight = std::atoi(argv[5]),
                                           .read_block = absl::Milliseconds(100),
                                           .claim_idle = absl::Milliseconds(std::atoi(argv[6])),
                                           .claim_interval = absl::Milliseconds(100)});
  if (!trigger.ok()) {
    std::fprintf(stderr, "%s\n", trigger.status().ToString().c_str());
    return 1;
  }
  std::printf("worker %s ready\n", consumer.c_str());
  std::fflush(stdout);
  int signal = 0;
  sigwait(&stop_signals, &signal);

  (*trigger)->stop();
  const fnhost::redis::StreamTriggerStats stats = (*trigger)->stats();
  host.shutdown(absl::Seconds(10));
  Connection connection(server);
  if (!connection.ensure_connected().ok()) return 1;
  absl::StatusOr<fnhost::redis::detail::Reply> written = connection.run(
      {"HSET", "stats:" + consumer, "read", std::to_string(stats.read), "acked",
       std::to_string(stats.acked), "reclaimed", std::to_string(stats.reclaimed), "redelivered",
       std::to_string(stats.redelivered), "left_pending", std::to_string(stats.left_pending),
       "peak_in_flight", std::to_string(stats.peak_in_flight)});
  return written.ok() ? 0 : 1;
}
