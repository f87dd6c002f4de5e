// SPDX-License-Identifier: Apache-2.0
// Status messages more than one part of the host gives, worded once.
#pragma once

#include <exception>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "fmt/format.h"
#include "host/host_internal.hpp"

namespace fnhost::detail {

inline absl::Status not_registered(std::string_view name) {
  return absl::NotFoundError(fmt::format("function {} is not registered", quoted(name)));
}

inline absl::Status unavailable_after_shutdown(std::string_view what) {
  return absl::UnavailableError(fmt::format("host is shutting down: {} not accepted", what));
}

// What a caught exception says: what() for std::exception, a placeholder otherwise.
inline std::string describe_exception(std::exception_ptr exception) {
  try {
    std::rethrow_exception(std::move(exception));
  } catch (const std::exception& error) {
    return error.what();
  } catch (...) {
    return "unknown exception (not derived from std::exception)";
  }
}

}  // namespace fnhost::detail
