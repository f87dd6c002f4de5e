// SPDX-License-Identifier: Apache-2.0
// Tests for Filter: each test (exact, prefix, suffix) on each kind of attribute, the
// missing-attribute rule, all / any / not, the text form (grammar, errors, limits), round trips
// of random trees, validate() and evaluation from several threads.
#include "fnhost/filter.hpp"

#include <catch2/catch.hpp>
#include <cstddef>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "fnhost/event.hpp"

namespace {

using fnhost::Event;
using fnhost::Filter;

std::string message_of(const absl::Status& status) {
  return std::string(status.message().data(), status.message().size());
}

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

Filter parsed(std::string_view text) {
  absl::StatusOr<Filter> filter = Filter::parse(text);
  INFO("text: " << text);
  INFO("status: " << filter.status().ToString());
  REQUIRE(filter.ok());
  return *filter;
}

absl::Time at(int year, int month, int day, int hour, int minute, int second) {
  return absl::FromCivil(absl::CivilSecond(year, month, day, hour, minute, second),
                         absl::UTCTimeZone());
}

// The core string attributes and a setter for each.
struct CoreAttribute {
  std::string name;
  std::function<void(Event&, std::string)> set;
};

CoreAttribute core_attribute() {
  return GENERATE(
      CoreAttribute{"id", [](Event& e, std::string v) { e.id = std::move(v); }},
      CoreAttribute{"source", [](Event& e, std::string v) { e.source = std::move(v); }},
      CoreAttribute{"type", [](Event& e, std::string v) { e.type = std::move(v); }},
      CoreAttribute{"subject", [](Event& e, std::string v) { e.subject = std::move(v); }},
      CoreAttribute{"datacontenttype",
                    [](Event& e, std::string v) { e.datacontenttype = std::move(v); }},
      CoreAttribute{"topic", [](Event& e, std::string v) { e.topic = std::move(v); }});
}

TEST_CASE("exact, prefix and suffix read each core attribute", "[filter]") {
  const CoreAttribute attribute = core_attribute();
  INFO("attribute " << attribute.name);
  Event event;
  attribute.set(event, "alpha.beta");
  const std::string& name = attribute.name;

  CHECK(Filter::exact(name, "alpha.beta").matches(event));
  CHECK_FALSE(Filter::exact(name, "alpha").matches(event));
  CHECK_FALSE(Filter::exact(name, "alpha.beta.gamma").matches(event));
  CHECK(Filter::prefix(name, "alpha.").matches(event));
  CHECK(Filter::prefix(name, "alpha.beta").matches(event));
  CHECK(Filter::prefix(name, "").matches(event));
  CHECK_FALSE(Filter::prefix(name, "beta").matches(event));
  CHECK(Filter::suffix(name, ".beta").matches(event));
  CHECK(Filter::suffix(name, "").matches(event));
  CHECK_FALSE(Filter::suffix(name, "alpha").matches(event));
  // Names are case-sensitive; an upper-case name is an (absent) extension.
  CHECK_FALSE(Filter::prefix("TYPE", "").matches(event));

  SECTION("no other attribute sees the value") {
    for (const char* other :
         {"id", "source", "type", "subject", "datacontenttype", "topic", "time", "region"}) {
      if (other == name) continue;
      INFO("other attribute " << other);
      CHECK_FALSE(Filter::prefix(other, "").matches(event));
      CHECK_FALSE(Filter::exact(other, "alpha.beta").matches(event));
    }
  }
  SECTION("an empty core attribute is missing") {
    attribute.set(event, "");
    CHECK_FALSE(Filter::exact(name, "").matches(event));
    CHECK_FALSE(Filter::prefix(name, "").matches(event));
    CHECK(Filter::negate(Filter::exact(name, "")).matches(event));
  }
}

TEST_CASE("exact, prefix and suffix read extension attributes", "[filter]") {
  Event event{.extensions = {{"region", "eu-west"}, {"tier", ""}, {"x.y_z-1", "v"}}};
  CHECK(Filter::exact("region", "eu-west").matches(event));
  CHECK_FALSE(Filter::exact("region", "eu").matches(event));
  CHECK(Filter::prefix("region", "eu-").matches(event));
  CHECK_FALSE(Filter::prefix("region", "us-").matches(event));
  CHECK(Filter::suffix("region", "-west").matches(event));
  CHECK_FALSE(Filter::suffix("region", "-east").matches(event));
  CHECK(Filter::exact("x.y_z-1", "v").matches(event));
  // An extension listed with an empty value is present.
  CHECK(Filter::exact("tier", "").matches(event));
  CHECK(Filter::prefix("tier", "").matches(event));
  // Core names are never looked up among the extensions.
  event.extensions.emplace_back("type", "spoofed");
  CHECK_FALSE(Filter::exact("type", "spoofed").matches(event));
}

TEST_CASE("time reads as RFC 3339 UTC text", "[filter]") {
  Event event{.time = at(2026, 1, 2, 3, 4, 5)};
  CHECK(Filter::exact("time", "2026-01-02T03:04:05Z").matches(event));
  CHECK(Filter::prefix("time", "2026-01-").matches(event));
  CHECK(Filter::suffix("time", "05Z").matches(event));
  CHECK_FALSE(Filter::exact("time", "2026-01-02T03:04:05").matches(event));

  SECTION("a fraction of a second is written without trailing zeros") {
    event.time += absl::Milliseconds(250);
    CHECK(Filter::exact("time", "2026-01-02T03:04:05.25Z").matches(event));
    event.time += absl::Nanoseconds(1);
    CHECK(Filter::exact("time", "2026-01-02T03:04:05.250000001Z").matches(event));
  }
  SECTION("a time zone other than UTC does not change the text") {
    event.time = absl::FromCivil(absl::CivilSecond(2026, 1, 2, 4, 4, 5), absl::FixedTimeZone(3600));
    CHECK(Filter::exact("time", "2026-01-02T03:04:05Z").matches(event));
  }
  SECTION("the text agrees with absl::FormatTime") {
    std::mt19937_64 random(7);
    std::uniform_int_distribution<int64_t> nanoseconds(-2'000'000'000'000'000'000,
                                                       4'000'000'000'000'000'000);
    for (int i = 0; i < 500; ++i) {
      event.time = absl::FromUnixNanos(nanoseconds(random));
      if (i % 3 == 0) event.time = absl::FromUnixSeconds(absl::ToUnixSeconds(event.time));
      const std::string expected =
          absl::FormatTime("%Y-%m-%d%ET%H:%M:%E*SZ", event.time, absl::UTCTimeZone());
      INFO("time " << expected);
      CHECK(Filter::exact("time", expected).matches(event));
    }
  }
  SECTION("an unset or infinite time is missing") {
    event.time = GENERATE(absl::InfinitePast(), absl::InfiniteFuture());
    CHECK_FALSE(Filter::prefix("time", "").matches(event));
    CHECK(Filter::negate(Filter::prefix("time", "")).matches(event));
  }
}

TEST_CASE("a missing attribute matches no test, so not() of a test matches", "[filter]") {
  const Event event{.type = "image.uploaded"};
  for (const Filter& test : {Filter::exact("region", "eu"), Filter::prefix("region", ""),
                             Filter::suffix("region", ""), Filter::exact("subject", "")}) {
    INFO(test.to_string());
    CHECK_FALSE(test.matches(event));
    CHECK(Filter::negate(test).matches(event));
  }
}

TEST_CASE("all() matches everything and any() nothing, default filter is all()", "[filter]") {
  const Event empty;
  const Event full{.id = "1", .source = "/s", .type = "t", .extensions = {{"x", "y"}}};
  for (const Event& event : {empty, full}) {
    CHECK(Filter().matches(event));
    CHECK(Filter::all({}).matches(event));
    CHECK_FALSE(Filter::any({}).matches(event));
    CHECK(Filter::negate(Filter::any({})).matches(event));
    CHECK_FALSE(Filter::negate(Filter()).matches(event));
  }
  CHECK(Filter() == Filter::all({}));
  CHECK(Filter() == parsed("all()"));
  CHECK(Filter().to_string() == "all()");
  CHECK(Filter::any({}).to_string() == "any()");
  CHECK_FALSE(Filter() == Filter::any({}));

  SECTION("is_match_all is true only without a test that could fail") {
    CHECK(Filter().is_match_all());
    CHECK(Filter::all({}).is_match_all());
    CHECK(parsed("all()").is_match_all());
    CHECK(parsed("all(all(), not(any()), any(all(), exact(a, \"b\")))").is_match_all());
    CHECK_FALSE(Filter::any({}).is_match_all());
    CHECK_FALSE(Filter::negate(Filter()).is_match_all());
    CHECK_FALSE(Filter::prefix("type", "").is_match_all());
    CHECK_FALSE(parsed("all(all(), exact(a, \"b\"))").is_match_all());
  }
  SECTION("a moved-from filter matches everything") {
    Filter filter = Filter::exact("type", "t");
    Filter taken = std::move(filter);
    CHECK_FALSE(taken.matches(empty));
    CHECK(filter.matches(empty));  // documented: a moved-from filter is all()
  }
}

TEST_CASE("all, any and not combine tests", "[filter]") {
  const Filter is_upload = Filter::exact("type", "image.uploaded");
  const Filter is_temporary = Filter::suffix("subject", ".tmp");
  const Filter from_camera = Filter::prefix("source", "/cams/");
  const Filter in_eu = Filter::exact("region", "eu");
  const Filter wanted =
      Filter::all({is_upload, Filter::negate(is_temporary), Filter::any({from_camera, in_eu})});
  CHECK(wanted == parsed(R"(all(exact(type, "image.uploaded"), not(suffix(subject, ".tmp")),
                                any(prefix(source, "/cams/"), exact(region, "eu"))))"));

  Event event{.source = "/cams/7", .type = "image.uploaded", .subject = "cat.png"};
  CHECK(wanted.matches(event));
  event.subject = "cat.png.tmp";
  CHECK_FALSE(wanted.matches(event));
  event.subject = "";  // missing: not(suffix(...)) holds
  CHECK(wanted.matches(event));
  event.source = "/phones/1";
  CHECK_FALSE(wanted.matches(event));
  event.extensions = {{"region", "eu"}};
  CHECK(wanted.matches(event));
  event.type = "image.deleted";
  CHECK_FALSE(wanted.matches(event));

  SECTION("not(not(f)) is f; all and any of one filter are that filter") {
    for (const Event& e : {Event{}, Event{.type = "image.uploaded"}}) {
      CHECK(Filter::negate(Filter::negate(is_upload)).matches(e) == is_upload.matches(e));
      CHECK(Filter::all({is_upload}).matches(e) == is_upload.matches(e));
      CHECK(Filter::any({is_upload}).matches(e) == is_upload.matches(e));
      CHECK(Filter::all({is_upload, Filter::negate(is_upload)}).matches(e) == false);
      CHECK(Filter::any({is_upload, Filter::negate(is_upload)}).matches(e) == true);
    }
  }
  SECTION("a default filter inside a combination is all()") {
    CHECK(Filter::any({Filter::any({}), Filter()}).to_string() == "any(any(), all())");
    CHECK(Filter::any({Filter::any({}), Filter()}).matches(event));
  }
}

TEST_CASE("equality is structural and ordered", "[filter]") {
  const Filter a = Filter::exact("type", "a");
  const Filter b = Filter::prefix("type", "a");
  CHECK(a == Filter::exact("type", "a"));
  CHECK(a != b);
  CHECK(a != Filter::exact("type", "b"));
  CHECK(a != Filter::exact("source", "a"));
  CHECK(Filter::all({a, b}) == Filter::all({a, b}));
  CHECK(Filter::all({a, b}) != Filter::all({b, a}));
  CHECK(Filter::all({a, b}) != Filter::any({a, b}));
  CHECK(Filter::all({Filter::all({a}), b}) != Filter::all({a, b}));
  CHECK(Filter::all({Filter::all({a, b})}) != Filter::all({Filter::all({a}), b}));
  const Filter copy = a;
  CHECK(copy == a);
}

TEST_CASE("parse reads the whole grammar with any whitespace", "[filter]") {
  const std::string canonical =
      R"(all(exact(type, "image.uploaded"), not(suffix(subject, ".tmp")), )"
      R"(any(prefix(source, "/cams/"), exact(region, "eu"))))";
  const Filter expected = parsed(canonical);
  CHECK(expected.to_string() == canonical);

  const std::string text = GENERATE(
      std::string(R"(all(exact(type,"image.uploaded"),not(suffix(subject,".tmp")),)"
                  R"(any(prefix(source,"/cams/"),exact(region,"eu"))))"),
      std::string(" \t\r\n all \n(\texact ( type , \"image.uploaded\" ) ,\n not ( suffix ( "
                  "subject ,\".tmp\" ) ) , any ( prefix(source , \"/cams/\") , exact ( region"
                  "\t,\t\"eu\" ) ) ) \r\n"));
  INFO(text);
  CHECK(parsed(text) == expected);
  CHECK(parsed(text).to_string() == canonical);

  SECTION("escapes and raw bytes in values") {
    const Filter filter = parsed(R"(exact(x, "a \"quoted\" back\\slash"))");
    CHECK(filter == Filter::exact("x", "a \"quoted\" back\\slash"));
    CHECK(filter.to_string() == R"(exact(x, "a \"quoted\" back\\slash"))");
    const std::string raw = "exact(x, \"line\nbreak\ttab caf\xc3\xa9 \x01\")";
    CHECK(parsed(raw) == Filter::exact("x", "line\nbreak\ttab caf\xc3\xa9 \x01"));
    CHECK(parsed(raw).to_string() == raw);
    CHECK(parsed(R"(prefix(x,""))") == Filter::prefix("x", ""));
  }
  SECTION("every keyword and attribute characters") {
    CHECK(parsed("not(any())") == Filter::negate(Filter::any({})));
    CHECK(parsed("any(all())") == Filter::any({Filter()}));
    CHECK(parsed(R"(suffix(Ab-9_.z, "v"))") == Filter::suffix("Ab-9_.z", "v"));
    CHECK(parsed(R"(prefix(1, "v"))") == Filter::prefix("1", "v"));
    const std::string longest(64, 'n');
    CHECK(parsed("exact(" + longest + ", \"v\")") == Filter::exact(longest, "v"));
  }
}

