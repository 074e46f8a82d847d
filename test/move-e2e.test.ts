import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../cli/config/load.ts";
import { dnsRecordPins, serverNames } from "../cli/config/schema.ts";
import { packageRoot } from "../stacks/package-files.ts";
import { labAvailable, labExec, labHostKey, LocalProvider } from "../stacks/local/local-provider.ts";
import type { Server } from "../stacks/provider.ts";
import { loadIdentity } from "../stacks/state/identities.ts";
import { readMoveJournal } from "../stacks/state/move-journal.ts";
import { StateDir } from "../stacks/state/state-dir.ts";
import { TestDnsServer } from "./support/dns-server.ts";
import { spawnProcess } from "./support/process.ts";
import { parseIdentityFile } from "../sp-runtime/identity/identity-file.ts";

const execRaw = promisify(execFile);
const runnable = labAvailable().ok || process.env.CI === "true";
const CLI = join(packageRoot(), "dist", "drasyl-deploy.mjs");
const ZONE = "e2e.test";
const KILLS = 20;

interface StatusRow {
  server: string;
  healthy: boolean;
  identityPublicKey?: string;
  error?: string;
}

/*
 * `move` with DNS names and across targets, through the built CLI on lab servers, with names
 * served by a tiny DNS server (dns.provider none: the operator publishes the records, so the move
 * waits for the name to lead to the new server before the old one goes): a region change keeps the
 * name, a lab region moves onto an existing server listed in the config, and back.
 */
