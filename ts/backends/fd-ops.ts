// node:fs operations on a raw file descriptor: the path a native file takes when its
// ring has failed (DESIGN.md §4: degrade per operation, nothing lost). The descriptor
// stays owned by the native file; these calls only borrow it. `step`: the most one
// read/write call moves (protocol().limits.maxTransferBytes; ts/backends/transfer.ts).
import fs from 'node:fs'
import { promisify } from 'node:util'
import { systemError, withPath } from '../errors'
import { allocateByZeroFill, readFull, writeFull } from './transfer'

const read = promisify(fs.read)
const write = promisify(fs.write)
const fsync = promisify(fs.fsync)
const fdatasync = promisify(fs.fdatasync)
const ftruncate = promisify(fs.ftruncate)
const fstat = promisify(fs.fstat)
const open = promisify(fs.open)
const close = promisify(fs.close)

const EISDIR = 21

export type FdOps = ReturnType<typeof fdOps>

export const fdOps = (step: number) => ({
  async open(path: string, flags: number, mode: number): Promise<number> {
    // libuv opens with O_CLOEXEC itself.
    const fd = await open(path, flags, mode)
    try {
      if ((await fstat(fd)).isDirectory()) throw systemError(EISDIR, 'open', path)
    } catch (err) {
      await close(fd).catch(() => {})
      throw withPath(err, path)
    }
    return fd
  },
  read(fd: number, buf: Uint8Array, position: number): Promise<number> {
    return readFull((b, o, l, p) => read(fd, b, o, l, p).then((r) => r.bytesRead), buf, position, step)
  },
  write(fd: number, buf: Uint8Array, position: number, path: string): Promise<void> {
    return writeFull((b, o, l, p) => write(fd, b, o, l, p).then((r) => r.bytesWritten), buf, position, path, step)
  },
  sync(fd: number, dataOnly: boolean): Promise<void> {
    return dataOnly ? fdatasync(fd) : fsync(fd)
  },
  async size(fd: number): Promise<number> {
    return (await fstat(fd)).size
  },
  allocate(fd: number, offset: number, len: number, path: string): Promise<void> {
    return allocateByZeroFill((b, o, l, p) => write(fd, b, o, l, p).then((r) => r.bytesWritten), async () => (await fstat(fd)).size, offset, len, path)
  },
  truncate(fd: number, len: number): Promise<void> {
    return ftruncate(fd, len)
  },
  close(fd: number): Promise<void> {
    return close(fd)
  },
})
