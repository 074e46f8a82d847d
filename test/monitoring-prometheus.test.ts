import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseSuperPeerUrl } from "../sp-runtime/node/super-peer-url.ts";
import { DrasylNode } from "../sp-runtime/node/test-node.ts";
import { monitoringFiles } from "../stacks/monitoring/files.ts";
import { grafanaDashboard } from "../stacks/monitoring/grafana-dashboard.ts";
import { prometheusConfig, RULES_FILE } from "../stacks/monitoring/prometheus-config.ts";
import {
  type RunningPrometheus,
  prometheusPath,
  promtool,
  promtoolPath,
  startPrometheus,
} from "./support/prometheus.ts";
import { startTestSuperPeer, type TestSuperPeer, vectorIdentity } from "./support/super-peer.ts";

/*
 * The generated monitoring files against Debian's real Prometheus (scripts/test-prereqs.sh
 * unpacks it): promtool checks the rules and the config and runs rule unit tests; then a
 * Prometheus started here scrapes a super peer through the generated scrape config (file_sd
 * targets, bearer token from a file) and sees drasyl_sp_peers move when a test node registers.
 * Every dashboard query is evaluated by that Prometheus too.
 */

const needsPrometheus = !promtoolPath || !prometheusPath;
if (needsPrometheus && process.env.CI === "true")
  throw new Error("promtool/prometheus missing: run scripts/test-prereqs.sh");

const TOKEN = "t0ken-for-the-test_1";
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "drasyl-monitoring-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function writeFiles(into: string, targets: Parameters<typeof monitoringFiles>[0]["targets"], token?: string): void {
  mkdirSync(join(into, "targets"), { recursive: true });
  for (const f of monitoringFiles({ deployment: "mon", filesAt: into, targets, ...(token ? { token } : {}) }))
    writeFileSync(join(into, f.path), f.content, { mode: f.mode });
}

