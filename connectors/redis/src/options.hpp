// SPDX-License-Identifier: Apache-2.0
// Internal: validation shared by the trigger and the writer.
#pragma once

#include <string_view>

#include "absl/status/status.h"
#include "fnhost/redis/stream_trigger.hpp"
#include "fnhost/redis/stream_writer.hpp"

namespace fnhost::redis::detail {

// InvalidArgument naming `<owner>::server::<field>`.
[[nodiscard]] absl::Status validate_server_options(std::string_view owner,
                                                   const ServerOptions& server);
// InvalidArgument naming `StreamWriterOptions::<field>`.
[[nodiscard]] absl::Status validate_stream_writer_options(const StreamWriterOptions& options);

}  // namespace fnhost::redis::detail
