import { describe, it, expect } from "vitest";
import {
  AEGIS_KEY_LEN,
  AEGIS_NONCE_LEN,
  AEGIS_TAG_LEN,
  aegis256x2InitialState,
  aegis256x2Open,
  aegis256x2Seal,
  aesRound,
} from "../sp-runtime/crypto/aegis256x2.ts";
import { loadVector } from "./support/vectors.ts";

interface AesRoundVector {
  in: string;
  rk: string;
  out: string;
}
interface ExtraVector {
  key: string;
  nonce: string;
  ad: string;
  msg: string;
  ct: string;
  tag128: string;
}

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, "hex"));
const toHex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.length).toString("hex");

const aesVectors = loadVector<AesRoundVector[]>("aesround-draft.json");
const draft = loadVector<Record<string, string>[]>("aegis-256x2-draft.json");
const extra = loadVector<{ vectors: ExtraVector[] }>("aegis-256x2-extra.json").vectors;

function draftVector(name: string): Record<string, string> {
  const v = draft.find((d) => d.name === name);
  if (!v) throw new Error(`draft vector ${name} missing`);
  return v;
}

function field(v: Record<string, string>, k: string): string {
  const s = v[k];
  if (s === undefined) throw new Error(`vector field ${k} missing`);
  return s;
}

function seal(
  key: Uint8Array,
  nonce: Uint8Array,
  ad: Uint8Array,
  msg: Uint8Array,
): { ct: Uint8Array; tag: Uint8Array } {
  const ct = msg.slice();
  const tag = new Uint8Array(AEGIS_TAG_LEN);
  aegis256x2Seal(key, nonce, ad, ct, tag);
  return { ct, tag };
}

describe("AESRound", () => {
  it("matches the draft vector", () => {
    for (const v of aesVectors) expect(toHex(aesRound(hex(v.in), hex(v.rk)))).toBe(v.out);
  });
});

describe("AEGIS-256X2 draft vectors", () => {
  it("initial state", () => {
    const init = draftVector("Initial State");
    const after = draftVector("Initial State (after initialization)");
    const blocks = aegis256x2InitialState(hex(field(init, "key")), hex(field(init, "nonce")));
    expect(blocks).toHaveLength(12);
    const expected: string[] = [];
    for (let v = 0; v < 6; v++) for (let lane = 0; lane < 2; lane++) expected.push(field(after, `V[${v},${lane}]`));
    expect(blocks.map(toHex)).toEqual(expected);
  });

  for (const name of ["Test Vector 1", "Test Vector 2"]) {
    it(`${name}: seal and open`, () => {
      const v = draftVector(name);
      const key = hex(field(v, "key")),
        nonce = hex(field(v, "nonce")),
        ad = hex(field(v, "ad"));
      const { ct, tag } = seal(key, nonce, ad, hex(field(v, "msg")));
      expect(toHex(ct)).toBe(field(v, "ct"));
      expect(toHex(tag)).toBe(field(v, "tag128"));
      expect(aegis256x2Open(key, nonce, ad, ct, tag)).toBe(true);
      expect(toHex(ct)).toBe(field(v, "msg"));
    });
  }
});

describe("AEGIS-256X2 extra vectors", () => {
  it("has vectors to check", () => {
    expect(extra.length).toBeGreaterThan(300);
  });

  for (const [i, v] of extra.entries()) {
    const label = `#${i} ad=${v.ad.length / 2} msg=${v.msg.length / 2}`;
    const key = hex(v.key),
      nonce = hex(v.nonce),
      ad = hex(v.ad),
      msg = hex(v.msg);

    it(`${label}: seal, open, reject tampering`, () => {
      const { ct, tag } = seal(key, nonce, ad, msg);
      expect(toHex(ct)).toBe(v.ct);
      expect(toHex(tag)).toBe(v.tag128);

      const opened = hex(v.ct);
      expect(aegis256x2Open(key, nonce, ad, opened, hex(v.tag128))).toBe(true);
      expect(toHex(opened)).toBe(v.msg);

      const rejects = (ctIn: Uint8Array, tagIn: Uint8Array, adIn: Uint8Array): void => {
        expect(aegis256x2Open(key, nonce, adIn, ctIn, tagIn)).toBe(false);
        expect(ctIn.every((b) => b === 0)).toBe(true);
      };
      if (msg.length > 0) {
        const bad = hex(v.ct);
        bad[(i * 7) % bad.length]! ^= 1 << (i % 8);
        rejects(bad, hex(v.tag128), ad);
      }
      const badTag = hex(v.tag128);
      badTag[i % AEGIS_TAG_LEN]! ^= 0x80 >>> (i % 8);
      rejects(hex(v.ct), badTag, ad);
      if (ad.length > 0) {
        const badAd = ad.slice();
        badAd[(i * 3) % badAd.length]! ^= 1 << ((i + 3) % 8);
        rejects(hex(v.ct), hex(v.tag128), badAd);
      }
    });
  }
});

