// SPDX-License-Identifier: Apache-2.0
// Regression tests for the name -> function lookup table as it grows: the host's table starts
// with 16 entries (src/host/function_table.hpp) and doubles when half full; functions
// registered across several growths stay reachable, also for lookups racing the growth.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "fnhost/host.hpp"
#include "testing/host_helpers.hpp"
#include "testing/wait.hpp"

namespace {

using fnhost::Event;
using fnhost::Result;
using fnhost::testing::make_host;
using fnhost::testing::wait_until;

// The table's first block (FunctionTable's initial capacity).
constexpr int kFirstBlock = 16;

std::string name_of(int index) { return "fn-" + std::to_string(index); }

TEST_CASE("functions registered past the table's first block stay reachable during growth",
          "[function_table][regression]") {
  const int functions = 3 * kFirstBlock * GENERATE(1, 4);
  constexpr int kReaders = 3;
  fnhost::Host host = make_host();
  std::atomic<int> registered{0};
  std::atomic<bool> done{false};
  std::atomic<int> lookups{0};
  std::atomic<int> failures{0};
  std::atomic<int> wrong_answers{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < kReaders; ++r) {
    readers.emplace_back([&, r] {
      std::mt19937 random(static_cast<unsigned>(r));
      while (!done.load()) {
        const int count = registered.load();
        if (count == 0) {
          std::this_thread::yield();
          continue;
        }
        const int index = std::uniform_int_distribution<int>(0, count - 1)(random);
        lookups.fetch_add(1);
        if (!host.has_function(name_of(index))) failures.fetch_add(1);
        const Result result = host.invoke(name_of(index), Event::with_data(name_of(index))).get();
        if (!result.ok()) {
          failures.fetch_add(1);
        } else if (*result != name_of(index)) {
          wrong_answers.fetch_add(1);
        }
      }
    });
  }
  int registration_failures = 0;
  for (int i = 0; i < functions; ++i) {
    if (!host.register_function(fnhost::testing::echo_spec(name_of(i))).ok()) {
      ++registration_failures;
    }
    registered.store(i + 1);
    // Interleave: let the readers look up the names so far before the next insert (which may
    // grow the table under them).
    const int seen = lookups.load();
    wait_until([&] { return lookups.load() >= seen + kReaders; });
  }
  done.store(true);
  for (std::thread& reader : readers) reader.join();

  CHECK(registration_failures == 0);
  CHECK(lookups.load() > 0);
  CHECK(failures.load() == 0);
  CHECK(wrong_answers.load() == 0);
  std::vector<std::string> expected;
  int unreachable = 0;
  for (int i = 0; i < functions; ++i) {
    expected.push_back(name_of(i));
    const Result result = host.invoke(name_of(i), Event::with_data("x" + name_of(i))).get();
    if (!host.has_function(name_of(i)) || !result.ok() || *result != "x" + name_of(i)) {
      ++unreachable;
    }
  }
  CHECK(unreachable == 0);
  std::sort(expected.begin(), expected.end());
  CHECK(host.function_names() == expected);
  CHECK(host.function_stats(name_of(functions - 1)).ok());
  CHECK(host.function_stats(name_of(functions)).status().code() == absl::StatusCode::kNotFound);
}

}  // namespace
