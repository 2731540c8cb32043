// A lane: asynchronous work run one piece at a time, in the order it was handed in. The
// WAL's and the partition log's writers put groups, rolls, truncations and syncs in one:
// they all use the active file, and none may start before the one before it settled.
export class Lane {
  private tail: Promise<void> = Promise.resolve()

  /** Runs `fn` once everything handed in before has settled; its outcome is the caller's. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn)
    // A failure belongs to the caller of that piece; the lane goes on.
    this.tail = run.then(
      () => {},
      () => {},
    )
    return run
  }

  /** Settles once everything handed in so far has. */
  idle(): Promise<void> {
    return this.tail
  }
}
