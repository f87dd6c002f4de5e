// SPDX-License-Identifier: Apache-2.0
// W3C Trace Context parsing and formatting. traceparent fields sit at fixed positions, so the
// reader checks them byte by byte and reports the first bad one; tracestate is split at ',' and
// each member checked against the Level 1 grammar. Nothing here keeps state.
#include <algorithm>
#include <iterator>
#include <vector>

#include "absl/status/status.h"
#include "common/quote.hpp"
#include "fmt/format.h"
#include "fnhost/trace.hpp"

namespace fnhost {
namespace {

// Where each field of a traceparent starts, counted after any leading whitespace. Version 00
// fixes them, and later versions must keep them (the spec's versioning rules).
constexpr size_t kVersionSize = 2;
constexpr size_t kTraceIdAt = 3;
constexpr size_t kParentIdAt = 36;
constexpr size_t kFlagsAt = 53;

// tracestate limits from the Level 1 grammar, in characters.
constexpr size_t kMaxSimpleKey = 256;  // lcalpha 0*255(keychar)
constexpr size_t kMaxTenantId = 241;   // (lcalpha / DIGIT) 0*240(keychar)
constexpr size_t kMaxSystemId = 14;    // lcalpha 0*13(keychar)
constexpr size_t kMaxValue = 256;      // 0*255(chr) nblk-chr

constexpr std::string_view kHexDigits = "0123456789abcdef";

bool is_ows(char c) { return c == ' ' || c == '\t'; }
bool is_lower_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }
bool is_upper_hex(char c) { return c >= 'A' && c <= 'F'; }
bool is_lcalpha(char c) { return c >= 'a' && c <= 'z'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_key_char(char c) {
  return is_lcalpha(c) || is_digit(c) || c == '_' || c == '-' || c == '*' || c == '/';
}
// chr of the value grammar: printable ASCII and space, but not ',' or '='.
bool is_value_char(char c) { return c >= 0x20 && c <= 0x7e && c != ',' && c != '='; }

uint8_t hex_value(char c) { return static_cast<uint8_t>(is_digit(c) ? c - '0' : c - 'a' + 10); }

std::string quoted(std::string_view text) { return detail::quote_for_message(text); }

// One byte of input for an error message: 'c' when printable, \xNN otherwise.
std::string describe(char c) {
  if (c > 0x20 && c < 0x7f) return fmt::format("'{}'", c);
  if (c == ' ') return "a space";
  return fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
}

// A piece of a header with its optional whitespace removed, and where that piece starts in the
// header, so error positions refer to the bytes the caller passed.
struct Piece {
  std::string_view text;
  size_t at = 0;
};

Piece trim_ows(std::string_view text, size_t at) {
  size_t begin = 0;
  size_t end = text.size();
  while (begin < end && is_ows(text[begin])) ++begin;
  while (end > begin && is_ows(text[end - 1])) --end;
  return {text.substr(begin, end - begin), at + begin};
}

std::string hex_of(const uint8_t* bytes, size_t size) {
  std::string out(size * 2, '0');
  for (size_t i = 0; i < size; ++i) {
    out[2 * i] = kHexDigits[bytes[i] >> 4];
    out[2 * i + 1] = kHexDigits[bytes[i] & 0xf];
  }
  return out;
}

template <size_t N>
bool all_zero(const std::array<uint8_t, N>& bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](uint8_t b) { return b == 0; });
}

// Reads the fixed-position fields of one traceparent value. Each check reports the first byte
// that breaks it, so a message says which field is wrong and where.
class TraceparentReader {
 public:
  explicit TraceparentReader(std::string_view header)
      : header_(header), value_(trim_ows(header, 0)) {}

