// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "absl/status/status.h"

// Returns the status of `expr` from the enclosing function when it is not OK.
// Abseil 20220623 ships no public equivalent.
#define FNHOST_RETURN_IF_ERROR(expr)                  \
  do {                                                \
    ::absl::Status fnhost_status_ = (expr);           \
    if (!fnhost_status_.ok()) return fnhost_status_;  \
  } while (false)
