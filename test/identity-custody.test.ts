import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateX25519Identity, identityToRecipient } from "age-encryption";
import { afterAll, describe, expect, it } from "vitest";
import { type Archive, archiveEntry, parseArchive, serializeArchive } from "../cli/identity/archive.ts";
import { buildArchive, planRestore, readBackup, writeBackup } from "../cli/identity/custody.ts";
import { BackupCryptoError, decryptBackup, encryptBackup } from "../cli/identity/encryption.ts";
import { backupPassphrase, PASSPHRASE_ENV } from "../cli/identity/passphrase.ts";
import { backup, exportIdentity, importIdentity, list, restore, verify } from "../cli/commands/identity.ts";
import { openDeployment } from "../cli/deployment.ts";
import { backUpNewIdentities } from "../cli/identity/up-backup.ts";
import {
  backupRecords,
  lastBackupOf,
  loadIdentity,
  pendingRestores,
  previousIdentities,
  replaceIdentity,
  saveIdentity,
} from "../stacks/state/identities.ts";
import {
  migrateRetiredMarks,
  retiredIdentities,
  retiredOnce,
  retireIdentity,
  reviveIdentity,
  serversToRetire,
} from "../stacks/state/retired.ts";
import { StateDir } from "../stacks/state/state-dir.ts";
import { Identity } from "../sp-runtime/identity/identity.ts";
import { formatIdentityFile, parseIdentityFile } from "../sp-runtime/identity/identity-file.ts";
import { bytesToHex } from "../sp-runtime/util/hex.ts";
import { vectorIdentity } from "./support/super-peer.ts";
import { drasyl } from "./support/vectors.ts";

