// SPDX-License-Identifier: Apache-2.0
// A real mosquitto broker for the tests: started on a free loopback port in a temporary
// directory (anonymous access, persistence in that directory so sessions survive a restart),
// waited for until it accepts, and killed at the end. Plus the command-line clients
// (mosquitto_pub, mosquitto_sub), a subscriber of the tests' own, and a TCP proxy that can cut
// the connector's connection and counts the PUBACKs it forwards to the broker.
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "codec.hpp"
#include "fnhost/host.hpp"
#include "fnhost/mqtt/connector.hpp"
#include "mqtt_session.hpp"
#include "testing/child_process.hpp"
#include "testing/host_helpers.hpp"
#include "testing/loopback.hpp"
#include "testing/temporary_directory.hpp"
#include "testing/wait.hpp"

namespace fnhost::mqtt::testing {

using fnhost::testing::ChildProcess;
using fnhost::testing::free_loopback_port;
using fnhost::testing::read_file;
using fnhost::testing::wait_until;

// mosquitto on 127.0.0.1:<free port>, its config, log and persistence in a temporary directory.
class MosquittoBroker {
 public:
  MosquittoBroker() {
    for (int attempt = 0; attempt < 5 && !running_; ++attempt) start_on(free_loopback_port());
    INFO(log());
    REQUIRE(running_);
  }
  ~MosquittoBroker() { process_.signal_and_wait(SIGTERM); }
  MosquittoBroker(const MosquittoBroker&) = delete;
  MosquittoBroker& operator=(const MosquittoBroker&) = delete;

  [[nodiscard]] int port() const { return port_; }
  [[nodiscard]] const std::filesystem::path& directory() const { return directory_.path(); }
  [[nodiscard]] std::string log() const { return read_file(directory() / "mosquitto.log"); }

  // Broker options for a client `client_id` (short timeouts: the broker is local).
  [[nodiscard]] BrokerOptions broker(std::string client_id = "") const {
    return BrokerOptions{.port = port_,
                         .client_id = std::move(client_id),
                         .keep_alive = absl::Seconds(5),
                         .connect_timeout = absl::Seconds(20)};
  }

  // Stops the broker (SIGTERM: it saves its sessions) and starts it again on the same port.
  void restart() {
    stop();
    start_on(port_);
    INFO(log());
    REQUIRE(running_);
  }
  void stop() {
    process_.signal_and_wait(SIGTERM);
    running_ = false;
  }
  void start() {
    start_on(port_);
    REQUIRE(running_);
  }

  // Runs mosquitto_pub with `arguments` (after host and port); requires exit code 0.
  void pub(const std::vector<std::string>& arguments) const {
    std::vector<std::string> argv = {"/usr/bin/mosquitto_pub", "-h", "127.0.0.1", "-p",
                                     std::to_string(port_)};
    argv.insert(argv.end(), arguments.begin(), arguments.end());
    const std::string out = (directory() / "pub.out").string();
    ChildProcess child(argv, out);
    const int code = child.wait_exit();
    INFO(read_file(out));
    REQUIRE(code == 0);
  }
  // Publishes each of `lines` as one message to `topic` at `qos` (mosquitto_pub -l).
  void pub_lines(const std::string& topic, const std::vector<std::string>& lines, int qos) const {
    const std::filesystem::path input = directory() / "lines.txt";
    {
      std::ofstream out(input, std::ios::trunc);
      for (const std::string& line : lines) out << line << '\n';
    }
    const std::string out = (directory() / "pub.out").string();
    ChildProcess child({"/usr/bin/mosquitto_pub", "-h", "127.0.0.1", "-p", std::to_string(port_),
                        "-q", std::to_string(qos), "-t", topic, "-l"},
                       out, input.string());
    const int code = child.wait_exit();
    INFO(read_file(out));
    REQUIRE(code == 0);
  }

 private:
  void start_on(int port) {
    port_ = port;
    const std::filesystem::path config = directory() / "mosquitto.conf";
    {
      std::ofstream out(config, std::ios::trunc);
      out << "listener " << port << " 127.0.0.1\n"
          << "allow_anonymous true\n"
          << "persistence true\n"
          << "persistence_location " << directory().string() << "/\n"
          << "log_dest file " << (directory() / "mosquitto.log").string() << "\n"
          << "log_type all\n";
      // Run as whoever runs the tests: started as root, mosquitto would otherwise switch to the
      // "mosquitto" user, which cannot write into this directory.
      if (const passwd* user = ::getpwuid(::geteuid()); user != nullptr) {
        out << "user " << user->pw_name << "\n";
      }
    }
    process_ = ChildProcess({FNHOST_MOSQUITTO_PATH, "-c", config.string()},
                            (directory() / "broker.out").string());
    running_ = wait_until([&] {
                 return process_.has_exited() ? true : fnhost::testing::loopback_accepts(port);
               }) &&
               !process_.has_exited();
  }

