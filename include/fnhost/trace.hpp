// SPDX-License-Identifier: Apache-2.0
// File: fnhost/trace.hpp
// W3C Trace Context (Level 1, https://www.w3.org/TR/trace-context/): `TraceContext` holds what
// a `traceparent` header carries plus the `tracestate` list to pass on; parse_trace_context()
// reads both headers as a receiver must, and format_traceparent() writes the version 00 header
// for an outgoing request.
//
//   absl::StatusOr<fnhost::TraceContext> incoming =
//       fnhost::parse_trace_context(request.header("traceparent"), request.header("tracestate"));
//   if (incoming.ok()) {
//     // Same trace, our span as the new parent-id, the list passed on unchanged.
//     fnhost::TraceContext outgoing = *incoming;
//     outgoing.span_id = new_span_id();
//     send("traceparent", fnhost::format_traceparent(outgoing));
//     if (!outgoing.tracestate.empty()) send("tracestate", outgoing.tracestate);
//   }  // else: restart the trace with fresh ids and no tracestate.
//
// Several `tracestate` header fields are one list: join them with "," in the order received
// (RFC 7230 section 3.2.2) before parsing. Several `traceparent` fields joined that way never
// parse, which is what the spec asks for. Header names are the caller's business (they are
// case-insensitive). Every function here is pure: thread-safe, never blocks; the ones returning
// strings allocate.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace fnhost {

// A W3C Trace Context: what `traceparent` carries, plus the `tracestate` to pass on.
struct TraceContext {
  std::array<uint8_t, 16> trace_id{};  // all zero = invalid
  std::array<uint8_t, 8> span_id{};    // parent-id: the span that sent it; all zero = invalid
  uint8_t flags = 0;                   // trace-flags; bit 0 = sampled
  std::string tracestate;              // validated list to propagate; empty if none/invalid
  // Whether the sender may have recorded this trace (the sampled bit of `flags`).
  [[nodiscard]] bool sampled() const { return (flags & 1) != 0; }
  // Whether neither id is all zero; a parsed context always is.
  [[nodiscard]] bool valid() const;
};

// The one trace-flags bit that version 00 defines.
inline constexpr uint8_t kTraceFlagSampled = 0x01;

// The size of a version 00 `traceparent` value: "00-" + 32 hex + "-" + 16 hex + "-" + 2 hex.
inline constexpr std::size_t kTraceparentSize = 55;

// The most list members a `tracestate` may have.
inline constexpr std::size_t kMaxTracestateMembers = 32;

// Parses a `traceparent` header value; spaces and tabs around it are ignored. Version 00 must be
// exactly kTraceparentSize characters; a higher version is read leniently (at least that long,
// the same fields at the same places, then either the end or "-" and fields left unread); "ff"
// is no version. Hex digits must be lowercase and neither id all zero. `flags` keeps all 8 bits
// as received. InvalidArgument with a message naming the field and the byte position (counted
// from 0 in `header` as passed), quoting at most 64 bytes of `header`.
[[nodiscard]] absl::StatusOr<TraceContext> parse_traceparent(std::string_view header);

// Validates a `tracestate` header value and returns it normalised for propagation (members
// joined with "," , surrounding optional whitespace and empty members removed, order kept);
// "" for a list with no members. InvalidArgument if the list breaks the grammar, has a duplicate
// key, or has more than kMaxTracestateMembers members; the message names the member and its
// byte position in `header`, quoting at most 64 bytes.
[[nodiscard]] absl::StatusOr<std::string> parse_tracestate(std::string_view header);

// Both at once, as a receiver does: an invalid traceparent is an error; an invalid tracestate is
// dropped (the result's tracestate is empty) — the spec says to discard tracestate then, not the
// traceparent. Pass "" for a missing header. InvalidArgument as parse_traceparent().
[[nodiscard]] absl::StatusOr<TraceContext> parse_trace_context(std::string_view traceparent,
                                                               std::string_view tracestate);

// Always version "00": 00-<32 lowercase hex>-<16 lowercase hex>-<2 lowercase hex>. Unknown flag
// bits from a future version are NOT passed on: only the sampled bit is kept (spec: version 00
// emitters only set known flags). Does not check valid(): an invalid context gives a header
// that receivers reject.
[[nodiscard]] std::string format_traceparent(const TraceContext& context);

// `id` as 32 lowercase hex digits, the trace-id field's form.
[[nodiscard]] std::string trace_id_hex(const std::array<uint8_t, 16>& id);

// `id` as 16 lowercase hex digits, the parent-id field's form.
[[nodiscard]] std::string span_id_hex(const std::array<uint8_t, 8>& id);

}  // namespace fnhost
