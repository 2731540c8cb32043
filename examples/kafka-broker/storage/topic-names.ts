// Topic names as Kafka validates them (clients/.../common/internals/Topic.java): 1–249
// characters of [a-zA-Z0-9._-], not "." or "..". That alphabet has no path separator,
// and the two dot names are refused, so `<dir>/<topic>-<partition>` never leaves --dir.

export const MAX_TOPIC_NAME_LENGTH = 249
const LEGAL = /^[a-zA-Z0-9._-]+$/

/** A topic name Kafka would refuse (INVALID_TOPIC_EXCEPTION on the wire). */
export class TopicNameError extends Error {
  override readonly name = 'TopicNameError'
  readonly code = 'ERR_INVALID_TOPIC_NAME'
}

/** Why `name` is not a legal topic name, or null when it is. */
export function topicNameProblem(name: string): string | null {
  if (name.length === 0) return 'a topic name is empty'
  if (name === '.' || name === '..') return `topic name ${JSON.stringify(name)} is not allowed`
  if (name.length > MAX_TOPIC_NAME_LENGTH) return `topic name is ${name.length} characters, over ${MAX_TOPIC_NAME_LENGTH}`
  if (!LEGAL.test(name)) return `topic name ${JSON.stringify(name)} has characters outside [a-zA-Z0-9._-]`
  return null
}

export function checkTopicName(name: string): void {
  const problem = topicNameProblem(name)
  if (problem !== null) throw new TopicNameError(problem)
}

/** `<topic>-<partition>`: Kafka's own directory layout. */
export function partitionDirName(topic: string, partition: number): string {
  return `${topic}-${partition}`
}

/** The topic and partition of a directory name, or null when it is not a partition dir. */
export function parsePartitionDirName(name: string): { topic: string; partition: number } | null {
  const m = /^(.+)-(0|[1-9][0-9]{0,8})$/.exec(name)
  if (m === null || topicNameProblem(m[1]) !== null) return null
  return { topic: m[1], partition: Number(m[2]) }
}
