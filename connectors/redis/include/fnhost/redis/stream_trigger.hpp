// SPDX-License-Identifier: Apache-2.0
// File: fnhost/redis/stream_trigger.hpp
// `fnhost::redis::StreamTrigger`: a Redis Streams consumer-group trigger for a Host (target
// fnhost::redis, built on Debian's hiredis). It reads a stream through a consumer group
// (XREADGROUP), hands each entry to `Host::invoke_async` (or `Host::publish`), and acknowledges
// it (XACK) only once the host settled it: succeeded, or dead-lettered after the function's
// retries (then, optionally, XADDed to a dead-letter stream first). Entries a dead consumer left
// pending are reclaimed (XAUTOCLAIM) after `claim_idle`. At most `max_in_flight` entries are
// read and not yet settled at any time. Delivery is at least once; the entry id is the event's
// idempotency key.
//
//   auto trigger = fnhost::redis::StreamTrigger::start(
//       host, {.server = {.port = 6379}, .stream = "orders", .group = "billing",
//              .consumer = "billing-1", .function = "bill"}).value();
//   ...
//   trigger->stop();                  // stop reading; acknowledge what settles in time
//   host.shutdown(absl::Seconds(5));  // then the host drains
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "fnhost/host.hpp"

namespace fnhost::redis {

// Where the Redis server is and how long to wait for it. Field order is API: append only.
struct ServerOptions {
  // Host name or address of the server. Not empty.
  std::string host = "127.0.0.1";
  // TCP port, 1..65535.
  int port = 6379;
  // When set, sent with AUTH after connecting (with `username` too when that is set: Redis 6
  // ACL users). At most 4096 bytes each.
  std::string username;
  std::string password;
  // Bounds connecting and each reply (beyond an XREADGROUP's own BLOCK time). 1 ms..10 min.
  absl::Duration io_timeout = absl::Seconds(5);
};

// Configuration of a StreamTrigger. Validated by StreamTrigger::start(). Field order is API:
// append only.
struct StreamTriggerOptions {
  ServerOptions server;
  // The stream key to read. Not empty, at most 1024 bytes.
  std::string stream;
  // The consumer group. Not empty, at most 256 bytes.
  std::string group;
  // This consumer's name in the group: unique per running process (a restarted process that
  // keeps its name first takes back its own pending entries). Not empty, at most 256 bytes.
  std::string consumer;
  // Each entry is invoked on this function with Host::invoke_async ...
  std::string function;
  // ... or published with Host::publish to this topic. Exactly one of the two is set.
  std::string topic;
  // Create the group (XGROUP CREATE ... MKSTREAM) if it does not exist.
  bool create_group = true;
  // Where a group created by the trigger starts: "0" (every entry already in the stream) or
  // "$" (only entries added from now on), or an entry id.
  std::string group_start_id = "0";
  // Entries read and not yet settled, at most (the entries refused with ResourceExhausted and
  // waiting to be offered again included). Each read asks for COUNT = the free slots. 1..100000.
  int max_in_flight = 64;
  // How long one XREADGROUP waits for new entries (its BLOCK). stop() may wait this long for
  // the reading thread. 1 ms..1 min.
  absl::Duration read_block = absl::Milliseconds(500);
  // Entries pending in the group (read by any consumer, not acknowledged) for at least this
  // long are claimed by this consumer (XAUTOCLAIM) and processed again. Must exceed the longest
  // time an entry takes to settle, retries included, or a live consumer's entry is processed a
  // second time. 0 turns reclaiming off; otherwise 1 ms..7 days.
  absl::Duration claim_idle = absl::Seconds(60);
  // How often XAUTOCLAIM looks for such entries (while there are free slots). 1 ms..1 h.
  absl::Duration claim_interval = absl::Seconds(5);
  // When set, an entry that was dead-lettered (or could not be made an event) is XADDed here
  // with its fields plus `error` (the message), `errorcode` (the absl::StatusCode number),
  // `attempts`, `sourcestream`, `sourceid`, `group` — in one MULTI with its XACK. At most 1024
  // bytes; must differ from `stream`.
  std::string dead_letter_stream;
  // How long stop() waits for entries in flight to settle and be acknowledged. 0..1 h.
  absl::Duration stop_timeout = absl::Seconds(10);
  // After a connection is lost the trigger reconnects after this backoff, doubling up to
  // `reconnect_backoff_max`. 1 ms..1 min, and initial <= max.
  absl::Duration reconnect_backoff_initial = absl::Milliseconds(100);
  absl::Duration reconnect_backoff_max = absl::Seconds(5);
};

// Checks `options` without connecting: InvalidArgument naming the field.
[[nodiscard]] absl::Status validate_stream_trigger_options(const StreamTriggerOptions& options);

// A StreamTrigger's counters (each a total since start, except the gauges in_flight and held).
struct StreamTriggerStats {
  int64_t read = 0;            // entries received: XREADGROUP, own pending, and XAUTOCLAIM
  int64_t acked = 0;           // entries acknowledged (XACK), dead-lettered ones included
  int64_t succeeded = 0;       // settled kSucceeded (then acknowledged)
  int64_t dead_lettered = 0;   // settled kDeadLettered, or invalid, then acknowledged
  int64_t invalid = 0;         // entries that could not be made an event (dead-lettered at once)
  int64_t reclaimed = 0;       // entries claimed from other consumers by XAUTOCLAIM
  int64_t redelivered = 0;     // entries delivered before: reclaimed plus own pending re-read
  int64_t refused = 0;         // offers refused for now (ResourceExhausted, ...) and retried
  int64_t left_pending = 0;    // settled kDropped, or unsettled at stop(): not acknowledged
  int64_t errors = 0;          // failed Redis commands and lost connections
  int64_t reconnects = 0;      // connections made again after a loss
  int64_t in_flight = 0;       // gauge: read and not yet acknowledged or left
  int64_t peak_in_flight = 0;  // the most in_flight has been
  bool reading = true;         // false once stop() has stopped reading: nothing is read after
};

// A running consumer of one stream through one consumer group. Thread-safe: stats() and
// stop() may be called from any thread, but not from a handler it invokes. The host must
// outlive the trigger.
class StreamTrigger {
 public:
  // Connects, creates the group if asked, and starts two threads ("fnhost-redis-r" reads and
  // offers, "fnhost-redis-a" acknowledges). InvalidArgument for a bad option (the message names
  // it); NotFound if `function` is not registered; Unavailable if the server cannot be reached
  // or refuses the group (the message says why). `host` is kept by reference.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<StreamTrigger>> start(
      Host& host, StreamTriggerOptions options);

  StreamTrigger(const StreamTrigger&) = delete;
  StreamTrigger& operator=(const StreamTrigger&) = delete;
  // Stops (see stop()).
  ~StreamTrigger();

  // A snapshot of the counters.
  [[nodiscard]] StreamTriggerStats stats() const;

  // Stops reading new entries, then waits up to `stop_timeout` for the entries in flight to
  // settle and be acknowledged, then joins the threads. Entries not settled by then (and ones
  // waiting to be offered again) are not acknowledged: they stay pending in the group for a
  // consumer to reclaim (counted in left_pending). Idempotent; blocks.
  void stop();

 private:
  struct Impl;
  explicit StreamTrigger(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fnhost::redis
