// What the commands that inspect a directory share (wal dump/verify, log dump/verify): the
// directory checked up front as a usage mistake, and an Io opened from the CLI's config
// for the command's length.
import fs from 'node:fs'
import { openIo } from '../io'
import type { Io } from '../types'
import { UsageError } from './args'
import type { CliContext } from './main'

/** A missing path or a file is the user's mistake (exit 2), not a failure. */
export function checkDir(dir: string): void {
  let st: fs.Stats
  try {
    st = fs.statSync(dir)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new UsageError(`no such directory: ${dir}`)
    throw err
  }
  if (!st.isDirectory()) throw new UsageError(`not a directory: ${dir}`)
}

/** Runs `fn` with an Io of the CLI's config, closed afterwards. */
export async function withIo<T>(ctx: CliContext, fn: (io: Io) => Promise<T>): Promise<T> {
  const io = await openIo(ctx.config)
  try {
    return await fn(io)
  } finally {
    await io.close()
  }
}
