import { execFile } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { packageRoot } from "../stacks/package-files.ts";
import { loadIdentity } from "../stacks/state/identities.ts";
import { retiredIdentities } from "../stacks/state/retired.ts";
import { StateDir } from "../stacks/state/state-dir.ts";
import { generateSecretKey } from "../sp-runtime/crypto/keys.ts";
import { Identity } from "../sp-runtime/identity/identity.ts";
import { saveIdentityFile } from "../sp-runtime/identity/identity-file.ts";
import { spawnProcess } from "./support/process.ts";
import { vectorIdentity } from "./support/super-peer.ts";
import { bytesToHex } from "../sp-runtime/util/hex.ts";
import { labAvailable, labExec, LocalProvider } from "../stacks/local/local-provider.ts";
import type { Server } from "../stacks/provider.ts";

const runnable = labAvailable().ok || process.env.CI === "true";

interface Snapshot {
  activeEnter: string;
  restarts: number;
  release: string;
}

interface Event {
  event: string;
  server?: string;
  step?: string;
  ok?: boolean;
  batch?: number;
  canary?: boolean;
  servers?: string[];
  outcomes?: { server: string; state: string; now?: string; error?: string }[];
  detail?: string;
}

/** The shipped bundle with code put in front of it: each broken release breaks in one specific way. */
function variant(source: string, file: string, prelude: string): string {
  const [first, ...rest] = readFileSync(source, "utf8").split("\n");
  // Keep the shebang first; ES imports may follow anywhere at the top level.
  const lines = first?.startsWith("#!") ? [first, prelude, ...rest] : [prelude, first ?? "", ...rest];
  writeFileSync(file, lines.join("\n"));
  return file;
}

const DIES_LATER = `setTimeout(() => { console.error("test release: dying 10 s after a good start"); process.exit(3); }, 10_000);`;
const NO_START = `console.error("test release: refusing to start"); process.exit(3);`;
// Relayed packets are the only ones a super peer sends with a hop count above 0 (byte 4 of the
// header; byte 6 of a TCP frame after its u16 length): drop exactly those, answer everything else.
const NO_RELAY = `import __trDgram from "node:dgram"; import __trNet from "node:net";
{ const send = __trDgram.Socket.prototype.send; __trDgram.Socket.prototype.send = function (m, ...r) { if (m instanceof Uint8Array && m.length > 4 && m[4] > 0) return; return send.call(this, m, ...r); };
  const write = __trNet.Socket.prototype.write; __trNet.Socket.prototype.write = function (c, ...r) { if (c instanceof Uint8Array && c.length > 6 && c[6] > 0 && ((c[0] << 8) | c[1]) === c.length - 2) return true; return write.call(this, c, ...r); }; }`;

/*
 * The operator's path through the built CLI on three lab servers: up, a gated rollout of a second
 * release, three broken releases stopped at the canary and rolled back, --resume after a fix, then
 * a region added and removed with up. One set of servers for all of it.
 */
