/**
 * AEGIS-256X2 (two lanes, 128-bit tag) as in draft-irtf-cfrg-aegis-aead-18, which is what drasyl's
 * `aegis` 0.9.0 crate (libaegis) computes (the drasyl protocol description, §6 on crypto).
 *
 * Design notes (the numbers are from sp-runtime/bench/aegis.ts on Node 20 / V8 11.3):
 * - The two lanes never exchange data: lane i only ever sees bytes [32b + 16i, 32b + 16i + 16) of
 *   every padded AD / message block, and they only meet when the tag is XORed together. So each
 *   lane runs on its own, start to finish: that halves the live state (24 words instead of 48),
 *   which means less spilling, and one copy of the Update code serves init, AD, message and
 *   finalization.
 * - A 128-bit block is four little-endian 32-bit words (word j = bytes 4j..4j+3 = AES column j),
 *   and AESRound is the classic four-T-table formulation.
 * - Update is written out by hand instead of calling a per-column helper 24 times: TurboFan's
 *   cumulative inlining budget runs out long before that, and the calls made it ~1.8x slower.
 * - Tables and state are Int32Array, not Uint32Array: every value then fits a V8 int32, so nothing
 *   is ever converted to a double (about 18% faster).
 * - Everything on the seal/open path works on module-level scratch memory: no allocation per call.
 *   That is safe because an isolate runs one call at a time and nothing here awaits or calls out.
 * - T-table lookups are indexed by secret data, so this is not cache-timing constant time (no
 *   table-based AES in JS is). The tag comparison is constant time.
 */

export const AEGIS_KEY_LEN = 32;
export const AEGIS_NONCE_LEN = 32;
export const AEGIS_TAG_LEN = 16;

/** Block offsets are computed in int32 arithmetic; far above any packet size. */
const MAX_INPUT_LEN = 2 ** 30;

// ---------------------------------------------------------------------------------------------
// AES tables, derived at load time rather than pasted, so there is nothing to mistype.

const SBOX = new Uint8Array(256);
const T0 = new Int32Array(256);
const T1 = new Int32Array(256);
const T2 = new Int32Array(256);
const T3 = new Int32Array(256);

function xtime(x: number): number {
  return ((x << 1) ^ ((x >>> 7) * 0x1b)) & 0xff;
}

(function buildTables(): void {
  // Walk the multiplicative group with generator 3: p runs over 3^k and q over its inverse 3^-k,
  // which gives each byte's GF(2^8) inverse without a log table.
  let p = 1;
  let q = 1;
  do {
    p ^= xtime(p);
    q ^= q << 1;
    q ^= q << 2;
    q ^= q << 4;
    q &= 0xff;
    if (q & 0x80) q ^= 0x09;
    const x = q ^ rotl8(q, 1) ^ rotl8(q, 2) ^ rotl8(q, 3) ^ rotl8(q, 4);
    SBOX[p] = x ^ 0x63;
  } while (p !== 1);
  SBOX[0] = 0x63;

  for (let i = 0; i < 256; i++) {
    const s = SBOX[i]!;
    const s2 = xtime(s);
    const s3 = s2 ^ s;
    // Byte r of T0[x] is row r of MixColumns applied to the column (S[x], 0, 0, 0): 2,1,1,3.
    const t = s2 | (s << 8) | (s << 16) | (s3 << 24);
    T0[i] = t;
    T1[i] = (t << 8) | (t >>> 24);
    T2[i] = (t << 16) | (t >>> 16);
    T3[i] = (t << 24) | (t >>> 8);
  }
})();

function rotl8(x: number, n: number): number {
  return ((x << n) | (x >>> (8 - n))) & 0xff;
}

/**
 * Output column of AESRound: ShiftRows makes row r of column c come from column c + r, so the
 * caller passes the input columns rotated (a = c, b = c+1, c = c+2, d = c+3).
 */
function rw(a: number, b: number, c: number, d: number, k: number): number {
  return T0[a & 0xff]! ^ T1[(b >>> 8) & 0xff]! ^ T2[(c >>> 16) & 0xff]! ^ T3[d >>> 24]! ^ k;
}

function ld(b: Uint8Array, o: number): number {
  return b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24);
}

