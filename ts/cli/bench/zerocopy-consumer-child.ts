// The consumer of Z1 (./zerocopy.ts), a process of its own so that its CPU is not the
// server's: connects to 127.0.0.1:PORT, reads into one reused 1 MiB buffer (no allocation
// per chunk), follows the framing (a 4-byte big-endian length, then that many bytes; a
// zero length ends a pass and is acked with one byte), and when the server ends the
// connection prints one JSON line: bytes received (lengths included), frames, and its
// own CPU in µs. A malformed frame (a negative length) is an error: exit 1.
import net from 'node:net'

const port = Number(process.argv[2])
// (net.connect refuses a port past the TCP range itself, with ERR_SOCKET_BAD_PORT.)
if (!Number.isInteger(port) || port <= 0) {
  process.stderr.write(`usage: zerocopy-consumer-child PORT (got ${JSON.stringify(process.argv[2])})\n`)
  process.exit(2)
}

let bytes = 0
let frames = 0
/** Body bytes still to come of the current frame; -1 while reading a length. */
let body = -1
const head = Buffer.alloc(4)
let headHave = 0
const ACK = Buffer.from([1])

function onChunk(buf: Buffer, n: number): void {
  bytes += n
  let at = 0
  while (at < n) {
    if (body > 0) {
      const take = Math.min(body, n - at)
      body -= take
      at += take
      if (body === 0) body = -1
      continue
    }
    const take = Math.min(4 - headHave, n - at)
    buf.copy(head, headHave, at, at + take)
    headHave += take
    at += take
    if (headHave < 4) continue
    headHave = 0
    const len = head.readInt32BE(0)
    if (len < 0) {
      process.stderr.write(`malformed frame: length ${len} after ${bytes - n + at} bytes\n`)
      process.exit(1)
    }
    frames++
    if (len === 0) sock.write(ACK)
    else body = len
  }
}

const sock = net.connect({
  port,
  host: '127.0.0.1',
  onread: {
    buffer: Buffer.allocUnsafe(1024 * 1024),
    callback: (n: number, buf: Buffer) => {
      onChunk(buf, n)
      return true
    },
  },
})
sock.on('error', (err) => {
  process.stderr.write(`${err.message}\n`)
  process.exit(1)
})
sock.on('end', () => {
  const cpu = process.cpuUsage()
  process.stdout.write(`${JSON.stringify({ bytes, frames, cpuUs: cpu.user + cpu.system })}\n`)
  sock.end()
})
