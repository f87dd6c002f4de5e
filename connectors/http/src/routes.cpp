// SPDX-License-Identifier: Apache-2.0
#include "routes.hpp"

#include <string>
#include <utility>

#include "cloudevents.hpp"
#include "dashboard_routes.hpp"
#include "fmt/format.h"
#include "fnhost/metrics.hpp"
#include "request_checks.hpp"
#include "status_mapping.hpp"

namespace fnhost::http::detail {
namespace {

using httplib::Request;
using httplib::Response;
using HandlerResponse = httplib::Server::HandlerResponse;

constexpr const char* kJson = "application/json";
// W3C Trace Context values longer than this are not passed on (a valid traceparent is 55
// bytes, a tracestate at most 32 members of ~512).
constexpr size_t kMaxTraceHeaderBytes = 8192;

void respond_error(const RouteContext& context, Response& response, int http_status,
                   absl::StatusCode code, std::string_view message) {
  response.status = http_status;
  response.set_content(error_body(code, message), kJson);
  if (wants_retry_after(http_status)) {
    response.set_header("Retry-After", context.retry_after_seconds);
  }
}

void respond_status(const RouteContext& context, Response& response, const absl::Status& status) {
  const absl::string_view message = status.message();
  respond_error(context, response, http_status_for(status.code()), status.code(),
                std::string_view(message.data(), message.size()));
}

void respond_rejection(const RouteContext& context, Response& response, const Rejection& refused) {
  respond_error(context, response, refused.http_status, refused.code, refused.message);
  if (!refused.challenge.empty()) response.set_header("WWW-Authenticate", refused.challenge);
}

void respond_unavailable(const RouteContext& context, Response& response) {
  respond_error(context, response, 503, absl::StatusCode::kUnavailable,
                "the gateway is shutting down");
}

// The connection closes after this response (its request's body may be unread).
void close_after(Response& response) {
  close_connection_after_response();
  if (!response.has_header("Connection")) response.set_header("Connection", "close");
}

// Refusals decided from the request line and headers alone. The body is then unread, so the
// connection closes after the answer.
std::optional<Rejection> refuse_early(const RouteContext& context, const Request& request) {
  if (std::optional<Rejection> refused = check_request(request, context.options)) return refused;
  const RouteKind kind = classify(request);
  if ((kind == RouteKind::kInvoke || kind == RouteKind::kEvent) &&
      context.admission.is_draining()) {
    return Rejection{.http_status = 503,
                     .code = absl::StatusCode::kUnavailable,
                     .message = "the gateway is shutting down"};
  }
  return std::nullopt;
}

// The W3C Trace Context of the request goes into the event (where the host's tracing reads it)
// unless the event carries its own.
void add_trace_context(const Request& request, Event& event) {
  if (event.extension("traceparent").has_value() || !request.has_header("traceparent")) return;
  const std::string traceparent = request.get_header_value("traceparent");
  if (traceparent.size() > kMaxTraceHeaderBytes) return;
  event.extensions.emplace_back("traceparent", traceparent);
  std::string tracestate;
  const size_t fields = request.get_header_value_count("tracestate");
  for (size_t i = 0; i < fields; ++i) {
    if (i > 0) tracestate += ',';
    tracestate += request.get_header_value("tracestate", i);
  }
  if (!tracestate.empty() && tracestate.size() <= kMaxTraceHeaderBytes) {
    event.extensions.emplace_back("tracestate", std::move(tracestate));
  }
}

// A body sent without Content-Length (chunked) is only measured once read.
bool refuse_large_body(const RouteContext& context, const Request& request, Response& response,
                       size_t limit) {
  if (request.body.size() <= limit) return false;
  respond_error(
      context, response, 413, absl::StatusCode::kInvalidArgument,
      fmt::format("body is {} bytes, more than the {} allowed", request.body.size(), limit));
  return true;
}

void handle_invoke(RouteContext& context, const Request& request, Response& response) {
  mark_request_routed();
  AdmissionTicket ticket(context.admission);
  if (!ticket) return respond_unavailable(context, response);
  const absl::StatusOr<bool> async = is_async_invocation(request);
  if (!async.ok()) return respond_status(context, response, async.status());
  const size_t limit = body_limit(RouteKind::kInvoke, *async, context.options);
  if (refuse_large_body(context, request, response, limit)) return;

  const std::string name = request.matches[1];
  Event event = Event::with_data(request.body);
  event.datacontenttype = request.get_header_value("Content-Type");
  event.idempotency_key = request.get_header_value("X-Fnhost-Idempotency-Key");
  add_trace_context(request, event);
  if (*async) {
    const absl::Status accepted = context.host.invoke_async(name, std::move(event));
    if (!accepted.ok()) return respond_status(context, response, accepted);
    response.status = 202;
    return;
  }
  Completion completion = context.host.invoke(name, std::move(event));
  if (!completion.wait_for(context.options.request_timeout)) {
    return respond_error(
        context, response, 504, absl::StatusCode::kDeadlineExceeded,
        fmt::format("function \"{}\": no result within the gateway's "
                    "request_timeout ({})",
                    name.substr(0, 64), absl::FormatDuration(context.options.request_timeout)));
  }
  Result result = std::move(completion).get();
  if (!result.ok()) return respond_status(context, response, result.status());
  response.status = 200;
  response.set_content(*std::move(result), "application/octet-stream");
}

absl::StatusOr<Event> read_cloudevent(const Request& request) {
  const std::string content_type = request.get_header_value("Content-Type");
  if (is_batch_mode(content_type)) {
    return absl::UnimplementedError("batched CloudEvents are not supported; send one per request");
  }
  if (is_structured_mode(content_type)) return parse_structured_cloudevent(request.body);
  HeaderList headers;
  for (const auto& [name, value] : request.headers) headers.emplace_back(name, value);
  return parse_binary_cloudevent(headers, request.body);
}

// The routing topic: the path after /events/, else the event's `topic` attribute.
absl::Status set_topic(const Request& request, Event& event) {
  const std::string path_topic = request.matches.size() > 1 ? request.matches[1].str() : "";
  auto attribute = std::find_if(event.extensions.begin(), event.extensions.end(),
                                [](const auto& extension) { return extension.first == "topic"; });
  if (attribute != event.extensions.end()) {
    if (!path_topic.empty() && attribute->second != path_topic) {
      return absl::InvalidArgumentError(fmt::format(
          "CloudEvent attribute \"topic\" (\"{}\") differs from the topic in the path (\"{}\")",
          attribute->second.substr(0, 64), path_topic.substr(0, 64)));
    }
    event.topic = std::move(attribute->second);
    event.extensions.erase(attribute);
  } else {
    event.topic = path_topic;
  }
  if (event.topic.empty()) {
    return absl::InvalidArgumentError(
        "no topic: POST to /events/{topic} or set the CloudEvent attribute \"topic\"");
  }
  return absl::OkStatus();
}

void handle_event(RouteContext& context, const Request& request, Response& response) {
  mark_request_routed();
  AdmissionTicket ticket(context.admission);
  if (!ticket) return respond_unavailable(context, response);
  if (refuse_large_body(context, request, response,
                        body_limit(RouteKind::kEvent, true, context.options))) {
    return;
  }
  absl::StatusOr<Event> event = read_cloudevent(request);
  if (!event.ok()) {
    if (event.status().code() == absl::StatusCode::kUnimplemented) {
      return respond_error(context, response, 415, absl::StatusCode::kInvalidArgument,
                           std::string(event.status().message()));
    }
    return respond_status(context, response, event.status());
  }
  if (absl::Status topic = set_topic(request, *event); !topic.ok()) {
    return respond_status(context, response, topic);
  }
  add_trace_context(request, *event);
  const absl::Status published = context.host.publish(*std::move(event));
  if (!published.ok()) return respond_status(context, response, published);
  response.status = 202;
}

}  // namespace

void install_routes(ConnectionServer& server, RouteContext& context) {
  server.set_pre_routing_handler([&context](const Request& request, Response& response) {
    std::optional<Rejection> refused = refuse_early(context, request);
    if (!refused) return HandlerResponse::Unhandled;
    respond_rejection(context, response, *refused);
    close_after(response);
    return HandlerResponse::Handled;
  });
  // `Expect: 100-continue`: refuse before the client sends its body.
  server.set_expect_100_continue_handler([&context](const Request& request, Response& response) {
    std::optional<Rejection> refused = refuse_early(context, request);
    if (!refused) return 100;
    respond_rejection(context, response, *refused);
    close_after(response);
    return refused->http_status;
  });
  server.Post(R"(/functions/([^/]+)/invocations)",
              [&context](const Request& request, Response& response) {
                handle_invoke(context, request, response);
              });
  server.Post("/events", [&context](const Request& request, Response& response) {
    handle_event(context, request, response);
  });
  server.Post(R"(/events/(.+))", [&context](const Request& request, Response& response) {
    handle_event(context, request, response);
  });
  server.Get("/metrics", [&context](const Request&, Response& response) {
    mark_request_routed();
    response.set_content(prometheus_text(context.host.metrics()),
                         "text/plain; version=0.0.4; charset=utf-8");
  });
  server.Get("/healthz", [](const Request&, Response& response) {
    mark_request_routed();
    response.set_content("ok\n", "text/plain");
  });
  server.Get("/readyz", [&context](const Request&, Response& response) {
    mark_request_routed();
    if (context.admission.is_draining() || !context.host.is_accepting()) {
      respond_unavailable(context, response);
      return;
    }
    response.set_content("ready\n", "text/plain");
  });
  if (context.options.dashboard) install_dashboard_routes(server, context);
  // Every error answer gets a JSON body; one not sent by a handler (cpp-httplib's own 400, 404,
  // 413, 414) may leave the request's body unread, so the connection closes after it.
  server.set_error_handler([&context](const Request& request, Response& response) {
    if (!is_request_routed()) close_after(response);
    if (!response.body.empty()) return;
    const absl::StatusCode code = response.status == 404   ? absl::StatusCode::kNotFound
                                  : response.status >= 500 ? absl::StatusCode::kInternal
                                                           : absl::StatusCode::kInvalidArgument;
    const std::string message =
        response.status == 404 ? fmt::format("no route for {} {}", request.method.substr(0, 16),
                                             request.path.substr(0, 128))
                               : fmt::format("bad request (HTTP {})", response.status);
    respond_error(context, response, response.status, code, message);
  });
  server.set_exception_handler([&context](const Request&, Response& response, std::exception_ptr) {
    respond_error(context, response, 500, absl::StatusCode::kInternal,
                  "the gateway failed to handle the request");
  });
}

}  // namespace fnhost::http::detail
