// SPDX-License-Identifier: Apache-2.0
// File: fnhost/redis/stream_writer.hpp
// A destination that writes events to a Redis stream: `register_stream_writer` registers a
// function whose handler XADDs the event it receives (its data, attributes and extensions as
// fields; see the README's field mapping) and returns the new entry's id. Point a function's
// destination at it (`.on_success = {.function = "results"}`) or invoke it directly.
//
//   absl::Status ok = fnhost::redis::register_stream_writer(
//       host, "results", {.server = {.port = 6379}, .stream = "results", .max_len = 100000});
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "fnhost/host.hpp"
#include "fnhost/redis/stream_trigger.hpp"

namespace fnhost::redis {

// Configuration of a stream writer. Field order is API: append only.
struct StreamWriterOptions {
  ServerOptions server;
  // The stream to XADD to. Not empty, at most 1024 bytes.
  std::string stream;
  // When > 0, each XADD trims the stream to about this many entries (MAXLEN ~ n; exactly n
  // with `exact_trim`). 0: no trimming. >= 0.
  int64_t max_len = 0;
  bool exact_trim = false;
  // The writer function's reserved concurrency (each running instance holds one connection).
  // 1..1024.
  int max_concurrency = 8;
  // Retries of a failed XADD (the host's, after the function's RetryPolicy).
  RetryPolicy retry;
};

// Registers function `name` that XADDs each event it is given to `options.stream` and returns
// the entry id. Each instance opens its own connection (in its init); a lost connection fails
// the invocation with Unavailable (retried by the host) and is made again by the next one.
// InvalidArgument for a bad option (naming the field) or name; AlreadyExists for a taken name;
// Unavailable after shutdown. Thread-safe.
[[nodiscard]] absl::Status register_stream_writer(Host& host, std::string_view name,
                                                  StreamWriterOptions options);

}  // namespace fnhost::redis
