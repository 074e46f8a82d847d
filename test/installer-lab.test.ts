import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatIdentityFile } from "../sp-runtime/identity/identity-file.ts";
import type { Identity } from "../sp-runtime/identity/identity.ts";
import { bytesToHex } from "../sp-runtime/util/hex.ts";
import { forgetHostKey, readPins } from "../stacks/install/host-keys.ts";
import {
  type DeploySpec,
  type InstallOptions,
  type InstallResult,
  installServer,
  serverStatus,
} from "../stacks/install/installer.ts";
import { IDENTITY_FILE } from "../stacks/install/layout.ts";
import { sha256Hex } from "../stacks/install/plan.ts";
import {
  labAvailable,
  labExec,
  labHostKey,
  LocalProvider,
  regenerateHostKeys,
} from "../stacks/local/local-provider.ts";
import type { Server } from "../stacks/provider.ts";
import { superPeerBundle } from "../stacks/package-files.ts";
import { DEFAULT_SETTINGS } from "../stacks/install/settings.ts";
import { StateDir } from "../stacks/state/state-dir.ts";
import { vectorIdentity } from "./support/super-peer.ts";

const lab = labAvailable();
const ours = vectorIdentity("id_1");
const theirs = vectorIdentity("id_2");
const prober = vectorIdentity("id_3");
const CAP_NET_BIND_SERVICE = (1n << 10n).toString(16).padStart(16, "0");

