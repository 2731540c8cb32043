// ava configuration for the machine-wide tests, which the package.json configuration
// excludes from the main run (ava then refuses to select them by path). Run alone,
// after the suite: `npx ava --config __test__/machine-wide/ava.config.mjs`.
export default {
  typescript: {
    rewritePaths: { '__test__/': 'dist/__test__/' },
    compile: false,
  },
  files: ['__test__/machine-wide/**/*.spec.ts'],
  serial: true,
  concurrency: 1,
  timeout: '2m',
}
