// SPDX-License-Identifier: Apache-2.0
#include "platform/platform.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <thread>
#include <utility>

#if defined(__linux__)
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "fmt/format.h"

namespace fnhost::detail::platform {

int available_cpus() {
#if defined(__linux__)
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int count = CPU_COUNT(&set);
    if (count > 0) return count;
  }
#endif
  const unsigned hardware = std::thread::hardware_concurrency();
  return hardware > 0 ? static_cast<int>(hardware) : 1;
}

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int64_t current_thread_id() {
#if defined(__linux__)
  return static_cast<int64_t>(::syscall(SYS_gettid));
#else
  return 0;
#endif
}

void set_current_thread_name(const std::string& name) {
#if defined(__linux__)
  // Linux limits names to 15 characters plus the terminator.
  const std::string truncated = name.substr(0, 15);
  pthread_setname_np(pthread_self(), truncated.c_str());
#else
  (void)name;
#endif
}

#if defined(__linux__)
namespace {
void* thread_entry(void* argument) {
  (*static_cast<absl::AnyInvocable<void()>*>(argument))();
  return nullptr;
}
}  // namespace

absl::Status Thread::start(std::size_t stack_size, absl::AnyInvocable<void()> body) {
  if (started_) return absl::FailedPreconditionError("thread already started");
  pthread_attr_t attributes;
  pthread_attr_init(&attributes);
  if (stack_size > 0) pthread_attr_setstacksize(&attributes, stack_size);
  auto heap_body = std::make_unique<absl::AnyInvocable<void()>>(std::move(body));
  pthread_t handle;
  const int error = pthread_create(&handle, &attributes, &thread_entry, heap_body.get());
  pthread_attr_destroy(&attributes);
  if (error != 0) {
    return absl::ResourceExhaustedError(
        fmt::format("cannot create a worker thread: pthread_create failed with error {}", error));
  }
  body_ = std::move(heap_body);  // freed by whoever joins, after the thread is gone
  handle_ = static_cast<std::uintptr_t>(handle);
  started_ = true;
  return absl::OkStatus();
}

void Thread::join() {
  if (!started_) return;
  pthread_join(static_cast<pthread_t>(handle_), nullptr);
  body_.reset();
  started_ = false;
}
#else
absl::Status Thread::start(std::size_t, absl::AnyInvocable<void()> body) {
  if (started_) return absl::FailedPreconditionError("thread already started");
  auto* thread = new std::thread(std::move(body));
  handle_ = reinterpret_cast<std::uintptr_t>(thread);
  started_ = true;
  return absl::OkStatus();
}

void Thread::join() {
  if (!started_) return;
  auto* thread = reinterpret_cast<std::thread*>(handle_);
  thread->join();
  delete thread;
  started_ = false;
}
#endif

Thread::Thread(Thread&& other) noexcept
    : started_(std::exchange(other.started_, false)),
      handle_(std::exchange(other.handle_, 0)),
      body_(std::move(other.body_)) {}

Thread& Thread::operator=(Thread&& other) noexcept {
  if (this != &other) {
    join();
    started_ = std::exchange(other.started_, false);
    handle_ = std::exchange(other.handle_, 0);
    body_ = std::move(other.body_);
  }
  return *this;
}

Thread::~Thread() { join(); }

int64_t current_thread_cpu_clock() {
#if defined(__linux__)
  clockid_t clock = 0;
  if (pthread_getcpuclockid(pthread_self(), &clock) != 0) return 0;
  return static_cast<int64_t>(clock);
#else
  return 0;
#endif
}

ThreadProbe::~ThreadProbe() { close(); }

bool ThreadProbe::open(int64_t tid, int64_t cpu_clock) {
  close();
#if defined(__linux__)
  if (tid <= 0 || cpu_clock == 0) return false;
  const std::string path = fmt::format("/proc/self/task/{}/stat", tid);
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  cpu_clock_ = cpu_clock;
  int64_t probe = 0;
  if (fd_ >= 0 && !cpu_time_ns(probe)) close();
  return available();
#else
  (void)tid;
  (void)cpu_clock;
  return false;
#endif
}

void ThreadProbe::close() {
#if defined(__linux__)
  if (fd_ >= 0) ::close(fd_);
#endif
  fd_ = -1;
}

bool ThreadProbe::cpu_time_ns(int64_t& cpu_ns) const {
#if defined(__linux__)
  if (fd_ < 0) return false;
  timespec now{};
  if (clock_gettime(static_cast<clockid_t>(cpu_clock_), &now) != 0) return false;
  cpu_ns = static_cast<int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
  return true;
#else
  (void)cpu_ns;
  return false;
#endif
}

bool ThreadProbe::is_runnable() const {
#if defined(__linux__)
  if (fd_ < 0) return false;
  char buffer[512];
  const ssize_t length = ::pread(fd_, buffer, sizeof(buffer) - 1, 0);
  if (length <= 0) return false;
  buffer[length] = '\0';
  // "tid (comm) S ...": comm may hold spaces and parentheses, so find the last ')'.
  const char* close_paren = std::strrchr(buffer, ')');
  if (close_paren == nullptr || close_paren[1] != ' ') return false;
  return close_paren[2] == 'R';
#else
  return false;
#endif
}

}  // namespace fnhost::detail::platform
