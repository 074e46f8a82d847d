import { randomFillSync } from "node:crypto";
import { aegis256x2Open, aegis256x2OpenAt, aegis256x2Seal, aegis256x2SealAt } from "../crypto/aegis256x2.ts";
import { AD_START, ARM_HEADER_LEN, FLAG_ARMED, HEADER_LEN, OFF_FLAGS, RANDOM_LEN, TAG_LEN } from "./constants.ts";
import { accept, type Result, reject } from "./result.ts";

const R_START = HEADER_LEN;
const TAG_START = HEADER_LEN + RANDOM_LEN;
const BODY_START = HEADER_LEN + ARM_HEADER_LEN;

/**
 * Seals pkt[127..] in place. drasyl passes (random, session key) to an API that takes (key, nonce),
 * so in AEGIS terms the key is the random R sent in clear and the nonce is the secret tx key
 * (protocol.md s0.3); doing it "right" would not interoperate.
 */
export function armPacket(pkt: Uint8Array, txKey: Uint8Array, random?: Uint8Array): void {
  if (pkt.length < BODY_START) throw new RangeError("packet too short to arm");
  pkt[OFF_FLAGS] = (pkt[OFF_FLAGS] as number) | FLAG_ARMED;
  const r = pkt.subarray(R_START, TAG_START);
  if (random) r.set(random);
  else randomFillSync(r);
  aegis256x2Seal(
    r,
    txKey,
    pkt.subarray(AD_START, HEADER_LEN),
    pkt.subarray(BODY_START),
    pkt.subarray(TAG_START, BODY_START),
  );
}

/** Opens pkt in place and returns the plaintext body as a view; on failure the body is zeroed. */
export function disarmPacket(pkt: Uint8Array, rxKey: Uint8Array): Result<Uint8Array> {
  if (pkt.length < BODY_START) return reject("arm_too_short");
  const ok = aegis256x2Open(
    pkt.subarray(R_START, TAG_START),
    rxKey,
    pkt.subarray(AD_START, HEADER_LEN),
    pkt.subarray(BODY_START),
    pkt.subarray(TAG_START, TAG_START + TAG_LEN),
  );
  return ok ? accept(pkt.subarray(BODY_START)) : reject("tag_invalid");
}

/**
 * armPacket for the packet path, allocation-free: the tx key is `keys[keyOff, +32)` (a slot of a
 * key table) and R is copied from `random[randomOff, +32)`.
 */
export function armPacketAt(
  pkt: Uint8Array,
  keys: Uint8Array,
  keyOff: number,
  random: Uint8Array,
  randomOff: number,
): void {
  if (pkt.length < BODY_START) throw new RangeError("packet too short to arm");
  pkt[OFF_FLAGS] = (pkt[OFF_FLAGS] as number) | FLAG_ARMED;
  for (let i = 0; i < RANDOM_LEN; i++) pkt[R_START + i] = random[randomOff + i] as number;
  aegis256x2SealAt(
    pkt,
    R_START,
    keys,
    keyOff,
    AD_START,
    HEADER_LEN - AD_START,
    BODY_START,
    pkt.length - BODY_START,
    TAG_START,
  );
}

/** disarmPacket for the packet path: the rx key is `keys[keyOff, +32)`; the body is pkt[ARMED_BODY_START..]. */
export function disarmPacketAt(
  pkt: Uint8Array,
  keys: Uint8Array,
  keyOff: number,
): "arm_too_short" | "tag_invalid" | undefined {
  if (pkt.length < BODY_START) return "arm_too_short";
  return aegis256x2OpenAt(
    pkt,
    R_START,
    keys,
    keyOff,
    AD_START,
    HEADER_LEN - AD_START,
    BODY_START,
    pkt.length - BODY_START,
    TAG_START,
  )
    ? undefined
    : "tag_invalid";
}

export { BODY_START as ARMED_BODY_START };