// One text parse() must refuse: the byte it must name and words of what it expected.
struct ParseError {
  std::string text;
  size_t byte;
  std::string expected;
};

TEST_CASE("parse names the byte and what was expected for every syntax error", "[filter]") {
  const ParseError error = GENERATE(
      ParseError{"exact(type \"x\")", 11, "expected ',' after the attribute name"},
      ParseError{"", 0, "expected a filter: all, any, not, exact, prefix or suffix"},
      ParseError{"   ", 3, "expected a filter"},
      ParseError{"exist(a, \"b\")", 0, "expected a filter"},
      ParseError{"ALL()", 0, "expected a filter"}, ParseError{"(all)", 0, "expected a filter"},
      ParseError{"all", 3, "expected '(' after 'all'"},
      ParseError{"exact1(a, \"b\")", 5, "expected '(' after 'exact'"},
      ParseError{"not x", 4, "expected '(' after 'not'"},
      ParseError{"all(", 4, "expected a filter"}, ParseError{"all(all(),", 10, "expected a filter"},
      ParseError{"all(all(),)", 10, "expected a filter"},
      ParseError{"all(all() all())", 10, "expected ',' or ')' in all(...)"},
      ParseError{"any(all()", 9, "expected ',' or ')' in any(...)"},
      ParseError{"not()", 4, "expected a filter"},
      ParseError{"not(all(), all())", 9, "expected ')' after the filter in not(...)"},
      ParseError{"exact(", 6, "expected an attribute name"},
      ParseError{"exact(, \"b\")", 6, "expected an attribute name"},
      ParseError{"exact(\"a\", \"b\")", 6, "expected an attribute name"},
      ParseError{"exact(a b, \"c\")", 8, "expected ',' after the attribute name"},
      ParseError{"exact(a/b, \"c\")", 7, "expected ',' after the attribute name"},
      ParseError{"prefix(" + std::string(65, 'n') + ", \"v\")", 7,
                 "attribute name longer than 64 bytes"},
      ParseError{"exact(a,", 8, "expected a double-quoted value after ','"},
      ParseError{"exact(a, b)", 9, "expected a double-quoted value after ','"},
      ParseError{"exact(a, 'b')", 9, "expected a double-quoted value after ','"},
      ParseError{"exact(a, \"b)", 12, "unterminated value: the '\"' at byte 9 is never closed"},
      ParseError{"exact(a, \"b\\", 12, "unterminated value: the '\"' at byte 9 is never closed"},
      ParseError{"exact(a, \"b\\n\")", 11, "unsupported escape: a value allows only \\\" and \\\\"},
      ParseError{"exact(a, \"b\" \"c\")", 13, "expected ')' after the value"},
      ParseError{"exact(a, \"b\", \"c\")", 12, "expected ')' after the value"},
      ParseError{"all())", 5, "expected the end of the text"},
      ParseError{"all() any()", 6, "expected the end of the text"},
      ParseError{std::string("all()\0", 6), 5, "expected the end of the text"});
  INFO("text: " << error.text);
  const absl::StatusOr<Filter> filter = Filter::parse(error.text);
  REQUIRE_FALSE(filter.ok());
  CHECK(filter.status().code() == absl::StatusCode::kInvalidArgument);
  const std::string message = message_of(filter.status());
  INFO("message: " << message);
  CHECK(message.starts_with("filter \""));
  CHECK(contains(message, ": byte " + std::to_string(error.byte) + ": " + error.expected));
}

