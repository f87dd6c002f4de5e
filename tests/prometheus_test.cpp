// SPDX-License-Identifier: Apache-2.0
// Host::metrics() and prometheus_text(): the snapshot agrees with the per-part readers, and the
// exposition has every family once with HELP and TYPE, exact samples, cumulative histogram
// buckets, and escaped, valid UTF-8 label values. (promtool checks a sample of it too: see
// tests/tools/metrics_sample.cpp.)
#include <algorithm>
#include <cstdint>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "fnhost/fnhost.hpp"
#include "testing/host_helpers.hpp"
#include "testing/wait.hpp"

namespace {

using fnhost::DurationSummary;
using fnhost::FunctionStats;
using fnhost::HostMetrics;
using fnhost::prometheus_text;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

bool has_line(const std::string& text, const std::string& line) {
  const std::vector<std::string> lines = lines_of(text);
  return std::find(lines.begin(), lines.end(), line) != lines.end();
}

TEST_CASE("prometheus_text writes each family once, with HELP and TYPE, and exact samples",
          "[metrics]") {
  HostMetrics metrics;
  FunctionStats resize;
  resize.name = "resize";
  resize.invocations = 12;
  resize.errors = 2;
  resize.queued = 3;
  resize.duration.count = 4;
  resize.duration.sum = absl::Milliseconds(1500);
  resize.duration.buckets.assign(fnhost::kDurationBucketBounds.size() + 1, 0);
  // Two at 2 ms, one at 40 ms, one at 2 s: cumulative from the 2.5 ms bound on.
  for (size_t i = 0; i < fnhost::kDurationBucketBounds.size(); ++i) {
    const absl::Duration bound = fnhost::kDurationBucketBounds[i];
    resize.duration.buckets[i] = (bound >= absl::Milliseconds(2) ? 2 : 0) +
                                 (bound >= absl::Milliseconds(40) ? 1 : 0) +
                                 (bound >= absl::Seconds(2) ? 1 : 0);
  }
  resize.duration.buckets.back() = 4;
  metrics.functions.push_back(resize);
  metrics.executor.threads = 5;
  metrics.executor.spawned = 9;
  metrics.router.published = 7;
  metrics.triggers.push_back(
      {.id = 42, .pattern = "uploads/+", .function = "resize", .delivered = 6, .throttled = 1});
  metrics.schedules.push_back(
      {.id = 43, .expression = "rate(1 minute)", .function = "resize", .fired = 2, .missed = 1});

  const std::string text = prometheus_text(metrics);
  CHECK(has_line(text, R"(fnhost_invocations_total{function="resize"} 12)"));
  CHECK(has_line(text, R"(fnhost_errors_total{function="resize"} 2)"));
  CHECK(has_line(text, R"(fnhost_queue_depth{function="resize"} 3)"));
  CHECK(has_line(text, "# TYPE fnhost_queue_depth gauge"));
  CHECK(has_line(text, "# TYPE fnhost_duration_seconds histogram"));
  CHECK(has_line(text, R"(fnhost_duration_seconds_bucket{function="resize",le="0.001"} 0)"));
  CHECK(has_line(text, R"(fnhost_duration_seconds_bucket{function="resize",le="0.0025"} 2)"));
  CHECK(has_line(text, R"(fnhost_duration_seconds_bucket{function="resize",le="0.05"} 3)"));
  CHECK(has_line(text, R"(fnhost_duration_seconds_bucket{function="resize",le="2.5"} 4)"));
  CHECK(has_line(text, R"(fnhost_duration_seconds_bucket{function="resize",le="+Inf"} 4)"));
  CHECK(has_line(text, R"(fnhost_duration_seconds_sum{function="resize"} 1.5)"));
  CHECK(has_line(text, R"(fnhost_duration_seconds_count{function="resize"} 4)"));
  CHECK(has_line(text, "fnhost_executor_threads 5"));
  CHECK(has_line(text, "fnhost_executor_spawned_total 9"));
  CHECK(has_line(text, "fnhost_router_published_total 7"));
  CHECK(has_line(
      text,
      R"(fnhost_trigger_delivered_total{trigger="42",function="resize",pattern="uploads/+"} 6)"));
  CHECK(has_line(
      text,
      R"(fnhost_trigger_throttled_total{trigger="42",function="resize",pattern="uploads/+"} 1)"));
  CHECK(has_line(
      text,
      R"x(fnhost_schedule_missed_total{schedule="43",function="resize",expression="rate(1 minute)"} 1)x"));

  // Every family: HELP then TYPE, once each, before its samples; counters end in _total.
  std::map<std::string, int> helps;
  std::map<std::string, std::string> types;
  for (const std::string& line : lines_of(text)) {
    if (line.rfind("# HELP ", 0) == 0) {
      ++helps[line.substr(7, line.find(' ', 7) - 7)];
    } else if (line.rfind("# TYPE ", 0) == 0) {
      const std::string rest = line.substr(7);
      const std::string name = rest.substr(0, rest.find(' '));
      CHECK(types.count(name) == 0);
      types[name] = rest.substr(rest.find(' ') + 1);
      CHECK(helps[name] == 1);
    } else {
      REQUIRE_FALSE(line.empty());
      const std::string name = line.substr(0, line.find_first_of("{ "));
      const bool known = types.count(name) != 0 ||
                         (name.size() > 7 && types.count(name.substr(0, name.rfind('_'))) != 0);
      INFO(line);
      CHECK(known);
    }
  }
  CHECK(types.size() >= 40);
  for (const auto& [name, type] : types) {
    INFO(name);
    CHECK((type == "counter" || type == "gauge" || type == "histogram"));
    if (type == "counter") CHECK(name.size() > 6);
    if (type == "counter") CHECK(name.substr(name.size() - 6) == "_total");
  }
}

TEST_CASE("prometheus_text escapes label values and keeps them valid UTF-8", "[metrics]") {
  HostMetrics metrics;
  metrics.triggers.push_back({.id = 1,
                              .pattern = "a\"b\\c\nd/\xc3\xa9/\xff\xfe/\xe2\x82/+",
                              .function = "f",
                              .delivered = 3});
  const std::string text = prometheus_text(metrics);
  // Quote, backslash and newline escaped; é kept; 0xff, 0xfe and a truncated sequence each
  // replaced by U+FFFD.
  CHECK(has_line(text, "fnhost_trigger_delivered_total{trigger=\"1\",function=\"f\",pattern="
                       "\"a\\\"b\\\\c\\nd/\xc3\xa9/\xef\xbf\xbd\xef\xbf\xbd/"
                       "\xef\xbf\xbd\xef\xbf\xbd/+\"} 3"));
}

TEST_CASE("Host::metrics agrees with the per-part readers", "[metrics]") {
  fnhost::Host host = fnhost::testing::make_host();
  REQUIRE(host.register_function({.name = "echo",
                                  .handler = [](const fnhost::Event& event,
                                                fnhost::Context&) -> fnhost::Result {
                                    if (event.data == "bad") return absl::InternalError("bad");
                                    return event.data;
                                  }})
              .ok());
  REQUIRE(host.register_function({.name = "another",
                                  .handler = [](const fnhost::Event&,
                                                fnhost::Context&) -> fnhost::Result { return ""; }})
              .ok());
  REQUIRE(host.subscribe({.pattern = "in/#", .function = "echo"}).ok());
  for (int i = 0; i < 10; ++i) {
    (void)host.invoke("echo", fnhost::Event::with_data(i < 3 ? "bad" : "ok")).get();
  }
  REQUIRE(host.publish({.topic = "in/x", .data = "ok"}).ok());
  REQUIRE(fnhost::testing::wait_until(
      [&] { return fnhost::testing::stats_of(host, "echo").events_succeeded == 1; }));

  const HostMetrics metrics = host.metrics();
  REQUIRE(metrics.functions.size() == 2);
  CHECK(metrics.functions[0].name == "another");  // by name
  const FunctionStats& echo = metrics.functions[1];
  CHECK(echo.name == "echo");
  CHECK(echo.invocations == 11);
  CHECK(echo.errors == 3);
  CHECK(echo.successes == 8);
  const DurationSummary& duration = echo.duration;
  CHECK(duration.count == 11);
  REQUIRE(duration.buckets.size() == fnhost::kDurationBucketBounds.size() + 1);
  CHECK(std::is_sorted(duration.buckets.begin(), duration.buckets.end()));
  CHECK(duration.buckets.back() == duration.count);
  CHECK(duration.sum > absl::ZeroDuration());
  CHECK(duration.sum <= duration.max * duration.count);
  CHECK(metrics.router.published == 1);
  REQUIRE(metrics.triggers.size() == 1);
  CHECK(metrics.triggers[0].delivered == 1);
  CHECK(metrics.executor.spawned >= 1);
  CHECK(has_line(prometheus_text(metrics), R"(fnhost_invocations_total{function="echo"} 11)"));
}

}  // namespace
