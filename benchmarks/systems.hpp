// SPDX-License-Identifier: Apache-2.0
// File: benchmarks/systems.hpp
// The systems the scenario harness compares, one adapter each, all with the same shape so one
// workload template drives every one of them:
//
//   System system(config, body);           // builds the pool (not timed by throughput rows)
//   system.produce([&](auto& poster) {     // on the calling thread (one call per producer)
//     poster.post(target, arg);            // runs body(arg) once, later, on a pool thread
//     poster.post(target, arg, data);      // the same, the task carrying (moving) a std::string
//   });
//   system.finish();                       // after every task ran: stop and join everything
//
// A task is the workload's `Body` (a function pointer and a context) applied to a 64-bit
// argument, so every system moves the same 16 bytes per task. In the payload-sized workloads
// (--payload) each task also carries a std::string the producer built for it: the task closure
// captures it by move (host: the Event::with_data() given to invoke_async; raw_queue: a queue
// item of argument and string), and the task reads it (Body with a PayloadCheck) before the body.
//   fnhost      fnhost::AutoscalingExecutor::create() with defaults, submit()
//   host        fnhost::Host::create({.log_sink = nullptr}) (or SystemConfig::host_options),
//               functions with default specs, invoke_async() (or invoke() when the workload
//               asks for it)
//   tbb_arena   oneTBB task_arena(pool, 0 reserved) + enqueue() from outside the arena
//   tbb_group   oneTBB task_arena(pool + 1, 1 reserved); the producer runs inside
//               arena.execute() and calls task_group::run() (pool workers + the producer)
//   asio        boost::asio::thread_pool(pool) + boost::asio::post()
//   mutex_pool  a textbook pool: std::mutex + std::condition_variable + std::deque<std::function>
//   thread_per_task  a new std::thread per task (the cold-start and blocking-work floor)
//   raw_queue   moodycamel::BlockingConcurrentQueue with `pool` consumer threads, tokens on
//               both sides, items of 8 bytes (with a payload: the argument and the string): the
//               hand-off floor, not a peer
#pragma once

#include <concurrentqueue/blockingconcurrentqueue.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "fnhost/executor.hpp"
#include "fnhost/host.hpp"
#include "harness_util.hpp"

#ifdef FNHOST_BENCH_HAVE_TBB
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_group.h>
#endif
#ifdef FNHOST_BENCH_HAVE_ASIO
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#endif

namespace fnhost::bench {

// Reports a setup failure of the measured system as the child's result line and exits.
[[noreturn]] inline void fail_setup(std::string_view what) {
  std::printf("status=fail reason=setup:%.*s\n", static_cast<int>(what.size()), what.data());
  std::fflush(stdout);
  std::_Exit(2);
}

// What a task does: fn(ctx, arg); a task that carries data has `payload` read it first.
struct Body {
  void (*fn)(void* ctx, uint64_t arg) = nullptr;
  void* ctx = nullptr;
  PayloadCheck* payload = nullptr;  // set by the workloads whose tasks carry data
  void operator()(uint64_t arg) const { fn(ctx, arg); }
  void operator()(uint64_t arg, const std::string& data) const {
    if (payload != nullptr) payload->touch(data);
    fn(ctx, arg);
  }
};

struct SystemConfig {
  int pool = 2;                      // threads of the fixed-size pools
  int fnhost_max_threads = 0;        // ExecutorOptions::max_threads for fnhost/host; 0 = default
  int targets = 1;                   // host: functions "w0".."w<targets-1>"; others ignore it
  bool pass_arg = false;             // host: carry `arg` in Event::data (8 bytes, no allocation)
  bool sync_invoke = false;          // host: Host::invoke() instead of invoke_async()
  int function_max_concurrency = 0;  // host: FunctionSpec::max_concurrency
  // host: subscribe every function to kFanOutTopic, so Poster::publish() fans an event out to
  // all of them through Host::publish (one admission per event, one shared Event).
  bool fan_out_topic = false;
  // Tasks are posted with data (post(target, arg, data)): host handlers pass Event::data to the
  // body instead of decoding an argument from it; raw_queue queues items that hold a string.
  bool carries_payload = false;
  // host: the options Host::create gets (executor_options.max_threads still follows
  // fnhost_max_threads). Unset: {.log_sink = nullptr}, every observability feature off.
  std::optional<HostOptions> host_options;
};

inline constexpr const char* kFanOutTopic = "bench/fan-out";

// ---- fnhost::AutoscalingExecutor ---------------------------------------------------------------
class FnhostSystem {
 public:
  static constexpr std::string_view kName = "fnhost";

