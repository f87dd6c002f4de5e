// SPDX-License-Identifier: Apache-2.0
// libFuzzer target for the CloudEvents parsers of connectors/http/src/cloudevents.cpp (built by
// scripts/fuzz.sh). The input is a structured-mode body; it is also read as binary mode
// ("name: value" header lines, an empty line, then the body). An event either parser accepts
// has its required attributes, and written back as a structured event (data as data_base64)
// parses to the same event.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "absl/strings/escaping.h"
#include "cloudevents.hpp"

namespace {

using fnhost::Event;
using fnhost::http::detail::HeaderList;

void require(bool condition) {
  if (!condition) std::abort();
}

void check_round_trip(const Event& event) {
  require(!event.id.empty() && !event.source.empty() && !event.type.empty());
  nlohmann::json document = {
      {"specversion", "1.0"}, {"id", event.id}, {"source", event.source}, {"type", event.type}};
  if (!event.subject.empty()) document["subject"] = event.subject;
  if (!event.datacontenttype.empty()) document["datacontenttype"] = event.datacontenttype;
  for (const auto& [name, value] : event.extensions) document[name] = value;
  document["data_base64"] = absl::Base64Escape(event.data);
  // Attribute values may hold any bytes; the parser reads back what JSON can carry.
  const std::string text = document.dump(-1, ' ', false, nlohmann::json::error_handler_t::ignore);
  absl::StatusOr<Event> again = fnhost::http::detail::parse_structured_cloudevent(text);
  if (!again.ok()) return;  // an attribute with invalid UTF-8 changed when dumped
  require(again->data == event.data);
  require(again->extensions.size() == event.extensions.size());
}

HeaderList read_headers(std::string_view& input) {
  HeaderList headers;
  while (!input.empty()) {
    const size_t end = input.find('\n');
    const std::string_view line = input.substr(0, end);
    input = end == std::string_view::npos ? std::string_view() : input.substr(end + 1);
    if (line.empty()) break;
    const size_t colon = line.find(':');
    headers.emplace_back(
        std::string(line.substr(0, colon)),
        colon == std::string_view::npos ? "" : std::string(line.substr(colon + 1)));
  }
  return headers;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<Event> structured = fnhost::http::detail::parse_structured_cloudevent(input);
  if (structured.ok()) check_round_trip(*structured);

  const HeaderList headers = read_headers(input);
  absl::StatusOr<Event> binary =
      fnhost::http::detail::parse_binary_cloudevent(headers, std::string(input));
  if (binary.ok()) {
    require(binary->data == input);
    check_round_trip(*binary);
  }
  return 0;
}
