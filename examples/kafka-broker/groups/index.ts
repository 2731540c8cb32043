// The broker's group side in one call: the durable state (offsets, producer ids), the
// coordinator over it, and the ApiSpecs of the group APIs for apis/table.ts.
import type { Io } from '../../../ts/index'
import type { ApiSpec, ProducerIdManager } from '../apis/api'
import { findCoordinatorApi } from '../apis/find-coordinator'
import { heartbeatApi } from '../apis/heartbeat'
import { initProducerIdApi } from '../apis/init-producer-id'
import { joinGroupApi } from '../apis/join-group'
import { leaveGroupApi } from '../apis/leave-group'
import { offsetCommitApi } from '../apis/offset-commit'
import { offsetFetchApi } from '../apis/offset-fetch'
import { syncGroupApi } from '../apis/sync-group'
import { openBrokerState, type BrokerState, type BrokerStateOptions } from '../state/store'
import { Coordinator, type CoordinatorOptions } from './coordinator'

export interface GroupsOptions extends CoordinatorOptions {
  readonly state?: Omit<BrokerStateOptions, 'logger'>
}

export interface Groups {
  readonly groups: Coordinator
  readonly producerIds: ProducerIdManager
  readonly state: BrokerState
  /** Answers waiting group requests (NOT_COORDINATOR), then flushes and closes the state WAL. */
  close(): Promise<void>
}

/** Opens `dir/@broker-state` (recovering it) and a coordinator over it. */
export async function openGroups(io: Io, dir: string, opts: GroupsOptions = {}): Promise<Groups> {
  const state = await openBrokerState(io, dir, { ...opts.state, logger: opts.logger })
  const groups = new Coordinator(state, opts)
  const producerIds: ProducerIdManager = { next: (transactionalId) => state.allocateProducerId(transactionalId) }
  let closing: Promise<void> | null = null
  return {
    groups,
    producerIds,
    state,
    close() {
      closing ??= groups.close().then(() => state.close())
      return closing
    },
  }
}

/** JoinGroup 0–5, SyncGroup 0–3, Heartbeat 0–3, LeaveGroup 0–3, OffsetCommit 0–7, OffsetFetch 0–5, FindCoordinator 0–2, InitProducerId 0–1. */
export const groupApis: readonly ApiSpec[] = [
  findCoordinatorApi,
  joinGroupApi,
  syncGroupApi,
  heartbeatApi,
  leaveGroupApi,
  offsetCommitApi,
  offsetFetchApi,
  initProducerIdApi,
]