function st(b: Uint8Array, o: number, w: number): void {
  b[o] = w;
  b[o + 1] = w >>> 8;
  b[o + 2] = w >>> 16;
  b[o + 3] = w >>> 24;
}

// ---------------------------------------------------------------------------------------------
// Scratch memory shared by all calls (see the design notes).

const C0 = Uint8Array.of(
  0x00,
  0x01,
  0x01,
  0x02,
  0x03,
  0x05,
  0x08,
  0x0d,
  0x15,
  0x22,
  0x37,
  0x59,
  0x90,
  0xe9,
  0x79,
  0x62,
);
const C1 = Uint8Array.of(
  0xdb,
  0x3d,
  0x18,
  0x55,
  0x6d,
  0xc2,
  0x2f,
  0xf1,
  0x20,
  0x11,
  0x31,
  0x42,
  0x73,
  0xb5,
  0x28,
  0xdd,
);
const C0W = Int32Array.of(ld(C0, 0), ld(C0, 4), ld(C0, 8), ld(C0, 12));
const C1W = Int32Array.of(ld(C1, 0), ld(C1, 4), ld(C1, 8), ld(C1, 12));

/** The four Init inputs k0, k1, k0^n0, k1^n1, four words each; shared by both lanes. */
const INIT = new Int32Array(16);
/** State of each lane after its run: lane-major, then V0..V5, then word. */
const STATE = new Int32Array(48);
/** One lane's share of a padded final block. */
const PAD = new Uint8Array(16);
/** Keystream words for cryptChunk, and the words Update has to absorb next. */
const Z = new Int32Array(4);
const M = new Int32Array(4);
const TAG = new Uint8Array(16);

const MODE_INIT_ONLY = 0;
const MODE_SEAL = 1;
const MODE_OPEN = 2;

/** Keeps the low `n` bytes of a word (all of it for n >= 4, none for n <= 0). */
function keepBytes(w: number, n: number): number {
  return n >= 4 ? w : n <= 0 ? 0 : w & ((1 << (n << 3)) - 1);
}

/** Loads the lane chunk `buf[off, off+16)` into M, zero-padded past `end`. */
function loadChunk(buf: Uint8Array, off: number, end: number): void {
  let src = buf;
  const avail = end - off;
  if (avail < 16) {
    for (let i = 0; i < 16; i++) PAD[i] = i < avail ? buf[off + i]! : 0;
    src = PAD;
    off = 0;
  }
  for (let j = 0; j < 4; j++) M[j] = ld(src, off + (j << 2));
}

/**
 * XORs the keystream in Z into the lane chunk `buf[off, off+16)` in place, writing nothing at or
 * past `end`, and leaves the zero-padded plaintext in M for Update.
 */
function cryptChunk(buf: Uint8Array, off: number, end: number, open: boolean): void {
  const avail = end - off;
  loadChunk(buf, off, end);
  for (let j = 0; j < 4; j++) {
    const n = avail - (j << 2);
    const o = off + (j << 2);
    const y = M[j]! ^ Z[j]!;
    if (n >= 4) st(buf, o, y);
    else for (let k = 0; k < n; k++) buf[o + k] = y >>> (k << 3);
    // Opening: the keystream runs past a short final chunk, and that garbage must not be absorbed.
    if (open) M[j] = keepBytes(y, n);
  }
}

/**
 * Runs one lane over Init, AD `ad[adOff, adOff+adLen)`, message `msg[msgOff, msgOff+msgLen)` and
 * Finalize, leaving its state in STATE. Offsets instead of views: a packet is sealed or opened in
 * place without allocating a subarray per call.
 */
