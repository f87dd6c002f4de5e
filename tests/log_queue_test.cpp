// SPDX-License-Identifier: Apache-2.0
// Log records reach the sink through the host's bounded telemetry queue: a slow or stuck sink
// never stalls an invocation, overflow is dropped and counted, order is kept, flush_telemetry
// waits for what was queued; records carry fields and format them in logfmt and JSON.
#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "fnhost/fnhost.hpp"
#include "observability/telemetry_queue.hpp"
#include "testing/capture_log_sink.hpp"
#include "testing/capture_span_sink.hpp"
#include "testing/host_helpers.hpp"
#include "testing/scale.hpp"
#include "testing/thread_names.hpp"
#include "testing/wait.hpp"

namespace {

using fnhost::Context;
using fnhost::Event;
using fnhost::LogField;
using fnhost::LogFormat;
using fnhost::LogLevel;
using fnhost::LogRecord;
using fnhost::Result;
using fnhost::testing::CapturedLogRecord;
using fnhost::testing::CaptureLogSink;
using fnhost::testing::wait_until;

// A sink whose write() waits until the test opens it: the slowest sink there is.
class GatedLogSink final : public fnhost::LogSink {
 public:
  void write(const LogRecord& record) override {
    std::unique_lock<std::mutex> lock(mu_);
    ++entered_;
    entered_cv_.notify_all();
    open_cv_.wait(lock, [this] { return open_; });
    messages_.emplace_back(record.message);
  }
  void open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    open_cv_.notify_all();
  }
  bool wait_entered() {
    std::unique_lock<std::mutex> lock(mu_);
    return entered_cv_.wait_for(lock, std::chrono::seconds(60), [this] { return entered_ > 0; });
  }
  std::vector<std::string> messages() {
    std::lock_guard<std::mutex> lock(mu_);
    return messages_;
  }

 private:
  std::mutex mu_;
  std::condition_variable open_cv_;
  std::condition_variable entered_cv_;
  bool open_ = false;
  int entered_ = 0;
  std::vector<std::string> messages_;
};

TEST_CASE("a stuck log sink stalls no invocation: the queue fills, the rest is dropped and counted",
          "[logs]") {
  auto sink = std::make_shared<GatedLogSink>();
  fnhost::HostOptions options = fnhost::testing::quiet_options(4);
  options.log_sink = sink;
  options.telemetry_queue_capacity = 8;
  fnhost::Host host = fnhost::testing::make_host(std::move(options));
  REQUIRE(host.register_function({.name = "chatty",
                                  .handler = [](const Event& event, Context& ctx) -> Result {
                                    ctx.log().info("record {}", event.data);
                                    return "";
                                  }})
              .ok());
  // The first record goes to the writer and sticks in the sink; the next 8 fill the queue.
  REQUIRE(host.invoke("chatty", Event::with_data("0")).get().ok());
  REQUIRE(sink->wait_entered());
  constexpr int kInvocations = 200;
  for (int i = 1; i < kInvocations; ++i) {
    REQUIRE(host.invoke("chatty", Event::with_data(std::to_string(i))).get().ok());
  }
  fnhost::TelemetryStats stats = host.metrics().telemetry;
  CHECK(stats.queued == 8);
  CHECK(stats.log_records_dropped == kInvocations - 1 - 8);
  CHECK(stats.log_records == 0);
  sink->open();
  REQUIRE(host.flush_telemetry(absl::Seconds(60)));
  stats = host.metrics().telemetry;
  CHECK(stats.log_records == 9);
  CHECK(stats.queued == 0);
  // What was queued is written, in order: the first record, then the 8 that found room.
  const std::vector<std::string> expected = {"record 0", "record 1", "record 2",
                                             "record 3", "record 4", "record 5",
                                             "record 6", "record 7", "record 8"};
  CHECK(sink->messages() == expected);
  const std::string exposition = fnhost::prometheus_text(host.metrics());
  CHECK(exposition.find(fmt::format("fnhost_log_records_dropped_total {}", kInvocations - 9)) !=
        std::string::npos);
}

