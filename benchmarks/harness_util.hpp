// SPDX-License-Identifier: Apache-2.0
// File: benchmarks/harness_util.hpp
// Small measurement tools shared by the scenario harness (fnhost_harness): a monotonic clock in
// nanoseconds, a futex-backed one-shot signal with a timed wait, the completion counter every
// workload counts its tasks with, the payload tasks carry and its check, calibrated arithmetic
// work, processes that burn every CPU (contention from outside), the cache-line round trip
// between two CPUs, and process probes (CPU time, threads, RSS, heap). Nothing here measures
// anything by itself; see workloads.cpp.
#pragma once

#include <dirent.h>
#include <linux/futex.h>
#include <malloc.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

namespace fnhost::bench {

inline constexpr std::size_t kCacheLine = 64;

// Nanoseconds on the steady clock. Comparable across the threads of one process.
inline int64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// A one-shot signal: set() once from any thread; wait_for() blocks (futex, no spinning) until
// set or timeout. Used so the measuring thread does not steal a core while it waits.
class Signal {
 public:
  void set() {
    word_.store(1, std::memory_order_release);
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word_), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr,
            nullptr, 0);
  }
  [[nodiscard]] bool is_set() const { return word_.load(std::memory_order_acquire) == 1; }
  // Returns whether the signal was set before `timeout_ns` passed.
  bool wait_for(int64_t timeout_ns) {
    const int64_t deadline = now_ns() + timeout_ns;
    while (!is_set()) {
      const int64_t left = deadline - now_ns();
      if (left <= 0) return false;
      timespec ts{static_cast<time_t>(left / 1'000'000'000),
                  static_cast<long>(left % 1'000'000'000)};
      syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word_), FUTEX_WAIT_PRIVATE, 0, &ts, nullptr,
              0);
    }
    return true;
  }

 private:
  std::atomic<uint32_t> word_{0};
  static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));
};

// Counts finished tasks. The task that brings the count to `expected` stamps the end time and
// sets the signal, so the end time does not include the waiter's wake-up.
class Counter {
 public:
  explicit Counter(int64_t expected) : expected_(expected) {}
  void arrive() {
    // acq_rel: the last arriver must see the other tasks' writes (latency samples) and publish
    // them to the waiter through the signal.
    const int64_t n = done_.fetch_add(1, std::memory_order_acq_rel) + 1;
    if (n == expected_) {
      end_ns_.store(now_ns(), std::memory_order_relaxed);
      signal_.set();
    }
  }
  // Waits until `expected` tasks arrived; false on timeout (then some task was lost or hung).
  bool wait_for(int64_t timeout_ns) { return expected_ == 0 || signal_.wait_for(timeout_ns); }
  [[nodiscard]] int64_t done() const { return done_.load(std::memory_order_acquire); }
  [[nodiscard]] int64_t expected() const { return expected_; }
  [[nodiscard]] int64_t end_ns() const { return end_ns_.load(std::memory_order_relaxed); }

 private:
  alignas(kCacheLine) std::atomic<int64_t> done_{0};
  alignas(kCacheLine) const int64_t expected_;
  std::atomic<int64_t> end_ns_{0};
  Signal signal_;
};

// Tracks how many tasks run at once and the highest value seen.
class RunningGauge {
 public:
  void enter() {
    const int64_t now = running_.fetch_add(1, std::memory_order_relaxed) + 1;
    int64_t peak = peak_.load(std::memory_order_relaxed);
    while (now > peak && !peak_.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
    }
  }
  void leave() { running_.fetch_sub(1, std::memory_order_relaxed); }
  [[nodiscard]] int64_t peak() const { return peak_.load(std::memory_order_relaxed); }

 private:
  alignas(kCacheLine) std::atomic<int64_t> running_{0};
  alignas(kCacheLine) std::atomic<int64_t> peak_{0};
};

// The data a task carries in the payload-sized workloads (--payload): `bytes` bytes of
// kPayloadByte, built by the producer for each task as a real producer builds each event.
inline constexpr char kPayloadByte = 'x';
inline std::string make_payload(int64_t bytes) {
  return std::string(static_cast<std::size_t>(bytes), kPayloadByte);
}

