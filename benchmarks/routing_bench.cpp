// SPDX-License-Identifier: Apache-2.0
// File: benchmarks/routing_bench.cpp
// fnhost_routing_bench: the cost of TopicTrie::match, which the event router runs on every
// publish. For tries of 10, 1,000 and 10,000 patterns it times 200,000 single matches of random
// 3-4 level topics (half of them match some pattern) and prints the median and p99 per match,
// the mean of an untimed loop over the same topics (copying each from a cold array: an upper
// bound), and for comparison the mean of a linear scan over every pattern with topic_matches.
//
// Target: median <= 300 ns at 10,000 patterns, and no growth in proportion to the pattern count.
//
// A plain program rather than Google Benchmark, which reports means of batches: the router
// cares about the distribution of single matches. Each match is timed with steady_clock; the
// median cost of reading the clock twice is measured first and subtracted.
//
//   cmake --preset bench && cmake --build --preset bench --target fnhost_routing_bench
//   build/bench/benchmarks/fnhost_routing_bench
//
// The pattern mix, over topics <site>/<device>/<metric>[/raw] (50 sites, 2,000 devices, 8
// metrics): 70% exact 3 levels, 10% exact 4 levels, 8% <site>/+/<metric>, 6% +/<device>/#,
// 4% <site>/<device>/#, 2% <site>/#.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "routing/topic.hpp"

namespace {

using fnhost::detail::topic_matches;
using fnhost::detail::TopicTrie;
using Clock = std::chrono::steady_clock;

constexpr int kSites = 50;
constexpr int kDevices = 2'000;
constexpr std::string_view kMetrics[] = {"temp",  "humidity", "battery", "status",
                                         "power", "voltage",  "rssi",    "uptime"};
constexpr int kMatches = 200'000;
constexpr int kScanTopics = 2'000;

int uniform(std::mt19937_64& random, int below) {
  return std::uniform_int_distribution<int>(0, below - 1)(random);
}

std::string site(std::mt19937_64& random) {
  return "site" + std::to_string(uniform(random, kSites));
}
std::string device(std::mt19937_64& random) {
  return "dev" + std::to_string(10'000 + uniform(random, kDevices));
}
std::string metric(std::mt19937_64& random) { return std::string(kMetrics[uniform(random, 8)]); }

std::string make_pattern(std::mt19937_64& random) {
  const int kind = uniform(random, 100);
  if (kind < 70) return site(random) + "/" + device(random) + "/" + metric(random);
  if (kind < 80) return site(random) + "/" + device(random) + "/" + metric(random) + "/raw";
  if (kind < 88) return site(random) + "/+/" + metric(random);
  if (kind < 94) return "+/" + device(random) + "/#";
  if (kind < 98) return site(random) + "/" + device(random) + "/#";
  return site(random) + "/#";
}

// A topic `pattern` matches: '+' becomes a level of its position's kind, '#' 1..2 levels (at
// the end of a 2 or 3 level prefix: a metric, then maybe "raw").
std::string instantiate(std::string_view pattern, std::mt19937_64& random) {
  std::string topic;
  int position = 0;
  for (std::string_view rest = pattern; !rest.empty(); ++position) {
    const size_t slash = rest.find('/');
    const std::string_view level = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    if (!topic.empty()) topic += '/';
    if (level == "#") {
      if (position == 1) topic += device(random) + "/";
      topic += metric(random);
      if (uniform(random, 4) == 0) topic += "/raw";
    } else if (level == "+") {
      topic += position == 0 ? site(random) : position == 1 ? device(random) : metric(random);
    } else {
      topic += level;
    }
  }
  return topic;
}

// A topic no pattern of the mix matches: its site and device levels are of other names.
std::string unmatched_topic(std::mt19937_64& random) {
  std::string topic = "zone" + std::to_string(uniform(random, kSites)) + "/unit" +
                      std::to_string(uniform(random, kDevices)) + "/" + metric(random);
  if (uniform(random, 4) == 0) topic += "/raw";
  return topic;
}

std::string cpu_model() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(colon + 2);
    }
  }
  return "unknown";
}

std::string load_average() {
  std::ifstream loadavg("/proc/loadavg");
  std::string one, five;
  loadavg >> one >> five;
  return one + " " + five;
}

