// The state WAL's own errors: a record this build cannot read is refused with a code
// and where it sits, never skipped — skipping would silently drop committed offsets.

export type BrokerStateErrorCode = 'ERR_BROKER_STATE_CORRUPT' | 'ERR_BROKER_STATE_VERSION' | 'ERR_BROKER_STATE_CLOSED'

export class BrokerStateError extends Error {
  override readonly name = 'BrokerStateError'
  constructor(
    readonly code: BrokerStateErrorCode,
    message: string,
  ) {
    super(message)
  }
}
