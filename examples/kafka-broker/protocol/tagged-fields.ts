// Tagged-field sections of flexible versions (KIP-482): UNSIGNED_VARINT count, then per
// field an UNSIGNED_VARINT tag, an UNSIGNED_VARINT size and that many bytes. We define no
// tagged fields, so reading skips them all (unknown tags are to be ignored) and writing
// writes an empty section.
import { take, type ByteSink, type ByteSource } from './cursor'
import { ProtocolError } from './types'
import { readUvarint, writeUvarint } from './varints'

export function skipTaggedFields(src: ByteSource): void {
  const count = readUvarint(src)
  if (count > src.end - src.pos) throw new ProtocolError(`a tagged-field section claims ${count} fields with ${src.end - src.pos} bytes left`)
  let previousTag = -1
  for (let i = 0; i < count; i++) {
    const tag = readUvarint(src)
    // KIP-482: tags are written in ascending order, each at most once.
    if (tag <= previousTag) throw new ProtocolError(`tagged field ${tag} follows tag ${previousTag} (tags must ascend)`)
    previousTag = tag
    take(src, readUvarint(src), `tagged field ${tag}`)
  }
}

export function writeEmptyTaggedFields(sink: ByteSink): void {
  writeUvarint(sink, 0)
}
