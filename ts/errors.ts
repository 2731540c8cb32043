// Every error the library raises is built here: errno → a node:fs-shaped error in
// exactly one place (STYLE.md 4), and the library's own codes from DESIGN.md §3.
import os from 'node:os'
import util from 'node:util'

/** An error shaped like node:fs's: code, errno (negative, as libuv reports it), syscall, path. */
export interface SystemError extends Error {
  code: string
  errno: number
  syscall: string
  path?: string
}

// libuv's wording for the errnos file I/O meets, so messages read like node:fs's
// ("ENOENT: no such file or directory, open '/x'"); the rest fall back to strerror.
const UV_MESSAGES: Record<string, string> = {
  EACCES: 'permission denied',
  EAGAIN: 'resource temporarily unavailable',
  EBADF: 'bad file descriptor',
  EBUSY: 'resource busy or locked',
  ECANCELED: 'operation canceled',
  EEXIST: 'file already exists',
  EFAULT: 'bad address in system call argument',
  EFBIG: 'file too large',
  EINTR: 'interrupted system call',
  EINVAL: 'invalid argument',
  EIO: 'i/o error',
  EISDIR: 'illegal operation on a directory',
  ELOOP: 'too many symbolic links encountered',
  EMFILE: 'too many open files',
  ENAMETOOLONG: 'name too long',
  ENFILE: 'file table overflow',
  ENODEV: 'no such device',
  ENOENT: 'no such file or directory',
  ENOMEM: 'not enough memory',
  ENOSPC: 'no space left on device',
  ENOSYS: 'function not implemented',
  ENOTDIR: 'not a directory',
  ENXIO: 'no such device or address',
  EOPNOTSUPP: 'operation not supported on socket',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ESPIPE: 'invalid seek',
  ETXTBSY: 'text file is busy',
  EDQUOT: 'disk quota exceeded',
}

const ERRNO_NAMES: Map<number, string> = new Map(
  Object.entries(os.constants.errno).map(([name, value]) => [value, name]),
)

/** The symbolic name of a positive errno ('ENOENT' for 2). */
export function errnoName(errno: number): string {
  const fromNode = ERRNO_NAMES.get(errno)
  if (fromNode !== undefined) return fromNode
  try {
    return util.getSystemErrorName(-errno)
  } catch {
    return `E${errno}`
  }
}

/** A node:fs-shaped error for a positive errno from the kernel. */
export function systemError(errno: number, syscall: string, path?: string, describe?: (errno: number) => string): SystemError {
  const code = errnoName(errno)
  const words = UV_MESSAGES[code] ?? describe?.(errno) ?? 'unknown error'
  const where = path === undefined ? syscall : `${syscall} '${path}'`
  const err = new Error(`${code}: ${words}, ${where}`) as SystemError
  err.errno = -errno
  err.code = code
  err.syscall = syscall
  if (path !== undefined) err.path = path
  return err
}

/** Gives a node:fs error the file's path when it lacks one, so both backends match. */
export function withPath<E>(err: E, path: string): E {
  if (err instanceof Error && (err as Partial<SystemError>).syscall !== undefined && (err as Partial<SystemError>).path === undefined) {
    ;(err as Partial<SystemError>).path = path
    if (!err.message.includes(`'${path}'`)) err.message = `${err.message} '${path}'`
  }
  return err
}

/** Reports a node:fs error under the syscall the caller asked for (e.g. 'fallocate'). */
export function renameSyscall<E>(err: E, syscall: string): E {
  const e = err as Partial<SystemError>
  if (err instanceof Error && typeof e.syscall === 'string' && e.syscall !== syscall) {
    err.message = err.message.replace(`, ${e.syscall}`, `, ${syscall}`)
    e.syscall = syscall
  }
  return err
}

type CodedError<E extends Error> = E & { code: string }

function coded<E extends Error>(err: E, code: string): CodedError<E> {
  const e = err as CodedError<E>
  e.code = code
  return e
}

export function invalidArgType(name: string, expected: string, actual: unknown): CodedError<TypeError> {
  return coded(new TypeError(`The "${name}" argument must be ${expected}. Received ${describeValue(actual)}`), 'ERR_INVALID_ARG_TYPE')
}

export function outOfRange(name: string, expected: string, actual: unknown): CodedError<RangeError> {
  return coded(new RangeError(`The value of "${name}" is out of range. It must be ${expected}. Received ${describeValue(actual)}`), 'ERR_OUT_OF_RANGE')
}

export function ioClosed(what: 'file' | 'Io', path?: string): CodedError<Error> {
  const subject = what === 'file' ? `file '${path ?? ''}' is closed` : 'the Io is closed'
  return coded(new Error(`${subject}; open it again to continue`), 'ERR_IO_CLOSED')
}

/** A socket that is destroyed or no longer writable (sendTo). */
export function socketGone(): CodedError<Error> {
  return coded(new Error('the socket is closed'), 'ERR_SOCKET_CLOSED')
}

export function directUnavailable(reason: string): CodedError<Error> {
  return coded(new Error(`O_DIRECT is not available: ${reason}`), 'ERR_IO_DIRECT_UNAVAILABLE')
}

/** An O_DIRECT operation whose buffer address, length or file offset is misaligned. */
export function misaligned(what: 'buffer address' | 'buffer length' | 'offset', value: number, alignment: number, path: string): CodedError<RangeError> {
  const shown = what === 'buffer address' ? `0x${value.toString(16)}` : String(value)
  return coded(
    new RangeError(`O_DIRECT on '${path}' needs the ${what} aligned to ${alignment} bytes; received ${shown}. Use buffers from io.pool, and offsets and lengths in multiples of ${alignment}`),
    'ERR_IO_ALIGNMENT',
  )
}

export function poolForeignBuffer(detail: string): CodedError<Error> {
  return coded(new Error(`io.pool.release() got a buffer the pool did not give out: ${detail}`), 'ERR_POOL_FOREIGN_BUFFER')
}

export function poolDoubleRelease(size: number): CodedError<Error> {
  return coded(new Error(`io.pool.release() got a ${size}-byte buffer that was already released; a buffer is released once per acquire()`), 'ERR_POOL_DOUBLE_RELEASE')
}

function describeValue(value: unknown): string {
  if (value === null) return 'null'
  if (value === undefined) return 'undefined'
  if (typeof value === 'function') return `function ${value.name || '<anonymous>'}`
  if (typeof value === 'object') {
    const name = (value as object).constructor?.name
    return name ? `an instance of ${name}` : 'an object'
  }
  if (typeof value === 'string') {
    const shown = value.length > 28 ? `${value.slice(0, 25)}...` : value
    return `type string ('${shown}')`
  }
  return `type ${typeof value} (${util.inspect(value)})`
}
