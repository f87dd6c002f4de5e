// SPDX-License-Identifier: Apache-2.0
// fnhost_redis_bench: events per second through Redis Streams with 1, 2 and 4 consumer
// processes sharing one consumer group. It starts its own redis-server (no persistence) on a
// free loopback port, fills a stream with N small entries, then starts K worker processes (this
// binary re-run with --worker), each a Host with a no-op function behind a StreamTrigger
// (max_in_flight 256), and times from their start until every entry was read and acknowledged
// (the group's entries-read is N and nothing is pending). Process start-up is included.
// What it measures is the connector's cost and Redis's round trips, not handler work.
//
//   fnhost_redis_bench [events=200000]
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "connection.hpp"
#include "fnhost/host.hpp"
#include "fnhost/redis/stream_trigger.hpp"

extern char** environ;

namespace {

using fnhost::redis::detail::Command;
using fnhost::redis::detail::Connection;
using Clock = std::chrono::steady_clock;

// Starts `argv`; with `quiet` its output goes to /dev/null (redis-server's start-up banner).
pid_t spawn(const std::vector<std::string>& argv, bool quiet = false) {
  std::vector<char*> words;
  for (const std::string& word : argv) words.push_back(const_cast<char*>(word.c_str()));
  words.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (quiet) {
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  }
  pid_t pid = -1;
  const int spawned = posix_spawn(&pid, words[0], &actions, nullptr, words.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  return spawned == 0 ? pid : -1;
}

void stop_process(pid_t pid) {
  ::kill(pid, SIGTERM);
  int status = 0;
  ::waitpid(pid, &status, 0);
}

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  socklen_t length = sizeof(address);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

// Runs one consumer until SIGTERM.
int run_worker(int port, const std::string& consumer) {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  absl::StatusOr<fnhost::Host> host = fnhost::Host::create({.log_sink = nullptr});
  if (!host.ok()) return 1;
  if (!host->register_function({.name = "noop",
                                .handler = [](const fnhost::Event&, fnhost::Context&)
                                    -> fnhost::Result { return std::string(); }})
           .ok()) {
    return 1;
  }
  auto trigger = fnhost::redis::StreamTrigger::start(*host, {.server = {.port = port},
                                                             .stream = "bench",
                                                             .group = "g",
                                                             .consumer = consumer,
                                                             .function = "noop",
                                                             .max_in_flight = 256,
                                                             .read_block = absl::Milliseconds(20)});
  if (!trigger.ok()) {
    std::fprintf(stderr, "%s\n", trigger.status().ToString().c_str());
    return 1;
  }
  int signal = 0;
  sigwait(&stop_signals, &signal);
  (*trigger)->stop();
  return 0;
}

long long field_of_group(Connection& connection, const std::string& field) {
  auto reply = connection.run({"XINFO", "GROUPS", "bench"});
  if (!reply.ok()) return -1;
  const redisReply* group = fnhost::redis::detail::element(reply->get(), 0);
  for (size_t i = 0; i + 1 < fnhost::redis::detail::size_of(group); i += 2) {
    if (fnhost::redis::detail::text_of(fnhost::redis::detail::element(group, i)) == field) {
      return fnhost::redis::detail::integer_of(fnhost::redis::detail::element(group, i + 1));
    }
  }
  return -1;
}

// One row: a fresh server, `events` entries, `workers` consumer processes. Events per second.
double measure(const std::string& self, long long events, int workers) {
  const std::filesystem::path directory =
      std::filesystem::temp_directory_path() / ("fnhost-redis-bench-" + std::to_string(getpid()));
  std::filesystem::create_directories(directory);
  const int port = free_port();
  const pid_t server = spawn(
      {"/usr/bin/redis-server", "--port", std::to_string(port), "--bind", "127.0.0.1", "--save", "",
       "--appendonly", "no", "--dir", directory.string(), "--loglevel", "warning"},
      /*quiet=*/true);
  Connection connection(fnhost::redis::ServerOptions{.port = port});
  const auto give_up = Clock::now() + std::chrono::seconds(30);
  while (!connection.ensure_connected().ok() || !connection.run({"PING"}).ok()) {
    if (Clock::now() > give_up) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  (void)connection.run({"XGROUP", "CREATE", "bench", "g", "0", "MKSTREAM"});
  std::vector<Command> batch;
  for (long long i = 0; i < events; ++i) {
    batch.push_back({"XADD", "bench", "*", "data", std::to_string(i)});
    if (batch.size() == 1000 || i + 1 == events) {
      if (!connection.run_all(batch).ok()) return -1;
      batch.clear();
    }
  }
  const auto start = Clock::now();
  std::vector<pid_t> children;
  for (int w = 0; w < workers; ++w) {
    children.push_back(
        spawn({self, "--worker", std::to_string(port), "worker-" + std::to_string(w)}));
  }
  // Polling the group every millisecond costs the server little next to the workers' traffic.
  while (field_of_group(connection, "entries-read") < events ||
         field_of_group(connection, "pending") != 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  for (pid_t child : children) stop_process(child);
  connection.close();
  stop_process(server);
  std::filesystem::remove_all(directory);
  return static_cast<double>(events) / seconds;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::string(argv[1]) == "--worker")
    return run_worker(std::atoi(argv[2]), argv[3]);
  const long long events = argc > 1 ? std::atoll(argv[1]) : 200'000;
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  std::printf(
      "Redis Streams -> fnhost::redis::StreamTrigger -> no-op function, %lld events, "
      "%u CPUs\n\n",
      events, std::thread::hardware_concurrency());
  std::printf("| consumer processes | events/s | vs 1 |\n|---:|---:|---:|\n");
  double single = 0;
  for (int workers : {1, 2, 4}) {
    const double rate = measure(self, events, workers);
    if (rate < 0) {
      std::fprintf(stderr, "could not run with %d consumers\n", workers);
      return 1;
    }
    if (workers == 1) single = rate;
    std::printf("| %d | %.0f | %.2fx |\n", workers, rate, rate / single);
    std::fflush(stdout);
  }
  return 0;
}
