// SPDX-License-Identifier: Apache-2.0
// File: fnhost/observability.hpp
// What a host tells about its invocations: an InvocationObserver sees each one admitted or
// refused, started, and finished (metrics, traces and metering plug in here); log records go to
// a LogSink.
//
// Log records and where they go. Every record carries the function name and the invocation id,
// so one invocation's lines can be found in a mixed log. The host writes a record when an
// asynchronous invocation fails, times out, or is dropped at shutdown, and when a late result
// arrives. The default sink writes one logfmt line per record to stderr.
//
//   auto sink = fnhost::make_stderr_log_sink(fnhost::LogFormat::kJson);
//   auto host = fnhost::Host::create({.log_sink = sink}).value();
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "fnhost/tracing.hpp"

namespace fnhost {

enum class LogLevel { kDebug, kInfo, kWarning, kError };

// "debug", "info", "warning", "error".
[[nodiscard]] std::string_view to_string(LogLevel level);

// A key/value pair a record carries beside its message (FunctionLog::with).
struct LogField {
  std::string_view key;
  std::string_view value;
};

// One log record. The views are valid only during LogSink::write.
struct LogRecord {
  absl::Time time;  // when it was written (by the handler or the host), not when the sink got it
  LogLevel level = LogLevel::kInfo;
  std::string_view function;       // function name; empty for host-level records
  std::string_view invocation_id;  // empty for host-level records
  std::string_view message;
  // The invocation's span (HostOptions::tracing), as 32 and 16 lowercase hex digits; empty
  // when the record belongs to no traced invocation.
  std::string_view trace_id;
  std::string_view span_id;
  std::span<const LogField> fields;
};

// Receives log records. The host queues records (HostOptions::telemetry_queue_capacity) and one
// host thread, "fnhost-export", calls write() in the order they were queued; a slow sink
// delays that thread only (when the queue is full, new records are dropped and counted in
// HostMetrics::telemetry). A sink shared by several hosts is called from each host's thread: it
// must be thread-safe. An exception it throws is caught and the record dropped.
class LogSink {
 public:
  virtual ~LogSink() = default;
  virtual void write(const LogRecord& record) = 0;
};

enum class LogFormat { kLogfmt, kJson };

// A sink that writes each record as one line to stderr, whole lines never interleaved.
[[nodiscard]] std::shared_ptr<LogSink> make_stderr_log_sink(LogFormat format = LogFormat::kLogfmt);

// Formats `record` as one line (no trailing newline) in `format`:
//   logfmt: time=... level=... function=... invocation_id=... [trace_id=... span_id=...]
//           msg=... [key=value ...]
//   JSON:   {"time":...,"level":...,"function":...,"invocation_id":...,["trace_id":...,
//           "span_id":...,]"msg":...[,"key":"value"...]}
// trace_id and span_id appear when set. A field's key is written with every byte outside
// [A-Za-z0-9_.-] as '_' (empty: "_"), and prefixed "field." when it is one of the names above.
// logfmt values are quoted (JSON escapes) when they hold a space, '=', '"' or a control byte.
[[nodiscard]] std::string format_log_record(const LogRecord& record, LogFormat format);

// How an invocation ended, as InvocationObserver::on_finished reports it.
enum class InvocationOutcome {
  kSuccess,    // the handler returned a value
  kError,      // the handler (or its instance's init) returned an error or threw
  kTimeout,    // it ran past its deadline (answered DeadlineExceeded)
  kCancelled,  // still running when shutdown's deadline passed (answered Unavailable)
  kDropped,    // never started: dropped by shutdown (or by an executor that refused to run it)
};

// "success", "error", "timeout", "cancelled", "dropped".
[[nodiscard]] std::string_view to_string(InvocationOutcome outcome);

// What observers are told. The views are valid only during the call.
struct AdmittedInvocation {
  std::string_view function;
  uint64_t number = 0;  // per function, from 1: the invocation's place among its admissions
  bool is_async = false;
};

struct RefusedInvocation {
  std::string_view function;  // as the caller gave it (may be long or not registered)
  absl::StatusCode code = absl::StatusCode::kOk;  // what the caller got
  bool is_async = false;
};

struct StartedInvocation {
  std::string_view function;
  int64_t version = 0;
  uint64_t number = 0;
  absl::Duration queue_wait;      // from admission to start
  std::string_view invocation_id;  // as Context::invocation_id() gives it
  const InvocationSpan* span = nullptr;  // its span with tracing on (HostOptions::tracing)
};

struct FinishedInvocation {
  std::string_view function;
  int64_t version = 0;  // 0 when it never started (kDropped)
  uint64_t number = 0;
  InvocationOutcome outcome = InvocationOutcome::kSuccess;
  absl::Duration duration;       // run time, init included; zero when it never started
  absl::Duration queue_wait;     // from admission to start (or to the drop)
  bool cold_start = false;       // it created its instance
  absl::Duration init_duration;  // the init it ran, when cold_start
  std::string_view invocation_id;  // as Context::invocation_id() gives it
  absl::Duration cpu_time;         // CPU time of the thread that ran it, init included
  int memory_mb = 0;               // FunctionSpec::memory_mb of the version it ran (0: dropped)
  bool is_async = false;
  int attempt = 1;                 // its event's attempt (retries count up from 1)
  absl::Time start_time;           // when it started (the host's clock); the drop for kDropped
  std::string_view error;          // the error it answered with; empty on success
  const InvocationSpan* span = nullptr;  // its span with tracing on; null if it never started
};

// Subscribes to every invocation of a host (HostOptions::observers). The defaults do nothing;
// override what you need. Calls come from the threads doing the work, concurrently: admission
// on the caller's thread, start and finish on the worker that ran the invocation (after the
// handler returned, also when the caller was already answered by a timeout or shutdown),
// drops on the thread that calls Host::shutdown(). Never on the host's timer thread. Keep them
// short and thread-safe; an exception they throw is caught and dropped. They (and log sinks)
// must not call the host's subscribe() or unsubscribe(): a publish notifies them while it holds
// the router's read lock, which those wait for. With no observer
// installed, the host does none of this work.
class InvocationObserver {
 public:
  virtual ~InvocationObserver() = default;
  virtual void on_admitted(const AdmittedInvocation& invocation) { (void)invocation; }
  virtual void on_refused(const RefusedInvocation& invocation) { (void)invocation; }
  virtual void on_started(const StartedInvocation& invocation) { (void)invocation; }
  virtual void on_finished(const FinishedInvocation& invocation) { (void)invocation; }
};

}  // namespace fnhost
