// SPDX-License-Identifier: Apache-2.0
#include "fnhost/observability.hpp"

#include <cstdio>
#include <memory>
#include <string>

#include "fmt/format.h"
#include "common/sync.hpp"
#include "observability/json_text.hpp"

namespace fnhost {

std::string_view to_string(InvocationOutcome outcome) {
  switch (outcome) {
    case InvocationOutcome::kSuccess:
      return "success";
    case InvocationOutcome::kError:
      return "error";
    case InvocationOutcome::kTimeout:
      return "timeout";
    case InvocationOutcome::kCancelled:
      return "cancelled";
    case InvocationOutcome::kDropped:
      return "dropped";
  }
  return "unknown";
}

std::string_view to_string(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "unknown";
}

namespace {

using detail::append_json_escaped;

// logfmt: bare when the value has no space, quote, '=' or control character; quoted with
// JSON-style escapes otherwise.
void append_logfmt_value(std::string& out, std::string_view value) {
  bool needs_quotes = value.empty();
  for (char c : value) {
    if (c == ' ' || c == '"' || c == '=' || static_cast<unsigned char>(c) < 0x20) {
      needs_quotes = true;
      break;
    }
  }
  if (!needs_quotes) {
    out += value;
    return;
  }
  out += '"';
  append_json_escaped(out, value);
  out += '"';
}

class StderrLogSink final : public LogSink {
 public:
  explicit StderrLogSink(LogFormat format) : format_(format) {}
  void write(const LogRecord& record) override {
    std::string line = format_log_record(record, format_);
    line += '\n';
    // One fwrite per line under a lock: lines from concurrent invocations never interleave.
    detail::MutexLock lock(mu_);
    std::fwrite(line.data(), 1, line.size(), stderr);
  }

 private:
  const LogFormat format_;
  detail::Mutex mu_;
};

}  // namespace

namespace {

// A field key as a logfmt/JSON key: bytes outside [A-Za-z0-9_.-] become '_', and a key that
// would shadow one of the record's own names is prefixed "field.".
std::string field_key(std::string_view key) {
  static constexpr std::string_view kReserved[] = {"time",     "level",   "function", "invocation_id",
                                                   "trace_id", "span_id", "msg"};
  std::string out;
  for (std::string_view reserved : kReserved) {
    if (key == reserved) out = "field.";
  }
  if (key.empty()) return "_";
  for (char c : key) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                       (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
    out += plain ? c : '_';
  }
  return out;
}

void append_json_member(std::string& out, std::string_view key, std::string_view value) {
  out += ",\"";
  out += key;
  out += "\":\"";
  append_json_escaped(out, value);
  out += '"';
}

void append_logfmt_member(std::string& out, std::string_view key, std::string_view value) {
  out += ' ';
  out += key;
  out += '=';
  append_logfmt_value(out, value);
}

}  // namespace

std::string format_log_record(const LogRecord& record, LogFormat format) {
  const std::string time =
      absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", record.time, absl::UTCTimeZone());
  std::string out;
  out.reserve(128 + record.message.size());
  const bool json = format == LogFormat::kJson;
  const auto member = json ? &append_json_member : &append_logfmt_member;
  if (json) {
    out += "{\"time\":\"";
    out += time;
    out += '"';
  } else {
    out += "time=";
    out += time;
  }
  member(out, "level", to_string(record.level));
  member(out, "function", record.function);
  member(out, "invocation_id", record.invocation_id);
  if (!record.trace_id.empty()) member(out, "trace_id", record.trace_id);
  if (!record.span_id.empty()) member(out, "span_id", record.span_id);
  member(out, "msg", record.message);
  for (const LogField& field : record.fields) member(out, field_key(field.key), field.value);
  if (json) out += '}';
  return out;
}

std::shared_ptr<LogSink> make_stderr_log_sink(LogFormat format) {
  return std::make_shared<StderrLogSink>(format);
}

}  // namespace fnhost
