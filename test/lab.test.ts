import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server as NetServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StateDir } from "../stacks/state/state-dir.ts";
import {
  LocalProvider,
  labAvailable,
  labExec,
  labHostKey,
  regenerateHostKeys,
} from "../stacks/local/local-provider.ts";
import { OPERATOR_IPV4, OPERATOR_IPV6 } from "../stacks/local/network.ts";
import type { Server } from "../stacks/provider.ts";
import { sh } from "./support/netns.ts";

/*
 * The local lab against real systemd-nspawn containers: what the end-to-end suite and
 * `drasyl-deploy up` rely on. The first run on a machine builds the base image (about a minute).
 */
const lab = labAvailable();
const mustRun = process.env.CI === "true";
const unique = `${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;

/** What a lab host's nspawn looks like from the machine, found the way an operator would: /proc. */
interface Footprint {
  pids: number[];
  netns: string[];
  roots: string[];
}

function alive(pid: number): boolean {
  try {
    return !/^State:\s+[ZX]/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
  } catch {
    return false;
  }
}

function isNspawn(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim() === "systemd-nspawn";
  } catch {
    return false;
  }
}

function footprint(machineNames: string[]): Footprint {
  const fp: Footprint = { pids: [], netns: [], roots: [] };
  const nspawns = new Set<number>();
  const parents = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      parents.set(pid, Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
      const args = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
      if (
        args[0]?.endsWith("systemd-nspawn") &&
        machineNames.some((n) => args.includes(`--machine=${n}`)) &&
        alive(pid)
      ) {
        nspawns.add(pid);
        for (const a of args) {
          if (a.startsWith("--network-namespace-path=/run/netns/"))
            fp.netns.push(a.slice("--network-namespace-path=/run/netns/".length));
          if (a.startsWith("--directory=")) fp.roots.push(a.slice("--directory=".length));
        }
      }
    } catch {
      // Exited while we looked.
    }
  }
  // The nspawns and their direct children (each container's systemd).
  for (const [pid, ppid] of parents) if (nspawns.has(pid) || nspawns.has(ppid)) fp.pids.push(pid);
  return fp;
}

function expectGone(fp: Footprint): void {
  expect(fp.pids.filter(alive)).toEqual([]);
  const netns = sh("ip", ["netns", "list"]);
  for (const ns of fp.netns) expect(netns).not.toContain(ns);
  const mounts = readFileSync("/proc/mounts", "utf8");
  for (const root of fp.roots) expect(mounts).not.toContain(root);
}

async function exec(server: Server, cmd: string): Promise<string> {
  const r = await labExec(server, cmd);
  if (r.code !== 0) throw new Error(`${cmd} on ${server.name} as ${server.ssh.user} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

