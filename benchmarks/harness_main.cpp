// SPDX-License-Identifier: Apache-2.0
// File: benchmarks/harness_main.cpp
// fnhost_harness: the scenario benchmark of issue 3. Runs workloads W1..W9 and the memory rows
// (see workloads.cpp for what each measures and its target) on fnhost's AutoscalingExecutor,
// on Host::invoke_async, and on the peers (oneTBB arena/task_group, Boost.Asio thread_pool, a
// mutex + condition-variable pool, thread-per-task), with a raw moodycamel queue as the floor.
//
//   fnhost_harness [--smoke] [--reps N] [--pool N] [--wide-pool N] [--cores N]
//                  [--only W1,W4] [--systems fnhost,host,tbb_arena,...]
//                  [--fnhost-max-threads N] [--hint] [--timeout SECONDS]
//
// Each (system, workload, repetition) runs in a fresh child process (this binary re-executed
// with a hidden `--child SYSTEM WORKLOAD`), which prints one `key=value` result line. Each
// repetition is a pass over all workloads, and system order rotates between passes (A B C,
// B C A, ...), so drift on a noisy machine hits all alike. The parent prints the machine, then a markdown table: per system the median
// [min–max] over repetitions, and the ratio of fnhost (and of the host path) to the best peer.
// --smoke shrinks every workload about 100x and runs one repetition: it checks that every
// path works (every task ran, exactly once) and never judges a time. Exit code: 0 unless a
// measurement failed (lost or duplicated tasks, a hang, a crash, a refused submit).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "fnhost/version.hpp"
#include "harness_util.hpp"
#include "report.hpp"
#include "systems.hpp"
#include "workloads.hpp"

#ifdef FNHOST_BENCH_HAVE_TBB
#include <oneapi/tbb/version.h>
#endif
#ifdef FNHOST_BENCH_HAVE_ASIO
#include <boost/version.hpp>
#endif

namespace fnhost::bench {
namespace {

struct Options {
  Params params;
  int reps = 5;
  bool reps_given = false;
  int pool = 0;  // 0: the CPU count after --cores
  int wide_pool = 64;
  int cores = 0;  // 0: every CPU this process may use
  std::vector<std::string> only;
  std::vector<std::string> systems;
  std::string child_system;
  std::string child_workload;
};

std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> out;
  std::string item;
  for (char c : text) {
    if (c == ',') {
      if (!item.empty()) out.push_back(item);
      item.clear();
    } else {
      item.push_back(c);
    }
  }
  if (!item.empty()) out.push_back(item);
  return out;
}

void usage(std::FILE* out) {
  std::fprintf(out,
               "usage: fnhost_harness [--smoke] [--reps N] [--pool N] [--wide-pool N] "
               "[--cores N]\n"
               "                      [--only W1,W4,...] [--systems fnhost,host,...]\n"
               "                      [--fnhost-max-threads N] [--hint] [--timeout SECONDS]\n"
               "  --smoke               ~1/100 sizes, 1 repetition; checks, never judges time\n"
               "  --reps N              repetitions per (system, workload), default 5\n"
               "  --pool N              threads of fixed pools, default the CPU count\n"
               "  --wide-pool N         threads of fixed pools in W4w/W5w, default 64\n"
               "  --cores N             run on the first N CPUs only (children inherit it)\n"
               "  --only LIST           workloads: W1..W9, W4w, W5w, M1, M2\n"
               "  --systems LIST        fnhost, host, tbb_arena, tbb_group, asio, mutex_pool,\n"
               "                        thread_per_task, raw_queue\n"
               "  --fnhost-max-threads N  ExecutorOptions::max_threads for fnhost and host\n"
               "  --hint                tasks that sleep do it inside fnhost::BlockingScope\n"
               "  --timeout S           a measurement fails if its tasks take longer (default "
               "120, smoke 20)\n");
}

bool parse_int(const char* text, int* out) {
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (end == text || *end != '\0') return false;
  *out = static_cast<int>(value);
  return true;
}

bool parse_options(int argc, char** argv, Options* options) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto next = [&](const char** value) {
      if (i + 1 >= argc) return false;
      *value = argv[++i];
      return true;
    };
    const char* value = nullptr;
    if (arg == "--smoke") {
      options->params.smoke = true;
    } else if (arg == "--hint") {
      options->params.blocking_hint = true;
    } else if (arg == "--help" || arg == "-h") {
      usage(stdout);
      std::exit(0);
    } else if (arg == "--child") {
      if (i + 2 >= argc) return false;
      options->child_system = argv[++i];
      options->child_workload = argv[++i];
    } else if (arg == "--reps") {
      if (!next(&value) || !parse_int(value, &options->reps) || options->reps < 1) return false;
      options->reps_given = true;
    } else if (arg == "--pool") {
      if (!next(&value) || !parse_int(value, &options->pool) || options->pool < 1) return false;
    } else if (arg == "--wide-pool") {
      if (!next(&value) || !parse_int(value, &options->wide_pool) || options->wide_pool < 1) {
        return false;
      }
    } else if (arg == "--cores") {
      if (!next(&value) || !parse_int(value, &options->cores) || options->cores < 1) return false;
    } else if (arg == "--fnhost-max-threads") {
      if (!next(&value) || !parse_int(value, &options->params.fnhost_max_threads)) return false;
    } else if (arg == "--only") {
      if (!next(&value)) return false;
      options->only = split_list(value);
    } else if (arg == "--systems") {
      if (!next(&value)) return false;
      options->systems = split_list(value);
    } else if (arg == "--timeout") {
      if (!next(&value)) return false;
      options->params.timeout_s = std::strtod(value, nullptr);
      if (options->params.timeout_s <= 0) return false;
    } else if (arg == "--spin-per-us") {  // parent -> child
      if (!next(&value)) return false;
      options->params.spin_per_us = std::strtod(value, nullptr);
    } else {
      std::fprintf(stderr, "fnhost_harness: unknown argument '%s'\n", argv[i]);
      return false;
    }
  }
  return true;
}

