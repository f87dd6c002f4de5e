// SPDX-License-Identifier: Apache-2.0
// Internal: one synchronous hiredis connection, used by one thread at a time.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "fnhost/redis/stream_trigger.hpp"

struct redisContext;
struct redisReply;

namespace fnhost::redis::detail {

struct ReplyDeleter {
  void operator()(redisReply* reply) const;
};
// An owned reply. Error replies never come back as replies: they become a Status.
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

// The command's words, each sent as one bulk string (binary-safe).
using Command = std::vector<std::string>;

// A connection to one server. Not thread-safe: one thread uses it at a time.
class Connection {
 public:
  // `extra_read_time` is added to the server's io_timeout for every reply (a blocking
  // XREADGROUP's BLOCK).
  explicit Connection(ServerOptions server, absl::Duration extra_read_time = absl::ZeroDuration());
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Connects (and AUTHs) unless connected. Unavailable with the reason on failure.
  [[nodiscard]] absl::Status ensure_connected();
  [[nodiscard]] bool is_connected() const { return context_ != nullptr; }
  void close();

  // Sends one command and reads its reply. Unavailable when the connection failed (it is closed
  // then; ensure_connected() makes it again); FailedPrecondition with the server's message for
  // an error reply.
  [[nodiscard]] absl::StatusOr<Reply> run(const Command& command);
  // Sends the commands in one write and reads their replies in order. Fails as run() for the
  // first failed reply (the connection is closed on an I/O failure).
  [[nodiscard]] absl::StatusOr<std::vector<Reply>> run_all(const std::vector<Command>& commands);

 private:
  absl::Status append(const Command& command);
  absl::StatusOr<Reply> read_reply();
  absl::Status lost(std::string_view what);

  ServerOptions server_;
  absl::Duration extra_read_time_;
  redisContext* context_ = nullptr;
};

// Accessors over a reply that tolerate any shape (a malformed reply reads as empty).
[[nodiscard]] bool is_array(const redisReply* reply);
[[nodiscard]] bool is_nil(const redisReply* reply);
[[nodiscard]] size_t size_of(const redisReply* reply);
[[nodiscard]] const redisReply* element(const redisReply* reply, size_t index);
[[nodiscard]] std::string text_of(const redisReply* reply);
[[nodiscard]] long long integer_of(const redisReply* reply);

}  // namespace fnhost::redis::detail
