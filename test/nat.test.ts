import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { superPeerBundle } from "../stacks/package-files.ts";
import { saveIdentityFile } from "../sp-runtime/identity/identity-file.ts";
import { bytesToHex } from "../sp-runtime/util/hex.ts";
import { Namespaces, netnsAvailable, sh } from "./support/netns.ts";
import { type Spawned, spawnProcess } from "./support/process.ts";
import { vectorIdentity } from "./support/super-peer.ts";

/*
 * Two nodes, each behind its own masquerading NAT router, and a super peer on a shared "internet"
 * bridge; every address lives only inside namespaces this test creates. The NAT uses random port
 * mapping, so the only way a node can learn the other's public address and port is the UNITE.
 */
const runnable = netnsAvailable();
const mustRun = process.env.CI === "true";

const SP_IP = "198.18.0.1";
const NAT = {
  a: { wan: "198.18.0.2", lan: "10.0.1.1", node: "10.0.1.2" },
  b: { wan: "198.18.0.3", lan: "10.0.2.1", node: "10.0.2.2" },
};

interface NodeEvent {
  event: string;
  local?: { address: string; port: number };
  address?: string;
  endpoints?: { address: string; port: number }[];
  payload?: string;
}

function events(p: Spawned): NodeEvent[] {
  return p
    .stdout()
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as NodeEvent);
}

describe.skipIf(!runnable && !mustRun)("UNITE across NATs (network namespaces)", () => {
  const ns = new Namespaces(`dd${process.pid % 100000}`);
  const procs: Spawned[] = [];
  let spNs = "";
  const nodeNs: Record<"a" | "b", string> = { a: "", b: "" };

  beforeAll(() => {
    const wan = ns.add("wan");
    sh("ip", ["-n", wan, "link", "add", "br0", "type", "bridge"]);
    sh("ip", ["-n", wan, "link", "set", "br0", "up"]);
    spNs = ns.add("sp");
    ns.link(wan, "sp", spNs, "eth0");
    sh("ip", ["-n", wan, "link", "set", "sp", "master", "br0"]);
    sh("ip", ["-n", spNs, "addr", "add", `${SP_IP}/24`, "dev", "eth0"]);

    for (const side of ["a", "b"] as const) {
      const n = NAT[side];
      const router = ns.add(`nat${side}`);
      const host = ns.add(side);
      ns.link(wan, `nat${side}`, router, "wan0");
      sh("ip", ["-n", wan, "link", "set", `nat${side}`, "master", "br0"]);
      sh("ip", ["-n", router, "addr", "add", `${n.wan}/24`, "dev", "wan0"]);
      ns.link(router, "lan0", host, "eth0");
      sh("ip", ["-n", router, "addr", "add", `${n.lan}/24`, "dev", "lan0"]);
      sh("ip", ["-n", host, "addr", "add", `${n.node}/24`, "dev", "eth0"]);
      sh("ip", ["-n", host, "route", "add", "default", "via", n.lan]);
      // Forwarding is per namespace: only these routers forward, the machine itself stays as it is.
      sh("ip", ["netns", "exec", router, "sysctl", "-qw", "net.ipv4.ip_forward=1"]);
      sh(
        "ip",
        ["netns", "exec", router, "nft", "-f", "-"],
        'table ip nat {\n  chain post {\n    type nat hook postrouting priority srcnat;\n    oifname "wan0" masquerade random\n  }\n}\n',
      );
      nodeNs[side] = host;
    }
  });

  const dirs: string[] = [];
  afterAll(async () => {
    for (const p of procs) await p.stop();
    ns.cleanup();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it("each UNITE carries the other node's NAT-mapped public address", async () => {
    const dir = mkdtempSync(join(tmpdir(), "drasyl-nat-"));
    dirs.push(dir);
    const spId = vectorIdentity("id_1");
    const idFile = join(dir, "sp.identity");
    saveIdentityFile(idFile, spId);
    const sp = spawnProcess("ip", ["netns", "exec", spNs, process.execPath, superPeerBundle()], {
      PATH: process.env.PATH,
      DRASYL_IDENTITY_FILE: idFile,
      DRASYL_IDENTITY_REQUIRED: "true",
      DRASYL_UDP4_LISTEN: `${SP_IP}:22527`,
      DRASYL_UDP6_LISTEN: "",
      DRASYL_TCP4_LISTEN: `${SP_IP}:8443`,
      DRASYL_TCP6_LISTEN: "",
      DRASYL_PROMETHEUS_LISTEN: "",
      DRASYL_PEERS_PRINT_INTERVAL: "300",
      DRASYL_SEND_UNITES: "1000",
    });
    procs.push(sp);
    await sp.waitFor(/Super peer listening on:\n {2}udp:\/\/198\.18\.0\.1:22527/);

    const url = `udp://${SP_IP}:22527?publicKey=${spId.publicKeyHex}&networkId=1&tcpPort=8443`;
    const ids = { a: vectorIdentity("id_2"), b: vectorIdentity("id_3") };
    const nodes = {} as Record<"a" | "b", Spawned>;
    for (const side of ["a", "b"] as const) {
      const other = side === "a" ? ids.b : ids.a;
      nodes[side] = spawnProcess(
        "ip",
        ["netns", "exec", nodeNs[side], process.execPath, "--import", "tsx", "test/fixtures/nat-node.ts"],
        {
          PATH: process.env.PATH,
          SP_URL: url,
          NODE_SECRET: bytesToHex(ids[side].secretKey),
          NODE_POW: String(ids[side].pow),
          BIND_ADDRESS: NAT[side].node,
          PEER_PUBLIC_KEY: side === "a" ? other.publicKeyHex : "",
        },
      );
      procs.push(nodes[side]);
    }
    for (const side of ["a", "b"] as const) await nodes[side].waitFor(/"event":"unite"/, 20_000);

    // What the super peer observed as each node's source: the NAT's public address and mapped port.
    const observed: Record<"a" | "b", { address: string; port: number }> = {
      a: { address: "", port: 0 },
      b: { address: "", port: 0 },
    };
    for (const side of ["a", "b"] as const) {
      // The table is printed every 300 ms, so it may lag behind the UNITE.
      const m = await sp.waitFor(
        new RegExp(`${ids[side].publicKeyHex} ok +\\d* +udp://(\\d+\\.\\d+\\.\\d+\\.\\d+):(\\d+)`),
        5000,
      );
      observed[side] = { address: m?.[1] ?? "", port: Number(m?.[2]) };
      expect(observed[side].address).toBe(NAT[side].wan);
    }

    for (const [side, other] of [
      ["a", "b"],
      ["b", "a"],
    ] as const) {
      const local = events(nodes[other]).find((e) => e.event === "ready")?.local;
      const unite = events(nodes[side]).find((e) => e.event === "unite");
      expect(unite?.address).toBe(ids[other].publicKeyHex);
      // Reported (private) endpoint first, then the NAT-mapped public one the super peer saw.
      expect(unite?.endpoints).toEqual([local, observed[other]]);
      expect(unite?.endpoints?.[1]?.address).toBe(NAT[other].wan);
    }
    expect(events(nodes.b).some((e) => e.event === "app" && e.payload === "through the nat")).toBe(true);
  }, 60_000);
});
