// SPDX-License-Identifier: Apache-2.0
#include "cloudevents.hpp"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/time/time.h"
#include "common/quote.hpp"
#include "fmt/format.h"

namespace fnhost::http::detail {
namespace {

using fnhost::detail::quote_for_message;

absl::Status attribute_error(std::string_view name, std::string_view problem) {
  return absl::InvalidArgumentError(
      fmt::format("CloudEvent attribute {}: {}", quote_for_message(name), problem));
}

bool is_attribute_name(std::string_view name) {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
  });
}

std::string lowercase(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool iequals_prefix(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && lowercase(text.substr(0, prefix.size())) == prefix;
}

// Fills `event` attribute by attribute and checks the whole at the end.
class EventBuilder {
 public:
  absl::Status set(std::string_view name, std::string value) {
    if (!is_attribute_name(name)) {
      return attribute_error(name, "names are 1..64 characters of [a-z0-9]");
    }
    if (name == "data") return attribute_error(name, "is reserved for the event's data");
    if (std::find(seen_.begin(), seen_.end(), name) != seen_.end()) {
      return attribute_error(name, "given twice");
    }
    seen_.emplace_back(name);
    if (name == "specversion") {
      if (value != "1.0") {
        return attribute_error(name,
                               fmt::format("must be \"1.0\", got {}", quote_for_message(value)));
      }
      has_specversion_ = true;
    } else if (name == "id") {
      event_.id = std::move(value);
    } else if (name == "source") {
      event_.source = std::move(value);
    } else if (name == "type") {
      event_.type = std::move(value);
    } else if (name == "subject") {
      event_.subject = std::move(value);
    } else if (name == "datacontenttype") {
      event_.datacontenttype = std::move(value);
    } else if (name == "time") {
      std::string error;
      if (!absl::ParseTime(absl::RFC3339_full, value, &event_.time, &error)) {
        return attribute_error(name,
                               fmt::format("not an RFC 3339 time: {}", quote_for_message(value)));
      }
    } else {
      if (event_.extensions.size() >= kMaxExtensions) {
        return attribute_error(name,
                               fmt::format("more than {} extension attributes", kMaxExtensions));
      }
      event_.extensions.emplace_back(std::string(name), std::move(value));
    }
    return absl::OkStatus();
  }

  Event& event() { return event_; }

  absl::StatusOr<Event> finish() && {
    if (!has_specversion_) return attribute_error("specversion", "is required");
    if (event_.id.empty()) return attribute_error("id", "is required (non-empty)");
    if (event_.source.empty()) return attribute_error("source", "is required (non-empty)");
    if (event_.type.empty()) return attribute_error("type", "is required (non-empty)");
    return std::move(event_);
  }

 private:
  Event event_;
  std::vector<std::string> seen_;
  bool has_specversion_ = false;
};

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Binary mode header values are percent-encoded (CloudEvents HTTP binding, 3.1.3.2).
absl::StatusOr<std::string> percent_decode(std::string_view name, std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (size_t i = 0; i < value.size(); ++i) {
    if (value[i] != '%') {
      out += value[i];
      continue;
    }
    const int high = i + 1 < value.size() ? hex_value(value[i + 1]) : -1;
    const int low = i + 2 < value.size() ? hex_value(value[i + 2]) : -1;
    if (high < 0 || low < 0) {
      return attribute_error(
          name, fmt::format("bad percent-encoding at byte {} of {}", i, quote_for_message(value)));
    }
    out += static_cast<char>(high * 16 + low);
    i += 2;
  }
  return out;
}

// The deepest nesting of arrays and objects in `text` (strings skipped), counted up to
// kMaxJsonDepth + 1: a parser must never recurse or build structures deeper than that.
int json_depth(std::string_view text) {
  int depth = 0;
  int deepest = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > kMaxJsonDepth) return deepest;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

// The attributes the spec defines; all are strings in JSON (extensions may be any scalar).
bool is_context_attribute(std::string_view name) {
  for (const char* known : {"specversion", "id", "source", "type", "subject", "time",
                            "datacontenttype", "dataschema"}) {
    if (name == known) return true;
  }
  return false;
}

// A structured-mode attribute value as CloudEvents' type system allows: String (and URI,
// Timestamp...), Boolean, Integer. Null means "not set".
absl::StatusOr<std::optional<std::string>> attribute_text(const std::string& name,
                                                          const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::null:
      return std::optional<std::string>();
    case nlohmann::json::value_t::string:
      return std::optional<std::string>(value.get<std::string>());
    case nlohmann::json::value_t::boolean:
      return std::optional<std::string>(value.get<bool>() ? "true" : "false");
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned:
      return std::optional<std::string>(value.dump());
    default:
      return attribute_error(name, fmt::format("must be a string, a boolean or an integer, got {}",
                                               value.type_name()));
  }
}

}  // namespace

