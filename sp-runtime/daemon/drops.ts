import { REJECTIONS } from "../wire/result.ts";

/**
 * Every reason a packet can be refused or not delivered. Indexes into a Float64Array, so counting
 * on the packet path is one array increment instead of a labelled-metric lookup.
 */
export const DROP_REASONS = [
  ...REJECTIONS,
  "network_id_invalid",
  "message_unarmed",
  "message_armed",
  "capacity_exceeded",
  "pow_invalid",
  "public_key_invalid",
  "message_type_unexpected",
  "hello_too_old",
  "hello_in_future",
  "loopback_forwarding",
  "hop_limit_exceeded",
  "recipient_unknown",
  "recipient_no_hello",
  "recipient_unreachable",
  "udp_payload_too_large",
  "tcp_frame_too_large",
  "tcp_backpressure",
  "tcp_connection_limit",
  "send_failed",
] as const;
export type DropReason = (typeof DROP_REASONS)[number];

export const DROP_INDEX = Object.fromEntries(DROP_REASONS.map((r, i) => [r, i])) as Record<DropReason, number>;

/** Counts into this worker's counters; reads sum every worker's. */
export class DropCounters {
  readonly counts: Float64Array;
  private readonly all: Float64Array[];

  constructor(all: Float64Array[] = [new Float64Array(DROP_REASONS.length)], worker = 0) {
    this.all = all;
    this.counts = all[worker] as Float64Array;
  }

  add(reason: DropReason): void {
    this.counts[DROP_INDEX[reason]] = (this.counts[DROP_INDEX[reason]] as number) + 1;
  }

  get(reason: DropReason): number {
    let n = 0;
    for (const c of this.all) n += c[DROP_INDEX[reason]] as number;
    return n;
  }

  total(): number {
    let t = 0;
    for (const counts of this.all) for (const c of counts) t += c;
    return t;
  }
}
