// The machine-wide tests — they change state every process on the machine shares: the
// kernel.io_uring_disabled sysctl (machine-wide/sysctl.spec.ts), the RLIMIT_MEMLOCK
// budget of the nobody user (machine-wide/memlock.spec.ts), tmpfs mounts in the
// machine's mount namespace (machine-wide/enospc.spec.ts, wal-enospc.spec.ts,
// log-enospc.spec.ts; a test that only needs a tmpfs uses /dev/shm, which needs no
// mount). They run alone: after the main suite, one file and one test at a time, and `npm run
// test:machine-wide` holds the machine's test lock exclusively (scripts/machine-lock.sh)
// while every other part of `npm test` holds it shared — so no other suite of this
// project on the machine runs beside them either.
module.exports = {
  typescript: { rewritePaths: { '__test__/': 'dist/__test__/' }, compile: false },
  files: ['__test__/machine-wide/**/*.spec.ts'],
  serial: true,
  concurrency: 1,
  timeout: '2m',
  // helpers/tmpfs.ts mounts only where this is set.
  environmentVariables: { STREAMLINE_IO_TEST_MACHINE_WIDE: '1' },
}