  FnhostSystem(const SystemConfig& config, Body body) : body_(body) {
    ExecutorOptions options;
    if (config.fnhost_max_threads > 0) options.max_threads = config.fnhost_max_threads;
    auto executor = AutoscalingExecutor::create(std::move(options));
    if (!executor.ok()) fail_setup(executor.status().ToString());
    executor_ = std::move(*executor);
  }

  struct Poster {
    FnhostSystem* system;
    void post(int /*target*/, uint64_t arg) {
      submit([system = system, arg] { system->body_(arg); });
    }
    void post(int /*target*/, uint64_t arg, std::string data) {
      submit([system = system, arg, data = std::move(data)] { system->body_(arg, data); });
    }
    // A template, so the closure becomes a Task at the executor's own submit() as before.
    template <class Fn>
    void submit(Fn&& task) {
      if (!system->executor_->submit(std::forward<Fn>(task)).ok()) {
        system->rejected_.fetch_add(1, std::memory_order_relaxed);
      }
    }
  };
  template <class Loop>
  void produce(Loop&& loop) {
    Poster poster{this};
    loop(poster);
  }
  void finish() { (void)executor_->shutdown(); }
  [[nodiscard]] int64_t rejected() const { return rejected_.load(); }
  [[nodiscard]] ExecutorStats stats() const { return executor_->stats(); }

 private:
  Body body_;
  std::unique_ptr<AutoscalingExecutor> executor_;
  std::atomic<int64_t> rejected_{0};
};

// ---- fnhost::Host::invoke_async ----------------------------------------------------------------
class HostSystem {
 public:
  static constexpr std::string_view kName = "host";

  HostSystem(const SystemConfig& config, Body body)
      : body_(body),
        pass_arg_(config.pass_arg),
        sync_invoke_(config.sync_invoke),
        carries_payload_(config.carries_payload) {
    HostOptions options =
        config.host_options ? *config.host_options : HostOptions{.log_sink = nullptr};
    if (config.fnhost_max_threads > 0) {
      options.executor_options.max_threads = config.fnhost_max_threads;
    }
    auto host = Host::create(std::move(options));
    if (!host.ok()) fail_setup(host.status().ToString());
    host_.emplace(std::move(*host));
    for (int target = 0; target < config.targets; ++target) {
      names_.push_back("w" + std::to_string(target));
      absl::Status registered = host_->register_function({
          .name = names_.back(),
          .handler = [this](const Event& event, Context&) -> Result {
            if (carries_payload_) {
              body_(0, event.data);
              return std::string();
            }
            uint64_t arg = 0;
            if (event.data.size() == sizeof(arg)) std::memcpy(&arg, event.data.data(), sizeof(arg));
            body_(arg);
            return std::string();
          },
          .max_concurrency = config.function_max_concurrency,
      });
      if (!registered.ok()) fail_setup(registered.ToString());
      if (config.fan_out_topic) {
        auto subscribed = host_->subscribe({.pattern = kFanOutTopic, .function = names_.back()});
        if (!subscribed.ok()) fail_setup(subscribed.status().ToString());
      }
    }
  }

