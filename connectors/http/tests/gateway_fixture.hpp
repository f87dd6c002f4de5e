// SPDX-License-Identifier: Apache-2.0
// A host with a gateway on 127.0.0.1 and an ephemeral port, and httplib clients for it.
#pragma once

#include <httplib.h>

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <utility>

#include "fnhost/host.hpp"
#include "fnhost/http/gateway.hpp"
#include "testing/host_helpers.hpp"

namespace fnhost::http::testing {

struct GatewayFixture {
  explicit GatewayFixture(GatewayOptions options = {},
                          HostOptions host_options = fnhost::testing::quiet_options())
      : host(fnhost::testing::make_host(std::move(host_options))) {
    options.port = 0;
    absl::StatusOr<std::unique_ptr<Gateway>> started = Gateway::start(host, std::move(options));
    INFO(started.status().ToString());
    REQUIRE(started.ok());
    gateway = *std::move(started);
  }

  // A client with generous timeouts (sanitizer builds are slow).
  [[nodiscard]] std::unique_ptr<httplib::Client> client() const {
    auto made = std::make_unique<httplib::Client>("127.0.0.1", gateway->port());
    made->set_connection_timeout(60);
    made->set_read_timeout(60);
    made->set_write_timeout(60);
    made->set_tcp_nodelay(true);  // as curl does: no delayed-ACK stall between header and body
    return made;
  }

  Host host;
  std::unique_ptr<Gateway> gateway;
};

inline std::string describe(const httplib::Result& result) {
  if (!result) return "no response: " + httplib::to_string(result.error());
  return std::to_string(result->status) + " " + result->body;
}

}  // namespace fnhost::http::testing
