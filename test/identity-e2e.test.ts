import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { generateX25519Identity, identityToRecipient } from "age-encryption";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { packageRoot } from "../stacks/package-files.ts";
import { loadIdentity, replaceIdentity } from "../stacks/state/identities.ts";
import { readMoveJournal } from "../stacks/state/move-journal.ts";
import { StateDir } from "../stacks/state/state-dir.ts";
import { parseConfig } from "../cli/config/load.ts";
import { serverNames } from "../cli/config/schema.ts";
import { type Identity } from "../sp-runtime/identity/identity.ts";
import { formatIdentityFile, parseIdentityFile } from "../sp-runtime/identity/identity-file.ts";
import { parseSuperPeerUrl } from "../sp-runtime/node/super-peer-url.ts";
import { bytesToHex } from "../sp-runtime/util/hex.ts";
import { labAvailable, labExec, LocalProvider } from "../stacks/local/local-provider.ts";
import type { Server } from "../stacks/provider.ts";
import { spawnProcess } from "./support/process.ts";
import { vectorIdentity } from "./support/super-peer.ts";
import { drasyl } from "./support/vectors.ts";

const execRaw = promisify(execFile);
const runnable = labAvailable().ok || process.env.CI === "true";
const CLI = join(packageRoot(), "dist", "drasyl-deploy.mjs");
const PASSPHRASE = "lab backup passphrase";
const KILLS = 20;

interface StatusRow {
  server: string;
  healthy: boolean;
  identityPublicKey?: string;
}

/*
 * Identity custody through the built CLI on lab servers: import of the Rust identity file, backup,
 * destroy, restore into an empty state, up onto new servers with the same keys, a move between
 * regions, and SIGKILL at spread-out points of up, identity restore and move, checking after each
 * kill that no identity was lost or changed and that a plain re-run converges. Every byte the CLI
 * printed is searched for the secret keys at the end.
 */
