import { aegis256x2Open, aegis256x2Seal } from "../crypto/aegis256x2.ts";

export interface AegisBenchResult {
  name: string;
  size: number;
  op: "seal" | "open";
  opsPerSec: number;
  mbPerSec: number;
}

/** 74 bytes: the AD drasyl authenticates (long header bytes [5..79)). */
const AD_LEN = 74;
const SIZES = [16, 161, 1400];
const WARMUP_NS = 100_000_000n;
const MEASURE_NS = 500_000_000n;
/** Calls between clock reads, so hrtime itself stays out of the measurement. */
const BATCH = 64;

function timeLoop(op: () => void, budgetNs: bigint): { ops: number; ns: bigint } {
  const start = process.hrtime.bigint();
  let ops = 0;
  let now = start;
  while (now - start < budgetNs) {
    for (let i = 0; i < BATCH; i++) op();
    ops += BATCH;
    now = process.hrtime.bigint();
  }
  return { ops, ns: now - start };
}

function measure(op: () => void): number {
  timeLoop(op, WARMUP_NS);
  const { ops, ns } = timeLoop(op, MEASURE_NS);
  return (ops * 1e9) / Number(ns);
}

/** Seal and open throughput of AEGIS-256X2 at drasyl's typical packet sizes, 74-byte AD. */
export function benchAegis(): AegisBenchResult[] {
  // Lay it out like a packet in one buffer at an odd offset, as the super peer sees it.
  const buf = new Uint8Array(1 + 32 + 32 + AD_LEN + Math.max(...SIZES) + 16);
  for (let i = 0; i < buf.length; i++) buf[i] = (i * 131 + 7) & 0xff;
  const key = buf.subarray(1, 33);
  const nonce = buf.subarray(33, 65);
  const ad = buf.subarray(65, 65 + AD_LEN);
  const results: AegisBenchResult[] = [];

  for (const size of SIZES) {
    const msg = buf.subarray(65 + AD_LEN, 65 + AD_LEN + size);
    const tag = buf.subarray(msg.byteOffset + size, msg.byteOffset + size + 16);
    const seal = (): void => aegis256x2Seal(key, nonce, ad, msg, tag);
    const sealOps = measure(seal);

    // One valid packet, reopened over and over: a failed open would zero it and become unusable.
    const pristine = msg.slice();
    aegis256x2Seal(key, nonce, ad, pristine, tag);
    const open = (): void => {
      msg.set(pristine);
      if (!aegis256x2Open(key, nonce, ad, msg, tag)) throw new Error("AEGIS bench: open failed");
    };
    const openOps = measure(open);

    for (const [op, opsPerSec] of [
      ["seal", sealOps],
      ["open", openOps],
    ] as const) {
      results.push({
        name: `aegis256x2 ${op} ${size}B`,
        size,
        op,
        opsPerSec: Math.round(opsPerSec),
        mbPerSec: Math.round(((opsPerSec * size) / 1e6) * 100) / 100,
      });
    }
  }
  return results;
}
