// Two workers share a stream: run this program twice (in two terminals) against one Redis, and
// the entries of stream "jobs" are split between them through consumer group "workers". Stop
// one with Ctrl-C (or kill -9 it): what it had not finished stays pending and the other takes
// it over after 5 s of idleness. Results go to stream "jobs-done" through a stream-writer
// destination.
//   redis_workers [port=6379] [entries to add first=0]
// Expected output: "worker <name> ready", one "<name> ran <entry id>: <data>" per entry it
// ran, and its counters at exit; exit code 0 (1 if Redis cannot be reached).
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fnhost/fnhost.hpp>
#include <fnhost/redis/stream_trigger.hpp>
#include <fnhost/redis/stream_writer.hpp>
#include <string>

int main(int argc, char** argv) {
  const fnhost::redis::ServerOptions server{.port = argc > 1 ? std::atoi(argv[1]) : 6379};
  const int to_add = argc > 2 ? std::atoi(argv[2]) : 0;
  const std::string name = "worker-" + std::to_string(getpid());
  sigset_t stop_signals;  // taken with sigwait below; blocked before any thread starts
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  fnhost::Host host = fnhost::Host::create({.log_sink = nullptr}).value();
  if (!fnhost::redis::register_stream_writer(host, "jobs-writer",
                                             {.server = server, .stream = "jobs"})
           .ok() ||
      !fnhost::redis::register_stream_writer(
           host, "done", {.server = server, .stream = "jobs-done", .max_len = 10'000})
           .ok()) {
    return 1;
  }
  for (int i = 0; i < to_add; ++i) {  // a producer: the writer XADDs to "jobs"
    if (!host.invoke("jobs-writer", fnhost::Event::with_data("job " + std::to_string(i)))
             .get()
             .ok()) {
      std::fprintf(stderr, "cannot add entries: is Redis listening on %d?\n", server.port);
      return 1;
    }
  }
  absl::Status registered = host.register_function(
      {.name = "work",
       .handler = [name](const fnhost::Event& event, fnhost::Context&) -> fnhost::Result {
         std::printf("%s ran %s: %s\n", name.c_str(), event.id.c_str(), event.data.c_str());
         return "done by " + name;
       },
       .on_success = {.function = "done"}});
  auto trigger = fnhost::redis::StreamTrigger::start(host, {.server = server,
                                                            .stream = "jobs",
                                                            .group = "workers",
                                                            .consumer = name,
                                                            .function = "work",
                                                            .claim_idle = absl::Seconds(5),
                                                            .claim_interval = absl::Seconds(1),
                                                            .dead_letter_stream = "jobs-dead"});
  if (!registered.ok() || !trigger.ok()) {
    std::fprintf(stderr, "%s\n", trigger.status().ToString().c_str());
    return 1;
  }
  std::printf("worker %s ready\n", name.c_str());
  std::fflush(stdout);
  int signal = 0;
  sigwait(&stop_signals, &signal);
  (*trigger)->stop();  // stop reading; acknowledge what settles in time
  const fnhost::redis::StreamTriggerStats stats = (*trigger)->stats();
  host.shutdown(absl::Seconds(5));
  std::printf("%s: read %lld, acked %lld, reclaimed %lld, left pending %lld\n", name.c_str(),
              static_cast<long long>(stats.read), static_cast<long long>(stats.acked),
              static_cast<long long>(stats.reclaimed), static_cast<long long>(stats.left_pending));
  return 0;
}