TEST_CASE("the example error reads as documented", "[filter]") {
  CHECK(message_of(Filter::parse("exact(type \"x\")").status()) ==
        "filter \"exact(type \"x\")\": byte 11: expected ',' after the attribute name");
  // Bytes outside printable ASCII are quoted as \xNN.
  CHECK(message_of(Filter::parse("a\x01\xff").status()) ==
        "filter \"a\\x01\\xff\": byte 0: expected a filter: all, any, not, exact, prefix or "
        "suffix");
}

std::string nested_nots(int count, std::string_view inner) {
  std::string text;
  for (int i = 0; i < count; ++i) text += "not(";
  text += inner;
  text += std::string(static_cast<size_t>(count), ')');
  return text;
}

TEST_CASE("parse refuses nesting deeper than 32 levels", "[filter]") {
  // 31 not() around a test: 32 levels.
  const Filter deepest = parsed(nested_nots(31, R"(exact(a, "b"))"));
  CHECK(deepest.validate().ok());
  CHECK(deepest.matches(Event{}));
  CHECK(parsed(nested_nots(31, "any()")).is_match_all());  // an odd number of not()

  for (const std::string& inner : {std::string(R"(exact(a, "b"))"), std::string("all()")}) {
    const std::string text = nested_nots(32, inner);
    INFO(text);
    const absl::StatusOr<Filter> filter = Filter::parse(text);
    REQUIRE_FALSE(filter.ok());
    CHECK(contains(message_of(filter.status()), ": byte 128: nesting deeper than 32 levels"));
  }
  SECTION("hostile nesting up to the size limit is refused without deep recursion") {
    std::string text;
    while (text.size() + 4 <= Filter::kMaxTextSize) text += "all(";
    const absl::StatusOr<Filter> filter = Filter::parse(text);
    REQUIRE_FALSE(filter.ok());
    CHECK(contains(message_of(filter.status()), "nesting deeper than 32 levels"));
  }
}