// Reads the data each task carries (its size and first byte, so no compiler can drop the
// payload or its copy) and counts the tasks whose data is not what make_payload() built: a
// payload lost, truncated or delivered to the wrong task fails the measurement.
class PayloadCheck {
 public:
  explicit PayloadCheck(int64_t bytes) : bytes_(bytes) {}
  void touch(const std::string& data) {
    if (static_cast<int64_t>(data.size()) != bytes_ ||
        (!data.empty() && data.front() != kPayloadByte)) {
      wrong_.fetch_add(1, std::memory_order_relaxed);
    }
  }
  [[nodiscard]] int64_t bytes() const { return bytes_; }
  [[nodiscard]] int64_t wrong() const { return wrong_.load(std::memory_order_relaxed); }

 private:
  const int64_t bytes_;
  alignas(kCacheLine) std::atomic<int64_t> wrong_{0};
};

// Integer arithmetic that the compiler cannot remove: `iterations` steps of xorshift.
inline uint64_t spin_arithmetic(int64_t iterations) {
  uint64_t x = 0x9E3779B97F4A7C15ull ^ static_cast<uint64_t>(iterations);
  for (int64_t i = 0; i < iterations; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
  }
  asm volatile("" : : "r"(x) : "memory");
  return x;
}

// Iterations of spin_arithmetic per microsecond on this machine (median of several trials).
inline double calibrate_spin_per_us() {
  std::vector<double> rates;
  constexpr int64_t kIterations = 2'000'000;
  for (int trial = 0; trial < 7; ++trial) {
    const int64_t start = now_ns();
    spin_arithmetic(kIterations);
    const int64_t elapsed = std::max<int64_t>(1, now_ns() - start);
    rates.push_back(static_cast<double>(kIterations) * 1000.0 / static_cast<double>(elapsed));
  }
  std::sort(rates.begin(), rates.end());
  return rates[rates.size() / 2];
}

// `count` processes, each spinning on arithmetic (one per CPU: contention from outside the
// measured process, as another program on the machine). Each one ends at the first of: stop()
// or the destructor (SIGKILL, then reaped), `cap_s` seconds (its own clock and an alarm), or
// the death of the thread that created it (PR_SET_PDEATHSIG), so none can outlive the harness.
// Create it before the measured system starts threads: the forked child calls only
// async-signal-safe functions, but a single-threaded fork is the plain case.
class CpuBurners {
 public:
  CpuBurners(int count, double cap_s) {
    const pid_t parent = getpid();
    for (int i = 0; i < count; ++i) {
      const pid_t pid = fork();
      if (pid == 0) burn(parent, cap_s);
      if (pid < 0) break;
      pids_.push_back(pid);
    }
  }
  ~CpuBurners() { stop(); }
  CpuBurners(const CpuBurners&) = delete;
  CpuBurners& operator=(const CpuBurners&) = delete;

  // Processes started (fewer than asked if fork failed).
  [[nodiscard]] int started() const { return static_cast<int>(pids_.size()); }
  // Kills and reaps every burner. Idempotent.
  void stop() {
    for (const pid_t pid : pids_) kill(pid, SIGKILL);
    for (const pid_t pid : pids_) {
      while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
      }
    }
    pids_.clear();
  }

 private:
  [[noreturn]] static void burn(pid_t parent, double cap_s) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(0);  // the parent died before prctl() took effect
    // The cap holds even if the loop below were stopped from reading the clock.
    signal(SIGALRM, SIG_DFL);
    sigset_t alarm_only;
    sigemptyset(&alarm_only);
    sigaddset(&alarm_only, SIGALRM);
    sigprocmask(SIG_UNBLOCK, &alarm_only, nullptr);
    alarm(static_cast<unsigned>(cap_s) + 1);
    const int64_t deadline = now_ns() + static_cast<int64_t>(cap_s * 1e9);
    for (;;) {
      spin_arithmetic(100'000);
      if (now_ns() >= deadline) _exit(0);
    }
  }

  std::vector<pid_t> pids_;
};

// Process CPU time (user + system, all threads) in microseconds, from getrusage.
inline int64_t process_cpu_us() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return (int64_t{usage.ru_utime.tv_sec} + usage.ru_stime.tv_sec) * 1'000'000 +
         usage.ru_utime.tv_usec + usage.ru_stime.tv_usec;
}

// CPU time of every thread of this process except the calling one (exited threads included),
// in microseconds: what a pool costs while the measuring thread only sleeps. The measuring
// thread's own wake-ups are not the pool's (on a VM one costs tens of µs).
inline int64_t other_threads_cpu_us() {
  timespec process{};
  timespec self{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &process);
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &self);
  const auto micros = [](const timespec& t) {
    return int64_t{t.tv_sec} * 1'000'000 + t.tv_nsec / 1000;
  };
  return micros(process) - micros(self);
}