  struct Poster {
    HostSystem* system;
    void post(int target, uint64_t arg) {
      Event event;
      if (system->pass_arg_) event.data.assign(reinterpret_cast<const char*>(&arg), sizeof(arg));
      invoke(target, std::move(event));
    }
    // As a producer sends data: an Event built per call with Event::with_data().
    void post(int target, uint64_t /*arg*/, std::string data) {
      invoke(target, Event::with_data(std::move(data)));
    }
    // By reference, so the event is moved once, into the host, as a direct call would.
    void invoke(int target, Event&& event) {
      const std::string& name = system->names_[static_cast<std::size_t>(target)];
      if (system->sync_invoke_) {
        // The answer is not needed: the handler's start is what the workload times.
        (void)system->host_->invoke(name, std::move(event));
      } else if (!system->host_->invoke_async(name, std::move(event)).ok()) {
        system->rejected_.fetch_add(1, std::memory_order_relaxed);
      }
    }
    // One event to every function subscribed to kFanOutTopic (SystemConfig::fan_out_topic).
    void publish(int subscribers) { publish(subscribers, Event{.topic = kFanOutTopic}); }
    // The same with data: one Event::with_data() per event, shared by its subscribers.
    void publish(int subscribers, std::string data) {
      Event event = Event::with_data(std::move(data));
      event.topic = kFanOutTopic;
      publish(subscribers, std::move(event));
    }
    void publish(int subscribers, Event&& event) {
      if (!system->host_->publish(std::move(event)).ok()) {
        system->rejected_.fetch_add(subscribers, std::memory_order_relaxed);
      }
    }
  };
  template <class Loop>
  void produce(Loop&& loop) {
    Poster poster{this};
    loop(poster);
  }
  void finish() {
    if (!host_) return;
    const ShutdownReport report = host_->shutdown(absl::Seconds(60));
    undrained_ = report.dropped + report.unfinished;
    host_.reset();
  }
  [[nodiscard]] int64_t rejected() const { return rejected_.load() + undrained_; }
  [[nodiscard]] ExecutorStats stats() const { return host_->executor_stats(); }
  [[nodiscard]] Host& host() { return *host_; }

 private:
  Body body_;
  bool pass_arg_;
  bool sync_invoke_;
  bool carries_payload_;
  std::vector<std::string> names_;
  std::optional<Host> host_;
  std::atomic<int64_t> rejected_{0};
  int64_t undrained_ = 0;
};

#ifdef FNHOST_BENCH_HAVE_TBB
// ---- oneTBB task_arena::enqueue ----------------------------------------------------------------
class TbbArenaSystem {
 public:
  static constexpr std::string_view kName = "tbb_arena";

  // global_control: oneTBB's default worker limit is the CPU count; a pool of 64 needs more.
  TbbArenaSystem(const SystemConfig& config, Body body)
      : body_(body),
        control_(tbb::global_control::max_allowed_parallelism,
                 static_cast<std::size_t>(config.pool) + 1),
        arena_(config.pool, 0) {
    arena_.initialize();
  }

  struct Poster {
    TbbArenaSystem* system;
    void post(int /*target*/, uint64_t arg) {
      system->arena_.enqueue([system = system, arg] { system->body_(arg); });
    }
    void post(int /*target*/, uint64_t arg, std::string data) {
      system->arena_.enqueue(
          [system = system, arg, data = std::move(data)] { system->body_(arg, data); });
    }
  };
  template <class Loop>
  void produce(Loop&& loop) {
    Poster poster{this};
    loop(poster);
  }
  void finish() { arena_.terminate(); }
  [[nodiscard]] int64_t rejected() const { return 0; }

 private:
  Body body_;
  tbb::global_control control_;
  tbb::task_arena arena_;
};

// ---- oneTBB task_group::run inside an arena ----------------------------------------------------
class TbbGroupSystem {
 public:
  static constexpr std::string_view kName = "tbb_group";

  TbbGroupSystem(const SystemConfig& config, Body body)
      : body_(body),
        control_(tbb::global_control::max_allowed_parallelism,
                 static_cast<std::size_t>(config.pool) + 1),
        arena_(config.pool + 1, 1) {
    arena_.initialize();
  }

  struct Poster {
    TbbGroupSystem* system;
    tbb::task_group* group;
    void post(int /*target*/, uint64_t arg) {
      group->run([system = system, arg] { system->body_(arg); });
    }
    void post(int /*target*/, uint64_t arg, std::string data) {
      group->run([system = system, arg, data = std::move(data)] { system->body_(arg, data); });
    }
  };
  // Each producer gets its own task_group; the loop runs inside the arena so run() goes to the
  // arena's task pool and the arena's workers take the tasks.
  template <class Loop>
  void produce(Loop&& loop) {
    tbb::task_group* group;
    {
      std::lock_guard<std::mutex> lock(mu_);
      group = &groups_.emplace_back();
    }
    arena_.execute([&] {
      Poster poster{this, group};
      loop(poster);
    });
  }
  void finish() {
    arena_.execute([this] {
      for (tbb::task_group& group : groups_) group.wait();
    });
    arena_.terminate();
  }
  [[nodiscard]] int64_t rejected() const { return 0; }

