// SPDX-License-Identifier: Apache-2.0
// register_publisher: a function whose handler publishes its event through a PublisherLink,
// opened on first use and reopened after it breaks.
#include "fnhost/mqtt/publisher.hpp"

#include <memory>
#include <string>
#include <utility>

#include "codec.hpp"
#include "common/quote.hpp"
#include "common/sync.hpp"
#include "fmt/format.h"
#include "publisher_link.hpp"

namespace fnhost::mqtt {
namespace {

// The function's state: its options and the current link. Shared by the handler's copies; the
// link closes when the last copy goes (the function removed, the host destroyed).
class PublisherClient {
 public:
  explicit PublisherClient(PublisherOptions options) : options_(std::move(options)) {}

  Result handle(const Event& event, Context& context) {
    absl::StatusOr<detail::Publish> message = message_for(event);
    if (!message.ok()) return not_retryable(message.status());
    absl::StatusOr<std::shared_ptr<detail::PublisherLink>> link = current_link();
    if (!link.ok()) return link.status();
    const absl::Duration budget = std::min(options_.ack_timeout, context.remaining());
    absl::Status published = (*link)->publish(*std::move(message), absl::Now() + budget);
    if (!published.ok()) return published;
    return std::string();
  }

 private:
  absl::StatusOr<detail::Publish> message_for(const Event& event) const {
    detail::Publish publish{.qos = static_cast<uint8_t>(options_.qos), .retain = options_.retain};
    if (!options_.topic.empty()) {
      publish.topic = options_.topic;
    } else {
      if (event.topic.empty()) {
        return absl::InvalidArgumentError(
            "MQTT publisher: the event has no topic and PublisherOptions::topic is empty");
      }
      publish.topic = options_.topic_prefix + event.topic;
      if (absl::Status valid = detail::check_topic_name(publish.topic); !valid.ok()) {
        return valid;
      }
    }
    publish.payload = event.data;
    if (options_.payload == PublishedPayload::kResultOrData &&
        event.extension("fnhostcondition") == std::optional<std::string_view>("success")) {
      if (std::optional<std::string_view> result = event.extension("fnhostresult")) {
        publish.payload = std::string(*result);
      } else {
        publish.payload.clear();  // the handler returned an empty result
      }
    }
    return publish;
  }

  absl::StatusOr<std::shared_ptr<detail::PublisherLink>> current_link() {
    fnhost::detail::MutexLock lock(mu_);
    if (link_ && !link_->is_broken()) return link_;
    link_.reset();
    absl::StatusOr<std::unique_ptr<detail::PublisherLink>> opened =
        detail::PublisherLink::open(options_.broker);
    if (!opened.ok()) return opened.status();
    link_ = *std::move(opened);
    return link_;
  }

  const PublisherOptions options_;
  fnhost::detail::Mutex mu_;
  std::shared_ptr<detail::PublisherLink> link_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

absl::Status register_publisher(Host& host, std::string name, PublisherOptions options) {
  if (absl::Status valid = validate_publisher_options(options); !valid.ok()) return valid;
  FunctionSpec spec{.name = std::move(name), .timeout = options.timeout, .retry = options.retry};
  auto client = std::make_shared<PublisherClient>(std::move(options));
  spec.handler = [client](const Event& event, Context& context) -> Result {
    return client->handle(event, context);
  };
  return host.register_function(std::move(spec));
}

}  // namespace fnhost::mqtt
