// The one public entry of @streamline/io (DESIGN.md §3).
export { openIo } from './io'
export { loadConfig, ConfigError, DEFAULT_CONFIG } from './config'
export type { AppendResult, AsyncFile, ConfigSource, Io, IoConfig, KernelInfo, OpenOptions, ReadResult, WriteResult } from './types'
export type { SystemError } from './errors'