function runLane(
  lane: number,
  ad: Uint8Array,
  adOff: number,
  adLen: number,
  msg: Uint8Array,
  msgOff: number,
  msgLen: number,
  mode: number,
): void {
  const laneOff = lane << 4;
  const ctx = lane | 0x100; // bytes [lane, D-1 = 1, 0, ...]; only word 0 is non-zero
  const adBlocks = (adLen + 31) >>> 5;
  const adEndByte = adOff + adLen;
  const msgEndByte = msgOff + msgLen;
  const adEnd = 16 + adBlocks;
  const msgEnd = adEnd + ((msgLen + 31) >>> 5);
  const end = mode === MODE_INIT_ONLY ? 16 : msgEnd + 7;
  const open = mode === MODE_OPEN;

  let v00 = INIT[8]!,
    v01 = INIT[9]!,
    v02 = INIT[10]!,
    v03 = INIT[11]!;
  let v10 = INIT[12]!,
    v11 = INIT[13]!,
    v12 = INIT[14]!,
    v13 = INIT[15]!;
  let v20 = C1W[0]!,
    v21 = C1W[1]!,
    v22 = C1W[2]!,
    v23 = C1W[3]!;
  let v30 = C0W[0]!,
    v31 = C0W[1]!,
    v32 = C0W[2]!,
    v33 = C0W[3]!;
  let v40 = INIT[0]! ^ v30,
    v41 = INIT[1]! ^ v31,
    v42 = INIT[2]! ^ v32,
    v43 = INIT[3]! ^ v33;
  let v50 = INIT[4]! ^ v20,
    v51 = INIT[5]! ^ v21,
    v52 = INIT[6]! ^ v22,
    v53 = INIT[7]! ^ v23;
  let f0 = 0,
    f1 = 0,
    f2 = 0,
    f3 = 0;

  for (let step = 0; step < end; step++) {
    let m0: number, m1: number, m2: number, m3: number;
    if (step < 16) {
      v30 ^= ctx;
      v50 ^= ctx;
      const o = (step & 3) << 2;
      m0 = INIT[o]!;
      m1 = INIT[o + 1]!;
      m2 = INIT[o + 2]!;
      m3 = INIT[o + 3]!;
    } else if (step < adEnd) {
      loadChunk(ad, adOff + ((step - 16) << 5) + laneOff, adEndByte);
      m0 = M[0]!;
      m1 = M[1]!;
      m2 = M[2]!;
      m3 = M[3]!;
    } else if (step < msgEnd) {
      Z[0] = v10 ^ v40 ^ v50 ^ (v20 & v30);
      Z[1] = v11 ^ v41 ^ v51 ^ (v21 & v31);
      Z[2] = v12 ^ v42 ^ v52 ^ (v22 & v32);
      Z[3] = v13 ^ v43 ^ v53 ^ (v23 & v33);
      cryptChunk(msg, msgOff + ((step - adEnd) << 5) + laneOff, msgEndByte, open);
      m0 = M[0]!;
      m1 = M[1]!;
      m2 = M[2]!;
      m3 = M[3]!;
    } else {
      // Finalize absorbs the same block seven times.
      if (step === msgEnd) {
        // V3 ^ (LE64(ad bits) || LE64(msg bits)); the bit counts can exceed 32 bits, so split them.
        f0 = v30 ^ (adLen << 3);
        f1 = v31 ^ (adLen >>> 29);
        f2 = v32 ^ (msgLen << 3);
        f3 = v33 ^ (msgLen >>> 29);
      }
      m0 = f0;
      m1 = f1;
      m2 = f2;
      m3 = f3;
    }

    // Update(m): Vi' = AESRound(V(i-1), Vi), V0' = AESRound(V5, V0 ^ m). Computed from V5 down
    // to V1 so each step still sees the old V(i-1); only the old V5 needs saving for V0'.
    const p0 = v50,
      p1 = v51,
      p2 = v52,
      p3 = v53;
    v50 = T0[v40 & 0xff]! ^ T1[(v41 >>> 8) & 0xff]! ^ T2[(v42 >>> 16) & 0xff]! ^ T3[v43 >>> 24]! ^ v50;
    v51 = T0[v41 & 0xff]! ^ T1[(v42 >>> 8) & 0xff]! ^ T2[(v43 >>> 16) & 0xff]! ^ T3[v40 >>> 24]! ^ v51;
    v52 = T0[v42 & 0xff]! ^ T1[(v43 >>> 8) & 0xff]! ^ T2[(v40 >>> 16) & 0xff]! ^ T3[v41 >>> 24]! ^ v52;
    v53 = T0[v43 & 0xff]! ^ T1[(v40 >>> 8) & 0xff]! ^ T2[(v41 >>> 16) & 0xff]! ^ T3[v42 >>> 24]! ^ v53;
    v40 = T0[v30 & 0xff]! ^ T1[(v31 >>> 8) & 0xff]! ^ T2[(v32 >>> 16) & 0xff]! ^ T3[v33 >>> 24]! ^ v40;
    v41 = T0[v31 & 0xff]! ^ T1[(v32 >>> 8) & 0xff]! ^ T2[(v33 >>> 16) & 0xff]! ^ T3[v30 >>> 24]! ^ v41;
    v42 = T0[v32 & 0xff]! ^ T1[(v33 >>> 8) & 0xff]! ^ T2[(v30 >>> 16) & 0xff]! ^ T3[v31 >>> 24]! ^ v42;
    v43 = T0[v33 & 0xff]! ^ T1[(v30 >>> 8) & 0xff]! ^ T2[(v31 >>> 16) & 0xff]! ^ T3[v32 >>> 24]! ^ v43;
    v30 = T0[v20 & 0xff]! ^ T1[(v21 >>> 8) & 0xff]! ^ T2[(v22 >>> 16) & 0xff]! ^ T3[v23 >>> 24]! ^ v30;
    v31 = T0[v21 & 0xff]! ^ T1[(v22 >>> 8) & 0xff]! ^ T2[(v23 >>> 16) & 0xff]! ^ T3[v20 >>> 24]! ^ v31;
    v32 = T0[v22 & 0xff]! ^ T1[(v23 >>> 8) & 0xff]! ^ T2[(v20 >>> 16) & 0xff]! ^ T3[v21 >>> 24]! ^ v32;
    v33 = T0[v23 & 0xff]! ^ T1[(v20 >>> 8) & 0xff]! ^ T2[(v21 >>> 16) & 0xff]! ^ T3[v22 >>> 24]! ^ v33;
    v20 = T0[v10 & 0xff]! ^ T1[(v11 >>> 8) & 0xff]! ^ T2[(v12 >>> 16) & 0xff]! ^ T3[v13 >>> 24]! ^ v20;
    v21 = T0[v11 & 0xff]! ^ T1[(v12 >>> 8) & 0xff]! ^ T2[(v13 >>> 16) & 0xff]! ^ T3[v10 >>> 24]! ^ v21;
    v22 = T0[v12 & 0xff]! ^ T1[(v13 >>> 8) & 0xff]! ^ T2[(v10 >>> 16) & 0xff]! ^ T3[v11 >>> 24]! ^ v22;
    v23 = T0[v13 & 0xff]! ^ T1[(v10 >>> 8) & 0xff]! ^ T2[(v11 >>> 16) & 0xff]! ^ T3[v12 >>> 24]! ^ v23;
    v10 = T0[v00 & 0xff]! ^ T1[(v01 >>> 8) & 0xff]! ^ T2[(v02 >>> 16) & 0xff]! ^ T3[v03 >>> 24]! ^ v10;
    v11 = T0[v01 & 0xff]! ^ T1[(v02 >>> 8) & 0xff]! ^ T2[(v03 >>> 16) & 0xff]! ^ T3[v00 >>> 24]! ^ v11;
    v12 = T0[v02 & 0xff]! ^ T1[(v03 >>> 8) & 0xff]! ^ T2[(v00 >>> 16) & 0xff]! ^ T3[v01 >>> 24]! ^ v12;
    v13 = T0[v03 & 0xff]! ^ T1[(v00 >>> 8) & 0xff]! ^ T2[(v01 >>> 16) & 0xff]! ^ T3[v02 >>> 24]! ^ v13;
    v00 = T0[p0 & 0xff]! ^ T1[(p1 >>> 8) & 0xff]! ^ T2[(p2 >>> 16) & 0xff]! ^ T3[p3 >>> 24]! ^ v00 ^ m0;
    v01 = T0[p1 & 0xff]! ^ T1[(p2 >>> 8) & 0xff]! ^ T2[(p3 >>> 16) & 0xff]! ^ T3[p0 >>> 24]! ^ v01 ^ m1;
    v02 = T0[p2 & 0xff]! ^ T1[(p3 >>> 8) & 0xff]! ^ T2[(p0 >>> 16) & 0xff]! ^ T3[p1 >>> 24]! ^ v02 ^ m2;
    v03 = T0[p3 & 0xff]! ^ T1[(p0 >>> 8) & 0xff]! ^ T2[(p1 >>> 16) & 0xff]! ^ T3[p2 >>> 24]! ^ v03 ^ m3;
  }

  const s = lane * 24;
  STATE[s] = v00;
  STATE[s + 1] = v01;
  STATE[s + 2] = v02;
  STATE[s + 3] = v03;
  STATE[s + 4] = v10;
  STATE[s + 5] = v11;
  STATE[s + 6] = v12;
  STATE[s + 7] = v13;
  STATE[s + 8] = v20;
  STATE[s + 9] = v21;
  STATE[s + 10] = v22;
  STATE[s + 11] = v23;
  STATE[s + 12] = v30;
  STATE[s + 13] = v31;
  STATE[s + 14] = v32;
  STATE[s + 15] = v33;
  STATE[s + 16] = v40;
  STATE[s + 17] = v41;
  STATE[s + 18] = v42;
  STATE[s + 19] = v43;
  STATE[s + 20] = v50;
  STATE[s + 21] = v51;
  STATE[s + 22] = v52;
  STATE[s + 23] = v53;
}