// Records what an observer of the program is told: every id it gets, in order.
class IdObserver final : public fnhost::InvocationObserver {
 public:
  void on_started(const fnhost::StartedInvocation& started) override {
    std::lock_guard<std::mutex> lock(mu_);
    started_.emplace_back(started.invocation_id);
  }
  void on_finished(const fnhost::FinishedInvocation& finished) override {
    std::lock_guard<std::mutex> lock(mu_);
    finished_.emplace_back(finished.invocation_id);
  }
  std::vector<std::string> started() {
    std::lock_guard<std::mutex> lock(mu_);
    return started_;
  }
  std::vector<std::string> finished() {
    std::lock_guard<std::mutex> lock(mu_);
    return finished_;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> started_;
  std::vector<std::string> finished_;
};

TEST_CASE(
    "with the telemetry queue full, START/END/REPORT and spans are dropped and counted, and the "
    "program's observers still get every invocation id",
    "[logs][observer]") {
  for (const bool with_observer : {false, true}) {
    INFO("with a program observer: " << with_observer);
    auto sink = std::make_shared<GatedLogSink>();
    auto spans = std::make_shared<fnhost::testing::CaptureSpanSink>();
    auto observer = std::make_shared<IdObserver>();
    fnhost::HostOptions options = fnhost::testing::quiet_options(4);
    options.log_sink = sink;
    options.invocation_logs = true;
    options.tracing = {.span_sink = spans, .sample_ratio = 1.0};
    options.telemetry_queue_capacity = 4;
    if (with_observer) options.observers.push_back(observer);
    fnhost::Host host = fnhost::testing::make_host(std::move(options));
    REQUIRE(host.register_function({.name = "quiet",
                                    .handler = [](const Event&, Context&) -> Result { return ""; }})
                .ok());
    // The first invocation's START reaches the writer and sticks in the sink; after that the
    // queue holds 4 and drops the rest.
    REQUIRE(host.invoke("quiet", {}).get().ok());
    REQUIRE(sink->wait_entered());
    constexpr int kInvocations = 100;
    for (int i = 1; i < kInvocations; ++i) REQUIRE(host.invoke("quiet", {}).get().ok());
    const fnhost::TelemetryStats stuck = host.metrics().telemetry;
    CHECK(stuck.queued == 4);
    CHECK(stuck.log_records_dropped + stuck.spans_dropped > 0);
    sink->open();
    // Each invocation offered 3 records and 1 span: every one is written or counted dropped —
    // the last END, REPORT and span a moment after its caller got the answer.
    fnhost::TelemetryStats stats;
    CHECK(wait_until([&] {
      (void)host.flush_telemetry(absl::Seconds(60));
      stats = host.metrics().telemetry;
      return stats.log_records + stats.log_records_dropped == 3 * kInvocations &&
             stats.spans + stats.spans_dropped == kInvocations;
    }));
    CHECK(stats.queued == 0);
    CHECK(stats.log_records + stats.log_records_dropped == 3 * kInvocations);
    CHECK(stats.spans + stats.spans_dropped == kInvocations);
    if (with_observer) {
      // A caller gets its answer before the observers hear of the end: wait for the last one.
      REQUIRE(wait_until([&] { return observer->finished().size() == kInvocations; }));
      std::vector<std::string> started = observer->started();
      std::vector<std::string> finished = observer->finished();
      for (const std::string& id : started) CHECK_FALSE(id.empty());
      std::sort(started.begin(), started.end());
      std::sort(finished.begin(), finished.end());
      CHECK(std::adjacent_find(started.begin(), started.end()) == started.end());
      CHECK(finished == started);
    }
  }
}

// A host with START/END/REPORT records and every span, a telemetry queue of 4 and a log sink
// that is stuck until opened, on a manual executor: the test thread runs every invocation to
// its very end (its END, REPORT and span included), so no count moves behind its back.
struct GatedTelemetryHost {
  std::shared_ptr<fnhost::ManualExecutor> executor = std::make_shared<fnhost::ManualExecutor>();
  std::shared_ptr<GatedLogSink> sink = std::make_shared<GatedLogSink>();
  std::shared_ptr<fnhost::testing::CaptureSpanSink> spans =
      std::make_shared<fnhost::testing::CaptureSpanSink>();
  fnhost::Host host = fnhost::testing::make_host(options());