  // First, so that it goes last: the broker is stopped before its directory is removed.
  fnhost::testing::TemporaryDirectory directory_{"fnhost-mqtt-"};
  int port_ = 0;
  ChildProcess process_;
  bool running_ = false;
};

// A plain MQTT client for the tests: a clean session subscribed to some filters, read on the
// test's thread.
class TestSubscriber {
 public:
  TestSubscriber(const MosquittoBroker& broker, const std::vector<std::string>& filters,
                 int qos = 1) {
    absl::StatusOr<detail::MqttSession> session =
        detail::MqttSession::connect(broker.broker(""), /*clean_session=*/true, -1);
    INFO(session.status().ToString());
    REQUIRE(session.ok());
    session_.emplace(*std::move(session));
    std::vector<detail::SubscribeRequest> requests;
    for (const std::string& filter : filters) {
      requests.push_back({.filter = filter, .qos = static_cast<uint8_t>(qos)});
    }
    absl::Status subscribed = session_->subscribe(1, requests, absl::Now() + absl::Seconds(60), -1);
    INFO(subscribed.ToString());
    REQUIRE(subscribed.ok());
  }

  // The next PUBLISH (acknowledged if QoS 1), or nullopt after `timeout`.
  std::optional<detail::Publish> next(absl::Duration timeout = absl::Seconds(60)) {
    const absl::Time deadline = absl::Now() + timeout;
    for (;;) {
      absl::StatusOr<std::optional<detail::Incoming>> incoming = session_->next();
      REQUIRE(incoming.ok());
      if (incoming->has_value()) {
        if (auto* publish = std::get_if<detail::Publish>(&(*incoming)->packet)) {
          if (publish->qos == 1) {
            REQUIRE(session_
                        ->send(detail::encode_puback(publish->packet_id),
                               absl::Now() + absl::Seconds(10), -1)
                        .ok());
          }
          return *publish;
        }
        continue;
      }
      absl::StatusOr<short> ready = detail::wait_ready(session_->fd(), POLLIN, deadline, -1);
      REQUIRE(ready.ok());
      if (*ready == 0) return std::nullopt;
      REQUIRE(session_->receive_available().ok());
    }
  }

