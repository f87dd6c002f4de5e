// SPDX-License-Identifier: Apache-2.0
// The duration histogram (internal): its percentiles are within the documented 25% of the
// exact percentiles of known distributions, from 1 us to minutes.
#include "observability/histogram.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace {

using fnhost::detail::DurationHistogram;

// The nearest-rank percentile, as the histogram defines it.
int64_t exact_percentile(std::vector<int64_t> values, int per_mille) {
  std::sort(values.begin(), values.end());
  const auto count = static_cast<int64_t>(values.size());
  const int64_t rank = std::max<int64_t>(1, (count * per_mille + 999) / 1000);
  return values[static_cast<size_t>(rank - 1)];
}

void check_within_a_quarter(const std::vector<int64_t>& values) {
  DurationHistogram histogram;
  for (int64_t value : values) histogram.record(value);
  const DurationHistogram::Summary summary = histogram.summarize();
  CHECK(summary.count == static_cast<int64_t>(values.size()));
  CHECK(summary.max == *std::max_element(values.begin(), values.end()));
  const std::pair<int, int64_t> reported[] = {
      {500, summary.p50}, {900, summary.p90}, {990, summary.p99}};
  for (const auto& [per_mille, value] : reported) {
    const int64_t exact = exact_percentile(values, per_mille);
    INFO("p" << per_mille / 10.0 << ": reported " << value << " ns, exact " << exact << " ns");
    CHECK(static_cast<double>(value) >= static_cast<double>(exact) * 0.75);
    CHECK(static_cast<double>(value) <= static_cast<double>(exact) * 1.25);
  }
}

TEST_CASE("histogram percentiles are within 25% of the exact ones", "[histogram]") {
  std::mt19937_64 random(42);
  std::vector<int64_t> values;
  SECTION("uniform 1 us .. 1 ms") {
    std::uniform_int_distribution<int64_t> uniform(1'000, 1'000'000);
    for (int i = 0; i < 100'000; ++i) values.push_back(uniform(random));
  }
  SECTION("log-uniform 1 us .. 10 min") {
    std::uniform_real_distribution<double> exponent(std::log(1e3), std::log(6e11));
    for (int i = 0; i < 100'000; ++i) {
      values.push_back(static_cast<int64_t>(std::exp(exponent(random))));
    }
  }
  SECTION("exponential with a 50 us mean (a long tail)") {
    std::exponential_distribution<double> exponential(1.0 / 50'000);
    for (int i = 0; i < 100'000; ++i) {
      values.push_back(std::max<int64_t>(1'000, static_cast<int64_t>(exponential(random))));
    }
  }
  SECTION("one value") { values.assign(1'000, 123'456); }
  check_within_a_quarter(values);
}

TEST_CASE("an empty histogram summarizes to zeros", "[histogram]") {
  DurationHistogram histogram;
  const DurationHistogram::Summary summary = histogram.summarize();
  CHECK(summary.count == 0);
  CHECK(summary.p50 == 0);
  CHECK(summary.max == 0);
}

}  // namespace