TEST_CASE("parse refuses text over 4096 bytes and quotes at most 64 bytes", "[filter]") {
  // A valid filter of exactly 4096 bytes: a long value.
  const std::string frame = R"(exact(a, ""))";
  const std::string value(Filter::kMaxTextSize - frame.size(), 'v');
  const std::string longest = "exact(a, \"" + value + "\")";
  REQUIRE(longest.size() == Filter::kMaxTextSize);
  CHECK(parsed(longest) == Filter::exact("a", value));
  CHECK(parsed(longest).to_string() == longest);

  const absl::StatusOr<Filter> over = Filter::parse(longest + " ");
  REQUIRE_FALSE(over.ok());
  CHECK(over.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(contains(message_of(over.status()), "(4097 bytes): longer than 4096 bytes"));

  SECTION("a 10 KB input is quoted by its first 64 bytes") {
    const std::string huge = "all(" + std::string(10 * 1024 - 4, 'x');
    const std::string message = message_of(Filter::parse(huge).status());
    INFO(message);
    CHECK(message ==
          "filter \"" + huge.substr(0, 64) + "...\" (10240 bytes): longer than 4096 bytes");
  }
  SECTION("an error late in a long input quotes its first 64 bytes and names the byte") {
    const std::string text = "exact(a, \"" + std::string(4000, 'v') + "\"x";
    const std::string message = message_of(Filter::parse(text).status());
    INFO(message);
    CHECK(message.size() < 200);
    CHECK(contains(message, "...\" (4012 bytes): byte 4011: expected ')' after the value"));
  }
  SECTION("text whose canonical form would be over 4096 bytes is refused") {
    // Each ",all()" grows by one byte in the canonical text (", all()").
    std::string text = "any(all()";
    while (text.size() + 7 <= Filter::kMaxTextSize) text += ",all()";
    text += ")";
    REQUIRE(text.size() <= Filter::kMaxTextSize);
    const absl::StatusOr<Filter> filter = Filter::parse(text);
    REQUIRE_FALSE(filter.ok());
    CHECK(contains(message_of(filter.status()), "canonical text"));
    CHECK(contains(message_of(filter.status()), "over the limit of 4096"));
  }
}

TEST_CASE("validate refuses bad attribute names, deep nesting and long text", "[filter]") {
  CHECK(Filter().validate().ok());
  CHECK(Filter::exact("type", "").validate().ok());
  CHECK(Filter::prefix(std::string(64, 'a'), "v").validate().ok());

  const std::string bad_name =
      GENERATE(std::string(""), std::string("has space"), std::string("a/b"),
               std::string("caf\xc3\xa9"), std::string("a\"b"), std::string(65, 'a'));
  INFO("name \"" << bad_name << "\"");
  const Filter bad = Filter::suffix(bad_name, "v");
  for (const Filter& filter :
       {bad, Filter::all({Filter::exact("type", "t"), Filter::negate(Filter::any({bad}))})}) {
    const absl::Status status = filter.validate();
    REQUIRE_FALSE(status.ok());
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    const std::string message = message_of(status);
    INFO(message);
    CHECK(message.starts_with("filter \""));
    CHECK(contains(message, "attribute name \""));
    CHECK(contains(message, "must be 1 to 64 bytes of letters, digits, '_', '.' and '-'"));
    // Evaluation of an invalid filter still works: the name is an absent extension.
    CHECK(filter.matches(Event{.type = "t"}) == (filter == bad ? false : true));
  }

  SECTION("nesting of factory-built filters") {
    Filter filter = Filter::exact("a", "b");
    for (int i = 0; i < 31; ++i) filter = Filter::negate(filter);
    CHECK(filter.validate().ok());
    CHECK(parsed(filter.to_string()) == filter);
    filter = Filter::negate(filter);
    const absl::Status status = filter.validate();
    REQUIRE_FALSE(status.ok());
    CHECK(contains(message_of(status), "nested 33 levels deep, more than the limit of 32"));
  }
  SECTION("canonical text length") {
    const Filter filter = Filter::exact("a", std::string(Filter::kMaxTextSize, '"'));
    const absl::Status status = filter.validate();
    REQUIRE_FALSE(status.ok());
    CHECK(contains(message_of(status), "its text is 8204 bytes, over the limit of 4096"));
    CHECK(message_of(status).size() < 300);
  }
}

TEST_CASE("deep factory-built filters evaluate, print and compare without recursion", "[filter]") {
  constexpr int kDepth = 2000;
  Filter filter = Filter::exact("type", "t");
  for (int i = 0; i < kDepth; ++i) {
    filter = i % 2 == 0 ? Filter::negate(filter) : Filter::all({filter, Filter()});
  }
  // 1000 not(): an even number, so the filter is exact(type, "t").
  CHECK(filter.matches(Event{.type = "t"}));
  CHECK_FALSE(filter.matches(Event{.type = "u"}));
  const Filter copy = filter;
  CHECK(copy == filter);
  CHECK(filter.to_string().starts_with("all(not(all(not("));
  CHECK_FALSE(filter.validate().ok());
}

// A filter tree built on the test's side, with its own evaluator to check Filter against.
struct Spec {
  enum Kind { kAll, kAny, kNot, kExact, kPrefix, kSuffix } kind = kAll;
  std::string name;
  std::string value;
  std::vector<Spec> children;
};

const std::vector<std::string>& spec_names() {
  static const std::vector<std::string> names = {
      "id", "source", "type", "subject", "datacontenttype", "topic", "time", "x", "y"};
  return names;
}

const std::vector<std::string>& spec_values() {
  static const std::vector<std::string> values = {"", "a", "ab", "b", "ba", "q\"\\", "2026-01"};
  return values;
}

Spec random_spec(std::mt19937& random, int depth) {
  std::uniform_int_distribution<int> pick(0, depth >= 6 ? 2 : 5);
  Spec spec;
  const int choice = pick(random);
  spec.kind = static_cast<Spec::Kind>(choice <= 2 ? 3 + choice : choice - 3);
  if (spec.kind >= Spec::kExact) {
    spec.name = spec_names()[random() % spec_names().size()];
    spec.value = spec_values()[random() % spec_values().size()];
  } else if (spec.kind == Spec::kNot) {
    spec.children.push_back(random_spec(random, depth + 1));
  } else {
    const size_t count = random() % 4;
    for (size_t i = 0; i < count; ++i) spec.children.push_back(random_spec(random, depth + 1));
  }
  return spec;
}

Filter build(const Spec& spec) {
  std::vector<Filter> children;
  for (const Spec& child : spec.children) children.push_back(build(child));
  switch (spec.kind) {
    case Spec::kAll:
      return Filter::all(std::move(children));
    case Spec::kAny:
      return Filter::any(std::move(children));
    case Spec::kNot:
      return Filter::negate(children.front());
    case Spec::kExact:
      return Filter::exact(spec.name, spec.value);
    case Spec::kPrefix:
      return Filter::prefix(spec.name, spec.value);
    case Spec::kSuffix:
      return Filter::suffix(spec.name, spec.value);
  }
  return Filter();
}

std::optional<std::string> reference_value(const Event& event, const std::string& name) {
  auto non_empty = [](const std::string& v) -> std::optional<std::string> {
    if (v.empty()) return std::nullopt;
    return v;
  };
  if (name == "id") return non_empty(event.id);
  if (name == "source") return non_empty(event.source);
  if (name == "type") return non_empty(event.type);
  if (name == "subject") return non_empty(event.subject);
  if (name == "datacontenttype") return non_empty(event.datacontenttype);
  if (name == "topic") return non_empty(event.topic);
  if (name == "time") {
    if (event.time == absl::InfinitePast()) return std::nullopt;
    return absl::FormatTime("%Y-%m-%d%ET%H:%M:%E*SZ", event.time, absl::UTCTimeZone());
  }
  for (const auto& [key, value] : event.extensions) {
    if (key == name) return value;
  }
  return std::nullopt;
}

bool reference_matches(const Spec& spec, const Event& event) {
  switch (spec.kind) {
    case Spec::kAll:
      for (const Spec& child : spec.children) {
        if (!reference_matches(child, event)) return false;
      }
      return true;
    case Spec::kAny:
      for (const Spec& child : spec.children) {
        if (reference_matches(child, event)) return true;
      }
      return false;
    case Spec::kNot:
      return !reference_matches(spec.children.front(), event);
    default:
      break;
  }
  const std::optional<std::string> actual = reference_value(event, spec.name);
  if (!actual) return false;
  if (spec.kind == Spec::kExact) return *actual == spec.value;
  if (spec.kind == Spec::kPrefix) return actual->starts_with(spec.value);
  return actual->ends_with(spec.value);
}

Event random_event(std::mt19937& random) {
  const auto value = [&] { return spec_values()[random() % spec_values().size()]; };
  Event event{.id = value(),
              .source = value(),
              .type = value(),
              .subject = value(),
              .datacontenttype = value(),
              .topic = value()};
  if (random() % 2 == 0) event.time = at(2026, 1, 2, 3, 4, 5) + absl::Milliseconds(random() % 3);
  if (random() % 2 == 0) event.extensions.emplace_back("x", value());
  if (random() % 2 == 0) event.extensions.emplace_back("y", value());
  return event;
}

// Inserts random whitespace between the tokens of canonical text (after '(' and ',', around
// ')'), outside quoted values.
std::string with_random_whitespace(const std::string& text, std::mt19937& random) {
  static const char* const kSpaces[] = {"", " ", "\t", "\n", "\r\n ", "  "};
  std::string out;
  bool in_value = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_value) {
      out += c;
      if (c == '\\') {
        out += text[++i];
      } else if (c == '"') {
        in_value = false;
      }
      continue;
    }
    if (c == ' ') continue;
    if (c == ')' || c == ',') out += kSpaces[random() % 6];
    out += c;
    if (c == '(' || c == ',') out += kSpaces[random() % 6];
    if (c == '"') in_value = true;
  }
  return kSpaces[random() % 6] + out + kSpaces[random() % 6];
}

