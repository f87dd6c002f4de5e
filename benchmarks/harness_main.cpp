// SPDX-License-Identifier: Apache-2.0
// File: benchmarks/harness_main.cpp
// fnhost_harness: the scenario benchmark of issue 3. Runs workloads W1..W11 and the memory rows
// (see workloads.cpp for what each measures and its target) on fnhost's AutoscalingExecutor,
// on Host::invoke_async, and on the peers (oneTBB arena/task_group, Boost.Asio thread_pool, a
// mutex + condition-variable pool, thread-per-task), with a raw moodycamel queue as the floor.
//
//   fnhost_harness [--smoke] [--reps N] [--pool N] [--wide-pool N] [--cores N]
//                  [--only W1,W4] [--systems fnhost,host,tbb_arena,...]
//                  [--payload BYTES,...] [--fnhost-max-threads N] [--hint] [--timeout SECONDS]
//
// Each (system, workload, payload size, repetition) runs in a fresh child process (this binary
// re-executed with a hidden `--child SYSTEM WORKLOAD` and the settings, `--payload BYTES` among
// them), which prints one `key=value` result line. Each repetition is a pass over all
// workloads, and system order rotates between passes (A B C, B C A, ...), so drift on a noisy
// machine hits all alike. The parent prints the machine (CPU, online and usable CPUs, caches,
// kernel, cgroup CPU quota, fnhost's cpu_count, the cache-line round trip between two CPUs),
// then a markdown table: per system the median [min–max] over repetitions, and the ratio of
// fnhost (and of the host path) to the best peer;
// payload-sized workloads (W1, W2, W7, W10, W11) get one block of rows per --payload size. W11
// (the host with observability off and on, in one process) follows in a table of its own.
// --smoke shrinks every workload about 100x and runs one repetition: it checks that every
// path works (every task ran, exactly once) and never judges a time. Exit code: 0 unless a
// measurement failed (lost or duplicated tasks, a hang, a crash, a refused submit).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
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
#include <utility>
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
  std::vector<int64_t> payloads;  // --payload sizes, in order; empty: Params::payload
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
               "                      [--payload BYTES,...] [--fnhost-max-threads N] [--hint]\n"
               "                      [--timeout SECONDS]\n"
               "  --smoke               ~1/100 sizes, 1 repetition; checks, never judges time\n"
               "  --reps N              repetitions per (system, workload), default 5\n"
               "  --pool N              threads of fixed pools, default the CPU count\n"
               "  --wide-pool N         threads of fixed pools in W4w/W5w, default 64\n"
               "  --cores N             run on the first N CPUs only (children inherit it)\n"
               "  --only LIST           workloads: W1..W11, W4w, W5w, M1, M2 (W11: the host's\n"
               "                        invocations/s with observability off and on)\n"
               "  --systems LIST        fnhost, host, tbb_arena, tbb_group, asio, mutex_pool,\n"
               "                        thread_per_task, raw_queue\n"
               "  --payload LIST        bytes of data each task carries in W1, W2, W7, W10 and\n"
               "                        W11 (0..1048576, e.g. 0,16,256,4096), one block of rows\n"
               "                        per size; default 16\n"
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
    } else if (arg == "--payload") {
      if (!next(&value)) return false;
      options->payloads.clear();
      for (const std::string& item : split_list(value)) {
        char* end = nullptr;
        const long long bytes = std::strtoll(item.c_str(), &end, 10);
        if (end == item.c_str() || *end != '\0' || bytes < 0 || bytes > kMaxPayloadBytes) {
          std::fprintf(stderr, "fnhost_harness: --payload: '%s' is not 0..%lld bytes\n",
                       item.c_str(), static_cast<long long>(kMaxPayloadBytes));
          return false;
        }
        // A size given twice would file two runs under one row.
        if (std::find(options->payloads.begin(), options->payloads.end(), bytes) ==
            options->payloads.end()) {
          options->payloads.push_back(bytes);
        }
      }
      if (options->payloads.empty()) return false;
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

// The round trip each child measures before its measurement (an extra value: "x_" prefix).
constexpr const char* kRoundTripKey = "x_round_trip_ns";

// ---- child -------------------------------------------------------------------------------------
int run_child(const Options& options) {
  Params params = options.params;
  params.pool = options.pool > 0 ? options.pool : allowed_cpus();
  if (!options.payloads.empty()) params.payload = options.payloads.front();
  // The VM's regime can change between measurements (and within one): each says what it ran
  // under, measured just before it (before W10 starts its burners).
  const double round_trip = cpu_round_trip_ns();
  Measurement m = run_measurement(options.child_system, options.child_workload, params);
  if (round_trip > 0) m.values.emplace_back(kRoundTripKey, round_trip);
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
// outlives `kill_after_s`, and by the kernel if this process dies (so are the CPU burners W10's
// child starts: each dies with its own parent).
ChildResult spawn_child(const std::string& exe, const std::vector<std::string>& args,
                        double kill_after_s) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return {false, "pipe failed", {}};
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t harness = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return {false, "fork failed", {}};
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != harness) _exit(127);  // the harness died before prctl() took effect
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

std::string first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

// Data and unified caches of CPU 0 ("L1d 32K, L2 1024K, L3 32768K"), from sysfs.
std::string cache_sizes() {
  std::string out;
  for (int index = 0; index < 16; ++index) {
    const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(index);
    const std::string level = first_line(dir + "/level");
    const std::string type = first_line(dir + "/type");
    const std::string size = first_line(dir + "/size");
    if (level.empty()) break;
    if (type == "Instruction") continue;
    if (!out.empty()) out += ", ";
    out += "L" + level + (type == "Data" ? "d" : "") + " " + size;
  }
  if (!out.empty()) return out;
  // Some virtual machines' kernels publish no cache directory: ask glibc, which reads CPUID
  // (in a VM, what the hypervisor reports).
  const std::pair<const char*, int> levels[] = {{"L1d", _SC_LEVEL1_DCACHE_SIZE},
                                                {"L2", _SC_LEVEL2_CACHE_SIZE},
                                                {"L3", _SC_LEVEL3_CACHE_SIZE}};
  for (const auto& [name, key] : levels) {
    const long bytes = sysconf(key);
    if (bytes <= 0) continue;
    if (!out.empty()) out += ", ";
    out += std::string(name) + " " + std::to_string(bytes / 1024) + "K";
  }
  return out.empty() ? "unknown" : out + " (CPUID via sysconf; no sysfs cache directory)";
}

// The cgroup CPU quota over this process: cgroup v2 `cpu.max` of its cgroup and each ancestor
// (fnhost detects the same), else cgroup v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`.
std::string cgroup_cpu_quota() {
  std::ifstream self("/proc/self/cgroup");
  std::string v2_path;
  std::string v1_path;
  for (std::string line; std::getline(self, line);) {
    // hierarchy-ID:controllers:path
    const auto first = line.find(':');
    const auto second = line.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos) continue;
    const std::string controllers = "," + line.substr(first + 1, second - first - 1) + ",";
    const std::string path = line.substr(second + 1);
    if (line.rfind("0::", 0) == 0) v2_path = path;
    if (controllers.find(",cpu,") != std::string::npos) v1_path = path;
  }
  std::string found;
  if (!v2_path.empty()) {
    for (std::string dir = v2_path;;) {
      const std::string file = "/sys/fs/cgroup" + (dir == "/" ? "" : dir) + "/cpu.max";
      const std::string cpu_max = first_line(file);
      if (!cpu_max.empty()) found += (found.empty() ? "" : ", ") + file + " \"" + cpu_max + "\"";
      if (dir.empty() || dir == "/") break;
      const auto slash = dir.find_last_of('/');
      dir = slash == 0 || slash == std::string::npos ? "/" : dir.substr(0, slash);
    }
  }
  if (!found.empty()) return "cgroup v2 " + found + " (\"max\": no quota)";
  if (!v1_path.empty()) {
    for (const char* mount : {"/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"}) {
      const std::string dir = mount + (v1_path == "/" ? "" : v1_path);
      const std::string quota = first_line(dir + "/cpu.cfs_quota_us");
      if (quota.empty()) continue;
      return "no cpu.max; cgroup v1 cpu.cfs_quota_us " + quota + " per cpu.cfs_period_us " +
             first_line(dir + "/cpu.cfs_period_us") + " (-1: no quota)";
    }
  }
  return "none found (no cgroup v2 cpu.max, no cgroup v1 cpu controller)";
}