function checkKeyNonce(key: Uint8Array, nonce: Uint8Array): void {
  if (key.length !== AEGIS_KEY_LEN)
    throw new RangeError(`AEGIS-256X2 key must be ${AEGIS_KEY_LEN} bytes, got ${key.length}`);
  if (nonce.length !== AEGIS_NONCE_LEN)
    throw new RangeError(`AEGIS-256X2 nonce must be ${AEGIS_NONCE_LEN} bytes, got ${nonce.length}`);
}

function loadKeyNonce(key: Uint8Array, keyOff: number, nonce: Uint8Array, nonceOff: number): void {
  for (let j = 0; j < 8; j++) {
    const k = ld(key, keyOff + (j << 2));
    INIT[j] = k;
    INIT[8 + j] = k ^ ld(nonce, nonceOff + (j << 2));
  }
}

/** Runs both lanes and leaves the 128-bit tag (XOR of all 12 state blocks) in TAG. */
function run(
  ad: Uint8Array,
  adOff: number,
  adLen: number,
  msg: Uint8Array,
  msgOff: number,
  msgLen: number,
  mode: number,
): void {
  if (adLen > MAX_INPUT_LEN || msgLen > MAX_INPUT_LEN) throw new RangeError("AEGIS-256X2 input longer than 1 GiB");
  runLane(0, ad, adOff, adLen, msg, msgOff, msgLen, mode);
  runLane(1, ad, adOff, adLen, msg, msgOff, msgLen, mode);
  for (let j = 0; j < 4; j++) {
    let w = 0;
    for (let b = 0; b < 48; b += 4) w ^= STATE[b + j]!;
    st(TAG, j << 2, w);
  }
}

