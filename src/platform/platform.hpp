// SPDX-License-Identifier: Apache-2.0
// The one place that knows the operating system: threads with a chosen stack size, name and
// priority, the CPUs this process may use (affinity mask and cgroup CPU quota), and per-thread
// scheduler statistics. Every function has a
// portable fallback, so the library builds and behaves correctly where Linux's extras are
// missing, only with less precise blocked-thread detection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"

namespace fnhost::detail::platform {

// CPUs this process may keep busy, at least 1: the CPUs in its affinity mask, lowered to the
// cgroup v2 CPU quota rounded up (ceil(quota / period), as Go and .NET do) when the process's
// cgroup or one of its ancestors has one. A container limited to 1.5 CPUs on a 64-CPU host
// gets 2, not 64: more computing threads than that would only be throttled.
int available_cpus();

// Pure parsers behind available_cpus(), separate so tests can feed them strings.
//
// The CPUs allowed by a cgroup v2 `cpu.max` file ("<quota> <period>", quota "max" for no limit):
// ceil(quota / period), at least 1. nullopt for "max" and for anything unparsable (a malformed
// file must not limit the executor).
std::optional<int> cpus_from_cgroup_cpu_max(std::string_view cpu_max);
// The cgroup v2 path of the process from the text of /proc/self/cgroup (the "0::<path>" line),
// e.g. "/system.slice/app.service"; nullopt when there is no v2 entry.
std::optional<std::string> cgroup_v2_path(std::string_view proc_self_cgroup);

// Monotonic time in nanoseconds (steady clock).
int64_t now_ns();
// The same clock read coarsely: at most a scheduler tick (a few ms) behind now_ns(), at a
// fraction of its cost. For timestamps that only have to be right to milliseconds.
int64_t coarse_now_ns();

// Wall time (Unix ns) minus steady time (now_ns()), as of a moment at most 100 ms of steady
// time before `steady_ns` (kept per thread): turns a steady time into wall time without two
// clock reads each time. A wall clock step shows within 100 ms.
int64_t wall_minus_steady_ns(int64_t steady_ns);

// The kernel's id of the calling thread (gettid on Linux), or 0 where there is none.
int64_t current_thread_id();

// Names the calling thread (truncated to the platform's limit).
void set_current_thread_name(const std::string& name);

// The calling thread's nice value (-20..19 on Linux, where nice is per thread), or nullopt where
// threads have no nice value of their own or it cannot be read.
std::optional<int> current_thread_nice();

// Sets the calling thread's nice value; returns whether it took effect. Raising it (lower
// priority) is always allowed on Linux; lowering it needs CAP_SYS_NICE or RLIMIT_NICE. A no-op
// returning false where threads have no nice value of their own.
bool set_current_thread_nice(int nice);

// Makes the calling thread run only when a CPU has nothing else to run (SCHED_IDLE on Linux,
// which any thread may ask for; else nice 19): for work that must never delay invocations.
// Returns whether either took effect.
bool set_current_thread_background();

// A joinable thread. Move-only; must be joined before destruction.
class Thread {
 public:
  Thread() = default;
  Thread(Thread&& other) noexcept;
  Thread& operator=(Thread&& other) noexcept;
  ~Thread();

  // Starts `body` on a new thread with `stack_size` bytes of stack (0 = default).
  // ResourceExhausted when the system refuses a thread.
  [[nodiscard]] absl::Status start(std::size_t stack_size, absl::AnyInvocable<void()> body);
  [[nodiscard]] bool joinable() const { return started_; }
  void join();

 private:
  bool started_ = false;
  std::uintptr_t handle_ = 0;
  // Owned here, not by the thread: a worker that never allocates then never frees either, and
  // so never makes glibc set up a malloc arena for it (a 128 MiB reservation and a few
  // syscalls) just to exit.
  std::unique_ptr<absl::AnyInvocable<void()>> body_;
};

// A handle on the calling thread's CPU-time clock, for ThreadProbe::open; 0 where there is
// none.
int64_t current_thread_cpu_clock();
// The calling thread's CPU time so far, in nanoseconds; 0 where it cannot be read.
int64_t current_thread_cpu_ns();

// Observes another thread of this process: its CPU time (exact, also while it runs) and
// whether it is runnable now (running or waiting for a CPU) rather than sleeping or blocked.
// Together they tell a blocked thread (little CPU, not runnable) from a preempted one (little
// CPU, runnable). On Linux the state comes from /proc/self/task/<tid>/stat, kept open.
// Elsewhere available() is false and callers fall back to a progress watchdog.
class ThreadProbe {
 public:
  ThreadProbe() = default;
  ThreadProbe(const ThreadProbe&) = delete;
  ThreadProbe& operator=(const ThreadProbe&) = delete;
  ~ThreadProbe();

  // Starts observing thread `tid` with CPU clock `cpu_clock`, closing any previous one.
  // Returns available().
  bool open(int64_t tid, int64_t cpu_clock);
  void close();
  [[nodiscard]] bool available() const { return fd_ >= 0; }
  // The thread's cumulative CPU time; false if it could not be read.
  bool cpu_time_ns(int64_t& cpu_ns) const;
  // True if the thread is running or runnable; false if it sleeps, waits, or is unreadable.
  [[nodiscard]] bool is_runnable() const;
  // True if the thread sleeps waiting for a contended glibc lock (a pthread or std::mutex,
  // the allocator's arena lock): waiting its turn on a lock other threads take too, not
  // blocked in I/O or on a condition. False if it is not, or if that cannot be read.
  [[nodiscard]] bool waits_for_lock() const;

 private:
  int fd_ = -1;
  int64_t tid_ = 0;
  int64_t cpu_clock_ = 0;
};

// The parser behind ThreadProbe::waits_for_lock, separate so tests can feed it strings: the
// contents of /proc/<pid>/task/<tid>/syscall ("<number> <arg1> <arg2> <arg3> ..." in hex, or
// "running"). True for a futex wait on a glibc low-level lock in its "locked, with waiters"
// state (FUTEX_WAIT with the value 2).
bool syscall_waits_for_lock(std::string_view syscall_line);

}  // namespace fnhost::detail::platform