// Threads of this process now (entries of /proc/self/task).
inline int count_threads() {
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) return -1;
  int count = 0;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  closedir(dir);
  return count;
}

// Resident set size of this process in bytes (/proc/self/statm).
inline int64_t rss_bytes() {
  FILE* file = std::fopen("/proc/self/statm", "r");
  if (file == nullptr) return -1;
  long size = 0;
  long resident = 0;
  const int read = std::fscanf(file, "%ld %ld", &size, &resident);
  std::fclose(file);
  if (read != 2) return -1;
  return int64_t{resident} * sysconf(_SC_PAGESIZE);
}

// Bytes the malloc heap has handed out now (all arenas, plus mmapped chunks).
inline int64_t heap_bytes() {
  const struct mallinfo2 info = mallinfo2();
  return static_cast<int64_t>(info.uordblks + info.hblkhd);
}

// CPUs this process may run on.
inline int allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) {
    return static_cast<int>(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN)));
  }
  return CPU_COUNT(&set);
}

// The round trip of one cache line between the first two CPUs this process may run on, in
// nanoseconds (median of 5 trials of 20,000 round trips), or -1 with fewer than two CPUs. It
// tells where a VM's vCPUs sit: tens of ns for two hardware threads of one core, hundreds for
// separate cores or dies. Every hand-off between a producer and a worker pays it, and work on
// one hardware thread slows its sibling, so it explains why one machine ranks systems unlike
// another of the same size.
inline double cpu_round_trip_ns() {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0 || CPU_COUNT(&allowed) < 2) return -1;
  int pair[2] = {-1, -1};
  for (int cpu = 0, found = 0; cpu < CPU_SETSIZE && found < 2; ++cpu) {
    if (CPU_ISSET(cpu, &allowed)) pair[found++] = cpu;
  }
  const auto pin = [](int cpu) {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    return sched_setaffinity(0, sizeof(one), &one) == 0;
  };
  constexpr int kRoundTrips = 20'000;
  std::vector<double> trials;
  for (int trial = 0; trial < 5; ++trial) {
    alignas(kCacheLine) std::atomic<int> turn{0};
    std::atomic<bool> pinned{true};
    std::thread echo([&] {
      if (!pin(pair[1])) pinned.store(false);
      for (int i = 0; i < kRoundTrips; ++i) {
        while (turn.load(std::memory_order_acquire) != 2 * i + 1) {
        }
        turn.store(2 * i + 2, std::memory_order_release);
      }
    });
    cpu_set_t before;
    sched_getaffinity(0, sizeof(before), &before);
    if (!pin(pair[0])) pinned.store(false);
    const int64_t start = now_ns();
    for (int i = 0; i < kRoundTrips; ++i) {
      turn.store(2 * i + 1, std::memory_order_release);
      while (turn.load(std::memory_order_acquire) != 2 * i + 2) {
      }
    }
    const int64_t elapsed = now_ns() - start;
    echo.join();
    sched_setaffinity(0, sizeof(before), &before);
    if (!pinned.load()) return -1;
    trials.push_back(static_cast<double>(elapsed) / kRoundTrips);
  }
  std::sort(trials.begin(), trials.end());
  return trials[trials.size() / 2];
}

// Restricts this process (and the children it starts later) to the first `cpus` CPUs it may
// run on now. Returns false if that fails or `cpus` is more than there are.
inline bool restrict_to_cpus(int cpus) {
  cpu_set_t current;
  CPU_ZERO(&current);
  if (sched_getaffinity(0, sizeof(current), &current) != 0) return false;
  if (cpus <= 0 || cpus > CPU_COUNT(&current)) return false;
  cpu_set_t wanted;
  CPU_ZERO(&wanted);
  int taken = 0;
  for (int cpu = 0; cpu < CPU_SETSIZE && taken < cpus; ++cpu) {
    if (CPU_ISSET(cpu, &current)) {
      CPU_SET(cpu, &wanted);
      ++taken;
    }
  }
  return sched_setaffinity(0, sizeof(wanted), &wanted) == 0;
}

// Percentile `p` (0..100) of `values`, which it sorts. 0 for an empty vector.
inline double percentile(std::vector<int64_t>& values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const double rank = p / 100.0 * static_cast<double>(values.size() - 1);
  const auto index = static_cast<std::size_t>(rank + 0.5);
  return static_cast<double>(values[std::min(index, values.size() - 1)]);
}

}  // namespace fnhost::bench
