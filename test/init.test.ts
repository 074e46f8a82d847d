import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseDocument } from "yaml";
import { parseConfig } from "../cli/config/load.ts";
import {
  answersFromConfig,
  configFromAnswers,
  type InitAnswers,
  randomNetworkId,
  serverNameFromHost,
} from "../cli/init/answers.ts";
import { checkAwsCredentials } from "../c../../stacks/aws/credentials-check.ts";
import {
  fetchHcloudCatalog,
  HcloudApiError,
  monthlyPrice,
  typesForLocations,
} from "../c../../stacks/hcloud/live-catalog.ts";
import { renderConfig } from "../cli/init/render.ts";
import { boundPorts, evaluateServer } from "../cli/init/server-check.ts";
import { labReadiness, type LabHostFacts } from "../stacks/local/requirements.ts";
import { type FakeHcloud, startFakeHcloud } from "./support/fake-hcloud.ts";
import { startFakeSts } from "./support/fake-sts.ts";

const base = { deployment: "sp", networkId: 1, udpPort: 22527, tcpPort: 443 };
const everything: InitAnswers = {
  ...base,
  networkId: 123456,
  tcpPort: 8443,
  hcloud: { locations: ["fsn1", "ash"], serverType: "cpx22" },
  aws: { regions: ["eu-central-1", "us-east-1"], instanceType: "t4g.micro" },
  existing: {
    servers: [
      {
        name: "fra1",
        region: "eu",
        host: "203.0.113.10",
        sshPort: 2222,
        user: "deploy",
        privateKey: "~/.ssh/id_ed25519",
        hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAb",
        dnsName: "sp.example.org",
      },
      { name: "v6", region: "v6", host: "2001:db8::1", sshPort: 22, user: "root" },
    ],
  },
  local: { regions: ["lab-1", "lab-2"] },
};

describe("init: answers to drasyl-deploy.yaml", () => {
  it("renders a file the config loader accepts, with exactly the answers in it", () => {
    const text = renderConfig(everything);
    const config = parseConfig(text, "x.yaml");
    expect(config).toMatchObject({ deployment: "sp", networkId: 123456, ports: { udp: 22527, tcp: 8443 } });
    expect(config.targets.map((t) => t.kind)).toEqual(["hcloud", "aws", "existing", "local"]);
    expect(parseDocument(text).toJS()).toEqual(configFromAnswers(everything));
  });

  it("comments every field and names the secrets' variables, never their values", () => {
    process.env.HCLOUD_TOKEN = "secret-token-value";
    try {
      const text = renderConfig(everything);
      for (const field of ["deployment", "networkId", "ports", "targets", "name", "host", "user", "hostKey"]) {
        const at = text.split("\n").findIndex((l) => new RegExp(`^\\s*(- )?${field}:`).test(l));
        expect(at, field).toBeGreaterThan(0);
        const here = text.split("\n")[at] ?? "";
        const before = text.split("\n")[at - 1] ?? "";
        expect(here.includes("#") || before.trim().startsWith("#"), `${field} has a comment`).toBe(true);
      }
      expect(text).toContain("HCLOUD_TOKEN");
      expect(text).toContain("PULUMI_CONFIG_PASSPHRASE");
      expect(text).not.toContain("secret-token-value");
      expect(text).toContain("# fsn1 Falkenstein, DE; ash Ashburn, VA, US");
    } finally {
      delete process.env.HCLOUD_TOKEN;
    }
  });

  it("reads an existing file back into the same answers, keeping fields init does not ask", () => {
    const text = [
      "deployment: sp",
      "superPeer: { maxPeers: 100 }",
      "targets:",
      "  - kind: hcloud",
      "    locations: [fsn1, { location: ash, serverType: ccx13 }]",
      "    image: debian-13",
      "    allowSsh: [198.51.100.0/24]",
      "",
    ].join("\n");
    const a = answersFromConfig(parseConfig(text, "x"), parseDocument(text).toJS() as Record<string, unknown>);
    expect(a.hcloud).toEqual({
      locations: ["fsn1", "ash"],
      serverType: undefined,
      kept: { image: "debian-13", allowSsh: ["198.51.100.0/24"] },
    });
    const again = parseConfig(renderConfig(a), "y");
    expect(again.superPeer.maxPeers).toBe(100);
    expect(again.targets[0]).toMatchObject({ kind: "hcloud", image: "debian-13", allowSsh: ["198.51.100.0/24"] });
    const round = renderConfig(everything);
    expect(
      renderConfig(answersFromConfig(parseConfig(round, "r"), parseDocument(round).toJS() as Record<string, unknown>)),
    ).toBe(round);
  });

  it("derives server names and random network ids that the schema accepts", () => {
    expect(serverNameFromHost("sp-fra1.example.org")).toBe("sp-fra1");
    expect(serverNameFromHost("203.0.113.10")).toBe("203-0-113-10");
    expect(serverNameFromHost("2001:db8::1")).toBe("2001-db8-1");
    expect(randomNetworkId(() => 0)).toBe(2);
    expect(randomNetworkId(() => 0.999999999999)).toBeLessThanOrEqual(0x7fffffff);
  });
});