 private:
  Body body_;
  tbb::global_control control_;
  tbb::task_arena arena_;
  std::mutex mu_;
  std::deque<tbb::task_group> groups_;
};
#endif  // FNHOST_BENCH_HAVE_TBB

#ifdef FNHOST_BENCH_HAVE_ASIO
// ---- boost::asio::thread_pool + post -----------------------------------------------------------
class AsioSystem {
 public:
  static constexpr std::string_view kName = "asio";

  AsioSystem(const SystemConfig& config, Body body)
      : body_(body), pool_(static_cast<std::size_t>(config.pool)) {}

  struct Poster {
    AsioSystem* system;
    void post(int /*target*/, uint64_t arg) {
      boost::asio::post(system->pool_, [system = system, arg] { system->body_(arg); });
    }
    void post(int /*target*/, uint64_t arg, std::string data) {
      boost::asio::post(system->pool_, [system = system, arg, data = std::move(data)] {
        system->body_(arg, data);
      });
    }
  };
  template <class Loop>
  void produce(Loop&& loop) {
    Poster poster{this};
    loop(poster);
  }
  void finish() { pool_.join(); }
  [[nodiscard]] int64_t rejected() const { return 0; }

 private:
  Body body_;
  boost::asio::thread_pool pool_;
};
#endif  // FNHOST_BENCH_HAVE_ASIO

// ---- mutex + condition variable pool -----------------------------------------------------------
class MutexPoolSystem {
 public:
  static constexpr std::string_view kName = "mutex_pool";

  MutexPoolSystem(const SystemConfig& config, Body body) : body_(body) {
    for (int i = 0; i < config.pool; ++i) threads_.emplace_back([this] { work(); });
  }
  ~MutexPoolSystem() { finish(); }

  struct Poster {
    MutexPoolSystem* system;
    void post(int /*target*/, uint64_t arg) {
      push([system = system, arg] { system->body_(arg); });
    }
    void post(int /*target*/, uint64_t arg, std::string data) {
      push([system = system, arg, data = std::move(data)] { system->body_(arg, data); });
    }
    template <class Fn>
    void push(Fn&& task) {
      {
        std::lock_guard<std::mutex> lock(system->mu_);
        system->queue_.emplace_back(std::forward<Fn>(task));
      }
      system->cv_.notify_one();
    }
  };
  template <class Loop>
  void produce(Loop&& loop) {
    Poster poster{this};
    loop(poster);
  }
  void finish() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (std::thread& thread : threads_) thread.join();
    threads_.clear();
  }
  [[nodiscard]] int64_t rejected() const { return 0; }

 private:
  void work() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;
      std::function<void()> task = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      task();
      lock.lock();
    }
  }

  Body body_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

// ---- a new thread per task ---------------------------------------------------------------------
class ThreadPerTaskSystem {
 public:
  static constexpr std::string_view kName = "thread_per_task";

  ThreadPerTaskSystem(const SystemConfig& /*config*/, Body body) : body_(body) {}
  ~ThreadPerTaskSystem() { finish(); }

  struct Poster {
    ThreadPerTaskSystem* system;
    void post(int /*target*/, uint64_t arg) {
      keep(std::thread([system = system, arg] { system->body_(arg); }));
    }
    void post(int /*target*/, uint64_t arg, std::string data) {
      keep(std::thread(
          [system = system, arg, data = std::move(data)] { system->body_(arg, data); }));
    }
    void keep(std::thread thread) {
      std::lock_guard<std::mutex> lock(system->mu_);
      system->threads_.push_back(std::move(thread));
    }
  };
  template <class Loop>
  void produce(Loop&& loop) {
    Poster poster{this};
    loop(poster);
  }
  void finish() {
    std::lock_guard<std::mutex> lock(mu_);
    for (std::thread& thread : threads_) thread.join();
    threads_.clear();
  }
  [[nodiscard]] int64_t rejected() const { return 0; }

 private:
  Body body_;
  std::mutex mu_;
  std::vector<std::thread> threads_;
};

// ---- raw moodycamel hand-off (the floor) -------------------------------------------------------
class RawQueueSystem {
 public:
  static constexpr std::string_view kName = "raw_queue";

