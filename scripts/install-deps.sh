#!/usr/bin/env bash
# Installs what the tests and the quickstart need, when it is missing.
# Idempotent: when everything is present it only reports and exits 0.
#
# Currently: PostgreSQL server binaries (initdb, pg_ctl, postgres,
# pg_recvlogical), when running as root the "postgres" OS user
# (initdb/postgres refuse to run as root, so internal/testenv runs them as
# it), promtool from Debian's prometheus package (the deploy tests check
# the alert rules with it), and Chromium (the console's browser tests).
#
# To add a dependency: write a check_<name> function that returns 0 when the
# dependency is present, and add a line to DEPS below:
#   "<name>|<apt packages>|<human description>"
# Optionally write fix_<name> for steps apt-get cannot do.
#
# Supported: Debian/Ubuntu (apt-get). Run as root, or via sudo.
set -euo pipefail

DEPS=(
  "pgbin|postgresql postgresql-contrib|PostgreSQL server binaries (initdb, pg_ctl, postgres, pg_recvlogical)"
  "pguser||the 'postgres' OS user (needed when tests run as root)"
  "promtool|prometheus|promtool (Debian's prometheus package), to check deploy/prometheus/alerts.yaml"
  "chromium|chromium|Chromium, for the web console's headless-browser tests"
)

PG_REQUIRED=(initdb pg_ctl postgres pg_recvlogical)

log() { printf 'install-deps: %s\n' "$*" >&2; }

# pg_bindir prints the first directory holding all PG_REQUIRED binaries, using
# the same search order as internal/testenv: $PG_BIN, pg_config --bindir,
# the highest /usr/lib/postgresql/*/bin, then $PATH.
pg_has_all() {
  local dir=$1 b
  [[ -n "$dir" && -d "$dir" ]] || return 1
  for b in "${PG_REQUIRED[@]}"; do
    [[ -x "$dir/$b" ]] || return 1
  done
}

pg_bindir() {
  local dir b p
  if [[ -n "${PG_BIN:-}" ]]; then
    pg_has_all "$PG_BIN" && { echo "$PG_BIN"; return 0; }
    return 1
  fi
  if command -v pg_config >/dev/null 2>&1; then
    dir=$(pg_config --bindir 2>/dev/null || true)
    pg_has_all "$dir" && { echo "$dir"; return 0; }
  fi
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5,5 -V -r); do
    pg_has_all "$dir" && { echo "$dir"; return 0; }
  done
  for b in postgres initdb pg_ctl; do
    p=$(command -v "$b" 2>/dev/null) || continue
    dir=$(dirname "$(readlink -f "$p")")
    pg_has_all "$dir" && { echo "$dir"; return 0; }
  done
  return 1
}

check_pgbin() {
  local dir
  dir=$(pg_bindir) || return 1
  log "ok: PostgreSQL binaries in $dir ($("$dir/postgres" --version 2>/dev/null || echo 'unknown version'))"
}

check_pguser() {
  [[ $(id -u) -ne 0 ]] && return 0 # only needed when running as root
  id -u postgres >/dev/null 2>&1 || return 1
  log "ok: OS user postgres exists"
}

check_promtool() {
  command -v promtool >/dev/null 2>&1 || return 1
  log "ok: $(promtool --version 2>&1 | head -1)"
}

check_chromium() {
  local b
  for b in "${CHROMIUM:-}" chromium chromium-browser google-chrome; do
    [[ -n "$b" ]] || continue
    if command -v "$b" >/dev/null 2>&1; then
      log "ok: $("$b" --version 2>/dev/null | head -1 || echo "$b")"
      return 0
    fi
  done
  return 1
}

fix_pguser() {
  useradd --system --user-group --home-dir /var/lib/postgresql --shell /bin/bash postgres
}

if [[ -n "${PG_BIN:-}" ]] && ! pg_has_all "$PG_BIN"; then
  log "PG_BIN=$PG_BIN is set but lacks one of: ${PG_REQUIRED[*]}; fix or unset PG_BIN"
  exit 1
fi

missing=()
packages=()
for dep in "${DEPS[@]}"; do
  IFS='|' read -r name pkgs desc <<<"$dep"
  if ! "check_$name"; then
    missing+=("$name")
    log "missing: $desc"
    if [[ -n "$pkgs" ]]; then
      # shellcheck disable=SC2206 # word-splitting the package list is intended
      packages+=($pkgs)
    fi
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  log "all dependencies present"
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  log "not running as root, cannot install: ${missing[*]}"
  if [[ ${#packages[@]} -gt 0 ]]; then
    log "run:  sudo $0   (or: sudo apt-get install -y ${packages[*]})"
  else
    log "run:  sudo $0"
  fi
  exit 1
fi

if [[ ${#packages[@]} -gt 0 ]]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    log "apt-get not found; install manually: ${packages[*]} (or set PG_BIN to a directory with ${PG_REQUIRED[*]})"
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  for attempt in 1 2 3; do
    log "apt-get install ${packages[*]} (attempt $attempt)"
    if apt-get update -qq && apt-get install -y -qq "${packages[@]}" >&2; then
      break
    fi
    if [[ $attempt -eq 3 ]]; then
      log "apt-get failed"
      exit 1
    fi
    sleep $((attempt * 5))
  done
fi

# Run explicit fixes, then re-check everything.
for name in "${missing[@]}"; do
  if declare -F "fix_$name" >/dev/null && ! "check_$name" 2>/dev/null; then
    log "fixing: $name"
    "fix_$name"
  fi
done
failed=0
for name in "${missing[@]}"; do
  if ! "check_$name"; then
    log "still missing after install: $name"
    failed=1
  fi
done
exit "$failed"
