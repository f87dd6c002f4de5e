// SPDX-License-Identifier: Apache-2.0
// register_stream_writer: a function whose instances each hold a connection and XADD events.
#include "fnhost/redis/stream_writer.hpp"

#include <memory>
#include <string>
#include <utility>

#include "connection.hpp"
#include "entries.hpp"
#include "fmt/format.h"
#include "options.hpp"

namespace fnhost::redis {
namespace {

Result write_event(detail::Connection& connection, const StreamWriterOptions& options,
                   const Event& event) {
  if (absl::Status connected = connection.ensure_connected(); !connected.ok()) return connected;
  detail::Command xadd = {"XADD", options.stream};
  if (options.max_len > 0) {
    xadd.push_back("MAXLEN");
    xadd.push_back(options.exact_trim ? "=" : "~");
    xadd.push_back(std::to_string(options.max_len));
  }
  xadd.push_back("*");
  for (auto& [name, value] : detail::fields_of_event(event)) {
    xadd.push_back(std::move(name));
    xadd.push_back(std::move(value));
  }
  absl::StatusOr<detail::Reply> added = connection.run(xadd);
  if (!added.ok()) {
    // A lost connection (Unavailable) is retried by the host; a refusal (the key holds another
    // type) would fail again.
    if (added.status().code() == absl::StatusCode::kUnavailable) return added.status();
    const absl::string_view message = added.status().message();
    return not_retryable(absl::FailedPreconditionError(
        fmt::format("XADD to \"{}\" refused: {}", options.stream.substr(0, 128),
                    std::string_view(message.data(), message.size()))));
  }
  return detail::text_of(added->get());
}

}  // namespace

absl::Status register_stream_writer(Host& host, std::string_view name,
                                    StreamWriterOptions options) {
  if (absl::Status valid = detail::validate_stream_writer_options(options); !valid.ok()) {
    return valid;
  }
  auto shared_options = std::make_shared<const StreamWriterOptions>(std::move(options));
  return host.register_function(FunctionSpec{
      .name = std::string(name),
      .handler = [shared_options](const Event& event, Context& ctx) -> Result {
        auto* connection = ctx.instance_state<detail::Connection>();
        if (connection == nullptr) return absl::InternalError("stream writer: no connection");
        return write_event(*connection, *shared_options, event);
      },
      // Each instance runs one invocation at a time, so its connection needs no lock.
      .init = [shared_options](const InitContext&) -> absl::StatusOr<InstanceState> {
        return std::make_shared<detail::Connection>(shared_options->server);
      },
      .max_concurrency = shared_options->max_concurrency,
      .retry = shared_options->retry,
      // Events written to a stream are not deduplicated by the writer.
      .idempotency_window = absl::ZeroDuration(),
  });
}

}  // namespace fnhost::redis
