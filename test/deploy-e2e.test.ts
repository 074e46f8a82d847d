import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { packageRoot } from "../stacks/package-files.ts";
import { parseSuperPeerList, parseSuperPeerUrl } from "../sp-runtime/node/super-peer-url.ts";
import { DrasylNode, type AppEvent } from "../sp-runtime/node/test-node.ts";
import { bytesToHex } from "../sp-runtime/util/hex.ts";
import { loadIdentity } from "../stacks/state/identities.ts";
import { StateDir } from "../stacks/state/state-dir.ts";
import { labAvailable, labExec, labHostKey, LocalProvider } from "../stacks/local/local-provider.ts";
import type { Server } from "../stacks/provider.ts";
import { TestDnsServer } from "./support/dns-server.ts";
import { spawnProcess } from "./support/process.ts";
import { vectorIdentity } from "./support/super-peer.ts";

const execRaw = promisify(execFile);

/** execFile that, on failure, shows what the command printed: its summary goes to stdout. */
async function exec(
  cmd: string,
  args: string[],
  opts: { timeout?: number } = {},
): Promise<{ stdout: string; stderr: string }> {
  try {
    return await execRaw(cmd, args, { maxBuffer: 16 * 1024 * 1024, ...opts });
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${err.message}\n--- stdout ---\n${err.stdout ?? ""}`, { cause: e });
  }
}
const runnable = labAvailable().ok || process.env.CI === "true";

interface StatusRow {
  server: string;
  healthy: boolean;
  active?: string;
  mainPid?: number;
  identityPublicKey?: string;
  udp?: { ok: boolean };
  tcp?: { ok: boolean };
}

/*
 * The path a user walks, through the built CLI: a config naming three local lab servers ->
 * `up` -> `status` -> `peers` -> real drasyl traffic through what was deployed -> `destroy`.
 */
describe.skipIf(!runnable)("drasyl-deploy up / status / peers / destroy on three lab servers", () => {
  const dir = mkdtempSync(join(tmpdir(), "dd-e2e-"));
  const stateDir = join(dir, "state");
  const config = join(dir, "drasyl-deploy.yaml");
  const deployment = `e2e${process.pid % 10000}`;
  const regions = ["r1", "r2", "r3"];
  const names = regions.map((r) => `${deployment}-${r}`);

  async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    try {
      const r = await execRaw(
        process.execPath,
        [join(packageRoot(), "dist", "drasyl-deploy.mjs"), "--state-dir", stateDir, ...args, "--config", config],
        {
          timeout: 600_000,
          maxBuffer: 16 * 1024 * 1024,
        },
      );
      return { code: 0, ...r };
    } catch (e) {
      const err = e as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof err.code === "number" ? err.code : 1, stdout: err.stdout ?? "", stderr: err.stderr ?? "" };
    }
  }

  async function statusRows(): Promise<StatusRow[]> {
    const r = await cli("status", "--json");
    return JSON.parse(r.stdout) as StatusRow[];
  }

  beforeAll(() => {
    writeFileSync(
      config,
      `deployment: ${deployment}\nnetworkId: 1\ntargets:\n  - kind: local\n    regions: [${regions.join(", ")}]\n`,
    );
  });

  afterAll(async () => {
    await cli("destroy", "--yes");
    rmSync(dir, { recursive: true, force: true });
  }, 300_000);

  let firstPids: Record<string, number | undefined> = {};

  it("up installs and verifies a super peer on each server, in parallel", async () => {
    const r = await cli("up");
    expect(r.code, r.stderr + r.stdout).toBe(0);
    for (const n of names) expect(r.stdout).toMatch(new RegExp(`^${n} +installed +\\S+ +[\\d.]+ ms +[\\d.]+ ms$`, "m"));
    // Progress lines of the three servers interleave: they were handled at the same time.
    const order = r.stderr
      .split("\n")
      .map((l) => names.findIndex((n) => l.includes(`[${n}]`)))
      .filter((i) => i >= 0);
    const firstDone = order.lastIndexOf(0);
    expect(order.slice(0, firstDone).some((i) => i !== 0)).toBe(true);
    expect(r.stdout).toMatch(/^DRASYL_SUPER_PEERS="udp:\/\/.*"$/m);
  }, 600_000);

  it("status proves each super peer speaks drasyl with the backed-up key", async () => {
    const rows = await statusRows();
    expect(rows.map((r) => r.server).sort()).toEqual([...names].sort());
    for (const row of rows) {
      expect(row).toMatchObject({ healthy: true, active: "active", udp: { ok: true }, tcp: { ok: true } });
      expect(row.identityPublicKey).toBe(
        loadIdentity(new StateDir(stateDir).forDeployment(deployment), row.server)?.publicKeyHex,
      );
    }
    firstPids = Object.fromEntries(rows.map((r) => [r.server, r.mainPid]));
  }, 120_000);

  it("peers prints a line that parses back to the deployed keys, in every format", async () => {
    const keys = names
      .map((n) => loadIdentity(new StateDir(stateDir).forDeployment(deployment), n)?.publicKeyHex)
      .sort();
    const env = await cli("peers");
    expect(env.code, env.stderr).toBe(0);
    const value = /^DRASYL_SUPER_PEERS="([^"]+)"$/m.exec(env.stdout)?.[1] ?? "";
    expect(env.stdout).toMatch(/^DRASYL_NETWORK_ID=1$/m);
    expect(
      parseSuperPeerList(value)
        .superPeers.map((s) => bytesToHex(s.publicKey))
        .sort(),
    ).toEqual(keys);
    const lines = await cli("peers", "--format", "lines");
    expect(
      lines.stdout
        .trim()
        .split("\n")
        .map((u) => bytesToHex(parseSuperPeerUrl(u).publicKey))
        .sort(),
    ).toEqual(keys);
    const json = JSON.parse((await cli("peers", "--format", "json")).stdout) as { superPeers: string[] };
    expect(json.superPeers.length).toBe(3);
  }, 120_000);

  it("two drasyl nodes on the operator's side exchange APP through a deployed super peer", async () => {
    const url = /^DRASYL_SUPER_PEERS="([^",]+)/m.exec((await cli("peers")).stdout)?.[1] ?? "";
    const sp = parseSuperPeerUrl(url);
    const a = new DrasylNode({ identity: vectorIdentity("id_2"), superPeers: [sp] });
    const b = new DrasylNode({ identity: vectorIdentity("id_3"), superPeers: [sp] });
    try {
      await a.start();
      await b.start();
      await a.hello(sp.publicKey, "udp");
      await b.hello(sp.publicKey, "tcp");
      const got = new Promise<AppEvent>((resolve) => b.once("app", resolve));
      a.sendApp(b.identity.publicKey, Buffer.from("through a deployed super peer"));
      const app = await got;
      expect(Buffer.from(app.payload).toString()).toBe("through a deployed super peer");
      expect(app.hopCount).toBe(1);
    } finally {
      await a.close();
      await b.close();
    }
  }, 60_000);

  it("a second up changes nothing and restarts nothing", async () => {
    const r = await cli("up");
    expect(r.code, r.stderr).toBe(0);
    for (const n of names) expect(r.stdout).toMatch(new RegExp(`^${n} +unchanged `, "m"));
    const rows = await statusRows();
    for (const row of rows) expect(row.mainPid).toBe(firstPids[row.server]);
  }, 300_000);

  it("up --dry-run shows the plan and changes nothing", async () => {
    const r = await cli("up", "--dry-run");
    expect(r.code, r.stderr).toBe(0);
    for (const n of names) expect(r.stdout).toContain(`${n}: release`);
    expect(r.stdout).toContain("nothing to do");
    expect(r.stdout).not.toMatch(/SecretKey|[0-9a-f]{128}/);
  }, 120_000);

  it("destroy removes the servers and keeps the identities", async () => {
    const r = await cli("destroy", "--yes");
    expect(r.code, r.stderr).toBe(0);
    for (const n of names) expect(loadIdentity(new StateDir(stateDir).forDeployment(deployment), n)).toBeDefined();
    const status = await cli("status", "--json");
    expect(status.code).toBe(1);
  }, 300_000);

  it("up after destroy rebuilds the servers with the same super peer keys", async () => {
    const keys = names.map((n) => loadIdentity(new StateDir(stateDir).forDeployment(deployment), n)?.publicKeyHex);
    const r = await cli("up");
    expect(r.code, r.stderr + r.stdout).toBe(0);
    for (const n of names) expect(r.stdout).toMatch(new RegExp(`^${n} +installed `, "m"));
    const rows = await statusRows();
    expect(names.map((n) => rows.find((row) => row.server === n)?.identityPublicKey)).toEqual(keys);
  }, 600_000);
});

describe.skipIf(!runnable)("an interrupted up", () => {
  const dir = mkdtempSync(join(tmpdir(), "dd-int-"));
  const stateDir = join(dir, "state");
  const config = join(dir, "drasyl-deploy.yaml");
  const deployment = `int${process.pid % 10000}`;
  const cliArgs = (...args: string[]) => [
    join(packageRoot(), "dist", "drasyl-deploy.mjs"),
    "--state-dir",
    stateDir,
    ...args,
    "--config",
    config,
  ];

  beforeAll(() => writeFileSync(config, `deployment: ${deployment}\ntargets:\n  - kind: local\n    regions: [r1]\n`));
  afterAll(async () => {
    await exec(process.execPath, cliArgs("destroy", "--yes")).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }, 300_000);

  it("killed in the middle of the install, converges when run again", async () => {
    const first = spawnProcess(process.execPath, cliArgs("up"), process.env);
    // Kill it while the Node runtime is being pushed: the worst moment, half a file and half a release on the server.
    await first.waitForStderr(/\] file \/opt\/drasyl-sp\/runtimes\//, 300_000);
    await new Promise((r) => setTimeout(r, 300));
    first.child.kill("SIGKILL");
    await first.exit;
    const second = await exec(process.execPath, cliArgs("up"), { timeout: 600_000 });
    expect(second.stdout).toMatch(new RegExp(`^${deployment}-r1 +(installed|updated) `, "m"));
    const status = JSON.parse((await exec(process.execPath, cliArgs("status", "--json"))).stdout) as StatusRow[];
    expect(status[0]?.healthy).toBe(true);
    // Nothing half-uploaded stays behind on the server.
    const [server] = await new LocalProvider({
      state: new StateDir(stateDir).forDeployment(deployment),
      regions: ["r1"],
    }).list();
    if (!server) throw new Error("the lab server is gone");
    const leftovers = await labExec(server, "find /opt/drasyl-sp /etc/drasyl-sp /etc/systemd/system -name '.*.??????'");
    expect(leftovers.stdout.trim()).toBe("");
  }, 600_000);
});

describe.skipIf(!runnable)("up onto an existing server through a sudo user", () => {
  const dir = mkdtempSync(join(tmpdir(), "dd-ex-"));
  const stateDir = join(dir, "state");
  const config = join(dir, "drasyl-deploy.yaml");
  const lab = new LocalProvider({
    state: new StateDir(join(dir, "lab-state")).forDeployment(`host${process.pid % 10000}`),
    regions: ["x"],
    sshUser: "deploy",
  });
  const cliArgs = (...args: string[]) => [
    join(packageRoot(), "dist", "drasyl-deploy.mjs"),
    "--state-dir",
    stateDir,
    ...args,
    "--config",
    config,
  ];

  let server: Server;
  let hostKey: string;

  const writeConfig = (dnsName?: string): void =>
    writeFileSync(
      config,
      [
        "deployment: existing-e2e",
        "targets:",
        "  - kind: existing",
        "    servers:",
        "      - name: mine",
        "        region: somewhere",
        `        host: ${server.ipv4}`,
        ...(dnsName ? [`        dnsName: ${dnsName}`] : []),
        "        user: deploy",
        `        privateKey: ${server.ssh.privateKeyPath}`,
        `        hostKey: "${hostKey}"`,
        "",
      ].join("\n"),
    );

  /** The built CLI with the DNS server the checks ask; resolves with the exit code instead of throwing. */
  async function cli(dnsServer: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    try {
      const r = await execRaw(process.execPath, cliArgs(...args), {
        timeout: 600_000,
        env: { ...process.env, DRASYL_DEPLOY_DNS_SERVER: dnsServer },
      });
      return { code: 0, ...r };
    } catch (e) {
      const err = e as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof err.code === "number" ? err.code : 1, stdout: err.stdout ?? "", stderr: err.stderr ?? "" };
    }
  }

  afterAll(async () => {
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }, 300_000);

  it("installs with the operator's key and the host key from the config, and lists the server in peers", async () => {
    const [s] = await lab.apply();
    if (!s) throw new Error("no lab server");
    server = s;
    hostKey = await labHostKey(server);
    writeConfig();
    const r = await exec(process.execPath, cliArgs("up"), { timeout: 600_000 });
    expect(r.stdout).toMatch(/^mine +installed /m);
    const peersOut = (await exec(process.execPath, cliArgs("peers", "--format", "lines"))).stdout.trim();
    expect(peersOut).toBe(
      `udp://${server.ipv4}:22527?publicKey=${loadIdentity(new StateDir(stateDir).forDeployment("existing-e2e"), "mine")?.publicKeyHex}&networkId=1&tcpPort=443`,
    );
  }, 600_000);

  it("status, peers and up fail a dnsName that resolves elsewhere, with the addresses it resolved to; pass it once it leads to the server", async () => {
    const dns = await TestDnsServer.start({ "sp.e2e.test": { A: ["192.0.2.99"], AAAA: ["2001:db8::99"] } });
    try {
      writeConfig("sp.e2e.test");
      const wrong = `dnsName sp.e2e.test resolves to 192.0.2.99, 2001:db8::99, but 192.0.2.99, 2001:db8::99 are not this server's (${server.ipv4})`;
      const status = await cli(dns.address, "status", "--json");
      expect(status.code).toBe(1);
      const [row] = JSON.parse(status.stdout) as (StatusRow & { error?: string })[];
      // The server itself answers at its IP: only the name clients get is wrong.
      expect(row).toMatchObject({ healthy: false, active: "active", udp: { ok: true }, tcp: { ok: true } });
      expect(row?.error).toContain(wrong);
      const peers = await cli(dns.address, "peers");
      expect(peers.code).toBe(1);
      expect(peers.stderr).toContain(`mine: ${wrong}`);
      const up = await cli(dns.address, "up");
      expect(up.code).toBe(1);
      expect(up.stdout).toMatch(/^mine +failed /m);
      expect(up.stdout).toContain(wrong);
      expect(dns.queries).toEqual(expect.arrayContaining(["sp.e2e.test A", "sp.e2e.test AAAA"]));

      dns.zone["sp.e2e.test"] = { A: [server.ipv4 as string] };
      const fixed = await cli(dns.address, "status", "--json");
      expect(fixed.code, fixed.stdout).toBe(0);
      expect((await cli(dns.address, "peers", "--format", "lines")).stdout).toMatch(
        /^udp:\/\/sp\.e2e\.test:22527\?publicKey=/,
      );
    } finally {
      await dns.close();
    }
  }, 600_000);
});
