// Image pipeline: an upload event fans out to a thumbnail function and an index function. The
// thumbnail function cannot decode some images: it fails (retried, then dead-lettered); its
// failures are also published to a topic a notifier listens on. Then the fix is hot-swapped in
// and the dead letters are redriven. Prints what happened; exits non-zero if an event is lost.
// Expected output (timings vary):
//   uploaded 8 images
//   index:     8 succeeded
//   thumbnail: 6 succeeded, 2 dead-lettered after 3 attempts (6 attempts failed, 4 retries)
//   notifier:  2 failure records: cat-3.heic (attempts 3, "unsupported format: heic"), ...
//   dead letters: cat-3.heic: INTERNAL: unsupported format: heic ...
//   hot swap to version 2, redrive 2 dead letters
//   thumbnail: 8 succeeded, 0 dead letters left; every upload accounted for
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <fnhost/fnhost.hpp>

using fnhost::Context;
using fnhost::Event;
using fnhost::Result;

namespace {

// Waits until `done()` holds, for at most 30 s; false if it never did.
template <class Done>
bool wait_for(Done&& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

fnhost::FunctionStats stats(const fnhost::Host& host, const char* name) {
  return host.function_stats(name).value();
}

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Version 1 of the thumbnailer cannot read HEIC images; version 2 can.
fnhost::FunctionSpec thumbnail_spec(bool reads_heic) {
  return {.name = "thumbnail",
          .handler = [reads_heic](const Event& event, Context&) -> Result {
            if (!reads_heic && ends_with(event.subject, ".heic")) {
              return absl::InternalError("unsupported format: heic");  // retried: Internal
            }
            return "thumb-" + event.subject;
          },
          .retry = {.max_attempts = 3,
                    .initial_backoff = absl::Milliseconds(20),
                    .max_backoff = absl::Milliseconds(100)},
          .on_failure = {.topic = "thumbnails/failed"}};
}

}  // namespace

int main() {
  auto host = fnhost::Host::create({.log_sink = nullptr}).value();

  std::atomic<int> indexed{0};
  std::mutex notes_mu;
  std::vector<std::string> notes;
  if (!host.register_function({.name = "index",
                               .handler = [&indexed](const Event&, Context&) -> Result {
                                 indexed.fetch_add(1);
                                 return "indexed";
                               }})
           .ok() ||
      !host.register_function(thumbnail_spec(/*reads_heic=*/false)).ok() ||
      !host.register_function(
               {.name = "notifier",
                .handler = [&](const Event& event, Context&) -> Result {
                  absl::StatusOr<fnhost::DestinationRecord> record =
                      fnhost::read_destination_record(event);
                  if (!record.ok()) return record.status();
                  std::lock_guard lock(notes_mu);
                  notes.push_back(record->original.subject + " (attempts " +
                                  std::to_string(record->attempts) + ", \"" +
                                  std::string(record->error.message()) + "\")");
                  return "";
                }})
           .ok()) {
    std::fprintf(stderr, "registration failed\n");
    return 1;
  }
  // One upload event, two subscribers; failures of the thumbnailer go to the notifier.
  (void)host.subscribe({.pattern = "uploads/#", .function = "thumbnail"}).value();
  (void)host.subscribe({.pattern = "uploads/#", .function = "index"}).value();
  (void)host.subscribe({.pattern = "thumbnails/failed", .function = "notifier"}).value();

  const std::vector<std::string> images = {"cat-1.png", "cat-2.jpg", "cat-3.heic", "dog-1.png",
                                           "dog-2.png", "dog-3.heic", "owl.jpg",    "fox.png"};
  for (const std::string& image : images) {
    absl::Status published = host.publish({.id = image,
                                           .source = "uploader",
                                           .type = "image.uploaded",
                                           .subject = image,
                                           .topic = "uploads/eu/2026",
                                           .data = "<bytes of " + image + ">"});
    if (!published.ok()) {
      std::fprintf(stderr, "publish failed: %s\n", published.ToString().c_str());
      return 1;
    }
  }
  std::printf("uploaded %zu images\n", images.size());

  const bool settled = wait_for([&] {
    const fnhost::FunctionStats thumbs = stats(host, "thumbnail");
    std::lock_guard lock(notes_mu);
    return indexed.load() == 8 && thumbs.events_pending == 0 && notes.size() == 2;
  });
  if (!settled) {
    std::fprintf(stderr, "the pipeline did not settle\n");
    return 1;
  }
  fnhost::FunctionStats thumbs = stats(host, "thumbnail");
  std::printf("index:     %d succeeded\n", indexed.load());
  std::printf("thumbnail: %lld succeeded, %lld dead-lettered after 3 attempts (%lld attempts "
              "failed, %lld retries)\n",
              static_cast<long long>(thumbs.events_succeeded),
              static_cast<long long>(thumbs.events_dead_lettered),
              static_cast<long long>(thumbs.errors), static_cast<long long>(thumbs.retries));
  {
    std::lock_guard lock(notes_mu);
    std::printf("notifier:  %zu failure records:", notes.size());
    for (const std::string& note : notes) std::printf(" %s;", note.c_str());
    std::printf("\n");
  }
  std::printf("dead letters:");
  for (const fnhost::DeadLetter& letter : host.dead_letters("thumbnail")) {
    std::printf(" %s: %s;", letter.event.subject.c_str(), letter.error.ToString().c_str());
  }
  std::printf("\n");

  // Fix the handler without stopping anything, then send the failed uploads again.
  if (!host.update_function(thumbnail_spec(/*reads_heic=*/true)).ok()) return 1;
  const absl::StatusOr<int64_t> redriven = host.redrive_all("thumbnail");
  if (!redriven.ok()) {
    std::fprintf(stderr, "redrive failed: %s\n", redriven.status().ToString().c_str());
    return 1;
  }
  std::printf("hot swap to version %lld, redrive %lld dead letters\n",
              static_cast<long long>(stats(host, "thumbnail").version),
              static_cast<long long>(*redriven));
  if (!wait_for([&] { return stats(host, "thumbnail").events_pending == 0; })) return 1;

  thumbs = stats(host, "thumbnail");
  const bool accounted = thumbs.events_succeeded == 8 && host.dead_letter_count() == 0 &&
                         thumbs.events_accepted ==
                             thumbs.events_succeeded + thumbs.events_dead_lettered;
  std::printf("thumbnail: %lld succeeded, %lld dead letters left; %s\n",
              static_cast<long long>(thumbs.events_succeeded),
              static_cast<long long>(host.dead_letter_count()),
              accounted ? "every upload accounted for" : "SOMETHING WAS LOST");
  return accounted ? 0 : 1;
}