describe.skipIf(!runnable)("drasyl-deploy rollout and region changes on lab servers", () => {
  const dir = mkdtempSync(join(tmpdir(), "dd-rollout-"));
  const stateDir = join(dir, "state");
  const config = join(dir, "drasyl-deploy.yaml");
  const deployment = `ro${process.pid % 10000}`;
  const state = new StateDir(stateDir).forDeployment(deployment);
  const save = (file: string, identity: Identity): void => saveIdentityFile(state.prepare(file), identity);
  const regions = ["r1", "r2", "r3"];
  const names = regions.map((r) => `${deployment}-${r}`);
  const shipped = join(packageRoot(), "dist", "drasyl-sp.mjs");
  const bundles = {
    v2: join(dir, "drasyl-sp-v2.mjs"),
    v3: join(dir, "drasyl-sp-v3.mjs"),
    noStart: join(dir, "no-start.mjs"),
    noRelay: join(dir, "no-relay.mjs"),
    // The release that dies later is fixed in place, then resumed.
    next: join(dir, "next.mjs"),
  };

  function writeConfig(rs: string[]): void {
    writeFileSync(
      config,
      `deployment: ${deployment}\nnetworkId: 1\ntargets:\n  - kind: local\n    regions: [${rs.join(", ")}]\n`,
    );
  }

  async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        [join(packageRoot(), "dist", "drasyl-deploy.mjs"), "--state-dir", stateDir, ...args, "--config", config],
        { timeout: 600_000, maxBuffer: 16 * 1024 * 1024 },
        (err, stdout, stderr) =>
          resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr }),
      );
    });
  }

  async function servers(rs = regions): Promise<Map<string, Server>> {
    return new Map((await new LocalProvider({ state, regions: rs }).list()).map((s) => [s.name, s]));
  }

  async function snapshot(only = names): Promise<Record<string, Snapshot>> {
    const all = await servers([...regions, "r4"]);
    const out: Record<string, Snapshot> = {};
    for (const n of only) {
      const s = all.get(n);
      if (!s) throw new Error(`lab server ${n} is gone`);
      const r = await labExec(
        s,
        "systemctl show -p ActiveEnterTimestamp -p NRestarts drasyl-sp; readlink /opt/drasyl-sp/current",
      );
      const v = (k: string): string => new RegExp(`^${k}=(.*)$`, "m").exec(r.stdout)?.[1] ?? "";
      out[n] = {
        activeEnter: v("ActiveEnterTimestamp"),
        restarts: Number(v("NRestarts")),
        release: r.stdout.trim().split("\n").at(-1)?.split("/").at(-1) ?? "",
      };
    }
    return out;
  }

  /** How often systemd started drasyl-sp on each server since `since` (the server's epoch seconds). */
  async function starts(since: Record<string, number>): Promise<Record<string, number>> {
    const all = await servers();
    const out: Record<string, number> = {};
    for (const n of names) {
      const r = await labExec(
        all.get(n) as Server,
        `journalctl -u drasyl-sp --since @${since[n]} -o cat --no-pager | grep -c '^Started drasyl-sp.service' || true`,
      );
      out[n] = Number(r.stdout.trim());
    }
    return out;
  }

  async function serverClock(): Promise<Record<string, number>> {
    const all = await servers();
    const out: Record<string, number> = {};
    for (const n of names) out[n] = Number((await labExec(all.get(n) as Server, "date +%s")).stdout.trim());
    return out;
  }

  function events(stdout: string): Event[] {
    return stdout
      .trim()
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as Event);
  }

  async function releaseId(bundle: string): Promise<string> {
    const { fileSha256 } = await import("../stacks/install/release.ts");
    const { NODE_RUNTIME } = await import("../stacks/install/node-runtime.ts");
    return `${(await fileSha256(bundle)).slice(0, 12)}-node${NODE_RUNTIME.version}`;
  }

  beforeAll(async () => {
    writeConfig(regions);
    // Mining five identities costs minutes of CPU on a shared machine. A super peer's own proof of
    // work is checked by nobody, so its key can be a plain one; the probe and the relay check's
    // nodes say HELLO and need real proofs: the vector identities carry them.
    for (const r of regions) save(state.identityFile(`${deployment}-${r}`), new Identity(generateSecretKey(), 0));
    save(state.probeIdentityFile, vectorIdentity("id_1"));
    save(state.relayNodeIdentityFile, vectorIdentity("id_2"));
    variant(shipped, bundles.v2, `// drasyl-sp test release v2`);
    variant(shipped, bundles.v3, `// drasyl-sp test release v3`);
    variant(shipped, bundles.noStart, NO_START);
    variant(shipped, bundles.noRelay, NO_RELAY);
    variant(shipped, bundles.next, DIES_LATER);
    const r = await cli("up");
    if (r.code !== 0) throw new Error(`up failed:\n${r.stderr}\n${r.stdout}`);
  }, 600_000);

  afterAll(async () => {
    writeConfig([...regions, "r4"]);
    await cli("destroy", "--yes");
    rmSync(dir, { recursive: true, force: true });
  }, 300_000);

  let v2: Snapshot;

  it("--dry-run prints the canary and the batches in order, and changes nothing", async () => {
    const before = await snapshot();
    const r = await cli("rollout", "--release", bundles.v2, "--dry-run", "--batch", "2");
    expect(r.code, r.stderr).toBe(0);
    const id = await releaseId(bundles.v2);
    expect(r.stdout).toMatch(new RegExp(`^batch 1 \\(canary\\): ${names[0]} \\(r1: \\S+ -> ${id}\\)$`, "m"));
    expect(r.stdout).toMatch(
      new RegExp(`^batch 2: ${names[1]} \\(r2: \\S+ -> ${id}\\), ${names[2]} \\(r3: \\S+ -> ${id}\\)$`, "m"),
    );
    expect(await snapshot()).toEqual(before);
  }, 120_000);

  it("rolls out a second release, gated: canary first, one server at a time, each restarted exactly once", async () => {
    const clock = await serverClock();
    const r = await cli("rollout", "--release", bundles.v2, "--soak", "2", "--json");
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const ev = events(r.stdout);
    expect(ev.filter((e) => e.event === "batch").map((e) => [e.servers, e.canary])).toEqual([
      [[names[0]], true],
      [[names[1]], false],
      [[names[2]], false],
    ]);
    // Never two at once: a server's install starts only after the previous one passed its whole gate.
    for (let i = 1; i < names.length; i++) {
      const firstOfNext = ev.findIndex((e) => e.server === names[i]);
      const lastOfPrev = ev.findLastIndex((e) => e.server === names[i - 1] && e.event === "step");
      expect(ev[lastOfPrev]?.step).toBe("probe-after-soak");
      expect(firstOfNext).toBeGreaterThan(lastOfPrev);
    }
    for (const n of names) {
      const steps = ev.filter((e) => e.event === "step" && e.server === n);
      expect(steps.map((e) => [e.step, e.ok])).toEqual([
        ["install", true],
        ["probe", true],
        ["relay", true],
        ["soak", true],
        ["probe-after-soak", true],
      ]);
    }
    const done = ev.at(-1);
    expect(done?.event).toBe("done");
    const id = await releaseId(bundles.v2);
    expect(done?.outcomes?.map((o) => [o.server, o.state, o.now])).toEqual(names.map((n) => [n, "upgraded", id]));
    expect(await starts(clock)).toEqual(Object.fromEntries(names.map((n) => [n, 1])));
    const snap = await snapshot();
    for (const n of names) expect(snap[n]?.release).toBe(id);
    v2 = snap[names[0] as string] as Snapshot;
  }, 300_000);

  it("a second rollout of the same release changes and restarts nothing", async () => {
    const before = await snapshot();
    const r = await cli("rollout", "--release", bundles.v2, "--soak", "1");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^nothing to roll out/m);
    expect(await snapshot()).toEqual(before);
  }, 120_000);

  const broken = [
    {
      what: "does not start",
      bundle: () => bundles.noStart,
      soak: "1",
      cause: /install: .*rolled back to release/,
      journal: /test release: refusing to start/,
    },
    {
      what: "answers HELLO but drops every relayed APP",
      bundle: () => bundles.noRelay,
      soak: "1",
      cause: /gate: relay: APP ping 0 relayed to node B and its reply relayed back within/,
      journal: /super peer started/,
    },
    {
      what: "dies 10 s after a good start",
      bundle: () => bundles.next,
      soak: "12",
      cause: /gate: soak: drasyl-sp is (activating|failed|inactive)/,
      journal: /test release: dying 10 s after a good start/,
    },
  ];
  for (const b of broken) {
    it(`a release that ${b.what} stops at the canary, which goes back to its release; the others are untouched`, async () => {
      const before = await snapshot();
      const r = await cli("rollout", "--release", b.bundle(), "--soak", b.soak);
      expect(r.code, r.stderr + r.stdout).toBe(1);
      expect(r.stdout).toMatch(new RegExp(`^${names[0]} +r1 +rolled-back +${v2.release} +${v2.release}$`, "m"));
      for (const n of names.slice(1))
        expect(r.stdout).toMatch(new RegExp(`^${n} +r\\d +untouched +${v2.release} +${v2.release}$`, "m"));
      expect(r.stdout).toMatch(new RegExp(`^${names[0]}: ${b.cause.source}`, "m"));
      expect(r.stdout).toContain("journal (journalctl -u drasyl-sp):");
      expect(r.stdout).toMatch(b.journal);
      expect(r.stdout).toMatch(/Rollout stopped at batch 1/);
      const after = await snapshot();
      expect(after[names[0] as string]?.release).toBe(v2.release);
      for (const n of names.slice(1)) expect(after[n]).toEqual(before[n]);
      const status = JSON.parse((await cli("status", "--json")).stdout) as { server: string; healthy: boolean }[];
      expect(status.every((s) => s.healthy)).toBe(true);
    }, 300_000);
  }

  it("--resume after a fix continues the stopped rollout in its order and completes it", async () => {
    copyFileSync(bundles.v3, bundles.next);
    const clock = await serverClock();
    const r = await cli("rollout", "--resume", "--soak", "1");
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const id = await releaseId(bundles.v3);
    for (const n of names) expect(r.stdout).toMatch(new RegExp(`^${n} +r\\d +upgraded +${v2.release} +${id}$`, "m"));
    expect(r.stderr).toMatch(/resuming the rollout started/);
    expect(r.stderr).toMatch(new RegExp(`batch 1 \\(canary\\): ${names[0]}\\n`));
    expect(await starts(clock)).toEqual(Object.fromEntries(names.map((n) => [n, 1])));
    const again = await cli("rollout", "--resume");
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/no stopped rollout .* to resume/);
  }, 300_000);

  it("a rollout killed during the canary's gate: --resume gates the canary without restarting it again, then goes on", async () => {
    const clock = await serverClock();
    const killed = spawnProcess(
      process.execPath,
      [
        join(packageRoot(), "dist", "drasyl-deploy.mjs"),
        "--state-dir",
        stateDir,
        "rollout",
        "--release",
        bundles.v2,
        "--soak",
        "60",
        "--config",
        config,
      ],
      process.env,
    );
    await killed.waitForStderr(new RegExp(`\\[${names[0]}\\] ok   probe `), 120_000);
    killed.child.kill("SIGKILL");
    await killed.exit;
    const id = await releaseId(bundles.v2);
    expect((await snapshot())[names[0] as string]?.release).toBe(id);
    const r = await cli("rollout", "--resume", "--soak", "1");
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`\\[${names[0]}\\] ok   install .*already in place`));
    expect(r.stderr).toMatch(new RegExp(`\\[${names[0]}\\] ok   soak `));
    for (const n of names) expect(r.stdout).toMatch(new RegExp(`^${n} +r\\d +upgraded +\\S+ +${id}$`, "m"));
    expect(await starts(clock)).toEqual(Object.fromEntries(names.map((n) => [n, 1])));
  }, 300_000);

  it("the audit log has a line per command with the releases before and after, 0600, no secrets", async () => {
    const file = state.auditLogFile;
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const text = readFileSync(file, "utf8");
    const lines = text
      .trim()
      .split("\n")
      .map(
        (l) =>
          JSON.parse(l) as {
            command: string;
            who: string;
            exitCode: number;
            args: string[];
            servers: { server: string; result: string; releaseBefore?: string; releaseAfter?: string }[];
          },
      );
    expect(lines.map((l) => [l.command, l.exitCode])).toEqual([
      ["up", 0],
      ["rollout", 0],
      ["rollout", 0],
      ["rollout", 0],
      ["rollout", 1],
      ["rollout", 1],
      ["rollout", 1],
      ["rollout", 0],
      ["rollout", 2],
      ["rollout", 0],
    ]);
    expect(lines[0]?.who).toMatch(/^\S+@\S+$/);
    expect(lines[2]?.args).toEqual([
      "--state-dir",
      stateDir,
      "rollout",
      "--release",
      bundles.v2,
      "--soak",
      "2",
      "--json",
      "--config",
      config,
    ]);
    expect(lines[2]?.servers.map((s) => [s.server, s.result, s.releaseBefore !== s.releaseAfter])).toEqual(
      names.map((n) => [n, "upgraded", true]),
    );
    expect(lines[4]?.servers.map((s) => s.result)).toEqual(["rolled-back", "untouched", "untouched"]);
    for (const n of names)
      expect(text).not.toContain(bytesToHex(loadIdentity(state, n)?.secretKey ?? new Uint8Array(1)));
  }, 60_000);

  it("logs prints every server's journal, one prefix per server", async () => {
    const r = await cli("logs", "--since", "10 minutes ago");
    expect(r.code, r.stderr).toBe(0);
    for (const n of names) expect(r.stdout).toMatch(new RegExp(`^${n} \\| .*Started drasyl-sp.service`, "m"));
    const one = await cli("logs", names[1] as string, "-n", "5");
    expect(one.stdout.trim().split("\n")).toHaveLength(5);
    expect(
      one.stdout
        .split("\n")
        .filter(Boolean)
        .every((l) => l.startsWith(`${names[1]} | `)),
    ).toBe(true);
  }, 60_000);

  it("adding a region installs only the new server (with the rolled-out release); the others are not restarted", async () => {
    const before = await snapshot();
    save(state.identityFile(`${deployment}-r4`), new Identity(generateSecretKey(), 0));
    writeConfig([...regions, "r4"]);
    const r = await cli("up");
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const id = await releaseId(bundles.v2);
    expect(r.stdout).toMatch(new RegExp(`^${deployment}-r4 +installed +${id} `, "m"));
    for (const n of names) expect(r.stdout).toMatch(new RegExp(`^${n} +unchanged `, "m"));
    expect(await snapshot()).toEqual(before);
    const diff = await cli("peers", "--diff");
    expect(diff.stdout).toMatch(new RegExp(`^\\+ ${deployment}-r4  udp://`, "m"));
  }, 600_000);

  it("removing it asks first, then removes only that server; its identity stays, retired; peers no longer lists it", async () => {
    const before = await snapshot();
    const r4 = `${deployment}-r4`;
    const key = loadIdentity(state, r4)?.publicKeyHex;
    writeConfig(regions);
    const refused = await cli("up");
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(new RegExp(`Not confirmed: nothing changed. ${r4} left the config`));
    expect((await servers([...regions, "r4"])).has(r4)).toBe(true);
    const r = await cli("up", "--yes");
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect((await servers([...regions, "r4"])).has(r4)).toBe(false);
    expect(await snapshot()).toEqual(before);
    expect(loadIdentity(state, r4)).toBeUndefined();
    expect(retiredIdentities(state).map((x) => [x.server, x.publicKey])).toEqual([[r4, key]]);
    const peers = await cli("peers", "--format", "lines");
    expect(peers.stdout).not.toContain(key);
    expect(peers.stdout.trim().split("\n")).toHaveLength(3);
    const diff = await cli("peers", "--diff");
    expect(diff.stdout).toMatch(new RegExp(`^- ${r4}  udp://.*publicKey=${key}`, "m"));
  }, 600_000);

  it("--batch 2 upgrades the two servers after the canary together, each gated against a super peer outside its batch", async () => {
    const clock = await serverClock();
    const r = await cli("rollout", "--release", bundles.v3, "--batch", "2", "--soak", "1", "--json");
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const ev = events(r.stdout);
    expect(ev.filter((e) => e.event === "batch").map((e) => e.servers)).toEqual([[names[0]], [names[1], names[2]]]);
    // Both installs of the second batch start before either passes its gate.
    const installStart = (n: string | undefined): number =>
      ev.findIndex((e) => e.event === "progress" && e.server === n);
    const gateEnd = (n: string | undefined): number =>
      ev.findIndex((e) => e.event === "step" && e.server === n && e.step === "probe-after-soak");
    expect(Math.max(installStart(names[1]), installStart(names[2]))).toBeLessThan(
      Math.min(gateEnd(names[1]), gateEnd(names[2])),
    );
    const relays = ev.filter(
      (e) => e.event === "step" && e.step === "relay" && (e.server === names[1] || e.server === names[2]),
    );
    for (const e of relays) expect(e.detail).toContain(`node B also at ${names[0]}`);
    expect(await starts(clock)).toEqual(Object.fromEntries(names.map((n) => [n, 1])));
  }, 300_000);
});