describe.skipIf(!lab.ok && process.env.CI !== "true")(
  `the installer on lab hosts${lab.ok ? "" : ` (skipped: ${lab.reason})`}`,
  () => {
    const stateDir = mkdtempSync(join(tmpdir(), "drasyl-installer-lab-"));
    const provider = new LocalProvider({
      state: new StateDir(stateDir).forDeployment(`inst-${Date.now().toString(36)}`),
      regions: ["lab-1", "lab-2"],
    });
    let a: Server;
    let b: Server;
    const progress: string[] = [];

    /** A command as root on the host (whatever user the installer logs in as), which must succeed. */
    async function root(server: Server, command: string): Promise<string> {
      const r = await labExec({ ...server, ssh: { ...server.ssh, user: "root" } }, command);
      expect(r.code, `${command}: ${r.stderr}`).toBe(0);
      return r.stdout.trim();
    }

    async function install(
      server: Server,
      spec: Partial<DeploySpec> = {},
      opts: Partial<InstallOptions> = {},
    ): Promise<InstallResult> {
      const r = await installServer(
        server,
        { identity: ours, ...spec },
        { knownHostsFile: join(stateDir, "known_hosts.json"), prober, onProgress: (m) => progress.push(m), ...opts },
      );
      const printed = `${JSON.stringify({ ...r, adoptedIdentity: undefined })}\n${progress.join("\n")}`;
      for (const id of [ours, theirs, spec.identity].filter((x): x is Identity => x !== undefined)) {
        expect(printed).not.toContain(bytesToHex(id.secretKey).slice(0, 64));
      }
      return r;
    }

    const mainPid = async (server: Server): Promise<string> =>
      root(server, "systemctl show -p MainPID --value drasyl-sp");

    beforeAll(async () => {
      [a, b] = (await provider.apply()) as [Server, Server];
    }, 240_000);

    afterAll(async () => {
      try {
        await provider.destroy();
      } catch (e) {
        // Seen once: an overlay still busy right after the container stopped. A second pass cleans up.
        console.warn(`lab destroy failed, retrying once: ${(e as Error).message}`);
        await new Promise((r) => setTimeout(r, 2000));
        await provider.destroy();
      }
      rmSync(stateDir, { recursive: true, force: true });
    }, 120_000);

    it("installs on a fresh server: user, modes, a hardened daemon answering over UDP and TCP", async () => {
      const r = await install(a);
      expect(r.error).toBeUndefined();
      expect(r.status).toBe("installed");
      expect(r.health?.udp).toMatchObject({ ok: true });
      expect(r.health?.tcp).toMatchObject({ ok: true });
      console.log(`fresh install: ${JSON.stringify(r.timings)}`);

      expect(await root(a, "getent passwd drasyl-sp | cut -d: -f7")).toBe("/usr/sbin/nologin");
      expect(
        await root(
          a,
          `stat -c '%a %U %G %n' /etc/drasyl-sp ${IDENTITY_FILE} /etc/drasyl-sp/drasyl-sp.env /etc/systemd/system/drasyl-sp.service`,
        ),
      ).toBe(
        [
          "700 drasyl-sp drasyl-sp /etc/drasyl-sp",
          `600 drasyl-sp drasyl-sp ${IDENTITY_FILE}`,
          "600 drasyl-sp drasyl-sp /etc/drasyl-sp/drasyl-sp.env",
          "644 root root /etc/systemd/system/drasyl-sp.service",
        ].join("\n"),
      );
      expect(await root(a, `sha256sum < ${IDENTITY_FILE} | cut -c1-64`)).toBe(sha256Hex(formatIdentityFile(ours)));
      expect(await root(a, "systemctl is-active drasyl-sp; systemctl is-enabled drasyl-sp")).toBe("active\nenabled");

      const pid = await mainPid(a);
      const status = await root(a, `grep -E '^(Uid|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/${pid}/status`);
      const uid = await root(a, "id -u drasyl-sp");
      expect(status).toMatch(new RegExp(`^Uid:\\s+${uid}\\s+${uid}\\s+${uid}\\s+${uid}$`, "m"));
      expect(status).toMatch(new RegExp(`^CapEff:\\s+${CAP_NET_BIND_SERVICE}$`, "m"));
      expect(status).toMatch(new RegExp(`^CapBnd:\\s+${CAP_NET_BIND_SERVICE}$`, "m"));
      expect(status).toMatch(/^NoNewPrivs:\s+1$/m);
      expect(status).toMatch(/^Seccomp:\s+2$/m);

      // One UDP socket per worker thread (SO_REUSEPORT; DRASYL_WORKERS defaults to the CPUs), one TCP listener.
      const workers = Number(await root(a, "nproc"));
      const sockets = await root(a, `ss -H -lnup; ss -H -lntp`);
      for (const [port, count] of [
        [":22527 ", workers],
        [":443 ", 1],
      ] as const) {
        for (const wildcard of ["0.0.0.0", "[::]"]) {
          const bound = sockets
            .split("\n")
            .filter((l) => l.includes(`${wildcard}${port}`) && l.includes(`pid=${pid},`));
          expect(bound, `${wildcard}${port}`).toHaveLength(count);
        }
      }
      console.log((await root(a, "systemd-analyze security drasyl-sp --no-pager | tail -n 1")).trim());
    });

    it("a second install with nothing changed is 'unchanged' and leaves the daemon alone", async () => {
      const before = await mainPid(a);
      const r = await install(a);
      expect(r.status).toBe("unchanged");
      expect(r.plan?.actions).toEqual([]);
      expect(r.health?.ok).toBe(true);
      expect(await mainPid(a)).toBe(before);
      console.log(`unchanged: ${JSON.stringify(r.timings)}`);
    });

    it("serverStatus reports the release, the identity and both probes", async () => {
      const s = await serverStatus(a, {
        knownHostsFile: join(stateDir, "known_hosts.json"),
        prober,
        settings: DEFAULT_SETTINGS,
      });
      expect(s).toMatchObject({
        reachable: true,
        arch: "x64",
        active: "active",
        enabled: "enabled",
        nodeVersion: "24.21.0",
        identityPublicKey: ours.publicKeyHex,
      });
      expect(s.release).toMatch(/^[0-9a-f]{12}-node24\.21\.0$/);
      expect(s.udp).toMatchObject({ ok: true });
      expect(s.tcp).toMatchObject({ ok: true });
    });

    it("rolls a release that does not start back to the previous one", async () => {
      const good = await root(a, "readlink /opt/drasyl-sp/current");
      const dir = mkdtempSync(join(tmpdir(), "drasyl-broken-"));
      const broken = join(dir, "drasyl-sp.mjs");
      writeFileSync(broken, 'console.error("broken release: exiting at once"); process.exit(3);\n');
      try {
        const r = await install(a, { bundlePath: broken });
        expect(r.status).toBe("rolled-back");
        expect(r.error).toMatch(/is unhealthy: drasyl-sp is not running/);
        expect(r.error).toMatch(/rolled back to release/);
        expect(r.rolledBackTo).toBe(good.split("/").at(-1));
        expect(r.journal?.join("\n")).toContain("broken release: exiting at once");
        expect(r.health?.ok).toBe(true);
        console.log(`rollback: ${JSON.stringify(r.timings)}`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      expect(await root(a, "readlink /opt/drasyl-sp/current")).toBe(good);
      expect(await root(a, "systemctl is-active drasyl-sp")).toBe("active");
      // The broken release stays for inspection; the next install of the good bundle changes nothing.
      expect((await install(a)).status).toBe("unchanged");
    });

    it("rolls back a release that answers the probes but dies right after", async () => {
      const good = await root(a, "readlink /opt/drasyl-sp/current");
      const dir = mkdtempSync(join(tmpdir(), "drasyl-flaky-"));
      const flaky = join(dir, "drasyl-sp.mjs");
      // The real super peer, which answers at once, plus a crash a moment later.
      writeFileSync(
        flaky,
        `${readFileSync(superPeerBundle(), "utf8")}\nsetTimeout(() => { console.error("flaky release: crashing"); process.exit(4); }, 2500);\n`,
      );
      try {
        const r = await install(a, { bundlePath: flaky });
        expect(r.status).toBe("rolled-back");
        expect(r.journal?.join("\n")).toContain("flaky release: crashing");
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      expect(await root(a, "readlink /opt/drasyl-sp/current")).toBe(good);
      expect(await root(a, "systemctl is-active drasyl-sp")).toBe("active");
    });

    it("rolls back a settings change that keeps the daemon from starting to the previous unit and settings", async () => {
      const envBefore = await root(a, "sha256sum /etc/drasyl-sp/drasyl-sp.env /etc/systemd/system/drasyl-sp.service");
      // An address this server does not have: the daemon cannot bind its metrics listener and exits.
      const r = await install(a, {
        settings: { ...DEFAULT_SETTINGS, prometheusListen: "192.0.2.77:9898", logLevel: "debug" },
      });
      expect(r.status).toBe("rolled-back");
      expect(r.rolledBackTo).toBe("previous configuration");
      expect(r.error).toMatch(/the new configuration is unhealthy/);
      expect(r.journal?.join("\n")).toMatch(/cannot listen/);
      expect(await root(a, "sha256sum /etc/drasyl-sp/drasyl-sp.env /etc/systemd/system/drasyl-sp.service")).toBe(
        envBefore,
      );
      expect(await root(a, "stat -c '%a %U' /etc/drasyl-sp/drasyl-sp.env")).toBe("600 drasyl-sp");
      expect(await root(a, "systemctl is-active drasyl-sp")).toBe("active");
      expect((await install(a)).status).toBe("unchanged");
    });

    it("the daemon refuses to start without its identity file instead of making a new one", async () => {
      await root(a, `rm ${IDENTITY_FILE} && systemctl restart drasyl-sp`);
      await expect
        .poll(() => root(a, "journalctl -u drasyl-sp --no-pager -n 20"), { timeout: 10_000 })
        .toMatch(/DRASYL_IDENTITY_REQUIRED=true: refusing to create a new identity/);
      expect(await root(a, "ls -A /etc/drasyl-sp")).toBe("drasyl-sp.env");
      expect(await root(a, "systemctl is-active drasyl-sp || true")).not.toBe("active");
      // The next install puts the identity back and brings the service up again.
      const r = await install(a);
      expect(r.status).toBe("updated");
      expect(r.plan?.actions.map((x) => x.kind)).toEqual(["file", "restart"]);
      expect(r.health?.ok).toBe(true);
    });

    it("refuses a changed host key, naming both fingerprints and the way out", async () => {
      const pin = readPins(join(stateDir, "known_hosts.json"))[`${a.ssh.host}:${a.ssh.port}`];
      expect(pin?.key).toBe((await labHostKey(a)).split(" ").slice(0, 2).join(" "));
      const pinned = pin?.fingerprint as string;
      expect(pinned).toMatch(/^SHA256:/);
      await regenerateHostKeys(provider, a.name);
      const r = await install(a);
      expect(r.status).toBe("failed");
      expect(r.error).toContain(`server "${a.name}"`);
      expect(r.error).toContain("CHANGED");
      expect(r.error).toContain(pinned);
      expect(r.error?.match(/SHA256:[A-Za-z0-9+/]{43}/g)).toHaveLength(2);
      expect(r.error).toContain(`drasyl-deploy forget-host ${a.name}`);
      expect(r.plan).toBeUndefined();

      // After forgetting the pin the new key is pinned; the rebooted host started drasyl-sp by itself.
      expect(forgetHostKey(join(stateDir, "known_hosts.json"), a.ssh.host, a.ssh.port)).toBe(true);
      const again = await install(a);
      expect(again.status, again.error).toBe("unchanged");
      expect(readPins(join(stateDir, "known_hosts.json"))[`${a.ssh.host}:${a.ssh.port}`]?.fingerprint).not.toBe(pinned);
    });

    it("installs through the non-root deploy user with sudo", async () => {
      const deploy: Server = { ...b, ssh: { ...b.ssh, user: "deploy" } };
      const r = await install(deploy, { identity: theirs });
      expect(r.error).toBeUndefined();
      expect(r.status).toBe("installed");
      expect(r.health?.ok).toBe(true);
      expect(await root(b, `stat -c '%a %U' ${IDENTITY_FILE}`)).toBe("600 drasyl-sp");
      expect((await install(deploy, { identity: theirs })).status).toBe("unchanged");
    });

    it("refuses a server holding a different identity; replace keeps a backup; adopt keeps the server's", async () => {
      const refused = await install(b);
      expect(refused.status).toBe("failed");
      expect(refused.error).toContain(theirs.publicKeyHex);
      expect(refused.error).toContain(ours.publicKeyHex);
      expect(refused.error).toContain(`--adopt-identity ${b.name}`);
      expect(refused.error).toContain(`--replace-identity ${b.name}`);
      expect(await root(b, `sha256sum < ${IDENTITY_FILE} | cut -c1-64`)).toBe(sha256Hex(formatIdentityFile(theirs)));

      const replaced = await install(b, {}, { identityPolicy: "replace" });
      expect(replaced.error).toBeUndefined();
      expect(replaced.status).toBe("updated");
      expect(replaced.health?.ok).toBe(true);
      const backups = (await root(b, `stat -c '%a %U %n' ${IDENTITY_FILE}.replaced-*`)).split("\n");
      expect(backups).toHaveLength(1);
      expect(backups[0]).toMatch(/^600 root \/etc\/drasyl-sp\/drasyl-sp\.identity\.replaced-\d{8}T\d{6}Z$/);
      expect(await root(b, `sha256sum < ${backups[0]?.split(" ")[2]} | cut -c1-64`)).toBe(
        sha256Hex(formatIdentityFile(theirs)),
      );

      // Adopting: the server keeps its identity (now ours), and hands it over for the local state.
      const adopted = await install(b, { identity: vectorIdentity("id_3") }, { identityPolicy: "adopt" });
      expect(adopted.status).toBe("unchanged");
      expect(adopted.adoptedIdentity?.publicKeyHex).toBe(ours.publicKeyHex);
    });
  },
);
