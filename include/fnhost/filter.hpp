// SPDX-License-Identifier: Apache-2.0
// File: fnhost/filter.hpp
// `Filter`: a predicate over an Event's CloudEvents attributes, composed like Knative Eventing's
// filters — `exact` / `prefix` / `suffix` on one attribute, `all` / `any` / `not` over filters.
// Build one with the factories or parse its text form; a trigger evaluates it with matches()
// before an event reaches its function. A Filter is an immutable value: copies share one array
// of nodes, so copying is cheap and any number of threads may evaluate it at once.
//
//   using fnhost::Filter;
//   Filter uploads = Filter::all({Filter::exact("type", "image.uploaded"),
//                                 Filter::negate(Filter::suffix("subject", ".tmp"))});
//   absl::StatusOr<Filter> cameras =
//       Filter::parse(R"(any(prefix(source, "/cams/"), exact(region, "eu")))");
//   bool wanted = uploads.matches(event);   // after uploads.validate().ok()
//
// Text form (what parse() reads and to_string() writes):
//   filter    := ('all' | 'any') '(' [filter {',' filter}] ')'
//              | 'not' '(' filter ')'
//              | ('exact' | 'prefix' | 'suffix') '(' attribute ',' value ')'
//   attribute := 1 to 64 of [A-Za-z0-9_.-], unquoted, case-sensitive
//   value     := '"' { any byte but '"' and '\' | '\"' | '\\' } '"'
// Keywords are lowercase. Whitespace (space, tab, CR, LF) may appear between any two tokens.
// The only escapes are \" and \\; every other byte, including newlines and UTF-8, stands for
// itself. Limits: at most 4096 bytes of text and 32 levels of parentheses (exact(...) alone is
// one level), so hostile input cannot exhaust memory or the stack.
//
// Attributes: `id`, `source`, `type`, `subject`, `datacontenttype`, `topic` and `time` name the
// Event fields; `time` reads as RFC 3339 UTC text ("2026-01-02T03:04:05Z", with a fraction of a
// second only when there is one, as ".25"). Any other name is an extension attribute, looked up
// with Event::extension(). A core attribute is missing when its field is empty (`time`: when it
// is absl::InfinitePast() or absl::InfiniteFuture()); an extension is missing when the event
// does not list it. A missing attribute matches no exact / prefix / suffix, so
// not(exact(x, "...")) matches every event without `x`, and prefix(x, "") tests that `x` is set.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "fnhost/event.hpp"

namespace fnhost {

namespace detail {
// The shared, immutable node array behind a Filter; defined in src/routing/filter.cpp.
struct FilterTree;
}  // namespace detail

// A predicate over an Event's attributes (see the top of this file for the text form and the
// attribute names). A value type: copyable, movable (a moved-from Filter matches every event),
// comparable with ==. Every const member is thread-safe; copies share their nodes.
class Filter {
 public:
  // Limits that parse() and validate() enforce.
  static constexpr std::size_t kMaxTextSize = 4096;     // bytes of text, input and canonical
  static constexpr int kMaxDepth = 32;                  // levels of nested parentheses
  static constexpr std::size_t kMaxAttributeSize = 64;  // bytes of an attribute name

  // A filter that matches every event; the same as all() and its text "all()".
  Filter();

  // Matches events whose attribute `attribute` equals `value` byte for byte. Never fails: an
  // invalid attribute name is reported by validate(). Allocates the filter's one node.
  static Filter exact(std::string attribute, std::string value);
  // Matches events whose attribute `attribute` starts with `value` ("" matches any value).
  static Filter prefix(std::string attribute, std::string value);
  // Matches events whose attribute `attribute` ends with `value` ("" matches any value).
  static Filter suffix(std::string attribute, std::string value);
  // Matches events that every one of `filters` matches; with no filters, every event.
  static Filter all(std::vector<Filter> filters);
  // Matches events that at least one of `filters` matches; with no filters, no event.
  static Filter any(std::vector<Filter> filters);
  // Matches exactly the events `filter` does not match (the text form's `not`).
  static Filter negate(Filter filter);

  // Reads the text form. InvalidArgument on a syntax error, naming the byte position (counted
  // from 0) and what was expected there, e.g.
  //   filter "exact(type "x")": byte 11: expected ',' after the attribute name
  // or when the text is over kMaxTextSize bytes, nests deeper than kMaxDepth or its canonical
  // text (to_string(), which puts a space after every comma) would be over kMaxTextSize bytes.
  // Messages quote at most the first 64 bytes of `text`, bytes outside printable ASCII as \xNN.
  // A filter parse() returns passes validate(). Thread-safe; recursion depth is bounded by
  // kMaxDepth; `text` need not outlive the call.
  [[nodiscard]] static absl::StatusOr<Filter> parse(std::string_view text);

  // Checks what the factories cannot report: every attribute name is 1 to 64 bytes of
  // [A-Za-z0-9_.-], nesting is at most kMaxDepth levels and to_string() is at most kMaxTextSize
  // bytes. InvalidArgument naming the filter and the problem otherwise. A router calls this when
  // a trigger subscribes; a filter that passes round-trips: parse(to_string()) equals it.
  // Thread-safe; allocates only to word an error.
  [[nodiscard]] absl::Status validate() const;

  // The canonical text: keywords as in the grammar, ", " between arguments, no other
  // whitespace, values escaped with \" and \\ only. parse(to_string()) gives an equal filter.
  // Thread-safe; allocates the string.
  [[nodiscard]] std::string to_string() const;

  // Whether `event` passes this filter (see the top of this file for attribute names and the
  // missing-attribute rule). Thread-safe; never allocates (time is formatted into a buffer on
  // the stack, once per call and only if a test reads it); uses no recursion, whatever the
  // depth of a factory-built filter.
  [[nodiscard]] bool matches(const Event& event) const;

  // Whether the filter matches every event without reading any attribute: Filter(), all(),
  // and combinations such as all(all(), not(any())). Routers skip evaluation for these.
  // Thread-safe; constant time.
  [[nodiscard]] bool is_match_all() const;

  // Structural equality: same tree, same attribute names and values, children in the same
  // order (all(a, b) != all(b, a)). Filter() == Filter::all({}).
  friend bool operator==(const Filter& a, const Filter& b);

 private:
  explicit Filter(std::shared_ptr<const detail::FilterTree> tree);

  // Null for the default filter (all()).
  std::shared_ptr<const detail::FilterTree> tree_;
};

}  // namespace fnhost