describe.skipIf(!lab.ok && !mustRun)("local lab provider (systemd-nspawn hosts)", () => {
  const stateDir = mkdtempSync(join(tmpdir(), "dd-lab-"));
  const provider = new LocalProvider({
    state: new StateDir(stateDir).forDeployment(`t${unique}`),
    regions: ["lab-1", "lab-2"],
  });
  let servers: Server[] = [];
  const hostKeys = new Map<string, string>();

  beforeAll(async () => {
    if (!lab.ok) throw new Error(`CI=true but the local lab cannot run: ${lab.reason}`);
    const t = Date.now();
    servers = await provider.apply();
    console.log(
      `lab: ${servers.length} hosts up in ${((Date.now() - t) / 1000).toFixed(1)} s (includes the base image build on a fresh machine)`,
    );
    for (const s of servers) hostKeys.set(s.name, await labHostKey(s));
  }, 300_000);

  afterAll(async () => {
    await provider.destroy();
    rmSync(stateDir, { recursive: true, force: true });
  }, 120_000);

  it("boots one host per region with its own addresses", () => {
    expect(servers.map((s) => s.region)).toEqual(["lab-1", "lab-2"]);
    expect(new Set(servers.map((s) => s.ipv4)).size).toBe(2);
    for (const s of servers) {
      expect(s.name).toBe(`t${unique}-${s.region}`);
      expect(s.ssh).toMatchObject({ host: s.ipv4, port: 22, user: "root" });
      expect(s.ipv6).toMatch(/^fd00:dd:1::/);
      expect(s.arch).toBeUndefined();
    }
  });

  it("runs systemd as PID 1 with journald, and no Node.js", async () => {
    for (const s of servers) {
      const out = await exec(
        s,
        "cat /proc/1/comm; systemctl is-system-running --wait; systemctl is-active systemd-journald ssh; hostname; command -v node nodejs || echo no-node",
      );
      const [pid1, state, journald, ssh, hostname, node] = out.trim().split("\n");
      expect(pid1).toBe("systemd");
      expect(["running", "degraded"]).toContain(state);
      expect([journald, ssh]).toEqual(["active", "active"]);
      expect(hostname).toBe(s.name);
      expect(node).toBe("no-node");
    }
  });

  it("accepts the operator key for root and for the sudo user deploy", async () => {
    for (const s of servers) expect((await exec(s, "id -un")).trim()).toBe("root");
    const asDeploy = await new LocalProvider({
      state: new StateDir(stateDir).forDeployment(`t${unique}`),
      regions: ["lab-1", "lab-2"],
      sshUser: "deploy",
    }).list();
    expect(asDeploy.map((s) => s.ssh.user)).toEqual(["deploy", "deploy"]);
    for (const s of asDeploy)
      expect((await exec(s, "id -un; sudo -n true && echo sudo-ok")).trim().split("\n")).toEqual(["deploy", "sudo-ok"]);
  });

  it("connects the hosts to each other and to the operator over IPv4 and IPv6", async () => {
    const [a, b] = servers;
    if (!a || !b) throw new Error("two servers expected");
    for (const [from, to] of [
      [a, b],
      [b, a],
    ] as const) {
      for (const ip of [to.ipv4, to.ipv6]) {
        const banner = await exec(from, `timeout 5 bash -c 'exec 3<>/dev/tcp/${ip}/22; head -c 7 <&3'`);
        expect(banner).toBe("SSH-2.0");
      }
    }
    for (const operator of [OPERATOR_IPV4, OPERATOR_IPV6]) {
      const received: string[] = [];
      const server: NetServer = createServer((c) => c.on("data", (d: Buffer) => received.push(d.toString().trim())));
      await new Promise<void>((r) => server.listen(0, operator, r));
      const { port } = server.address() as { port: number };
      try {
        for (const s of servers)
          await exec(s, `timeout 5 bash -c 'echo "hello from $(hostname)" > /dev/tcp/${operator}/${port}'`);
        await expect.poll(() => received.sort()).toEqual(servers.map((s) => `hello from ${s.name}`).sort());
      } finally {
        server.close();
      }
    }
  });

  it("reuses the running hosts when applied again", async () => {
    const lines = await provider.preview();
    expect(lines.every((l) => l.startsWith("keep running"))).toBe(true);
    const before = footprint(servers.map((s) => s.name)).pids.sort();
    const again = await provider.apply();
    expect(again).toEqual(servers);
    expect(footprint(servers.map((s) => s.name)).pids.sort()).toEqual(before);
    for (const s of again) expect(await labHostKey(s)).toBe(hostKeys.get(s.name));
    expect(await provider.list()).toEqual(servers);
  });

  it("gives a host new SSH host keys on regenerateHostKeys, and only that host", async () => {
    const [a, b] = servers;
    if (!a || !b) throw new Error("two servers expected");
    await regenerateHostKeys(provider, a.name);
    expect(await labHostKey(a)).not.toBe(hostKeys.get(a.name));
    expect(await labHostKey(b)).toBe(hostKeys.get(b.name));
    expect((await exec(a, "echo ok")).trim()).toBe("ok");
  });

  it("restarts a host whose nspawn was killed, keeping its disk like a rebooted VM", async () => {
    const b = servers[1];
    if (!b) throw new Error("two servers expected");
    await exec(b, "echo survived > /root/marker");
    const [nspawn] = footprint([b.name]).pids.filter(isNspawn);
    if (nspawn === undefined) throw new Error("no nspawn found");
    process.kill(nspawn, "SIGKILL");
    const t0 = Date.now();
    await provider.apply();
    // Slower means the restarted host came back with a new MAC and waits for stale ARP entries.
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect((await exec(b, "cat /root/marker")).trim()).toBe("survived");
    expect(await labHostKey(b)).toBe(hostKeys.get(b.name));
  });

  it("destroy removes processes, mounts, network namespaces and state", async () => {
    const fp = footprint(servers.map((s) => s.name));
    expect(fp.pids.length).toBeGreaterThanOrEqual(4);
    expect(fp.netns.length).toBe(2);
    await provider.destroy();
    expectGone(fp);
    expect(existsSync(join(stateDir, "lab", `t${unique}`))).toBe(false);
    expect(await provider.list()).toEqual([]);
    // The operator key is local state like an identity: kept for the next deployment.
    expect(existsSync(join(stateDir, "lab", "operator_ed25519"))).toBe(true);
  });

  it("cleans up and converges after an apply that was killed mid-way", async () => {
    const deployment = `i${unique}`;
    const name = `${deployment}-lab-1`;
    const script = join(stateDir, "apply.mts");
    const providerUrl = pathToFileURL(join(import.meta.dirname, "../stacks/local/local-provider.ts")).href;
    const stateUrl = pathToFileURL(join(import.meta.dirname, "../stacks/state/state-dir.ts")).href;
    writeFileSync(
      script,
      `import { LocalProvider } from ${JSON.stringify(providerUrl)};\nimport { StateDir } from ${JSON.stringify(stateUrl)};\n` +
        `await new LocalProvider({ state: new StateDir(${JSON.stringify(stateDir)}).forDeployment(${JSON.stringify(deployment)}), regions: ["lab-1"] })` +
        `.apply((s, m) => console.log(s + ": " + m));\nsetInterval(() => {}, 1000);\n`,
    );
    // Killed right as it starts booting: netns made, container maybe not yet started.
    const killedApply = async (): Promise<void> => {
      const child = spawn(process.execPath, ["--import", "tsx", script], {
        cwd: join(import.meta.dirname, ".."),
        stdio: ["ignore", "pipe", "inherit"],
      });
      let out = "";
      await new Promise<void>((resolve, reject) => {
        child.stdout.on("data", (d: Buffer) => {
          out += d.toString();
          if (out.includes("booting")) {
            child.kill("SIGKILL");
            resolve();
          }
        });
        child.on("exit", () => reject(new Error(`apply exited before booting: ${out}`)));
      });
    };

    const interrupted = new LocalProvider({
      state: new StateDir(stateDir).forDeployment(deployment),
      regions: ["lab-1"],
    });
    await killedApply();
    expect(readFileSync(join(stateDir, "lab", deployment, "state.json"), "utf8")).toContain(name);
    // A re-run converges on the half-made host.
    const [server] = await interrupted.apply();
    if (!server) throw new Error("one server expected");
    expect((await exec(server, "systemctl is-system-running --wait || true")).trim()).toMatch(/running|degraded/);
    // Worst case: nspawn SIGKILLed, leaving the container's init behind.
    const fp = footprint([name]);
    for (const pid of fp.pids.filter(isNspawn)) process.kill(pid, "SIGKILL");
    await interrupted.destroy();
    expectGone(fp);

    // Killed again and never re-run: destroy alone cleans up.
    await killedApply();
    const left = footprint([name]);
    await interrupted.destroy();
    expectGone({ ...left, netns: fp.netns, roots: fp.roots });
    expect(existsSync(join(stateDir, "lab", deployment))).toBe(false);
  });
});