  fnhost::HostOptions options() const {
    fnhost::HostOptions result = fnhost::testing::manual_options(executor, sink);
    result.invocation_logs = true;
    result.tracing = {.span_sink = spans, .sample_ratio = 1.0};
    result.telemetry_queue_capacity = 4;
    return result;
  }
};

TEST_CASE(
    "an invocation admitted while the telemetry queue is full has START, END, REPORT and its "
    "span dropped, all counted as it starts",
    "[logs]") {
  GatedTelemetryHost gated;
  auto& [executor, sink, spans, host] = gated;
  REQUIRE(host.register_function({.name = "filler",
                                  .handler = [](const Event&, Context&) -> Result { return ""; }})
              .ok());
  // What the probe's handler sees of the drop counters, and its id.
  fnhost::TelemetryStats seen_inside;
  std::string probe_id;
  REQUIRE(host.register_function({.name = "probe",
                                  .handler = [&](const Event&, Context& ctx) -> Result {
                                    seen_inside = host.metrics().telemetry;
                                    probe_id = std::string(ctx.invocation_id());
                                    return "";
                                  }})
              .ok());
  // The first START sticks in the sink; later invocations fill the queue.
  REQUIRE(host.invoke_async("filler", {}).ok());
  executor->run_pending();
  REQUIRE(sink->wait_entered());
  for (int i = 0; i < 10; ++i) {
    REQUIRE(host.invoke_async("filler", {}).ok());
    executor->run_pending();
  }
  REQUIRE(host.metrics().telemetry.queued == 4);
  const fnhost::TelemetryStats before = host.metrics().telemetry;
  REQUIRE(host.invoke_async("probe", {}).ok());
  executor->run_pending();
  // Counted as it started: by the time its handler ran, all four were.
  CHECK(seen_inside.log_records_dropped == before.log_records_dropped + 3);
  CHECK(seen_inside.spans_dropped == before.spans_dropped + 1);
  sink->open();
  REQUIRE(host.flush_telemetry(absl::Seconds(60)));
  const fnhost::TelemetryStats after = host.metrics().telemetry;
  CHECK(after.log_records_dropped == before.log_records_dropped + 3);
  CHECK(after.spans_dropped == before.spans_dropped + 1);
  // None of its records reached the sinks.
  REQUIRE_FALSE(probe_id.empty());
  for (const std::string& message : sink->messages()) {
    CHECK(message.find(probe_id) == std::string::npos);
  }
  for (const auto& span : spans->spans()) CHECK(span.name != "probe");
}

TEST_CASE(
    "an invocation whose START finds the telemetry queue full has END, REPORT and its span "
    "dropped with it, and one whose END finds it full loses only those three",
    "[logs]") {
  GatedTelemetryHost gated;
  auto& [executor, sink, spans, host] = gated;
  // With the writer stuck, "pair" queues 2 items (START; END, REPORT and span as one) and
  // "three" 3 (its own record between them).
  REQUIRE(host.register_function({.name = "pair",
                                  .handler = [](const Event&, Context&) -> Result { return ""; }})
              .ok());
  REQUIRE(host.register_function({.name = "three",
                                  .handler = [](const Event&, Context& ctx) -> Result {
                                    ctx.log().info("one more");
                                    return "";
                                  }})
              .ok());
  // The second probe makes room while it runs (after its START was refused): its END, REPORT
  // and span must not be written all the same.
  std::vector<std::string> probe_ids;
  REQUIRE(host.register_function({.name = "probe",
                                  .handler = [&](const Event&, Context& ctx) -> Result {
                                    probe_ids.emplace_back(ctx.invocation_id());
                                    if (probe_ids.size() == 2) {
                                      sink->open();
                                      if (!host.flush_telemetry(absl::Seconds(60))) {
                                        return absl::InternalError("no flush");
                                      }
                                    }
                                    return "";
                                  }})
              .ok());
  REQUIRE(host.invoke_async("pair", {}).ok());
  executor->run_pending();
  REQUIRE(sink->wait_entered());
  // The writer may have taken the first END with its START: bring the queue to 3 of 4.
  const auto queued = [&] { return host.metrics().telemetry.queued; };
  if (queued() % 2 == 0) {
    REQUIRE(host.invoke_async("three", {}).ok());
    executor->run_pending();
  }
  while (queued() < 3) {
    REQUIRE(host.invoke_async("pair", {}).ok());
    executor->run_pending();
  }
  REQUIRE(queued() == 3);
  const fnhost::TelemetryStats before = host.metrics().telemetry;
  // Both admitted with room; the first one's START takes the last place, so its END finds none,
  // and the second one's START finds none (its END would).
  REQUIRE(host.invoke_async("probe", {}).ok());
  REQUIRE(host.invoke_async("probe", {}).ok());
  executor->run_pending();
  const fnhost::TelemetryStats after = host.metrics().telemetry;
  CHECK(after.log_records_dropped == before.log_records_dropped + 2 + 3);
  CHECK(after.spans_dropped == before.spans_dropped + 1 + 1);
  REQUIRE(host.flush_telemetry(absl::Seconds(60)));
  REQUIRE(probe_ids.size() == 2);
  std::vector<std::string> first_probe;
  for (const std::string& message : sink->messages()) {
    if (message.find(probe_ids[0]) != std::string::npos) first_probe.push_back(message);
    CHECK(message.find(probe_ids[1]) == std::string::npos);
  }
  REQUIRE(first_probe.size() == 1);
  CHECK(first_probe[0].rfind("START", 0) == 0);
  for (const auto& span : spans->spans()) CHECK(span.name != "probe");
}

TEST_CASE("records from one thread reach the sink in order, on the telemetry thread", "[logs]") {
  auto sink = std::make_shared<CaptureLogSink>();
  fnhost::Host host = fnhost::testing::make_host(fnhost::testing::quiet_options(4, sink));
  constexpr int kRecords = 500;
  REQUIRE(host.register_function({.name = "counter",
                                  .handler = [](const Event&, Context& ctx) -> Result {
                                    for (int i = 0; i < kRecords; ++i) ctx.log().info("{}", i);
                                    return "";
                                  }})
              .ok());
  REQUIRE(host.invoke("counter", {}).get().ok());
  REQUIRE(host.flush_telemetry());
  const std::vector<CapturedLogRecord> records = sink->records();
  REQUIRE(records.size() == kRecords);
  for (int i = 0; i < kRecords; ++i) {
    CHECK(records[i].message == std::to_string(i));
    CHECK(records[i].thread_name == "fnhost-export");
  }
}

TEST_CASE("log fields travel with the record, redacted like the message", "[logs]") {
  auto sink = std::make_shared<CaptureLogSink>();
  fnhost::Host host = fnhost::testing::make_host(fnhost::testing::quiet_options(4, sink));
  REQUIRE(host.register_function({.name = "upload",
                                  .handler = [](const Event&, Context& ctx) -> Result {
                                    const auto log = ctx.log().with("key", "cat.png");
                                    log.with("bytes", 1024).info("stored");
                                    log.with("token", *ctx.env("TOKEN")).warning("auth");
                                    return "";
                                  },
                                  .env = {{"TOKEN", "tok-secret"}},
                                  .secret_env = {"TOKEN"}})
              .ok());
  REQUIRE(host.invoke("upload", {}).get().ok());
  REQUIRE(host.flush_telemetry());
  const std::vector<CapturedLogRecord> records = sink->records();
  REQUIRE(records.size() == 2);
  using Fields = std::vector<std::pair<std::string, std::string>>;
  CHECK(records[0].fields == Fields{{"key", "cat.png"}, {"bytes", "1024"}});
  CHECK(records[1].fields == Fields{{"key", "cat.png"}, {"token", "[redacted]"}});
  CHECK(records[0].trace_id.empty());  // no tracing configured
}

TEST_CASE("format_log_record writes trace ids and fields in logfmt and JSON", "[logs]") {
  const LogField fields[] = {{"user", "alice smith"}, {"msg", "shadow"}, {"a b=c", "1"}, {"", "e"}};
  const LogRecord record{.time = absl::FromUnixSeconds(1'700'000'000),
                         .level = LogLevel::kWarning,
                         .function = "resize",
                         .invocation_id = "0a-1",
                         .message = "slow \"read\"",
                         .trace_id = "4bf92f3577b34da6a3ce929d0e0e4736",
                         .span_id = "00f067aa0ba902b7",
                         .fields = fields};
  CHECK(fnhost::format_log_record(record, LogFormat::kLogfmt) ==
        "time=2023-11-14T22:13:20.000000Z level=warning function=resize invocation_id=0a-1 "
        "trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7 "
        "msg=\"slow \\\"read\\\"\" user=\"alice smith\" field.msg=shadow a_b_c=1 _=e");
  CHECK(fnhost::format_log_record(record, LogFormat::kJson) ==
        "{\"time\":\"2023-11-14T22:13:20.000000Z\",\"level\":\"warning\",\"function\":\"resize\","
        "\"invocation_id\":\"0a-1\",\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\","
        "\"span_id\":\"00f067aa0ba902b7\",\"msg\":\"slow \\\"read\\\"\",\"user\":\"alice smith\","
        "\"field.msg\":\"shadow\",\"a_b_c\":\"1\",\"_\":\"e\"}");
  // Without trace ids or fields the line is as before.
  const LogRecord plain{.time = absl::FromUnixSeconds(0), .message = "hi"};
  CHECK(fnhost::format_log_record(plain, LogFormat::kLogfmt) ==
        "time=1970-01-01T00:00:00.000000Z level=info function=\"\" invocation_id=\"\" msg=hi");
}

TEST_CASE("telemetry_queue_capacity outside 1..1048576 is refused", "[logs]") {
  for (const int64_t capacity : {int64_t{0}, int64_t{-1}, (int64_t{1} << 20) + 1}) {
    INFO(capacity);
    fnhost::HostOptions options;
    options.telemetry_queue_capacity = capacity;
    const absl::StatusOr<fnhost::Host> host = fnhost::Host::create(std::move(options));
    REQUIRE(host.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(host.status().message().find("telemetry_queue_capacity") != std::string::npos);
  }
  fnhost::HostOptions largest = fnhost::testing::quiet_options(2);
  largest.telemetry_queue_capacity = int64_t{1} << 20;
  CHECK(fnhost::Host::create(std::move(largest)).ok());
}

TEST_CASE("TelemetryQueue: many producers, a bounded queue, every item written or refused",
          "[logs][stress]") {
  std::atomic<int64_t> ran{0};
  std::atomic<int64_t> refused{0};
  {
    fnhost::detail::TelemetryQueue queue(64);
    std::vector<std::thread> producers;
    for (int t = 0; t < 8; ++t) {
      producers.emplace_back([&] {
        for (int i = 0; i < 5000; ++i) {
          if (!queue.push([&ran] { ran.fetch_add(1); })) refused.fetch_add(1);
          if (i % 1000 == 0) (void)queue.flush(absl::Seconds(60));
        }
      });
    }
    for (std::thread& producer : producers) producer.join();
    REQUIRE(queue.flush(absl::Seconds(60)));
    CHECK(queue.written() == ran.load());
  }
  CHECK(ran.load() + refused.load() == 8 * 5000);
  CHECK(ran.load() > 0);
}

TEST_CASE("TelemetryQueue: has_room turns false when a push is refused and true once the writer "
          "takes",
          "[logs]") {
  std::atomic<bool> open{false};
  fnhost::detail::TelemetryQueue queue(2);
  CHECK(queue.has_room());
  // The writer takes the first item and sticks in it; the next two fill the queue.
  REQUIRE(queue.push([&open] {
    while (!open.load()) std::this_thread::yield();
  }));
  REQUIRE(wait_until([&] { return queue.queued() == 0; }));
  REQUIRE(queue.push([] {}));
  REQUIRE(queue.push([] {}));
  CHECK_FALSE(queue.push([] {}));
  CHECK_FALSE(queue.has_room());
  open.store(true);
  REQUIRE(queue.flush(absl::Seconds(60)));
  CHECK(queue.has_room());
}

TEST_CASE("TelemetryQueue: a queue of capacity 1 holds one item while the writer is busy",
          "[logs]") {
  // With a ring of one place, the place of an item not yet taken looked free to the next push,
  // which overwrote the item: it was neither written nor counted.
  std::atomic<bool> open{false};
  std::atomic<int> ran{0};
  {
    fnhost::detail::TelemetryQueue queue(1);
    REQUIRE(queue.push([&open] {
      while (!open.load()) std::this_thread::yield();
    }));
    REQUIRE(wait_until([&] { return queue.queued() == 0; }));
    REQUIRE(queue.push([&ran] { ran.fetch_add(1); }));
    CHECK(queue.queued() == 1);
    CHECK_FALSE(queue.push([&ran] { ran.fetch_add(100); }));
    CHECK_FALSE(queue.push([&ran] { ran.fetch_add(100); }));
    CHECK_FALSE(queue.has_room());
    open.store(true);
    REQUIRE(queue.flush(absl::Seconds(60)));
    CHECK(queue.written() == 2);
    // Room again, one item at a time.
    CHECK(queue.has_room());
    REQUIRE(queue.push([&ran] { ran.fetch_add(1); }));
    REQUIRE(queue.flush(absl::Seconds(60)));
  }
  CHECK(ran.load() == 2);
}

TEST_CASE("TelemetryQueue: has_room never stays false once the writer emptied the queue",
          "[logs][stress]") {
  // Refused pushes race the writer making room: whichever order they meet in, an empty queue
  // must not be left saying it is full (nothing would clear it: admission would drop every
  // invocation's records for good).
  fnhost::detail::TelemetryQueue queue(4);
  const int rounds = fnhost::testing::scaled(200, 50);
  for (int round = 0; round < rounds; ++round) {
    std::vector<std::thread> producers;
    for (int t = 0; t < 4; ++t) {
      producers.emplace_back([&] {
        for (int i = 0; i < 50; ++i) (void)queue.push([] {});
      });
    }
    for (std::thread& producer : producers) producer.join();
    REQUIRE(queue.flush(absl::Seconds(60)));
    REQUIRE(queue.queued() == 0);
    REQUIRE(queue.has_room());
  }
}

TEST_CASE("TelemetryQueue: items pushed by threads that take turns are written in turn order",
          "[logs][stress]") {
  constexpr int kThreads = 4;
  constexpr int kItems = 20'000;
  std::vector<int> written;
  written.reserve(kItems);
  {
    fnhost::detail::TelemetryQueue queue(64);
    std::atomic<int> turn{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int n = t; n < kItems; n += kThreads) {
          while (turn.load() != n) std::this_thread::yield();
          // Only the writer appends: no lock needed.
          while (!queue.push([&written, n] { written.push_back(n); })) {
            std::this_thread::yield();  // full: the writer frees places as it goes
          }
          turn.store(n + 1);
        }
      });
    }
    for (std::thread& thread : threads) thread.join();
    REQUIRE(queue.flush(absl::Seconds(60)));
  }
  REQUIRE(written.size() == kItems);
  int out_of_order = 0;
  for (int n = 0; n < kItems; ++n) out_of_order += written[static_cast<size_t>(n)] != n ? 1 : 0;
  CHECK(out_of_order == 0);
}