std::string media_type(std::string_view content_type) {
  std::string out;
  for (const char c : content_type.substr(0, content_type.find(';'))) {
    if (c != ' ' && c != '\t')
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

bool is_structured_mode(std::string_view content_type) {
  return media_type(content_type) == "application/cloudevents+json";
}

bool is_batch_mode(std::string_view content_type) {
  return media_type(content_type) == "application/cloudevents-batch+json";
}

bool is_json_media_type(std::string_view content_type) {
  const std::string type = media_type(content_type);
  return type == "application/json" || type == "text/json" ||
         (type.size() > 5 && type.compare(type.size() - 5, 5, "+json") == 0);
}

absl::StatusOr<Event> parse_binary_cloudevent(const HeaderList& headers, std::string body) {
  EventBuilder builder;
  for (const auto& [name, value] : headers) {
    if (iequals_prefix(name, "content-type")) {
      if (name.size() == 12) builder.event().datacontenttype = value;
      continue;
    }
    if (!iequals_prefix(name, "ce-")) continue;
    const std::string attribute = lowercase(std::string_view(name).substr(3));
    if (attribute == "datacontenttype") {
      return attribute_error(attribute,
                             "is the Content-Type header in binary mode, not ce-datacontenttype");
    }
    absl::StatusOr<std::string> decoded = percent_decode(attribute, value);
    if (!decoded.ok()) return decoded.status();
    if (absl::Status set = builder.set(attribute, *std::move(decoded)); !set.ok()) return set;
  }
  builder.event().data = std::move(body);
  return std::move(builder).finish();
}

absl::StatusOr<Event> parse_structured_cloudevent(std::string_view body) {
  if (json_depth(body) > kMaxJsonDepth) {
    return absl::InvalidArgumentError(
        fmt::format("structured CloudEvent: JSON nested deeper than {} levels", kMaxJsonDepth));
  }
  nlohmann::json document;
  try {
    document = nlohmann::json::parse(body);
  } catch (const nlohmann::json::parse_error& error) {
    return absl::InvalidArgumentError(
        fmt::format("structured CloudEvent: not JSON (byte {})", error.byte));
  } catch (const nlohmann::json::exception&) {
    // out_of_range: a number too large for a double ("1e999").
    return absl::InvalidArgumentError("structured CloudEvent: a number is out of range");
  }
  if (!document.is_object()) {
    return absl::InvalidArgumentError(
        fmt::format("structured CloudEvent: expected a JSON object, got {}", document.type_name()));
  }
  EventBuilder builder;
  const nlohmann::json* data = nullptr;
  const nlohmann::json* data_base64 = nullptr;
  for (const auto& [name, value] : document.items()) {
    if (name == "data") {
      data = &value;
      continue;
    }
    if (name == "data_base64") {
      data_base64 = &value;
      continue;
    }
    if (is_context_attribute(name) && !value.is_string() && !value.is_null()) {
      return attribute_error(name, fmt::format("must be a string, got {}", value.type_name()));
    }
    absl::StatusOr<std::optional<std::string>> text = attribute_text(name, value);
    if (!text.ok()) return text.status();
    if (!text->has_value()) continue;
    if (absl::Status set = builder.set(name, **std::move(text)); !set.ok()) return set;
  }
  Event& event = builder.event();
  if (data != nullptr && data_base64 != nullptr) {
    return attribute_error("data_base64", "cannot be given together with \"data\"");
  }
  if (data_base64 != nullptr && !data_base64->is_null()) {
    if (!data_base64->is_string()) return attribute_error("data_base64", "must be a string");
    if (!absl::Base64Unescape(data_base64->get_ref<const std::string&>(), &event.data)) {
      return attribute_error("data_base64", "is not valid base64");
    }
  } else if (data != nullptr && !data->is_null()) {
    // A string is the data itself unless the content type says JSON (then it is a JSON
    // string); any other JSON value is JSON text. No content type means JSON.
    if (data->is_string() && !event.datacontenttype.empty() &&
        !is_json_media_type(event.datacontenttype)) {
      event.data = data->get<std::string>();
    } else {
      event.data = data->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      if (event.datacontenttype.empty()) event.datacontenttype = "application/json";
    }
  }
  return std::move(builder).finish();
}

}  // namespace fnhost::http::detail
