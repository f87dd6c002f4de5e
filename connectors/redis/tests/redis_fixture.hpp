// SPDX-License-Identifier: Apache-2.0
// A real redis-server for the tests: started on a free loopback port in a temporary directory,
// without persistence, waited for until PING answers, and killed at the end. Plus a client for
// the tests' own commands, and child processes (the kill test's workers).
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "connection.hpp"
#include "entries.hpp"
#include "fnhost/redis/stream_trigger.hpp"
#include "testing/wait.hpp"

extern char** environ;

namespace fnhost::redis::testing {

// A port the kernel just handed out on 127.0.0.1 (free unless someone takes it meanwhile;
// RedisServer retries with another one if it cannot bind).
inline int free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
  socklen_t length = sizeof(address);
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
  ::close(fd);
  return ntohs(address.sin_port);
}

// A child process; killed (SIGKILL) and reaped by the destructor if still running.
class ChildProcess {
 public:
  ChildProcess() = default;
  explicit ChildProcess(const std::vector<std::string>& argv, const std::string& log_path = "") {
    std::vector<char*> words;
    for (const std::string& word : argv) words.push_back(const_cast<char*>(word.c_str()));
    words.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (!log_path.empty()) {
      posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_path.c_str(),
                                       O_WRONLY | O_CREAT | O_APPEND, 0644);
      posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    }
    const int spawned = posix_spawn(&pid_, words[0], &actions, nullptr, words.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    INFO("posix_spawn " << argv[0]);
    REQUIRE(spawned == 0);
  }
  ChildProcess(ChildProcess&& other) noexcept : pid_(std::exchange(other.pid_, -1)) {}
  ChildProcess& operator=(ChildProcess&& other) noexcept {
    if (this != &other) {
      kill_now();
      pid_ = std::exchange(other.pid_, -1);
    }
    return *this;
  }
  ~ChildProcess() { kill_now(); }

  [[nodiscard]] pid_t pid() const { return pid_; }
  // Whether it has exited (reaping it if so).
  bool has_exited() {
    if (pid_ < 0) return true;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      exit_status_ = status;
      pid_ = -1;
      return true;
    }
    return false;
  }
  // Sends `signal` and waits (bounded) for it to exit; returns its wait status, or -1.
  int signal_and_wait(int signal,
                      std::chrono::milliseconds timeout = fnhost::testing::kGenerousTimeout) {
    if (pid_ < 0) return exit_status_;
    ::kill(pid_, signal);
    if (!fnhost::testing::wait_until([this] { return has_exited(); }, timeout)) return -1;
    return exit_status_;
  }
  void kill_now() {
    if (pid_ < 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
  int exit_status_ = -1;
};

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
    std::string pattern = (std::filesystem::temp_directory_path() / "fnhost-redis-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    directory_ = pattern;
    for (int attempt = 0; attempt < 5 && !ready_; ++attempt) start_once();
    REQUIRE(ready_);
  }
  ~RedisServer() {
    process_.signal_and_wait(SIGTERM, std::chrono::seconds(10));
    process_.kill_now();
    std::error_code ignored;
    std::filesystem::remove_all(directory_, ignored);
  }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  [[nodiscard]] int port() const { return port_; }
  [[nodiscard]] ServerOptions server() const { return ServerOptions{.port = port_}; }
  [[nodiscard]] const std::filesystem::path& directory() const { return directory_; }
  [[nodiscard]] RedisClient client() const { return RedisClient(port_); }

 private:
  void start_once() {
    port_ = free_loopback_port();
    process_ = ChildProcess(
        {redis_server_path(), "--port", std::to_string(port_), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", directory_.string(), "--loglevel", "warning"},
        (directory_ / "redis.log").string());
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

  std::filesystem::path directory_;
  int port_ = 0;
  bool ready_ = false;
  ChildProcess process_;
};

}  // namespace fnhost::redis::testing
