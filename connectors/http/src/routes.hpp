// SPDX-License-Identifier: Apache-2.0
// Internal (connectors/http/src/routes.hpp).
// The gateway's endpoints on a ConnectionServer: checks before the body is read, the invoke,
// event, metrics and probe handlers, the dashboard's (dashboard_routes.hpp), and the JSON error
// bodies.
#pragma once

#include <string>

#include "admission.hpp"
#include "connection_server.hpp"
#include "executor_history.hpp"
#include "fnhost/host.hpp"
#include "fnhost/http/gateway.hpp"

namespace fnhost::http::detail {

// What the handlers share; outlives the server's threads.
struct RouteContext {
  Host& host;
  GatewayOptions options;
  Admission admission;
  std::string retry_after_seconds;
  // Filled only while GatewayOptions::dashboard is on.
  ExecutorHistory executor_history;
};

void install_routes(ConnectionServer& server, RouteContext& context);

}  // namespace fnhost::http::detail