TEST_CASE("random filter trees round-trip and agree with a reference evaluator", "[filter]") {
  std::mt19937 random(20260102);
  for (int round = 0; round < 400; ++round) {
    const Spec spec = random_spec(random, 1);
    const Filter filter = build(spec);
    const std::string text = filter.to_string();
    INFO("filter " << text);
    REQUIRE(filter.validate().ok());
    const Filter again = parsed(text);
    CHECK(again == filter);
    CHECK(again.to_string() == text);
    CHECK(parsed(with_random_whitespace(text, random)) == filter);
    for (int e = 0; e < 20; ++e) {
      const Event event = random_event(random);
      const bool expected = reference_matches(spec, event);
      CHECK(filter.matches(event) == expected);
      CHECK(again.matches(event) == expected);
      if (filter.is_match_all()) CHECK(expected);
    }
  }
}

TEST_CASE("copies of a filter evaluate concurrently from several threads", "[filter]") {
  const int threads = GENERATE(1, 2, 4, 8);
  const Filter filter = parsed(
      R"(all(exact(type, "image.uploaded"), not(suffix(subject, ".tmp")),)"
      R"( any(prefix(source, "/cams/"), exact(region, "eu"), prefix(time, "2026-01-02T03"))))");
  std::vector<Event> events;
  std::vector<bool> expected;
  for (int i = 0; i < 64; ++i) {
    Event event{.source = i % 2 == 0 ? "/cams/" + std::to_string(i) : "/phones/1",
                .type = i % 3 == 0 ? "image.deleted" : "image.uploaded",
                .subject = i % 5 == 0 ? "x.tmp" : "x.png"};
    if (i % 7 == 0) event.extensions.emplace_back("region", "eu");
    if (i % 11 == 0) event.time = at(2026, 1, 2, 3, 59, 0);
    expected.push_back(filter.matches(event));
    events.push_back(std::move(event));
  }
  std::vector<int> mismatches(static_cast<size_t>(threads), 0);
  std::vector<int> evaluated(static_cast<size_t>(threads), 0);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t, copy = filter] {
      for (int round = 0; round < 2000; ++round) {
        const Filter local = copy;  // copies share the nodes and stay valid
        for (size_t i = 0; i < events.size(); ++i) {
          if (local.matches(events[i]) != expected[i]) ++mismatches[static_cast<size_t>(t)];
          ++evaluated[static_cast<size_t>(t)];
        }
      }
    });
  }
  for (std::thread& worker : workers) worker.join();
  for (int t = 0; t < threads; ++t) {
    INFO("thread " << t);
    CHECK(mismatches[static_cast<size_t>(t)] == 0);
    CHECK(evaluated[static_cast<size_t>(t)] == 2000 * 64);
  }
}

}  // namespace
