# Shared helpers for scripts/test, scripts/run and scripts/bench. Source it; it sets nothing
# beyond the functions and LK_ROOT (the repository root).
# shellcheck shell=bash

LK_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

# lk_section TITLE: a visible header in long CI logs.
lk_section() {
    printf '\n==================== %s ====================\n' "$*"
}

lk_info() { printf 'latchkey-scripts: %s\n' "$*"; }
lk_warn() { printf 'latchkey-scripts: WARNING: %s\n' "$*" >&2; }
lk_die() {
    printf 'latchkey-scripts: ERROR: %s\n' "$*" >&2
    exit 1
}

lk_is_root() { [ "$(id -u)" -eq 0 ]; }

# lk_ensure_swift: puts /opt/swift on PATH when swift is not already there.
lk_ensure_swift() {
    if ! command -v swift >/dev/null 2>&1; then
        for dir in /opt/swift/usr/bin /opt/swift/bin; do
            if [ -x "$dir/swift" ]; then
                export PATH="$PATH:$dir"
                break
            fi
        done
    fi
    command -v swift >/dev/null 2>&1 || lk_die "swift not found (expected under /opt/swift)"
}

_lk_pkg_installed() {
    dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null | grep -q '^ii'
}

# The Debian packages a build of Latchkey needs: the system libraries behind its SwiftPM system-library
# targets (COpenSSL, CNghttp2, CHiredis) and pkg-config to find them. deploy/Dockerfile's build stage
# installs the same list; the runtime needs libssl3, libnghttp2-14 and libhiredis0.14.
LK_BUILD_PACKAGES=(libssl-dev libnghttp2-dev libhiredis-dev pkg-config)

# lk_build_shipped: builds the release binary as it ships (deploy/Dockerfile, scripts/install): the Swift
# runtime linked in with --static-swift-stdlib, in its own build directory (.build-static; the flag in
# .build would rebuild everything each time scripts/run or swift test ran in between). Sets LK_SHIPPED_BIN.
# The measuring scripts use it too: the dynamically linked build maps every Swift library whole and
# measured about 5 MiB more resident memory at the same CPU per request (2026-12-04).
LK_SHIPPED_SCRATCH=.build-static
lk_build_shipped() {
    lk_ensure_swift
    lk_ensure_packages "${LK_BUILD_PACKAGES[@]}"
    lk_section "swift build -c release --static-swift-stdlib"
    swift build -c release --static-swift-stdlib --product latchkey --scratch-path "$LK_SHIPPED_SCRATCH"
    LK_SHIPPED_BIN="$LK_SHIPPED_SCRATCH/release/latchkey"
    lk_place_backtracer "$LK_SHIPPED_SCRATCH/release"
}

# lk_place_backtracer DIR: puts the toolchain's statically linked crash reporter (swift-backtrace-static)
# into DIR as `swift-backtrace`. A binary built with --static-swift-stdlib looks for it there, next to
# itself, and without it a crash prints "unable to locate swift-backtrace; disabling backtracing" and no
# report at all (deploy/Dockerfile and scripts/install ship it the same way).
lk_place_backtracer() {
    local swift_bin backtracer
    swift_bin="$(readlink -f "$(command -v swift)")"
    backtracer="$(dirname "$swift_bin")/../libexec/swift/linux/swift-backtrace-static"
    if [ -x "$backtracer" ]; then
        install -m 0755 "$backtracer" "$1/swift-backtrace"
    else
        lk_warn "no swift-backtrace-static in this toolchain ($backtracer): crashes of the release binary will print no backtrace"
    fi
}

