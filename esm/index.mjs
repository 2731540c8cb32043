// The ES-module entry of @streamline/io (package.json `exports` → `import`). It re-exports
// the CommonJS build rather than being a second build, so a program that both imports and
// requires the package gets one module instance: one addon load, one set of process-wide
// metrics. __test__/packaging.spec.ts checks these names against dist/ts/index.js.
import lib from '../dist/ts/index.js'

export const { openIo, loadConfig, ConfigError, DEFAULT_CONFIG, crc32c, openWal, openLog } = lib
