// SPDX-License-Identifier: Apache-2.0
// Test helpers for executors.
#pragma once

#include <catch2/catch.hpp>
#include <memory>
#include <utility>

#include "fnhost/executor.hpp"

namespace fnhost::testing {

// An AutoscalingExecutor with `options`; the test fails (with create()'s status) if it cannot be
// made.
inline std::unique_ptr<AutoscalingExecutor> make_executor(ExecutorOptions options) {
  auto created = AutoscalingExecutor::create(std::move(options));
  INFO("create(): " << created.status().ToString());
  REQUIRE(created.ok());
  return std::move(created).value();
}

}  // namespace fnhost::testing
