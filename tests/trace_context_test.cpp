// SPDX-License-Identifier: Apache-2.0
// W3C Trace Context (fnhost/trace.hpp): parse_traceparent, parse_tracestate and
// parse_trace_context against the Level 1 grammar and every header value that the W3C test suite
// (w3c/trace-context, test/test.py) sends, and format_traceparent with its round trip. Several
// header fields of one name are joined with "," here, as a receiver must before parsing.
#include <array>
#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "fnhost/trace.hpp"

namespace {

using fnhost::format_traceparent;
using fnhost::parse_trace_context;
using fnhost::parse_traceparent;
using fnhost::parse_tracestate;
using fnhost::span_id_hex;
using fnhost::trace_id_hex;
using fnhost::TraceContext;

// The traceparent most test-suite cases start from.
constexpr std::string_view kSuiteTrace = "12345678901234567890123456789012";
constexpr std::string_view kSuiteParent = "1234567890123456";
constexpr std::string_view kSuiteHeader = "00-12345678901234567890123456789012-1234567890123456-01";

std::string error_of(std::string_view traceparent) {
  const absl::StatusOr<TraceContext> parsed = parse_traceparent(traceparent);
  REQUIRE_FALSE(parsed.ok());
  CHECK(parsed.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(parsed.status().message());
}

std::string tracestate_error_of(std::string_view tracestate) {
  const absl::StatusOr<std::string> parsed = parse_tracestate(tracestate);
  REQUIRE_FALSE(parsed.ok());
  CHECK(parsed.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(parsed.status().message());
}

bool traceparent_ok(std::string_view traceparent) { return parse_traceparent(traceparent).ok(); }
bool tracestate_ok(std::string_view tracestate) { return parse_tracestate(tracestate).ok(); }

// Members "bar01=01" ... up to `count`, joined with ",".
std::string numbered_members(int count) {
  std::string list;
  for (int i = 1; i <= count; ++i) {
    if (!list.empty()) list += ',';
    const std::string number = (i < 10 ? "0" : "") + std::to_string(i);
    list += "bar" + number + "=" + number;
  }
  return list;
}

}  // namespace

// ---- traceparent: valid headers ----------------------------------------------------------------

TEST_CASE("parse_traceparent reads the ids and flags of the spec's sampled example", "[trace]") {
  const absl::StatusOr<TraceContext> parsed =
      parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  REQUIRE(parsed.ok());
  const std::array<uint8_t, 16> trace_id = {0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
                                            0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36};
  const std::array<uint8_t, 8> span_id = {0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7};
  CHECK(parsed->trace_id == trace_id);
  CHECK(parsed->span_id == span_id);
  CHECK(parsed->flags == 0x01);
  CHECK(parsed->sampled());
  CHECK(parsed->valid());
  CHECK(parsed->tracestate.empty());
}

TEST_CASE("parse_traceparent reads an unsampled header as not sampled", "[trace]") {
  const absl::StatusOr<TraceContext> parsed =
      parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
  REQUIRE(parsed.ok());
  CHECK(parsed->flags == 0x00);
  CHECK_FALSE(parsed->sampled());
}

TEST_CASE("parse_traceparent keeps all eight trace-flags bits as received", "[trace]") {
  const absl::StatusOr<TraceContext> parsed =
      parse_traceparent("00-12345678901234567890123456789012-1234567890123456-fe");
  REQUIRE(parsed.ok());
  CHECK(parsed->flags == 0xfe);
  CHECK_FALSE(parsed->sampled());
  CHECK(parse_traceparent("00-12345678901234567890123456789012-1234567890123456-09")->sampled());
}

TEST_CASE("parse_traceparent ignores spaces and tabs around the value", "[trace]") {
  // The test suite's test_traceparent_ows_handling values.
  for (const std::string_view header :
       {" 00-12345678901234567890123456789012-1234567890123456-01",
        "\t00-12345678901234567890123456789012-1234567890123456-01",
        "00-12345678901234567890123456789012-1234567890123456-01 ",
        "00-12345678901234567890123456789012-1234567890123456-01\t",
        "\t 00-12345678901234567890123456789012-1234567890123456-01 \t"}) {
    INFO(header);
    const absl::StatusOr<TraceContext> parsed = parse_traceparent(header);
    REQUIRE(parsed.ok());
    CHECK(trace_id_hex(parsed->trace_id) == kSuiteTrace);
    CHECK(span_id_hex(parsed->span_id) == kSuiteParent);
  }
}

TEST_CASE("parse_traceparent treats only spaces and tabs as optional whitespace", "[trace]") {
  CHECK_FALSE(traceparent_ok("\n00-12345678901234567890123456789012-1234567890123456-01"));
  CHECK_FALSE(traceparent_ok("00-12345678901234567890123456789012-1234567890123456-01\r\n"));
  CHECK_FALSE(traceparent_ok("00 -12345678901234567890123456789012-1234567890123456-01"));
}

TEST_CASE("parse_traceparent reads a higher version leniently from the version 00 positions",
          "[trace]") {
  // test_traceparent_version_0xcc: the same ids, whatever follows a '-' after the flags.
  for (const std::string_view header :
       {"cc-12345678901234567890123456789012-1234567890123456-01",
        "cc-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like",
        "01-12345678901234567890123456789012-1234567890123456-01-",
        "fe-12345678901234567890123456789012-1234567890123456-01-x-y"}) {
    INFO(header);
    const absl::StatusOr<TraceContext> parsed = parse_traceparent(header);
    REQUIRE(parsed.ok());
    CHECK(trace_id_hex(parsed->trace_id) == kSuiteTrace);
    CHECK(span_id_hex(parsed->span_id) == kSuiteParent);
    CHECK(parsed->flags == 0x01);
  }
}

// ---- traceparent: invalid headers --------------------------------------------------------------

TEST_CASE("parse_traceparent rejects empty and whitespace-only values", "[trace]") {
  CHECK_THAT(error_of(""), Catch::Contains("empty"));
  CHECK_THAT(error_of(" \t "), Catch::Contains("empty"));
}

TEST_CASE("parse_traceparent rejects version 00 with anything after the trace-flags", "[trace]") {
  // test_traceparent_version_0x00: version 00 is exactly 55 characters.
  CHECK_THAT(error_of("00-12345678901234567890123456789012-1234567890123456-01."),
             Catch::Contains("version 00") && Catch::Contains("position 55"));
  CHECK_FALSE(traceparent_ok(
      "00-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like"));
  CHECK_FALSE(traceparent_ok("00-12345678901234567890123456789012-1234567890123456-01-"));
}

TEST_CASE("parse_traceparent rejects two traceparent fields joined into one value", "[trace]") {
  // test_traceparent_duplicated: a receiver joining the two fields with "," must start anew.
  CHECK_FALSE(
      traceparent_ok("00-12345678901234567890123456789011-1234567890123456-01,"
                     "00-12345678901234567890123456789012-1234567890123456-01"));
  CHECK_FALSE(
      traceparent_ok("00-12345678901234567890123456789011-1234567890123456-01, "
                     "00-12345678901234567890123456789012-1234567890123456-01"));
  CHECK_FALSE(
      traceparent_ok("cc-12345678901234567890123456789011-1234567890123456-01,"
                     "cc-12345678901234567890123456789012-1234567890123456-01"));
}

TEST_CASE("parse_traceparent rejects a higher version whose flags are not followed by '-'",
          "[trace]") {
  CHECK_THAT(
      error_of(
          "cc-12345678901234567890123456789012-1234567890123456-01.what-the-future-will-be-like"),
      Catch::Contains("trace-flags must be followed by the end or '-'") &&
          Catch::Contains("position 55"));
  CHECK_FALSE(traceparent_ok("cc-12345678901234567890123456789012-1234567890123456-011"));
}

TEST_CASE("parse_traceparent rejects a higher version shorter than 55 characters", "[trace]") {
  CHECK_THAT(error_of("cc-12345678901234567890123456789012-1234567890123456-1"),
             Catch::Contains("too short"));
  CHECK_FALSE(traceparent_ok("cc-12345678901234567890123456789012-1234567890123456-"));
  CHECK_FALSE(traceparent_ok("cc-12345678901234567890123456789012-1234567890123456"));
  CHECK_FALSE(traceparent_ok("cc"));
}

TEST_CASE("parse_traceparent rejects version ff", "[trace]") {
  // test_traceparent_version_0xff.
  CHECK_THAT(error_of("ff-12345678901234567890123456789012-1234567890123456-01"),
             Catch::Contains("version ff"));
  CHECK_FALSE(traceparent_ok("ff-12345678901234567890123456789012-1234567890123456-01-future"));
}

TEST_CASE("parse_traceparent rejects a version that is not 2 lowercase hex digits", "[trace]") {
  // test_traceparent_version_illegal_characters, _too_long and _too_short.
  CHECK_THAT(error_of(".0-12345678901234567890123456789012-1234567890123456-01"),
             Catch::Contains("version") && Catch::Contains("'.' at position 0"));
  CHECK_THAT(error_of("0.-12345678901234567890123456789012-1234567890123456-01"),
             Catch::Contains("version") && Catch::Contains("'.' at position 1"));
  CHECK_THAT(error_of("000-12345678901234567890123456789012-1234567890123456-01"),
             Catch::Contains("version must be followed by '-'") && Catch::Contains("position 2"));
  CHECK_FALSE(traceparent_ok("0000-12345678901234567890123456789012-1234567890123456-01"));
  CHECK_THAT(error_of("0-12345678901234567890123456789012-1234567890123456-01"),
             Catch::Contains("version") && Catch::Contains("'-' at position 1"));
  CHECK_THAT(error_of("0A-12345678901234567890123456789012-1234567890123456-01"),
             Catch::Contains("uppercase"));
  CHECK_FALSE(traceparent_ok("g0-12345678901234567890123456789012-1234567890123456-01"));
}

TEST_CASE("parse_traceparent rejects uppercase hex in any field", "[trace]") {
  CHECK_THAT(error_of("00-1234567890123456789012345678901A-1234567890123456-01"),
             Catch::Contains("trace-id") && Catch::Contains("uppercase") &&
                 Catch::Contains("position 34"));
  CHECK_THAT(error_of("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"),
             Catch::Contains("trace-id"));
  CHECK_THAT(error_of("00-12345678901234567890123456789012-00F067AA0BA902B7-01"),
             Catch::Contains("parent-id") && Catch::Contains("uppercase"));
  CHECK_THAT(error_of("00-12345678901234567890123456789012-1234567890123456-0A"),
             Catch::Contains("trace-flags") && Catch::Contains("uppercase"));
  CHECK_FALSE(traceparent_ok("CC-12345678901234567890123456789012-1234567890123456-01"));
}

TEST_CASE("parse_traceparent rejects an all-zero trace-id or parent-id", "[trace]") {
  // test_traceparent_trace_id_all_zero and test_traceparent_parent_id_all_zero.
  CHECK_THAT(error_of("00-00000000000000000000000000000000-1234567890123456-01"),
             Catch::Contains("trace-id must not be all zeros"));
  CHECK_THAT(error_of("00-12345678901234567890123456789012-0000000000000000-01"),
             Catch::Contains("parent-id must not be all zeros"));
  CHECK_FALSE(traceparent_ok("cc-00000000000000000000000000000000-1234567890123456-01"));
  CHECK_FALSE(traceparent_ok("cc-12345678901234567890123456789012-0000000000000000-01-x"));
  // One non-zero byte anywhere is enough.
  CHECK(traceparent_ok("00-00000000000000000000000000000001-0000000000000100-00"));
}

TEST_CASE("parse_traceparent rejects illegal characters in the trace-id, parent-id and flags",
          "[trace]") {
  // test_traceparent_{trace_id,parent_id,trace_flags}_illegal_characters.
  CHECK_THAT(error_of("00-.2345678901234567890123456789012-1234567890123456-01"),
             Catch::Contains("trace-id") && Catch::Contains("'.' at position 3"));
  CHECK_THAT(error_of("00-1234567890123456789012345678901.-1234567890123456-01"),
             Catch::Contains("trace-id") && Catch::Contains("'.' at position 34"));
  CHECK_THAT(error_of("00-12345678901234567890123456789012-.234567890123456-01"),
             Catch::Contains("parent-id") && Catch::Contains("'.' at position 36"));
  CHECK_THAT(error_of("00-12345678901234567890123456789012-123456789012345.-01"),
             Catch::Contains("parent-id") && Catch::Contains("'.' at position 51"));
  CHECK_THAT(error_of("00-12345678901234567890123456789012-1234567890123456-.0"),
             Catch::Contains("trace-flags") && Catch::Contains("'.' at position 53"));
  CHECK_THAT(error_of("00-12345678901234567890123456789012-1234567890123456-0."),
             Catch::Contains("trace-flags") && Catch::Contains("'.' at position 54"));
  CHECK_FALSE(traceparent_ok("00_12345678901234567890123456789012-1234567890123456-01"));
  CHECK_FALSE(traceparent_ok("00-12345678901234567890123456789012_1234567890123456-01"));
  CHECK_FALSE(traceparent_ok("00-12345678901234567890123456789012-1234567890123456_01"));
  CHECK_FALSE(traceparent_ok("00-1234567890123456789012345678901g-1234567890123456-01"));
  CHECK_FALSE(
      traceparent_ok(std::string_view("00-1234567890123456\0"
                                      "789012345678901-"
                                      "1234567890123456-01",
                                      55)));
}

TEST_CASE("parse_traceparent rejects a trace-id, parent-id or flags of the wrong length",
          "[trace]") {
  // test_traceparent_{trace_id,parent_id,trace_flags}_too_{long,short}.
  CHECK_THAT(error_of("00-123456789012345678901234567890123-1234567890123456-01"),
             Catch::Contains("trace-id must be followed by '-'") && Catch::Contains("position 35"));
  CHECK_THAT(error_of("00-1234567890123456789012345678901-1234567890123456-01"),
             Catch::Contains("trace-id") && Catch::Contains("'-' at position 34"));
  CHECK_THAT(error_of("00-12345678901234567890123456789012-12345678901234567-01"),
             Catch::Contains("parent-id must be followed by '-'"));
  CHECK_THAT(error_of("00-12345678901234567890123456789012-123456789012345-01"),
             Catch::Contains("parent-id"));
  CHECK_FALSE(traceparent_ok("00-12345678901234567890123456789012-1234567890123456-001"));
  CHECK_THAT(error_of("00-12345678901234567890123456789012-1234567890123456-1"),
             Catch::Contains("too short") && Catch::Contains("trace-flags"));
  CHECK_FALSE(traceparent_ok("00-12345678901234567890123456789012-1234567890123456-"));
  CHECK_FALSE(traceparent_ok("00-12345678901234567890123456789012-1234567890123456"));
  CHECK_FALSE(traceparent_ok("00"));
  CHECK_FALSE(traceparent_ok("00-"));
}

TEST_CASE("parse_traceparent error positions count the leading whitespace as passed", "[trace]") {
  CHECK_THAT(error_of("  00-.2345678901234567890123456789012-1234567890123456-01"),
             Catch::Contains("'.' at position 5"));
}

TEST_CASE("parse_traceparent errors quote at most 64 bytes of the header and escape controls",
          "[trace]") {
  const std::string huge = "00-" + std::string(10000, 'q');
  const std::string message = error_of(huge);
  // The first 64 bytes, then the size.
  CHECK_THAT(message, Catch::Contains("\"00-" + std::string(61, 'q') + "...\" (10003 bytes)"));
  CHECK(message.find(std::string(62, 'q')) == std::string::npos);
  CHECK(message.size() < 64 + 250);

  const std::string control = error_of("00-\x01\x1b[31m");
  CHECK_THAT(control, Catch::Contains("\\x01") && Catch::Contains("\\x1b"));
  CHECK(control.find('\x1b') == std::string::npos);
}

// ---- tracestate --------------------------------------------------------------------------------

TEST_CASE("parse_tracestate returns a valid list unchanged", "[trace]") {
  CHECK(parse_tracestate("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE").value() ==
        "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
  CHECK(parse_tracestate("foo=1").value() == "foo=1");
}

TEST_CASE("parse_tracestate accepts an empty or whitespace-only header as no members", "[trace]") {
  // test_tracestate_empty_header.
  CHECK(parse_tracestate("").value().empty());
  CHECK(parse_tracestate(" \t ").value().empty());
  CHECK(parse_tracestate(",, ,\t,").value().empty());
}

TEST_CASE("parse_tracestate drops empty members and whitespace around members, keeping order",
          "[trace]") {
  // test_tracestate_ows_handling.
  CHECK(parse_tracestate("foo=1 \t , \t bar=2, \t baz=3").value() == "foo=1,bar=2,baz=3");
  CHECK(parse_tracestate("foo=1\t \t,\t \tbar=2,\t \tbaz=3").value() == "foo=1,bar=2,baz=3");
  for (const std::string_view header : {" foo=1", "\tfoo=1", "foo=1 ", "foo=1\t", "\t foo=1 \t"}) {
    INFO(header);
    CHECK(parse_tracestate(header).value() == "foo=1");
  }
  // test_tracestate_empty_header: an empty field joined before or after another.
  CHECK(parse_tracestate("foo=1,").value() == "foo=1");
  CHECK(parse_tracestate(",foo=1").value() == "foo=1");
  CHECK(parse_tracestate("foo=1, ,,bar=2 ,").value() == "foo=1,bar=2");
  // test_tracestate_multiple_headers_different_keys: joined fields keep their order.
  CHECK(parse_tracestate("foo=1,bar=2,rojo=1,congo=2,baz=3").value() ==
        "foo=1,bar=2,rojo=1,congo=2,baz=3");
}

TEST_CASE("parse_tracestate keeps the spaces inside and at the start of a value", "[trace]") {
  CHECK(parse_tracestate("foo= 1").value() == "foo= 1");
  CHECK(parse_tracestate("foo=a b , bar=  c  ").value() == "foo=a b,bar=  c");
}

TEST_CASE("parse_tracestate accepts every key and value character the grammar allows", "[trace]") {
  // test_tracestate_all_allowed_characters.
  std::string key_without_vendor;
  for (char c = 'a'; c <= 'z'; ++c) key_without_vendor += c;
  key_without_vendor += "0123456789_-*/";
  const std::string key_with_vendor = key_without_vendor + "@a-z0-9_-*/";
  std::string value;
  for (int c = 0x20; c <= 0x7e; ++c) {
    if (c != ',' && c != '=') value += static_cast<char>(c);
  }
  for (const std::string& key : {key_without_vendor, key_with_vendor}) {
    INFO(key);
    const std::string member = key + "=" + value;
    CHECK(parse_tracestate(member).value() == member);
  }
  // A tenant-id, unlike a simple key, may start with a digit.
  CHECK(tracestate_ok("1tenant@vendor=x"));
}

TEST_CASE("parse_tracestate accepts 32 members and rejects 33", "[trace]") {
  // test_tracestate_member_count_limit.
  const std::string thirty_two = numbered_members(32);
  CHECK(parse_tracestate(thirty_two).value() == thirty_two);
  // Empty members do not count.
  CHECK(parse_tracestate(" , " + thirty_two + ",, ").value() == thirty_two);
  CHECK_THAT(tracestate_error_of(numbered_members(33)),
             Catch::Contains("more than 32") && Catch::Contains("member 33"));
}

TEST_CASE("parse_tracestate rejects duplicate keys", "[trace]") {
  // test_tracestate_duplicated_keys, with the two-field cases joined.
  CHECK_THAT(tracestate_error_of("foo=1,foo=1"), Catch::Contains("duplicate key"));
  CHECK_FALSE(tracestate_ok("foo=1,foo=2"));
  CHECK_FALSE(tracestate_ok("foo=1,bar=2, foo=3"));
  CHECK_FALSE(tracestate_ok("t@v=1,t@v=2"));
  // Keys differing only in tenant or system are different keys.
  CHECK(parse_tracestate("t@v=1,t@w=2,u@v=3,t=4").value() == "t@v=1,t@w=2,u@v=3,t=4");
}

TEST_CASE("parse_tracestate enforces the key length limits", "[trace]") {
  // test_tracestate_key_length_limit.
  CHECK(tracestate_ok("foo=1," + std::string(256, 'z') + "=1"));
  CHECK_THAT(tracestate_error_of("foo=1," + std::string(257, 'z') + "=1"),
             Catch::Contains("at most 256") && Catch::Contains("member 2"));
  CHECK(tracestate_ok("foo=1," + std::string(241, 't') + "@" + std::string(14, 'v') + "=1"));
  CHECK_THAT(tracestate_error_of("foo=1," + std::string(242, 't') + "@v=1"),
             Catch::Contains("tenant-id") && Catch::Contains("at most 241"));
  CHECK_THAT(tracestate_error_of("foo=1,t@" + std::string(15, 'v') + "=1"),
             Catch::Contains("system-id") && Catch::Contains("at most 14"));
}

TEST_CASE("parse_tracestate rejects illegal key characters", "[trace]") {
  // test_tracestate_key_illegal_characters.
  CHECK_THAT(tracestate_error_of("foo =1"), Catch::Contains("a space at position 3"));
  CHECK_THAT(tracestate_error_of("FOO=1"), Catch::Contains("'F' at position 0"));
  CHECK_THAT(tracestate_error_of("foo.bar=1"), Catch::Contains("'.' at position 3"));
  CHECK_FALSE(tracestate_ok("1foo=1"));  // a simple key starts with a letter
  CHECK_FALSE(tracestate_ok("_foo=1"));
  CHECK_THAT(tracestate_error_of("=1"), Catch::Contains("key must not be empty"));
  CHECK_FALSE(tracestate_ok("bar=2,fo\to=1"));
}

TEST_CASE("parse_tracestate rejects an illegal multi-tenant key", "[trace]") {
  // test_tracestate_key_illegal_vendor_format: the whole list is then invalid.
  CHECK_THAT(tracestate_error_of("foo@=1,bar=2"), Catch::Contains("system-id"));
  CHECK_THAT(tracestate_error_of("@foo=1,bar=2"), Catch::Contains("tenant-id"));
  CHECK_THAT(tracestate_error_of("foo@@bar=1,bar=2"), Catch::Contains("only one '@'"));
  CHECK_THAT(tracestate_error_of("foo@bar@baz=1,bar=2"), Catch::Contains("only one '@'"));
  CHECK_THAT(tracestate_error_of("t@1v=1"), Catch::Contains("system-id"));
  CHECK_FALSE(tracestate_ok("T@v=1"));
}

TEST_CASE("parse_tracestate rejects illegal and empty values", "[trace]") {
  // test_tracestate_value_illegal_characters.
  CHECK_THAT(tracestate_error_of("foo=bar=baz"), Catch::Contains("'=' at position 7"));
  CHECK_THAT(tracestate_error_of("foo=,bar=3"), Catch::Contains("value must not be empty"));
  CHECK_FALSE(tracestate_ok("foo= "));
  CHECK_FALSE(tracestate_ok("foo=a\tb"));
  CHECK_FALSE(tracestate_ok("foo=a\x7f"));
  CHECK_FALSE(tracestate_ok("foo=\xc3\xa9"));
  CHECK_FALSE(tracestate_ok(std::string_view("foo=a\0b", 7)));
  CHECK_THAT(tracestate_error_of("foo"), Catch::Contains("no '='"));
}

TEST_CASE("parse_tracestate enforces the 256-character value limit", "[trace]") {
  CHECK(tracestate_ok("foo=" + std::string(256, 'v')));
  CHECK(tracestate_ok("foo=" + std::string(255, ' ') + "v"));
  CHECK_THAT(tracestate_error_of("foo=" + std::string(257, 'v')), Catch::Contains("at most 256"));
}

TEST_CASE("parse_tracestate errors name the member and quote at most 64 bytes of it", "[trace]") {
  const std::string message = tracestate_error_of("a=1, b=2,c=" + std::string(300, 'v') + "=");
  CHECK_THAT(message, Catch::Contains("member 3") && Catch::Contains("(at position 9)") &&
                          Catch::Contains("(303 bytes)"));
  CHECK(message.find(std::string(65, 'v')) == std::string::npos);
  CHECK(message.size() < 64 + 250);
}

// ---- parse_trace_context -----------------------------------------------------------------------

TEST_CASE("parse_trace_context keeps a valid tracestate with its traceparent", "[trace]") {
  // test_tracestate_included_traceparent_included.
  const absl::StatusOr<TraceContext> parsed =
      parse_trace_context("00-12345678901234567890123456789012-1234567890123456-00", "foo=1,bar=2");
  REQUIRE(parsed.ok());
  CHECK(trace_id_hex(parsed->trace_id) == kSuiteTrace);
  CHECK_FALSE(parsed->sampled());
  CHECK(parsed->tracestate == "foo=1,bar=2");
}

TEST_CASE("parse_trace_context drops an invalid tracestate but keeps the traceparent", "[trace]") {
  for (const std::string_view tracestate :
       {"foo=1,foo=1", "foo@=1,bar=2", "FOO=1", "foo=,bar=3", "foo=bar=baz"}) {
    INFO(tracestate);
    const absl::StatusOr<TraceContext> parsed = parse_trace_context(kSuiteHeader, tracestate);
    REQUIRE(parsed.ok());
    CHECK(trace_id_hex(parsed->trace_id) == kSuiteTrace);
    CHECK(parsed->tracestate.empty());
  }
  const absl::StatusOr<TraceContext> too_many =
      parse_trace_context(kSuiteHeader, numbered_members(33));
  REQUIRE(too_many.ok());
  CHECK(too_many->tracestate.empty());
}

TEST_CASE("parse_trace_context fails on an invalid traceparent whatever the tracestate",
          "[trace]") {
  // test_tracestate_included_traceparent_missing: no traceparent, so no tracestate either.
  const absl::StatusOr<TraceContext> missing = parse_trace_context("", "foo=1");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_FALSE(
      parse_trace_context("00-00000000000000000000000000000000-1234567890123456-01", "foo=1").ok());
}

TEST_CASE("parse_trace_context normalises the tracestate it keeps", "[trace]") {
  const absl::StatusOr<TraceContext> parsed =
      parse_trace_context(" " + std::string(kSuiteHeader) + "\t", " foo=1 ,, bar=2\t");
  REQUIRE(parsed.ok());
  CHECK(parsed->tracestate == "foo=1,bar=2");
}

// ---- formatting --------------------------------------------------------------------------------

TEST_CASE("trace_id_hex and span_id_hex write lowercase hex with leading zeros", "[trace]") {
  std::array<uint8_t, 16> trace_id{};
  trace_id[0] = 0x0a;
  trace_id[15] = 0xff;
  CHECK(trace_id_hex(trace_id) == "0a0000000000000000000000000000ff");
  const std::array<uint8_t, 8> span_id = {0x00, 0x01, 0x10, 0xab, 0xcd, 0xef, 0x09, 0x90};
  CHECK(span_id_hex(span_id) == "000110abcdef0990");
}

TEST_CASE("format_traceparent writes version 00 with lowercase hex fields", "[trace]") {
  TraceContext context;
  context.trace_id = {0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
                      0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36};
  context.span_id = {0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7};
  context.flags = fnhost::kTraceFlagSampled;
  CHECK(format_traceparent(context) == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  context.flags = 0;
  CHECK(format_traceparent(context) == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
}

TEST_CASE("format_traceparent passes on only the sampled flag", "[trace]") {
  TraceContext context = parse_traceparent(kSuiteHeader).value();
  context.flags = 0xff;
  CHECK(format_traceparent(context) == "00-12345678901234567890123456789012-1234567890123456-01");
  context.flags = 0xfe;
  CHECK(format_traceparent(context) == "00-12345678901234567890123456789012-1234567890123456-00");
}

TEST_CASE("format_traceparent downgrades a higher version to 00 and drops its extra fields",
          "[trace]") {
  const absl::StatusOr<TraceContext> parsed =
      parse_traceparent("cc-12345678901234567890123456789012-1234567890123456-03-future-fields");
  REQUIRE(parsed.ok());
  CHECK(parsed->flags == 0x03);
  CHECK(format_traceparent(*parsed) == "00-12345678901234567890123456789012-1234567890123456-01");
}

TEST_CASE("a parsed version 00 traceparent formats back to the same header", "[trace]") {
  for (const std::string_view header :
       {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
        "00-12345678901234567890123456789012-1234567890123456-01",
        "00-00000000000000000000000000000001-0000000000000001-00",
        "00-ffffffffffffffffffffffffffffffff-ffffffffffffffff-01"}) {
    INFO(header);
    const absl::StatusOr<TraceContext> parsed = parse_traceparent(header);
    REQUIRE(parsed.ok());
    const std::string formatted = format_traceparent(*parsed);
    CHECK(formatted == header);
    CHECK(formatted.size() == fnhost::kTraceparentSize);
    const absl::StatusOr<TraceContext> again = parse_traceparent(formatted);
    REQUIRE(again.ok());
    CHECK(again->trace_id == parsed->trace_id);
    CHECK(again->span_id == parsed->span_id);
    CHECK(again->flags == parsed->flags);
  }
}

TEST_CASE("TraceContext is valid only when neither id is all zero", "[trace]") {
  TraceContext context;
  CHECK_FALSE(context.valid());
  CHECK_FALSE(context.sampled());
  context.trace_id[7] = 1;
  CHECK_FALSE(context.valid());
  context.span_id[0] = 1;
  CHECK(context.valid());
  context.trace_id[7] = 0;
  CHECK_FALSE(context.valid());
}
