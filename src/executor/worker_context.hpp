// SPDX-License-Identifier: Apache-2.0
// What a task can learn about the AutoscalingExecutor worker running it, so the host can tell
// the executor that an invocation overran its deadline ("stuck") and capacity must be replaced.
#pragma once

#include <cstdint>

namespace fnhost::detail {

struct WorkerSlot;

// Identifies the task running on one worker. Empty when the caller is not a worker.
struct RunningTaskHandle {
  WorkerSlot* slot = nullptr;
  uint64_t task_seq = 0;
};

// The task the calling thread is running, if it is an AutoscalingExecutor worker.
RunningTaskHandle current_running_task();

// Declares the task identified by `handle` stuck: its worker stops counting as a running CPU,
// so the executor adds a thread if work waits. A no-op if that task already ended. The mark
// clears when the task returns. Thread-safe; never blocks.
void mark_task_stuck(const RunningTaskHandle& handle);

}  // namespace fnhost::detail
