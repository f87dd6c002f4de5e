// SPDX-License-Identifier: Apache-2.0
// Tracing: every invocation a span, its parent from the event's traceparent; calls, publishes,
// destinations and retries pass the context on so a chain is one trace; invalid traceparents
// are counted and not trusted; parent-based ratio sampling; log records carry the ids; spans
// as OTLP/JSON lines.
#include <atomic>
#include <catch2/catch.hpp>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "fnhost/fnhost.hpp"
#include "testing/capture_log_sink.hpp"
#include "testing/capture_span_sink.hpp"
#include "testing/host_helpers.hpp"
#include "testing/wait.hpp"

namespace {

using fnhost::Context;
using fnhost::Event;
using fnhost::InvocationSpan;
using fnhost::Result;
using fnhost::SpanKind;
using fnhost::SpanStatusCode;
using fnhost::TraceContext;
using fnhost::testing::CapturedLogRecord;
using fnhost::testing::CapturedSpan;
using fnhost::testing::CaptureLogSink;
using fnhost::testing::CaptureSpanSink;
using fnhost::testing::wait_until;

constexpr const char* kParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
constexpr const char* kParentTraceId = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr const char* kParentSpanId = "00f067aa0ba902b7";

struct TracedHost {
  std::shared_ptr<CaptureSpanSink> spans = std::make_shared<CaptureSpanSink>();
  std::shared_ptr<CaptureLogSink> logs = std::make_shared<CaptureLogSink>();
  fnhost::Host host;

  explicit TracedHost(double sample_ratio = 1.0, bool invocation_logs = false)
      : host(make(spans, logs, sample_ratio, invocation_logs)) {}

  // Waits until `count` spans were exported.
  bool wait_spans(size_t count) {
    return wait_until([&] {
      (void)host.flush_telemetry();
      return spans->size() >= count;
    });
  }