describe("init: checks of an existing server", () => {
  const proc = [
    "== udp",
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops",
    "  1: 00000000:57FF 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1 2 0 0",
    "== tcp",
    "  0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0",
    "  1: 0100007F:01BB 0100007F:A000 01 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0",
    "== tcp6",
    "  0: 00000000000000000000000000000000:01BB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0",
  ].join("\n");

  it("reads bound UDP ports and listening TCP ports (not connected ones) from /proc/net", () => {
    const ports = boundPorts(proc);
    expect([...ports.udp]).toEqual([22527]);
    expect([...ports.tcp].sort()).toEqual([22, 443]);
  });

  it("names what to fix: no sudo, unsupported architecture, ports in use", () => {
    const r = evaluateServer(
      `uid=1000\nsudo=no\nmachine=armv7l\nos=debian\nversion=12\npretty=Debian 12\nsystemd=yes\nservice=inactive\n${proc}`,
      "alice",
      { udp: 22527, tcp: 443 },
    );
    expect(r.problems).toEqual([
      expect.stringContaining('alice ALL=(ALL) NOPASSWD:ALL" to /etc/sudoers.d/alice'),
      expect.stringContaining('architecture "armv7l" is not supported'),
      expect.stringContaining("UDP port 22527 is already in use"),
      expect.stringContaining("TCP port 443 is already in use"),
    ]);
  });

  it("accepts a sudo user on Debian with free ports, and a server drasyl-sp already runs on", () => {
    const ok = evaluateServer(
      "uid=1000\nsudo=yes\nmachine=aarch64\nos=debian\nversion=12\npretty=Debian GNU/Linux 12 (bookworm)\nsystemd=yes\nservice=inactive\n== udp\n== tcp\n",
      "deploy",
      { udp: 22527, tcp: 443 },
    );
    expect(ok).toEqual({
      facts: [
        "deploy has passwordless sudo",
        "architecture aarch64",
        "Debian GNU/Linux 12 (bookworm)",
        "UDP 22527 and TCP 443 are free",
      ],
      problems: [],
    });
    const ours = evaluateServer(
      `uid=0\nmachine=x86_64\nos=ubuntu\nversion=24.04\npretty=Ubuntu 24.04\nsystemd=yes\nservice=active\n${proc}`,
      "root",
      { udp: 22527, tcp: 443 },
    );
    expect(ours.problems).toEqual([]);
    expect(ours.facts).toContain("drasyl-sp already runs here: up updates it in place");
    expect(evaluateServer("uid=0\nmachine=x86_64\nsystemd=no\n", "root", { udp: 1, tcp: 2 }).problems).toEqual([
      expect.stringContaining("systemd is not running"),
    ]);
  });
});

