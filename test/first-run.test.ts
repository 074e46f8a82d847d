import { execFile } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { packageRoot } from "../stacks/package-files.ts";
import { Namespaces, netnsAvailable } from "./support/netns.ts";
import { spawnProcess } from "./support/process.ts";

const execRaw = promisify(execFile);
const CLI = join(packageRoot(), "dist", "drasyl-deploy.mjs");
const root = process.getuid?.() === 0;

/*
 * The Quick start's first command on a fresh machine: `up` without a config file, the built-in
 * three-server sandbox. Every check that can stop it runs before anything is written.
 */
describe.skipIf(!root)("the Quick start on a fresh machine", () => {
  const dir = mkdtempSync(join(tmpdir(), "dd-first-"));
  chmodSync(dir, 0o755);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("as root, with a lab tool missing and apt failing, it stops before writing anything", async () => {
    const stub = join(dir, "stub-bin");
    mkdirSync(stub);
    const calls = join(dir, "apt-calls");
    // apt-get is there but cannot work (a held lock, a broken mirror...); nothing else the lab needs is on PATH.
    writeFileSync(
      join(stub, "apt-get"),
      `#!/bin/sh\necho "$*" >> ${calls}\necho "E: Could not get lock /var/lib/dpkg/lock-frontend" >&2\nexit 100\n`,
      { mode: 0o755 },
    );
    const cwd = join(dir, "fresh");
    mkdirSync(cwd);
    const stateDir = join(dir, "state");
    const r = await execRaw(process.execPath, [CLI, "--state-dir", stateDir, "up"], {
      cwd,
      env: { PATH: stub, HOME: cwd },
    }).then(
      (x) => ({ code: 0, ...x }),
      (e: { code: number; stdout: string; stderr: string }) => e,
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /^Installing [a-z, -]*systemd-container[a-z, -]* with apt-get: the local lab builds Debian servers with debootstrap and boots them with systemd-nspawn/m,
    );
    expect(r.stderr).toContain("E: Could not get lock");
    expect(r.stderr).toMatch(
      /apt-get update failed \(exit 100\), nothing was set up: fix apt .* or run "apt-get install [^"]*systemd-container[^"]*" yourself/,
    );
    expect(readFileSync(calls, "utf8")).toBe("update -q\n");
    // No identity, no lock, no lab state: the state dir was never created, nor anything in the cwd.
    expect(existsSync(stateDir)).toBe(false);
    expect(readdirSync(cwd)).toEqual([]);
    expect(r.stdout).toBe("");
  }, 60_000);

  it("as root with apt, it installs the missing packages, says so in one line, and the lab can run", async () => {
    const stub = join(dir, "stub-apt-ok");
    mkdirSync(stub);
    const calls = join(dir, "apt-ok-calls");
    // This apt "installs" a package by putting the real program on PATH, which is all the lab checks.
    const programs: Record<string, string> = {
      "systemd-container": "/usr/bin/systemd-nspawn",
      "util-linux": "/usr/bin/flock",
      debootstrap: "/usr/sbin/debootstrap",
      iproute2: "/usr/bin/ip",
    };
    const cases = Object.entries(programs)
      .map(([pkg, path]) => `    ${pkg}) /bin/ln -sf ${path} ${stub}/ ;;`)
      .join("\n");
    writeFileSync(
      join(stub, "apt-get"),
      `#!/bin/sh\necho "$*" >> ${calls}\n[ "$1" = install ] || exit 0\nfor p in "$@"; do\n  case "$p" in\n${cases}\n  esac\ndone\n`,
      { mode: 0o755 },
    );
    const path = process.env.PATH;
    process.env.PATH = stub;
    const lines: string[] = [];
    try {
      const { prepareLab } = await import("../cli/preflight/lab-setup.ts");
      expect(await prepareLab((l) => lines.push(l))).toEqual({ ok: true });
    } finally {
      process.env.PATH = path;
    }
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^Installing (systemd-container|util-linux)(, [a-z-]+)* with apt-get: the local lab builds Debian servers/,
    );
    const log = readFileSync(calls, "utf8").trim().split("\n");
    expect(log[0]).toBe("update -q");
    expect(log[1]).toMatch(/^install -y -q --no-install-recommends .*systemd-container/);
    expect(log).toHaveLength(2);
  });

  describe.skipIf(!netnsAvailable())("without root", () => {
    // Its own network namespace: the fallback super peer takes the default ports, which must not collide with anything else on this machine.
    const ns = new Namespaces(`ddfr${process.pid % 10000}`);
    afterAll(() => ns.cleanup());

    it("falls back to the no-root super peer, says how to get the lab, and prints a DRASYL_SUPER_PEERS that works", async () => {
      const net = ns.add("a");
      const home = join(dir, "nobody");
      mkdirSync(home, { mode: 0o777 });
      chmodSync(home, 0o777);
      const argv = [
        "netns",
        "exec",
        net,
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "env",
        "-i",
        "-C",
        home,
      ];
      const p = spawnProcess(
        "ip",
        [...argv, `PATH=${process.env.PATH ?? ""}`, `HOME=${home}`, process.execPath, CLI, "up"],
        process.env,
      );
      try {
        const line = await p.waitFor(/^DRASYL_SUPER_PEERS="([^"]+)"$/m, 120_000);
        await p.waitFor(/Serving until Ctrl-C/);
        expect(p.stderr()).toMatch(
          /^The three-server sandbox cannot run here \(the local lab needs root .*\); starting one super peer on 127\.0\.0\.1 instead\. For the three lab servers, run "sudo npm start" on Debian or Ubuntu\.$/m,
        );
        expect(p.stdout()).toMatch(/^ {2}UDP 127\.0\.0\.1:22527: [\d.]+ ms$/m);
        expect(p.stdout()).toMatch(/^ {2}TCP 127\.0\.0\.1:8443: [\d.]+ ms$/m);
        const value = line[1] ?? "";
        // A drasyl node of the test, in the same namespace, gets ACKs from the printed key over UDP and TCP.
        const probe = await execRaw(
          "ip",
          ["netns", "exec", net, process.execPath, "--import", "tsx", "test/support/probe-url.ts", value],
          { cwd: packageRoot() },
        );
        expect(JSON.parse(probe.stdout)).toEqual([
          { host: "127.0.0.1", udp: expect.objectContaining({ ok: true }), tcp: expect.objectContaining({ ok: true }) },
        ]);
        // The identity went where a non-root user's state lives, private to that user.
        const identity = join(home, ".local", "share", "drasyl-deploy", "sandbox", "drasyl-sp.identity");
        expect(existsSync(identity)).toBe(true);
      } finally {
        expect(await p.stop()).toBe(0);
      }
    }, 180_000);

    // `ip netns exec` mounts a sysfs of the namespace without /sys/fs/cgroup: root, but no cgroups, as in some containers.
    it("as root without cgroups (and without apt), falls back the same way and says why", async () => {
      const net = ns.add("b");
      const cwd = join(dir, "no-apt");
      mkdirSync(join(cwd, "bin"), { recursive: true });
      const argv = [
        "netns",
        "exec",
        net,
        "env",
        "-i",
        "-C",
        cwd,
        `PATH=${join(cwd, "bin")}`,
        `HOME=${cwd}`,
        process.execPath,
        CLI,
        "--state-dir",
        join(cwd, "state"),
        "up",
      ];
      const p = spawnProcess("ip", argv, process.env);
      try {
        await p.waitFor(
          /^DRASYL_SUPER_PEERS="udp:\/\/127\.0\.0\.1:22527\?publicKey=[0-9a-f]{64}&networkId=1&tcpPort=8443"$/m,
          120_000,
        );
        expect(p.stderr()).toMatch(
          /^The three-server sandbox cannot run here \(no usable cgroup hierarchy under \/sys\/fs\/cgroup .*\); starting one super peer on 127\.0\.0\.1 instead/m,
        );
        // The sandbox's identity only: no deployment identities, no lab state.
        expect(readdirSync(join(cwd, "state"))).toContain("sandbox");
        expect(readdirSync(join(cwd, "state"))).not.toEqual(expect.arrayContaining(["deployments"]));
        expect(readdirSync(join(cwd, "state"))).not.toEqual(expect.arrayContaining(["lab"]));
      } finally {
        expect(await p.stop()).toBe(0);
      }
    }, 180_000);
  });
});