TEST_CASE("TelemetryQueue: stop drops what is queued and refuses pushes after it", "[logs]") {
  std::atomic<int> ran{0};
  fnhost::detail::TelemetryQueue queue(1024);
  std::mutex gate_mu;
  std::unique_lock<std::mutex> gate(gate_mu);
  std::atomic<bool> entered{false};
  REQUIRE(queue.push([&] {
    entered.store(true);
    std::lock_guard<std::mutex> wait_for_gate(gate_mu);
    ran.fetch_add(1);
  }));
  REQUIRE(wait_until([&] { return entered.load(); }));
  for (int i = 0; i < 5; ++i) REQUIRE(queue.push([&ran] { ran.fetch_add(1); }));
  CHECK(queue.queued() == 5);
  int64_t dropped = -1;
  std::thread stopper([&] { dropped = queue.stop(); });
  // Once stop() began, pushes are refused (the queue has room for far more than the probes
  // that may land before); it then waits for the item being written.
  int probes_queued = 0;
  REQUIRE(wait_until([&] {
    if (!queue.push([] {})) return true;
    ++probes_queued;
    return false;
  }));
  gate.unlock();
  stopper.join();
  CHECK(dropped == 5 + probes_queued);
  CHECK(ran.load() == 1);
  CHECK(queue.queued() == 0);
  CHECK_FALSE(queue.push([&ran] { ran.fetch_add(1); }));
}