describe.skipIf(!runnable)("identity custody on lab servers", () => {
  const dir = mkdtempSync(join(tmpdir(), "dd-idc-"));
  const stateA = join(dir, "state-a");
  const stateB = join(dir, "state-b");
  const config = join(dir, "drasyl-deploy.yaml");
  const deployment = `idc${process.pid % 10000}`;
  const name = (region: string): string => `${deployment}-${region}`;
  const ds = (root: string) => new StateDir(root).forDeployment(deployment);
  const backupFile = join(dir, "identities.age");
  const recipientBackup = join(dir, "identities-offline.age");
  const ageKeyFile = join(dir, "age-key.txt");
  const env = { ...process.env, DRASYL_DEPLOY_BACKUP_PASSPHRASE: PASSPHRASE };
  const transcript: string[] = [];
  const keys: Record<string, Identity> = { r1: vectorIdentity("id_1"), r2: vectorIdentity("id_2") };
  const other = vectorIdentity("id_3");

  async function cli(state: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    let r: { code: number; stdout: string; stderr: string };
    try {
      r = {
        code: 0,
        ...(await execRaw(process.execPath, [CLI, "--state-dir", state, ...args], {
          env,
          timeout: 600_000,
          maxBuffer: 16 << 20,
          cwd: dir,
        })),
      };
    } catch (e) {
      const err = e as { code?: number; stdout?: string; stderr?: string };
      r = { code: typeof err.code === "number" ? err.code : 1, stdout: err.stdout ?? "", stderr: err.stderr ?? "" };
    }
    transcript.push(r.stdout, r.stderr);
    return r;
  }

  /**
   * Starts the command and SIGKILLs it after `ms`; says whether it was still running then. A run
   * that ended by itself must have succeeded: after a kill, the plain re-run is what converges.
   */
  async function killAfter(state: string, args: string[], ms: number): Promise<boolean> {
    const p = spawnProcess(process.execPath, [CLI, "--state-dir", state, ...args], env);
    const exitedEarly = await Promise.race([
      p.exit.then(() => true),
      new Promise<false>((r) => setTimeout(() => r(false), ms)),
    ]);
    if (!exitedEarly) p.child.kill("SIGKILL");
    const code = await p.exit;
    transcript.push(p.stdout(), p.stderr());
    if (exitedEarly)
      expect(
        code,
        `${args.join(" ")} ended before its kill point at ${ms} ms, failing:\n${p.stderr()}\n${p.stdout()}`,
      ).toBe(0);
    return !exitedEarly;
  }

  async function timed(f: () => Promise<unknown>): Promise<number> {
    const t = Date.now();
    await f();
    return Date.now() - t;
  }

  /**
   * KILLS kill points spread over 80% of a measured run (later runs may be a little faster). A run
   * that ended before its kill point is no kill: the same point is tried again on the next run, so
   * every point is really hit. `attempt` starts a run, kills it after ms and checks the aftermath.
   */
  async function killAt(totalMs: number, attempt: (ms: number, i: number) => Promise<boolean>): Promise<number> {
    const points = Array.from({ length: KILLS }, (_, i) => Math.round((0.8 * totalMs * (i + 0.5)) / KILLS));
    let kills = 0;
    for (let tries = 0; kills < KILLS && tries < 3 * KILLS; tries++) {
      if (await attempt(points[kills] as number, kills)) kills++;
    }
    return kills;
  }

  async function labServers(state: string): Promise<Server[]> {
    return new LocalProvider({ state: ds(state), regions: ["r1", "r2", "r3"] }).list();
  }

  /**
   * The public key in the server's identity file; undefined without one, or when a host a killed run
   * was still booting or removing does not take SSH logins within a while (it serves no key then).
   * A file that does not parse fails the test.
   */
  async function serverKey(server: Server): Promise<string | undefined> {
    const deadline = Date.now() + 8_000;
    for (;;) {
      try {
        const r = await labExec(server, "cat /etc/drasyl-sp/drasyl-sp.identity 2>/dev/null || true");
        return r.stdout.trim() === "" ? undefined : parseIdentityFile(r.stdout, `${server.name}:identity`).publicKeyHex;
      } catch (e) {
        if (
          !/ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|connection refused|cannot reach|timed out/i.test(
            (e as Error).message,
          )
        )
          throw e;
        if (Date.now() > deadline) return undefined;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  /** Every identity file in the local state parses; returns server -> public key of the current ones. */
  function localKeys(state: string): Record<string, string> {
    const idDir = join(state, "deployments", deployment, "identities");
    const out: Record<string, string> = {};
    for (const f of readdirSync(idDir)) {
      if (f.startsWith(".")) continue;
      const id = parseIdentityFile(readFileSync(join(idDir, f), "utf8"), f);
      if (f.endsWith(".identity")) out[f.slice(0, -".identity".length)] = id.publicKeyHex;
    }
    return out;
  }

  function configRegions(): string[] {
    return serverNames(parseConfig(readFileSync(config, "utf8"), config)).map((n) => n.slice(deployment.length + 1));
  }

  async function statusRows(state: string): Promise<StatusRow[]> {
    return JSON.parse((await cli(state, "status", "--json", "--config", config)).stdout) as StatusRow[];
  }

  beforeAll(() => {
    writeFileSync(config, `deployment: ${deployment}\ntargets:\n  - kind: local\n    regions: [r1, r2]\n`);
  });

  afterAll(async () => {
    for (const state of [stateB, stateA])
      if (existsSync(state)) await cli(state, "destroy", "--yes", "--config", config);
    rmSync(dir, { recursive: true, force: true });
  }, 300_000);

  it("imports the Rust identity file, deploys it, exports it back byte for byte; up reminds that no backup exists", async () => {
    const rust = join(dir, "rust.identity");
    writeFileSync(rust, drasyl.identityFile.text);
    expect((await cli(stateA, "identity", "import", "--server", name("r1"), rust, "--config", config)).code).toBe(0);
    writeFileSync(join(dir, "r2.identity"), formatIdentityFile(keys.r2 as Identity));
    expect(
      (await cli(stateA, "identity", "import", "--server", name("r2"), join(dir, "r2.identity"), "--config", config))
        .code,
    ).toBe(0);
    expect(drasyl.identityFile.publicKey).toBe(keys.r1?.publicKeyHex);

    const up = await cli(stateA, "up", "--config", config);
    expect(up.code, up.stderr).toBe(0);
    expect(up.stderr).toMatch(/No backup holds the identities of .*-r1, .*-r2 yet/);
    const exported = join(dir, "exported.identity");
    expect(
      (await cli(stateA, "identity", "export", "--server", name("r1"), "--out", exported, "--config", config)).code,
    ).toBe(0);
    expect(readFileSync(exported, "utf8")).toBe(drasyl.identityFile.text);
    const onServer = (await labServers(stateA)).find((s) => s.name === name("r1")) as Server;
    expect((await labExec(onServer, "cat /etc/drasyl-sp/drasyl-sp.identity")).stdout).toBe(drasyl.identityFile.text);
    // Taking over a running super peer's identity over SSH: here the one it already has, so nothing changes.
    const fetched = await cli(
      stateA,
      "identity",
      "import",
      "--server",
      name("r1"),
      "--from-server",
      "--config",
      config,
    );
    expect(fetched.code, fetched.stderr).toBe(0);
    expect(fetched.stderr).toContain(`the local state already holds ${keys.r1?.publicKeyHex}`);
    const list = await cli(stateA, "identity", "list", "--config", config);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(
      new RegExp(`^${name("r1")} +r1 +${keys.r1?.publicKeyHex} +\\d+ +local\\+server +never$`, "m"),
    );
  }, 600_000);

  it("backs up; verify accepts it, and refuses a wrong passphrase, a truncated and a tampered copy", async () => {
    const b = await cli(stateA, "identity", "backup", "--out", backupFile, "--config", config);
    expect(b.code, b.stderr).toBe(0);
    expect(readFileSync(backupFile).subarray(0, 21).toString()).toBe("age-encryption.org/v1");
    const v = await cli(stateA, "identity", "verify", backupFile);
    expect(v.code, v.stderr).toBe(0);
    for (const k of Object.values(keys)) expect(v.stdout).toContain(k.publicKeyHex);
    const wrong = join(dir, "wrong");
    writeFileSync(wrong, "not the passphrase\n");
    const w = await cli(stateA, "identity", "verify", backupFile, "--passphrase-file", wrong);
    expect([w.code, w.stderr.trim()]).toEqual([1, `NOT usable: ${backupFile}: wrong passphrase`]);
    // The same to an age recipient (an offline key): opened with its identity file, and no scrypt to wait for below.
    const ageId = await generateX25519Identity();
    writeFileSync(ageKeyFile, `${ageId}\n`, { mode: 0o600 });
    const rb = await cli(
      stateA,
      "identity",
      "backup",
      "--recipient",
      await identityToRecipient(ageId),
      "--out",
      recipientBackup,
      "--config",
      config,
    );
    expect(rb.code, rb.stderr).toBe(0);
    const rv = await cli(stateA, "identity", "verify", recipientBackup, "--identity", ageKeyFile);
    expect(rv.code, rv.stderr).toBe(0);
    expect((await cli(stateA, "identity", "verify", recipientBackup)).stderr).toMatch(
      /encrypted to an age recipient, not a passphrase: pass the matching age identity file with --identity FILE/,
    );
    const bytes = readFileSync(recipientBackup);
    writeFileSync(join(dir, "truncated.age"), bytes.subarray(0, bytes.length - 17));
    const t = Buffer.from(bytes);
    t[t.length - 25] = (t[t.length - 25] as number) ^ 0x04;
    writeFileSync(join(dir, "tampered.age"), t);
    for (const f of ["truncated.age", "tampered.age"]) {
      const r = await cli(stateA, "identity", "verify", join(dir, f), "--identity", ageKeyFile);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/is damaged: it was truncated or modified/);
      const before = localKeys(stateA);
      const restore = await cli(stateA, "identity", "restore", join(dir, f), "--force", "--identity", ageKeyFile);
      expect(restore.code).toBe(2);
      expect(restore.stderr).toMatch(/is damaged/);
      expect(localKeys(stateA)).toEqual(before);
    }
    expect((await cli(stateA, "identity", "list", "--local-only", "--config", config)).stdout).not.toContain("never");
  }, 300_000);

  it("backup -> destroy -> restore into an empty state -> up onto new servers: the same keys answer", async () => {
    expect((await cli(stateA, "destroy", "--yes", "--config", config)).code).toBe(0);
    const r = await cli(stateB, "identity", "restore", backupFile);
    expect(r.code, r.stderr).toBe(0);
    const up = await cli(stateB, "up", "--config", config);
    expect(up.code, up.stderr + up.stdout).toBe(0);
    for (const region of ["r1", "r2"]) expect(up.stdout).toMatch(new RegExp(`^${name(region)} +installed `, "m"));
    expect(up.stderr).not.toMatch(/No backup holds/);
    const rows = await statusRows(stateB);
    for (const region of ["r1", "r2"])
      expect(rows.find((x) => x.server === name(region))).toMatchObject({
        healthy: true,
        identityPublicKey: keys[region]?.publicKeyHex,
      });
    const peers = await cli(stateB, "peers", "--format", "lines", "--config", config);
    expect(
      peers.stdout
        .trim()
        .split("\n")
        .map((u) => bytesToHex(parseSuperPeerUrl(u).publicKey))
        .sort(),
    ).toEqual(
      Object.values(keys)
        .map((k) => k.publicKeyHex)
        .sort(),
    );
  }, 600_000);

  /** The local state and every running server hold the one identity each super peer always had. */
  async function checkConsistent(state: string, where: string): Promise<void> {
    const local = localKeys(state);
    const held = new Map<string, string>();
    for (const [server, key] of Object.entries(local)) held.set(server, key);
    for (const region of ["r1", "r2"]) {
      const want = keys[region]?.publicKeyHex;
      const names = region === "r1" ? [name("r1"), name("r3")] : [name("r2")];
      const present = names.filter((n) => held.has(n));
      expect(present.length, `${where}: no local identity for ${region}`).toBeGreaterThan(0);
      for (const n of present) expect(held.get(n), `${where}: ${n}`).toBe(want);
    }
    for (const s of await labServers(state)) {
      const key = await serverKey(s);
      const want = s.name === name("r2") ? keys.r2?.publicKeyHex : keys.r1?.publicKeyHex;
      if (key !== undefined) expect(key, `${where}: server ${s.name}`).toBe(want);
    }
  }

  it(`up killed at ${KILLS} points keeps every identity, and a re-run converges`, async () => {
    const servers = () => labServers(stateB);
    // Everything but the Node runtime goes, so each run installs again; the runtime upload is covered elsewhere.
    const wipe = async (): Promise<void> => {
      await Promise.all(
        (await servers()).map((s) =>
          labExec(
            s,
            "systemctl disable --now drasyl-sp >/dev/null 2>&1; rm -rf /opt/drasyl-sp/releases /opt/drasyl-sp/current /etc/drasyl-sp /etc/systemd/system/drasyl-sp.service; systemctl daemon-reload",
          ),
        ),
      );
    };
    await wipe();
    const total = await timed(async () => expect((await cli(stateB, "up", "--config", config)).code).toBe(0));
    const kills = await killAt(total, async (ms, i) => {
      await wipe();
      const hit = await killAfter(stateB, ["up", "--config", config], ms);
      await checkConsistent(stateB, `up killed after ${ms} ms`);
      if (hit && i % 5 === 4) {
        const again = await cli(stateB, "up", "--config", config);
        expect(again.code, `re-run after a kill at ${ms} ms:\n${again.stderr}\n${again.stdout}`).toBe(0);
      }
      return hit;
    });
    expect(kills).toBe(KILLS);
    const last = await cli(stateB, "up", "--config", config);
    expect(last.code, `${last.stderr}\n${last.stdout}`).toBe(0);
    for (const row of await statusRows(stateB)) expect(row.healthy).toBe(true);
    for (const s of await servers())
      expect((await labExec(s, "find /opt/drasyl-sp /etc/drasyl-sp -name '.*.??????'")).stdout.trim()).toBe("");
  }, 900_000);

  it(`identity restore killed at ${KILLS} points leaves the old or the restored identity, never neither`, async () => {
    const r1 = name("r1");
    const diverge = (): void => void replaceIdentity(ds(stateB), r1, other);
    diverge();
    const restoreArgs = ["identity", "restore", recipientBackup, "--force", "--identity", ageKeyFile];
    // A short run whose length varies with the machine's load: the quickest of three sets the scale.
    const runs: number[] = [];
    for (let i = 0; i < 3; i++) {
      diverge();
      runs.push(await timed(async () => expect((await cli(stateB, ...restoreArgs)).code).toBe(0)));
    }
    const total = Math.min(...runs);
    const kills = await killAt(total, async (ms) => {
      diverge();
      const hit = await killAfter(stateB, restoreArgs, ms);
      const now = loadIdentity(ds(stateB), r1)?.publicKeyHex;
      expect([other.publicKeyHex, keys.r1?.publicKeyHex], `restore killed after ${ms} ms`).toContain(now);
      expect(loadIdentity(ds(stateB), name("r2"))?.publicKeyHex).toBe(keys.r2?.publicKeyHex);
      const kept = readdirSync(join(stateB, "deployments", deployment, "identities")).filter((f) =>
        f.startsWith(`${r1}.identity.replaced-`),
      );
      expect(
        kept.some(
          (f) =>
            parseIdentityFile(readFileSync(join(stateB, "deployments", deployment, "identities", f), "utf8"))
              .publicKeyHex === other.publicKeyHex,
        ),
      ).toBe(true);
      return hit;
    });
    expect(kills).toBe(KILLS);
    expect((await cli(stateB, ...restoreArgs)).code).toBe(0);
    expect(loadIdentity(ds(stateB), r1)?.publicKeyHex).toBe(keys.r1?.publicKeyHex);
    const up = await cli(stateB, "up", "--config", config);
    expect(up.code, up.stderr).toBe(0);
    await checkConsistent(stateB, "after restore");
  }, 600_000);

  it(`move between lab regions keeps the key; killed at ${KILLS} points, a re-run finishes it`, async () => {
    const key = keys.r1?.publicKeyHex as string;
    const total = await timed(async () => {
      const m = await cli(stateB, "move", name("r1"), "--to", "r3", "--config", config);
      expect(m.code, m.stderr).toBe(0);
      expect(m.stdout.trim()).toMatch(new RegExp(`^udp://[\\d.]+:22527\\?publicKey=${key}&`));
    });
    expect(configRegions()).toEqual(["r3", "r2"]);
    expect((await labServers(stateB)).map((s) => s.name).sort()).toEqual([name("r2"), name("r3")]);
    expect(existsSync(ds(stateB).identityFile(name("r1")))).toBe(false);

    // Kill points over the measured run; each run resumes the one before (or moves back once done).
    const nextMove = (): string[] => {
      const j = readMoveJournal(ds(stateB));
      if (j) return ["move", j.server, "--to", j.to, "--config", config];
      return configRegions().includes("r3")
        ? ["move", name("r3"), "--to", "r1", "--config", config]
        : ["move", name("r1"), "--to", "r3", "--config", config];
    };
    const kills = await killAt(total, async (ms) => {
      const hit = await killAfter(stateB, nextMove(), ms);
      await checkConsistent(stateB, `move killed after ${ms} ms`);
      expect(configRegions().filter((r) => r === "r1" || r === "r3").length).toBe(1);
      return hit;
    });
    expect(kills).toBe(KILLS);
    if (readMoveJournal(ds(stateB))) {
      const finish = await cli(stateB, ...nextMove());
      expect(finish.code, finish.stderr).toBe(0);
    }
    expect(readMoveJournal(ds(stateB))).toBeUndefined();
    const region = configRegions().find((r) => r !== "r2") as string;
    expect((await labServers(stateB)).map((s) => s.name).sort()).toEqual([name(region), name("r2")].sort());
    const rows = await statusRows(stateB);
    expect(rows.find((r) => r.server === name(region))).toMatchObject({ healthy: true, identityPublicKey: key });
    await checkConsistent(stateB, "after the moves");
  }, 900_000);

  it("no secret key appears in anything the CLI printed or logged", () => {
    const logs = [stateA, stateB]
      .flatMap((s) => (existsSync(s) ? findLogs(s) : []))
      .map((f) => readFileSync(f, "latin1"));
    const text = [...transcript, ...logs].join("\n");
    const lower = text.toLowerCase();
    expect(transcript.length).toBeGreaterThan(100);
    for (const id of [...Object.values(keys), other]) {
      const sk = Buffer.from(id.secretKey);
      const seed = sk.subarray(0, 32);
      for (const hex of [sk.toString("hex"), seed.toString("hex")])
        expect(lower.includes(hex), `a secret key in hex (${hex.length} chars) was printed`).toBe(false);
      for (const b64 of [
        sk.toString("base64"),
        seed.toString("base64"),
        sk.toString("base64url"),
        seed.toString("base64url"),
      ]) {
        expect(text.includes(b64.replace(/=+$/, "")), `a secret key in base64 (${b64.length} chars) was printed`).toBe(
          false,
        );
      }
    }
  });
});

function findLogs(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory() && e.name !== "root" && e.name !== "upper" && e.name !== "work") out.push(...findLogs(p));
    else if (e.isFile() && /\.(log|txt|json)$/.test(e.name)) out.push(p);
  }
  return out;
}
