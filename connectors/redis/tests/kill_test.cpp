// SPDX-License-Identifier: Apache-2.0
// Two host processes share one consumer group; one is killed with SIGKILL mid-stream. Every
// event is processed at least once and none is lost: the survivor reclaims what the dead one
// left pending. Duplicates at the transport level are bounded by what the dead one had in
// flight; the handler's effect (SADD of the entry id) is applied once per event.
#include <signal.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <set>
#include <string>

#include "trigger_fixture.hpp"

namespace fnhost::redis::testing {
namespace {

using fnhost::testing::wait_until;

constexpr int kEvents = 3000;
constexpr int kMaxInFlight = 8;

ChildProcess start_worker(const RedisServer& redis, const std::string& consumer) {
  return ChildProcess({FNHOST_REDIS_TEST_WORKER, std::to_string(redis.port()), "s", "g", consumer,
                       std::to_string(kMaxInFlight), /*claim_idle_ms=*/"1000",
                       /*work_us=*/"1000"},
                      (redis.directory() / (consumer + ".log")).string());
}

TEST_CASE("two worker processes, one killed mid-stream: every event processed, none lost",
          "[redis][kill]") {
  RedisServer redis;
  RedisClient client = redis.client();
  client.run({"XGROUP", "CREATE", "s", "g", "0", "MKSTREAM"});
  ChildProcess doomed = start_worker(redis, "doomed");
  ChildProcess survivor = start_worker(redis, "survivor");
  // The entries come once both read (a consumer joins the group at its first read): a worker
  // that starts late on a loaded machine would otherwise find the stream nearly done.
  REQUIRE(wait_until([&] {
    return detail::size_of(client.run({"XINFO", "CONSUMERS", "s", "g"}).get()) == 2;
  }));
  std::set<std::string> ids;
  for (int i = 0; i < kEvents; ++i) ids.insert(client.add("s", {{"data", std::to_string(i)}}));
  // Mid-stream: both are working, a good share is left.
  REQUIRE(wait_until([&] {
    return client.integer({"LLEN", "deliveries:doomed"}) >= 100 &&
           client.integer({"LLEN", "deliveries:survivor"}) >= 100;
  }));
  const int status = doomed.signal_and_wait(SIGKILL);
  REQUIRE(WIFSIGNALED(status));
  const long long left_by_doomed = client.pending_of("s", "g", "doomed");
  INFO("pending for the killed worker: " << left_by_doomed);
  CHECK(left_by_doomed <= kMaxInFlight);
  // Killed mid-stream: it left work behind, entries not yet processed or ones it held unacked
  // (on a loaded machine the survivor can process the rest before the kill lands).
  CHECK((client.integer({"SCARD", "processed"}) < kEvents || left_by_doomed > 0));

  // The survivor reclaims them after claim_idle and finishes the stream.
  REQUIRE(wait_until([&] {
    return client.integer({"SCARD", "processed"}) == kEvents && client.pending("s", "g") == 0;
  }));
  const int survivor_status = survivor.signal_and_wait(SIGTERM);
  REQUIRE(WIFEXITED(survivor_status));
  CHECK(WEXITSTATUS(survivor_status) == 0);

  // None lost: the effect was applied to every entry id.
  detail::Reply members = client.run({"SMEMBERS", "processed"});
  std::set<std::string> processed;
  for (size_t i = 0; i < detail::size_of(members.get()); ++i) {
    processed.insert(detail::text_of(detail::element(members.get(), i)));
  }
  CHECK(processed == ids);
  // At least once: runs beyond one per event are the killed worker's unacknowledged ones.
  const long long deliveries = client.integer({"LLEN", "deliveries"});
  const long long duplicates = deliveries - kEvents;
  INFO("handler runs " << deliveries << " for " << kEvents << " events: " << duplicates
                       << " duplicates");
  CHECK(duplicates >= 0);
  CHECK(duplicates <= left_by_doomed);
  CHECK(std::stoll(client.text({"HGET", "stats:survivor", "reclaimed"})) == left_by_doomed);
  CHECK(std::stoll(client.text({"HGET", "stats:survivor", "peak_in_flight"})) <= kMaxInFlight);
}

}  // namespace
}  // namespace fnhost::redis::testing
