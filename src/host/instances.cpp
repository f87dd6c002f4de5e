// SPDX-License-Identifier: Apache-2.0
// Instances: provisioned at registration, created on demand (a cold start), reused LIFO from
// their version's idle pool, discarded after a timeout, and destroyed with their version.
#include <memory>
#include <utility>

#include "fmt/format.h"
#include "delivery/idempotency.hpp"
#include "host/host_core.hpp"
#include "host/messages.hpp"
#include "platform/platform.hpp"

namespace fnhost {

using detail::FunctionSlot;
using detail::FunctionVersion;
using detail::Instance;
using detail::Invocation;

namespace {

// Runs `version`'s init (user code) through the guarded path, timing it into `durations`.
absl::StatusOr<InstanceState> run_init(const FunctionVersion& version,
                                       detail::DurationHistogram* durations,
                                       int64_t* duration_ns = nullptr) {
  const InitContext init_context(version.spec.name, version.number, version.spec.env);
  absl::StatusOr<InstanceState> state;
  const int64_t start = detail::platform::now_ns();
  try {
    state = version.spec.init(init_context);
  } catch (...) {
    state = absl::InternalError(detail::describe_exception(std::current_exception()));
  }
  const int64_t took = detail::platform::now_ns() - start;
  if (durations != nullptr) durations->record(took);
  if (duration_ns != nullptr) *duration_ns = took;
  return state;
}

}  // namespace

namespace detail {

FunctionVersion::~FunctionVersion() {
  // No lock: the last pin is gone, nobody else can reach the pool.
  const auto idle = static_cast<int64_t>(idle_instances.size());
  idle_instances.clear();
  if (slot != nullptr) slot->live_instances.fetch_sub(idle, std::memory_order_relaxed);
}

FunctionSlot::~FunctionSlot() {
  delete idempotency.load();
  const FunctionVersion* last = latest.exchange(nullptr);
  if (last != nullptr && last->retire()) delete last;
}

}  // namespace detail

absl::Status HostCore::provision(const FunctionVersion& version, int count, int64_t* instances) {
  for (int i = 0; i < count; ++i) {
    auto instance = std::make_unique<Instance>();
    if (version.spec.init) {
      absl::StatusOr<InstanceState> state = run_init(version, nullptr);
      if (!state.ok()) {
        return absl::InternalError(fmt::format(
            "function {}: init of provisioned instance {} of {} failed: {}",
            detail::quoted(version.spec.name), i + 1, count, state.status().ToString()));
      }
      instance->state = *std::move(state);
    }
    detail::SpinLockHolder lock(version.pool_mu);
    version.idle_instances.push_back(std::move(instance));
    ++*instances;
  }
  return absl::OkStatus();
}

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
  invocation.init_ns = 0;
  slot.cold_starts.fetch_add(1, std::memory_order_relaxed);
  if (version.spec.init) {
    absl::StatusOr<InstanceState> state =
        run_init(version, &slot.init_duration, &invocation.init_ns);
    if (!state.ok()) {
      failure = absl::InternalError(fmt::format("function \"{}\": init failed: {}", slot.name,
                                                detail::std_view(state.status().message())));
      return nullptr;
    }
    instance->state = *std::move(state);
  }
  slot.live_instances.fetch_add(1, std::memory_order_relaxed);
  return instance.release();
}

void HostCore::release_instance(const FunctionVersion& version, Instance* instance, bool discard) {
  std::unique_ptr<Instance> owned(instance);
  if (owned == nullptr) return;
  if (!discard) {
    detail::SpinLockHolder lock(version.pool_mu);
    version.idle_instances.push_back(std::move(owned));
    return;
  }
  // A timed-out instance may be mid-way through anything: never reuse it. Destroyed here,
  // outside the pool's lock (its destructor is user code).
  owned.reset();
  version.slot->live_instances.fetch_sub(1, std::memory_order_relaxed);
}

void HostCore::release_held(HeldInstance& held) {
  if (held.instance != nullptr) release_instance(*held.version, held.instance, false);
  held = {};
}

}  // namespace fnhost
