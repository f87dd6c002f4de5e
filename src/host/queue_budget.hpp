// SPDX-License-Identifier: Apache-2.0
// A host-wide bound (HostLimits::max_queued_invocations, max_queued_bytes) that admission and
// claiming can count against without meeting on one cache line. The tokens are spread over
// stripes; a thread takes from and gives back to its own stripe, and only when its stripe is
// short does it gather from the others. Tokens are conserved, so what try_take takes never
// exceeds the bound; near the bound a take may fail while another thread holds gathered tokens
// for a moment (a refusal a little early, never a bound exceeded). take_anyway counts work that
// must not be refused as a debt past the bound, and try_take fails until it is repaid.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

namespace fnhost::detail {

class QueueBudget {
 public:
  // `limit` <= 0: unbounded (enabled() is false; take and give_back must not be called).
  explicit QueueBudget(int64_t limit);
  QueueBudget(const QueueBudget&) = delete;
  QueueBudget& operator=(const QueueBudget&) = delete;

  [[nodiscard]] bool enabled() const { return limit_ > 0; }
  // Takes `amount` (>= 0) tokens; false, taking nothing, if fewer are left.
  [[nodiscard]] bool try_take(int64_t amount);
  // Takes `amount` tokens even if fewer are left: what is missing becomes a debt, every
  // try_take fails until give_back has repaid it, so the count passes the bound only by what was
  // taken this way. For work accepted already that must be counted, not refused.
  void take_anyway(int64_t amount);
  // Returns `amount` tokens taken before.
  void give_back(int64_t amount);
  // Tokens taken now (a snapshot: exact when nothing moves).
  [[nodiscard]] int64_t in_use() const;

 private:
  static constexpr int kStripes = 16;
  struct alignas(64) Stripe {
    std::atomic<int64_t> available{0};
  };
  static int home_stripe();
  // Takes up to `amount` tokens, from the home stripe if it has them, else gathered from all;
  // returns how many it took.
  int64_t take_up_to(int64_t amount);

  const int64_t limit_;
  std::array<Stripe, kStripes> stripes_;
  // Tokens take_anyway took beyond the bound, not yet given back. Read by every take (a shared
  // line, written only while the host is over a bound).
  alignas(64) std::atomic<int64_t> debt_{0};
};

}  // namespace fnhost::detail
