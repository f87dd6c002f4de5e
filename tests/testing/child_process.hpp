// SPDX-License-Identifier: Apache-2.0
// A child process for tests that run real servers and clients (brokers, command-line tools,
// worker processes): spawned without a shell, its output appended to a file the test can print
// when it fails, every wait on it bounded, and killed by its destructor so that a failing
// REQUIRE never leaves one running past its test.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "testing/wait.hpp"

extern char** environ;

namespace fnhost::testing {

class ChildProcess {
 public:
  ChildProcess() = default;
  // Runs `argv` (argv[0] is a path: no PATH lookup). With `output_path`, stdout and stderr are
  // appended to that file, so that a restarted process adds to the same log; with `stdin_path`,
  // it reads that file.
  explicit ChildProcess(const std::vector<std::string>& argv, const std::string& output_path = "",
                        const std::string& stdin_path = "") {
    std::vector<char*> words;
    for (const std::string& word : argv) words.push_back(const_cast<char*>(word.c_str()));
    words.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (!output_path.empty()) {
      posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, output_path.c_str(),
                                       O_WRONLY | O_CREAT | O_APPEND, 0644);
      posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    }
    if (!stdin_path.empty()) {
      posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, stdin_path.c_str(), O_RDONLY, 0);
    }
    const int spawned = posix_spawn(&pid_, words[0], &actions, nullptr, words.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    INFO("posix_spawn " << argv[0]);
    REQUIRE(spawned == 0);
  }
  ChildProcess(ChildProcess&& other) noexcept
      : pid_(std::exchange(other.pid_, -1)), exit_status_(std::exchange(other.exit_status_, -1)) {}
  // Kills the process this one held: assigning a restarted server must not leave the old one.
  ChildProcess& operator=(ChildProcess&& other) noexcept {
    if (this != &other) {
      kill_now();
      pid_ = std::exchange(other.pid_, -1);
      exit_status_ = std::exchange(other.exit_status_, -1);
    }
    return *this;
  }
  ~ChildProcess() { kill_now(); }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Whether it has exited, reaping it if so; a wait_until predicate.
  bool has_exited() {
    if (pid_ < 0) return true;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      exit_status_ = status;
      pid_ = -1;
      return true;
    }
    return false;
  }
  // Waits for it to exit by itself; returns its exit code, or -1 if a signal ended it or it was
  // still running at `timeout` (then it is killed, so a hung client fails the test, not the run).
  int wait_exit(std::chrono::milliseconds timeout = kGenerousTimeout) {
    if (!wait_until([this] { return has_exited(); }, timeout)) {
      kill_now();
      return -1;
    }
    return WIFEXITED(exit_status_) ? WEXITSTATUS(exit_status_) : -1;
  }
  // Sends `signal` and waits for it to exit; returns its wait status (for WIFSIGNALED and
  // friends), or -1 if it outlived `timeout` (then it is killed: whoever stops a server next
  // restarts it on the same port or removes its directory).
  int signal_and_wait(int signal, std::chrono::milliseconds timeout = kGenerousTimeout) {
    if (pid_ < 0) return exit_status_;
    ::kill(pid_, signal);
    if (!wait_until([this] { return has_exited(); }, timeout)) {
      kill_now();
      return -1;
    }
    return exit_status_;
  }
  // SIGKILL and reap; returns at once when it has already been reaped.
  void kill_now() {
    if (pid_ < 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
  int exit_status_ = -1;  // waitpid's status once reaped by has_exited
};

}  // namespace fnhost::testing
