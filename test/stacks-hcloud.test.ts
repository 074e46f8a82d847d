import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import type { MockResourceArgs } from "@pulumi/pulumi/runtime/mocks.js";
import { beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../cli/config/load.ts";
import { serverNames } from "../cli/config/schema.ts";
import type { HcloudTargetConfig } from "../stacks/hcloud/config.ts";
import { checkServerType, defaultServerType, hcloudArch, hcloudServerSpecs } from "../stacks/hcloud/catalog.ts";
import type { HcloudProgramArgs } from "../stacks/hcloud/program.ts";
import { renderUserData } from "../stacks/pulumi/cloud-init.ts";
import { type RecordedResource, runWithMocks } from "./support/mock-harness.ts";

/*
 * The Hetzner Cloud program under pulumi.runtime.setMocks: no engine, no cloud. The mocks
 * answer like the Hetzner API does (numeric ids, the server's addresses), and the harness records
 * the resource options as the SDK sends them to the engine.
 */

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHVyrxjGx8zvrS0zDCIYAS0pO0Sc0FbxLGxjQxTkMXHX drasyl-deploy-t";
const SERVER = "hcloud:index/server:Server";
const PRIMARY_IP = "hcloud:index/primaryIp:PrimaryIp";
const FIREWALL = "hcloud:index/firewall:Firewall";
const SSH_KEY = "hcloud:index/sshKey:SshKey";

/** Hetzner ids are numbers; a stable one per resource name. */
const numericId = (name: string): string =>
  String(Number.parseInt(createHash("sha256").update(name).digest("hex").slice(0, 7), 16));

function computed(a: MockResourceArgs): Record<string, unknown> {
  if (a.type === SERVER) {
    const location = String(a.inputs.location);
    return {
      ipv4Address: `198.51.100.${location.length}`,
      ipv6Address: `2001:db8:${location.length}::1`,
      status: "running",
    };
  }
  if (a.type === PRIMARY_IP) return { ipAddress: a.inputs.type === "ipv4" ? "198.51.100.200" : "2001:db8:200::/64" };
  return {};
}

function args(locations: HcloudTargetConfig["locations"], extra: Partial<HcloudProgramArgs> = {}): HcloudProgramArgs {
  return {
    deployment: "t",
    servers: hcloudServerSpecs("t", { locations }),
    sshUser: "drasyl-deploy",
    sshPublicKey: KEY,
    sshSources: ["203.0.113.7/32", "2001:db8:77::/64"],
    ports: { udp: 22527, tcp: 443 },
    ...extra,
  };
}

async function run(a: HcloudProgramArgs) {
  const { hcloudProgram } = await import("../stacks/hcloud/program.ts");
  return runWithMocks(() => ({ ...hcloudProgram(a) }), { id: (r) => numericId(r.name), outputs: computed });
}

const byName = (resources: RecordedResource[], name: string): RecordedResource => {
  const r = resources.find((x) => x.name === name);
  if (!r) throw new Error(`no resource ${name}; have ${resources.map((x) => x.name).join(", ")}`);
  return r;
};

describe("hcloud target config", () => {
  const parse = (target: string): ReturnType<typeof parseConfig> =>
    parseConfig(`deployment: t\ntargets:\n  - ${target}\n`, "test.yaml");

  it("defaults to the six locations, the smallest shared type per location, Debian 12 and a sudo login user", () => {
    const c = parse("kind: hcloud");
    const t = c.targets[0] as HcloudTargetConfig;
    expect(t.locations).toEqual(["fsn1", "nbg1", "hel1", "ash", "hil", "sin"]);
    expect(t).toMatchObject({ image: "debian-12", sshUser: "drasyl-deploy" });
    expect(t.allowSsh).toBeUndefined();
    expect(hcloudServerSpecs("t", t).map((s) => [s.name, s.serverType, s.arch])).toEqual([
      ["t-fsn1", "cx23", "x64"],
      ["t-nbg1", "cx23", "x64"],
      ["t-hel1", "cx23", "x64"],
      ["t-ash", "cpx22", "x64"],
      ["t-hil", "cpx22", "x64"],
      ["t-sin", "cpx22", "x64"],
    ]);
    expect(serverNames(c)).toEqual(["t-fsn1", "t-nbg1", "t-hel1", "t-ash", "t-hil", "t-sin"]);
  });

  it("validates server types and images per location, naming the field", () => {
    expect(() => parse("kind: hcloud\n    locations: [fsn1, ash]\n    serverType: cax11")).toThrow(
      /targets\[0\]\.serverType: cax11 \(shared vCPU, Ampere Arm\) is not available in ash .*cax types exist only in fsn1, nbg1, hel1/,
    );
    expect(() => parse("kind: hcloud\n    locations: [{ location: sin, serverType: cx23 }]")).toThrow(
      /targets\[0\]\.locations\[0\]\.serverType: cx23 .* not available in sin/,
    );
    expect(() => parse("kind: hcloud\n    locations: [fra1]")).toThrow(
      /targets\[0\]\.locations\[0\]: unknown Hetzner Cloud location "fra1"/,
    );
    expect(() => parse("kind: hcloud\n    locations: [fsn1, fsn1]")).toThrow(
      /targets\[0\]\.locations\[1\]: location fsn1 is listed twice/,
    );
    expect(() => parse("kind: hcloud\n    serverType: m5.large")).toThrow(
      /targets\[0\]\.serverType: "m5\.large" is not a Hetzner Cloud server type/,
    );
    expect(() => parse("kind: hcloud\n    image: windows")).toThrow(
      /targets\[0\]\.image: "windows" is not a supported image/,
    );
    expect(() => parse("kind: hcloud\n    allowSsh: [203.0.113.7]")).toThrow(
      /targets\[0\]\.allowSsh\[0\]: must be an IPv4 or IPv6 network in CIDR notation/,
    );
    expect(() => parse("kind: hcloud\n    sshUser: drasyl-sp")).toThrow(
      /targets\[0\]\.sshUser: drasyl-sp is the super peer's own service user/,
    );
    expect(() => parse("kind: hcloud\n    backend: bucket")).toThrow(
      /targets\[0\]\.backend: must be a Pulumi backend URL/,
    );
    // Arm in the EU, mixed with x86 elsewhere, is fine.
    const ok = parse(
      "kind: hcloud\n    locations: [{ location: fsn1, serverType: cax11 }, ash]\n    allowSsh: [203.0.113.7/32, '2001:db8::/48']",
    );
    expect(hcloudServerSpecs("t", ok.targets[0] as HcloudTargetConfig).map((s) => s.arch)).toEqual(["arm64", "x64"]);
  });

  it("catalog: arch and availability", () => {
    expect(hcloudArch("cax21")).toBe("arm64");
    expect(hcloudArch("ccx13")).toBe("x64");
    expect(checkServerType("hel1", "cax31")).toBeUndefined();
    expect(checkServerType("hil", "cpx22")).toBeUndefined();
    expect(checkServerType("hil", "cx33")).toMatch(/not available in hil/);
    expect(defaultServerType("nbg1")).toBe("cx23");
  });
});

describe("hcloud program (pulumi mocks)", () => {
  let two: Awaited<ReturnType<typeof run>>;

  beforeAll(async () => {
    // Mocks first, then the program module (it loads the SDK it creates resources with lazily, but the order is the safe one).
    await pulumi.runtime.setMocks(
      { newResource: (a) => ({ id: `${a.name}-id`, state: a.inputs }), call: () => ({}) },
      "drasyl-deploy-test",
      "test",
      false,
    );
    two = await run(args(["fsn1", { location: "nbg1", serverType: "cax11" }]));
  });

  it("one firewall for the deployment: drasyl UDP and TCP and ICMP from anywhere, SSH only from the operator, v4 and v6", () => {
    const fw = two.resources.filter((r) => r.type === FIREWALL);
    expect(fw).toHaveLength(1);
    expect(fw[0]?.inputs).toEqual({
      labels: { "managed-by": "drasyl-deploy", deployment: "t" },
      rules: [
        {
          direction: "in",
          protocol: "udp",
          port: "22527",
          sourceIps: ["0.0.0.0/0", "::/0"],
          description: "drasyl (UDP)",
        },
        {
          direction: "in",
          protocol: "tcp",
          port: "443",
          sourceIps: ["0.0.0.0/0", "::/0"],
          description: "drasyl TCP fallback",
        },
        {
          direction: "in",
          protocol: "tcp",
          port: "22",
          sourceIps: ["203.0.113.7/32", "2001:db8:77::/64"],
          description: "SSH from the operator (drasyl-deploy)",
        },
        {
          direction: "in",
          protocol: "icmp",
          sourceIps: ["0.0.0.0/0", "::/0"],
          description: "ICMP and ICMPv6 (ping, path MTU discovery)",
        },
      ],
    });
  });

  it("configured ports move the drasyl rules", async () => {
    const r = await run(args(["fsn1"], { ports: { udp: 40000, tcp: 8443 } }));
    const rules = byName(r.resources, "firewall").inputs.rules as { port?: string }[];
    expect(rules.map((x) => x.port)).toEqual(["40000", "8443", "22", undefined]);
  });

  it("one SSH key with the deployment key", () => {
    const keys = two.resources.filter((r) => r.type === SSH_KEY);
    expect(keys.map((k) => k.inputs)).toEqual([
      { name: "drasyl-deploy-t", publicKey: KEY, labels: { "managed-by": "drasyl-deploy", deployment: "t" } },
    ]);
  });

  it("stable addresses: one primary IP per family and location, kept when the server goes, assigned through publicNets", () => {
    for (const location of ["fsn1", "nbg1"]) {
      const v4 = byName(two.resources, `${location}-ipv4`);
      const v6 = byName(two.resources, `${location}-ipv6`);
      const labels = { "managed-by": "drasyl-deploy", deployment: "t", region: location };
      expect(v4.inputs).toEqual({
        name: `t-${location}-ipv4`,
        type: "ipv4",
        location,
        assigneeType: "server",
        autoDelete: false,
        labels,
      });
      expect(v6.inputs).toEqual({
        name: `t-${location}-ipv6`,
        type: "ipv6",
        location,
        assigneeType: "server",
        autoDelete: false,
        labels,
      });
      const server = byName(two.resources, `${location}-server`);
      expect(server.inputs.publicNets).toEqual([
        {
          ipv4Enabled: true,
          ipv4: Number(numericId(`${location}-ipv4`)),
          ipv6Enabled: true,
          ipv6: Number(numericId(`${location}-ipv6`)),
        },
      ]);
      expect(server.options.dependencies).toEqual(
        expect.arrayContaining([
          expect.stringMatching(new RegExp(`::${location}-ipv4$`)),
          expect.stringMatching(new RegExp(`::${location}-ipv6$`)),
        ]),
      );
    }
  });

  it("servers: deleteBeforeReplace, replaced on a server type change, ignoreChanges on user data and image, firewall, key, labels, type per location", () => {
    const fsn1 = byName(two.resources, "fsn1-server");
    const nbg1 = byName(two.resources, "nbg1-server");
    for (const [s, location, type] of [
      [fsn1, "fsn1", "cx23"],
      [nbg1, "nbg1", "cax11"],
    ] as const) {
      expect(s.options.deleteBeforeReplace).toBe(true);
      expect(s.options.replaceOnChanges).toEqual(["serverType"]);
      expect(s.options.ignoreChanges.sort()).toEqual(["image", "userData"]);
      expect(s.inputs).toMatchObject({
        name: `t-${location}`,
        serverType: type,
        image: "debian-12",
        location,
        sshKeys: [numericId("ssh-key")],
        firewallIds: [Number(numericId("firewall"))],
        labels: { "managed-by": "drasyl-deploy", deployment: "t", region: location },
      });
    }
    // Nothing else ignores changes or is replaced for a change the provider would make in place.
    expect(
      two.resources
        .filter((r) => r.options.ignoreChanges.length > 0)
        .map((r) => r.name)
        .sort(),
    ).toEqual(["fsn1-server", "nbg1-server"]);
    expect(
      two.resources
        .filter((r) => r.options.replaceOnChanges.length > 0)
        .map((r) => r.name)
        .sort(),
    ).toEqual(["fsn1-server", "nbg1-server"]);
  });

  it("no named resource collides with itself on replacement: named ones are deleted first, the firewall is named by the engine", () => {
    // Hetzner refuses a second SSH key, firewall, primary IP or server of the same name (409
    // uniqueness_error); the engine creates a replacement before deleting unless deleteBeforeReplace.
    const named = two.resources.filter((r) => typeof r.inputs.name === "string");
    expect(named.map((r) => `${r.type}::${r.name}`).sort()).toEqual(
      [
        `${PRIMARY_IP}::fsn1-ipv4`,
        `${PRIMARY_IP}::fsn1-ipv6`,
        `${PRIMARY_IP}::nbg1-ipv4`,
        `${PRIMARY_IP}::nbg1-ipv6`,
        `${SERVER}::fsn1-server`,
        `${SERVER}::nbg1-server`,
        `${SSH_KEY}::ssh-key`,
      ].sort(),
    );
    for (const r of named)
      expect({ resource: r.name, deleteBeforeReplace: r.options.deleteBeforeReplace }).toEqual({
        resource: r.name,
        deleteBeforeReplace: true,
      });
    // A firewall in use cannot be deleted first: it has no fixed name, so its replacement is created
    // alongside and the servers move over before the old one goes.
    const fw = byName(two.resources, "firewall");
    expect(fw.inputs.name).toBeUndefined();
    expect(fw.options.deleteBeforeReplace).toBe(false);
    // The primary IPs are not replaced with the server: the server depends on them, not they on it.
    expect(byName(two.resources, "fsn1-ipv4").options.dependencies).toEqual([]);
  });

  it("a server type change, also across architectures (cx <-> cax), replaces the server and keeps its primary IPs", async () => {
    const arm = await run(
      args([
        { location: "fsn1", serverType: "cax11" },
        { location: "nbg1", serverType: "cax11" },
      ]),
    );
    const before = byName(two.resources, "fsn1-server");
    const after = byName(arm.resources, "fsn1-server");
    expect([before.inputs.serverType, after.inputs.serverType]).toEqual(["cx23", "cax11"]);
    // The changed input is one the server is replaced on, under the same logical name, so the
    // engine plans a replacement (deleteBeforeReplace) rather than the provider's in-place resize.
    const changed = Object.keys(after.inputs).filter(
      (k) => JSON.stringify(after.inputs[k]) !== JSON.stringify(before.inputs[k]),
    );
    expect(changed).toEqual(["serverType"]);
    expect(changed.every((k) => after.options.replaceOnChanges.includes(k))).toBe(true);
    expect(after.options.deleteBeforeReplace).toBe(true);
    // The addresses are untouched: same primary IPs with the same inputs.
    for (const ip of ["fsn1-ipv4", "fsn1-ipv6"])
      expect(byName(arm.resources, ip).inputs).toEqual(byName(two.resources, ip).inputs);
    expect(after.inputs.publicNets).toEqual(before.inputs.publicNets);
    expect(arm.outputs.servers.map((x) => x.arch)).toEqual(["arm64", "arm64"]);
  });

  it("user data: the cloud-init that creates the login user with the deployment key, nothing more", () => {
    const ud = byName(two.resources, "fsn1-server").inputs.userData as string;
    expect(ud).toBe(renderUserData({ user: "drasyl-deploy", authorizedKey: KEY }));
    expect(ud.startsWith("#cloud-config\n")).toBe(true);
    expect(ud).toContain("  - name: drasyl-deploy\n");
    expect(ud).toContain(`      - ${JSON.stringify(KEY)}\n`);
    expect(ud).toContain("disable_root: true\n");
    expect(ud).not.toMatch(/packages:|runcmd:|write_files:|apt:/);
  });

  it("one set of resources per location: a server and two primary IPs each, one firewall and one key", () => {
    const count = (type: string) => two.resources.filter((r) => r.type === type).length;
    expect([count(SERVER), count(PRIMARY_IP), count(FIREWALL), count(SSH_KEY)]).toEqual([2, 4, 1, 1]);
    expect(two.resources).toHaveLength(8);
  });

  it("stack outputs: what the installer needs per server, arch from the server type", () => {
    expect(two.outputs.servers).toEqual([
      {
        name: "t-fsn1",
        region: "fsn1",
        ipv4: "198.51.100.4",
        ipv6: "2001:db8:4::1",
        arch: "x64",
        sshUser: "drasyl-deploy",
      },
      {
        name: "t-nbg1",
        region: "nbg1",
        ipv4: "198.51.100.4",
        ipv6: "2001:db8:4::1",
        arch: "arm64",
        sshUser: "drasyl-deploy",
      },
    ]);
  });

  it("adding a location adds only its own resources; removing one removes only its own", async () => {
    const three = await run(args(["fsn1", { location: "nbg1", serverType: "cax11" }, "ash"]));
    const names = (r: typeof two) => new Set(r.resources.map((x) => `${x.type}::${x.name}`));
    const before = names(two);
    const after = names(three);
    expect([...after].filter((n) => !before.has(n)).sort()).toEqual([
      `${PRIMARY_IP}::ash-ipv4`,
      `${PRIMARY_IP}::ash-ipv6`,
      `${SERVER}::ash-server`,
    ]);
    expect([...before].filter((n) => !after.has(n))).toEqual([]);
    // Everything that was there before has exactly the same inputs: the engine sees no change to it.
    for (const r of two.resources) expect(byName(three.resources, r.name).inputs).toEqual(r.inputs);

    const one = await run(args([{ location: "nbg1", serverType: "cax11" }]));
    const left = names(one);
    expect([...before].filter((n) => !left.has(n)).sort()).toEqual([
      `${PRIMARY_IP}::fsn1-ipv4`,
      `${PRIMARY_IP}::fsn1-ipv6`,
      `${SERVER}::fsn1-server`,
    ]);
    for (const r of one.resources) expect(r.inputs).toEqual(byName(two.resources, r.name).inputs);
  });

  it("root as login user keeps root open for the key", async () => {
    const r = await run(args(["hel1"], { sshUser: "root" }));
    const ud = byName(r.resources, "hel1-server").inputs.userData as string;
    expect(ud).toContain("  - name: root\n");
    expect(ud).toContain("disable_root: false\n");
    expect(r.outputs.servers[0]?.sshUser).toBe("root");
  });
});

describe("hcloud program: an exposed metrics endpoint (pulumi mocks)", () => {
  const METRICS = { port: 9898, sources: ["192.0.2.10/32", "2001:db8:99::/64"] };

  it("opens the metrics port to metricsFrom only, v4 and v6; without it the port stays closed", async () => {
    const r = await run(args(["fsn1"], { metrics: METRICS }));
    const rules = byName(r.resources, "firewall").inputs.rules as Record<string, unknown>[];
    expect(rules.filter((x) => x.port === "9898")).toEqual([
      {
        direction: "in",
        protocol: "tcp",
        port: "9898",
        sourceIps: ["192.0.2.10/32", "2001:db8:99::/64"],
        description: "drasyl super peer metrics (Prometheus)",
      },
    ]);
    expect(rules.flatMap((x) => (x.port === "9898" ? [] : (x.sourceIps as string[])))).not.toContain("192.0.2.10/32");
    const closed = await run(args(["fsn1"]));
    expect((byName(closed.resources, "firewall").inputs.rules as { port?: string }[]).map((x) => x.port)).toEqual([
      "22527",
      "443",
      "22",
      undefined,
    ]);
  });

  it("from the config: only an exposed endpoint with metricsFrom opens the port; exposing it to clouds without metricsFrom names the field", async () => {
    const { metricsFirewall } = await import("../stacks/monitoring/exposure.ts");
    const parse = (sp: string): ReturnType<typeof parseConfig> =>
      parseConfig(`deployment: t\nsuperPeer: ${sp}\ntargets:\n  - kind: hcloud\n    locations: [fsn1]\n`, "test.yaml");
    expect(metricsFirewall(parse("{}").superPeer)).toBeUndefined();
    expect(
      metricsFirewall(parse("{ prometheusListen: '127.0.0.1:9898', metricsFrom: [192.0.2.10/32] }").superPeer),
    ).toBeUndefined();
    expect(metricsFirewall(parse("{ prometheusListen: '[::]:9100', metricsFrom: [192.0.2.10/32] }").superPeer)).toEqual(
      { port: 9100, sources: ["192.0.2.10/32"] },
    );
    expect(() => parse("{ prometheusListen: '0.0.0.0:9898' }")).toThrow(
      /superPeer\.metricsFrom: superPeer\.prometheusListen 0\.0\.0\.0:9898 exposes the metrics endpoint/,
    );
    expect(() => parse("{ prometheusListen: '0.0.0.0:9898', metricsFrom: [not-a-cidr] }")).toThrow(
      /superPeer\.metricsFrom\[0\]: must be an IPv4 or IPv6 network/,
    );
    expect(() => parse("{ prometheusListen: 'localhost:9898' }")).toThrow(
      /superPeer\.prometheusListen: prometheusListen="localhost:9898" is not a valid address:port/,
    );
  });
});