/** Encrypts `msg` in place and writes the 16-byte tag into `tagOut` (first 16 bytes). */
export function aegis256x2Seal(
  key: Uint8Array,
  nonce: Uint8Array,
  ad: Uint8Array,
  msg: Uint8Array,
  tagOut: Uint8Array,
): void {
  if (tagOut.length < AEGIS_TAG_LEN)
    throw new RangeError(`AEGIS-256X2 tag output needs ${AEGIS_TAG_LEN} bytes, got ${tagOut.length}`);
  checkKeyNonce(key, nonce);
  loadKeyNonce(key, 0, nonce, 0);
  run(ad, 0, ad.length, msg, 0, msg.length, MODE_SEAL);
  for (let i = 0; i < AEGIS_TAG_LEN; i++) tagOut[i] = TAG[i]!;
}

/**
 * Decrypts `ct` in place if the tag is valid and returns true; on a bad tag returns false and leaves
 * ct zeroed (never expose unauthenticated plaintext). Tag comparison is constant time.
 * `tag` must be exactly 16 bytes (RangeError otherwise). `ad` and `ct` must not overlap.
 */
export function aegis256x2Open(
  key: Uint8Array,
  nonce: Uint8Array,
  ad: Uint8Array,
  ct: Uint8Array,
  tag: Uint8Array,
): boolean {
  if (tag.length !== AEGIS_TAG_LEN)
    throw new RangeError(`AEGIS-256X2 tag must be ${AEGIS_TAG_LEN} bytes, got ${tag.length}`);
  checkKeyNonce(key, nonce);
  loadKeyNonce(key, 0, nonce, 0);
  run(ad, 0, ad.length, ct, 0, ct.length, MODE_OPEN);
  if (!tagMatches(tag, 0)) {
    ct.fill(0);
    return false;
  }
  return true;
}