describe("AEGIS-256X2 buffers and arguments", () => {
  // Unaligned views of one buffer, laid out like a packet: [pad][key][nonce][ad][msg][tag].
  function views(base: Uint8Array, shift: number, adLen: number, msgLen: number) {
    let o = shift;
    const take = (n: number): Uint8Array => {
      const view = base.subarray(o, o + n);
      o += n;
      return view;
    };
    return { key: take(32), nonce: take(32), ad: take(adLen), msg: take(msgLen), tag: take(16) };
  }

  const cases = extra.filter((v) => [0, 1, 15, 16, 17, 31, 32, 33, 63, 98, 161, 1393].includes(v.msg.length / 2));

  it("works in place on unaligned subarray views", () => {
    expect(cases.length).toBeGreaterThan(10);
    for (const v of cases) {
      for (const shift of [1, 2, 3, 5]) {
        const adLen = v.ad.length / 2,
          msgLen = v.msg.length / 2;
        const base = new Uint8Array(shift + 32 + 32 + adLen + msgLen + 16 + 7).fill(0xa5);
        const w = views(base, shift, adLen, msgLen);
        w.key.set(hex(v.key));
        w.nonce.set(hex(v.nonce));
        w.ad.set(hex(v.ad));
        w.msg.set(hex(v.msg));
        const before = base.slice();
        aegis256x2Seal(w.key, w.nonce, w.ad, w.msg, w.tag);
        expect(toHex(w.msg)).toBe(v.ct);
        expect(toHex(w.tag)).toBe(v.tag128);
        // Nothing outside the ciphertext and tag views may change.
        const tagEnd = w.tag.byteOffset + 16;
        expect(toHex(base.subarray(0, w.msg.byteOffset))).toBe(toHex(before.subarray(0, w.msg.byteOffset)));
        expect(toHex(base.subarray(tagEnd))).toBe(toHex(before.subarray(tagEnd)));

        expect(aegis256x2Open(w.key, w.nonce, w.ad, w.msg, w.tag)).toBe(true);
        expect(toHex(w.msg)).toBe(v.msg);
        expect(toHex(w.tag)).toBe(v.tag128);
      }
    }
  });

  it("accepts Buffer slices from Node's pool", () => {
    const v = cases[cases.length - 1]!;
    const key = Buffer.from(v.key, "hex"),
      nonce = Buffer.from(v.nonce, "hex");
    const ad = Buffer.from(v.ad, "hex"),
      msg = Buffer.from(v.msg, "hex");
    const tag = Buffer.alloc(16);
    aegis256x2Seal(key, nonce, ad, msg, tag);
    expect(msg.toString("hex")).toBe(v.ct);
    expect(tag.toString("hex")).toBe(v.tag128);
  });

  it("gives the same result on repeated and interleaved calls (no state leaks between calls)", () => {
    const a = extra[extra.length - 1]!,
      b = extra[3]!;
    for (let round = 0; round < 3; round++) {
      for (const v of [a, b]) {
        const { ct, tag } = seal(hex(v.key), hex(v.nonce), hex(v.ad), hex(v.msg));
        expect(toHex(ct)).toBe(v.ct);
        expect(toHex(tag)).toBe(v.tag128);
      }
    }
  });

  it("round-trips random inputs of many lengths", () => {
    const key = new Uint8Array(32).map((_, i) => i * 13 + 1),
      nonce = new Uint8Array(32).map((_, i) => i * 29 + 7);
    for (let len = 0; len < 200; len++) {
      const ad = new Uint8Array(len % 80).map((_, i) => i ^ len);
      const msg = new Uint8Array(len).map((_, i) => (i * 31 + len) & 0xff);
      const { ct, tag } = seal(key, nonce, ad, msg);
      expect(aegis256x2Open(key, nonce, ad, ct, tag)).toBe(true);
      expect(toHex(ct)).toBe(toHex(msg));
    }
  });

  it("throws RangeError on wrong key, nonce or tag length", () => {
    const k = new Uint8Array(AEGIS_KEY_LEN),
      n = new Uint8Array(AEGIS_NONCE_LEN),
      none = new Uint8Array(0);
    const tag = new Uint8Array(AEGIS_TAG_LEN);
    for (const bad of [0, 16, 31, 33, 64]) {
      const x = new Uint8Array(bad);
      expect(() => aegis256x2Seal(x, n, none, new Uint8Array(4), tag)).toThrow(RangeError);
      expect(() => aegis256x2Seal(k, x, none, new Uint8Array(4), tag)).toThrow(RangeError);
      expect(() => aegis256x2Open(x, n, none, new Uint8Array(4), tag)).toThrow(RangeError);
      expect(() => aegis256x2Open(k, x, none, new Uint8Array(4), tag)).toThrow(RangeError);
      expect(() => aegis256x2InitialState(x, n)).toThrow(RangeError);
      expect(() => aegis256x2InitialState(k, x)).toThrow(RangeError);
    }
    expect(() => aegis256x2Seal(k, n, none, new Uint8Array(4), new Uint8Array(15))).toThrow(RangeError);
    expect(() => aegis256x2Open(k, n, none, new Uint8Array(4), new Uint8Array(15))).toThrow(RangeError);
    expect(() => aegis256x2Open(k, n, none, new Uint8Array(4), new Uint8Array(17))).toThrow(RangeError);
  });

  it("leaves the message untouched when a length check throws", () => {
    const msg = Uint8Array.of(1, 2, 3, 4);
    expect(() =>
      aegis256x2Seal(new Uint8Array(31), new Uint8Array(32), new Uint8Array(0), msg, new Uint8Array(16)),
    ).toThrow(RangeError);
    expect(Array.from(msg)).toEqual([1, 2, 3, 4]);
  });
});
