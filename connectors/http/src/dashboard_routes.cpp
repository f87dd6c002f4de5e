// SPDX-License-Identifier: Apache-2.0
#include "dashboard_routes.hpp"

#include <string_view>

#include "dashboard_json.hpp"
#include "dashboard_page.hpp"

namespace fnhost::http::detail {
namespace {

// The page needs nothing from anywhere but its own inline script and style and fetches from
// its own origin; the policy makes the browser refuse anything else (an injected script, a
// framing page, a form posting elsewhere).
constexpr const char* kPagePolicy =
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'";

void serve_page(httplib::Response& response) {
  mark_request_routed();
  response.set_header("Content-Security-Policy", kPagePolicy);
  response.set_header("X-Content-Type-Options", "nosniff");
  response.set_header("Referrer-Policy", "no-referrer");
  // The page changes only with the library: a browser may keep it but must ask first.
  response.set_header("Cache-Control", "no-cache");
  const std::string_view page = dashboard_page();
  response.set_content(page.data(), page.size(), "text/html; charset=utf-8");
}

void serve_data(const RouteContext& context, httplib::Response& response) {
  mark_request_routed();
  response.set_header("Cache-Control", "no-store");
  response.set_header("X-Content-Type-Options", "nosniff");
  response.set_content(dashboard_json(context.host.metrics(), context.executor_history.samples(),
                                      context.options.dashboard_refresh),
                       "application/json");
}

}  // namespace

void install_dashboard_routes(ConnectionServer& server, RouteContext& context) {
  server.Get("/",
             [](const httplib::Request&, httplib::Response& response) { serve_page(response); });
  server.Get("/api/dashboard", [&context](const httplib::Request&, httplib::Response& response) {
    serve_data(context, response);
  });
}

}  // namespace fnhost::http::detail
