import { DROP_REASONS } from "./drops.ts";
import { pairTableMemory, type PairTableMemory } from "./pair-table.ts";
import { peerTableMemory, type PeerTableMemory, UNLIMITED_PEERS } from "./peer-table.ts";

/** Per-worker totals, ahead of the drop counters in each worker's region of the stats buffer. */
export const TOTALS = [
  "helloRx",
  "ackTx",
  "appRx",
  "appTx",
  "uniteTx",
  "relayedBytes",
  "evicted",
  "udpPackets",
] as const;
export type Totals = Record<(typeof TOTALS)[number], number>;
export const T = Object.fromEntries(TOTALS.map((name, i) => [name, i])) as Record<(typeof TOTALS)[number], number>;
const STRIDE = TOTALS.length + DROP_REASONS.length;

/**
 * The memory every worker thread of one daemon shares: the peer table, the pair table and each
 * worker's counters (summed for /metrics). Structured-clonable, so it travels in workerData.
 */
export interface SharedState {
  readonly workers: number;
  readonly peers: PeerTableMemory;
  readonly pairs: PairTableMemory;
  readonly stats: SharedArrayBuffer;
}

export function sharedState(maxPeers: number, workers = 1): SharedState {
  const capacity = maxPeers > 0 ? maxPeers : UNLIMITED_PEERS;
  return {
    workers,
    peers: peerTableMemory(capacity, workers),
    pairs: pairTableMemory(capacity * 2),
    stats: new SharedArrayBuffer(workers * STRIDE * 8),
  };
}

/** Worker w's counters: totals (indexed by T) and drops (indexed by DROP_INDEX). */
export function statsOf(state: SharedState, worker: number): { totals: Float64Array; drops: Float64Array } {
  const base = worker * STRIDE * 8;
  return {
    totals: new Float64Array(state.stats, base, TOTALS.length),
    drops: new Float64Array(state.stats, base + TOTALS.length * 8, DROP_REASONS.length),
  };
}
