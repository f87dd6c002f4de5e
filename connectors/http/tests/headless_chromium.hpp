// SPDX-License-Identifier: Apache-2.0
// Runs Debian's chromium headless on one URL, bounded in time: the DOM it ends with (after
// `--virtual-time-budget` of page time, during which the page's timers and fetches run) and,
// optionally, a screenshot. The browser runs in its own process group with a fresh profile in a
// temporary directory; past the timeout the whole group is killed.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "testing/temporary_directory.hpp"

extern char** environ;

namespace fnhost::http::testing {

// The first of `chromium` and `chromium-browser` found on PATH.
inline std::optional<std::filesystem::path> find_chromium() {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return std::nullopt;
  for (const char* name : {"chromium", "chromium-browser"}) {
    std::stringstream directories(path);
    std::string directory;
    while (std::getline(directories, directory, ':')) {
      if (directory.empty()) continue;
      const std::filesystem::path candidate = std::filesystem::path(directory) / name;
      if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
  }
  return std::nullopt;
}

struct ChromiumRun {
  bool started = false;    // the process could be spawned
  bool timed_out = false;  // killed at the timeout
  int exit_code = -1;      // when it exited by itself
  std::string dom;         // --dump-dom's output (stdout)
  std::string log;         // what it wrote to stderr
};

// Loads `url` in a 1280x900 window, lets `budget` of page time pass, and dumps the DOM; with a
// `screenshot` path, also writes the window's PNG there. Blocks for at most `timeout`.
inline ChromiumRun run_headless_chromium(const std::filesystem::path& chromium,
                                         const std::string& url,
                                         std::optional<std::filesystem::path> screenshot,
                                         std::chrono::milliseconds budget,
                                         std::chrono::seconds timeout) {
  ChromiumRun run;
  const fnhost::testing::TemporaryDirectory scratch_directory("fnhost-chromium-");
  const std::filesystem::path& scratch = scratch_directory.path();
  const std::filesystem::path dom_file = scratch / "dom.html";
  const std::filesystem::path log_file = scratch / "chromium.log";

  std::vector<std::string> arguments = {
      chromium.string(),
      "--headless=new",
      // Root in a container has no user namespace sandbox to use.
      "--no-sandbox",
      "--disable-gpu",
      "--disable-dev-shm-usage",
      "--no-first-run",
      "--no-default-browser-check",
      "--disable-extensions",
      "--user-data-dir=" + (scratch / "profile").string(),
      "--window-size=1280,900",
      "--hide-scrollbars",
      "--virtual-time-budget=" + std::to_string(budget.count()),
      "--dump-dom",
  };
  if (screenshot) arguments.push_back("--screenshot=" + screenshot->string());
  arguments.push_back(url);
  std::vector<char*> argv;
  for (std::string& argument : arguments) argv.push_back(argument.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t files;
  posix_spawn_file_actions_init(&files);
  posix_spawn_file_actions_addopen(&files, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&files, STDOUT_FILENO, dom_file.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&files, STDERR_FILENO, log_file.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  // A group of its own, so that the timeout kills its renderer and helper processes too.
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attributes, 0);
  pid_t pid = -1;
  run.started = ::posix_spawn(&pid, argv[0], &files, &attributes, argv.data(), environ) == 0;
  posix_spawn_file_actions_destroy(&files);
  posix_spawnattr_destroy(&attributes);

  if (run.started) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    for (;;) {
      const pid_t waited = ::waitpid(pid, &status, WNOHANG);
      if (waited == pid) {
        if (WIFEXITED(status)) run.exit_code = WEXITSTATUS(status);
        break;
      }
      if (waited < 0 && errno != EINTR) break;
      if (std::chrono::steady_clock::now() >= deadline) {
        run.timed_out = true;
        ::kill(-pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    // Helpers that outlive the browser process (a crash handler) go with it.
    ::kill(-pid, SIGKILL);
  }
  run.dom = fnhost::testing::read_file(dom_file);
  run.log = fnhost::testing::read_file(log_file);
  return run;
}

}  // namespace fnhost::http::testing
