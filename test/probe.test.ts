import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { probeSuperPeer } from "../sp-runtime/node/prober.ts";
import { checkDnsName, probeServer } from "../stacks/install/health.ts";
import { resolveName } from "../stacks/install/resolve.ts";
import { DEFAULT_SETTINGS, type Settings } from "../stacks/install/settings.ts";
import type { Server } from "../stacks/provider.ts";
import { TestDnsServer } from "./support/dns-server.ts";
import { startTestSuperPeer, type TestSuperPeer, vectorIdentity } from "./support/super-peer.ts";

/**
 * The prober and the endpoint checks of `status` and the health check, against a real super peer
 * on loopback and a real (tiny) DNS server the resolver is pointed at through
 * DRASYL_DEPLOY_DNS_SERVER, as an operator would point it at the zone's server.
 */
const prober = vectorIdentity("id_3");
let sp: TestSuperPeer;
let dns: TestDnsServer;
let settings: Settings;
const previousDns = process.env.DRASYL_DEPLOY_DNS_SERVER;

beforeAll(async () => {
  sp = await startTestSuperPeer({ DRASYL_UDP6_LISTEN: "", DRASYL_TCP4_LISTEN: "127.0.0.1:0" });
  dns = await TestDnsServer.start({
    "sp.example.test": { A: ["127.0.0.1"] },
    "elsewhere.example.test": { A: ["127.0.0.1", "192.0.2.55"], AAAA: ["2001:db8::55"] },
    "v6only.example.test": { AAAA: ["2001:db8::55"] },
  });
  process.env.DRASYL_DEPLOY_DNS_SERVER = dns.address;
  settings = { ...DEFAULT_SETTINGS, udpPort: sp.bound.udp4?.port ?? 0, tcpPort: sp.bound.tcp4?.port ?? 0 };
});

afterAll(async () => {
  if (previousDns === undefined) delete process.env.DRASYL_DEPLOY_DNS_SERVER;
  else process.env.DRASYL_DEPLOY_DNS_SERVER = previousDns;
  await dns.close();
  await sp.close();
});

const server = (over: Partial<Server> = {}): Server => ({
  name: "s1",
  region: "r",
  ipv4: "127.0.0.1",
  ssh: { host: "127.0.0.1", port: 22, user: "root" },
  ...over,
});

describe("the prober", () => {
  const target = () => ({
    host: "127.0.0.1",
    port: settings.udpPort,
    tcpPort: settings.tcpPort,
    publicKey: sp.identity.publicKey,
  });
  const opts = { networkId: 1, arm: true, timeoutMs: 1500 };

  it("gets an ACK over UDP and over TCP with the identity it is given", async () => {
    for (const transport of ["udp", "tcp"] as const)
      expect(await probeSuperPeer(prober, target(), transport, opts)).toMatchObject({
        ok: true,
        rttMs: expect.any(Number),
      });
  });

  it("fails, naming the key and address, when the super peer is another one, the network differs or arming differs", async () => {
    const other = { ...target(), publicKey: vectorIdentity("id_2").publicKey };
    const wrongKey = await probeSuperPeer(prober, other, "udp", { ...opts, timeoutMs: 300 });
    expect(wrongKey).toMatchObject({
      ok: false,
      error: expect.stringMatching(
        new RegExp(
          `no ACK from ${vectorIdentity("id_2").publicKeyHex.slice(0, 16)}… at 127\\.0\\.0\\.1:${settings.udpPort} over UDP within 300 ms`,
        ),
      ),
    });
    expect(await probeSuperPeer(prober, target(), "tcp", { ...opts, networkId: 7, timeoutMs: 300 })).toMatchObject({
      ok: false,
    });
    expect(await probeSuperPeer(prober, target(), "udp", { ...opts, arm: false, timeoutMs: 300 })).toMatchObject({
      ok: false,
    });
  });

  it("reports a refused TCP connection and a name that does not resolve", async () => {
    const closed = await probeSuperPeer(prober, { ...target(), tcpPort: 1 }, "tcp", opts);
    expect(closed).toMatchObject({
      ok: false,
      error: expect.stringMatching(/127\.0\.0\.1:1 over TCP: .*ECONNREFUSED/),
    });
    expect(await probeSuperPeer(prober, { ...target(), host: "no-such-name.invalid" }, "udp", opts)).toMatchObject({
      ok: false,
      error: expect.stringMatching(/does not resolve/),
    });
  });
});

describe("the endpoints clients are given", () => {
  it("resolves through the DNS server it is pointed at, A and AAAA", async () => {
    expect(await resolveName("elsewhere.example.test")).toEqual(["127.0.0.1", "192.0.2.55", "2001:db8::55"]);
    expect(dns.queries).toContain("elsewhere.example.test AAAA");
  });

  it("a DNS name that resolves to the server passes, and every address is probed over UDP and TCP", async () => {
    const r = await probeServer(server({ dnsName: "sp.example.test" }), sp.identity.publicKeyHex, settings, {
      identity: prober,
    });
    expect(r.error).toBeUndefined();
    expect(r).toMatchObject({ ok: true, udp: { ok: true }, tcp: { ok: true } });
    expect(r.endpoints.map((e) => e.host)).toEqual(["127.0.0.1"]);
  });

  it("a DNS name that resolves elsewhere fails with the addresses it resolved to, though the IP answers", async () => {
    const r = await probeServer(server({ dnsName: "elsewhere.example.test" }), sp.identity.publicKeyHex, settings, {
      identity: prober,
    });
    expect(r.ok).toBe(false);
    expect(r.udp.ok && r.tcp.ok).toBe(true);
    expect(r.dnsError).toBe(
      "dnsName elsewhere.example.test resolves to 127.0.0.1, 192.0.2.55, 2001:db8::55, but 192.0.2.55, 2001:db8::55 are not this server's (127.0.0.1): " +
        "clients given the name would not reach it. Fix the DNS record, or the server's addresses in the config",
    );
    expect((await checkDnsName(server({ dnsName: "gone.example.test" }))).problem).toMatch(
      /^dnsName gone\.example\.test does not resolve \(ENOTFOUND\)/,
    );
    expect(
      (await checkDnsName(server({ dnsName: "v6only.example.test", ipv6: "2001:db8::55" }))).problem,
    ).toBeUndefined();
  });

  it("a server known only by its name is probed where the name leads", async () => {
    const named = server({
      ipv4: undefined,
      dnsName: "sp.example.test",
      ssh: { host: "sp.example.test", port: 22, user: "root" },
    });
    const r = await probeServer(named, sp.identity.publicKeyHex, settings, { identity: prober });
    expect(r).toMatchObject({ ok: true, endpoints: [{ host: "127.0.0.1" }] });
  });

  it("an address that does not answer fails the server, naming the address", async () => {
    const r = await probeServer(server(), vectorIdentity("id_2").publicKeyHex, settings, {
      identity: prober,
      timeoutMs: 300,
    });
    expect(r).toMatchObject({
      ok: false,
      error: expect.stringMatching(
        /no ACK from .* at 127\.0\.0\.1:\d+ over UDP within 300 ms; .* at 127\.0\.0\.1:\d+ over TCP: the connection was closed before the ACK/,
      ),
    });
  });
});
