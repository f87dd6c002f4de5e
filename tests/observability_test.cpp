// SPDX-License-Identifier: Apache-2.0
// Tests for observability: log levels, record formatting (logfmt and JSON), the records the
// host writes, and the per-function counters.
#include <catch2/catch.hpp>

#include <atomic>
#include <cctype>
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "fnhost/host.hpp"
#include "fnhost/observability.hpp"
#include "testing/capture_log_sink.hpp"
#include "testing/gate.hpp"
#include "testing/host_helpers.hpp"
#include "testing/wait.hpp"

namespace {

using fnhost::Context;
using fnhost::Event;
using fnhost::LogFormat;
using fnhost::LogLevel;
using fnhost::LogRecord;
using fnhost::Result;
using fnhost::testing::CaptureLogSink;
using fnhost::testing::CapturedLogRecord;
using fnhost::testing::contains;
using fnhost::testing::describe;
using fnhost::testing::Gate;
using fnhost::testing::gated_handler;
using fnhost::testing::GateOpener;
using fnhost::testing::make_host;
using fnhost::testing::quiet_options;
using fnhost::testing::stats_of;
using fnhost::testing::wait_until;

// A strict little JSON reader: accepts exactly one JSON value (RFC 8259 grammar) and collects
// the top-level object's string members. Enough to prove format_log_record emits valid JSON.
class JsonReader {
 public:
  explicit JsonReader(std::string_view text) : text_(text) {}

  // Parses the whole text as one object; nullopt if it is not valid JSON or not an object.
  std::optional<std::map<std::string, std::string>> read_object() {
    skip_space();
    if (!object(/*top=*/true)) return std::nullopt;
    skip_space();
    if (pos_ != text_.size()) return std::nullopt;
    return strings_;
  }

