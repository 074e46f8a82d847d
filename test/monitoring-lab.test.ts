import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { parse, stringify } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { packageRoot } from "../stacks/package-files.ts";
import { loadIdentity } from "../stacks/state/identities.ts";
import { StateDir } from "../stacks/state/state-dir.ts";
import { parseSuperPeerUrl } from "../sp-runtime/node/super-peer-url.ts";
import { DrasylNode } from "../sp-runtime/node/test-node.ts";
import { labAvailable } from "../stacks/local/local-provider.ts";
import type { KeyFigures } from "../stacks/monitoring/key-figures.ts";
import { prometheusPath, type RunningPrometheus, startPrometheus } from "./support/prometheus.ts";
import { vectorIdentity } from "./support/super-peer.ts";

const execRaw = promisify(execFile);
const runnable = (labAvailable().ok && prometheusPath !== undefined) || process.env.CI === "true";

/*
 * Monitoring a deployed super peer the way an operator does, through the built CLI on a lab
 * server: `up` with the metrics endpoint exposed behind a bearer token, `monitoring` writes the
 * Prometheus files, a real Prometheus (Debian's) started from them scrapes the server and sees the
 * peers gauge move when a drasyl node registers; `status --metrics` reads the same figures through
 * SSH port forwarding; the token never shows in any output.
 */
