// SPDX-License-Identifier: Apache-2.0
// Internal (connectors/http/src/cloudevents.hpp).
// The CloudEvents 1.0 HTTP protocol binding, both modes, as pure functions (no HTTP library:
// the fuzz target links this file alone):
//  - binary mode: attributes in `ce-*` headers (values percent-decoded), `Content-Type` as
//    `datacontenttype`, the body as `data`;
//  - structured mode (`Content-Type: application/cloudevents+json`): one JSON object with the
//    attributes, `data` (a JSON value; a string stays text when `datacontenttype` is not JSON)
//    or `data_base64`.
// Required: `specversion` ("1.0"), `id`, `source`, `type`; `subject`, `time` (RFC 3339) and
// `datacontenttype` fill the Event's fields; every other attribute (`dataschema`, `topic`,
// `traceparent`, ...) becomes an extension. Attribute names are 1..64 of [a-z0-9]. Errors are
// InvalidArgument naming the attribute, quoting at most 64 bytes of the input.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "fnhost/event.hpp"

namespace fnhost::http::detail {

// (name, value) pairs as received; names in any case.
using HeaderList = std::vector<std::pair<std::string, std::string>>;

// Most extension attributes one event may carry.
inline constexpr size_t kMaxExtensions = 64;
// Deepest nesting of arrays and objects a structured event may have.
inline constexpr int kMaxJsonDepth = 64;

// The media type of a Content-Type value: before any ';', without spaces, lowercase.
std::string media_type(std::string_view content_type);
// Whether `content_type` is application/cloudevents+json (structured mode).
bool is_structured_mode(std::string_view content_type);
// Whether `content_type` is application/cloudevents-batch+json (batched mode).
bool is_batch_mode(std::string_view content_type);
// Whether `content_type` names JSON (application/json, text/json or any +json suffix).
bool is_json_media_type(std::string_view content_type);

// Binary mode: the event in `headers` (ce-* and Content-Type) with `body` as its data.
absl::StatusOr<Event> parse_binary_cloudevent(const HeaderList& headers, std::string body);

// Structured mode: the event in the JSON object `body`.
absl::StatusOr<Event> parse_structured_cloudevent(std::string_view body);

}  // namespace fnhost::http::detail
