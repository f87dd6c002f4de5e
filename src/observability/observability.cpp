// SPDX-License-Identifier: Apache-2.0
#include "fnhost/observability.hpp"

#include <cstdio>
#include <memory>
#include <string>

#include "fmt/format.h"
#include "common/sync.hpp"

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

// Appends `value` as a JSON string body (without quotes).
void append_json_escaped(std::string& out, std::string_view value) {
  for (char c : value) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += fmt::format("\\u{:04x}", static_cast<unsigned>(static_cast<unsigned char>(c)));
        } else {
          out += c;
        }
    }
  }
}

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

std::string format_log_record(const LogRecord& record, LogFormat format) {
  const std::string time =
      absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", record.time, absl::UTCTimeZone());
  std::string out;
  out.reserve(96 + record.message.size());
  if (format == LogFormat::kJson) {
    out += "{\"time\":\"";
    out += time;
    out += "\",\"level\":\"";
    out += to_string(record.level);
    out += "\",\"function\":\"";
    append_json_escaped(out, record.function);
    out += "\",\"invocation_id\":\"";
    append_json_escaped(out, record.invocation_id);
    out += "\",\"msg\":\"";
    append_json_escaped(out, record.message);
    out += "\"}";
    return out;
  }
  out += "time=";
  out += time;
  out += " level=";
  out += to_string(record.level);
  out += " function=";
  append_logfmt_value(out, record.function);
  out += " invocation_id=";
  append_logfmt_value(out, record.invocation_id);
  out += " msg=";
  append_logfmt_value(out, record.message);
  return out;
}

std::shared_ptr<LogSink> make_stderr_log_sink(LogFormat format) {
  return std::make_shared<StderrLogSink>(format);
}

}  // namespace fnhost