  RawQueueSystem(const SystemConfig& config, Body body)
      : body_(body), carries_payload_(config.carries_payload) {
    for (int i = 0; i < config.pool; ++i) {
      threads_.emplace_back([this] { carries_payload_ ? work(items_) : work(args_); });
    }
  }
  ~RawQueueSystem() { finish(); }

  // Posts go to the queue of the workload's kind: 8-byte arguments, or items with a payload.
  struct Poster {
    RawQueueSystem* system;
    moodycamel::ProducerToken token;
    void post(int /*target*/, uint64_t arg) { system->args_.enqueue(token, arg); }
    void post(int /*target*/, uint64_t arg, std::string data) {
      system->items_.enqueue(token, Item{arg, std::move(data)});
    }
  };
  template <class Loop>
  void produce(Loop&& loop) {
    Poster poster{this, carries_payload_ ? moodycamel::ProducerToken(items_)
                                         : moodycamel::ProducerToken(args_)};
    loop(poster);
  }
  void finish() {
    if (threads_.empty()) return;
    for (std::size_t i = 0; i < threads_.size(); ++i) {
      if (carries_payload_) {
        items_.enqueue(Item{kStop, {}});
      } else {
        args_.enqueue(kStop);
      }
    }
    for (std::thread& thread : threads_) thread.join();
    threads_.clear();
  }
  [[nodiscard]] int64_t rejected() const { return 0; }

 private:
  // Workloads use small arguments (indices, flags); this one is reserved to stop a consumer.
  static constexpr uint64_t kStop = ~uint64_t{0};

  struct Item {
    uint64_t arg = 0;
    std::string data;
  };

  static uint64_t arg_of(uint64_t arg) { return arg; }
  static uint64_t arg_of(const Item& item) { return item.arg; }
  void run(uint64_t arg) const { body_(arg); }
  void run(const Item& item) const { body_(item.arg, item.data); }

  template <class T>
  void work(moodycamel::BlockingConcurrentQueue<T>& queue) {
    moodycamel::ConsumerToken token(queue);
    for (;;) {
      T value{};
      queue.wait_dequeue(token, value);
      if (arg_of(value) == kStop) return;
      run(value);
    }
  }

  Body body_;
  bool carries_payload_;
  moodycamel::BlockingConcurrentQueue<uint64_t> args_;
  moodycamel::BlockingConcurrentQueue<Item> items_;
  std::vector<std::thread> threads_;
};

// Every system name the harness knows, in table column order.
inline const std::vector<std::string>& all_system_names() {
  static const std::vector<std::string> names = {"fnhost",          "host",     "tbb_arena",
                                                 "tbb_group",       "asio",     "mutex_pool",
                                                 "thread_per_task", "raw_queue"};
  return names;
}

// Whether `name` was compiled in; otherwise `why` says what is missing.
inline bool system_available(std::string_view name, std::string* why) {
#ifndef FNHOST_BENCH_HAVE_TBB
  if (name == "tbb_arena" || name == "tbb_group") {
    *why = "skipped: oneTBB not found";
    return false;
  }
#endif
#ifndef FNHOST_BENCH_HAVE_ASIO
  if (name == "asio") {
    *why = "skipped: Boost.Asio not found";
    return false;
  }
#endif
  (void)name;
  (void)why;
  return true;
}

// Calls `fn(std::type_identity<System>{})` for the adapter named `name`; false if unknown or
// not compiled in.
template <class Fn>
bool with_system(std::string_view name, Fn&& fn) {
  if (name == "fnhost") return fn(std::type_identity<FnhostSystem>{}), true;
  if (name == "host") return fn(std::type_identity<HostSystem>{}), true;
#ifdef FNHOST_BENCH_HAVE_TBB
  if (name == "tbb_arena") return fn(std::type_identity<TbbArenaSystem>{}), true;
  if (name == "tbb_group") return fn(std::type_identity<TbbGroupSystem>{}), true;
#endif
#ifdef FNHOST_BENCH_HAVE_ASIO
  if (name == "asio") return fn(std::type_identity<AsioSystem>{}), true;
#endif
  if (name == "mutex_pool") return fn(std::type_identity<MutexPoolSystem>{}), true;
  if (name == "thread_per_task") return fn(std::type_identity<ThreadPerTaskSystem>{}), true;
  if (name == "raw_queue") return fn(std::type_identity<RawQueueSystem>{}), true;
  return false;
}

}  // namespace fnhost::bench
