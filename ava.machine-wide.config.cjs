// The machine-wide tests (they flip kernel.io_uring_disabled for a moment, as root) run
// alone, after the main suite, one at a time: `npm run test:machine-wide`.
module.exports = {
  typescript: { rewritePaths: { '__test__/': 'dist/__test__/' }, compile: false },
  files: ['__test__/machine-wide/**/*.spec.ts'],
  serial: true,
  concurrency: 1,
  timeout: '2m',
}
