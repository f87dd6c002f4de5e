// SPDX-License-Identifier: Apache-2.0
// Internal (src/observability/host_observer.hpp).
// The host's own observers (metering, START/END/REPORT records, spans) sit on the same seam as
// a program's InvocationObservers, but are told the facts as the host holds them: steady-clock
// nanoseconds, not absl::Duration (whose conversions are out-of-line calls), and whether the
// invocation's records are kept, decided once as it starts. With everything on, this is most
// of what observability costs an invocation, so it is kept lean (the host calls each of its
// observers by its final type, so the calls can be inlined).
#pragma once

#include <cstdint>
#include <string_view>

#include "fnhost/observability.hpp"
#include "fnhost/tracing.hpp"

namespace fnhost::detail {

// One invocation as it starts (the first group of fields) or ends (all of them).
struct RunFacts {
  std::string_view function;
  int64_t version = 0;
  // Whether its records and span are queued: the telemetry queue had room as it started. When
  // not, they are all counted dropped, none built.
  bool keeps_records = false;
  // Empty unless its records are kept (or a program observer reads it).
  std::string_view invocation_id;
  // With tracing on, its span (ids drawn only when its records are kept); null otherwise.
  const InvocationSpan* span = nullptr;
  int64_t start_ns = 0;     // steady clock
  int64_t admitted_ns = 0;  // steady clock; 0 when nothing needed it

  // As it ends.
  InvocationOutcome outcome = InvocationOutcome::kSuccess;
  int64_t end_ns = 0;  // steady clock
  int64_t cpu_ns = 0;
  bool cold_start = false;
  int64_t init_ns = 0;
  int memory_mb = 0;
  bool is_async = false;
  int attempt = 1;
  std::string_view error;  // empty on success
};

class HostObserver {
 public:
  virtual ~HostObserver() = default;
  // On the worker, as the handler is about to run and after it returned (whoever answered).
  // run_started() returns whether the run's records are still kept (false: it dropped them, and
  // the later observers and run_finished() see keeps_records false).
  virtual bool run_started(const RunFacts& run) { return run.keeps_records; }
  virtual void run_finished(const RunFacts& run) = 0;
};

}  // namespace fnhost::detail