  absl::StatusOr<TraceContext> read() const {
    const std::string_view text = value_.text;
    if (text.empty()) return invalid("must not be empty (or only whitespace)");
    if (absl::Status s = expect_hex("version", 0, kVersionSize); !s.ok()) return s;
    const std::string_view version = text.substr(0, kVersionSize);
    if (version == "ff") return invalid("version ff is forbidden");
    if (absl::Status s = expect_dash("version", kVersionSize); !s.ok()) return s;
    if (absl::Status s = expect_hex("trace-id", kTraceIdAt, 32); !s.ok()) return s;
    if (absl::Status s = expect_dash("trace-id", kParentIdAt - 1); !s.ok()) return s;
    if (absl::Status s = expect_hex("parent-id", kParentIdAt, 16); !s.ok()) return s;
    if (absl::Status s = expect_dash("parent-id", kFlagsAt - 1); !s.ok()) return s;
    if (absl::Status s = expect_hex("trace-flags", kFlagsAt, 2); !s.ok()) return s;

    if (text.size() > kTraceparentSize) {
      // Version 00 ends here. A later version may append fields, each after a '-', which this
      // version must neither read nor pass on.
      if (version == "00") {
        return invalid(fmt::format(
            "version 00 ends after trace-flags, {} characters, but {} more bytes follow from "
            "position {}",
            kTraceparentSize, text.size() - kTraceparentSize, position(kTraceparentSize)));
      }
      if (text[kTraceparentSize] != '-') {
        return invalid(fmt::format(
            "in version {}, trace-flags must be followed by the end or '-', got {} at position {}",
            version, describe(text[kTraceparentSize]), position(kTraceparentSize)));
      }
    }

    TraceContext context;
    decode(kTraceIdAt, context.trace_id.data(), context.trace_id.size());
    decode(kParentIdAt, context.span_id.data(), context.span_id.size());
    decode(kFlagsAt, &context.flags, 1);
    if (all_zero(context.trace_id)) return invalid("trace-id must not be all zeros");
    if (all_zero(context.span_id)) return invalid("parent-id must not be all zeros");
    return context;
  }

 private:
  absl::Status invalid(std::string_view problem) const {
    return absl::InvalidArgumentError(fmt::format("traceparent {}: {}", quoted(header_), problem));
  }

  // `index` in the trimmed value as a position in the header passed in.
  size_t position(size_t index) const { return value_.at + index; }

  // Cut short: the value ended where `field` still needed a byte.
  absl::Status too_short(std::string_view field) const {
    return invalid(
        fmt::format("too short: it ends at position {}, inside the {}; a traceparent "
                    "has {} characters (00-<trace-id>-<parent-id>-<trace-flags>)",
                    position(value_.text.size()), field, kTraceparentSize));
  }

  absl::Status expect_hex(std::string_view field, size_t at, size_t count) const {
    for (size_t i = at; i < at + count; ++i) {
      if (i >= value_.text.size()) return too_short(field);
      const char c = value_.text[i];
      if (is_lower_hex(c)) continue;
      return invalid(fmt::format("{} must be {} lowercase hex digits, got {}{} at position {}",
                                 field, count, describe(c), is_upper_hex(c) ? " (uppercase)" : "",
                                 position(i)));
    }
    return absl::OkStatus();
  }

  absl::Status expect_dash(std::string_view field, size_t at) const {
    if (at >= value_.text.size()) return too_short(fmt::format("'-' after the {}", field));
    if (value_.text[at] == '-') return absl::OkStatus();
    return invalid(fmt::format("{} must be followed by '-', got {} at position {}", field,
                               describe(value_.text[at]), position(at)));
  }

  // The hex digits at `at` (already checked) into `size` bytes.
  void decode(size_t at, uint8_t* out, size_t size) const {
    for (size_t i = 0; i < size; ++i) {
      out[i] = static_cast<uint8_t>(hex_value(value_.text[at + 2 * i]) << 4 |
                                    hex_value(value_.text[at + 2 * i + 1]));
    }
  }

  std::string_view header_;
  Piece value_;
};

// What is wrong with the first byte of `part` (a key, tenant-id or system-id) that breaks its
// rule, as "<name> ... got X at position N"; "" if nothing is. `first_ok` is the rule for the
// first character, described by `first_rule`.
std::string key_part_problem(std::string_view name, Piece part, size_t max_size,
                             bool (*first_ok)(char), std::string_view first_rule) {
  if (part.text.empty()) return fmt::format("{} must not be empty", name);
  if (!first_ok(part.text[0])) {
    return fmt::format("{} must start with {}, got {} at position {}", name, first_rule,
                       describe(part.text[0]), part.at);
  }
  for (size_t i = 1; i < part.text.size(); ++i) {
    if (!is_key_char(part.text[i])) {
      return fmt::format("{} may hold only a-z, 0-9, '_', '-', '*' and '/', got {} at position {}",
                         name, describe(part.text[i]), part.at + i);
    }
  }
  if (part.text.size() > max_size) {
    return fmt::format("{} must be at most {} characters, got {}", name, max_size,
                       part.text.size());
  }
  return "";
}

