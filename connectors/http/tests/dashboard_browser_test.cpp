// SPDX-License-Identifier: Apache-2.0
// The dashboard in a real browser: headless chromium loads `/` from a running gateway, the page
// polls and draws, and the numbers in its DOM must be the ones /api/dashboard and
// host.metrics() report. The screenshot is kept at <build>/artifacts/dashboard.png.
// Chromium is required: without it these cases fail and say how to install it.
#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "dashboard_workload.hpp"
#include "gateway_fixture.hpp"
#include "headless_chromium.hpp"
#include "testing/wait.hpp"

namespace fnhost::http {
namespace {

using nlohmann::json;
using testing::ChromiumRun;
using testing::describe;
using testing::GatewayFixture;

// Page time for the page to load, poll a few times and draw; fetches pause it, so a slow
// (sanitizer) build still gets its answers in.
constexpr std::chrono::milliseconds kPageTime{3000};
// Wall time for the whole browser run, start-up included.
constexpr std::chrono::seconds kBrowserTimeout{180};

std::filesystem::path require_chromium() {
  std::optional<std::filesystem::path> chromium = testing::find_chromium();
  if (!chromium) {
    FAIL(
        "chromium is not on PATH: the dashboard's browser tests need Debian's `chromium` "
        "package (scripts/install-deps.sh installs it)");
  }
  return *chromium;
}

ChromiumRun load_page(const std::string& url,
                      std::optional<std::filesystem::path> screenshot = std::nullopt) {
  ChromiumRun run = testing::run_headless_chromium(require_chromium(), url, std::move(screenshot),
                                                   kPageTime, kBrowserTimeout);
  const std::string log_tail =
      run.log.size() > 4000 ? run.log.substr(run.log.size() - 4000) : run.log;
  INFO("chromium's stderr (end):\n" << log_tail);
  REQUIRE(run.started);
  REQUIRE_FALSE(run.timed_out);
  REQUIRE(run.exit_code == 0);
  REQUIRE_FALSE(run.dom.empty());
  return run;
}

// --- Reading the dumped DOM: the page marks what tests read with data attributes ------------

// The value of attribute `name` in the first tag that starts with `tag_start`.
std::optional<std::string> attribute_of(std::string_view dom, std::string_view tag_start,
                                        std::string_view name) {
  const size_t tag = dom.find(tag_start);
  if (tag == std::string_view::npos) return std::nullopt;
  const std::string_view open_tag = dom.substr(tag, dom.find('>', tag) - tag);
  const std::string key = " " + std::string(name) + "=\"";
  const size_t at = open_tag.find(key);
  if (at == std::string_view::npos) return std::nullopt;
  const size_t begin = at + key.size();
  return std::string(open_tag.substr(begin, open_tag.find('"', begin) - begin));
}

// The text of the element whose open tag starts with `tag_start` (no nested elements).
std::optional<std::string> text_of(std::string_view dom, std::string_view tag_start) {
  const size_t tag = dom.find(tag_start);
  if (tag == std::string_view::npos) return std::nullopt;
  const size_t begin = dom.find('>', tag) + 1;
  return std::string(dom.substr(begin, dom.find('<', begin) - begin));
}

// The HTML of the table row of function `name`.
std::string row_of(std::string_view dom, const std::string& name) {
  const std::string open = "<tr data-function=\"" + name + "\"";
  const size_t begin = dom.find(open);
  if (begin == std::string_view::npos) return "";
  return std::string(dom.substr(begin, dom.find("</tr>", begin) - begin));
}

struct Cell {
  std::string text;
  std::string value;  // data-value: the number as the JSON had it
};

std::optional<Cell> cell_of(const std::string& row, const std::string& column) {
  const std::string open = "<td data-column=\"" + column + "\"";
  std::optional<std::string> text = text_of(row, open);
  std::optional<std::string> value = attribute_of(row, open, "data-value");
  if (!text || !value) return std::nullopt;
  return Cell{*text, *value};
}

std::string without_commas(std::string text) {
  std::erase(text, ',');
  return text;
}

bool is_formatted_duration(const std::string& text) {
  for (std::string_view unit : {" µs", " ms", " s"}) {
    if (text.ends_with(unit) && text.size() > unit.size()) {
      const std::string digits = text.substr(0, text.size() - unit.size());
      return digits.find_first_not_of("0123456789.") == std::string::npos;
    }
  }
  return false;
}

// Every cell of every function's row against the JSON the page polls.
void check_rows_match(const std::string& dom, const json& data) {
  for (const json& function : data.at("functions")) {
    const std::string name = function.at("name");
    INFO("function " << name);
    const std::string row = row_of(dom, name);
    REQUIRE_FALSE(row.empty());
    CHECK(text_of(row, "<td data-column=\"name\"") == name);
    for (const char* column : {"invocations", "errors", "throttles", "timeouts",
                               "concurrent_executions", "queue_depth"}) {
      INFO("column " << column);
      const std::optional<Cell> cell = cell_of(row, column);
      REQUIRE(cell.has_value());
      const std::string expected = std::to_string(function.at(column).get<int64_t>());
      CHECK(cell->value == expected);
      CHECK(without_commas(cell->text) == expected);
    }
    for (const char* column : {"p50_ms", "p99_ms"}) {
      INFO("column " << column);
      const std::optional<Cell> cell = cell_of(row, column);
      REQUIRE(cell.has_value());
      if (function.at(column).is_null()) {
        CHECK(cell->value.empty());
        CHECK(cell->text == "–");
      } else {
        CHECK(std::stod(cell->value) == Approx(function.at(column).get<double>()));
        CHECK(is_formatted_duration(cell->text));
      }
    }
  }
}

// The JSON the page showed against the host's own snapshot (the workload holds still).
void check_json_matches_host(const json& data, const HostMetrics& metrics) {
  REQUIRE(data.at("functions").size() == metrics.functions.size());
  for (size_t i = 0; i < metrics.functions.size(); ++i) {
    const FunctionStats& stats = metrics.functions[i];
    const json& function = data.at("functions")[i];
    INFO("function " << stats.name);
    CHECK(function.at("name") == stats.name);
    CHECK(function.at("invocations") == stats.invocations);
    CHECK(function.at("errors") == stats.errors);
    CHECK(function.at("throttles") == stats.throttles);
    CHECK(function.at("timeouts") == stats.timeouts);
    CHECK(function.at("concurrent_executions") == stats.in_flight);
    CHECK(function.at("queue_depth") == stats.queued);
  }
}

// A PNG of the window's size with more in it than a blank page.
void check_screenshot(const std::filesystem::path& path) {
  INFO("screenshot " << path);
  REQUIRE(std::filesystem::exists(path));
  const std::string png = fnhost::testing::read_file(path);
  CHECK(png.size() > 20 * 1024);
  REQUIRE(png.size() > 24);
  CHECK(png.substr(0, 8) == "\x89PNG\r\n\x1a\n");
  auto big_endian = [&](size_t at) {
    uint32_t value = 0;
    for (size_t i = 0; i < 4; ++i) value = (value << 8) | static_cast<unsigned char>(png[at + i]);
    return value;
  };
  CHECK(big_endian(16) == 1280);  // IHDR width
  CHECK(big_endian(20) == 900);   // IHDR height
}

TEST_CASE("in a headless browser the dashboard shows the numbers the host reports",
          "[http][dashboard][browser]") {
  HostOptions host_options = fnhost::testing::quiet_options(8);
  // Idle workers leave soon, so the thread chart shows the burst's rise and fall.
  host_options.executor_options.idle_timeout = absl::Milliseconds(300);
  GatewayFixture fixture({.dashboard_refresh = absl::Milliseconds(200)}, std::move(host_options));
  testing::DashboardWorkload workload(fixture.host);
  auto client = fixture.client();
  // Let the chart gather the fall after the burst too (the history only grows: no timing
  // assertion, just more to draw).
  REQUIRE(fnhost::testing::wait_until([&] {
    httplib::Result result = client->Get("/api/dashboard");
    return result && json::parse(result->body).at("executor_history").size() >= 12;
  }));

  const std::filesystem::path artifacts = FNHOST_HTTP_ARTIFACTS_DIR;
  std::filesystem::create_directories(artifacts);
  const std::filesystem::path screenshot = artifacts / "dashboard.png";
  std::filesystem::remove(screenshot);
  const ChromiumRun run =
      load_page(fmt::format("http://127.0.0.1:{}/", fixture.gateway->port()), screenshot);
  INFO("DOM:\n" << run.dom);

  httplib::Result api = client->Get("/api/dashboard");
  INFO(describe(api));
  REQUIRE(api);
  const json data = json::parse(api->body);
  check_json_matches_host(data, fixture.host.metrics());

  CHECK(attribute_of(run.dom, "<body", "data-state") == "live");
  CHECK(std::stoi(attribute_of(run.dom, "<body", "data-polls").value_or("0")) >= 1);
  check_rows_match(run.dom, data);
  // The workload's known numbers, as the page shows them.
  CHECK(cell_of(row_of(run.dom, "greet"), "invocations")->text == "5");
  CHECK(cell_of(row_of(run.dom, "flaky"), "errors")->text == "3");
  CHECK(cell_of(row_of(run.dom, "sleepy"), "timeouts")->text == "1");
  CHECK(cell_of(row_of(run.dom, "held"), "throttles")->text == "1");
  CHECK(cell_of(row_of(run.dom, "held"), "concurrent_executions")->text == "1");
  CHECK(cell_of(row_of(run.dom, "held"), "queue_depth")->text == "2");
  CHECK(cell_of(row_of(run.dom, "burst"), "invocations")->text == "24");
  CHECK(cell_of(row_of(run.dom, "idle"), "p50_ms")->text == "–");
  // The summary cards add the rows up.
  int64_t invocations = 0;
  for (const json& function : data.at("functions"))
    invocations += function.at("invocations").get<int64_t>();
  CHECK(text_of(run.dom, "<div class=\"value\" id=\"total-invocations\"") ==
        std::to_string(invocations));
  CHECK(text_of(run.dom, "<div class=\"value\" id=\"total-errors\"") == "3");
  // The chart: an area and a line per series.
  CHECK(run.dom.find("<polyline class=\"threads\"") != std::string::npos);
  CHECK(run.dom.find("<polyline class=\"busy\"") != std::string::npos);

  check_screenshot(screenshot);
  std::cout << "dashboard screenshot: " << screenshot.string() << "\n";
  workload.release();
}

TEST_CASE("in a headless browser the dashboard asks for a bearer token and takes it from #token=",
          "[http][dashboard][browser][auth]") {
  GatewayFixture fixture({.bearer_token = "dash-s3cret"});
  REQUIRE(fixture.host.register_function(fnhost::testing::echo_spec("greet")).ok());
  for (int i = 0; i < 2; ++i)
    REQUIRE(fixture.host.invoke("greet", Event::with_data("x")).get().ok());
  const std::string root = fmt::format("http://127.0.0.1:{}/", fixture.gateway->port());

  SECTION("without the token: the token form, no numbers") {
    const ChromiumRun run = load_page(root);
    INFO("DOM:\n" << run.dom);
    CHECK(attribute_of(run.dom, "<body", "data-state") == "unauthorized");
    CHECK(run.dom.find("data-function=") == std::string::npos);
    CHECK(text_of(run.dom, "<div class=\"value\" id=\"total-invocations\"") == "–");
  }
  SECTION("with #token=: the numbers, and the token gone from the address") {
    const ChromiumRun run = load_page(root + "#token=dash-s3cret");
    INFO("DOM:\n" << run.dom);
    CHECK(attribute_of(run.dom, "<body", "data-state") == "live");
    CHECK(cell_of(row_of(run.dom, "greet"), "invocations")->text == "2");
  }
}

}  // namespace
}  // namespace fnhost::http
