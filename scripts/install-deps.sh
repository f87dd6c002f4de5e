#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs fnhost's build dependencies from Debian/Ubuntu packages (Debian 12 is the tested
# platform). Only missing packages are installed; when everything is there, it does nothing.
#
#   ./scripts/install-deps.sh           toolchain, CMake, Ninja, Abseil, fmt, Catch2, concurrentqueue,
#                                       and what the connectors and their tests need: cpp-httplib,
#                                       nlohmann-json and chromium (HTTP), hiredis and redis-server
#                                       (Redis), libmosquitto, mosquitto and its clients (MQTT)
#   ./scripts/install-deps.sh --bench   also Google Benchmark, oneTBB and Boost (benchmark peers)
#   ./scripts/install-deps.sh --fuzz    also clang and its libFuzzer runtime (scripts/fuzz.sh)
set -euo pipefail

usage() {
  echo "usage: $0 [--bench] [--fuzz]" >&2
}

packages=(
  g++
  cmake
  ninja-build
  git
  pkg-config
  libabsl-dev
  libfmt-dev
  catch2
  libconcurrentqueue-dev
  prometheus
  # The HTTP gateway connector (fnhost::http) and its tests.
  libcpp-httplib-dev
  nlohmann-json3-dev
  # The HTTP gateway's dashboard test drives a real headless browser.
  chromium
  # The Redis Streams connector (fnhost::redis) and the server its tests start.
  libhiredis-dev
  redis-server
  # The MQTT connector (fnhost::mqtt), the broker its tests start and its command-line clients.
  libmosquitto-dev
  mosquitto
  mosquitto-clients
)

for arg in "$@"; do
  case "${arg}" in
    --bench) packages+=(libbenchmark-dev libtbb-dev libboost-dev) ;;
    --fuzz) packages+=(clang libclang-rt-14-dev) ;;
    -h | --help)
      usage
      exit 0
      ;;
    *)
      echo "install-deps: unknown argument '${arg}'" >&2
      usage
      exit 2
      ;;
  esac
done

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: this script needs a Debian-based system (dpkg-query and apt-get)." >&2
  echo "install-deps: install these by other means: ${packages[*]}" >&2
  exit 1
fi

missing=()
for package in "${packages[@]}"; do
  status="$(dpkg-query -W -f='${db:Status-Status}' "${package}" 2>/dev/null || true)"
  if [[ "${status}" != "installed" ]]; then
    missing+=("${package}")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#packages[@]} packages are already installed."
  exit 0
fi

sudo_cmd=()
if [[ "$(id -u)" -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo_cmd=(sudo)
  else
    echo "install-deps: missing packages: ${missing[*]}" >&2
    echo "install-deps: run as root or install sudo to let this script install them." >&2
    exit 1
  fi
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update
"${sudo_cmd[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