 private:
  static fnhost::Host make(const std::shared_ptr<CaptureSpanSink>& spans,
                           const std::shared_ptr<CaptureLogSink>& logs, double ratio,
                           bool invocation_logs) {
    fnhost::HostOptions options = fnhost::testing::quiet_options(8, logs);
    options.tracing = {.span_sink = spans, .sample_ratio = ratio};
    options.invocation_logs = invocation_logs;
    return fnhost::testing::make_host(std::move(options));
  }
};

Event with_traceparent(std::string traceparent, std::string tracestate = "") {
  Event event{.type = "test"};
  event.extensions.emplace_back("traceparent", std::move(traceparent));
  if (!tracestate.empty()) event.extensions.emplace_back("tracestate", std::move(tracestate));
  return event;
}

std::string trace_of(const CapturedSpan& span) {
  return fnhost::trace_id_hex(span.span.context.trace_id);
}
std::string id_of(const CapturedSpan& span) {
  return fnhost::span_id_hex(span.span.context.span_id);
}
std::string parent_of(const CapturedSpan& span) {
  return span.span.has_parent() ? fnhost::span_id_hex(span.span.parent_span_id) : "";
}

Result ok_handler(const Event&, Context&) { return "ok"; }

TEST_CASE("an invocation is a span whose parent is the event's traceparent", "[tracing]") {
  TracedHost traced;
  std::optional<InvocationSpan> seen;
  REQUIRE(traced.host
              .register_function({.name = "resize",
                                  .handler = [&seen](const Event&, Context& ctx) -> Result {
                                    if (ctx.span() != nullptr) seen = *ctx.span();
                                    return "ok";
                                  },
                                  .memory_mb = 256})
              .ok());
  REQUIRE(traced.host.invoke("resize", with_traceparent(kParent, "vendor=abc")).get().ok());
  REQUIRE(traced.wait_spans(1));
  CapturedSpan span = traced.spans->spans().at(0);
  CHECK(span.name == "resize");
  CHECK(trace_of(span) == kParentTraceId);
  CHECK(parent_of(span) == kParentSpanId);
  CHECK(id_of(span) != kParentSpanId);
  CHECK(span.span.context.sampled());
  CHECK(span.span.context.tracestate == "vendor=abc");
  CHECK(span.kind == SpanKind::kServer);
  CHECK(span.status == SpanStatusCode::kUnset);
  CHECK(span.end >= span.start);
  CHECK(span.strings["fnhost.outcome"] == "success");
  CHECK(span.strings["faas.version"] == "1");
  CHECK(!span.strings["faas.invocation_id"].empty());
  CHECK(span.flags["faas.coldstart"]);
  CHECK(span.numbers["faas.max_memory"] == 256LL * 1024 * 1024);
  CHECK(span.numbers["fnhost.attempt"] == 1);
  CHECK(span.numbers["fnhost.billed_duration_ms"] >= 1);
  // The handler saw the same span.
  REQUIRE(seen.has_value());
  CHECK(fnhost::span_id_hex(seen->context.span_id) == id_of(span));
}

TEST_CASE("an event without a traceparent starts a new sampled trace", "[tracing]") {
  TracedHost traced;
  REQUIRE(traced.host.register_function({.name = "f", .handler = ok_handler}).ok());
  REQUIRE(traced.host.invoke("f", Event::with_data("x")).get().ok());
  REQUIRE(traced.host.invoke("f", Event::with_data("y")).get().ok());
  REQUIRE(traced.wait_spans(2));
  const std::vector<CapturedSpan> spans = traced.spans->spans();
  for (const CapturedSpan& span : spans) {
    CHECK(!span.span.has_parent());
    CHECK(span.span.context.valid());
    CHECK(span.span.context.sampled());
  }
  CHECK(trace_of(spans[0]) != trace_of(spans[1]));
}

TEST_CASE(
    "a new trace's ids are one pair for every reader: threads, log records, the exported span",
    "[tracing]") {
  TracedHost traced;
  constexpr int kReaders = 4;
  std::vector<std::string> seen(kReaders);
  REQUIRE(traced.host
              .register_function({.name = "fan",
                                  .handler = [&seen](const Event&, Context& ctx) -> Result {
                                    std::vector<std::thread> readers;
                                    for (int i = 0; i < kReaders; ++i) {
                                      readers.emplace_back([&seen, &ctx, i] {
                                        const InvocationSpan* span = ctx.span();
                                        if (span == nullptr) return;
                                        seen[static_cast<size_t>(i)] =
                                            fnhost::trace_id_hex(span->context.trace_id) + "/" +
                                            fnhost::span_id_hex(span->context.span_id);
                                      });
                                    }
                                    for (std::thread& reader : readers) reader.join();
                                    ctx.log().info("done");
                                    return "ok";
                                  }})
              .ok());
  for (int round = 0; round < 20; ++round) {
    const size_t before = traced.spans->size();
    REQUIRE(traced.host.invoke("fan", Event::with_data("x")).get().ok());
    REQUIRE(traced.wait_spans(before + 1));
    const CapturedSpan span = traced.spans->spans().at(before);
    INFO("round " << round);
    CHECK(span.span.context.valid());
    for (const std::string& ids : seen) CHECK(ids == trace_of(span) + "/" + id_of(span));
  }
  REQUIRE(traced.host.flush_telemetry());
  const std::vector<CapturedLogRecord> records = traced.logs->records();
  const std::vector<CapturedSpan> spans = traced.spans->spans();
  size_t matched = 0;
  for (const CapturedLogRecord& record : records) {
    if (record.message != "done") continue;
    for (const CapturedSpan& span : spans) {
      if (record.trace_id == trace_of(span) && record.span_id == id_of(span)) ++matched;
    }
  }
  CHECK(matched == 20);
}

// A span sink that holds the export thread until released: every span after the first few is
// dropped, so those invocations' ids are never read.
class HeldSpanSink final : public fnhost::SpanSink {
 public:
  void export_span(const fnhost::SpanRecord&) override {
    std::unique_lock<std::mutex> lock(mu_);
    open_cv_.wait(lock, [this] { return open_; });
  }
  void open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    open_cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable open_cv_;
  bool open_ = false;
};

TEST_CASE("an invocation record reused after a dropped new trace keeps its next event's parent",
          "[tracing]") {
  auto sink = std::make_shared<HeldSpanSink>();
  fnhost::HostOptions options = fnhost::testing::quiet_options(1);
  options.tracing = {.span_sink = sink, .sample_ratio = 1.0};
  options.telemetry_queue_capacity = 1;
  fnhost::Host host = fnhost::testing::make_host(std::move(options));
  std::vector<std::string> parents_seen;
  REQUIRE(host.register_function({.name = "f",
                                  .handler = [&](const Event& event, Context& ctx) -> Result {
                                    // Only events with a parent look at their span.
                                    if (event.extension("traceparent") && ctx.span() != nullptr) {
                                      parents_seen.push_back(
                                          fnhost::trace_id_hex(ctx.span()->context.trace_id));
                                    }
                                    return "ok";
                                  }})
              .ok());
  // New traces and parented events in an irregular order, so that records left with undrawn
  // ids come back for parented events whatever order the record pool hands them out in.
  std::minstd_rand random(7);
  int parented = 0;
  for (int i = 0; i < 300; ++i) {
    if (random() % 3 == 0) {
      ++parented;
      REQUIRE(host.invoke("f", with_traceparent(kParent)).get().ok());
    } else {
      REQUIRE(host.invoke("f", Event::with_data("new trace")).get().ok());
    }
  }
  CHECK(host.metrics().telemetry.spans_dropped > 0);
  REQUIRE(parents_seen.size() == static_cast<size_t>(parented));
  for (const std::string& trace : parents_seen) CHECK(trace == kParentTraceId);
  sink->open();
}

TEST_CASE("ctx.invoke, invoke_async and publish make the callees' spans children of the caller",
          "[tracing]") {
  TracedHost traced;
  fnhost::Host& host = traced.host;
  std::atomic<int> callee_runs{0};
  std::string callee_traceparent;
  std::mutex mu;
  REQUIRE(host.register_function({.name = "callee",
                                  .handler = [&](const Event& event, Context&) -> Result {
                                    std::lock_guard<std::mutex> lock(mu);
                                    callee_traceparent =
                                        std::string(event.extension("traceparent").value_or(""));
                                    callee_runs.fetch_add(1);
                                    return "done";
                                  }})
              .ok());
  REQUIRE(host.subscribe({.pattern = "jobs/#", .function = "callee"}).ok());
  REQUIRE(host.register_function({.name = "caller",
                                  .handler = [](const Event&, Context& ctx) -> Result {
                                    Result called = ctx.invoke("callee", Event::with_data("a"));
                                    if (!called.ok()) return called;
                                    absl::Status queued = ctx.invoke_async("callee", {});
                                    if (!queued.ok()) return queued;
                                    queued = ctx.publish({.topic = "jobs/1"});
                                    if (!queued.ok()) return queued;
                                    return "ok";
                                  }})
              .ok());
  REQUIRE(host.invoke("caller", with_traceparent(kParent)).get().ok());
  REQUIRE(traced.wait_spans(4));
  const std::vector<CapturedSpan> callers = traced.spans->named("caller");
  const std::vector<CapturedSpan> callees = traced.spans->named("callee");
  REQUIRE(callers.size() == 1);
  REQUIRE(callees.size() == 3);
  CHECK(parent_of(callers[0]) == kParentSpanId);
  int consumers = 0;
  for (const CapturedSpan& callee : callees) {
    CHECK(trace_of(callee) == kParentTraceId);
    CHECK(parent_of(callee) == id_of(callers[0]));
    if (callee.kind == SpanKind::kConsumer) ++consumers;
  }
  CHECK(consumers == 2);  // invoke_async and publish
  // The callee's event carries the caller's span as its traceparent.
  std::lock_guard<std::mutex> lock(mu);
  CHECK(callee_traceparent ==
        "00-" + std::string(kParentTraceId) + "-" + id_of(callers[0]) + "-01");
}

TEST_CASE("a retry's span is a child of the failed attempt, in the same trace", "[tracing]") {
  TracedHost traced;
  std::atomic<int> runs{0};
  REQUIRE(traced.host
              .register_function({.name = "flaky",
                                  .handler = [&runs](const Event&, Context&) -> Result {
                                    if (runs.fetch_add(1) == 0)
                                      return absl::UnavailableError("once");
                                    return "ok";
                                  },
                                  .retry = {.initial_backoff = absl::Milliseconds(1),
                                            .max_backoff = absl::Milliseconds(1)}})
              .ok());
  // Data only: the first attempt starts the trace, the retry must stay in it.
  REQUIRE(traced.host.invoke_async("flaky", Event::with_data("payload")).ok());
  REQUIRE(traced.wait_spans(2));
  const std::vector<CapturedSpan> spans = traced.spans->named("flaky");
  REQUIRE(spans.size() == 2);
  CHECK(spans[0].numbers.at("fnhost.attempt") == 1);
  CHECK(spans[0].status == SpanStatusCode::kError);
  CHECK(spans[0].status_message == "once");
  CHECK(spans[1].numbers.at("fnhost.attempt") == 2);
  CHECK(spans[1].status == SpanStatusCode::kUnset);
  CHECK(trace_of(spans[1]) == trace_of(spans[0]));
  CHECK(parent_of(spans[1]) == id_of(spans[0]));
  CHECK(!spans[0].span.has_parent());
}

TEST_CASE("a destination's invocation is a child of the invocation whose outcome it gets",
          "[tracing]") {
  TracedHost traced;
  REQUIRE(traced.host.register_function({.name = "audit", .handler = ok_handler}).ok());
  REQUIRE(traced.host
              .register_function(
                  {.name = "work", .handler = ok_handler, .on_success = {.function = "audit"}})
              .ok());
  REQUIRE(traced.host.invoke_async("work", with_traceparent(kParent)).ok());
  REQUIRE(traced.wait_spans(2));
  const std::vector<CapturedSpan> work = traced.spans->named("work");
  const std::vector<CapturedSpan> audit = traced.spans->named("audit");
  REQUIRE(work.size() == 1);
  REQUIRE(audit.size() == 1);
  CHECK(trace_of(audit[0]) == kParentTraceId);
  CHECK(parent_of(audit[0]) == id_of(work[0]));
}

TEST_CASE("an invalid traceparent is counted, logged and not trusted", "[tracing]") {
  TracedHost traced;
  REQUIRE(traced.host.register_function({.name = "f", .handler = ok_handler}).ok());
  const std::vector<std::string> invalid = {
      "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",  // uppercase
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  // zero trace id
      "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  // zero parent id
      "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  // version ff
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", "garbage"};
  for (const std::string& header : invalid) {
    REQUIRE(traced.host.invoke("f", with_traceparent(header)).get().ok());
  }
  REQUIRE(traced.wait_spans(invalid.size()));
  for (const CapturedSpan& span : traced.spans->spans()) {
    CHECK(!span.span.has_parent());
    CHECK(trace_of(span) != kParentTraceId);
  }
  CHECK(traced.host.metrics().telemetry.invalid_traceparents ==
        static_cast<int64_t>(invalid.size()));
  REQUIRE(traced.host.flush_telemetry());
  CHECK(traced.logs->count_if([](const CapturedLogRecord& record) {
    return record.level == fnhost::LogLevel::kWarning &&
           record.message.find("invalid traceparent") != std::string::npos;
  }) == invalid.size());
}

TEST_CASE("a future traceparent version is read leniently", "[tracing]") {
  TracedHost traced;
  REQUIRE(traced.host.register_function({.name = "f", .handler = ok_handler}).ok());
  REQUIRE(traced.host
              .invoke("f", with_traceparent(
                               "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03-what-else"))
              .get()
              .ok());
  REQUIRE(traced.wait_spans(1));
  const CapturedSpan span = traced.spans->spans().at(0);
  CHECK(trace_of(span) == kParentTraceId);
  CHECK(parent_of(span) == kParentSpanId);
  CHECK(span.span.context.flags == fnhost::kTraceFlagSampled);  // unknown flag bits not passed on
}

TEST_CASE("sampling: new traces by ratio, children follow their parent's flag", "[tracing]") {
  SECTION("ratio 0 exports no new trace, but passes an unsampled context on") {
    TracedHost traced(/*sample_ratio=*/0.0);
    std::optional<TraceContext> seen;
    REQUIRE(traced.host
                .register_function({.name = "f",
                                    .handler = [&seen](const Event&, Context& ctx) -> Result {
                                      seen = ctx.span()->context;
                                      return "";
                                    }})
                .ok());
    REQUIRE(traced.host.invoke("f", Event::with_data("x")).get().ok());
    REQUIRE(seen.has_value());
    CHECK(!seen->sampled());
    CHECK(seen->valid());
    // A sampled parent is followed even at ratio 0; an unsampled one is not exported.
    REQUIRE(traced.host.invoke("f", with_traceparent(kParent)).get().ok());
    REQUIRE(traced.host
                .invoke("f",
                        with_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"))
                .get()
                .ok());
    REQUIRE(traced.wait_spans(1));
    const std::vector<CapturedSpan> spans = traced.spans->spans();
    REQUIRE(spans.size() == 1);
    CHECK(parent_of(spans[0]) == kParentSpanId);
  }
  SECTION("ratio 0.5 samples about half of new traces") {
    TracedHost traced(/*sample_ratio=*/0.5);
    REQUIRE(traced.host.register_function({.name = "f", .handler = ok_handler}).ok());
    constexpr int kInvocations = 2000;
    for (int i = 0; i < kInvocations; ++i) REQUIRE(traced.host.invoke("f", {}).get().ok());
    REQUIRE(traced.host.shutdown(absl::Seconds(60)).unfinished == 0);  // every span queued
    const size_t exported = traced.spans->size();
    INFO("exported " << exported << " of " << kInvocations);
    // 10 standard deviations either way: never a false failure, still a real check.
    CHECK(exported > 780);
    CHECK(exported < 1220);
  }
}

TEST_CASE("log records of a traced invocation carry its trace and span ids", "[tracing]") {
  TracedHost traced(1.0, /*invocation_logs=*/true);
  REQUIRE(traced.host
              .register_function({.name = "f",
                                  .handler = [](const Event&, Context& ctx) -> Result {
                                    ctx.log().info("hello");
                                    return "";
                                  }})
              .ok());
  REQUIRE(traced.host.invoke("f", with_traceparent(kParent)).get().ok());
  REQUIRE(traced.wait_spans(1));
  REQUIRE(wait_until([&] {
    (void)traced.host.flush_telemetry();
    return traced.logs->size() >= 4;  // START, hello, END, REPORT
  }));
  const CapturedSpan span = traced.spans->spans().at(0);
  for (const CapturedLogRecord& record : traced.logs->records()) {
    INFO(record.message);
    CHECK(record.trace_id == kParentTraceId);
    CHECK(record.span_id == id_of(span));
  }
}

TEST_CASE("without a span sink nothing is traced and events are passed on as they are",
          "[tracing]") {
  fnhost::Host host = fnhost::testing::make_host();
  std::atomic<bool> had_span{true};
  std::atomic<bool> callee_had_traceparent{true};
  REQUIRE(host.register_function({.name = "callee",
                                  .handler = [&](const Event& event, Context&) -> Result {
                                    callee_had_traceparent =
                                        event.extension("traceparent").has_value();
                                    return "";
                                  }})
              .ok());
  REQUIRE(host.register_function({.name = "caller",
                                  .handler = [&](const Event&, Context& ctx) -> Result {
                                    had_span = ctx.span() != nullptr;
                                    return ctx.invoke("callee", {});
                                  }})
              .ok());
  REQUIRE(host.invoke("caller", {}).get().ok());
  CHECK(!had_span.load());
  CHECK(!callee_had_traceparent.load());
}

TEST_CASE("tracing.sample_ratio outside 0..1 is refused", "[tracing]") {
  for (double ratio : {-0.1, 1.5, std::nan("")}) {
    fnhost::HostOptions options;
    options.tracing = {.span_sink = std::make_shared<CaptureSpanSink>(), .sample_ratio = ratio};
    const absl::StatusOr<fnhost::Host> host = fnhost::Host::create(std::move(options));
    REQUIRE(host.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(host.status().message().find("sample_ratio") != std::string::npos);
  }
}

TEST_CASE("format_span_json writes one OTLP/JSON line", "[tracing]") {
  absl::StatusOr<TraceContext> parent = fnhost::parse_trace_context(kParent, "a=1");
  REQUIRE(parent.ok());
  InvocationSpan span{.context = *parent, .parent_span_id = parent->span_id};
  span.context.span_id = {1, 2, 3, 4, 5, 6, 7, 8};
  const fnhost::SpanAttribute attributes[] = {
      {.key = "faas.invocation_id", .value = std::string_view("ab\"c")},
      {.key = "fnhost.attempt", .value = int64_t{2}},
      {.key = "faas.coldstart", .value = true}};
  const fnhost::SpanRecord record{.name = "resize",
                                  .span = span,
                                  .kind = SpanKind::kConsumer,
                                  .start = absl::FromUnixNanos(1'700'000'000'000'000'001),
                                  .end = absl::FromUnixNanos(1'700'000'000'500'000'000),
                                  .status = SpanStatusCode::kError,
                                  .status_message = "boom",
                                  .attributes = attributes};
  CHECK(fnhost::format_span_json(record, "svc") ==
        "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":"
        "{\"stringValue\":\"svc\"}}]},\"scopeSpans\":[{\"scope\":{\"name\":\"fnhost\"},\"spans\":"
        "[{\"traceId\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"spanId\":\"0102030405060708\","
        "\"traceState\":\"a=1\",\"parentSpanId\":\"00f067aa0ba902b7\",\"flags\":1,"
        "\"name\":\"resize\",\"kind\":5,\"startTimeUnixNano\":\"1700000000000000001\","
        "\"endTimeUnixNano\":\"1700000000500000000\",\"attributes\":[{\"key\":"
        "\"faas.invocation_id\",\"value\":{\"stringValue\":\"ab\\\"c\"}},{\"key\":"
        "\"fnhost.attempt\",\"value\":{\"intValue\":\"2\"}},{\"key\":\"faas.coldstart\","
        "\"value\":{\"boolValue\":true}}],\"status\":{\"code\":2,\"message\":\"boom\"}}]}]}]}");
}

TEST_CASE("make_json_span_sink writes one line per sampled span", "[tracing]") {
  std::FILE* file = std::tmpfile();
  REQUIRE(file != nullptr);
  {
    fnhost::HostOptions options = fnhost::testing::quiet_options(4);
    options.tracing.span_sink = fnhost::make_json_span_sink(file, "test-service");
    fnhost::Host host = fnhost::testing::make_host(std::move(options));
    REQUIRE(host.register_function({.name = "f", .handler = ok_handler}).ok());
    for (int i = 0; i < 3; ++i) REQUIRE(host.invoke("f", {}).get().ok());
    // A span is queued as its invocation ends, moments after the caller got the answer.
    REQUIRE(wait_until([&] {
      (void)host.flush_telemetry();
      return host.metrics().telemetry.spans == 3;
    }));
  }
  std::rewind(file);
  std::string text;
  char buffer[4096];
  while (size_t n = std::fread(buffer, 1, sizeof(buffer), file)) text.append(buffer, n);
  std::fclose(file);
  size_t lines = 0;
  for (char c : text) lines += c == '\n' ? 1 : 0;
  CHECK(lines == 3);
  CHECK(text.find("\"stringValue\":\"test-service\"") != std::string::npos);
  CHECK(text.find("\"name\":\"f\",\"kind\":2") != std::string::npos);
}

}  // namespace
