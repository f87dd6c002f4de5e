// SPDX-License-Identifier: Apache-2.0
// Sizes stress tests for the build: sanitizer builds run several times slower, so repetitions
// and loads shrink there to keep each case within a few seconds.
#pragma once

namespace fnhost::testing {

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif

// `normal` on an ordinary build, `sanitized` under ThreadSanitizer or AddressSanitizer.
inline constexpr int scaled(int normal, int sanitized) { return kSanitized ? sanitized : normal; }

}  // namespace fnhost::testing
