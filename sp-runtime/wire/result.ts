/**
 * Why a packet was refused. The values double as metric labels, so they are stable snake_case.
 * Decoders return these instead of throwing: a flood of garbage must cost no stack traces.
 */
export const REJECTIONS = [
  "too_short",
  "magic_invalid",
  "type_invalid",
  "arm_too_short",
  "tag_invalid",
  "no_session_key",
  "armed_mismatch",
  "body_too_short",
  "child_time_invalid",
  "endpoints_invalid",
  "oversized",
] as const;
export type Rejection = (typeof REJECTIONS)[number];

export interface Rejected {
  readonly ok: false;
  readonly reason: Rejection;
}
export interface Accepted<T> {
  readonly ok: true;
  readonly value: T;
}
export type Result<T> = Accepted<T> | Rejected;

const REJECTED = Object.fromEntries(REJECTIONS.map((r) => [r, Object.freeze({ ok: false, reason: r })])) as Record<
  Rejection,
  Rejected
>;

/** Shared frozen objects, so rejecting allocates nothing. */
export function reject(reason: Rejection): Rejected {
  return REJECTED[reason];
}

export function accept<T>(value: T): Accepted<T> {
  return { ok: true, value };
}