// ---- child -------------------------------------------------------------------------------------
int run_child(const Options& options) {
  Params params = options.params;
  params.pool = options.pool > 0 ? options.pool : allowed_cpus();
  const Measurement m = run_measurement(options.child_system, options.child_workload, params);
  std::string line = m.ok ? "status=ok" : "status=fail reason=" + m.error;
  char buffer[128];
  std::snprintf(buffer, sizeof(buffer), " tasks=%lld expected=%lld rejected=%lld",
                static_cast<long long>(m.tasks), static_cast<long long>(m.expected),
                static_cast<long long>(m.rejected));
  line += buffer;
  for (const auto& [key, value] : m.values) {
    std::snprintf(buffer, sizeof(buffer), " %s=%.9g", key.c_str(), value);
    line += buffer;
  }
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
  return m.ok ? 0 : 1;
}

// ---- parent ------------------------------------------------------------------------------------
std::string self_path() {
  char buffer[4096];
  const ssize_t n = readlink("/proc/self/exe", buffer, sizeof(buffer) - 1);
  if (n <= 0) return "/proc/self/exe";
  buffer[n] = '\0';
  return buffer;
}

// Runs one child and returns its parsed result. The child is killed (SIGKILL, by its pid) if it
// outlives `kill_after_s`.
ChildResult spawn_child(const std::string& exe, const std::vector<std::string>& args,
                        double kill_after_s) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return {false, "pipe failed", {}};
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return {false, "fork failed", {}};
  }
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(exe.c_str()));
    for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    execv(exe.c_str(), argv.data());
    _exit(127);
  }
  close(fds[1]);
  std::string output;
  const int64_t deadline = now_ns() + static_cast<int64_t>(kill_after_s * 1e9);
  bool killed = false;
  for (;;) {
    const int64_t left_ms = (deadline - now_ns()) / 1'000'000;
    if (left_ms <= 0) {
      kill(pid, SIGKILL);
      killed = true;
      break;
    }
    pollfd pfd{fds[0], POLLIN, 0};
    const int ready = poll(&pfd, 1, static_cast<int>(std::min<int64_t>(left_ms, 1000)));
    if (ready < 0 && errno != EINTR) break;
    if (ready <= 0) continue;
    char buffer[4096];
    const ssize_t n = read(fds[0], buffer, sizeof(buffer));
    if (n <= 0) break;
    output.append(buffer, static_cast<std::size_t>(n));
  }
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);

  std::string line;
  std::istringstream lines(output);
  for (std::string candidate; std::getline(lines, candidate);) {
    if (candidate.rfind("status=", 0) == 0) line = candidate;
  }
  ChildResult result = parse_result_line(line);
  if (killed) {
    result.ok = false;
    char buffer[64];
    std::snprintf(buffer, sizeof(buffer), "killed after %.0f s (hang)", kill_after_s);
    result.error = buffer;
  } else if (WIFSIGNALED(status)) {
    result.ok = false;
    result.error = std::string("crashed: ") + strsignal(WTERMSIG(status));
  } else if (result.ok && (!WIFEXITED(status) || WEXITSTATUS(status) != 0)) {
    result.ok = false;
    result.error = "exit status " + std::to_string(WEXITSTATUS(status));
  }
  return result;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(colon + 2);
    }
  }
  return "unknown";
}