const root = mkdtempSync(join(tmpdir(), "dd-custody-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = (): string => mkdtempSync(join(root, `t${n++}-`));
const ds = (stateRoot: string, deployment: string) => new StateDir(stateRoot).forDeployment(deployment);
const put = (stateRoot: string, deployment: string, server: string, id: Identity): void =>
  saveIdentity(ds(stateRoot, deployment), ds(stateRoot, deployment).identityFile(server), id);

const id1 = vectorIdentity("id_1");
const id2 = vectorIdentity("id_2");
const id3 = vectorIdentity("id_3");
// The CLI uses age's default scrypt work factor (2^18, seconds); the format is the same at 2^10.
const fast = (passphrase: string) => ({ passphrase, scryptLogN: 10 });

function sampleArchive(): Archive {
  return buildArchive("dep", 1, [
    { server: "dep-r1", region: "r1", identity: id1 },
    { server: "dep-r2", region: "r2", identity: id2 },
  ]);
}

/** Every file under a directory with its bytes: "changes nothing" means this stays equal. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[p] = readFileSync(p, "base64");
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

function secretForms(id: Identity): string[] {
  const sk = Buffer.from(id.secretKey);
  return [
    bytesToHex(id.secretKey),
    sk.toString("base64"),
    sk.subarray(0, 32).toString("hex"),
    sk.subarray(0, 32).toString("base64"),
  ];
}

describe("backup archive format", () => {
  it("round-trips and checks every entry", () => {
    const a = sampleArchive();
    const back = parseArchive(serializeArchive(a));
    expect(back.deployment).toBe("dep");
    expect(back.entries.map((e) => [e.server, e.region, e.publicKey, e.proofOfWork])).toEqual([
      ["dep-r1", "r1", id1.publicKeyHex, id1.pow],
      ["dep-r2", "r2", id2.publicKeyHex, id2.pow],
    ]);
    expect(bytesToHex(back.entries[0]!.identity.secretKey)).toBe(bytesToHex(id1.secretKey));
  });

  it("refuses an entry whose public key is not the secret key's", () => {
    const text = serializeArchive(sampleArchive()).replace(id1.publicKeyHex, id3.publicKeyHex);
    expect(() => parseArchive(text)).toThrow(
      /identities\[0\] \(dep-r1\): the public key .* is not the one its secret key derives/,
    );
  });

  it("refuses a proof of work below its difficulty, and names no secret", () => {
    const text = serializeArchive(sampleArchive()).replace(
      `"proofOfWork": ${id2.pow}`,
      `"proofOfWork": ${id2.pow + 1}`,
    );
    let message = "";
    try {
      parseArchive(text);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/identities\[1\] \(dep-r2\): the proof of work -?\d+ does not meet difficulty 24/);
    for (const s of secretForms(id2)) expect(message).not.toContain(s);
  });

  it("refuses a secret key whose halves do not belong together", () => {
    const sk = bytesToHex(id1.secretKey);
    const broken = sk.slice(0, 64) + bytesToHex(id2.publicKey);
    expect(() => parseArchive(serializeArchive(sampleArchive()).replace(sk, broken))).toThrow(/not a valid identity/);
  });

  it("an archive with a retired identity is version 2 (a version-1 reader would restore it as current); without, version 1", () => {
    const a = sampleArchive();
    expect(JSON.parse(serializeArchive(a)).version).toBe(1);
    const retired: Archive = { ...a, entries: [a.entries[0]!, { ...a.entries[1]!, retiredAt: "2026-12-04" }] };
    const text = serializeArchive(retired);
    expect(JSON.parse(text).version).toBe(2);
    expect(parseArchive(text).entries.map((e) => e.retiredAt)).toEqual([undefined, "2026-12-04"]);
  });

  it("refuses other JSON and other versions", () => {
    expect(() => parseArchive("{}")).toThrow(/not a drasyl-deploy identity backup/);
    expect(() => parseArchive("nonsense")).toThrow(/not JSON/);
    expect(() => parseArchive(serializeArchive(sampleArchive()).replace('"version": 1', '"version": 9'))).toThrow(
      /version 9 is not supported/,
    );
  });
});

describe("backup encryption (age)", () => {
  it("writes an age file 0600 that holds no key material in the clear", async () => {
    const file = join(fresh(), "b.age");
    await writeBackup(file, sampleArchive(), fast("correct horse"));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const bytes = readFileSync(file);
    expect(bytes.subarray(0, 21).toString()).toBe("age-encryption.org/v1");
    for (const id of [id1, id2]) for (const s of secretForms(id)) expect(bytes.toString("latin1")).not.toContain(s);
    expect((await readBackup(file, { passphrase: "correct horse" })).entries.length).toBe(2);
  });

  it("refuses to encrypt without a passphrase or recipient", async () => {
    await expect(encryptBackup("x", { passphrase: "" })).rejects.toThrow(/empty passphrase/);
    await expect(encryptBackup("x", { recipients: [] })).rejects.toThrow(/without a passphrase or recipient/);
    await expect(encryptBackup("x", { recipients: ["age1nope"] })).rejects.toThrow(
      /--recipient age1nope is not an age recipient/,
    );
  });

  it("says 'wrong passphrase' for a wrong passphrase", async () => {
    const ct = await encryptBackup(serializeArchive(sampleArchive()), fast("right"));
    await expect(decryptBackup(ct, { passphrase: "wrong" }, "b.age")).rejects.toThrow(/^b\.age: wrong passphrase$/);
  });

  it("says 'damaged' for a truncated or a tampered archive", async () => {
    const ct = await encryptBackup(serializeArchive(sampleArchive()), fast("pw"));
    await expect(decryptBackup(ct.subarray(0, ct.length - 20), { passphrase: "pw" }, "b.age")).rejects.toThrow(
      /b\.age is damaged: it was truncated or modified/,
    );
    const tampered = Uint8Array.from(ct);
    tampered[tampered.length - 30] = (tampered[tampered.length - 30] as number) ^ 0x01;
    await expect(decryptBackup(tampered, { passphrase: "pw" }, "b.age")).rejects.toThrow(/b\.age is damaged/);
  });

  it("refuses an unencrypted or empty file", async () => {
    await expect(
      decryptBackup(Buffer.from(serializeArchive(sampleArchive())), { passphrase: "pw" }, "plain.json"),
    ).rejects.toThrow(/not an age-encrypted backup/);
    await expect(decryptBackup(new Uint8Array(0), { passphrase: "pw" }, "e.age")).rejects.toThrow(BackupCryptoError);
  });

  it("encrypts to an age recipient, opened only with its identity", async () => {
    const ageId = await generateX25519Identity();
    const ct = await encryptBackup(serializeArchive(sampleArchive()), {
      recipients: [await identityToRecipient(ageId)],
    });
    expect(parseArchive(await decryptBackup(ct, { identities: [ageId] }, "r.age")).entries.length).toBe(2);
    await expect(decryptBackup(ct, { passphrase: "pw" }, "r.age")).rejects.toThrow(
      /encrypted to an age recipient, not a passphrase: pass the matching age identity file with --identity/,
    );
  });
});

describe("backup passphrase sources", () => {
  it("prefers --passphrase-file, then the environment, then asks twice", async () => {
    const f = join(fresh(), "pass");
    writeFileSync(f, "from-file\n");
    expect(await backupPassphrase("encrypt", { passphraseFile: f, env: { [PASSPHRASE_ENV]: "env" } })).toBe(
      "from-file",
    );
    expect(await backupPassphrase("encrypt", { env: { [PASSPHRASE_ENV]: "env" } })).toBe("env");
    const answers = ["typed", "typed"];
    expect(await backupPassphrase("encrypt", { env: {}, ask: async () => answers.shift() })).toBe("typed");
    const differing = ["one", "two"];
    await expect(backupPassphrase("encrypt", { env: {}, ask: async () => differing.shift() })).rejects.toThrow(
      /the two passphrases differ; nothing written/,
    );
    await expect(backupPassphrase("decrypt", { env: {}, ask: async () => undefined })).rejects.toThrow(
      /no passphrase: run in a terminal, set DRASYL_DEPLOY_BACKUP_PASSPHRASE/,
    );
    await expect(backupPassphrase("encrypt", { env: { [PASSPHRASE_ENV]: "" } })).rejects.toThrow(/set but empty/);
  });
});

describe("archive entries of retired identities", () => {
  it("a server may have one current and several retired entries; a retired one needs a date, a second current one is refused", () => {
    const a = sampleArchive();
    const retired = { ...archiveEntry("dep-r1", "", id3), retiredAt: "2026-01-01T00:00:00.000Z" };
    const twice = { ...a, entries: [...a.entries, retired, { ...retired, retiredAt: "2026-02-01T00:00:00.000Z" }] };
    expect(parseArchive(serializeArchive(twice)).entries.map((e) => [e.server, e.retiredAt])).toEqual([
      ["dep-r1", undefined],
      ["dep-r2", undefined],
      ["dep-r1", "2026-01-01T00:00:00.000Z"],
      ["dep-r1", "2026-02-01T00:00:00.000Z"],
    ]);
    const bad = serializeArchive({ ...a, entries: [...a.entries, retired] }).replace(
      "2026-01-01T00:00:00.000Z",
      "someday",
    );
    expect(() => parseArchive(bad)).toThrow(/identities\[2\] \(dep-r1\): "retiredAt" must be a date/);
    const dup = { ...a, entries: [...a.entries, archiveEntry("dep-r1", "r1", id3)] };
    expect(() => parseArchive(serializeArchive(dup))).toThrow(/identities\[2\] \(dep-r1\): the server is listed twice/);
  });
});

describe("retirement: one model for a removed server and a move's old name", () => {
  it("retires by renaming aside; lists each retired key once; a name that comes back gets its key unless another server holds it", () => {
    const state = fresh();
    const d = ds(state, "dep");
    put(state, "dep", "gone", id1);
    put(state, "dep", "moved", id2);
    put(state, "dep", "kept", id3);
    expect(serversToRetire(d, ["kept"])).toEqual(["gone", "moved"]);
    expect(retireIdentity(d, "gone", new Date("2026-01-01T00:00:00Z"))).toMatch(
      /gone\.identity\.retired-2026-01-01T00-00-00-000Z$/,
    );
    // A move: the key lives on under the new name, the old name's entry is retired (twice: moved away, back, away again).
    put(state, "dep", "new", id2);
    retireIdentity(d, "moved", new Date("2026-01-02T00:00:00Z"));
    put(state, "dep", "moved", id2);
    retireIdentity(d, "moved", new Date("2026-01-03T00:00:00Z"));
    expect(serversToRetire(d, ["kept", "new"])).toEqual([]);
    expect(retiredIdentities(d).map((r) => [r.server, r.retiredAt, r.publicKey])).toEqual([
      ["gone", "2026-01-01T00:00:00.000Z", id1.publicKeyHex],
      ["moved", "2026-01-02T00:00:00.000Z", id2.publicKeyHex],
      ["moved", "2026-01-03T00:00:00.000Z", id2.publicKeyHex],
    ]);
    expect(retiredOnce(d).map((r) => [r.server, r.retiredAt])).toEqual([
      ["gone", "2026-01-01T00:00:00.000Z"],
      ["moved", "2026-01-03T00:00:00.000Z"],
    ]);
    // "moved" comes back: its key is "new"'s now, so it gets none (up then makes a new one); "gone" gets its own back.
    expect(reviveIdentity(d, "moved")).toBeUndefined();
    expect(loadIdentity(d, "moved")).toBeUndefined();
    expect(reviveIdentity(d, "gone")).toBe(id1.publicKeyHex);
    expect(loadIdentity(d, "gone")?.publicKeyHex).toBe(id1.publicKeyHex);
    expect(reviveIdentity(d, "gone")).toBeUndefined();
    expect(retiredOnce(d).map((r) => r.server)).toEqual(["moved"]);
  });

  it("migrates the marks of earlier versions (retired.json): the marked files are retired with their date, the marks go", () => {
    const state = fresh();
    const d = ds(state, "dep");
    put(state, "dep", "r4", id1);
    put(state, "dep", "back", id2);
    writeFileSync(
      d.prepare(d.retiredFile),
      JSON.stringify({
        r4: { retiredAt: "2026-02-03T04:05:06.789Z", publicKey: id1.publicKeyHex },
        back: { retiredAt: "2026-02-01T00:00:00.000Z" },
      }),
    );
    // Marked servers are not removed a second time.
    expect(serversToRetire(d, [])).toEqual([]);
    migrateRetiredMarks(d, ["back"]);
    expect(existsSync(d.retiredFile)).toBe(false);
    expect(loadIdentity(d, "r4")).toBeUndefined();
    expect(loadIdentity(d, "back")?.publicKeyHex).toBe(id2.publicKeyHex);
    expect(retiredIdentities(d).map((r) => [r.server, r.retiredAt, r.publicKey])).toEqual([
      ["r4", "2026-02-03T04:05:06.789Z", id1.publicKeyHex],
    ]);
    migrateRetiredMarks(d, []);
    expect(retiredIdentities(d)).toHaveLength(1);
  });
});

describe("the local identity store keeps what it replaces", () => {
  it("replace keeps the previous identity, retire sets it aside, both readable", () => {
    const state = fresh();
    put(state, "dep", "a", id1);
    expect(statSync(ds(state, "dep").identityFile("a")).mode & 0o777).toBe(0o600);
    expect(replaceIdentity(ds(state, "dep"), "a", id1)).toBeUndefined();
    const kept = replaceIdentity(ds(state, "dep"), "a", id2, new Date("2026-01-02T03:04:05Z"));
    expect(kept).toMatch(/a\.identity\.replaced-2026-01-02T03-04-05-000Z$/);
    expect(loadIdentity(ds(state, "dep"), "a")?.publicKeyHex).toBe(id2.publicKeyHex);
    expect(retireIdentity(ds(state, "dep"), "a", new Date("2026-01-03T00:00:00Z"))).toMatch(/retired-2026-01-03/);
    expect(loadIdentity(ds(state, "dep"), "a")).toBeUndefined();
    expect(previousIdentities(ds(state, "dep"), "a").map((p) => [p.kind, p.publicKey])).toEqual([
      ["replaced", id1.publicKeyHex],
      ["retired", id2.publicKeyHex],
    ]);
  });
});

describe("restore planning", () => {
  it("tells missing, same and differing identities apart, and maps server names to another deployment", () => {
    const a = sampleArchive();
    const local = new Map([
      ["dep-r1", id1],
      ["dep-r2", id3],
    ]);
    expect(planRestore(a, {}, (s) => local.get(s)).map((i) => [i.server, i.state])).toEqual([
      ["dep-r1", "same"],
      ["dep-r2", "differs"],
    ]);
    expect(
      planRestore(a, { toDeployment: "new", servers: ["new-r2"] }, () => undefined).map((i) => [i.server, i.state]),
    ).toEqual([["new-r2", "missing"]]);
    expect(() => planRestore(a, { servers: ["nope"] }, () => undefined)).toThrow(
      /the backup holds no identity for nope \(it holds dep-r1, dep-r2\)/,
    );
  });
});

describe("identity commands on a local state", () => {
  function setup(): { dir: string; state: string; config: string } {
    const dir = fresh();
    const config = join(dir, "drasyl-deploy.yaml");
    writeFileSync(
      config,
      "deployment: cust\ntargets:\n  - kind: existing\n    servers:\n      - { name: a, region: eu, host: 192.0.2.1 }\n      - { name: b, region: us, host: 192.0.2.2 }\n",
    );
    const state = join(dir, "state");
    put(state, "cust", "a", id1);
    put(state, "cust", "b", id2);
    return { dir, state, config };
  }

  it("backup -> verify -> restore into an empty state gives the same keys, and records the backup", async () => {
    const { dir, state, config } = setup();
    const out = join(dir, "b.age");
    expect(await backup({ config, stateDir: state, out, recipient: [], force: false }, fast("pw"))).toBe(0);
    expect(lastBackupOf(backupRecords(ds(state, "cust")), id1.publicKeyHex)?.file).toBe(out);
    const printed: string[] = [];
    const pf = join(dir, "pass");
    writeFileSync(pf, "pw\n");
    expect(await verify(out, { passphraseFile: pf }, (s) => printed.push(s))).toBe(0);
    expect(printed.join("")).toContain(id1.publicKeyHex);
    for (const s of secretForms(id1)) expect(printed.join("")).not.toContain(s);

    const other = join(dir, "state2");
    expect(await restore(out, { stateDir: other, server: [], force: false, passphraseFile: pf })).toBe(0);
    expect(loadIdentity(ds(other, "cust"), "a")?.publicKeyHex).toBe(id1.publicKeyHex);
    expect(loadIdentity(ds(other, "cust"), "b")?.publicKeyHex).toBe(id2.publicKeyHex);
    expect(pendingRestores(ds(other, "cust"))).toEqual({ a: id1.publicKeyHex, b: id2.publicKeyHex });
  });

  it("a wrong passphrase, a truncated and a tampered archive change nothing", async () => {
    const { dir, state, config } = setup();
    const out = join(dir, "b.age");
    await backup({ config, stateDir: state, out, recipient: [], force: false }, fast("pw"));
    const target = join(dir, "target");
    put(target, "cust", "a", id3);
    const before = snapshot(target);
    const wrong = join(dir, "wrong");
    writeFileSync(wrong, "not-it\n");
    await expect(restore(out, { stateDir: target, server: [], force: true, passphraseFile: wrong })).rejects.toThrow(
      /wrong passphrase/,
    );
    const bytes = readFileSync(out);
    const truncated = join(dir, "t.age");
    writeFileSync(truncated, bytes.subarray(0, bytes.length - 10));
    const pf = join(dir, "pass");
    writeFileSync(pf, "pw\n");
    await expect(restore(truncated, { stateDir: target, server: [], force: true, passphraseFile: pf })).rejects.toThrow(
      /is damaged/,
    );
    const tampered = join(dir, "x.age");
    const t = Buffer.from(bytes);
    t[t.length - 40] = (t[t.length - 40] as number) ^ 0x80;
    writeFileSync(tampered, t);
    await expect(restore(tampered, { stateDir: target, server: [], force: true, passphraseFile: pf })).rejects.toThrow(
      /is damaged/,
    );
    expect(await verify(tampered, { passphraseFile: pf }, () => {})).toBe(1);
    expect(snapshot(target)).toEqual(before);
  });

  it("restoring over a differing identity asks, and keeps the replaced one", async () => {
    const { dir, state, config } = setup();
    const out = join(dir, "b.age");
    await backup({ config, stateDir: state, out, recipient: [], force: false }, fast("pw"));
    replaceIdentity(ds(state, "cust"), "a", id3);
    const pf = join(dir, "pass");
    writeFileSync(pf, "pw\n");
    const questions: string[] = [];
    expect(
      await restore(
        out,
        { stateDir: state, server: ["a"], force: false, passphraseFile: pf },
        async (q) => (questions.push(q), false),
      ),
    ).toBe(1);
    expect(loadIdentity(ds(state, "cust"), "a")?.publicKeyHex).toBe(id3.publicKeyHex);
    expect(questions[0]).toContain(id3.publicKeyHex);
    expect(
      await restore(out, { stateDir: state, server: ["a"], force: false, passphraseFile: pf }, async () => true),
    ).toBe(0);
    expect(loadIdentity(ds(state, "cust"), "a")?.publicKeyHex).toBe(id1.publicKeyHex);
    expect(previousIdentities(ds(state, "cust"), "a").map((p) => p.publicKey)).toContain(id3.publicKeyHex);
  });

  it("identity list shows a retired identity once, after the current ones, saying where a moved key is now", async () => {
    const { state, config } = setup();
    const d = ds(state, "cust");
    put(state, "cust", "old", id3);
    retireIdentity(d, "old", new Date("2026-03-01T00:00:00Z"));
    put(state, "cust", "was-a", id1);
    retireIdentity(d, "was-a", new Date("2026-03-02T00:00:00Z"));
    put(state, "cust", "was-a", id1);
    retireIdentity(d, "was-a", new Date("2026-03-03T00:00:00Z"));
    let text = "";
    expect(await list({ config, stateDir: state, localOnly: true }, (t) => (text += t))).toBe(0);
    const rows = text
      .trim()
      .split("\n")
      .slice(1)
      .map((l) => l.split(/ {2,}/));
    expect(rows.map((r) => [r[0], r[2], r[4]])).toEqual([
      ["a", id1.publicKeyHex, "local (server not checked)"],
      ["b", id2.publicKeyHex, "local (server not checked)"],
      ["old", id3.publicKeyHex, "retired 2026-03-01"],
      ["was-a", id1.publicKeyHex, "retired 2026-03-03, now a"],
    ]);
  });

  it("a backup holds the retired identities no server holds any more; restore puts them back as retired, not as current", async () => {
    const { dir, state, config } = setup();
    const d = ds(state, "cust");
    put(state, "cust", "old", id3);
    retireIdentity(d, "old", new Date("2026-03-01T00:00:00Z"));
    // A moved key: retired under its old name, current as "a": backed up once, as a's.
    put(state, "cust", "was-a", id1);
    retireIdentity(d, "was-a", new Date("2026-03-02T00:00:00Z"));
    const out = join(dir, "r.age");
    expect(await backup({ config, stateDir: state, out, recipient: [], force: false }, fast("pw"))).toBe(0);
    const archive = await readBackup(out, { passphrase: "pw" });
    expect(archive.entries.map((e) => [e.server, e.publicKey, e.retiredAt])).toEqual([
      ["a", id1.publicKeyHex, undefined],
      ["b", id2.publicKeyHex, undefined],
      ["old", id3.publicKeyHex, "2026-03-01T00:00:00.000Z"],
    ]);
    let shown = "";
    const pf = join(dir, "pass");
    writeFileSync(pf, "pw\n");
    expect(await verify(out, { passphraseFile: pf }, (t) => (shown += t))).toBe(0);
    expect(shown).toMatch(new RegExp(`^old \\(retired 2026-03-01\\) +- +${id3.publicKeyHex} `, "m"));

    const empty = join(dir, "empty-state");
    expect(await restore(out, { stateDir: empty, server: [], force: false, passphraseFile: pf })).toBe(0);
    const e = ds(empty, "cust");
    expect(loadIdentity(e, "a")?.publicKeyHex).toBe(id1.publicKeyHex);
    expect(loadIdentity(e, "old")).toBeUndefined();
    expect(retiredIdentities(e).map((r) => [r.server, r.retiredAt, r.publicKey])).toEqual([
      ["old", "2026-03-01T00:00:00.000Z", id3.publicKeyHex],
    ]);
    expect(pendingRestores(e)).toEqual({ a: id1.publicKeyHex, b: id2.publicKeyHex });
    // Again: nothing new is written.
    expect(await restore(out, { stateDir: empty, server: [], force: false, passphraseFile: pf })).toBe(0);
    expect(retiredIdentities(e)).toHaveLength(1);
  });

  it("imports the Rust identity file vector and exports it back byte for byte, 0600", async () => {
    const { dir, state, config } = setup();
    const rust = join(dir, "drasyl-sp.identity");
    writeFileSync(rust, drasyl.identityFile.text);
    expect(await importIdentity(rust, { config, stateDir: state, server: "b", fromServer: false, force: true })).toBe(
      0,
    );
    expect(loadIdentity(ds(state, "cust"), "b")?.publicKeyHex).toBe(drasyl.identityFile.publicKey);
    const out = join(dir, "exported.identity");
    expect(exportIdentity({ config, stateDir: state, server: "b", out, force: false })).toBe(0);
    expect(readFileSync(out, "utf8")).toBe(drasyl.identityFile.text);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    expect(() => exportIdentity({ config, stateDir: state, server: "b", out, force: false })).toThrow(/already exists/);
    expect(formatIdentityFile(parseIdentityFile(drasyl.identityFile.text))).toBe(drasyl.identityFile.text);
  });

  it("refuses to import an identity without a valid proof of work or for an unknown server", async () => {
    const { dir, state, config } = setup();
    const weak = join(dir, "weak.identity");
    writeFileSync(weak, formatIdentityFile(new Identity(id1.secretKey, id1.pow + 1)));
    await expect(
      importIdentity(weak, { config, stateDir: state, server: "a", fromServer: false, force: true }),
    ).rejects.toThrow(/proof of work has \d+ bits, drasyl needs 24/);
    await expect(
      importIdentity(weak, { config, stateDir: state, server: "zz", fromServer: false, force: true }),
    ).rejects.toThrow(/--server zz is not a server of "cust"/);
  });
});

describe("the backup up writes or asks for", () => {
  it("reminds while an identity is in no backup, and writes the config's backup: file to its recipient once", async () => {
    const dir = fresh();
    const state = join(dir, "state");
    const ageId = await generateX25519Identity();
    const base =
      "deployment: auto\ntargets:\n  - kind: existing\n    servers:\n      - { name: a, region: eu, host: 192.0.2.1 }\n";
    const plain = join(dir, "plain.yaml");
    writeFileSync(plain, base);
    put(state, "auto", "a", id1);
    const notes: string[] = [];
    await backUpNewIdentities(openDeployment(plain, state), (l) => notes.push(l));
    expect(notes).toEqual([
      expect.stringMatching(/^No backup holds the identity of a yet: .*Run: drasyl-deploy identity backup --out FILE$/),
    ]);

    const file = join(dir, "auto.age");
    const withBackup = join(dir, "backup.yaml");
    writeFileSync(withBackup, `${base}backup:\n  file: ${file}\n  recipients: [${await identityToRecipient(ageId)}]\n`);
    notes.length = 0;
    await backUpNewIdentities(openDeployment(withBackup, state), (l) => notes.push(l));
    expect(notes[0]).toContain(`to ${file}`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect((await readBackup(file, { identities: [ageId] })).entries.map((e) => e.publicKey)).toEqual([
      id1.publicKeyHex,
    ]);
    notes.length = 0;
    await backUpNewIdentities(openDeployment(plain, state), (l) => notes.push(l));
    expect(notes).toEqual([]);
  });
});