 private:
  std::optional<detail::MqttSession> session_;
};

// A TCP proxy on 127.0.0.1 in front of the broker: what the connector connects to when a test
// must cut its connection (cut()), keep it from reconnecting (set_accepting(false): new
// connections are closed at once), or see its PUBACKs reach the broker (pubacks()).
class TcpProxy {
 public:
  explicit TcpProxy(int broker_port) : broker_port_(broker_port) {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(listener_ >= 0);
    const int one = 1;
    ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
    socklen_t length = sizeof(address);
    REQUIRE(::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    port_ = ntohs(address.sin_port);
    REQUIRE(::listen(listener_, 16) == 0);
    REQUIRE(::pipe2(stop_pipe_, O_CLOEXEC) == 0);
    thread_ = std::thread([this] { run(); });
  }
  ~TcpProxy() {
    const char byte = 0;
    [[maybe_unused]] const ssize_t written = ::write(stop_pipe_[1], &byte, 1);
    thread_.join();
    ::close(listener_);
    ::close(stop_pipe_[0]);
    ::close(stop_pipe_[1]);
  }
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  [[nodiscard]] int port() const { return port_; }
  // PUBACK packets forwarded from clients to the broker so far.
  [[nodiscard]] int pubacks() const { return pubacks_.load(); }
  // Connections accepted (and kept) so far.
  [[nodiscard]] int connections() const { return connections_.load(); }
  // Closes every proxied connection (both sides) at the proxy's next turn.
  void cut() {
    cut_requested_.fetch_add(1);
    wake();
  }
  void set_accepting(bool accepting) {
    accepting_.store(accepting);
    wake();
  }

 private:
  struct Pair {
    int client = -1;
    int broker = -1;
    detail::PacketSplitter client_stream{detail::kMaxRemainingLength};
  };

  void wake() {
    const char byte = 1;
    [[maybe_unused]] const ssize_t written = ::write(stop_pipe_[1], &byte, 1);
  }

  static void close_pair(Pair& pair) {
    ::close(pair.client);
    ::close(pair.broker);
    pair.client = pair.broker = -1;
  }

  // Copies what `from` has to `to`; false when either side is done.
  bool forward(int from, int to, Pair* count_pubacks_of) {
    char buffer[65536];
    const ssize_t got = ::recv(from, buffer, sizeof(buffer), 0);
    if (got <= 0) return false;
    if (count_pubacks_of != nullptr) {
      count_pubacks_of->client_stream.append(std::string_view(buffer, static_cast<size_t>(got)));
      for (;;) {
        absl::StatusOr<std::optional<detail::PacketSplitter::Cut>> cut =
            count_pubacks_of->client_stream.next();
        if (!cut.ok() || !cut->has_value()) break;
        if (((*cut)->frame.first_byte >> 4) == 4) pubacks_.fetch_add(1);
      }
    }
    for (ssize_t sent = 0; sent < got;) {
      const ssize_t now = ::send(to, buffer + sent, static_cast<size_t>(got - sent), MSG_NOSIGNAL);
      if (now <= 0) return false;
      sent += now;
    }
    return true;
  }

  void run() {
    std::vector<std::unique_ptr<Pair>> pairs;
    int cuts_done = 0;
    for (;;) {
      std::vector<pollfd> fds = {{.fd = stop_pipe_[0], .events = POLLIN, .revents = 0},
                                 {.fd = listener_, .events = POLLIN, .revents = 0}};
      for (const auto& pair : pairs) {
        fds.push_back({.fd = pair->client, .events = POLLIN, .revents = 0});
        fds.push_back({.fd = pair->broker, .events = POLLIN, .revents = 0});
      }
      if (::poll(fds.data(), fds.size(), -1) < 0) continue;
      if ((fds[0].revents & POLLIN) != 0) {
        char byte = 0;
        if (::read(stop_pipe_[0], &byte, 1) == 1 && byte == 0) break;
      }
      const int cuts = cut_requested_.load();
      if (cuts != cuts_done) {
        cuts_done = cuts;
        for (auto& pair : pairs) close_pair(*pair);
        pairs.clear();
        continue;
      }
      for (size_t index = 0; index < pairs.size(); ++index) {
        Pair& pair = *pairs[index];
        const short client_events = fds[2 + 2 * index].revents;
        const short broker_events = fds[3 + 2 * index].revents;
        bool alive = true;
        if (client_events != 0) alive = forward(pair.client, pair.broker, &pair);
        if (alive && broker_events != 0) alive = forward(pair.broker, pair.client, nullptr);
        if (!alive) close_pair(pair);
      }
      std::erase_if(pairs, [](const auto& pair) { return pair->client < 0; });
      if ((fds[1].revents & POLLIN) != 0) accept_one(pairs);
    }
    for (auto& pair : pairs) close_pair(*pair);
  }

  void accept_one(std::vector<std::unique_ptr<Pair>>& pairs) {
    const int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) return;
    if (!accepting_.load()) {
      ::close(client);
      return;
    }
    const int broker = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(static_cast<uint16_t>(broker_port_));
    if (broker < 0 ||
        ::connect(broker, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
      ::close(client);
      if (broker >= 0) ::close(broker);
      return;
    }
    auto pair = std::make_unique<Pair>();
    pair->client = client;
    pair->broker = broker;
    pairs.push_back(std::move(pair));
    connections_.fetch_add(1);
  }

  int broker_port_;
  int listener_ = -1;
  int port_ = 0;
  int stop_pipe_[2] = {-1, -1};
  std::atomic<int> pubacks_{0};
  std::atomic<int> connections_{0};
  std::atomic<int> cut_requested_{0};
  std::atomic<bool> accepting_{true};
  std::thread thread_;
};

// Events a function received, for checks from the test's thread.
class EventLog {
 public:
  void add(const Event& event) {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(event);
  }
  [[nodiscard]] std::vector<Event> events() const {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  [[nodiscard]] size_t size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return events_.size();
  }
  [[nodiscard]] std::vector<std::string> payloads() const {
    std::vector<std::string> out;
    for (const Event& event : events()) out.push_back(event.data);
    return out;
  }
  // A handler that records its event and succeeds.
  Handler recorder() {
    return [this](const Event& event, Context&) -> Result {
      add(event);
      return std::string();
    };
  }

 private:
  mutable std::mutex mu_;
  std::vector<Event> events_;
};

// Starts a connector, failing the test if that fails.
inline std::unique_ptr<Connector> start_connector(Host& host, ConnectorOptions options) {
  absl::StatusOr<std::unique_ptr<Connector>> started = Connector::start(host, std::move(options));
  INFO(started.status().ToString());
  REQUIRE(started.ok());
  return *std::move(started);
}

inline std::string describe(const ConnectorStats& stats) {
  return "connector{received=" + std::to_string(stats.received) +
         " accepted=" + std::to_string(stats.accepted) + " acked=" + std::to_string(stats.acked) +
         " refused=" + std::to_string(stats.refused) + " dropped=" + std::to_string(stats.dropped) +
         " redelivered=" + std::to_string(stats.redelivered) +
         " throttled=" + std::to_string(stats.throttled) +
         " reconnects=" + std::to_string(stats.reconnects) +
         " errors=" + std::to_string(stats.errors) +
         " in_flight=" + std::to_string(stats.in_flight) +
         " connected=" + std::to_string(stats.connected) + " last_error=" + stats.last_error + "}";
}

}  // namespace fnhost::mqtt::testing