# lk_ensure_packages PKG...: installs the Debian packages that are missing (as root only;
# `apt-get update` runs only when something is missing). A command name may be given as
# `cmd:PKG` (e.g. `nginx:nginx-light`): installed when the command is absent from PATH and sbin.
lk_ensure_packages() {
    local missing=() spec cmd pkg
    command -v dpkg-query >/dev/null 2>&1 || { lk_warn "not a Debian system: skipping package checks"; return 0; }
    for spec in "$@"; do
        if [[ "$spec" == *:* ]]; then
            cmd="${spec%%:*}"
            pkg="${spec#*:}"
            if command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || [ -x "/sbin/$cmd" ]; then
                continue
            fi
        else
            pkg="$spec"
            _lk_pkg_installed "$pkg" && continue
        fi
        missing+=("$pkg")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    if ! lk_is_root; then
        lk_warn "missing packages (install them as root): ${missing[*]}"
        return 0
    fi
    lk_info "installing: ${missing[*]}"
    # Keep package scripts from starting services (nginx on :80) on this machine.
    local policy=/usr/sbin/policy-rc.d own_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && own_policy=1
    fi
    local rc=0
    DEBIAN_FRONTEND=noninteractive apt-get update -qq || rc=$?
    if [ "$rc" -eq 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" || rc=$?
    fi
    [ "$own_policy" -eq 1 ] && rm -f "$policy"
    [ "$rc" -eq 0 ] || lk_die "apt-get failed ($rc) installing: ${missing[*]}"
}

# lk_nginx: the nginx binary (it lives in /usr/sbin, which a non-root PATH may lack).
lk_nginx() {
    command -v nginx 2>/dev/null || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || lk_die "nginx not found"
}

# lk_free_port: a loopback port free right now.
lk_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# lk_wait_port PORT [TIMEOUT_S] [PID]: polls until 127.0.0.1:PORT accepts; fails early if PID dies.
lk_wait_port() {
    local port="$1" timeout="${2:-20}" pid="${3:-}" deadline
    deadline=$((SECONDS + timeout))
    while ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
            lk_warn "process $pid exited before port $port accepted"
            return 1
        fi
        [ "$SECONDS" -ge "$deadline" ] && { lk_warn "port $port not accepting after ${timeout}s"; return 1; }
        sleep 0.1
    done
}

# lk_wait_log FILE REGEX [TIMEOUT_S] [PID]: polls FILE until a line matches (grep -E); prints it.
lk_wait_log() {
    local file="$1" regex="$2" timeout="${3:-20}" pid="${4:-}" deadline line
    deadline=$((SECONDS + timeout))
    while true; do
        if line="$(grep -E -m1 -o -- "$regex" "$file" 2>/dev/null)"; then
            printf '%s\n' "$line"
            return 0
        fi
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
            lk_warn "process $pid exited before logging /$regex/"
            return 1
        fi
        [ "$SECONDS" -ge "$deadline" ] && { lk_warn "no /$regex/ in $file after ${timeout}s"; return 1; }
        sleep 0.1
    done
}

# Background processes started by a script, stopped by lk_cleanup (install it with lk_trap_cleanup).
LK_PIDS=()
lk_track() { LK_PIDS+=("$1"); }

lk_stop_pid() {
    local pid="$1" i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# Stops in reverse start order: the proxy before the upstream it may still be calling.
lk_cleanup() {
    local i
    for ((i = ${#LK_PIDS[@]} - 1; i >= 0; i--)); do
        [ -n "${LK_PIDS[i]}" ] && lk_stop_pid "${LK_PIDS[i]}"
    done
    LK_PIDS=()
}

# lk_work_dir NAME: makes a scratch directory .bench-work/NAME.XXXXXX (under LK_WORK_ROOT when set) for a
# benchmark's configs and logs and sets `work` to it. lk_trap_cleanup's exit handler removes it when the
# script succeeds (a soak or a benchmark writes gigabytes of access log; left behind they fill the disk)
# and keeps it, to be read, when the script fails or LK_KEEP_WORK=1.
LK_WORK_DIRS=()
lk_work_dir() {
    local root="${LK_WORK_ROOT:-$LK_ROOT/.bench-work}"
    mkdir -p "$root"
    work="$(mktemp -d "$root/$1.XXXXXX")"
    LK_WORK_DIRS+=("$work")
}

lk_remove_work_dirs() {  # lk_remove_work_dirs EXIT-STATUS
    local dir
    for dir in "${LK_WORK_DIRS[@]}"; do
        if [ "$1" = 0 ] && [ "${LK_KEEP_WORK:-0}" != 1 ]; then
            rm -rf "$dir"
        else
            lk_info "work files kept: $dir" >&2
        fi
    done
    LK_WORK_DIRS=()
}

lk_trap_cleanup() {
    trap 'lk_exit_status=$?; lk_cleanup; lk_remove_work_dirs "$lk_exit_status"' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# lk_vmhwm PID: peak resident set size (VmHWM) in KiB, or "-".
lk_vmhwm() {
    awk '/^VmHWM:/ {print $2; found=1} END {if (!found) print "-"}' "/proc/$1/status" 2>/dev/null || echo "-"
}

# lk_vmrss PID: resident set size now (VmRSS) in KiB, or "-".
lk_vmrss() {
    awk '/^VmRSS:/ {print $2; found=1} END {if (!found) print "-"}' "/proc/$1/status" 2>/dev/null || echo "-"
}

# lk_fd_count PID: open file descriptors of PID now, or "-".
lk_fd_count() {
    local n
    n="$(ls "/proc/$1/fd" 2>/dev/null | wc -l)" && [ "$n" -gt 0 ] && echo "$n" || echo "-"
}

# lk_ctxt_switches PID: "VOLUNTARY INVOLUNTARY THREADS", context switches summed over the threads alive
# now (/proc/PID/task/*/status). Threads that exited took their counts with them: compare two readings
# of a process whose threads live throughout (event loops do).
lk_ctxt_switches() {
    cat "/proc/$1"/task/*/status 2>/dev/null | awk '
        /^voluntary_ctxt_switches:/ {v += $2; t++}
        /^nonvoluntary_ctxt_switches:/ {n += $2}
        END {print v + 0, n + 0, t + 0}'
}

# lk_per_request BEFORE AFTER REQUESTS: context switches per request between two lk_ctxt_switches
# readings ("voluntary+involuntary per request", two decimals), or "-".
lk_per_request() {
    local before="$1" after="$2" requests="$3"
    [[ "$requests" =~ ^[0-9]+$ ]] && [ "$requests" -gt 0 ] || { echo "-"; return; }
    awk -v b="$before" -v a="$after" -v r="$requests" 'BEGIN {
        split(b, x, " "); split(a, y, " ");
        printf "%.3f\n", ((y[1] - x[1]) + (y[2] - x[2])) / r }'
}
