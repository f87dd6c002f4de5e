// SPDX-License-Identifier: Apache-2.0
// A real redis-server for the tests: started on a free loopback port in a temporary directory,
// without persistence, waited for until PING answers, and killed at the end. Plus a client for
// the tests' own commands, and child processes (the kill test's workers).
#pragma once

#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "connection.hpp"
#include "entries.hpp"
#include "fnhost/redis/stream_trigger.hpp"
#include "testing/child_process.hpp"
#include "testing/loopback.hpp"
#include "testing/temporary_directory.hpp"
#include "testing/wait.hpp"

namespace fnhost::redis::testing {

using fnhost::testing::ChildProcess;
using fnhost::testing::free_loopback_port;

inline std::string redis_server_path() {
  for (const char* candidate : {"/usr/bin/redis-server", "/usr/local/bin/redis-server"}) {
    if (::access(candidate, X_OK) == 0) return candidate;
  }
  return "redis-server";
}

// The test's own commands, on a connection made again whenever one fails.
class RedisClient {
 public:
  explicit RedisClient(int port) : connection_(ServerOptions{.port = port}) {}

  // Runs a command; fails the test on an error.
  detail::Reply run(const detail::Command& command) {
    absl::StatusOr<detail::Reply> reply = try_run(command);
    INFO(command.front() << ": " << reply.status().ToString());
    REQUIRE(reply.ok());
    return *std::move(reply);
  }
  absl::StatusOr<detail::Reply> try_run(const detail::Command& command) {
    if (absl::Status connected = connection_.ensure_connected(); !connected.ok()) return connected;
    return connection_.run(command);
  }
  long long integer(const detail::Command& command) {
    return detail::integer_of(run(command).get());
  }
  std::string text(const detail::Command& command) { return detail::text_of(run(command).get()); }

  // XADD `fields` to `stream`; returns the entry id.
  std::string add(const std::string& stream, const detail::Fields& fields) {
    detail::Command xadd = {"XADD", stream, "*"};
    for (const auto& [name, value] : fields) {
      xadd.push_back(name);
      xadd.push_back(value);
    }
    return text(xadd);
  }
  // Entries of `stream`, oldest first.
  std::vector<detail::StreamEntry> entries(const std::string& stream) {
    detail::Reply reply = run({"XRANGE", stream, "-", "+"});
    return detail::parse_entries(reply.get());
  }
  // Entries pending in `group` (read, not acknowledged), by any consumer.
  long long pending(const std::string& stream, const std::string& group) {
    detail::Reply reply = run({"XPENDING", stream, group});
    return detail::integer_of(detail::element(reply.get(), 0));
  }
  // Pending entries of one consumer.
  long long pending_of(const std::string& stream, const std::string& group,
                       const std::string& consumer) {
    detail::Reply reply = run({"XPENDING", stream, group, "-", "+", "100000", consumer});
    return static_cast<long long>(detail::size_of(reply.get()));
  }

 private:
  detail::Connection connection_;
};

// redis-server on 127.0.0.1:<free port>, in a temporary directory, no persistence.
class RedisServer {
 public:
  RedisServer() {
    for (int attempt = 0; attempt < 5 && !ready_; ++attempt) start_once();
    REQUIRE(ready_);
  }
  ~RedisServer() { process_.signal_and_wait(SIGTERM, std::chrono::seconds(10)); }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  [[nodiscard]] int port() const { return port_; }
  [[nodiscard]] ServerOptions server() const { return ServerOptions{.port = port_}; }
  [[nodiscard]] const std::filesystem::path& directory() const { return directory_.path(); }
  [[nodiscard]] RedisClient client() const { return RedisClient(port_); }

 private:
  void start_once() {
    port_ = free_loopback_port();
    process_ = ChildProcess(
        {redis_server_path(), "--port", std::to_string(port_), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", directory().string(), "--loglevel", "warning"},
        (directory() / "redis.log").string());
    RedisClient probe(port_);
    ready_ = fnhost::testing::wait_until(
        [&] {
          if (process_.has_exited()) return true;  // could not bind: try another port
          absl::StatusOr<detail::Reply> pong = probe.try_run({"PING"});
          return pong.ok() && detail::text_of(pong->get()) == "PONG";
        },
        std::chrono::seconds(30));
    ready_ = ready_ && !process_.has_exited();
  }

  // First, so that it goes last: the server is stopped before its directory is removed.
  fnhost::testing::TemporaryDirectory directory_{"fnhost-redis-"};
  int port_ = 0;
  bool ready_ = false;
  ChildProcess process_;
};

}  // namespace fnhost::redis::testing
