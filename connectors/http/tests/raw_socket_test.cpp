// SPDX-License-Identifier: Apache-2.0
// What no well-behaved client library sends: Expect: 100-continue refusals, requests that never
// finish, malformed request lines. Spoken over a plain socket.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <string>

#include "gateway_fixture.hpp"

namespace fnhost::http {
namespace {

using testing::GatewayFixture;

// A TCP connection to the gateway; reads until the server closes (or 60 s pass).
class RawConnection {
 public:
  explicit RawConnection(int port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0);
  }
  ~RawConnection() { ::close(fd_); }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  void send(const std::string& bytes) {
    REQUIRE(::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(bytes.size()));
  }
  // Everything the server sends until it closes the connection.
  std::string read_to_close() {
    std::string received;
    std::array<char, 4096> buffer{};
    for (;;) {
      pollfd descriptor{.fd = fd_, .events = POLLIN, .revents = 0};
      if (::poll(&descriptor, 1, 60'000) <= 0) break;
      const ssize_t got = ::recv(fd_, buffer.data(), buffer.size(), 0);
      if (got <= 0) break;
      received.append(buffer.data(), static_cast<size_t>(got));
    }
    return received;
  }

 private:
  int fd_;
};

TEST_CASE("Expect: 100-continue is answered with the refusal instead of 100 Continue",
          "[http][limits]") {
  std::atomic<int> runs{0};
  GatewayFixture fixture({.max_async_body_bytes = 1000});
  REQUIRE(fixture.host
              .register_function({.name = "count",
                                  .handler = [&runs](const Event&, Context&) -> Result {
                                    runs.fetch_add(1);
                                    return std::string();
                                  }})
              .ok());
  RawConnection connection(fixture.gateway->port());
  connection.send(
      "POST /events/a HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n"
      "Expect: 100-continue\r\n\r\n");
  const std::string response = connection.read_to_close();
  INFO(response);
  CHECK(response.starts_with("HTTP/1.1 413"));
  CHECK(response.find("100 Continue") == std::string::npos);
  CHECK(runs.load() == 0);
}

TEST_CASE("a request that never finishes is dropped after request_timeout", "[http][limits]") {
  GatewayFixture fixture({.request_timeout = absl::Milliseconds(200)});
  RawConnection connection(fixture.gateway->port());
  connection.send("POST /functions/x/invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc");
  // The server gives up on the body and closes (answering 400 at most); it does not wait for
  // the client for ever.
  const std::string response = connection.read_to_close();
  INFO(response);
  CHECK((response.empty() || response.starts_with("HTTP/1.1 400")));
}

TEST_CASE("a malformed request line gets 400 and the connection closes", "[http][limits]") {
  GatewayFixture fixture;
  RawConnection connection(fixture.gateway->port());
  connection.send("NONSENSE\r\n\r\n");
  const std::string response = connection.read_to_close();
  INFO(response);
  CHECK(response.starts_with("HTTP/1.1 400"));
  CHECK(response.find("\"code\":\"INVALID_ARGUMENT\"") != std::string::npos);
}

}  // namespace
}  // namespace fnhost::http
