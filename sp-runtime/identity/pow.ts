import { hash } from "node:crypto";
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { bytesToHex } from "../util/hex.ts";

export const DEFAULT_POW_DIFFICULTY = 24;
const I32_MIN = -0x80000000;
const I32_SPAN = 0x1_0000_0000;

/** Leading zero bits of the first byte value 0..255. */
function clz8(b: number): number {
  return b === 0 ? 8 : Math.clz32(b) - 24;
}

/** Leading zero bits of SHA-256(hex(pk) + decimal(pow)), counted byte by byte as drasyl does. */
export function powLeadingZeroBits(publicKey: Uint8Array, pow: number): number {
  const h = hash("sha256", bytesToHex(publicKey) + String(pow | 0), "buffer");
  let bits = 0;
  for (let i = 0; i < h.length; i++) {
    const b = h[i] as number;
    bits += clz8(b);
    if (b !== 0) break;
  }
  return bits;
}

export function isValidPow(publicKey: Uint8Array, pow: number, difficulty: number): boolean {
  return powLeadingZeroBits(publicKey, pow) >= difficulty;
}

/*
 * The search loop runs in eval'd workers so it works the same from sources, under vitest and from
 * the single-file bundle, where there is no separate worker file to point at. It counts zero bits
 * on the hex digest, which avoids a Buffer per attempt.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { hash } = require("node:crypto");
const { pkHex, difficulty, from, to } = workerData;
const full = difficulty >> 2, rest = difficulty & 3;
outer: for (let pow = from; pow < to; pow++) {
  const h = hash("sha256", pkHex + pow, "hex");
  for (let i = 0; i < full; i++) if (h.charCodeAt(i) !== 48) continue outer;
  if (rest !== 0 && (parseInt(h[full], 16) >> (4 - rest)) !== 0) continue;
  parentPort.postMessage(pow);
  process.exit(0);
}
parentPort.postMessage(null);
`;

export interface PowSearchOptions {
  difficulty?: number;
  workers?: number;
  signal?: AbortSignal;
}

/** Finds a proof of work on every core; resolves with a valid i32. */
export async function generatePow(publicKey: Uint8Array, options: PowSearchOptions = {}): Promise<number> {
  const difficulty = options.difficulty ?? DEFAULT_POW_DIFFICULTY;
  if (!Number.isInteger(difficulty) || difficulty < 0 || difficulty > 64) {
    throw new RangeError(`proof-of-work difficulty must be an integer 0..64, got ${difficulty}`);
  }
  const n = Math.max(1, options.workers ?? availableParallelism());
  const pkHex = bytesToHex(publicKey);
  const slice = Math.ceil(I32_SPAN / n);
  const workers: Worker[] = [];
  try {
    return await new Promise<number>((resolve, reject) => {
      let exhausted = 0;
      const onAbort = (): void => reject(options.signal?.reason ?? new Error("proof-of-work search aborted"));
      if (options.signal?.aborted) return onAbort();
      options.signal?.addEventListener("abort", onAbort, { once: true });
      for (let k = 0; k < n; k++) {
        const from = I32_MIN + k * slice;
        const to = Math.min(I32_MIN + (k + 1) * slice, I32_MIN + I32_SPAN);
        const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { pkHex, difficulty, from, to } });
        workers.push(w);
        w.on("message", (pow: number | null) => {
          if (pow !== null) resolve(pow);
          else if (++exhausted === n)
            reject(new Error(`no proof of work at difficulty ${difficulty} exists for this key`));
        });
        w.on("error", reject);
      }
    });
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
