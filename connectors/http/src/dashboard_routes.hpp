// SPDX-License-Identifier: Apache-2.0
// Internal (connectors/http/src/dashboard_routes.hpp).
// GET / (the dashboard page) and GET /api/dashboard (the JSON it polls).
#pragma once

#include "connection_server.hpp"
#include "routes.hpp"

namespace fnhost::http::detail {

// Adds both routes; install_routes() calls it when GatewayOptions::dashboard is on.
void install_dashboard_routes(ConnectionServer& server, RouteContext& context);

}  // namespace fnhost::http::detail