std::string first_line(const char* path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

void print_machine(const Options& options, int cpus) {
  utsname name{};
  uname(&name);
  std::printf("## fnhost_harness%s\n\n", options.params.smoke ? " --smoke" : "");
  std::printf("- machine: nproc %ld, using %d CPU(s), %s; kernel %s %s; load average %s\n",
              sysconf(_SC_NPROCESSORS_ONLN), cpus, cpu_model().c_str(), name.sysname, name.release,
              first_line("/proc/loadavg").c_str());
  std::printf("- build: fnhost %s, compiler %s%s", kVersion, __VERSION__,
#ifdef NDEBUG
              ""
#else
              ", ASSERTIONS ON (not a Release build)"
#endif
  );
#ifdef FNHOST_BENCH_HAVE_TBB
  std::printf(", oneTBB %d.%d", TBB_VERSION_MAJOR, TBB_VERSION_MINOR);
#endif
#ifdef FNHOST_BENCH_HAVE_ASIO
  std::printf(", Boost %d.%d", BOOST_VERSION / 100000, BOOST_VERSION / 100 % 1000);
#endif
  std::printf(
      "\n- settings: fixed pools %d threads (W4w/W5w: %d), %d repetition(s), fnhost "
      "defaults%s%s; arithmetic %.0f iterations/µs\n",
      options.pool, options.wide_pool, options.reps,
      options.params.fnhost_max_threads > 0
          ? (", max_threads " + std::to_string(options.params.fnhost_max_threads)).c_str()
          : "",
      options.params.blocking_hint ? ", sleeps inside BlockingScope" : "",
      options.params.spin_per_us);
  if (options.params.smoke) {
    std::printf(
        "- SMOKE RUN: sizes shrunk ~100x, one repetition; the numbers are not "
        "measurements\n");
  }
  std::printf(
      "- cells: median [min–max] over repetitions, each in a fresh process; ↑ higher is "
      "better, ↓ lower is better; ratio = fnhost median ÷ best peer median (peers: "
      "tbb_arena, tbb_group, asio, mutex_pool, thread_per_task; raw_queue is the "
      "hand-off floor, not a peer)\n\n");
}

int run_parent(Options options) {
  if (options.cores > 0 && !restrict_to_cpus(options.cores)) {
    std::fprintf(stderr, "fnhost_harness: cannot restrict to %d CPUs (have %d)\n", options.cores,
                 allowed_cpus());
    return 2;
  }
  const int cpus = allowed_cpus();
  if (options.pool == 0) options.pool = cpus;
  if (options.params.smoke && !options.reps_given) options.reps = 1;
  if (options.params.smoke && options.params.timeout_s == 120) options.params.timeout_s = 20;
  options.params.spin_per_us = calibrate_spin_per_us();

  // Systems: requested (or all), in column order; ones not compiled in get a skip message.
  std::vector<std::string> columns;
  std::map<std::string, std::string> skipped;
  for (const std::string& system : all_system_names()) {
    if (!options.systems.empty() && std::find(options.systems.begin(), options.systems.end(),
                                              system) == options.systems.end()) {
      continue;
    }
    columns.push_back(system);
    std::string why;
    if (!system_available(system, &why)) skipped[system] = why;
  }
  for (const std::string& system : options.systems) {
    if (std::find(columns.begin(), columns.end(), system) == columns.end()) {
      std::fprintf(stderr, "fnhost_harness: unknown system '%s'\n", system.c_str());
      return 2;
    }
  }
  std::vector<WorkloadDef> workloads;
  for (const WorkloadDef& workload : workload_defs()) {
    if (!options.only.empty() &&
        std::find(options.only.begin(), options.only.end(), workload.id) == options.only.end()) {
      continue;
    }
    workloads.push_back(workload);
  }
  for (const std::string& id : options.only) {
    const bool known = std::any_of(workload_defs().begin(), workload_defs().end(),
                                   [&](const WorkloadDef& w) { return w.id == id; });
    if (!known) {
      std::fprintf(stderr, "fnhost_harness: unknown workload '%s'\n", id.c_str());
      return 2;
    }
  }

  print_machine(options, cpus);
  for (const auto& [system, why] : skipped) std::printf("- %s: %s\n", system.c_str(), why.c_str());
  if (!skipped.empty()) std::printf("\n");

  const std::string exe = self_path();
  const double kill_after_s = options.params.timeout_s * 2 + 30;
  Results results;
  // Per workload, the systems that run it.
  std::vector<std::vector<std::string>> systems_of(workloads.size());
  for (std::size_t w = 0; w < workloads.size(); ++w) {
    for (const std::string& system : columns) {
      if (skipped.count(system) == 0 &&
          std::find(workloads[w].systems.begin(), workloads[w].systems.end(), system) !=
              workloads[w].systems.end()) {
        systems_of[w].push_back(system);
      }
    }
  }
  // Repetitions are the outer loop: each pass runs every workload once, so a slow spell of
  // the machine (a noisy neighbour on a VM) spoils one repetition of several workloads rather
  // than every repetition of one; within a pass the order of systems rotates.
  for (int rep = 0; rep < options.reps; ++rep) {
    for (std::size_t w = 0; w < workloads.size(); ++w) {
      const WorkloadDef& workload = workloads[w];
      const std::vector<std::string>& systems = systems_of[w];
      if (systems.empty()) continue;
      const int pool = workload.single_pool ? 1
                       : workload.wide_pool ? options.wide_pool
                                            : options.pool;
      for (std::size_t k = 0; k < systems.size(); ++k) {
        const std::string& system = systems[(k + static_cast<std::size_t>(rep)) % systems.size()];
        std::vector<std::string> args = {"--child",
                                         system,
                                         workload.kind,
                                         "--pool",
                                         std::to_string(pool),
                                         "--spin-per-us",
                                         std::to_string(options.params.spin_per_us),
                                         "--timeout",
                                         std::to_string(options.params.timeout_s)};
        if (options.params.smoke) args.push_back("--smoke");
        if (options.params.blocking_hint) args.push_back("--hint");
        if (options.params.fnhost_max_threads > 0) {
          args.push_back("--fnhost-max-threads");
          args.push_back(std::to_string(options.params.fnhost_max_threads));
        }
        const int64_t started = now_ns();
        ChildResult result = spawn_child(exe, args, kill_after_s);
        std::fprintf(stderr, "[%s rep %d/%d] %-15s %5.2f s  %s", workload.id.c_str(), rep + 1,
                     options.reps, system.c_str(), static_cast<double>(now_ns() - started) / 1e9,
                     result.ok ? "ok" : ("FAIL " + result.error).c_str());
        for (const MetricDef& metric : workload.metrics) {
          const auto it = result.values.find(metric.key);
          if (it != result.values.end()) {
            std::fprintf(stderr, "  %s=%.4g", metric.key.c_str(), it->second);
          }
        }
        std::fprintf(stderr, "\n");
        results.add(workload.id, system, std::move(result));
      }
    }
  }

  std::printf("%s\n", render_table(workloads, results, columns, skipped).c_str());
  const std::string diagnostics = render_diagnostics(workloads, results, columns);
  if (!diagnostics.empty()) {
    std::printf(
        "Extra values, medians (fnhost/host: ExecutorStats at the end of the measurement; "
        "post_ns: producer ns per post in W1; queued: tasks queued in M2):\n\n%s\n",
        diagnostics.c_str());
  }
  const std::vector<std::string> failures = results.failures();
  for (const std::string& failure : failures) std::printf("FAILED: %s\n", failure.c_str());
  if (!failures.empty()) {
    std::printf("\n%zu measurement(s) failed\n", failures.size());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace fnhost::bench

int main(int argc, char** argv) {
  fnhost::bench::Options options;
  if (!fnhost::bench::parse_options(argc, argv, &options)) {
    fnhost::bench::usage(stderr);
    return 2;
  }
  if (!options.child_system.empty()) return fnhost::bench::run_child(options);
  return fnhost::bench::run_parent(std::move(options));
}