// The CPU count fnhost's executor detects with default options (affinity, cgroup v2 quota).
int fnhost_cpu_count() {
  auto executor = AutoscalingExecutor::create();
  if (!executor.ok()) return -1;
  const int cpus = (*executor)->options().cpu_count;
  (void)(*executor)->shutdown();
  return cpus;
}

void print_machine(const Options& options, int cpus) {
  utsname name{};
  uname(&name);
  std::printf("## fnhost_harness%s\n\n", options.params.smoke ? " --smoke" : "");
  std::printf(
      "- CPU: %s; nproc %ld online, %d usable by this process (sched_getaffinity%s); "
      "fnhost cpu_count %d\n",
      cpu_model().c_str(), sysconf(_SC_NPROCESSORS_ONLN), cpus,
      options.cores > 0 ? ", after --cores" : "", fnhost_cpu_count());
  std::printf("- caches (cpu0): %s\n", cache_sizes().c_str());
  std::printf("- kernel: %s %s; CPU quota: %s\n", name.sysname, name.release,
              cgroup_cpu_quota().c_str());
  const double round_trip = cpu_round_trip_ns();
  if (round_trip > 0) {
    std::printf("- cache-line round trip between the first two CPUs: %.0f ns\n", round_trip);
  }
  std::printf("- load average: %s\n", first_line("/proc/loadavg").c_str());
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
  std::string sizes;
  std::string capped;
  for (const int64_t bytes : options.payloads) {
    sizes += (sizes.empty() ? "" : ", ") + std::to_string(bytes);
    const int64_t base = options.params.smoke ? 20'000 : 2'000'000;
    const int64_t tasks = payload_tasks(base, bytes);
    if (tasks < base) {
      capped += "; at " + std::to_string(bytes) + " B, W1 and W2 run " + std::to_string(tasks) +
                " tasks and W7 " + std::to_string(tasks / 8) + " events";
    }
    const int64_t observed = options.params.smoke ? 20'000 : kW11Invocations;
    if (payload_tasks(observed, bytes) < observed) {
      capped += "; at " + std::to_string(bytes) + " B, W11 runs " +
                std::to_string(payload_tasks(observed, bytes) / 2 * 2) +
                " invocations per configuration";
    }
  }
  std::printf(
      "- payload: %s bytes per task in W1, W2, W7, W10's W1 part and W11 (the producer builds a "
      "std::string per task, host: Event::with_data() per event; the task checks its size and "
      "first byte)%s\n",
      sizes.c_str(), capped.c_str());
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
  if (options.payloads.empty()) options.payloads = {options.params.payload};
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
  // Workloads in table order; a payload-sized one once per payload size.
  std::vector<WorkloadDef> workloads;
  for (const WorkloadDef& workload : workload_defs()) {
    if (!options.only.empty() &&
        std::find(options.only.begin(), options.only.end(), workload.id) == options.only.end()) {
      continue;
    }
    if (!workload.carries_payload) {
      workloads.push_back(workload);
      continue;
    }
    for (const int64_t bytes : options.payloads) {
      workloads.push_back(workload);
      workloads.back().payload = bytes;
    }
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
        if (workload.payload >= 0) {
          args.push_back("--payload");
          args.push_back(std::to_string(workload.payload));
        }
        if (options.params.smoke) args.push_back("--smoke");
        if (options.params.blocking_hint) args.push_back("--hint");
        if (options.params.fnhost_max_threads > 0) {
          args.push_back("--fnhost-max-threads");
          args.push_back(std::to_string(options.params.fnhost_max_threads));
        }
        const int64_t started = now_ns();
        ChildResult result = spawn_child(exe, args, kill_after_s);
        std::fprintf(stderr, "[%s rep %d/%d] %-15s %5.2f s  %s", workload.key().c_str(), rep + 1,
                     options.reps, system.c_str(), static_cast<double>(now_ns() - started) / 1e9,
                     result.ok ? "ok" : ("FAIL " + result.error).c_str());
        for (const MetricDef& metric : workload.metrics) {
          const auto it = result.values.find(metric.key);
          if (it != result.values.end()) {
            std::fprintf(stderr, "  %s=%.4g", metric.key.c_str(), it->second);
          }
        }
        if (const auto it = result.values.find(kRoundTripKey); it != result.values.end()) {
          std::fprintf(stderr, "  round_trip_ns=%.0f", it->second);
        }
        std::fprintf(stderr, "\n");
        results.add(workload.key(), system, std::move(result));
      }
    }
  }

  if (std::any_of(workloads.begin(), workloads.end(),
                  [](const WorkloadDef& workload) { return !workload.own_table; })) {
    std::printf("%s\n", render_table(workloads, results, columns, skipped).c_str());
  }
  const std::string observability = render_observability_table(workloads, results);
  if (!observability.empty()) std::printf("%s\n", observability.c_str());
  const std::string diagnostics = render_diagnostics(workloads, results, columns);
  if (!diagnostics.empty()) {
    std::printf(
        "Extra values, medians (fnhost/host: ExecutorStats at the end of the measurement, "
        "peak_running its computing workers; post_ns: producer ns per post in W1; queued: "
        "tasks queued in M2; W10: w1_/w5_ its parts, burners the spinning processes; "
        "round_trip_ns: the cache-line round trip just before each measurement):\n\n%s\n",
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
