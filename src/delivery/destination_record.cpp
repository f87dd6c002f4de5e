// SPDX-License-Identifier: Apache-2.0
#include "delivery/destination_record.hpp"

#include <charconv>
#include <string_view>
#include <utility>

#include "fmt/format.h"
#include "fnhost/delivery.hpp"

namespace fnhost {

namespace {

constexpr std::string_view kCondition = "fnhostcondition";
constexpr std::string_view kFunction = "fnhostfunction";
constexpr std::string_view kTopic = "fnhosttopic";
constexpr std::string_view kAttempts = "fnhostattempts";
constexpr std::string_view kFirstAccepted = "fnhostfirstaccepted";
constexpr std::string_view kLastAttempt = "fnhostlastattempt";
constexpr std::string_view kResult = "fnhostresult";
constexpr std::string_view kErrorCode = "fnhosterrorcode";
constexpr std::string_view kError = "fnhosterror";

std::string format_time(absl::Time time) {
  return absl::FormatTime(absl::RFC3339_full, time, absl::UTCTimeZone());
}

bool is_outcome_attribute(std::string_view name) {
  for (std::string_view known : {kCondition, kFunction, kTopic, kAttempts, kFirstAccepted,
                                 kLastAttempt, kResult, kErrorCode, kError}) {
    if (name == known) return true;
  }
  return false;
}

absl::Status missing(std::string_view attribute) {
  return absl::InvalidArgumentError(
      fmt::format("not a destination record: attribute \"{}\" missing or malformed", attribute));
}

bool parse_int(std::string_view text, int& value) {
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  return error == std::errc() && end == text.data() + text.size();
}

}  // namespace

namespace detail {

Event make_destination_event(Event original, const OutcomeFacts& facts, const std::string& topic) {
  Event event = std::move(original);
  auto add = [&](std::string_view name, std::string value) {
    event.extensions.emplace_back(std::string(name), std::move(value));
  };
  add(kCondition, facts.success ? "success" : "failure");
  add(kFunction, std::string(facts.function));
  if (!event.topic.empty()) add(kTopic, event.topic);
  add(kAttempts, std::to_string(facts.attempts));
  add(kFirstAccepted, format_time(facts.first_accepted));
  add(kLastAttempt, format_time(facts.last_attempt));
  if (facts.success) {
    add(kResult, facts.result != nullptr ? *facts.result : std::string());
  } else if (facts.error != nullptr) {
    add(kErrorCode, std::to_string(static_cast<int>(facts.error->code())));
    add(kError, std::string(facts.error->message()));
  }
  if (!topic.empty()) event.topic = topic;
  return event;
}

}  // namespace detail

absl::StatusOr<DestinationRecord> read_destination_record(const Event& event) {
  DestinationRecord record;
  const std::optional<std::string_view> condition = event.extension(kCondition);
  if (!condition || (*condition != "success" && *condition != "failure")) {
    return missing(kCondition);
  }
  record.success = *condition == "success";
  const std::optional<std::string_view> function = event.extension(kFunction);
  if (!function) return missing(kFunction);
  record.function = std::string(*function);
  const std::optional<std::string_view> attempts = event.extension(kAttempts);
  if (!attempts || !parse_int(*attempts, record.attempts)) return missing(kAttempts);
  std::string error;
  const std::optional<std::string_view> first = event.extension(kFirstAccepted);
  if (!first || !absl::ParseTime(absl::RFC3339_full, std::string(*first), &record.first_accepted,
                                 &error)) {
    return missing(kFirstAccepted);
  }
  const std::optional<std::string_view> last = event.extension(kLastAttempt);
  if (!last ||
      !absl::ParseTime(absl::RFC3339_full, std::string(*last), &record.last_attempt, &error)) {
    return missing(kLastAttempt);
  }
  if (record.success) {
    const std::optional<std::string_view> result = event.extension(kResult);
    if (!result) return missing(kResult);
    record.result = std::string(*result);
  } else {
    int code = 0;
    const std::optional<std::string_view> code_text = event.extension(kErrorCode);
    if (!code_text || !parse_int(*code_text, code) || code <= 0 || code > 16) {
      return missing(kErrorCode);
    }
    const std::optional<std::string_view> message = event.extension(kError);
    if (!message) return missing(kError);
    record.error = absl::Status(static_cast<absl::StatusCode>(code),
                                absl::string_view(message->data(), message->size()));
  }
  record.original = event;
  std::erase_if(record.original.extensions,
                [](const auto& attribute) { return is_outcome_attribute(attribute.first); });
  // The original's topic travels in fnhosttopic (absent: it had none).
  const std::optional<std::string_view> topic = event.extension(kTopic);
  record.original.topic = topic ? std::string(*topic) : std::string();
  return record;
}

}  // namespace fnhost