/** Compares the computed TAG with `src[off, +16)` in constant time: no early exit on the first difference. */
function tagMatches(src: Uint8Array, off: number): boolean {
  let diff = 0;
  for (let i = 0; i < AEGIS_TAG_LEN; i++) diff |= TAG[i]! ^ src[off + i]!;
  return diff === 0;
}

/**
 * The layout of one buffer sealed in place, for the packet path: key `buf[keyOff, +32)`, AD
 * `buf[adOff, +adLen)`, message `buf[msgOff, +msgLen)` and tag `buf[tagOff, +16)` all in `buf`,
 * the nonce in `nonce[nonceOff, +32)` (e.g. one peer's slot of a key table). The regions must lie
 * inside the buffers and the AD and tag must not overlap the message; callers own that layout.
 */
export function aegis256x2SealAt(
  buf: Uint8Array,
  keyOff: number,
  nonce: Uint8Array,
  nonceOff: number,
  adOff: number,
  adLen: number,
  msgOff: number,
  msgLen: number,
  tagOff: number,
): void {
  loadKeyNonce(buf, keyOff, nonce, nonceOff);
  run(buf, adOff, adLen, buf, msgOff, msgLen, MODE_SEAL);
  for (let i = 0; i < AEGIS_TAG_LEN; i++) buf[tagOff + i] = TAG[i]!;
}

/** aegis256x2Open on the layout of aegis256x2SealAt; on a bad tag the message region is zeroed. */
export function aegis256x2OpenAt(
  buf: Uint8Array,
  keyOff: number,
  nonce: Uint8Array,
  nonceOff: number,
  adOff: number,
  adLen: number,
  msgOff: number,
  msgLen: number,
  tagOff: number,
): boolean {
  loadKeyNonce(buf, keyOff, nonce, nonceOff);
  run(buf, adOff, adLen, buf, msgOff, msgLen, MODE_OPEN);
  if (!tagMatches(buf, tagOff)) {
    buf.fill(0, msgOff, msgOff + msgLen);
    return false;
  }
  return true;
}

/** One AES round (SubBytes, ShiftRows, MixColumns, xor rk), for the draft's AESRound vector. */
export function aesRound(input: Uint8Array, rk: Uint8Array): Uint8Array {
  if (input.length !== 16 || rk.length !== 16) throw new RangeError("AESRound takes 16-byte blocks");
  const a = ld(input, 0),
    b = ld(input, 4),
    c = ld(input, 8),
    d = ld(input, 12);
  const out = new Uint8Array(16);
  st(out, 0, rw(a, b, c, d, ld(rk, 0)));
  st(out, 4, rw(b, c, d, a, ld(rk, 4)));
  st(out, 8, rw(c, d, a, b, ld(rk, 8)));
  st(out, 12, rw(d, a, b, c, ld(rk, 12)));
  return out;
}

/**
 * The state right after Init, as 12 16-byte blocks in order V[0,0],V[0,1],V[1,0],V[1,1],...,V[5,1]
 * (block index, lane), for the draft's initial-state vector.
 */
export function aegis256x2InitialState(key: Uint8Array, nonce: Uint8Array): Uint8Array[] {
  checkKeyNonce(key, nonce);
  loadKeyNonce(key, 0, nonce, 0);
  const empty = new Uint8Array(0);
  runLane(0, empty, 0, 0, empty, 0, 0, MODE_INIT_ONLY);
  runLane(1, empty, 0, 0, empty, 0, 0, MODE_INIT_ONLY);
  const blocks: Uint8Array[] = [];
  for (let v = 0; v < 6; v++) {
    for (let lane = 0; lane < 2; lane++) {
      const out = new Uint8Array(16);
      for (let j = 0; j < 4; j++) st(out, j << 2, STATE[lane * 24 + v * 4 + j]!);
      blocks.push(out);
    }
  }
  return blocks;
}
