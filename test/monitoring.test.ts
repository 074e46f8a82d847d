import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { afterAll, describe, expect, it } from "vitest";
import { monitoring } from "../cli/commands/monitoring.ts";
import { DASHBOARD_SCHEMA_VERSION, grafanaDashboard } from "../stacks/monitoring/grafana-dashboard.ts";
import { alertRules } from "../stacks/monitoring/alert-rules.ts";
import { prometheusConfig } from "../stacks/monitoring/prometheus-config.ts";
import { fileSdTargets, metricsHost } from "../stacks/monitoring/targets.ts";
import { METRICS_TOKEN_ENV } from "../stacks/monitoring/exposure.ts";

/*
 * The monitoring generators as data, and the command writing them for an `existing` deployment
 * (no server is contacted). Whether Prometheus accepts them is test/monitoring-prometheus.test.ts.
 */

const tmp = mkdtempSync(join(tmpdir(), "drasyl-monitoring-unit-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("file_sd targets", () => {
  it("one group per super peer with the deployment, region, server and public key labels", () => {
    expect(
      fileSdTargets({
        deployment: "d",
        server: "d-fsn1",
        region: "fsn1",
        host: "sp-fsn1.example.org",
        port: 9898,
        publicKeyHex: "ab",
      }),
    ).toEqual([
      {
        targets: ["sp-fsn1.example.org:9898"],
        labels: { deployment: "d", region: "fsn1", server: "d-fsn1", instance: "d-fsn1", public_key: "ab" },
      },
    ]);
  });

  it("targets the DNS name, else IPv4, else a bracketed IPv6", () => {
    const ssh = { host: "x" };
    expect(metricsHost({ dnsName: "sp.example.org", ipv4: "198.51.100.1", ssh })).toBe("sp.example.org");
    expect(metricsHost({ ipv4: "198.51.100.1", ipv6: "2001:db8::1", ssh })).toBe("198.51.100.1");
    expect(metricsHost({ ipv6: "2001:db8::1", ssh })).toBe("[2001:db8::1]");
  });
});

describe("alert rules", () => {
  const rules = (
    parse(alertRules({ deployment: "d", dropRate: 7 })) as {
      groups: { name: string; rules: { alert: string; expr: string; for?: string }[] }[];
    }
  ).groups[0];
  it("down, no peers for 10 min, drops above the rate, restarts; each scoped to the deployment", () => {
    expect(rules?.name).toBe("drasyl-d");
    expect(rules?.rules.map((r) => [r.alert, r.for])).toEqual([
      ["DrasylSuperPeerDown", "2m"],
      ["DrasylSuperPeerNoPeers", "10m"],
      ["DrasylSuperPeerDroppingPackets", "10m"],
      ["DrasylSuperPeerRestarting", undefined],
    ]);
    for (const r of rules?.rules ?? []) expect(r.expr).toContain('deployment="d"');
    expect(rules?.rules[1]?.expr).toBe('drasyl_sp_peers{deployment="d"} == 0');
    expect(rules?.rules[2]?.expr).toMatch(/drasyl_sp_dropped_packets_total\{deployment="d"\}\[5m\]\)\) > 7$/);
  });
});

describe("Grafana dashboard", () => {
  const d = grafanaDashboard({ deployment: "prod" });
  const panels = (d.panels ?? []) as {
    id: number;
    type: string;
    title: string;
    gridPos: { x: number; y: number; w: number; h: number };
    targets: { refId: string; expr: string }[];
  }[];

  it("is a dashboard model Grafana imports: uid, title, schema version, data source variable, region variable", () => {
    expect(d).toMatchObject({
      uid: "drasyl-prod",
      title: "drasyl super peers: prod",
      schemaVersion: DASHBOARD_SCHEMA_VERSION,
    });
    expect(d.templating?.list?.map((v) => [v.name, v.type])).toEqual([
      ["datasource", "datasource"],
      ["region", "query"],
    ]);
    expect(JSON.parse(JSON.stringify(d))).toEqual(d);
  });

  it("panels: unique ids, inside the 24-column grid, not overlapping, every query scoped to the deployment and the region variable", () => {
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
    const cells = new Set<string>();
    for (const p of panels) {
      expect(p.gridPos.x + p.gridPos.w).toBeLessThanOrEqual(24);
      for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++) {
        for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
          expect(cells.has(`${x},${y}`), `${p.title} overlaps`).toBe(false);
          cells.add(`${x},${y}`);
        }
      }
      expect(p.targets.length).toBeGreaterThan(0);
      for (const t of p.targets) expect(t.expr).toContain('deployment="prod", region=~"$region"');
    }
  });

  it("shows what the issue asks for, on the daemon's metric names", () => {
    const all = panels.flatMap((p) => p.targets.map((t) => t.expr)).join("\n");
    for (const metric of [
      "drasyl_sp_peers",
      'type="hello"',
      "drasyl_sp_relayed_bytes_total",
      'type="app", direction="tx"',
      "drasyl_sp_dropped_packets_total",
      'type="unite"',
      "process_cpu_seconds_total",
      "process_resident_memory_bytes",
      "up{",
    ]) {
      expect(all).toContain(metric);
    }
    expect(all).toContain("sum by (reason)");
    expect(all).toContain("sum by (region)");
  });
});

