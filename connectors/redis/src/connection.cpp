// SPDX-License-Identifier: Apache-2.0
// Connection: hiredis's synchronous API with timeouts, AUTH, and error replies as statuses.
#include "connection.hpp"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <utility>

#include "fmt/format.h"

namespace fnhost::redis::detail {
namespace {

timeval to_timeval(absl::Duration duration) {
  const int64_t micros = absl::ToInt64Microseconds(duration);
  return timeval{.tv_sec = static_cast<time_t>(micros / 1'000'000),
                 .tv_usec = static_cast<suseconds_t>(micros % 1'000'000)};
}

std::vector<const char*> words_of(const Command& command, std::vector<size_t>& lengths) {
  std::vector<const char*> words;
  words.reserve(command.size());
  lengths.clear();
  lengths.reserve(command.size());
  for (const std::string& word : command) {
    words.push_back(word.data());
    lengths.push_back(word.size());
  }
  return words;
}

}  // namespace

void ReplyDeleter::operator()(redisReply* reply) const { freeReplyObject(reply); }

Connection::Connection(ServerOptions server, absl::Duration extra_read_time)
    : server_(std::move(server)), extra_read_time_(extra_read_time) {}

Connection::~Connection() { close(); }

void Connection::close() {
  if (context_ != nullptr) redisFree(context_);
  context_ = nullptr;
}

absl::Status Connection::lost(std::string_view what) {
  std::string reason = context_ != nullptr && context_->err != 0 ? context_->errstr : "no reply";
  close();
  return absl::UnavailableError(
      fmt::format("redis {}:{}: {}: {}", server_.host, server_.port, what, reason));
}

absl::Status Connection::ensure_connected() {
  if (context_ != nullptr) return absl::OkStatus();
  context_ =
      redisConnectWithTimeout(server_.host.c_str(), server_.port, to_timeval(server_.io_timeout));
  if (context_ == nullptr) {
    return absl::UnavailableError(
        fmt::format("redis {}:{}: cannot allocate a connection", server_.host, server_.port));
  }
  if (context_->err != 0) return lost("cannot connect");
  if (redisSetTimeout(context_, to_timeval(server_.io_timeout + extra_read_time_)) != REDIS_OK) {
    return lost("cannot set the socket timeout");
  }
  if (!server_.password.empty()) {
    Command auth = {"AUTH"};
    if (!server_.username.empty()) auth.push_back(server_.username);
    auth.push_back(server_.password);
    absl::StatusOr<Reply> answered = run(auth);
    if (!answered.ok()) {
      close();
      const absl::string_view message = answered.status().message();
      return absl::UnavailableError(fmt::format("redis {}:{}: AUTH refused: {}", server_.host,
                                                server_.port,
                                                std::string_view(message.data(), message.size())));
    }
  }
  return absl::OkStatus();
}

absl::Status Connection::append(const Command& command) {
  if (context_ == nullptr) {
    return absl::UnavailableError(
        fmt::format("redis {}:{}: not connected", server_.host, server_.port));
  }
  std::vector<size_t> lengths;
  std::vector<const char*> words = words_of(command, lengths);
  if (redisAppendCommandArgv(context_, static_cast<int>(words.size()), words.data(),
                             lengths.data()) != REDIS_OK) {
    return lost("cannot send " + command.front());
  }
  return absl::OkStatus();
}

absl::StatusOr<Reply> Connection::read_reply() {
  void* raw = nullptr;
  if (redisGetReply(context_, &raw) != REDIS_OK || raw == nullptr) return lost("lost");
  Reply reply(static_cast<redisReply*>(raw));
  if (reply->type == REDIS_REPLY_ERROR) {
    return absl::FailedPreconditionError(std::string(reply->str, reply->len));
  }
  return reply;
}

absl::StatusOr<Reply> Connection::run(const Command& command) {
  if (absl::Status sent = append(command); !sent.ok()) return sent;
  return read_reply();
}

absl::StatusOr<std::vector<Reply>> Connection::run_all(const std::vector<Command>& commands) {
  for (const Command& command : commands) {
    if (absl::Status sent = append(command); !sent.ok()) return sent;
  }
  std::vector<Reply> replies;
  absl::Status first_error;
  for (size_t i = 0; i < commands.size(); ++i) {
    absl::StatusOr<Reply> reply = read_reply();
    if (!reply.ok()) {
      // An I/O failure closed the connection: nothing more to read.
      if (reply.status().code() == absl::StatusCode::kUnavailable) return reply.status();
      // An error reply: keep reading, so the connection stays in step with its commands.
      if (first_error.ok()) first_error = reply.status();
      continue;
    }
    replies.push_back(*std::move(reply));
  }
  if (!first_error.ok()) return first_error;
  return replies;
}

bool is_array(const redisReply* reply) {
  return reply != nullptr && reply->type == REDIS_REPLY_ARRAY;
}

bool is_nil(const redisReply* reply) { return reply == nullptr || reply->type == REDIS_REPLY_NIL; }

size_t size_of(const redisReply* reply) { return is_array(reply) ? reply->elements : 0; }

const redisReply* element(const redisReply* reply, size_t index) {
  return index < size_of(reply) ? reply->element[index] : nullptr;
}

std::string text_of(const redisReply* reply) {
  if (reply == nullptr) return {};
  if (reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_STATUS) {
    return std::string(reply->str, reply->len);
  }
  if (reply->type == REDIS_REPLY_INTEGER) return std::to_string(reply->integer);
  return {};
}

long long integer_of(const redisReply* reply) {
  if (reply == nullptr) return 0;
  if (reply->type == REDIS_REPLY_INTEGER) return reply->integer;
  return 0;
}

}  // namespace fnhost::redis::detail
