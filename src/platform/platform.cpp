// SPDX-License-Identifier: Apache-2.0
#include "platform/platform.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <memory>
#include <sstream>
#include <system_error>
#include <thread>
#include <utility>

#if defined(__linux__)
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "fmt/format.h"

namespace fnhost::detail::platform {

namespace {

std::optional<int64_t> parse_positive(std::string_view text) {
  int64_t value = 0;
  const char* end = text.data() + text.size();
  const auto [rest, error] = std::from_chars(text.data(), end, value);
  if (error != std::errc() || rest != end || value <= 0) return std::nullopt;
  return value;
}

#if defined(__linux__)
std::optional<std::string> read_small_file(const std::string& path) {
  std::ifstream file(path);
  if (!file) return std::nullopt;
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

// The lowest cgroup v2 CPU quota on the path from the process's cgroup up to the root.
std::optional<int> cgroup_quota_cpus() {
  const std::optional<std::string> self = read_small_file("/proc/self/cgroup");
  if (!self) return std::nullopt;
  std::optional<std::string> path = cgroup_v2_path(*self);
  if (!path) return std::nullopt;
  std::optional<int> lowest;
  std::string dir = *path;
  for (;;) {
    if (const auto cpu_max = read_small_file("/sys/fs/cgroup" + dir + "/cpu.max")) {
      if (const std::optional<int> cpus = cpus_from_cgroup_cpu_max(*cpu_max)) {
        lowest = lowest ? std::min(*lowest, *cpus) : *cpus;
      }
    }
    if (dir.empty() || dir == "/") break;
    const size_t slash = dir.find_last_of('/');
    dir = slash == std::string::npos || slash == 0 ? std::string("/") : dir.substr(0, slash);
  }
  return lowest;
}
#endif

}  // namespace

std::optional<int> cpus_from_cgroup_cpu_max(std::string_view cpu_max) {
  while (!cpu_max.empty() && (cpu_max.back() == '\n' || cpu_max.back() == ' ')) {
    cpu_max.remove_suffix(1);
  }
  const size_t space = cpu_max.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  const std::string_view quota_text = cpu_max.substr(0, space);
  if (quota_text == "max") return std::nullopt;
  const std::optional<int64_t> quota = parse_positive(quota_text);
  const std::optional<int64_t> period = parse_positive(cpu_max.substr(space + 1));
  if (!quota || !period) return std::nullopt;
  const int64_t cpus = (*quota + *period - 1) / *period;
  return static_cast<int>(std::clamp<int64_t>(cpus, 1, 1 << 20));
}

std::optional<std::string> cgroup_v2_path(std::string_view proc_self_cgroup) {
  while (!proc_self_cgroup.empty()) {
    const size_t newline = proc_self_cgroup.find('\n');
    const std::string_view line = proc_self_cgroup.substr(0, newline);
    if (line.size() >= 3 && line.substr(0, 3) == "0::") {
      const std::string_view path = line.substr(3);
      if (path.empty() || path.front() != '/') return std::nullopt;
      return std::string(path);
    }
    if (newline == std::string_view::npos) break;
    proc_self_cgroup.remove_prefix(newline + 1);
  }
  return std::nullopt;
}

int available_cpus() {
  int cpus = 0;
#if defined(__linux__)
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) cpus = CPU_COUNT(&set);
#endif
  if (cpus <= 0) cpus = static_cast<int>(std::thread::hardware_concurrency());
  if (cpus <= 0) cpus = 1;
#if defined(__linux__)
  if (const std::optional<int> quota = cgroup_quota_cpus()) cpus = std::min(cpus, *quota);
#endif
  return std::max(cpus, 1);
}

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int64_t coarse_now_ns() {
#if defined(__linux__)
  // steady_clock is CLOCK_MONOTONIC; its coarse variant reads the last tick's value.
  timespec now{};
  if (clock_gettime(CLOCK_MONOTONIC_COARSE, &now) == 0) {
    return int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec;
  }
#endif
  return now_ns();
}

int64_t wall_minus_steady_ns(int64_t steady_ns) {
  constexpr int64_t kRefreshNs = 100'000'000;
  thread_local bool measured = false;
  thread_local int64_t offset_ns = 0;
  thread_local int64_t measured_at_ns = 0;
  if (!measured || steady_ns - measured_at_ns > kRefreshNs) {
    timespec wall{};
    clock_gettime(CLOCK_REALTIME, &wall);
    const int64_t steady = now_ns();
    offset_ns = int64_t{wall.tv_sec} * 1'000'000'000 + wall.tv_nsec - steady;
    measured_at_ns = steady;
    measured = true;
  }
  return offset_ns;
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

std::optional<int> current_thread_nice() {
#if defined(__linux__)
  // getpriority may legitimately return -1, so errors show only through errno.
  errno = 0;
  const int nice = ::getpriority(PRIO_PROCESS, static_cast<id_t>(current_thread_id()));
  if (errno != 0) return std::nullopt;
  return nice;
#else
  return std::nullopt;
#endif
}

bool set_current_thread_nice(int nice) {
#if defined(__linux__)
  // On Linux PRIO_PROCESS with a thread id changes that thread only (nice is per thread).
  return ::setpriority(PRIO_PROCESS, static_cast<id_t>(current_thread_id()), nice) == 0;
#else
  (void)nice;
  return false;
#endif
}

bool set_current_thread_background() {
#if defined(__linux__)
  sched_param none{};
  if (::sched_setscheduler(0, SCHED_IDLE, &none) == 0) return true;
#endif
  return set_current_thread_nice(19);
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
  std::thread* thread = nullptr;
  try {
    thread = new std::thread(std::move(body));
  } catch (const std::system_error& error) {
    // fnhost does not throw: a refused thread is a Status like on Linux.
    return absl::ResourceExhaustedError(
        fmt::format("cannot create a worker thread: {}", error.what()));
  }
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

int64_t current_thread_cpu_ns() {
  timespec now{};
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now) != 0) return 0;
  return static_cast<int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
}

ThreadProbe::~ThreadProbe() { close(); }

bool ThreadProbe::open(int64_t tid, int64_t cpu_clock) {
  close();
#if defined(__linux__)
  if (tid <= 0 || cpu_clock == 0) return false;
  const std::string path = fmt::format("/proc/self/task/{}/stat", tid);
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  tid_ = tid;
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

bool ThreadProbe::waits_for_lock() const {
#if defined(__linux__)
  if (fd_ < 0) return false;
  // Opened only when asked (a worker that looks blocked, rarely): for a sleeping thread the
  // kernel answers at once, and for one that started running it answers "running".
  const std::string path = fmt::format("/proc/self/task/{}/syscall", tid_);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buffer[256];
  const ssize_t length = ::read(fd, buffer, sizeof(buffer));
  ::close(fd);
  if (length <= 0) return false;
  return syscall_waits_for_lock(std::string_view(buffer, static_cast<size_t>(length)));
#else
  return false;
#endif
}

bool syscall_waits_for_lock(std::string_view syscall_line) {
#if defined(__linux__) && defined(SYS_futex)
  // Fields: the syscall number in decimal, then its arguments in hex ("0x...").
  uint64_t fields[4] = {};
  std::string_view rest = syscall_line;
  for (int i = 0; i < 4; ++i) {
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    int base = 10;
    if (i > 0) {
      if (rest.substr(0, 2) != "0x") return false;
      rest.remove_prefix(2);
      base = 16;
    }
    const auto [end, error] =
        std::from_chars(rest.data(), rest.data() + rest.size(), fields[i], base);
    if (error != std::errc() || (end != rest.data() + rest.size() && *end != ' ' &&
                                 *end != '\n')) {
      return false;
    }
    rest.remove_prefix(static_cast<size_t>(end - rest.data()));
  }
  constexpr uint64_t kFutexWait = 0;            // FUTEX_WAIT
  constexpr uint64_t kFutexOpMask = 0x7f;       // without FUTEX_PRIVATE_FLAG, CLOCK_REALTIME
  constexpr uint64_t kLockedWithWaiters = 2;    // glibc's lll_lock state that sleeps
  return fields[0] == static_cast<uint64_t>(SYS_futex) &&
         (fields[2] & kFutexOpMask) == kFutexWait && fields[3] == kLockedWithWaiters;
#else
  (void)syscall_line;
  return false;
#endif
}

}  // namespace fnhost::detail::platform