TEST_CASE("the telemetry writer leaves when idle and comes back for the next record", "[logs]") {
  std::atomic<int> ran{0};
  fnhost::detail::TelemetryQueue queue(4);
  REQUIRE(queue.push([&ran] { ran.fetch_add(1); }));
  REQUIRE(queue.flush(absl::Seconds(60)));
  // The writer lingers a second, then leaves; a push after that starts another.
  REQUIRE(wait_until([&] { return fnhost::testing::count_threads_named("fnhost-export") == 0; }));
  REQUIRE(queue.push([&ran] { ran.fetch_add(1); }));
  REQUIRE(queue.flush(absl::Seconds(60)));
  CHECK(ran.load() == 2);
}

}  // namespace

namespace {

TEST_CASE("JSON log lines are valid UTF-8 whatever bytes the message holds", "[logs]") {
  const std::string message = std::string("ok \xC3\xA9 bad \xFF\xC3 end\x01", 17);
  const LogRecord record{.time = absl::FromUnixSeconds(0), .message = message};
  const std::string line = fnhost::format_log_record(record, LogFormat::kJson);
  CHECK(line.find("\"msg\":\"ok \xC3\xA9 bad \xEF\xBF\xBD\xEF\xBF\xBD end\\u0001\"") !=
        std::string::npos);
}

}  // namespace
