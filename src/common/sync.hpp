// SPDX-License-Identifier: Apache-2.0
// Internal (src/common/sync.hpp).
// Thin, annotated wrappers over std::mutex and std::condition_variable, so clang's
// -Wthread-safety can check ABSL_GUARDED_BY data. fnhost does not use absl::Mutex: Debian's
// Abseil is not built for ThreadSanitizer, which then reports false races.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "absl/base/thread_annotations.h"

namespace fnhost::detail {

// Size that keeps hot atomics written by different threads on separate cache lines.
inline constexpr std::size_t kCacheLine = 64;

class ABSL_LOCKABLE Mutex {
 public:
  void lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void unlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }
  bool try_lock() ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true) { return mu_.try_lock(); }
  std::mutex& native() { return mu_; }

 private:
  std::mutex mu_;
};

class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex& mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) { mu_.lock(); }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex& mu_;
};

// One step of a spin loop: lets the sibling hyperthread run and saves power.
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

// Asks for the cache lines of [object, object + bytes) with intent to write, without waiting:
// for an object another thread wrote last, which this one is about to fill. The lines arrive
// while the caller does other work, rather than one miss at a time at the writes (or all at
// once at the next locked instruction, which waits for every pending store).
inline void prefetch_for_write(const void* object, size_t bytes) {
  const char* line = static_cast<const char*>(object);
  for (size_t offset = 0; offset < bytes; offset += kCacheLine) {
#if defined(__x86_64__)
    // PRFCHW: every x86-64 CPU in use has it, and older ones decode it as a no-op.
    asm volatile("prefetchw %0" : : "m"(*(line + offset)));
#else
    __builtin_prefetch(line + offset, 1);
#endif
  }
}

// Waiting for another thread that is a few instructions away from publishing something:
// pause-spin first (cheap, keeps the core), then yield (a preempted publisher needs our CPU).
class Backoff {
 public:
  void pause() {
    if (rounds_++ < kSpinRounds) {
#if defined(__x86_64__) || defined(__i386__)
      _mm_pause();
#endif
    } else {
      std::this_thread::yield();
    }
  }

 private:
  static constexpr int kSpinRounds = 128;
  int rounds_ = 0;
};

// A test-and-test-and-set lock for critical sections of a few instructions on hot paths (a
// pointer copy, a deque push). Unlike a futex mutex it never puts a contending thread to sleep,
// which would also make the executor see a blocked worker and add threads for nothing. Spins
// briefly, then yields, so a preempted holder costs its waiters a time slice, not a core.
class ABSL_LOCKABLE SpinLock {
 public:
  void lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() {
    Backoff backoff;
    while (locked_.load(std::memory_order_relaxed) ||
           locked_.exchange(true, std::memory_order_acquire)) {
      backoff.pause();
    }
  }
  void unlock() ABSL_UNLOCK_FUNCTION() { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

class ABSL_SCOPED_LOCKABLE SpinLockHolder {
 public:
  explicit SpinLockHolder(SpinLock& lock) ABSL_EXCLUSIVE_LOCK_FUNCTION(lock) : lock_(lock) {
    lock_.lock();
  }
  ~SpinLockHolder() ABSL_UNLOCK_FUNCTION() { lock_.unlock(); }
  SpinLockHolder(const SpinLockHolder&) = delete;
  SpinLockHolder& operator=(const SpinLockHolder&) = delete;

 private:
  SpinLock& lock_;
};

// Condition variable over detail::Mutex. The caller holds `mu` around every wait.
class CondVar {
 public:
  void wait(Mutex& mu) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::unique_lock<std::mutex> lock(mu.native(), std::adopt_lock);
    cv_.wait(lock);
    lock.release();
  }
  // Returns false when `deadline` passed without a notification.
  template <class Clock, class Dur>
  bool wait_until(Mutex& mu, std::chrono::time_point<Clock, Dur> deadline)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::unique_lock<std::mutex> lock(mu.native(), std::adopt_lock);
    const bool notified = cv_.wait_until(lock, deadline) == std::cv_status::no_timeout;
    lock.release();
    return notified;
  }
  void notify_one() { cv_.notify_one(); }
  void notify_all() { cv_.notify_all(); }

 private:
  std::condition_variable cv_;
};

}  // namespace fnhost::detail
