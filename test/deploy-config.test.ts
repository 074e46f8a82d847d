import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigFileError, loadDeployConfig, parseConfig, SANDBOX_CONFIG } from "../cli/config/load.ts";
import { settingsFor } from "../cli/deployment.ts";
import { formatSuperPeers, superPeerHost, superPeerUrl } from "../cli/output/super-peers.ts";
import { DEFAULT_SETTINGS } from "../stacks/install/settings.ts";
import { ensureIdentity } from "../stacks/state/identities.ts";
import { LockedError, lockDeployment } from "../stacks/state/lock.ts";
import { StateDir } from "../stacks/state/state-dir.ts";
import { parseSuperPeerList } from "../sp-runtime/node/super-peer-url.ts";
import { ExistingProvider } from "../stacks/existing/existing-provider.ts";

const pk = (c: string) => c.repeat(64);

describe("the deploy configuration file", () => {
  it("fills in defaults", () => {
    const c = parseConfig("deployment: prod\ntargets:\n  - kind: local\n    regions: [a]\n", "f.yaml");
    expect(c).toMatchObject({
      deployment: "prod",
      networkId: 1,
      ports: { udp: 22527, tcp: 443 },
      superPeer: { armMessages: true, maxPeers: 8192 },
    });
  });

  const bad: [string, RegExp][] = [
    ["deployment: Prod!\ntargets: [{kind: local, regions: [a]}]\n", /^ {2}deployment: deployment must be/m],
    ["deployment: p\ntargets: []\n", /^ {2}targets: /m],
    ["deployment: p\ntargets: [{kind: cloud}]\n", /^ {2}targets\[0\]\.kind: /m],
    [
      "deployment: p\ntargets:\n  - kind: existing\n    servers:\n      - {name: a, region: r, host: 'bad host', sshPort: 0, colour: red}\n",
      /targets\[0\]\.servers\[0\]\.host: must be an IP address or a DNS name[\s\S]*servers\[0\]\.sshPort: [\s\S]*Unrecognized key: "colour"/,
    ],
    [
      "deployment: p\ntargets: [{kind: local, regions: [a, a]}]\n",
      /targets\[0\]\.regions\[1\]: server name "p-a" is already used/,
    ],
    ["deployment: [\n", /f\.yaml is not valid YAML/],
    [
      "deployment: p\nsuperPeer: {prometheusListen: 'localhost:9898'}\ntargets: [{kind: local, regions: [a]}]\n",
      /superPeer\.prometheusListen: prometheusListen="localhost:9898" is not a valid address:port/,
    ],
    [
      "deployment: p\nsuperPeer: {prometheusToken: 'a b'}\ntargets: [{kind: local, regions: [a]}]\n",
      /superPeer\.prometheusToken: may only contain/,
    ],
    ["deployment: p\nsuperPeer: {logLevel: loud}\ntargets: [{kind: local, regions: [a]}]\n", /superPeer\.logLevel: /],
  ];
  it("derives its defaults from the super peer's settings, and takes the metrics token and listener", () => {
    const c = parseConfig("deployment: p\ntargets: [{kind: local, regions: [a]}]\n", "f.yaml");
    expect(settingsFor(c)).toEqual(DEFAULT_SETTINGS);
    const t = parseConfig(
      "deployment: p\nsuperPeer: {prometheusListen: '[::]:9100', prometheusToken: s3cret.T0ken}\ntargets: [{kind: local, regions: [a]}]\n",
      "f.yaml",
    );
    expect(settingsFor(t)).toMatchObject({ prometheusListen: "[::]:9100", prometheusToken: "s3cret.T0ken" });
    expect(
      parseConfig(
        "deployment: p\nsuperPeer: {prometheusListen: ''}\ntargets: [{kind: local, regions: [a]}]\n",
        "f.yaml",
      ).superPeer.prometheusListen,
    ).toBe("");
  });

  for (const [text, message] of bad) {
    it(`names the field: ${message}`, () => {
      expect(() => parseConfig(text, "f.yaml")).toThrow(ConfigFileError);
      expect(() => parseConfig(text, "f.yaml")).toThrow(message);
    });
  }

  it("falls back to the built-in sandbox", () => {
    const dir = mkdtempSync(join(tmpdir(), "dd-cfg-"));
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      expect(loadDeployConfig(undefined).config).toEqual(SANDBOX_CONFIG);
      writeFileSync("drasyl-deploy.yaml", "deployment: mine\ntargets: [{kind: local, regions: [x]}]\n");
      expect(loadDeployConfig(undefined).config.deployment).toBe("mine");
    } finally {
      process.chdir(cwd);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("existing servers", () => {
  it("map host, DNS name, IPv6 and key file onto the server model", async () => {
    const p = new ExistingProvider({
      kind: "existing",
      servers: [
        { name: "a", region: "eu", host: "sp.example.org", sshPort: 2222, user: "deploy", privateKey: "~/.ssh/k" },
        { name: "b", region: "us", host: "203.0.113.7", ipv6: "2001:db8::7", sshPort: 22, user: "root" },
      ],
    });
    const [a, b] = await p.apply();
    expect(a).toMatchObject({ dnsName: "sp.example.org", ssh: { host: "sp.example.org", port: 2222, user: "deploy" } });
    expect(a?.ssh.privateKeyPath).toMatch(/\/\.ssh\/k$/);
    expect(b).toMatchObject({ ipv4: "203.0.113.7", ipv6: "2001:db8::7" });
  });
});

describe("DRASYL_SUPER_PEERS output", () => {
  const servers = [
    {
      server: {
        name: "a",
        region: "eu",
        ipv4: "203.0.113.1",
        dnsName: "sp1.example.org",
        ssh: { host: "x", port: 22, user: "root" },
      },
      publicKeyHex: pk("a"),
    },
    {
      server: { name: "b", region: "us", ipv6: "2001:db8::2", ssh: { host: "2001:db8::2", port: 22, user: "root" } },
      publicKeyHex: pk("b"),
    },
  ];
  const urls = servers.map((s) => superPeerUrl(s, { networkId: 7, udpPort: 22527, tcpPort: 443 }));

  it("prefers DNS names and brackets IPv6", () => {
    expect(superPeerHost(servers[0]!.server)).toBe("sp1.example.org");
    expect(urls[1]).toBe(`udp://[2001:db8::2]:22527?publicKey=${pk("b")}&networkId=7&tcpPort=443`);
  });

  it("every format parses back to the deployed keys", () => {
    const env = formatSuperPeers(urls, 7, "env");
    expect(env).toContain("DRASYL_NETWORK_ID=7");
    for (const format of ["env", "whitespace"] as const) {
      const value = /DRASYL_SUPER_PEERS="([^"]*)"/.exec(formatSuperPeers(urls, 7, format))?.[1] ?? "";
      const parsed = parseSuperPeerList(value);
      expect(parsed.networkId).toBe(7);
      expect(parsed.superPeers.map((s) => Buffer.from(s.publicKey).toString("hex"))).toEqual([pk("a"), pk("b")]);
    }
    expect(parseSuperPeerList(formatSuperPeers(urls, 7, "lines")).superPeers.length).toBe(2);
    expect(JSON.parse(formatSuperPeers(urls, 7, "json"))).toEqual({ networkId: 7, superPeers: urls });
    const toml = formatSuperPeers(urls, 7, "toml");
    expect([...toml.matchAll(/"(udp:[^"]+)"/g)].map((m) => m[1])).toEqual(urls);
  });
});

describe("local state", () => {
  const tmp = mkdtempSync(join(tmpdir(), "dd-state-"));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it("keeps identities 0600 in 0700 directories and reuses them", async () => {
    const root = join(tmp, "state");
    const state = new StateDir(root).forDeployment("dep");
    const first = await ensureIdentity(state, "srv", { difficulty: 4 });
    expect(first.created).toBe(true);
    const file = state.identityFile("srv");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    for (const d of [
      root,
      join(root, "deployments"),
      join(root, "deployments", "dep"),
      join(root, "deployments", "dep", "identities"),
    ]) {
      expect(statSync(d).mode & 0o777).toBe(0o700);
    }
    const again = await ensureIdentity(state, "srv");
    expect(again.created).toBe(false);
    expect(again.identity.publicKeyHex).toBe(first.identity.publicKeyHex);
    expect(readFileSync(file, "utf8")).toContain("[Identity]");
  });

  it("allows one run per deployment and takes over a dead run's lock", () => {
    const state = new StateDir(join(tmp, "lock")).forDeployment("dep");
    const release = lockDeployment(state);
    expect(() => lockDeployment(state)).toThrow(LockedError);
    release();
    const again = lockDeployment(state);
    again();
    writeFileSync(state.lockFile, "999999999");
    lockDeployment(state)();
  });
});
