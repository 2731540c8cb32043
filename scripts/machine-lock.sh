#!/bin/sh
# scripts/machine-lock.sh shared|exclusive COMMAND [ARGS...]
#
# Runs COMMAND holding the machine's test lock, so that the tests which change
# machine-wide state run alone on the machine, not only after the rest of their own
# suite (issue 15):
#   exclusive  the machine-wide tests (`npm run test:machine-wide`: the
#              kernel.io_uring_disabled sysctl, RLIMIT_MEMLOCK as another user, tmpfs
#              mounts) — no other suite of this project runs beside them;
#   shared     everything else `npm test` runs (cargo tests, the ava suites): any number
#              of suites at once — two clones on one machine — but never while another
#              suite's machine-wide tests have, say, io_uring disabled.
# The lock is flock(1) on one file for the whole machine ($STREAMLINE_IO_TEST_LOCK,
# default /tmp/streamline-io-tests.lock). A wait is announced on stderr. Without
# flock(1) the command runs unlocked, and says so.
set -eu
mode=${1:-}
case $mode in
  shared) flag=-s ;;
  exclusive) flag=-x ;;
  *) echo "usage: $0 shared|exclusive COMMAND [ARGS...]" >&2; exit 2 ;;
esac
shift
lock=${STREAMLINE_IO_TEST_LOCK:-/tmp/streamline-io-tests.lock}
if ! command -v flock >/dev/null 2>&1; then
  echo "machine-lock: flock(1) not found; running without the machine-wide test lock" >&2
  exec "$@"
fi
# Opened read-only (created the first time): flock needs no write access, so suites of
# different users share one lock file.
[ -e "$lock" ] || : 2>/dev/null >>"$lock" || true
exec 9<"$lock"
if ! flock -n "$flag" 9; then
  echo "machine-lock: waiting for $lock ($mode): another suite holds it" >&2
  flock "$flag" 9
  echo "machine-lock: got $lock ($mode)" >&2
fi
exec "$@"
