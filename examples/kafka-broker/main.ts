// `npm run broker -- --dir DIR [--port 9092] ...`: starts the broker, prints one line
// `listening on HOST:PORT` (and the metrics port) once clients can connect, and on
// SIGTERM or SIGINT stops accepting, answers what is in flight, flushes and closes the
// logs and the Io, then exits 0. A second signal while stopping exits at once (1).
import { startBroker } from './broker'
import { parseBrokerArgs, USAGE, UsageError } from './options'

function log(line: string): void {
  process.stderr.write(`${new Date().toISOString()} ${line}\n`)
}

async function main(): Promise<void> {
  let parsed: ReturnType<typeof parseBrokerArgs>
  try {
    parsed = parseBrokerArgs(process.argv.slice(2))
  } catch (err) {
    if (!(err instanceof UsageError)) throw err
    process.stderr.write(`kafka-broker: ${err.message}\n(--help lists the flags)\n`)
    process.exitCode = 2
    return
  }
  if (parsed.kind === 'help') {
    process.stdout.write(USAGE)
    return
  }
  const broker = await startBroker({ ...parsed.options, logger: log })
  const metrics = broker.metricsPort === null ? '' : ` metrics ${broker.host}:${broker.metricsPort}`
  process.stdout.write(`listening on ${broker.host}:${broker.port}${metrics}\n`)
  let stopping = false
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log(`${signal} again while stopping: exiting now`)
      process.exit(1)
    }
    stopping = true
    log(`${signal}: stopping (draining connections, flushing logs)`)
    broker.close().then(
      () => {
        log('stopped cleanly')
        process.exit(0)
      },
      (err: Error) => {
        log(`stopping failed: ${err.stack ?? err.message}`)
        process.exit(1)
      },
    )
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}

main().catch((err: Error & { code?: unknown }) => {
  // An error with a code (ERR_LOG_LOCKED, EADDRINUSE, ERR_IO_CONFIG …) says what is wrong
  // in its message; anything else is a bug, and its stack says where.
  log(`kafka-broker failed to start: ${typeof err.code === 'string' ? `${err.code}: ${err.message}` : (err.stack ?? err.message)}`)
  process.exit(1)
})