 private:
  bool value() {
    skip_space();
    if (pos_ >= text_.size()) return false;
    const char c = text_[pos_];
    if (c == '{') return object(false);
    if (c == '[') return array();
    if (c == '"') return string(nullptr);
    if (c == '-' || std::isdigit(static_cast<unsigned char>(c))) return number();
    return literal("true") || literal("false") || literal("null");
  }
  bool object(bool top) {
    if (!eat('{')) return false;
    skip_space();
    if (eat('}')) return true;
    for (;;) {
      skip_space();
      std::string key;
      if (!string(&key)) return false;
      skip_space();
      if (!eat(':')) return false;
      skip_space();
      if (top && pos_ < text_.size() && text_[pos_] == '"') {
        std::string member;
        if (!string(&member)) return false;
        strings_[key] = member;
      } else if (!value()) {
        return false;
      }
      skip_space();
      if (eat('}')) return true;
      if (!eat(',')) return false;
    }
  }
  bool array() {
    if (!eat('[')) return false;
    skip_space();
    if (eat(']')) return true;
    for (;;) {
      if (!value()) return false;
      skip_space();
      if (eat(']')) return true;
      if (!eat(',')) return false;
    }
  }
  bool string(std::string* out) {
    if (!eat('"')) return false;
    while (pos_ < text_.size()) {
      const char c = text_[pos_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return false;  // raw control character
      if (c != '\\') {
        if (out) out->push_back(c);
        continue;
      }
      if (pos_ >= text_.size()) return false;
      const char escaped = text_[pos_++];
      switch (escaped) {
        case '"': case '\\': case '/':
          if (out) out->push_back(escaped);
          break;
        case 'b': if (out) out->push_back('\b'); break;
        case 'f': if (out) out->push_back('\f'); break;
        case 'n': if (out) out->push_back('\n'); break;
        case 'r': if (out) out->push_back('\r'); break;
        case 't': if (out) out->push_back('\t'); break;
        case 'u': {
          if (pos_ + 4 > text_.size()) return false;
          unsigned code = 0;
          for (int i = 0; i < 4; ++i) {
            const char h = text_[pos_++];
            if (!std::isxdigit(static_cast<unsigned char>(h))) return false;
            code = code * 16 + static_cast<unsigned>(std::isdigit(static_cast<unsigned char>(h))
                                                         ? h - '0'
                                                         : (std::tolower(h) - 'a' + 10));
          }
          if (out && code < 0x80) out->push_back(static_cast<char>(code));
          break;
        }
        default:
          return false;
      }
    }
    return false;
  }
  bool number() {
    const std::size_t start = pos_;
    eat('-');
    while (pos_ < text_.size() &&
           (std::isdigit(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '.' ||
            text_[pos_] == 'e' || text_[pos_] == 'E' || text_[pos_] == '+' || text_[pos_] == '-')) {
      ++pos_;
    }
    return pos_ > start;
  }
  bool literal(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }
  bool eat(char c) {
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  std::map<std::string, std::string> strings_;
};

LogRecord sample_record(LogLevel level, std::string_view message) {
  return LogRecord{.time = absl::FromUnixSeconds(1700000000),
                   .level = level,
                   .function = "resize",
                   .invocation_id = "7f3a9c10-000000000000002a",
                   .message = message};
}

TEST_CASE("to_string names every log level", "[observability]") {
  CHECK(fnhost::to_string(LogLevel::kDebug) == "debug");
  CHECK(fnhost::to_string(LogLevel::kInfo) == "info");
  CHECK(fnhost::to_string(LogLevel::kWarning) == "warning");
  CHECK(fnhost::to_string(LogLevel::kError) == "error");
}

TEST_CASE("format_log_record in logfmt has level, function, invocation id and a quoted message",
          "[observability]") {
  const std::string line =
      fnhost::format_log_record(sample_record(LogLevel::kError, "disk full now"),
                                LogFormat::kLogfmt);
  INFO(line);
  CHECK(contains(line, "level=error"));
  CHECK(contains(line, "function=resize"));
  CHECK(contains(line, "invocation_id=7f3a9c10-000000000000002a"));
  CHECK(contains(line, "msg=\"disk full now\""));
  CHECK_FALSE(contains(line, "\n"));
}

TEST_CASE("format_log_record in logfmt escapes quotes and keeps one line", "[observability]") {
  const std::string line = fnhost::format_log_record(
      sample_record(LogLevel::kWarning, "said \"no\"\nthen left"), LogFormat::kLogfmt);
  INFO(line);
  CHECK(contains(line, "level=warning"));
  CHECK(contains(line, "msg=\"said \\\"no\\\""));
  CHECK_FALSE(contains(line, "\n"));
}

TEST_CASE("format_log_record in JSON is one valid object with the record's fields",
          "[observability]") {
  const std::string message = "said \"no\" \\ then\nleft\ttab";
  const std::string line =
      fnhost::format_log_record(sample_record(LogLevel::kError, message), LogFormat::kJson);
  INFO(line);
  REQUIRE_FALSE(line.empty());
  CHECK(line.front() == '{');
  CHECK(line.back() == '}');
  CHECK_FALSE(contains(line, "\n"));
  CHECK(contains(line, "\\\"no\\\""));  // the quotes are escaped
  std::optional<std::map<std::string, std::string>> fields = JsonReader(line).read_object();
  REQUIRE(fields.has_value());
  CHECK((*fields)["level"] == "error");
  CHECK((*fields)["function"] == "resize");
  CHECK((*fields)["invocation_id"] == "7f3a9c10-000000000000002a");
  const bool has_msg = fields->count("msg") > 0;
  const bool has_message = fields->count("message") > 0;
  REQUIRE((has_msg || has_message));
  CHECK((*fields)[has_msg ? "msg" : "message"] == message);
}

TEST_CASE("format_log_record handles a host-level record without function or id",
          "[observability]") {
  LogRecord record{.time = absl::Now(), .level = LogLevel::kInfo, .message = "host started"};
  const std::string json = fnhost::format_log_record(record, LogFormat::kJson);
  INFO(json);
  CHECK(JsonReader(json).read_object().has_value());
  const std::string logfmt = fnhost::format_log_record(record, LogFormat::kLogfmt);
  INFO(logfmt);
  CHECK(contains(logfmt, "level=info"));
  CHECK(contains(logfmt, "msg=\"host started\""));
}

TEST_CASE("a failing async invocation writes an error record with its function and id",
          "[observability]") {
  auto sink = std::make_shared<CaptureLogSink>();
  fnhost::Host host = make_host(quiet_options(8, sink));
  REQUIRE(host
              .register_function({.name = "fails",
                                  .handler = [](const Event& event, Context&) -> Result {
                                    if (event.data == "throw") {
                                      throw std::runtime_error("thrown: printer on fire");
                                    }
                                    return absl::InternalError("returned: paper jam");
                                  },
                                  // Counts one attempt per event: no retries.
                                  .retry = {.max_attempts = 1}})
              .ok());
  auto record_for = [&sink](std::string_view text) {
    return sink->any([text](const CapturedLogRecord& record) {
      return (record.level == LogLevel::kError || record.level == LogLevel::kWarning) &&
             record.function == "fails" && !record.invocation_id.empty() &&
             contains(record.message, text);
    });
  };
  REQUIRE(host.invoke_async("fails", Event::with_data("return")).ok());
  REQUIRE(host.invoke_async("fails", Event::with_data("throw")).ok());
  CHECK(wait_until([&] { return stats_of(host, "fails").errors == 2; }));
  CHECK(wait_until([&] { return record_for("paper jam"); }));
  CHECK(wait_until([&] { return record_for("printer on fire"); }));
  // Two different invocations: two different ids.
  std::set<std::string> ids;
  for (const CapturedLogRecord& record : sink->records()) {
    if (record.function == "fails" &&
        (contains(record.message, "paper jam") || contains(record.message, "printer on fire"))) {
      ids.insert(record.invocation_id);
    }
  }
  CHECK(ids.size() == 2);
}

TEST_CASE("a timed-out async invocation and its late result are logged", "[observability]") {
  auto gate = std::make_shared<Gate>();
  auto sink = std::make_shared<CaptureLogSink>();
  fnhost::Host host = make_host(quiet_options(8, sink));
  GateOpener open_on_exit(gate);
  REQUIRE(host
              .register_function({.name = "late",
                                  .handler = [gate](const Event&, Context&) -> Result {
                                    gate->wait();
                                    return "";
                                  },
                                  .timeout = absl::Milliseconds(50)})
              .ok());
  REQUIRE(host.invoke_async("late", {}).ok());
  REQUIRE(wait_until([&] { return stats_of(host, "late").timeouts == 1; }));
  auto records_for_late = [&sink] {
    return sink->count_if([](const CapturedLogRecord& record) {
      return record.function == "late" && !record.invocation_id.empty();
    });
  };
  CHECK(wait_until([&] { return records_for_late() >= 1; }));
  gate->open();
  REQUIRE(wait_until([&] { return stats_of(host, "late").late_results == 1; }));
  CHECK(wait_until([&] { return records_for_late() >= 2; }));
}

TEST_CASE("a log sink that throws does not break the host", "[observability]") {
  struct ThrowingSink final : fnhost::LogSink {
    std::atomic<int> writes{0};
    void write(const LogRecord&) override {
      writes.fetch_add(1);
      throw std::runtime_error("sink down");
    }
  };
  auto sink = std::make_shared<ThrowingSink>();
  fnhost::Host host = make_host(quiet_options(2, sink));
  REQUIRE(host
              .register_function({.name = "fails",
                                  .handler = [](const Event&, Context&) -> Result {
                                    return absl::InternalError("logged into a broken sink");
                                  },
                                  // Counts one attempt per event: no retries.
                                  .retry = {.max_attempts = 1}})
              .ok());
  for (int i = 0; i < 5; ++i) REQUIRE(host.invoke_async("fails", {}).ok());
  CHECK(wait_until([&] { return stats_of(host, "fails").errors == 5; }));
  CHECK(wait_until([&] { return sink->writes.load() >= 5; }));
  REQUIRE(host.register_function(fnhost::testing::echo_spec("echo")).ok());
  CHECK(*host.invoke("echo", Event::with_data("still up")).get() == "still up");
}

TEST_CASE("FunctionStats counts each outcome", "[observability]") {
  fnhost::Host host = make_host();
  REQUIRE(host
              .register_function({.name = "mixed",
                                  .handler = [](const Event& event, Context&) -> Result {
                                    if (event.data == "error") {
                                      return absl::InvalidArgumentError("bad input");
                                    }
                                    if (event.data == "throw") throw std::runtime_error("boom");
                                    if (event.data == "throw42") throw 42;
                                    return "ok";
                                  },
                                  // Counts one attempt per event: no retries.
                                  .retry = {.max_attempts = 1}})
              .ok());
  fnhost::FunctionStats fresh = stats_of(host, "mixed");
  CHECK(fresh.name == "mixed");
  CHECK(fresh.version == 1);
  CHECK(fresh.invocations == 0);
  CHECK(fresh.duration.count == 0);

  for (const char* data : {"ok", "ok", "error", "throw"}) {
    (void)host.invoke("mixed", Event::with_data(data)).get();
  }
  for (const char* data : {"ok", "throw42", "error"}) {
    REQUIRE(host.invoke_async("mixed", Event::with_data(data)).ok());
  }
  // The counters settle when the last handler's outcome is recorded; the gauges may trail by
  // the few instructions that follow it, so wait for both.
  REQUIRE(wait_until([&] {
    const fnhost::FunctionStats stats = stats_of(host, "mixed");
    return stats.successes + stats.errors == 7 && stats.duration.count == 7 &&
           stats.in_flight == 0 && stats.queued == 0;
  }));
  const fnhost::FunctionStats stats = stats_of(host, "mixed");
  CHECK(stats.invocations == 7);
  CHECK(stats.successes == 3);
  CHECK(stats.errors == 4);
  CHECK(stats.throttles == 0);
  CHECK(stats.timeouts == 0);
  CHECK(stats.late_results == 0);
  CHECK(stats.dropped == 0);
  CHECK(stats.in_flight == 0);
  CHECK(stats.queued == 0);
  CHECK(stats.duration.count == 7);
  CHECK(stats.duration.p50 <= stats.duration.p90);
  CHECK(stats.duration.p90 <= stats.duration.p99);
  CHECK(stats.duration.p99 <= stats.duration.max);
}

TEST_CASE("FunctionStats gauges show running and waiting invocations", "[observability]") {
  auto gate = std::make_shared<Gate>();
  std::atomic<int> started{0};
  fnhost::Host host = make_host();
  GateOpener open_on_exit(gate);
  REQUIRE(host
              .register_function({
                  .name = "gauged",
                  .handler = gated_handler(gate, started),
                  .timeout = absl::Hours(1),
                  .max_concurrency = 2,
              })
              .ok());
  for (int i = 0; i < 5; ++i) REQUIRE(host.invoke_async("gauged", {}).ok());
  REQUIRE(wait_until([&] { return started.load() == 2; }));
  REQUIRE(wait_until([&] { return stats_of(host, "gauged").queued == 3; }));
  fnhost::FunctionStats busy = stats_of(host, "gauged");
  CHECK(busy.in_flight == 2);
  CHECK(busy.invocations == 5);
  CHECK(busy.instances == 2);
  CHECK(busy.duration.count == 0);
  gate->open();
  REQUIRE(wait_until([&] { return stats_of(host, "gauged").successes == 5; }));
  CHECK(wait_until([&] {
    const fnhost::FunctionStats stats = stats_of(host, "gauged");
    return stats.in_flight == 0 && stats.queued == 0;
  }));
  CHECK(stats_of(host, "gauged").duration.count == 5);
}

TEST_CASE("function_stats of an unknown function is NotFound", "[observability]") {
  fnhost::Host host = make_host();
  CHECK(host.function_stats("nobody").status().code() == absl::StatusCode::kNotFound);
}

}  // namespace

namespace {

TEST_CASE("oldest_queued_age is how long the oldest queued event has waited, zero when none is",
          "[observability][metrics]") {
  fnhost::testing::ClockedHost clocked;
  fnhost::Host& host = clocked.host;
  auto gate = std::make_shared<Gate>();
  fnhost::testing::GateOpener opener(gate);
  std::atomic<int> started{0};
  REQUIRE(host.register_function({.name = "slow",
                                  .handler = fnhost::testing::gated_handler(gate, started),
                                  .timeout = absl::Hours(1),
                                  .max_concurrency = 1})
              .ok());
  CHECK(fnhost::testing::stats_of(host, "slow").oldest_queued_age == absl::ZeroDuration());
  REQUIRE(host.invoke_async("slow", {}).ok());
  REQUIRE(wait_until([&] { return started.load() == 1; }));
  // One runs (held at the gate); the next three wait behind it.
  for (int i = 0; i < 3; ++i) REQUIRE(host.invoke_async("slow", {}).ok());
  clocked.clock->advance(absl::Seconds(5));
  const fnhost::FunctionStats waiting = fnhost::testing::stats_of(host, "slow");
  CHECK(waiting.queued == 3);
  CHECK(waiting.oldest_queued_age >= absl::Seconds(5));
  CHECK(waiting.oldest_queued_age < absl::Seconds(6));
  const std::string exposition = fnhost::prometheus_text(host.metrics());
  CHECK(exposition.find("fnhost_oldest_queued_age_seconds{function=\"slow\"} 5") !=
        std::string::npos);
  gate->open();
  REQUIRE(wait_until([&] { return fnhost::testing::stats_of(host, "slow").queued == 0; }));
  CHECK(fnhost::testing::stats_of(host, "slow").oldest_queued_age == absl::ZeroDuration());
}

}  // namespace
