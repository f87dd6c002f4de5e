// SPDX-License-Identifier: Apache-2.0
#include "observability/span_exporter.hpp"

#include <cstdio>
#include <iterator>
#include <memory>

#include "common/sync.hpp"
#include "fmt/format.h"
#include "observability/invocation_reports.hpp"
#include "observability/json_text.hpp"

namespace fnhost {

namespace detail {

void QueuedSpan::export_to(SpanSink& sink) const {
  const std::string version_text = fmt::format("{}", version);
  const SpanAttribute attributes[] = {
      {"faas.invocation_id", invocation_id.view()},
      {"faas.coldstart", cold_start},
      {"faas.version", std::string_view(version_text)},
      {"faas.max_memory", int64_t{memory_mb} * 1024 * 1024},
      {"fnhost.outcome", to_string(outcome)},
      {"fnhost.attempt", int64_t{attempt}},
      {"fnhost.queue_wait_ns", absl::ToInt64Nanoseconds(queue_wait)},
      {"fnhost.cpu_time_ns", absl::ToInt64Nanoseconds(cpu_time)},
      {"fnhost.billed_duration_ms", billed_ms},
  };
  sink.export_span(SpanRecord{.name = name,
                              .span = span,
                              .kind = kind,
                              .start = start,
                              .end = end,
                              .status = status,
                              .status_message = status_message,
                              .attributes = attributes});
}

namespace {

// OTLP/JSON's AnyValue: int64 values are decimal strings.
void append_any_value(std::string& out, const SpanAttribute& attribute) {
  if (const auto* text = std::get_if<std::string_view>(&attribute.value)) {
    out += "{\"stringValue\":";
    append_json_string(out, *text);
    out += '}';
  } else if (const auto* number = std::get_if<int64_t>(&attribute.value)) {
    fmt::format_to(std::back_inserter(out), "{{\"intValue\":\"{}\"}}", *number);
  } else {
    out += std::get<bool>(attribute.value) ? "{\"boolValue\":true}" : "{\"boolValue\":false}";
  }
}

std::string unix_nanos(absl::Time time) { return fmt::format("{}", absl::ToUnixNanos(time)); }

class JsonSpanSink final : public SpanSink {
 public:
  JsonSpanSink(std::FILE* out, std::string service_name)
      : out_(out), service_name_(std::move(service_name)) {}
  void export_span(const SpanRecord& span) override {
    std::string line = format_span_json(span, service_name_);
    line += '\n';
    MutexLock lock(mu_);
    std::fwrite(line.data(), 1, line.size(), out_);
    std::fflush(out_);
  }

 private:
  std::FILE* const out_;
  const std::string service_name_;
  Mutex mu_;
};

}  // namespace
}  // namespace detail

std::string format_span_json(const SpanRecord& span, std::string_view service_name) {
  using detail::append_json_string;
  std::string out;
  out.reserve(640);
  out +=
      "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":"
      "{\"stringValue\":";
  append_json_string(out, service_name);
  out += "}}]},\"scopeSpans\":[{\"scope\":{\"name\":\"fnhost\"},\"spans\":[{\"traceId\":\"";
  out += trace_id_hex(span.span.context.trace_id);
  out += "\",\"spanId\":\"";
  out += span_id_hex(span.span.context.span_id);
  out += '"';
  if (!span.span.context.tracestate.empty()) {
    out += ",\"traceState\":";
    append_json_string(out, span.span.context.tracestate);
  }
  if (span.span.has_parent()) {
    out += ",\"parentSpanId\":\"";
    out += span_id_hex(span.span.parent_span_id);
    out += '"';
  }
  fmt::format_to(std::back_inserter(out), ",\"flags\":{}", span.span.context.flags & 0xff);
  out += ",\"name\":";
  append_json_string(out, span.name);
  fmt::format_to(std::back_inserter(out),
                 ",\"kind\":{},\"startTimeUnixNano\":\"{}\",\"endTimeUnixNano\":\"{}\"",
                 static_cast<int>(span.kind), detail::unix_nanos(span.start),
                 detail::unix_nanos(span.end));
  out += ",\"attributes\":[";
  for (size_t i = 0; i < span.attributes.size(); ++i) {
    if (i > 0) out += ',';
    out += "{\"key\":";
    append_json_string(out, span.attributes[i].key);
    out += ",\"value\":";
    detail::append_any_value(out, span.attributes[i]);
    out += '}';
  }
  fmt::format_to(std::back_inserter(out), "],\"status\":{{\"code\":{}",
                 static_cast<int>(span.status));
  if (!span.status_message.empty()) {
    out += ",\"message\":";
    append_json_string(out, span.status_message);
  }
  out += "}}]}]}]}";
  return out;
}

std::shared_ptr<SpanSink> make_json_span_sink(std::FILE* out, std::string service_name) {
  return std::make_shared<detail::JsonSpanSink>(out, std::move(service_name));
}

}  // namespace fnhost
