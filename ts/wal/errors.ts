// The WAL's own errors (DESIGN.md §3 error table). System errors from the Io pass
// through unchanged; these are the codes the WAL adds.

type Coded<E extends Error> = E & { code: string }

function coded<E extends Error>(err: E, code: string): Coded<E> {
  return Object.assign(err, { code })
}

export function walLocked(dir: string, holder: string): Coded<Error> {
  return coded(new Error(`WAL directory '${dir}' is locked by another writer (${holder}); close it first or open with readOnly: true`), 'ERR_WAL_LOCKED')
}

/** Recovery refuses: `file`, `position` and what was found there. */
export function walCorrupt(file: string, position: number, what: string): Coded<Error> & { path: string; position: number } {
  const err = coded(new Error(`WAL corrupt: ${file} at position ${position}: ${what}`), 'ERR_WAL_CORRUPT')
  return Object.assign(err, { path: file, position })
}

/** The WAL failed earlier (a failed fdatasync or group write); `cause` is that error. */
export function walFailed(cause: unknown): Coded<Error> {
  const what = cause instanceof Error ? cause.message : String(cause)
  return coded(new Error(`the WAL failed earlier and refuses appends until it is reopened (${what})`, { cause }), 'ERR_WAL_FAILED')
}

export function recordTooLarge(what: string, bytes: number, limit: number, limitName: string): Coded<RangeError> {
  return coded(new RangeError(`${what} of ${bytes} bytes is larger than ${limitName} (${limit} bytes)`), 'ERR_RECORD_TOO_LARGE')
}

export function walClosed(): Coded<Error> {
  return coded(new Error('the WAL is closed; open it again to continue'), 'ERR_IO_CLOSED')
}

export function walReadOnly(method: string): Coded<Error> {
  return coded(new Error(`wal.${method}() is not allowed: the WAL was opened with readOnly: true`), 'ERR_WAL_READ_ONLY')
}
