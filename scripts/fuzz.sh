#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the libFuzzer targets in tests/fuzz with clang (Debian: clang, libclang-rt-14-dev; the
# setup script installs them with --fuzz) and runs each for SECONDS (default 60).
#
#   ./scripts/fuzz.sh [SECONDS]
#
# A target <name>_fuzz with seed inputs in tests/fuzz/corpus/<name>/ starts from them; the inputs
# it finds go to build/fuzz/corpus/<name>/ (libFuzzer writes to its first corpus directory), so
# the seeds in the source tree stay as committed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds="${1:-60}"
out=build/fuzz
mkdir -p "${out}"
flags=(-std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -Isrc -Iinclude)
libs=($(pkg-config --libs absl_status absl_flat_hash_map absl_hash fmt))

# cgroup_parsers: the pure /proc parsers of src/platform/platform.cpp (cgroup files, syscall line).
clang++ "${flags[@]}" tests/fuzz/cgroup_parsers_fuzz.cpp src/platform/platform.cpp \
  "${libs[@]}" -lpthread -o "${out}/cgroup_parsers_fuzz"
# destination_record: read_destination_record against any attributes, and its round trip with
# make_destination_event (src/delivery/destination_record.cpp).
clang++ "${flags[@]}" tests/fuzz/destination_record_fuzz.cpp src/delivery/destination_record.cpp \
  $(pkg-config --libs absl_statusor absl_time absl_cord fmt) -lpthread -o "${out}/destination_record_fuzz"
# filter: Filter::parse, to_string and matches (src/routing/filter.cpp).
clang++ "${flags[@]}" tests/fuzz/filter_fuzz.cpp src/routing/filter.cpp \
  "${libs[@]}" $(pkg-config --libs absl_statusor absl_time) -lpthread -o "${out}/filter_fuzz"

# event_limits: the event size checks of every admission against a reference, with the topic
# validator (src/security/event_validation.cpp).
clang++ "${flags[@]}" tests/fuzz/event_limits_fuzz.cpp src/security/event_validation.cpp \
  src/routing/topic.cpp "${libs[@]}" -lpthread -o "${out}/event_limits_fuzz"

# policy: Policy::parse, to_string, create and evaluate against a reference evaluator, and
# glob_matches against two reference matchers (src/security/policy*.cpp, with the topic rules).
clang++ "${flags[@]}" tests/fuzz/policy_fuzz.cpp src/security/policy.cpp \
  src/security/policy_rules.cpp src/security/policy_text.cpp src/routing/topic.cpp \
  "${libs[@]}" $(pkg-config --libs absl_statusor) -lpthread -o "${out}/policy_fuzz"

# prometheus_labels: prometheus_text's escaping of label values made of any bytes
# (src/observability/prometheus.cpp).
clang++ "${flags[@]}" tests/fuzz/prometheus_labels_fuzz.cpp src/observability/prometheus.cpp \
  $(pkg-config --libs absl_time fmt) -lpthread -o "${out}/prometheus_labels_fuzz"

# schedule: the schedule expression parser and next_fire of src/routing/schedule_expression.cpp.
clang++ "${flags[@]}" tests/fuzz/schedule_fuzz.cpp src/routing/schedule_expression.cpp \
  $(pkg-config --libs absl_statusor absl_time fmt) -lpthread -o "${out}/schedule_fuzz"

# topic: the topic validators and TopicTrie against the reference matcher, with their file.
clang++ "${flags[@]}" tests/fuzz/topic_fuzz.cpp src/routing/topic.cpp \
  "${libs[@]}" -lpthread -o "${out}/topic_fuzz"

# trace_context: the W3C traceparent / tracestate parsers and format_traceparent, with their
# round trip (src/observability/trace_context.cpp).
clang++ "${flags[@]}" tests/fuzz/trace_context_fuzz.cpp src/observability/trace_context.cpp \
  $(pkg-config --libs absl_statusor fmt) -lpthread -o "${out}/trace_context_fuzz"

# cloudevent: the CloudEvents parsers of the HTTP gateway, structured and binary mode, with
# their round trip (connectors/http/src/cloudevents.cpp; nlohmann-json is header-only).
clang++ "${flags[@]}" -Iconnectors/http/src connectors/http/fuzz/cloudevent_fuzz.cpp \
  connectors/http/src/cloudevents.cpp \
  $(pkg-config --libs absl_statusor absl_time absl_strings fmt) -lpthread -o "${out}/cloudevent_fuzz"

# mqtt_packet: the MQTT packet splitter and strict decoder of the MQTT connector, with a
# PUBLISH round trip (connectors/mqtt/src/codec.cpp).
clang++ "${flags[@]}" -Iconnectors/mqtt/src -Iconnectors/mqtt/include \
  connectors/mqtt/fuzz/mqtt_packet_fuzz.cpp connectors/mqtt/src/codec.cpp \
  $(pkg-config --libs absl_statusor fmt) -lpthread -o "${out}/mqtt_packet_fuzz"

for target in "${out}"/*_fuzz; do
  name="$(basename "${target}")"
  corpus=()
  seeds="tests/fuzz/corpus/${name%_fuzz}"
  # A connector's targets keep their seeds beside them: connectors/<name>/fuzz/corpus/<target>.
  for connector_seeds in connectors/*/fuzz/corpus/"${name%_fuzz}"; do
    if [ -d "${connector_seeds}" ]; then seeds="${connector_seeds}"; fi
  done
  if [ -d "${seeds}" ]; then
    mkdir -p "${out}/corpus/${name%_fuzz}"
    corpus=("${out}/corpus/${name%_fuzz}" "${seeds}")
  fi
  echo "fuzz: ${name} for ${seconds} s"
  "${target}" "${corpus[@]}" -max_total_time="${seconds}" -max_len=4096 -print_final_stats=1 \
    2>&1 | tail -20
done