describe("prometheus.yml", () => {
  it("file_sd from the targets dir, the token from a file, the rule file", () => {
    const doc = parse(
      prometheusConfig({ deployment: "d", filesAt: "/etc/prometheus/drasyl/", tokenFile: "metrics-token" }),
    ) as Record<string, unknown>;
    expect(doc).toMatchObject({
      rule_files: ["/etc/prometheus/drasyl/drasyl-alerts.yml"],
      scrape_configs: [
        {
          job_name: "drasyl-d",
          metrics_path: "/metrics",
          authorization: { type: "Bearer", credentials_file: "/etc/prometheus/drasyl/metrics-token" },
          file_sd_configs: [{ files: ["/etc/prometheus/drasyl/targets/*.json"] }],
        },
      ],
    });
    const open = parse(prometheusConfig({ deployment: "d", filesAt: "/x" })) as {
      scrape_configs: Record<string, unknown>[];
    };
    expect(open.scrape_configs[0]?.authorization).toBeUndefined();
  });
});

describe("drasyl-deploy monitoring", () => {
  const config = join(tmp, "deploy.yaml");
  const state = join(tmp, "state");
  writeFileSync(
    config,
    [
      "deployment: mon",
      "superPeer: { prometheusListen: '[::]:9898' }",
      "targets:",
      "  - kind: existing",
      "    servers:",
      "      - { name: a, region: fra, host: 198.51.100.1 }",
      "      - { name: b, region: nyc, host: 198.51.100.2, ipv6: '2001:db8::2', dnsName: sp-b.example.org }",
      "",
    ].join("\n"),
  );

  it("writes one targets file per super peer, the config, rules, dashboard and the token 0600; removes targets of servers gone", async () => {
    const out = join(tmp, "out");
    let text = "";
    const prev = process.env[METRICS_TOKEN_ENV];
    process.env[METRICS_TOKEN_ENV] = "tok-123";
    try {
      mkdirSync(join(out, "targets"), { recursive: true });
      writeFileSync(join(out, "targets", "gone.json"), "[]");
      expect(
        await monitoring({ config, stateDir: state, out, filesAt: "/etc/prometheus/drasyl" }, (s) => (text += s)),
      ).toBe(0);
    } finally {
      if (prev === undefined) delete process.env[METRICS_TOKEN_ENV];
      else process.env[METRICS_TOKEN_ENV] = prev;
    }
    expect(readdirSync(join(out, "targets")).sort()).toEqual(["a.json", "b.json"]);
    expect(JSON.parse(readFileSync(join(out, "targets", "b.json"), "utf8"))).toEqual([
      { targets: ["sp-b.example.org:9898"], labels: { deployment: "mon", region: "nyc", server: "b", instance: "b" } },
    ]);
    expect(readFileSync(join(out, "metrics-token"), "utf8")).toBe("tok-123\n");
    expect(statSync(join(out, "metrics-token")).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(out, "prometheus.yml"), "utf8")).toContain(
      "credentials_file: /etc/prometheus/drasyl/metrics-token",
    );
    expect(text).not.toContain("tok-123");
    expect(text).toContain("grafana-dashboard.json");
    expect(text).not.toContain("listens on");
  });

  it("a loopback-only endpoint: still writes the files, and says Prometheus cannot reach it and what to do", async () => {
    const local = join(tmp, "local.yaml");
    writeFileSync(local, readFileSync(config, "utf8").replace("'[::]:9898'", "'127.0.0.1:9898'"));
    let text = "";
    expect(await monitoring({ config: local, stateDir: state, out: join(tmp, "out-local") }, (s) => (text += s))).toBe(
      0,
    );
    expect(text).toContain("listens on 127.0.0.1:9898 (local to each server)");
    expect(text).toContain("status --metrics");
    expect(readdirSync(join(tmp, "out-local"))).not.toContain("metrics-token");
  });
});

