// SPDX-License-Identifier: Apache-2.0
// File: fnhost/metering.hpp
// Metering: what each function's invocations cost, as Lambda bills them. With
// HostOptions::metering.enabled, every invocation that starts is metered when it ends:
// one request, its billed duration (its run time, init included, rounded up to the next whole
// millisecond, at least 1 ms), GB-seconds (billed duration × memory_mb / 1024), and the CPU
// time of the thread that ran it. Host::cost_report() sums them per function since the host
// was created; CostReport::since() turns two reports into the window between them.
//
//   fnhost::CostReport before = host.cost_report();
//   ... traffic ...
//   fnhost::CostReport window = host.cost_report().since(before);
//   for (const fnhost::FunctionCost& f : window.functions) print(f.function, f.cost);
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace fnhost {

struct MeteringOptions {
  bool enabled = false;
  // Prices the cost figures use (defaults: Lambda's x86 prices in us-east-1). >= 0.
  double price_per_gb_second = 0.0000166667;
  double price_per_million_requests = 0.20;
};

struct FunctionCost {
  std::string function;
  int64_t requests = 0;            // invocations that started and ended
  absl::Duration duration;         // their run time, init included
  absl::Duration billed_duration;  // each rounded up to a whole millisecond (>= 1 ms)
  double gb_seconds = 0;           // sum of billed duration × memory_mb / 1024
  absl::Duration cpu_time;         // CPU time of the threads that ran them
  double cost = 0;                 // gb_seconds × price_per_gb_second + requests × price / 1e6
};

struct CostReport {
  absl::Time start;  // the window: from the host's creation (or the earlier report, since())
  absl::Time end;    // to when the report was taken (the host's clock)
  std::vector<FunctionCost> functions;  // every function metered in the window, by name
  FunctionCost total;                   // the sum; function is empty
  // The window from `earlier` (a report of the same host) to this one: each function's
  // figures minus what `earlier` had (a function absent from `earlier` counts from zero;
  // one with no request in the window is left out).
  [[nodiscard]] CostReport since(const CostReport& earlier) const;
};

}  // namespace fnhost