describe.skipIf(!runnable)("move keeps the DNS name and crosses targets (lab)", () => {
  const dir = mkdtempSync(join(tmpdir(), "dd-mv-"));
  const stateDir = join(dir, "state");
  const config = join(dir, "drasyl-deploy.yaml");
  const deployment = `mv${process.pid % 10000}`;
  const name = (region: string): string => `${deployment}-${region}`;
  const state = new StateDir(stateDir).forDeployment(deployment);
  // The existing server: a lab host of its own, reached as a sudo user with the lab's key.
  const boxLab = new LocalProvider({
    state: new StateDir(join(dir, "lab-state")).forDeployment(`box${process.pid % 10000}`),
    regions: ["x"],
    sshUser: "deploy",
  });
  let box: Server;
  let boxEntry: string;
  let dns: TestDnsServer;
  let key: string;

  const labServers = (): Promise<Server[]> => new LocalProvider({ state, regions: ["r1", "r2", "r3"] }).list();
  const ipOf = async (server: string): Promise<string> =>
    (await labServers()).find((s) => s.name === server)?.ipv4 as string;
  const point = (record: string, ip: string): void => {
    dns.zone[`${record}.${ZONE}`] = { A: [ip] };
  };
  const current = () => parseConfig(readFileSync(config, "utf8"), config);

  async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    try {
      const r = await execRaw(process.execPath, [CLI, "--state-dir", stateDir, ...args, "--config", config], {
        timeout: 600_000,
        maxBuffer: 16 << 20,
        env: { ...process.env, DRASYL_DEPLOY_DNS_SERVER: dns.address },
      });
      return { code: 0, ...r };
    } catch (e) {
      const err = e as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof err.code === "number" ? err.code : 1, stdout: err.stdout ?? "", stderr: err.stderr ?? "" };
    }
  }

  async function statusOf(server: string): Promise<StatusRow | undefined> {
    const r = await cli("status", "--json");
    return (JSON.parse(r.stdout) as StatusRow[]).find((row) => row.server === server);
  }

  beforeAll(async () => {
    dns = await TestDnsServer.start({});
    const [b] = await boxLab.apply();
    if (!b) throw new Error("no lab server for the existing target");
    box = b;
    boxEntry = [
      "  - kind: existing",
      "    servers:",
      "      - name: box",
      "        region: home",
      `        host: ${box.ipv4}`,
      "        user: deploy",
      `        privateKey: ${box.ssh.privateKeyPath}`,
      `        hostKey: "${await labHostKey(box)}"`,
      "",
    ].join("\n");
    writeFileSync(
      config,
      `deployment: ${deployment}\ndns: { zone: ${ZONE}, provider: none }\ntargets:\n  - kind: local\n    regions: [r1, r2]\n`,
    );
    // The lab hosts first, so their records can be published before up checks the names.
    for (const s of await new LocalProvider({ state, regions: ["r1", "r2"] }).apply())
      point(`sp-${s.region}`, s.ipv4 as string);
    const up = await cli("up");
    expect(up.code, up.stdout + up.stderr).toBe(0);
    key = loadIdentity(state, name("r1"))?.publicKeyHex as string;
    expect(key).toMatch(/^[0-9a-f]{64}$/);
  }, 600_000);

  afterAll(async () => {
    await cli("destroy", "--yes");
    await boxLab.destroy();
    await dns.close();
    rmSync(dir, { recursive: true, force: true });
  }, 300_000);

  it("a region change keeps the name: the old server serves until the name leads to the new one, then goes", async () => {
    const first = await cli("move", name("r1"), "--to", "r3");
    expect(first.code, first.stdout + first.stderr).toBe(2);
    const r3 = await ipOf(name("r3"));
    expect(first.stderr).toContain(`sp-r1.${ZONE} does not lead to ${name("r3")} yet`);
    expect(first.stderr).toMatch(
      new RegExp(
        `Point sp-r1\\.${ZONE.replace(".", "\\.")} at ${r3.replaceAll(".", "\\.")}(, [0-9a-f:]+)? \\(A/AAAA\\), then run the move again`,
      ),
    );
    // Switched (the config names r3 under the old name), but the old server still runs.
    expect(dnsRecordPins(current())).toEqual({ [name("r3")]: "sp-r1" });
    expect(serverNames(current())).toEqual([name("r3"), name("r2")]);
    expect((await labServers()).map((s) => s.name).sort()).toEqual([name("r1"), name("r2"), name("r3")]);
    expect(readMoveJournal(state)).toMatchObject({ dnsRecord: "sp-r1", publicKey: key });

    point("sp-r1", r3);
    const done = await cli("move", name("r1"), "--to", "r3");
    expect(done.code, done.stdout + done.stderr).toBe(0);
    expect(done.stdout.trim()).toBe(`udp://sp-r1.${ZONE}:22527?publicKey=${key}&networkId=1&tcpPort=443`);
    expect((await labServers()).map((s) => s.name).sort()).toEqual([name("r2"), name("r3")]);
    expect(readMoveJournal(state)).toBeUndefined();
    expect(await statusOf(name("r3"))).toMatchObject({ healthy: true, identityPublicKey: key });
    const peers = await cli("peers", "--format", "lines");
    expect(peers.stdout).toContain(`udp://sp-r1.${ZONE}:22527?publicKey=${key}&`);
  }, 600_000);

  it("onto an existing server the config lists: installed with the same key, the lab region removed, the name kept", async () => {
    writeFileSync(config, readFileSync(config, "utf8") + boxEntry);
    // The operator points the name at the new server first here: the move then finishes in one run.
    point("sp-r1", box.ipv4 as string);
    const m = await cli("move", name("r3"), "--to", "existing:box");
    expect(m.code, m.stdout + m.stderr).toBe(0);
    expect(m.stdout.trim()).toBe(`udp://sp-r1.${ZONE}:22527?publicKey=${key}&networkId=1&tcpPort=443`);
    expect(serverNames(current())).toEqual([name("r2"), "box"]);
    expect(dnsRecordPins(current())).toEqual({ box: "sp-r1" });
    expect((await labServers()).map((s) => s.name)).toEqual([name("r2")]);
    expect(loadIdentity(state, "box")?.publicKeyHex).toBe(key);
    expect(existsSync(state.identityFile(name("r3")))).toBe(false);
    expect(await statusOf("box")).toMatchObject({ healthy: true, identityPublicKey: key });
  }, 600_000);

  it("from the existing server back to a lab region: its daemon is stopped and disabled, its entry leaves the config", async () => {
    const first = await cli("move", "box", "--to", "local:r1");
    expect(first.code, first.stdout + first.stderr).toBe(2);
    // sp-r1 is what the new region's server would be called anyway: nothing to pin.
    expect(dnsRecordPins(current())).toEqual({});
    expect(serverNames(current())).toEqual([name("r2"), name("r1")]);
    expect((await labExec(box, "systemctl is-active drasyl-sp || true")).stdout.trim()).toBe("active");

    point("sp-r1", await ipOf(name("r1")));
    const done = await cli("move", "box", "--to", "local:r1");
    expect(done.code, done.stdout + done.stderr).toBe(0);
    expect(current().targets.map((t) => t.kind)).toEqual(["local"]);
    const states = await labExec(box, "systemctl is-active drasyl-sp; systemctl is-enabled drasyl-sp; true");
    expect(states.stdout.trim().split("\n")).toEqual(["inactive", "disabled"]);
    expect(await statusOf(name("r1"))).toMatchObject({ healthy: true, identityPublicKey: key });
    const list = await cli("identity", "list");
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(new RegExp(`^${name("r1")} +r1 +${key} `, "m"));
    // The names the key had on the way are retired, each listed once, pointing at where the key is now.
    for (const old of [name("r3"), "box"]) {
      const rows = list.stdout.split("\n").filter((l) => l.startsWith(`${old} `));
      expect(rows, list.stdout).toHaveLength(1);
      expect(rows[0]).toMatch(new RegExp(`^${old} +- +${key} +- +retired \\d{4}-\\d\\d-\\d\\d, now ${name("r1")} `));
    }
  }, 600_000);

  /** The key in the server's identity file; undefined without one, or when the host does not take SSH logins (a killed run was booting or removing it). */
  async function serverKey(server: Server): Promise<string | undefined> {
    try {
      const r = await labExec(server, "cat /etc/drasyl-sp/drasyl-sp.identity 2>/dev/null || true");
      return r.stdout.trim() === "" ? undefined : parseIdentityFile(r.stdout, `${server.name}:identity`).publicKeyHex;
    } catch (e) {
      if (
        /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|connection refused|cannot reach|timed out/i.test(
          (e as Error).message,
        )
      )
        return undefined;
      throw e;
    }
  }

  it(`across targets killed at ${KILLS} points: every identity held is the one key, and a re-run finishes the move`, async () => {
    // No DNS here: every run must be able to finish by itself.
    writeFileSync(config, `deployment: ${deployment}\ntargets:\n  - kind: local\n    regions: [r2, r1]\n`);
    const nextMove = (): string[] => {
      const j = readMoveJournal(state);
      if (j) return ["move", j.server, "--to", j.to];
      if (loadIdentity(state, "box")) return ["move", "box", "--to", "local:r1"];
      if (!serverNames(current()).includes("box")) writeFileSync(config, readFileSync(config, "utf8") + boxEntry);
      return ["move", name("r1"), "--to", "existing:box"];
    };
    const check = async (label: string): Promise<void> => {
      const j = readMoveJournal(state);
      if (j) expect(j.publicKey, label).toBe(key);
      const holders = [name("r1"), "box"].filter((n) => loadIdentity(state, n));
      expect(holders.length, `${label}: no server name holds the key`).toBeGreaterThan(0);
      for (const n of holders) expect(loadIdentity(state, n)?.publicKeyHex, label).toBe(key);
      const r1 = (await labServers()).find((x) => x.name === name("r1"));
      for (const server of r1 ? [box, r1] : [box]) {
        const k = await serverKey(server);
        if (k !== undefined) expect(k, `${label}: ${server.name}`).toBe(key);
      }
    };
    const env = { ...process.env, DRASYL_DEPLOY_DNS_SERVER: dns.address };
    const args = (a: string[]) => [CLI, "--state-dir", stateDir, ...a, "--config", config];
    const t = Date.now();
    const first = await cli(...nextMove());
    expect(first.code, first.stdout + first.stderr).toBe(0);
    const total = Date.now() - t;
    await check("after a whole move");

    const points = Array.from({ length: KILLS }, (_, i) => Math.round((0.8 * total * (i + 0.5)) / KILLS));
    let kills = 0;
    for (let tries = 0; kills < KILLS && tries < 3 * KILLS; tries++) {
      const a = nextMove();
      const p = spawnProcess(process.execPath, args(a), env);
      const ms = points[kills] as number;
      const early = await Promise.race([
        p.exit.then(() => true),
        new Promise<false>((r) => setTimeout(() => r(false), ms)),
      ]);
      if (!early) p.child.kill("SIGKILL");
      const code = await p.exit;
      if (early) expect(code, `${a.join(" ")} failed before its kill point at ${ms} ms:\n${p.stderr()}`).toBe(0);
      else kills++;
      await check(`${a.join(" ")} killed after ${ms} ms`);
    }
    expect(kills).toBe(KILLS);
    const j = readMoveJournal(state);
    if (j) {
      const finish = await cli("move", j.server, "--to", j.to);
      expect(finish.code, finish.stdout + finish.stderr).toBe(0);
    }
    await check("after the moves");
    const holder = loadIdentity(state, "box") ? "box" : name("r1");
    expect(await statusOf(holder)).toMatchObject({ healthy: true, identityPublicKey: key });
  }, 900_000);
});