describe.skipIf(needsPrometheus)("promtool", () => {
  it("accepts the alert rules and the scrape config (with its rule file and token file)", () => {
    const at = join(dir, "check");
    writeFiles(
      at,
      [
        {
          deployment: "mon",
          server: "mon-fsn1",
          region: "fsn1",
          host: "sp-fsn1.example.org",
          port: 9898,
          publicKeyHex: "ab".repeat(32),
        },
      ],
      TOKEN,
    );
    const rules = promtool("check", "rules", join(at, RULES_FILE));
    expect(rules.output).toContain("SUCCESS: 4 rules found");
    expect(rules.code).toBe(0);
    const config = promtool("check", "config", join(at, "prometheus.yml"));
    expect(config.output).toMatch(/SUCCESS: .*prometheus\.yml is valid prometheus config file syntax/);
    expect(config.code).toBe(0);
  });

  it("rejects a broken rule file, so the checks above mean something", () => {
    const bad = join(dir, "bad.yml");
    writeFileSync(bad, "groups:\n  - name: x\n    rules:\n      - alert: X\n        expr: drasyl_sp_peers{ == 0\n");
    expect(promtool("check", "rules", bad).code).not.toBe(0);
  });

  it("the alerts fire when they should (promtool test rules)", () => {
    const at = join(dir, "unit");
    writeFiles(at, []);
    const sel = 'deployment="mon", region="fsn1", server="mon-fsn1", instance="mon-fsn1", job="drasyl-mon"';
    const other = 'deployment="other", region="fsn1", server="o-fsn1", instance="o-fsn1", job="drasyl-other"';
    const tests = {
      rule_files: [join(at, RULES_FILE)],
      evaluation_interval: "1m",
      tests: [
        {
          interval: "1m",
          input_series: [
            { series: `up{${sel}}`, values: "1 1 0 0 0 0" },
            { series: `drasyl_sp_peers{${sel}}`, values: "3 0x12" },
            { series: `drasyl_sp_dropped_packets_total{${sel}, reason="too_short"}`, values: "0+6000x20" },
            { series: `process_start_time_seconds{${sel}}`, values: "100 100 200 300 400 400" },
            { series: `drasyl_sp_peers{${other}}`, values: "0x20" },
          ],
          alert_rule_test: [
            { eval_time: "3m", alertname: "DrasylSuperPeerDown", exp_alerts: [] },
            {
              eval_time: "5m",
              alertname: "DrasylSuperPeerDown",
              exp_alerts: [
                {
                  exp_labels: {
                    severity: "critical",
                    deployment: "mon",
                    region: "fsn1",
                    server: "mon-fsn1",
                    instance: "mon-fsn1",
                    job: "drasyl-mon",
                  },
                  exp_annotations: {
                    summary: "drasyl super peer mon-fsn1 (fsn1) does not answer scrapes",
                    description:
                      "Prometheus could not scrape mon-fsn1 for 2 minutes: the server, the service or the metrics port is down. Check `drasyl-deploy status`.",
                  },
                },
              ],
            },
            { eval_time: "9m", alertname: "DrasylSuperPeerNoPeers", exp_alerts: [] },
            {
              eval_time: "12m",
              alertname: "DrasylSuperPeerNoPeers",
              exp_alerts: [
                {
                  exp_labels: {
                    severity: "warning",
                    deployment: "mon",
                    region: "fsn1",
                    server: "mon-fsn1",
                    instance: "mon-fsn1",
                    job: "drasyl-mon",
                  },
                  exp_annotations: {
                    summary: "drasyl super peer mon-fsn1 (fsn1) has had no peers for 10 minutes",
                    description:
                      "No node has registered with mon-fsn1 for 10 minutes: clients may not reach it (firewall, DNS, DRASYL_SUPER_PEERS).",
                  },
                },
              ],
            },
            {
              eval_time: "16m",
              alertname: "DrasylSuperPeerDroppingPackets",
              exp_alerts: [
                {
                  exp_labels: { severity: "warning", deployment: "mon", region: "fsn1", server: "mon-fsn1" },
                  exp_annotations: {
                    summary: "drasyl super peer mon-fsn1 drops 100 packets/s",
                    description:
                      "More than 50 packets/s dropped for 10 minutes; the dashboard's drops-by-reason panel says why.",
                  },
                },
              ],
            },
            {
              eval_time: "5m",
              alertname: "DrasylSuperPeerRestarting",
              exp_alerts: [
                {
                  exp_labels: {
                    severity: "warning",
                    deployment: "mon",
                    region: "fsn1",
                    server: "mon-fsn1",
                    instance: "mon-fsn1",
                    job: "drasyl-mon",
                  },
                  exp_annotations: {
                    summary: "drasyl super peer mon-fsn1 restarted 3 times in the last hour",
                    description: "The daemon keeps restarting; its journal (journalctl -u drasyl-sp) says why.",
                  },
                },
              ],
            },
          ],
        },
      ],
    };
    const file = join(at, "tests.yml");
    writeFileSync(file, JSON.stringify(tests));
    const r = promtool("test", "rules", file);
    expect(r.output).toContain("SUCCESS");
    expect(r.code).toBe(0);
  });
});

