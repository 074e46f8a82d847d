import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ed25519PublicToX25519, ed25519SecretToX25519, KeyError } from "../sp-runtime/crypto/keys.ts";
import { computeSessionKeys } from "../sp-runtime/crypto/session.ts";
import { Identity } from "../sp-runtime/identity/identity.ts";
import {
  formatIdentityFile,
  IdentityFileError,
  loadIdentityFile,
  parseIdentityFile,
  saveIdentityFile,
} from "../sp-runtime/identity/identity-file.ts";
import { generatePow, isValidPow, powLeadingZeroBits } from "../sp-runtime/identity/pow.ts";
import { bytesToHex, HexError, hexToBytes } from "../sp-runtime/util/hex.ts";
import { drasyl } from "./support/vectors.ts";

const id = (name: string) => {
  const v = drasyl.identities[name];
  if (!v) throw new Error(`no identity ${name}`);
  return v;
};

describe("hex", () => {
  it("is strict about length and characters", () => {
    expect(() => hexToBytes("abc", 2)).toThrow(HexError);
    expect(() => hexToBytes("g1")).toThrow(HexError);
    expect(bytesToHex(hexToBytes("AB7A"))).toBe("ab7a");
  });
});

describe("keys", () => {
  for (const [name, v] of Object.entries(drasyl.identities)) {
    it(`${name}: X25519 conversions match`, () => {
      const sk = hexToBytes(v.secretKey, 64);
      const identity = new Identity(sk, v.proofOfWork ?? 0);
      expect(identity.publicKeyHex).toBe(v.publicKey);
      expect(bytesToHex(ed25519PublicToX25519(hexToBytes(v.publicKey)))).toBe(v.x25519PublicKey);
      expect(bytesToHex(ed25519SecretToX25519(sk))).toBe(v.x25519SecretKey);
    });
  }

  it("rejects a secret key whose public half does not match its seed", () => {
    const sk = hexToBytes(id("id_1").secretKey, 64);
    sk[63] = (sk[63] as number) ^ 1;
    expect(() => new Identity(sk, 0)).toThrow(/does not match/);
  });

  it("rejects a public key that is not a curve point", () => {
    const bad = new Uint8Array(32).fill(0xff);
    bad[31] = 0x7f;
    expect(() => ed25519PublicToX25519(bad)).toThrow(KeyError);
  });
});

describe("sessions", () => {
  for (const s of drasyl.sessions) {
    it(`${s.of} with ${s.peer}`, () => {
      const me = new Identity(hexToBytes(id(s.of).secretKey), 0);
      const peer = new Identity(hexToBytes(id(s.peer).secretKey), 0);
      const keys = computeSessionKeys(me.xPublic, me.xSecret, peer.xPublic);
      expect(bytesToHex(keys.rx)).toBe(s.rx);
      expect(bytesToHex(keys.tx)).toBe(s.tx);
    });
  }

  it("refuses a session with ourselves", () => {
    const me = new Identity(hexToBytes(id("id_1").secretKey), 0);
    expect(() => computeSessionKeys(me.xPublic, me.xSecret, me.xPublic)).toThrow(KeyError);
  });
});

describe("proof of work", () => {
  for (const p of drasyl.pow) {
    it(`${p.publicKey.slice(0, 8)}… is ${p.valid ? "valid" : "invalid"}`, () => {
      expect(isValidPow(hexToBytes(p.publicKey), p.proofOfWork, p.difficulty)).toBe(p.valid);
    });
  }

  it("counts leading zero bits like the vectors", () => {
    for (const v of Object.values(drasyl.identities)) {
      if (v.powLeadingZeroBits === undefined || v.proofOfWork === undefined) continue;
      expect(powLeadingZeroBits(hexToBytes(v.publicKey), v.proofOfWork)).toBe(v.powLeadingZeroBits);
    }
  });

  it("generates a valid i32 with several workers", async () => {
    const pk = hexToBytes(id("id_3").publicKey);
    const pow = await generatePow(pk, { difficulty: 16, workers: 2 });
    expect(Number.isInteger(pow)).toBe(true);
    expect(pow).toBeGreaterThanOrEqual(-0x80000000);
    expect(pow).toBeLessThanOrEqual(0x7fffffff);
    expect(isValidPow(pk, pow, 16)).toBe(true);
  });
});

describe("identity file", () => {
  const dir = mkdtempSync(join(tmpdir(), "drasyl-id-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("loads the Rust identity file to the listed public key", () => {
    const identity = parseIdentityFile(drasyl.identityFile.text);
    expect(identity.publicKeyHex).toBe(drasyl.identityFile.publicKey);
    expect(formatIdentityFile(identity)).toBe(drasyl.identityFile.text);
  });

  it("writes atomically with mode 0600 and reads back", () => {
    const file = join(dir, "sp.identity");
    const identity = parseIdentityFile(drasyl.identityFile.text);
    saveIdentityFile(file, identity);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, "utf8")).toBe(drasyl.identityFile.text);
    expect(loadIdentityFile(file)?.publicKeyHex).toBe(identity.publicKeyHex);
  });

  it("returns undefined only for a missing file", () => {
    expect(loadIdentityFile(join(dir, "missing.identity"))).toBeUndefined();
  });

  const corrupt: [string, string, RegExp][] = [
    ["no secret key", "[Identity]\nProofOfWork = 1\n", /no SecretKey/],
    ["no pow", drasyl.identityFile.text.replace(/ProofOfWork.*\n/, ""), /no ProofOfWork/],
    ["short key", drasyl.identityFile.text.replace(/SecretKey = ../, "SecretKey = "), /not 128 hex/],
    ["bad hex", drasyl.identityFile.text.replace(/SecretKey = ./, "SecretKey = z"), /not 128 hex/],
    ["bad pow", drasyl.identityFile.text.replace(/ProofOfWork = .*/, "ProofOfWork = 12abc"), /not an integer/],
    ["pow out of range", drasyl.identityFile.text.replace(/ProofOfWork = .*/, "ProofOfWork = 2147483648"), /32-bit/],
    ["mismatched halves", drasyl.identityFile.text.replace(/e65\n/, "e66\n"), /does not match/],
  ];
  for (const [what, text, message] of corrupt) {
    it(`names the file and the problem: ${what}`, () => {
      const file = join(dir, `${what.replace(/ /g, "-")}.identity`);
      writeFileSync(file, text);
      expect(() => loadIdentityFile(file)).toThrow(IdentityFileError);
      expect(() => loadIdentityFile(file)).toThrow(message);
      expect(() => loadIdentityFile(file)).toThrow(file);
    });
  }
});