double nanoseconds(Clock::duration duration) {
  return static_cast<double>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(duration).count());
}

// The median cost of two back-to-back clock reads: what a timed match includes besides it.
double clock_overhead() {
  std::vector<double> samples(100'000);
  for (double& sample : samples) {
    const auto start = Clock::now();
    sample = nanoseconds(Clock::now() - start);
  }
  std::nth_element(samples.begin(), samples.begin() + 50'000, samples.end());
  return samples[50'000];
}

void run(int pattern_count, double overhead, uint64_t& sink) {
  std::mt19937_64 random(static_cast<uint64_t>(pattern_count));
  std::vector<std::string> patterns;
  TopicTrie trie;
  for (int i = 0; i < pattern_count; ++i) {
    patterns.push_back(make_pattern(random));
    trie.insert(patterns.back(), static_cast<uint64_t>(i));
  }
  std::vector<std::string> topics;
  topics.reserve(kMatches);
  for (int i = 0; i < kMatches; ++i) {
    topics.push_back(i % 2 == 0 ? instantiate(patterns[random() % patterns.size()], random)
                                : unmatched_topic(random));
  }
  std::shuffle(topics.begin(), topics.end(), random);

  std::vector<uint64_t> ids;
  uint64_t found = 0;
  for (const std::string& topic : topics) {  // warm-up, and the ids per match
    ids.clear();
    trie.match(topic, ids);
    found += ids.size();
  }

  // The router matches the topic of the event it is publishing, whose bytes it has just read:
  // each topic is copied into one buffer first, so that the timing does not include fetching
  // it from a 200,000-topic array.
  std::string topic;
  std::vector<double> samples(topics.size());
  for (size_t i = 0; i < topics.size(); ++i) {
    topic.assign(topics[i]);
    ids.clear();
    const auto start = Clock::now();
    trie.match(topic, ids);
    samples[i] = std::max(0.0, nanoseconds(Clock::now() - start) - overhead);
    sink += ids.size();
  }
  std::sort(samples.begin(), samples.end());
  const double median = samples[samples.size() / 2];
  const double p99 = samples[samples.size() * 99 / 100];

  // The same without clock reads, as a mean; it includes the copies, and so the cache misses of
  // reading each topic from the array: an upper bound.
  const auto loop_start = Clock::now();
  for (const std::string& next : topics) {
    topic.assign(next);
    ids.clear();
    trie.match(topic, ids);
    sink += ids.size();
  }
  const double loop_mean = nanoseconds(Clock::now() - loop_start) / static_cast<double>(kMatches);

  const auto scan_start = Clock::now();
  for (int i = 0; i < kScanTopics; ++i) {
    for (size_t p = 0; p < patterns.size(); ++p) {
      if (topic_matches(patterns[p], topics[static_cast<size_t>(i)])) sink += p;
    }
  }
  const double scan_mean = nanoseconds(Clock::now() - scan_start) / kScanTopics;

  std::printf("| %8d | %6zu | %9.2f | %10.0f | %7.0f | %14.0f | %16.0f |\n", pattern_count,
              trie.node_count(), static_cast<double>(found) / kMatches, median, p99, loop_mean,
              scan_mean);
}

}  // namespace

int main() {
  const double overhead = clock_overhead();
  std::printf("CPU: %s\n", cpu_model().c_str());
  std::printf("load average (1, 5 min) at start: %s\n", load_average().c_str());
  std::printf(
      "TopicTrie::match, %d random topics per row (half match), 3-4 levels; clock "
      "overhead %.0f ns subtracted\n\n",
      kMatches, overhead);
  std::printf(
      "| patterns |  nodes | ids/match | median ns  | p99 ns  | mean ns (loop) | linear scan ns   "
      "|\n");
  std::printf(
      "|---------:|-------:|----------:|-----------:|--------:|---------------:|-----------------:|"
      "\n");
  uint64_t sink = 0;
  for (const int pattern_count : {10, 1'000, 10'000}) run(pattern_count, overhead, sink);
  std::printf("\n(checksum %llu)\n", static_cast<unsigned long long>(sink));
  return 0;
}
