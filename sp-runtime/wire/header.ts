import {
  FLAG_ARMED,
  HEADER_LEN,
  MAGIC,
  type MessageType,
  OFF_FLAGS,
  OFF_HOP_COUNT,
  OFF_NETWORK_ID,
  OFF_POW,
  OFF_RECIPIENT,
  OFF_SENDER,
  OFF_TYPE,
} from "./constants.ts";
import { accept, type Rejection, type Result, reject } from "./result.ts";

export interface LongHeader {
  hopCount: number;
  armed: boolean;
  networkId: number;
  recipient: Uint8Array;
  sender: Uint8Array;
  pow: number;
  type: MessageType;
}

export function readU32(buf: Uint8Array, off: number): number {
  return (
    (((buf[off] as number) << 24) |
      ((buf[off + 1] as number) << 16) |
      ((buf[off + 2] as number) << 8) |
      (buf[off + 3] as number)) >>>
    0
  );
}

export function readI32(buf: Uint8Array, off: number): number {
  return readU32(buf, off) | 0;
}

export function writeU32(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v >>> 24;
  buf[off + 1] = v >>> 16;
  buf[off + 2] = v >>> 8;
  buf[off + 3] = v;
}

/** The three checks of LongHeader::parse, without building anything: the hot path's first gate. */
export function checkHeader(pkt: Uint8Array): Rejection | undefined {
  if (pkt.length < HEADER_LEN) return "too_short";
  if (readU32(pkt, 0) !== MAGIC) return "magic_invalid";
  if ((pkt[OFF_TYPE] as number) > 3) return "type_invalid";
  return undefined;
}

/** Views into `pkt`, not copies: valid only while the packet buffer is. */
export function parseHeader(pkt: Uint8Array): Result<LongHeader> {
  const bad = checkHeader(pkt);
  if (bad !== undefined) return reject(bad);
  return accept({
    hopCount: pkt[OFF_HOP_COUNT] as number,
    armed: ((pkt[OFF_FLAGS] as number) & FLAG_ARMED) !== 0,
    networkId: readI32(pkt, OFF_NETWORK_ID),
    recipient: pkt.subarray(OFF_RECIPIENT, OFF_RECIPIENT + 32),
    sender: pkt.subarray(OFF_SENDER, OFF_SENDER + 32),
    pow: readI32(pkt, OFF_POW),
    type: pkt[OFF_TYPE] as MessageType,
  });
}

export function writeHeader(pkt: Uint8Array, h: LongHeader): void {
  if (h.recipient.length !== 32 || h.sender.length !== 32)
    throw new RangeError("recipient and sender must be 32-byte public keys");
  writeU32(pkt, 0, MAGIC);
  pkt[OFF_HOP_COUNT] = h.hopCount;
  pkt[OFF_FLAGS] = h.armed ? FLAG_ARMED : 0;
  writeU32(pkt, OFF_NETWORK_ID, h.networkId);
  pkt.set(h.recipient, OFF_RECIPIENT);
  pkt.set(h.sender, OFF_SENDER);
  writeU32(pkt, OFF_POW, h.pow);
  pkt[OFF_TYPE] = h.type;
}
