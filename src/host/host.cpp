// SPDX-License-Identifier: Apache-2.0
// The host: admission, per-function queues scheduled fairly on the executor, instances,
// deadlines and shutdown.
//
// Scheduling: invocations wait in their function's queue; functions with invocations that may
// start now (under max_concurrency) are listed in a round-robin ring. Runner tasks on the
// executor take the ring's head, run one of its invocations, put it back at the tail if it has
// more, and go on with the next head: a flood from one function delays another by about one
// turn per worker, not by the flood's length. A runner keeps going until the ring is empty or
// its time budget is spent, so a busy host pays for an executor task per budget, not per
// invocation.
//
// The executor scales on its own backlog, so each function keeps as many runners waiting in
// it as it has invocations that could start now (up to kMaxWaitingRunners): invocations that
// block show the executor work waiting behind blocked workers, and it adds threads.
#include "fnhost/host.hpp"

#include <algorithm>
#include <chrono>
#include <exception>
#include <random>
#include <thread>
#include <utility>

#include "fmt/format.h"
#include "fnhost/detail/status_macros.hpp"
#include "host/host_core.hpp"
#include "host/invocation_pool.hpp"
#include "platform/platform.hpp"

namespace fnhost {

using detail::FunctionSlot;
using detail::FunctionVersion;
using detail::Instance;
using detail::Invocation;
using detail::MutexLock;
using detail::std_view;

namespace {

uint32_t random_id_prefix() {
  std::random_device device;
  return static_cast<uint32_t>(device());
}

std::string describe_exception(std::exception_ptr exception) {
  try {
    std::rethrow_exception(std::move(exception));
  } catch (const std::exception& error) {
    return error.what();
  } catch (...) {
    return "unknown exception (not derived from std::exception)";
  }
}

// Runs `version`'s init (user code) through the guarded path, timing it into `durations`.
absl::StatusOr<std::shared_ptr<void>> run_init(const FunctionVersion& version,
                                               detail::DurationHistogram* durations) {
  const InitContext init_context(version.spec.name, version.number, version.spec.env);
  absl::StatusOr<std::shared_ptr<void>> state;
  const int64_t start = detail::platform::now_ns();
  try {
    state = version.spec.init(init_context);
  } catch (...) {
    state = absl::InternalError(describe_exception(std::current_exception()));
  }
  if (durations != nullptr) durations->record(detail::platform::now_ns() - start);
  return state;
}

absl::Status unavailable_after_shutdown(std::string_view what) {
  return absl::UnavailableError(fmt::format("host is shutting down: {} not accepted", what));
}

}  // namespace

HostCore::HostCore(HostOptions host_options, std::shared_ptr<Executor> host_executor,
                   bool owns)
    : options(std::move(host_options)),
      executor(std::move(host_executor)),
      owns_executor(owns),
      id_prefix_(random_id_prefix()),
      one_invocation_per_runner_(executor->traits().pumped),
      watcher_([this](Invocation* invocation) { on_deadline(invocation); }) {}

HostCore::~HostCore() {
  shutdown(options.drain_timeout);
  // Runner tasks still in the executor refer to slots; let them end before slots go away.
  if (owns_executor) {
    (void)executor->shutdown();  // refused only when run on its own worker
  } else {
    while (live_runners_.load() > 0) {
      if (!executor->help_one()) std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Registration

absl::Status HostCore::provision(const FunctionVersion& version, FunctionSlot* slot, int count) {
  for (int i = 0; i < count; ++i) {
    auto instance = std::make_unique<Instance>();
    if (version.spec.init) {
      absl::StatusOr<std::shared_ptr<void>> state =
          run_init(version, slot != nullptr ? &slot->init_duration : nullptr);
      if (!state.ok()) {
        return absl::InternalError(
            fmt::format("function \"{}\": init of provisioned instance {} of {} failed: {}",
                        version.spec.name, i + 1, count, state.status().ToString()));
      }
      instance->state = *std::move(state);
    }
    detail::SpinLockHolder lock(version.pool_mu);
    version.idle_instances.push_back(std::move(instance));
    version.live_instances.fetch_add(1, std::memory_order_relaxed);
  }
  return absl::OkStatus();
}

void HostCore::publish(FunctionSlot& slot, std::shared_ptr<const FunctionVersion> version) {
  slot.max_concurrency.store(version->spec.max_concurrency);
  slot.max_queued.store(version->spec.max_queued);
  const int64_t number = version->number;
  slot.latest.store(version.get());
  if (slot.owner != nullptr) slot.retired.push_back(std::move(slot.owner));
  slot.owner = std::move(version);
  // An invocation holds its version only while it counts as running, and reads `latest` after
  // it starts counting: with none running, no one can hold a retired version.
  if (FunctionSlot::running_of(slot.state.load()) == 0) slot.retired.clear();
  slot.live_version.store(number);
  // A higher concurrency limit may let queued invocations start now.
  schedule(slot);
}

absl::Status HostCore::register_function(FunctionSpec spec) {
  FNHOST_RETURN_IF_ERROR(validate_function_spec(spec));
  if (!accepting_.load()) return unavailable_after_shutdown("register_function");
  const auto already_exists = [&] {
    return absl::AlreadyExistsError(fmt::format(
        "function \"{}\" is already registered; use update_function to replace it", spec.name));
  };
  {
    MutexLock lock(registration_mu_);
    FunctionSlot* slot = table_.find(spec.name);
    if (slot != nullptr && slot->live_version.load() != 0) return already_exists();
  }
  auto version = std::make_shared<FunctionVersion>();
  const int provisioned = spec.min_instances;
  version->spec = std::move(spec);
  version->number = 1;
  // Provisioned instances run user code (init): outside every lock.
  FNHOST_RETURN_IF_ERROR(provision(*version, nullptr, provisioned));

  MutexLock lock(registration_mu_);
  FunctionSlot* slot = table_.find(version->spec.name);
  if (slot != nullptr && slot->live_version.load() != 0) return already_exists();
  if (slot == nullptr) {
    auto fresh = std::make_unique<FunctionSlot>();
    fresh->name = version->spec.name;
    fresh->index = static_cast<int>(table_.slots().size());
    fresh->host = this;
    slot = table_.insert(std::move(fresh));
  }
  // A removed name registered again starts over at version 1 (its counters carry on).
  slot->version_numbers.store(version->number);
  publish(*slot, std::move(version));
  return absl::OkStatus();
}

absl::Status HostCore::update_function(FunctionSpec spec) {
  FNHOST_RETURN_IF_ERROR(validate_function_spec(spec));
  if (!accepting_.load()) return unavailable_after_shutdown("update_function");
  const auto not_found = [&] {
    return absl::NotFoundError(fmt::format(
        "function \"{}\" is not registered; use register_function to add it", spec.name));
  };
  FunctionSlot* slot = nullptr;
  {
    MutexLock lock(registration_mu_);
    slot = table_.find(spec.name);
    if (slot == nullptr || slot->live_version.load() == 0) return not_found();
  }
  auto version = std::make_shared<FunctionVersion>();
  const int provisioned = spec.min_instances;
  version->spec = std::move(spec);
  version->number = slot->version_numbers.load() + 1;
  FNHOST_RETURN_IF_ERROR(provision(*version, slot, provisioned));

  MutexLock lock(registration_mu_);
  if (slot->live_version.load() == 0) return not_found();
  version->number = slot->version_numbers.load() + 1;
  slot->version_numbers.store(version->number);
  publish(*slot, std::move(version));
  return absl::OkStatus();
}

absl::Status HostCore::remove_function(std::string_view name) {
  MutexLock lock(registration_mu_);
  FunctionSlot* slot = table_.find(name);
  if (slot == nullptr || slot->live_version.load() == 0) {
    return absl::NotFoundError(fmt::format("function \"{}\" is not registered", name));
  }
  slot->live_version.store(0);
  return absl::OkStatus();
}

bool HostCore::has_function(std::string_view name) const {
  const FunctionSlot* slot = table_.find(name);
  return slot != nullptr && slot->live_version.load() != 0;
}

std::vector<std::string> HostCore::function_names() const {
  std::vector<std::string> names;
  {
    MutexLock lock(registration_mu_);
    for (const auto& slot : table_.slots()) {
      if (slot->live_version.load() != 0) names.push_back(slot->name);
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

absl::StatusOr<FunctionStats> HostCore::function_stats(std::string_view name) const {
  const FunctionSlot* slot = table_.find(name);
  std::shared_ptr<const FunctionVersion> version;
  if (slot != nullptr && slot->live_version.load() != 0) {
    MutexLock lock(registration_mu_);
    version = slot->owner;
  }
  if (version == nullptr) {
    return absl::NotFoundError(fmt::format("function \"{}\" is not registered", name));
  }
  const auto relaxed = [](const std::atomic<int64_t>& counter) {
    return counter.load(std::memory_order_relaxed);
  };
  const auto summary = [](const detail::DurationHistogram& histogram) {
    const detail::DurationHistogram::Summary raw = histogram.summarize();
    return DurationSummary{.count = raw.count,
                           .p50 = absl::Nanoseconds(raw.p50),
                           .p90 = absl::Nanoseconds(raw.p90),
                           .p99 = absl::Nanoseconds(raw.p99),
                           .max = absl::Nanoseconds(raw.max)};
  };
  FunctionStats stats;
  stats.name = slot->name;
  stats.version = version->number;
  stats.invocations = relaxed(slot->invocations);
  stats.successes = relaxed(slot->successes);
  stats.errors = relaxed(slot->errors);
  stats.throttles = relaxed(slot->throttles);
  stats.timeouts = relaxed(slot->timeouts);
  stats.cold_starts = relaxed(slot->cold_starts);
  stats.late_results = relaxed(slot->late_results);
  stats.dropped = relaxed(slot->dropped);
  const uint64_t word = slot->state.load(std::memory_order_relaxed);
  stats.in_flight = FunctionSlot::running_of(word);
  stats.queued = FunctionSlot::queued_of(word);
  stats.instances = version->live_instances.load(std::memory_order_relaxed);
  stats.duration = summary(slot->duration);
  stats.init_duration = summary(slot->init_duration);
  return stats;
}

// ---------------------------------------------------------------------------------------------
// Admission and scheduling

absl::Status HostCore::admit(std::string_view name, Event&& event,
                             std::shared_ptr<detail::CompletionState> completion) {
  if (name.empty()) return absl::InvalidArgumentError("function name must not be empty");
  FunctionSlot* slot = table_.find(name);
  if (slot == nullptr) {
    return absl::NotFoundError(fmt::format("function \"{}\" is not registered", name));
  }
  if (slot->live_version.load() == 0) {
    return absl::NotFoundError(fmt::format("function \"{}\" is not registered", name));
  }
  // Count first, then check accepting_: pairs with shutdown(), which clears accepting_ and
  // then reads the counts, so an invocation is either refused here or seen by shutdown.
  const int64_t ahead = FunctionSlot::queued_of(slot->state.fetch_add(1));
  if (!accepting_.load()) {
    slot->state.fetch_sub(1);
    return unavailable_after_shutdown(fmt::format("invocation of \"{}\"", name));
  }
  const int max_queued = slot->max_queued.load(std::memory_order_relaxed);
  if (max_queued > 0 && ahead >= max_queued) {
    slot->state.fetch_sub(1);
    slot->throttles.fetch_add(1, std::memory_order_relaxed);
    return absl::ResourceExhaustedError(fmt::format(
        "function \"{}\": queue full ({} invocations waiting, max_queued = {}); retry later",
        name, ahead, max_queued));
  }
  Invocation* invocation = detail::InvocationPool::acquire();
  invocation->begin_admission();
  invocation->slot = slot;
  if (event.id.empty() && event.source.empty() && event.type.empty() && event.subject.empty() &&
      event.time == absl::InfinitePast() && event.datacontenttype.empty() &&
      event.extensions.empty() && event.topic.empty()) {
    invocation->data = std::move(event.data);
  } else {
    invocation->full_event = std::make_unique<Event>(std::move(event));
  }
  invocation->is_async = completion == nullptr;
  invocation->completion = std::move(completion);
  invocation->sequence =
      static_cast<uint64_t>(slot->invocations.fetch_add(1, std::memory_order_relaxed) + 1);
  slot->queue.enqueue(invocation);
  schedule(*slot);
  return absl::OkStatus();
}

Completion HostCore::invoke(std::string_view name, Event&& event) {
  auto state = std::make_shared<detail::CompletionState>();
  absl::Status admitted = admit(name, std::move(event), state);
  if (!admitted.ok()) return Completion::ready(std::move(admitted));
  return Completion(std::move(state));
}

void HostCore::schedule(FunctionSlot& slot) {
  if (FunctionSlot::startable(slot.state.load(),
                              slot.max_concurrency.load(std::memory_order_relaxed)) == 0) {
    return;
  }
  // Load first: while the function is listed (the common case under load) this stays a read
  // of a shared line rather than a write.
  if (!slot.in_ring.load() && !slot.in_ring.exchange(true)) ring_.push(&slot);
  add_runners(slot);
}

void HostCore::add_runners(FunctionSlot& slot) {
  for (;;) {
    const int64_t wanted =
        std::min<int64_t>(kMaxWaitingRunners,
                          FunctionSlot::startable(slot.state.load(),
                                                  slot.max_concurrency.load(std::memory_order_relaxed)));
    int waiting = slot.waiting_runners.load();
    if (waiting >= wanted) return;
    if (slot.waiting_runners.compare_exchange_weak(waiting, waiting + 1)) submit_runner(&slot);
  }
}

void HostCore::submit_runner(FunctionSlot* origin) {
  live_runners_.fetch_add(1);
  waiting_runners_.fetch_add(1);
  absl::Status submitted = executor->submit([this, origin] { run_runner(origin); });
  if (submitted.ok()) return;
  waiting_runners_.fetch_sub(1);
  if (origin != nullptr) origin->waiting_runners.fetch_sub(1);
  // The executor refused (a shared executor that was shut down): nothing can run here any
  // more, so answer what is runnable rather than leave callers waiting.
  while (FunctionSlot* slot = ring_.take_turn(1).slot) {
    drop(*slot, *take_claimed(*slot),
         absl::UnavailableError(fmt::format("function \"{}\" cannot run: {}", slot->name,
                                            std_view(submitted.message()))));
    end_running(*slot, 1);
  }
  live_runners_.fetch_sub(1);
}

void HostCore::run_runner(FunctionSlot* origin) {
  if (origin != nullptr) origin->waiting_runners.fetch_sub(1);
  waiting_runners_.fetch_sub(1);
  const int64_t started_ns = detail::platform::now_ns();
  // When one invocation follows another without a wait, the clock read that ended the first
  // also starts the second (a clock read is ~20 ns, a turn about as much).
  int64_t previous_end_ns = started_ns;
  const int max_batch = one_invocation_per_runner_ ? 1 : kMaxBatch;
  Invocation* batch[kMaxBatch];
  for (;;) {
    const Ring::Turn turn = ring_.take_turn(max_batch);
    if (turn.slot == nullptr) break;
    FunctionSlot& slot = *turn.slot;
    // Keep the executor's view of this function's backlog whole while this one runs.
    add_runners(slot);
    bool waited = false;
    take_claimed(slot, batch, turn.count, &waited);
    if (waited) previous_end_ns = 0;
    bool timed_out = false;
    HeldInstance held;
    for (int i = 0; i < turn.count; ++i) {
      if (stopped_.load()) {
        drop(slot, *batch[i],
             absl::UnavailableError(fmt::format(
                 "host shut down before invocation of \"{}\" started", slot.name)));
        previous_end_ns = 0;
        continue;
      }
      const bool last = i + 1 == turn.count;
      const Executed executed = execute(*batch[i], previous_end_ns, last ? nullptr : &held);
      previous_end_ns = executed.end_ns;
      timed_out = timed_out || executed.timed_out;
    }
    release_held(held);
    end_running(slot, turn.count);
    if (draining_.load(std::memory_order_relaxed)) note_finished();
    // End the task at a boundary the executor can act on: after a timed-out (stuck-marked)
    // invocation, or when the budget is spent. A waiting runner carries on; if none waits,
    // a new one (the ring was checked first, pairs with a runner's "un-count, then take").
    if (one_invocation_per_runner_ || timed_out ||
        (previous_end_ns != 0 ? previous_end_ns : detail::platform::now_ns()) - started_ns >=
            kRunnerBudgetNs) {
      if (!ring_.empty() && waiting_runners_.load() == 0) submit_runner(nullptr);
      break;
    }
  }
  // Last access to the host: its destructor waits for this count.
  live_runners_.fetch_sub(1);
}

void HostCore::end_running(FunctionSlot& slot, int count) {
  slot.state.fetch_sub(uint64_t(count) * FunctionSlot::kOneRunning);
  // Only a limited function can have been held back by these invocations.
  if (slot.max_concurrency.load(std::memory_order_relaxed) > 0) schedule(slot);
}

// ---------------------------------------------------------------------------------------------
// Running

Instance* HostCore::acquire_instance(Invocation& invocation, Result& failure) {
  const FunctionVersion& version = *invocation.version;
  {
    detail::SpinLockHolder lock(version.pool_mu);
    if (!version.idle_instances.empty()) {
      Instance* instance = version.idle_instances.back().release();
      version.idle_instances.pop_back();
      return instance;
    }
  }
  // Cold start: a new instance, initialised on this thread within the invocation's deadline.
  FunctionSlot& slot = *invocation.slot;
  auto instance = std::make_unique<Instance>();
  invocation.cold_start = true;
  slot.cold_starts.fetch_add(1, std::memory_order_relaxed);
  if (version.spec.init) {
    absl::StatusOr<std::shared_ptr<void>> state = run_init(version, &slot.init_duration);
    if (!state.ok()) {
      failure = absl::InternalError(fmt::format("function \"{}\": init failed: {}", slot.name,
                                                std_view(state.status().message())));
      return nullptr;
    }
    instance->state = *std::move(state);
  }
  version.live_instances.fetch_add(1, std::memory_order_relaxed);
  return instance.release();
}

void HostCore::release_instance(const FunctionVersion& version, Instance* instance,
                                bool discard) {
  std::unique_ptr<Instance> owned(instance);
  if (owned == nullptr) return;
  if (!discard) {
    detail::SpinLockHolder lock(version.pool_mu);
    version.idle_instances.push_back(std::move(owned));
    return;
  }
  // A timed-out instance may be mid-way through anything: never reuse it.
  version.live_instances.fetch_sub(1, std::memory_order_relaxed);
}

void HostCore::release_held(HeldInstance& held) {
  if (held.instance != nullptr) release_instance(*held.version, held.instance, false);
  held = {};
}

HostCore::Executed HostCore::execute(Invocation& invocation, int64_t start_ns,
                                     HeldInstance* held) {
  FunctionSlot& slot = *invocation.slot;
  // Hot swap: an invocation that starts after update_function runs the new version; one
  // accepted before remove_function runs the last version.
  const FunctionVersion* version = slot.latest.load(std::memory_order_acquire);
  const FunctionSpec& spec = version->spec;
  const int64_t start = start_ns != 0 ? start_ns : detail::platform::now_ns();
  invocation.begin_run(version, start, start + absl::ToInt64Nanoseconds(spec.timeout));
  invocation.worker = executor->current_task();
  watcher_.watch(&invocation);

  // Always overwritten (by the handler, or by acquire_instance's failure); an empty message
  // keeps this placeholder off the heap.
  Result result{absl::Status(absl::StatusCode::kUnknown, "")};
  if (held != nullptr && held->instance != nullptr && held->version == invocation.version) {
    invocation.instance = held->instance;
    *held = {};
  } else {
    if (held != nullptr) release_held(*held);
    invocation.instance = acquire_instance(invocation, result);
  }
  if (invocation.instance != nullptr) {
    Context context(invocation);
    try {
      const Event event = invocation.full_event != nullptr
                              ? std::move(*invocation.full_event)
                              : Event::with_data(std::move(invocation.data));
      result = spec.handler(event, context);
    } catch (...) {
      result = absl::InternalError(fmt::format("function \"{}\" threw: {}", slot.name,
                                               describe_exception(std::current_exception())));
    }
  }
  const bool timed_out = !watcher_.unwatch(&invocation);
  const int64_t end_ns = detail::platform::now_ns();
  const int64_t duration_ns = end_ns - invocation.start_ns;
  const bool runs_short = duration_ns < kShortInvocationNs;
  if (slot.runs_short.load(std::memory_order_relaxed) != runs_short) {
    slot.runs_short.store(runs_short, std::memory_order_relaxed);
  }
  // Only instances without init are kept for the next invocation of the batch: one with init
  // is costly to create, and while this runner kept it, another would find the pool empty and
  // start one more (a burst then cold-starts several times as many).
  if (held != nullptr && !timed_out && invocation.instance != nullptr &&
      !invocation.version->spec.init) {
    *held = {invocation.instance, invocation.version};
  } else {
    release_instance(*invocation.version, invocation.instance, timed_out);
  }
  invocation.instance = nullptr;
  finish(invocation, std::move(result), duration_ns);
  invocation.release();
  return {.timed_out = timed_out, .end_ns = end_ns};
}

void HostCore::finish(Invocation& invocation, Result result, int64_t duration_ns) {
  FunctionSlot& slot = *invocation.slot;
  if (!invocation.try_claim_answer()) {
    // The deadline or shutdown answered already: this result is late and goes nowhere.
    slot.late_results.fetch_add(1, std::memory_order_relaxed);
    if (options.log_sink != nullptr) {
      log(LogLevel::kWarning, slot.name, invocation_id(invocation),
          fmt::format("late result dropped: the invocation was already answered after {}",
                      absl::FormatDuration(absl::Nanoseconds(duration_ns))));
    }
    return;
  }
  slot.duration.record(duration_ns);
  if (result.ok()) {
    slot.successes.fetch_add(1, std::memory_order_relaxed);
  } else {
    slot.errors.fetch_add(1, std::memory_order_relaxed);
    if (invocation.is_async) on_async_failure(invocation, result.status());
  }
  if (invocation.completion != nullptr) invocation.completion->complete(std::move(result));
}

void HostCore::on_deadline(Invocation* invocation) {
  if (invocation->try_claim_answer()) {
    FunctionSlot& slot = *invocation->slot;
    slot.timeouts.fetch_add(1, std::memory_order_relaxed);
    invocation->cancel.cancel();
    executor->mark_stuck(invocation->worker);
    const absl::Status timeout = absl::DeadlineExceededError(
        fmt::format("function \"{}\" timed out after {}", slot.name,
                    absl::FormatDuration(
                        absl::Nanoseconds(invocation->deadline_ns - invocation->start_ns))));
    if (invocation->is_async) on_async_failure(*invocation, timeout);
    if (invocation->completion != nullptr) invocation->completion->complete(timeout);
    if (draining_.load(std::memory_order_relaxed)) note_finished();
  }
  invocation->release();
}

void HostCore::take_claimed(FunctionSlot& slot, Invocation** out, int count, bool* waited) {
  size_t taken = slot.queue.try_dequeue_bulk(out, static_cast<size_t>(count));
  if (taken == static_cast<size_t>(count)) return;
  if (waited != nullptr) *waited = true;
  detail::Backoff backoff;
  // Counted by admissions that have not enqueued yet: they are moments away.
  while (taken < static_cast<size_t>(count)) {
    taken += slot.queue.try_dequeue_bulk(out + taken, static_cast<size_t>(count) - taken);
    if (taken < static_cast<size_t>(count)) backoff.pause();
  }
}

Invocation* HostCore::take_claimed(FunctionSlot& slot) {
  Invocation* invocation = nullptr;
  take_claimed(slot, &invocation, 1, nullptr);
  return invocation;
}

Invocation* HostCore::take_unstarted(FunctionSlot& slot) {
  uint64_t word = slot.state.load();
  do {
    if (FunctionSlot::queued_of(word) == 0) return nullptr;
  } while (!slot.state.compare_exchange_weak(word, word - 1));
  return take_claimed(slot);
}

void HostCore::drop(FunctionSlot& slot, Invocation& invocation, absl::Status status) {
  slot.dropped.fetch_add(1, std::memory_order_relaxed);
  answer_abandoned(invocation, std::move(status));
  invocation.release();
}

void HostCore::answer_abandoned(Invocation& invocation, absl::Status status) {
  if (invocation.try_claim_answer()) deliver_abandoned(invocation, std::move(status));
}

void HostCore::deliver_abandoned(Invocation& invocation, absl::Status status) {
  invocation.cancel.cancel();
  if (invocation.is_async && options.log_sink != nullptr) {
    log(LogLevel::kError, invocation.slot->name, invocation_id(invocation),
        detail::std_view(status.message()));
  }
  if (invocation.completion != nullptr) invocation.completion->complete(std::move(status));
}

// The seam for retries, on-failure destinations and dead letters: today a failed asynchronous
// invocation is counted (by the caller) and logged here.
void HostCore::on_async_failure(Invocation& invocation, const absl::Status& status) {
  if (options.log_sink == nullptr) return;
  log(LogLevel::kError, invocation.slot->name, invocation_id(invocation),
      fmt::format("async invocation failed: {}", status.ToString()));
}

// ---------------------------------------------------------------------------------------------
// Shutdown

void HostCore::note_finished() {
  MutexLock lock(drain_mu_);
  drain_cv_.notify_all();
}

int64_t HostCore::outstanding() const {
  int64_t count = 0;
  MutexLock lock(registration_mu_);
  for (const auto& slot : table_.slots()) {
    const uint64_t word = slot->state.load();
    count += FunctionSlot::queued_of(word) + FunctionSlot::running_of(word);
  }
  return count;
}

int64_t HostCore::finished_total() const {
  int64_t count = 0;
  MutexLock lock(registration_mu_);
  for (const auto& slot : table_.slots()) {
    count += slot->successes.load() + slot->errors.load() + slot->timeouts.load();
  }
  return count;
}

ShutdownReport HostCore::shutdown(absl::Duration timeout) {
  {
    MutexLock lock(drain_mu_);
    if (shut_down_) return {};
    shut_down_ = true;
  }
  ShutdownReport report;
  draining_.store(true);
  accepting_.store(false);
  const int64_t finished_before = finished_total();
  const auto deadline =
      std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(std::max(timeout, absl::ZeroDuration()));
  while (outstanding() > 0 && std::chrono::steady_clock::now() < deadline) {
    // A ManualExecutor has no threads of its own: pump it while waiting.
    if (executor->help_one()) continue;
    MutexLock lock(drain_mu_);
    // Bounded wait: a finishing invocation notifies, the bound covers one that ended between
    // the outstanding() check and this wait.
    drain_cv_.wait_until(drain_mu_, std::min(deadline, std::chrono::steady_clock::now() +
                                                           std::chrono::milliseconds(10)));
  }
  stopped_.store(true);
  // Drop what never started.
  std::vector<FunctionSlot*> slots;
  {
    MutexLock lock(registration_mu_);
    for (const auto& slot : table_.slots()) slots.push_back(slot.get());
  }
  for (FunctionSlot* slot : slots) {
    while (Invocation* invocation = take_unstarted(*slot)) {
      ++report.dropped;
      drop(*slot, *invocation,
           absl::UnavailableError(fmt::format(
               "host shut down before invocation of \"{}\" started", slot->name)));
    }
  }
  // Cancel what still runs.
  for (Invocation* invocation : watcher_.snapshot()) {
    if (invocation->try_claim_answer()) {
      ++report.unfinished;
      deliver_abandoned(*invocation,
                       absl::UnavailableError(fmt::format(
                           "host shut down while invocation of \"{}\" was running",
                           invocation->slot->name)));
    }
    invocation->release();
  }
  report.completed = finished_total() - finished_before;
  return report;
}

// ---------------------------------------------------------------------------------------------
// Misc

namespace detail {

void Invocation::release() {
  if (references.fetch_sub(1, std::memory_order_acq_rel) == 1) InvocationPool::recycle(this);
}

void Invocation::release_payload() {
  // Payloads above this keep no capacity: the pool must not pin large buffers.
  constexpr size_t kKeptCapacity = 4096;
  if (data.capacity() > kKeptCapacity) {
    std::string().swap(data);
  } else {
    data.clear();
  }
  full_event.reset();
  completion.reset();
}

}  // namespace detail

std::string HostCore::invocation_id(const Invocation& invocation) const {
  return fmt::format("{:08x}-{:04x}{:012x}", id_prefix_, invocation.slot->index & 0xffff,
                     invocation.sequence & 0xffffffffffffULL);
}

void HostCore::log(LogLevel level, std::string_view function, std::string_view invocation_id,
                   std::string_view message) const {
  if (options.log_sink == nullptr) return;
  const LogRecord record{.time = absl::Now(),
                         .level = level,
                         .function = function,
                         .invocation_id = invocation_id,
                         .message = message};
  try {
    options.log_sink->write(record);
  } catch (...) {
    // A failing sink must not take the invocation path down with it.
  }
}

// ---------------------------------------------------------------------------------------------
// Host facade

struct Host::Impl : HostCore {
  using HostCore::HostCore;
};

absl::StatusOr<Host> Host::create(HostOptions options) {
  if (options.drain_timeout < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        fmt::format("HostOptions: drain_timeout must be >= 0, got {}",
                    absl::FormatDuration(options.drain_timeout)));
  }
  std::shared_ptr<Executor> executor = options.executor;
  bool owns = false;
  if (executor == nullptr) {
    absl::StatusOr<std::unique_ptr<AutoscalingExecutor>> created =
        AutoscalingExecutor::create(options.executor_options);
    if (!created.ok()) return created.status();
    executor = std::shared_ptr<Executor>(*std::move(created));
    owns = true;
  }
  return Host(std::make_unique<Impl>(std::move(options), std::move(executor), owns));
}

Host::Host(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Host::Host(Host&&) noexcept = default;
Host& Host::operator=(Host&&) noexcept = default;
Host::~Host() = default;

absl::Status Host::register_function(FunctionSpec spec) {
  return impl_->register_function(std::move(spec));
}
absl::Status Host::update_function(FunctionSpec spec) {
  return impl_->update_function(std::move(spec));
}
absl::Status Host::remove_function(std::string_view name) { return impl_->remove_function(name); }
bool Host::has_function(std::string_view name) const { return impl_->has_function(name); }
std::vector<std::string> Host::function_names() const { return impl_->function_names(); }

Completion Host::invoke(std::string_view name, Event event) {
  return impl_->invoke(name, std::move(event));
}

absl::Status Host::invoke_async(std::string_view name, Event event) {
  return impl_->admit(name, std::move(event), nullptr);
}

absl::StatusOr<FunctionStats> Host::function_stats(std::string_view name) const {
  return impl_->function_stats(name);
}
ExecutorStats Host::executor_stats() const { return impl_->executor->stats(); }
Executor& Host::executor() const { return *impl_->executor; }
ShutdownReport Host::shutdown(absl::Duration timeout) { return impl_->shutdown(timeout); }
bool Host::is_accepting() const { return impl_->is_accepting(); }

}  // namespace fnhost