// The Level 1 key rule: a simple-key, or tenant-id "@" system-id.
std::string key_problem(Piece key) {
  const size_t at_sign = key.text.find('@');
  if (at_sign == std::string_view::npos) {
    return key_part_problem("key", key, kMaxSimpleKey, is_lcalpha, "a lowercase letter");
  }
  const Piece tenant{key.text.substr(0, at_sign), key.at};
  const Piece system{key.text.substr(at_sign + 1), key.at + at_sign + 1};
  if (const size_t second = system.text.find('@'); second != std::string_view::npos) {
    return fmt::format("key may hold only one '@', got another at position {}", system.at + second);
  }
  std::string problem = key_part_problem(
      "tenant-id (before '@')", tenant, kMaxTenantId,
      [](char c) { return is_lcalpha(c) || is_digit(c); }, "a lowercase letter or a digit");
  if (!problem.empty()) return problem;
  return key_part_problem("system-id (after '@')", system, kMaxSystemId, is_lcalpha,
                          "a lowercase letter");
}

std::string value_problem(Piece value) {
  if (value.text.empty()) return "value must not be empty";
  for (size_t i = 0; i < value.text.size(); ++i) {
    if (!is_value_char(value.text[i])) {
      return fmt::format(
          "value may hold only printable ASCII and spaces but not ',' or '=', got {} at "
          "position {}",
          describe(value.text[i]), value.at + i);
    }
  }
  if (value.text.size() > kMaxValue) {
    return fmt::format("value must be at most {} characters, got {}", kMaxValue, value.text.size());
  }
  // The value cannot end in a space (the grammar's final nblk-chr): trailing spaces were trimmed
  // as the optional whitespace around the member.
  return "";
}

}  // namespace

bool TraceContext::valid() const { return !all_zero(trace_id) && !all_zero(span_id); }

absl::StatusOr<TraceContext> parse_traceparent(std::string_view header) {
  return TraceparentReader(header).read();
}

absl::StatusOr<std::string> parse_tracestate(std::string_view header) {
  struct Member {
    std::string_view text;
    std::string_view key;
  };
  std::vector<Member> members;
  for (size_t start = 0;;) {
    const size_t comma = header.find(',', start);
    const size_t end = comma == std::string_view::npos ? header.size() : comma;
    // Empty and whitespace-only members are allowed: they appear when several tracestate
    // fields, some of them empty, are joined into one list.
    const Piece member = trim_ows(header.substr(start, end - start), start);
    if (!member.text.empty()) {
      const size_t number = members.size() + 1;
      const auto invalid = [&](std::string_view problem) {
        return absl::InvalidArgumentError(
            fmt::format("tracestate member {} {} (at position {}): {}", number, quoted(member.text),
                        member.at, problem));
      };
      if (members.size() == kMaxTracestateMembers) {
        return absl::InvalidArgumentError(
            fmt::format("tracestate has more than {} list members: member {} starts at position {}",
                        kMaxTracestateMembers, number, member.at));
      }
      const size_t equals = member.text.find('=');
      if (equals == std::string_view::npos) return invalid("must be key=value, found no '='");
      const Piece key{member.text.substr(0, equals), member.at};
      const Piece value{member.text.substr(equals + 1), member.at + equals + 1};
      if (std::string problem = key_problem(key); !problem.empty()) return invalid(problem);
      if (std::string problem = value_problem(value); !problem.empty()) return invalid(problem);
      // A key names the last position of one tracing system in the trace, so it appears once.
      if (std::any_of(members.begin(), members.end(),
                      [&](const Member& m) { return m.key == key.text; })) {
        return invalid("duplicate key: an earlier member has the same key");
      }
      members.push_back({member.text, key.text});
    }
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }

  std::string out;
  for (const Member& member : members) {
    if (!out.empty()) out += ',';
    out.append(member.text);
  }
  return out;
}

absl::StatusOr<TraceContext> parse_trace_context(std::string_view traceparent,
                                                 std::string_view tracestate) {
  absl::StatusOr<TraceContext> context = parse_traceparent(traceparent);
  // The spec forbids reading tracestate without a valid traceparent.
  if (!context.ok()) return context;
  absl::StatusOr<std::string> state = parse_tracestate(tracestate);
  if (state.ok()) context->tracestate = *std::move(state);
  return context;
}

std::string format_traceparent(const TraceContext& context) {
  const auto flags = static_cast<uint8_t>(context.flags & kTraceFlagSampled);
  std::string out;
  out.reserve(kTraceparentSize);
  out += "00-";
  out += trace_id_hex(context.trace_id);
  out += '-';
  out += span_id_hex(context.span_id);
  out += '-';
  out += hex_of(&flags, 1);
  return out;
}

std::string trace_id_hex(const std::array<uint8_t, 16>& id) { return hex_of(id.data(), id.size()); }

std::string span_id_hex(const std::array<uint8_t, 8>& id) { return hex_of(id.data(), id.size()); }

}  // namespace fnhost
