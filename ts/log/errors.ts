// The partition log's own errors (DESIGN.md §3 error table). System errors from the Io
// pass through unchanged; these are the codes the log adds.

type Coded<E extends Error> = E & { code: string }

function coded<E extends Error>(err: E, code: string): Coded<E> {
  return Object.assign(err, { code })
}

export function logLocked(dir: string, holder: string): Coded<Error> {
  return coded(new Error(`log directory '${dir}' is locked by another writer (${holder}); close it first or open with readOnly: true`), 'ERR_LOG_LOCKED')
}

/** Recovery refuses, or a batch fails its checks when read: `file`, `position` and what was found there. */
export function logCorrupt(file: string, position: number, what: string): Coded<Error> & { path: string; position: number } {
  const err = coded(new Error(`log corrupt: ${file} at position ${position}: ${what}`), 'ERR_LOG_CORRUPT')
  return Object.assign(err, { path: file, position })
}

/** The log failed earlier (a failed write or fdatasync); `cause` is that error. */
export function logFailed(cause: unknown): Coded<Error> {
  const what = cause instanceof Error ? cause.message : String(cause)
  return coded(new Error(`the log failed earlier and refuses appends until it is reopened (${what})`, { cause }), 'ERR_LOG_FAILED')
}

export function logClosed(): Coded<Error> {
  return coded(new Error('the log is closed; open it again to continue'), 'ERR_IO_CLOSED')
}

export function logReadOnly(method: string): Coded<Error> {
  return coded(new Error(`log.${method}() is not allowed: the log was opened with readOnly: true`), 'ERR_LOG_READ_ONLY')
}

export function offsetOutOfRange(name: string, offset: number, start: number, end: number): Coded<RangeError> & { logStartOffset: number; logEndOffset: number } {
  const err = coded(new RangeError(`${name} ${offset} is outside the log: it holds offsets ${start} to ${end} (logStartOffset..logEndOffset)`), 'ERR_OFFSET_OUT_OF_RANGE')
  return Object.assign(err, { logStartOffset: start, logEndOffset: end })
}

/** appendBatch() got bytes that are not a valid RecordBatch v2; nothing was written. */
export function invalidRecordBatch(position: number, what: string): Coded<Error> & { position: number } {
  return Object.assign(coded(new Error(`invalid record batch at byte ${position} of the buffer: ${what}; nothing was written`), 'ERR_INVALID_RECORD_BATCH'), { position })
}

export function unsupportedCompression(codec: string, file: string, position: number): Coded<Error> {
  return coded(new Error(`the batch at ${file} position ${position} is ${codec}-compressed; readRecords decodes uncompressed and gzip batches only (read() returns the bytes as stored)`), 'ERR_UNSUPPORTED_COMPRESSION')
}

export function invalidArgValue(name: string, why: string): Coded<TypeError> {
  return coded(new TypeError(`The argument '${name}' ${why}`), 'ERR_INVALID_ARG_VALUE')
}

/** A slice whose bytes were truncated away (truncateTo) before it was read or sent. */
export function sliceStale(): Coded<RangeError> {
  // A RangeError like every other ERR_OFFSET_OUT_OF_RANGE (DESIGN.md §3 error table).
  return coded(new RangeError('this slice is no longer valid: the log was truncated (truncateTo) below its end after it was made; make a new slice'), 'ERR_OFFSET_OUT_OF_RANGE')
}
