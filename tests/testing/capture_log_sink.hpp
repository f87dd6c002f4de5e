// SPDX-License-Identifier: Apache-2.0
// A LogSink fake that keeps copies of every record it receives, for tests that check what the
// host logged (and so tests do not write to stderr), and on which thread each was written.
#pragma once

#include <cstddef>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "fnhost/observability.hpp"
#include "testing/thread_names.hpp"

namespace fnhost::testing {

// An owned copy of a LogRecord (LogRecord's views die when write() returns).
struct CapturedLogRecord {
  absl::Time time;
  LogLevel level = LogLevel::kInfo;
  std::string function;
  std::string invocation_id;
  std::string message;
  std::string thread_name;  // the thread write() was called on
  std::string trace_id;
  std::string span_id;
  std::vector<std::pair<std::string, std::string>> fields;
};

// Thread-safe capturing sink.
class CaptureLogSink final : public LogSink {
 public:
  void write(const LogRecord& record) override {
    CapturedLogRecord copy{record.time,
                           record.level,
                           std::string(record.function),
                           std::string(record.invocation_id),
                           std::string(record.message),
                           current_thread_name(),
                           std::string(record.trace_id),
                           std::string(record.span_id),
                           {}};
    for (const LogField& field : record.fields) copy.fields.emplace_back(field.key, field.value);
    std::lock_guard<std::mutex> lock(mu_);
    records_.push_back(std::move(copy));
  }

  // A snapshot of the records written so far.
  [[nodiscard]] std::vector<CapturedLogRecord> records() const {
    std::lock_guard<std::mutex> lock(mu_);
    return records_;
  }

  [[nodiscard]] std::size_t size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return records_.size();
  }

  // How many records satisfy `predicate`.
  template <class Predicate>
  [[nodiscard]] std::size_t count_if(Predicate&& predicate) const {
    std::lock_guard<std::mutex> lock(mu_);
    std::size_t count = 0;
    for (const CapturedLogRecord& record : records_) {
      if (predicate(record)) ++count;
    }
    return count;
  }

  // Whether any record satisfies `predicate`.
  template <class Predicate>
  [[nodiscard]] bool any(Predicate&& predicate) const {
    return count_if(std::forward<Predicate>(predicate)) > 0;
  }

 private:
  mutable std::mutex mu_;
  std::vector<CapturedLogRecord> records_;
};

}  // namespace fnhost::testing