describe.skipIf(needsPrometheus)("a real Prometheus scraping a super peer through the generated config", () => {
  let sp: TestSuperPeer;
  let prom: RunningPrometheus;
  let node: DrasylNode | undefined;
  let at: string;

  beforeAll(async () => {
    sp = await startTestSuperPeer({
      DRASYL_PROMETHEUS_LISTEN: "127.0.0.1:0",
      DRASYL_PROMETHEUS_TOKEN: TOKEN,
      DRASYL_HELLO_TIMEOUT: "60000",
    });
    at = join(dir, "live");
    const port = sp.bound.prometheus?.port ?? 0;
    writeFiles(
      at,
      [
        {
          deployment: "mon",
          server: "mon-lab-1",
          region: "lab-1",
          host: "127.0.0.1",
          port,
          publicKeyHex: sp.identity.publicKeyHex,
        },
      ],
      TOKEN,
    );
    // The generated config, scraping every second instead of every 15 s so the test is short.
    prom = await startPrometheus(
      prometheusConfig({ deployment: "mon", filesAt: at, tokenFile: "metrics-token", scrapeInterval: "1s" }),
    );
  });

  afterAll(async () => {
    await node?.close();
    await prom?.stop();
    await sp?.close();
  });

  async function peersSeen(value: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
    let last: { metric: Record<string, string>; value: [number, string] }[] = [];
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      last = await prom.query('drasyl_sp_peers{deployment="mon"}');
      if (last[0]?.value[1] === value) return last;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(
      `drasyl_sp_peers never became ${value}: ${JSON.stringify(last)}; prometheus: ${prom.process.stderr()}`,
    );
  }

  it("scrapes with the bearer token and the file_sd labels, and sees the peers gauge move when a node registers", async () => {
    const before = await peersSeen("0");
    expect(before).toHaveLength(1);
    expect(before[0]?.metric).toMatchObject({
      deployment: "mon",
      region: "lab-1",
      server: "mon-lab-1",
      instance: "mon-lab-1",
      public_key: sp.identity.publicKeyHex,
      job: "drasyl-mon",
    });
    const up = await prom.query('up{deployment="mon"}');
    expect(up[0]?.value[1]).toBe("1");

    const url = `udp://127.0.0.1:${sp.bound.udp4?.port}?publicKey=${sp.identity.publicKeyHex}&networkId=1`;
    node = new DrasylNode({
      identity: vectorIdentity("id_2"),
      superPeers: [parseSuperPeerUrl(url)],
      bind: { address: "127.0.0.1" },
    });
    await node.start();
    await node.hello(parseSuperPeerUrl(url));
    const after = await peersSeen("1");
    expect(after[0]?.metric.server).toBe("mon-lab-1");
    expect(
      await prom.query('sum(drasyl_sp_messages_total{deployment="mon", type="hello", direction="rx"})'),
    ).toMatchObject([{ value: [expect.any(Number), "1"] }]);
  });

  it("every dashboard query and the region variable's query evaluate without error and find the super peer", async () => {
    const dashboard = grafanaDashboard({ deployment: "mon" });
    const exprs = (dashboard.panels ?? []).flatMap((p) =>
      "targets" in p && p.targets ? p.targets.map((t) => String(t.expr)) : [],
    );
    expect(exprs.length).toBeGreaterThanOrEqual(11);
    for (const expr of exprs) {
      const promql = expr.replaceAll("$region", ".*").replaceAll("$__rate_interval", "1m");
      const result = await prom.query(promql);
      // Every panel's series exist for this super peer (rates over an idle minute are 0, not absent).
      expect(result.length, promql).toBeGreaterThan(0);
    }
    const regions = await prom.query('group by (region) (up{deployment="mon"})');
    expect(regions.map((r) => r.metric.region)).toEqual(["lab-1"]);
  });

  it("a wrong token leaves the target down: the token really is what lets Prometheus in", async () => {
    writeFileSync(join(at, "metrics-token"), "not-the-token\n");
    const other = await startPrometheus(
      prometheusConfig({ deployment: "mon", filesAt: at, tokenFile: "metrics-token", scrapeInterval: "1s" }),
    );
    try {
      const deadline = Date.now() + 20_000;
      let up: { value: [number, string] }[] = [];
      while (Date.now() < deadline && up.length === 0) {
        up = await other.query('up{deployment="mon"}');
        if (up.length === 0) await new Promise((r) => setTimeout(r, 250));
      }
      expect(up[0]?.value[1]).toBe("0");
    } finally {
      await other.stop();
      writeFileSync(join(at, "metrics-token"), `${TOKEN}\n`);
    }
  });

  it("the generated config is what was loaded (no inline token in it)", () => {
    const doc = parse(prometheusConfig({ deployment: "mon", filesAt: at, tokenFile: "metrics-token" })) as {
      scrape_configs: { authorization: Record<string, string> }[];
    };
    expect(doc.scrape_configs[0]?.authorization).toEqual({
      type: "Bearer",
      credentials_file: join(at, "metrics-token"),
    });
    expect(JSON.stringify(doc)).not.toContain(TOKEN);
  });
});
