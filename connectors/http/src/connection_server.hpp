// SPDX-License-Identifier: Apache-2.0
// Internal (connectors/http/src/connection_server.hpp).
// The socket side of the gateway: a cpp-httplib Server whose connections run on our own loop
// (cpp-httplib 0.11 parses and routes each request), so that the gateway
//  - serves at most `max_connections` connections at once and answers one more 503 at once;
//  - closes a connection after a response sent before its body was read (a rejected request),
//    draining what the client still sends first so the client reads the answer, not a reset;
//  - bounds reading a request by the request timeout, not per read;
//  - wakes idle keep-alive connections at stop instead of waiting out their timeout.
#pragma once

#include <httplib.h>

#include <atomic>
#include <string>

#include "absl/time/time.h"

namespace fnhost::http::detail {

// Called by route handlers on the connection's thread: the request reached a handler (so its
// body was read and the connection may be kept alive).
void mark_request_routed();
// Whether the current request reached a route handler.
bool is_request_routed();
// The connection is closed after the current response.
void close_connection_after_response();

class ConnectionServer : public httplib::Server {
 public:
  struct Limits {
    int max_connections = 64;
    absl::Duration request_timeout = absl::Seconds(30);
    absl::Duration keep_alive_timeout = absl::Seconds(5);
    std::string retry_after_seconds = "1";
  };
  explicit ConnectionServer(Limits limits);
  ~ConnectionServer() override;

  // Closes the listening socket (listen_after_bind() then returns once every connection has
  // closed), answers connections not yet served 503, and wakes idle keep-alive connections so
  // they close. Idempotent.
  void stop_serving();

 private:
  void parse_static_tables();
  bool process_and_close_socket(socket_t sock) override;
  bool try_acquire_connection();
  void serve(socket_t sock);
  void reject(socket_t sock, const char* reason) const;
  // Whether a request arrived on `sock` within the keep-alive timeout (false at stop).
  bool wait_for_request(socket_t sock) const;
  // Stops sending, reads and drops what the client still sends for a while, then closes.
  void lingering_close(socket_t sock) const;

  const Limits limits_;
  const int wake_fd_;  // readable once stop_serving() ran
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
};

}  // namespace fnhost::http::detail
