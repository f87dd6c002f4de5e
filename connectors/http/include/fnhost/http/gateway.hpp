// SPDX-License-Identifier: Apache-2.0
// File: fnhost/http/gateway.hpp
// `fnhost::http::Gateway`: an HTTP/1.1 front door for a Host (target fnhost::http, built on
// Debian's cpp-httplib and nlohmann-json). It serves
//   POST /functions/{name}/invocations   invoke (200 + result) or, with the header
//                                        `X-Fnhost-Invocation-Type: Event`, invoke_async (202)
//   POST /events[/{topic...}]            a CloudEvent (binary or structured mode) -> publish (202)
//   GET  /metrics                        the Prometheus exposition of host.metrics()
//   GET  /healthz, /readyz               liveness; readiness (503 while draining or shut down)
//   GET  /                               a live dashboard page (self-contained HTML)
//   GET  /api/dashboard                  the JSON the dashboard polls (README: "Dashboard")
// A refusal is answered with the HTTP status of the README's table and a small JSON body
// {"error": "...", "code": "NOT_FOUND"}. Bad requests (too large, bad headers, a bad token, a
// malformed CloudEvent) get a 4xx and never reach a handler.
//
//   fnhost::Host host = fnhost::Host::create().value();
//   auto gateway = fnhost::http::Gateway::start(host, {.port = 0}).value();
//   std::printf("listening on 127.0.0.1:%d\n", gateway->port());
//   ...
//   gateway->stop();                    // no new traffic, requests in flight finish
//   host.shutdown(absl::Seconds(5));    // then the host drains
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "fnhost/host.hpp"

namespace fnhost::http {

// Configuration of a Gateway. Validated by Gateway::start(). Field order is API: append only.
struct GatewayOptions {
  // Address to listen on. The default serves this machine only; "0.0.0.0" serves every
  // interface (then set `bearer_token`).
  std::string bind_address = "127.0.0.1";
  // TCP port, 0..65535; 0 picks a free port (read it with Gateway::port()).
  int port = 8080;
  // Largest body of a synchronous invocation, in bytes (Lambda's 6 MB). 1..1 GiB.
  size_t max_sync_body_bytes = 6 * 1024 * 1024;
  // Largest body of an asynchronous invocation or a CloudEvent, in bytes (Lambda's limit for
  // asynchronous events, 1 MiB). 1..1 GiB.
  size_t max_async_body_bytes = 1024 * 1024;
  // Largest sum of a request's header lines (name, value, ": " and CRLF), in bytes; over it the
  // request gets 431. 1 KiB..1 MiB. (cpp-httplib also refuses a single line over 8 KiB.)
  size_t max_header_bytes = 8192;
  // Bounds reading one request (from its first byte), waiting for a synchronous result (504
  // after it) and each wait to write a response. > 0, <= 1 h.
  absl::Duration request_timeout = absl::Seconds(30);
  // Connections served at once (an idle keep-alive connection counts); one more is answered
  // 503 and closed. 1..4096. The gateway runs up to max_connections + 1 threads.
  int max_connections = 64;
  // When set, every request except /healthz, /readyz and the dashboard page `/` must carry
  // `Authorization: Bearer <token>` (else 401). The page is static and holds no data: it sends
  // the token (taken from `/#token=...` or asked for) to /api/dashboard, which requires it.
  // 1..4096 visible ASCII characters; empty: no authentication.
  std::string bearer_token;
  // How long an idle keep-alive connection stays open. > 0, <= 1 h.
  absl::Duration keep_alive_timeout = absl::Seconds(5);
  // Sent as `Retry-After` (whole seconds, rounded up) with 429 and 503. 1 s..1 h.
  absl::Duration retry_after = absl::Seconds(1);
  // Serves the dashboard at `/` and its data at `GET /api/dashboard`, and samples the
  // executor's thread count for its chart on a thread ("fnhost-http-d") that wakes once per
  // `dashboard_refresh`. false: both paths answer 404 and no such thread runs.
  bool dashboard = true;
  // How often the dashboard page polls /api/dashboard and the gateway samples the executor
  // (the chart shows the last 120 samples). 100 ms..1 min.
  absl::Duration dashboard_refresh = absl::Seconds(1);
};

// Checks `options` without starting anything: InvalidArgument naming the field.
[[nodiscard]] absl::Status validate_gateway_options(const GatewayOptions& options);

// A running HTTP gateway in front of one Host. Thread-safe: port(), is_draining() and stop()
// may be called from any thread (stop() not from a request it serves: there is none to call
// it from). The host must outlive the gateway.
class Gateway {
 public:
  // Binds `options.bind_address`:`options.port` and starts serving `host` on a listener thread
  // ("fnhost-http-l") and connection threads ("fnhost-http"), created as connections arrive.
  // InvalidArgument for a bad option (the message names it), Unavailable if the address cannot
  // be bound (the message says why). `host` is kept by reference.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Gateway>> start(Host& host,
                                                                      GatewayOptions options);

  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;
  // Stops (see stop()).
  ~Gateway();

  // The bound TCP port (the one picked when options.port was 0).
  [[nodiscard]] int port() const;
  // Whether stop() has begun: /readyz answers 503 and new requests 503 from then on.
  [[nodiscard]] bool is_draining() const;

  // Stops taking traffic, then waits: first /readyz and every new invocation or event are
  // answered 503 (with Retry-After) while the requests already admitted finish (each bounded
  // by request_timeout: a 202 is only sent once the host accepted the event, so nothing
  // answered is lost); then the listener closes, idle connections are closed and the threads
  // joined. The host is not shut down: call host.shutdown() afterwards. Idempotent; blocks.
  void stop();

 private:
  struct Impl;
  explicit Gateway(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fnhost::http
