// SPDX-License-Identifier: Apache-2.0
// File: fnhost/observability.hpp
// Log records and where they go. Every record carries the function name and the invocation id,
// so one invocation's lines can be found in a mixed log. The host writes a record when an
// asynchronous invocation fails, times out, or is dropped at shutdown, and when a late result
// arrives. The default sink writes one logfmt line per record to stderr.
//
//   auto sink = fnhost::make_stderr_log_sink(fnhost::LogFormat::kJson);
//   auto host = fnhost::Host::create({.log_sink = sink}).value();
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/time/time.h"

namespace fnhost {

enum class LogLevel { kDebug, kInfo, kWarning, kError };

// "debug", "info", "warning", "error".
[[nodiscard]] std::string_view to_string(LogLevel level);

// One log record. The views are valid only during LogSink::write.
struct LogRecord {
  absl::Time time;
  LogLevel level = LogLevel::kInfo;
  std::string_view function;       // function name; empty for host-level records
  std::string_view invocation_id;  // empty for host-level records
  std::string_view message;
};

// Receives log records. write() may be called from several threads at once; it must be
// thread-safe and should not block for long. An exception it throws is caught and dropped.
class LogSink {
 public:
  virtual ~LogSink() = default;
  virtual void write(const LogRecord& record) = 0;
};

enum class LogFormat { kLogfmt, kJson };

// A sink that writes each record as one line to stderr, whole lines never interleaved.
[[nodiscard]] std::shared_ptr<LogSink> make_stderr_log_sink(LogFormat format = LogFormat::kLogfmt);

// Formats `record` as one line (no trailing newline) in `format`.
[[nodiscard]] std::string format_log_record(const LogRecord& record, LogFormat format);

}  // namespace fnhost