describe("the metrics bearer token", () => {
  it("comes from $DRASYL_DEPLOY_METRICS_TOKEN, else a 0600 file; a looser file or an empty one is refused without showing the token", async () => {
    const { metricsToken, requireMetricsToken } = await import("../stacks/monitoring/exposure.ts");
    const file = join(tmp, "token");
    writeFileSync(file, "from-file-42\n", { mode: 0o600 });
    expect(metricsToken({ prometheusTokenFile: file }, { [METRICS_TOKEN_ENV]: "from-env" })).toBe("from-env");
    expect(metricsToken({ prometheusTokenFile: file }, {})).toBe("from-file-42");
    expect(metricsToken({}, {})).toBe("");
    const loose = join(tmp, "loose");
    writeFileSync(loose, "secret-in-loose-file\n", { mode: 0o644 });
    expect(() => metricsToken({ prometheusTokenFile: loose }, {})).toThrow(/readable by others; chmod 600/);
    try {
      metricsToken({ prometheusTokenFile: loose }, {});
    } catch (e) {
      expect((e as Error).message).not.toContain("secret-in-loose-file");
    }
    expect(() => metricsToken({ prometheusTokenFile: join(tmp, "missing") }, {})).toThrow(
      /cannot read .*missing: ENOENT/,
    );
    expect(() => requireMetricsToken("[::]:9898", "")).toThrow(
      /exposes the metrics endpoint beyond the server: set DRASYL_DEPLOY_METRICS_TOKEN/,
    );
    expect(() => requireMetricsToken("127.0.0.1:9898", "")).not.toThrow();
    expect(() => requireMetricsToken("", "")).not.toThrow();
  });

  it("reaches the super peer's settings (the installer writes it into the 0600 env file as a secret)", async () => {
    const { settingsFor } = await import("../cli/deployment.ts");
    const { parseConfig } = await import("../cli/config/load.ts");
    const c = parseConfig(
      "deployment: t\nsuperPeer: { prometheusListen: '[::]:9898' }\ntargets: [{ kind: local, regions: [a] }]\n",
      "t.yaml",
    );
    expect(settingsFor(c, { [METRICS_TOKEN_ENV]: "tok" })).toMatchObject({
      prometheusListen: "[::]:9898",
      prometheusToken: "tok",
    });
  });
});

describe("status --metrics key figures", () => {
  it("from a real super peer's /metrics: peers, hellos, drops, process figures", async () => {
    const { keyFigures, parseSamples } = await import("../stacks/monitoring/key-figures.ts");
    const { startTestSuperPeer, RawClient, vectorIdentity, until } = await import("./support/super-peer.ts");
    const sp = await startTestSuperPeer({ DRASYL_PROMETHEUS_LISTEN: "127.0.0.1:0" });
    const c = await RawClient.open(vectorIdentity("id_2"), sp.identity);
    try {
      c.send(c.hello(sp.identity.publicKey), sp.bound.udp4?.port ?? 0);
      await c.receive();
      c.send(Buffer.alloc(3), sp.bound.udp4?.port ?? 0);
      await until(() => sp.sp.drops.get("too_short") === 1);
      const text = await (await fetch(`http://127.0.0.1:${sp.bound.prometheus?.port}/metrics`)).text();
      const m = keyFigures(text, Date.now() / 1000 + 5);
      expect(m).toMatchObject({
        peers: 1,
        hellosReceived: 1,
        droppedPackets: 1,
        relayedBytes: 0,
        relayedPackets: 0,
        unitesSent: 0,
        tcpConnections: 0,
      });
      expect(m.rssBytes).toBeGreaterThan(1024 * 1024);
      expect(m.uptimeSeconds).toBeGreaterThanOrEqual(5);
      expect(parseSamples('a{x="q\\"uote"} 2\n# HELP b\nbroken line\nb 3 1700000000000\nc +Inf\nd 1.5e3\n')).toEqual([
        { name: "a", labels: { x: 'q"uote' }, value: 2 },
        { name: "b", labels: {}, value: 3 },
        { name: "c", labels: {}, value: Infinity },
        { name: "d", labels: {}, value: 1500 },
      ]);
    } finally {
      c.close();
      await sp.close();
    }
  });
});