describe.skipIf(!runnable)(
  "monitoring a lab super peer: up, monitoring, Prometheus, status --metrics, DNS names",
  () => {
    const dir = mkdtempSync(join(tmpdir(), "dd-mon-"));
    const stateDir = join(dir, "state");
    const config = join(dir, "drasyl-deploy.yaml");
    const out = join(dir, "monitoring");
    const deployment = `mon${process.pid % 10000}`;
    const server = `${deployment}-m1`;
    const TOKEN = `lab-token-${process.pid}-x7`;
    let prom: RunningPrometheus | undefined;
    let node: DrasylNode | undefined;
    const printed: string[] = [];

    async function cli(
      ...argv: (string | Record<string, string>)[]
    ): Promise<{ code: number; stdout: string; stderr: string }> {
      const extra = typeof argv[0] === "object" ? argv[0] : {};
      const args = argv.filter((a): a is string => typeof a === "string");
      const env = { ...process.env, DRASYL_DEPLOY_METRICS_TOKEN: TOKEN, ...extra };
      try {
        const r = await execRaw(
          process.execPath,
          [join(packageRoot(), "dist", "drasyl-deploy.mjs"), "--state-dir", stateDir, ...args, "--config", config],
          {
            timeout: 600_000,
            maxBuffer: 16 * 1024 * 1024,
            env,
          },
        );
        printed.push(r.stdout, r.stderr);
        return { code: 0, ...r };
      } catch (e) {
        const err = e as { code?: number; stdout?: string; stderr?: string };
        printed.push(err.stdout ?? "", err.stderr ?? "");
        return {
          code: typeof err.code === "number" ? err.code : 1,
          stdout: err.stdout ?? "",
          stderr: err.stderr ?? "",
        };
      }
    }

    async function statusMetrics(): Promise<KeyFigures | undefined> {
      const r = await cli("status", "--json", "--metrics");
      const rows = JSON.parse(r.stdout) as { server: string; metrics?: KeyFigures; error?: string }[];
      expect(rows[0]?.error).toBeUndefined();
      return rows[0]?.metrics;
    }

    beforeAll(() => {
      writeFileSync(
        config,
        `deployment: ${deployment}\nsuperPeer:\n  prometheusListen: "0.0.0.0:9898"\ntargets:\n  - kind: local\n    regions: [m1]\n`,
      );
    });

    afterAll(async () => {
      await node?.close();
      await prom?.stop();
      await cli("destroy", "--yes");
      rmSync(dir, { recursive: true, force: true });
    }, 300_000);

    it("up installs the super peer with the exposed, token-protected endpoint", async () => {
      const r = await cli("up");
      expect(r.code, r.stderr + r.stdout).toBe(0);
    }, 600_000);

    it("status --metrics reads the key figures through SSH port forwarding", async () => {
      const m = await statusMetrics();
      // The one peer is status's own drasyl probe (the same probe identity as up's health check).
      expect(m).toMatchObject({ peers: 1, droppedPackets: 0 });
      expect(m?.rssBytes).toBeGreaterThan(10 * 1024 * 1024);
      expect(m?.uptimeSeconds).toBeGreaterThanOrEqual(0);
      const table = await cli("status", "--metrics");
      expect(table.stdout).toMatch(new RegExp(`^${server} +1 +0 +\\d+ +0 pkts / 0\\.0 MiB +0 +0 +[\\d.]+ MiB`, "m"));
    }, 120_000);

    it("monitoring writes the Prometheus files; a real Prometheus scrapes the server with the token and sees a node register", async () => {
      const r = await cli("monitoring", "--out", out);
      expect(r.code, r.stderr + r.stdout).toBe(0);
      expect(statSync(join(out, "metrics-token")).mode & 0o777).toBe(0o600);
      const targets = JSON.parse(readFileSync(join(out, "targets", `${server}.json`), "utf8")) as {
        targets: string[];
        labels: Record<string, string>;
      }[];
      const host = targets[0]?.targets[0] ?? "";
      expect(host).toMatch(/^\d+\.\d+\.\d+\.\d+:9898$/);
      // Unauthenticated, the endpoint refuses: the token in the generated config is what gets Prometheus in.
      expect((await fetch(`http://${host}/metrics`)).status).toBe(401);

      // The generated config as it is, scraping every second instead of every 15 s to keep the test short.
      const doc = parse(readFileSync(join(out, "prometheus.yml"), "utf8")) as {
        global: Record<string, string>;
        scrape_configs: Record<string, unknown>[];
      };
      doc.global.scrape_interval = "1s";
      for (const job of doc.scrape_configs) job.scrape_interval = "1s";
      prom = await startPrometheus(stringify(doc));

      const peers = async (want: string): Promise<Record<string, string>> => {
        const deadline = Date.now() + 60_000;
        let last: { metric: Record<string, string>; value: [number, string] }[] = [];
        while (Date.now() < deadline) {
          last = await (prom as RunningPrometheus).query(`drasyl_sp_peers{deployment="${deployment}"}`);
          if (last[0]?.value[1] === want) return last[0].metric;
          await new Promise((res) => setTimeout(res, 250));
        }
        throw new Error(`drasyl_sp_peers never became ${want}: ${JSON.stringify(last)}`);
      };
      // The probes of up and status count as a peer until HELLO_TIMEOUT (30 s) evicts them: wait for 0.
      const publicKey = loadIdentity(new StateDir(stateDir).forDeployment(deployment), server)?.publicKeyHex ?? "";
      const labels = await peers("0");
      expect(labels).toMatchObject({ deployment, region: "m1", server, public_key: publicKey });

      // Built by hand rather than with `peers`, whose probe would register a peer too.
      const sp = parseSuperPeerUrl(`udp://${host.replace(/:9898$/, "")}:22527?publicKey=${publicKey}&networkId=1`);
      node = new DrasylNode({ identity: vectorIdentity("id_2"), superPeers: [sp] });
      await node.start();
      await node.hello(sp.publicKey, "udp");
      await peers("1");
      expect((await prom.query(`up{deployment="${deployment}"}`))[0]?.value[1]).toBe("1");

      // The node, and status's own probe again.
      const m = await statusMetrics();
      expect(m?.peers).toBe(2);
      expect(m?.hellosReceived).toBeGreaterThanOrEqual(3);
    }, 180_000);

    it("a dns section (provider none, records at a local DNS server): peers, status and monitoring use the name", async () => {
      const { TestDnsServer } = await import("./support/dns-server.ts");
      const ip =
        (
          JSON.parse(readFileSync(join(out, "targets", `${server}.json`), "utf8")) as { targets: string[] }[]
        )[0]?.targets[0]?.replace(/:9898$/, "") ?? "";
      const name = `${server}.lab.test`;
      const dns = await TestDnsServer.start({ [name]: { A: [ip] } });
      const withDns = { DRASYL_DEPLOY_DNS_SERVER: dns.address };
      try {
        writeFileSync(
          config,
          `${readFileSync(config, "utf8")}dns: { zone: lab.test, provider: none, name: "{server}" }\n`,
        );
        const upAgain = await cli(withDns, "up");
        expect(upAgain.code, upAgain.stderr + upAgain.stdout).toBe(0);
        expect(upAgain.stdout).toMatch(new RegExp(`^${server} +unchanged`, "m"));
        expect(upAgain.stdout).toContain(`DRASYL_SUPER_PEERS="udp://${name}:22527?publicKey=`);
        const peersOut = await cli(withDns, "peers", "--format", "lines");
        expect(peersOut.stdout.trim()).toMatch(
          new RegExp(`^udp://${name.replaceAll(".", "\\.")}:22527\\?publicKey=[0-9a-f]{64}&networkId=1&tcpPort=443$`),
        );
        expect(dns.queries).toContain(`${name} A`);
        expect((await cli(withDns, "monitoring", "--out", out)).code).toBe(0);
        expect(JSON.parse(readFileSync(join(out, "targets", `${server}.json`), "utf8"))).toMatchObject([
          { targets: [`${name}:9898`] },
        ]);

        // The record now leads elsewhere: status says so for that name.
        dns.zone[name] = { A: ["192.0.2.77"] };
        const bad = await cli(withDns, "status");
        expect(bad.code).toBe(1);
        expect(bad.stdout).toContain(`dnsName ${name} resolves to 192.0.2.77`);
      } finally {
        await dns.close();
      }
    }, 180_000);

    it("the token never appears in what the CLI printed", () => {
      expect(printed.join("\n")).not.toContain(TOKEN);
    });
  },
);