describe("init: the Hetzner Cloud API", () => {
  let api: FakeHcloud;
  beforeAll(async () => {
    api = await startFakeHcloud("good-token");
  });
  afterAll(() => api.close());

  it("reads every page of locations and server types, with prices, without deprecated types or unknown locations", async () => {
    const c = await fetchHcloudCatalog("good-token", api.url);
    expect(c.source).toBe("api");
    expect(c.locations.map((l) => l.name)).toEqual(["fsn1", "nbg1", "hel1", "ash", "hil", "sin"]);
    expect(c.locations[3]).toEqual({ name: "ash", where: "Ashburn, VA, US" });
    expect(c.skipped).toEqual(["xyz9"]);
    expect(c.serverTypes.map((t) => t.name)).toEqual(["cx23", "cax11", "cpx22", "ccx13"]);
    expect(api.requests.every((r) => r.auth === "Bearer good-token")).toBe(true);
    expect(api.requests.some((r) => r.path.includes("page=3"))).toBe(true);
    const both = typesForLocations(c, ["fsn1", "ash"]);
    expect(both.map((t) => t.name)).toEqual(["cpx22", "ccx13"]);
    expect(monthlyPrice(both[0] as (typeof both)[number], ["fsn1", "ash"])).toBe("€7.99-9.49/month");
    expect(typesForLocations(c, ["fsn1"]).map((t) => t.name)).toEqual(["cx23", "cax11", "cpx22", "ccx13"]);
  });

  it("reports a rejected token with where to create one", async () => {
    const e = await fetchHcloudCatalog("bad-token", api.url).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(HcloudApiError);
    expect((e as Error).message).toMatch(/rejected HCLOUD_TOKEN \(HTTP 401\).*Security > API tokens/);
  });

  it("reports an unreachable API", async () => {
    const e = await fetchHcloudCatalog("good-token", "http://127.0.0.1:1/v1").catch((x: unknown) => x);
    expect((e as Error).message).toMatch(/cannot reach the Hetzner Cloud API at http:\/\/127.0.0.1:1\/v1/);
  });
});

describe("first run: can the lab run here", () => {
  const ready: LabHostFacts = { platform: "linux", root: true, missing: [], apt: true, cgroups: true };
  it("installs missing packages as root with apt, and says why not otherwise", () => {
    expect(labReadiness(ready)).toEqual({ ready: true });
    const missing = [
      { program: "systemd-nspawn", package: "systemd-container" },
      { program: "debootstrap", package: "debootstrap" },
    ];
    expect(labReadiness({ ...ready, missing })).toEqual({
      ready: false,
      install: ["systemd-container", "debootstrap"],
    });
    expect(labReadiness({ ...ready, missing, apt: false })).toMatchObject({
      reason: expect.stringContaining("systemd-nspawn (Debian package systemd-container)"),
    });
    expect(labReadiness({ ...ready, missing, root: false })).toMatchObject({
      reason: expect.stringContaining("needs root"),
    });
    expect(labReadiness({ ...ready, cgroups: false })).toMatchObject({ reason: expect.stringContaining("cgroup") });
    expect(labReadiness({ ...ready, platform: "darwin" })).toMatchObject({
      reason: expect.stringContaining("needs Linux"),
    });
  });
});

describe("init: AWS credentials", () => {
  let sts: { url: string; close(): Promise<void> };
  beforeAll(async () => {
    sts = await startFakeSts("AKIDGOOD");
  });
  afterAll(() => sts.close());
  const env = (key: string): NodeJS.ProcessEnv => ({
    AWS_ACCESS_KEY_ID: key,
    AWS_SECRET_ACCESS_KEY: "secret",
    AWS_ENDPOINT_URL_STS: sts.url,
  });

  it("are checked with STS GetCallerIdentity at the overridden endpoint", async () => {
    expect(await checkAwsCredentials("eu-central-1", env("AKIDGOOD"))).toEqual({
      status: "ok",
      account: "123456789012",
      arn: "arn:aws:iam::123456789012:user/ci",
    });
  });

  it("a rejected key says where to create one", async () => {
    const r = await checkAwsCredentials("eu-central-1", env("AKIDBAD"));
    expect(r).toEqual({
      status: "rejected",
      message: expect.stringMatching(
        /AWS rejected the credentials \(InvalidClientTokenId: .*\): create an access key in the AWS console/,
      ),
    });
  });

  it("are reported as not checked without credentials or without an answer", async () => {
    expect(await checkAwsCredentials("eu-central-1", {})).toEqual({
      status: "not checked",
      reason: "no AWS_ACCESS_KEY_ID or AWS_PROFILE in the environment",
    });
    const r = await checkAwsCredentials("eu-central-1", {
      ...env("AKIDGOOD"),
      AWS_ENDPOINT_URL_STS: "http://127.0.0.1:1",
    });
    expect(r).toMatchObject({
      status: "not checked",
      reason: expect.stringContaining("cannot reach AWS STS at http://127.0.0.1:1"),
    });
  });
});
