// SPDX-License-Identifier: Apache-2.0
// Gateway: start (validate, bind, listen on a thread) and stop (drain, close, join).
#include "fnhost/http/gateway.hpp"

#include <pthread.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <utility>

#include "connection_server.hpp"
#include "fmt/format.h"
#include "routes.hpp"

namespace fnhost::http {

struct Gateway::Impl {
  Impl(Host& host, GatewayOptions options)
      : context{.host = host,
                .options = options,
                .retry_after_seconds = std::to_string(
                    static_cast<int64_t>(std::ceil(absl::ToDoubleSeconds(options.retry_after))))},
        server({.max_connections = options.max_connections,
                .request_timeout = options.request_timeout,
                .keep_alive_timeout = options.keep_alive_timeout,
                .retry_after_seconds = context.retry_after_seconds}) {}

  detail::RouteContext context;
  detail::ConnectionServer server;
  std::thread listener;
  int port = 0;
  std::once_flag stopped;
};

Gateway::Gateway(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Gateway::~Gateway() { stop(); }

absl::StatusOr<std::unique_ptr<Gateway>> Gateway::start(Host& host, GatewayOptions options) {
  if (absl::Status valid = validate_gateway_options(options); !valid.ok()) return valid;
  auto impl = std::make_unique<Impl>(host, std::move(options));
  const GatewayOptions& config = impl->context.options;
  // cpp-httplib's own cap, for bodies sent without Content-Length; check_request() applies the
  // limit of each kind of request before reading.
  impl->server.set_payload_max_length(
      std::max(config.max_sync_body_bytes, config.max_async_body_bytes));
  // Small responses go out at once instead of waiting for the client's delayed ACK.
  impl->server.set_tcp_nodelay(true);
  detail::install_routes(impl->server, impl->context);
  if (config.dashboard) {
    // Before the listener: the first page served already has a sample to draw.
    if (absl::Status sampling =
            impl->context.executor_history.start(host, config.dashboard_refresh);
        !sampling.ok()) {
      return sampling;
    }
  }

  errno = 0;
  impl->port =
      config.port == 0
          ? impl->server.bind_to_any_port(config.bind_address)
          : (impl->server.bind_to_port(config.bind_address, config.port) ? config.port : -1);
  if (impl->port <= 0) {
    return absl::UnavailableError(fmt::format("HTTP gateway: cannot listen on {}:{}: {}",
                                              config.bind_address.substr(0, 64), config.port,
                                              errno != 0 ? std::strerror(errno) : "bind failed"));
  }
  detail::ConnectionServer& server = impl->server;
  try {
    impl->listener = std::thread([&server] {
      pthread_setname_np(pthread_self(), "fnhost-http-l");
      server.listen_after_bind();
    });
  } catch (const std::system_error& error) {
    server.stop_serving();
    return absl::ResourceExhaustedError(
        fmt::format("HTTP gateway: cannot start its listener thread: {}", error.what()));
  }
  return std::unique_ptr<Gateway>(new Gateway(std::move(impl)));
}

int Gateway::port() const { return impl_->port; }

bool Gateway::is_draining() const { return impl_->context.admission.is_draining(); }

void Gateway::stop() {
  std::call_once(impl_->stopped, [this] {
    // 1. No new invocations or events (503, /readyz 503); wait for the admitted ones.
    impl_->context.admission.drain();
    // 2. Close the listener and idle connections; join every connection thread.
    impl_->server.stop_serving();
    if (impl_->listener.joinable()) impl_->listener.join();
    // 3. No page can ask for the chart any more.
    impl_->context.executor_history.stop();
  });
}

}  // namespace fnhost::http
