/** Strict hex codecs: Buffer.from(hex) silently stops at the first bad character, which would turn a typo in a key into a different key. */

export class HexError extends Error {
  override readonly name = "HexError";
}

const NIBBLE = new Int8Array(256).fill(-1);
for (let i = 0; i < 10; i++) NIBBLE[0x30 + i] = i;
for (let i = 0; i < 6; i++) {
  NIBBLE[0x41 + i] = 10 + i;
  NIBBLE[0x61 + i] = 10 + i;
}

export function hexToBytes(hex: string, expectedLength?: number): Uint8Array {
  if (hex.length % 2 !== 0) throw new HexError(`hex string has odd length ${hex.length}`);
  const n = hex.length / 2;
  if (expectedLength !== undefined && n !== expectedLength) {
    throw new HexError(`expected ${expectedLength * 2} hex characters, got ${hex.length}`);
  }
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const hi = NIBBLE[hex.charCodeAt(2 * i) & 0xff] ?? -1;
    const lo = NIBBLE[hex.charCodeAt(2 * i + 1) & 0xff] ?? -1;
    if (hi < 0 || lo < 0 || hex.charCodeAt(2 * i) > 0xff || hex.charCodeAt(2 * i + 1) > 0xff) {
      throw new HexError(`invalid hex character at position ${hi < 0 ? 2 * i : 2 * i + 1}`);
    }
    out[i] = (hi << 4) | lo;
  }
  return out;
}

export function bytesToHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Lexicographic byte order, as the Rust code compares keys. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}
