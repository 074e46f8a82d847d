import { afterEach, describe, expect, it } from "vitest";
import { ConfigError, loadConfig, parseLogLevel } from "../sp-runtime/daemon/config.ts";
import { formatPeers, listeningUrls } from "../sp-runtime/daemon/output.ts";
import { PeerTable } from "../sp-runtime/daemon/peer-table.ts";
import { encodeEndpoints } from "../sp-runtime/wire/endpoints.ts";
import { RawClient, startTestSuperPeer, type TestSuperPeer, vectorIdentity } from "./support/super-peer.ts";

describe("configuration from DRASYL_* variables", () => {
  it("has the Rust defaults", () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      identityFile: "drasyl.identity",
      identityRequired: false,
      networkId: 1,
      udp4Listen: { host: "0.0.0.0", port: 22527 },
      udp6Listen: { host: "::", port: 22527 },
      tcp4Listen: { host: "0.0.0.0", port: 8443 },
      tcp6Listen: { host: "::", port: 8443 },
      armMessages: true,
      sendUnites: 5000,
      maxPeers: 8192,
      minPowDifficulty: 24,
      helloTimeout: 30000,
      helloMaxAge: 300000,
      peersPrintInterval: 5000,
      prometheusListen: { host: "127.0.0.1", port: 9898 },
      prometheusToken: "",
      logLevel: "info",
    });
  });

  it("turns listeners off with empty strings, as the Dockerfile does", () => {
    const c = loadConfig({ DRASYL_UDP4_LISTEN: "", DRASYL_TCP4_LISTEN: "", DRASYL_TCP6_LISTEN: "[::]:443" });
    expect(c.udp4Listen).toBeUndefined();
    expect(c.tcp4Listen).toBeUndefined();
    expect(c.tcp6Listen).toEqual({ host: "::", port: 443 });
  });

  const bad: [Record<string, string>, RegExp][] = [
    [{ DRASYL_ARM_MESSAGES: "1" }, /DRASYL_ARM_MESSAGES="1" must be "true" or "false"/],
    [{ DRASYL_MAX_PEERS: "-1" }, /DRASYL_MAX_PEERS="-1"/],
    [{ DRASYL_MAX_PEERS: "4194305" }, /DRASYL_MAX_PEERS="4194305" is not an integer between 0 and 4194304/],
    [{ DRASYL_WORKERS: "two" }, /DRASYL_WORKERS="two" is not an integer between 0 and 256/],
    [{ DRASYL_NETWORK_ID: "2147483648" }, /DRASYL_NETWORK_ID/],
    [{ DRASYL_SEND_UNITES: "5s" }, /DRASYL_SEND_UNITES="5s"/],
    [{ DRASYL_UDP4_LISTEN: "[::]:22527" }, /DRASYL_UDP4_LISTEN="\[::\]:22527" is not a valid IPv4 address:port/],
    [{ DRASYL_UDP6_LISTEN: "0.0.0.0:1" }, /DRASYL_UDP6_LISTEN/],
    [{ DRASYL_TCP4_LISTEN: "0.0.0.0:70000" }, /DRASYL_TCP4_LISTEN/],
    [{ DRASYL_PROMETHEUS_LISTEN: "localhost:9898" }, /DRASYL_PROMETHEUS_LISTEN/],
    [{ RUST_LOG: "verbose" }, /RUST_LOG="verbose"/],
    [
      { DRASYL_UDP4_LISTEN: "", DRASYL_UDP6_LISTEN: "", DRASYL_TCP4_LISTEN: "", DRASYL_TCP6_LISTEN: "" },
      /nothing to listen on/,
    ],
  ];
  for (const [env, message] of bad) {
    it(`stops on ${JSON.stringify(env)} naming the variable`, () => {
      expect(() => loadConfig(env)).toThrow(ConfigError);
      expect(() => loadConfig(env)).toThrow(message);
    });
  }

  it("reads RUST_LOG directives, most verbose wins", () => {
    expect(parseLogLevel("drasyl_sp=debug,info", "RUST_LOG")).toBe("debug");
    expect(parseLogLevel("WARN", "RUST_LOG")).toBe("warn");
    expect(parseLogLevel(undefined, "RUST_LOG")).toBe("info");
  });
});

describe("listening URLs", () => {
  const pk = "ab".repeat(32);
  const addrs = { v4: ["192.0.2.5"], v6: ["2001:db8::5"] };

  it("expands wildcards and lists each address once", () => {
    const urls = listeningUrls(loadConfig({}), pk, addrs);
    expect(urls).toEqual([
      `udp://192.0.2.5:22527?publicKey=${pk}&networkId=1&tcpPort=8443`,
      `udp://[2001:db8::5]:22527?publicKey=${pk}&networkId=1&tcpPort=8443`,
    ]);
  });

  it("takes tcpPort from TCP6, else TCP4, else leaves it out", () => {
    expect(
      listeningUrls(loadConfig({ DRASYL_TCP4_LISTEN: "0.0.0.0:1", DRASYL_TCP6_LISTEN: "[::]:443" }), pk, addrs)[0],
    ).toContain("&tcpPort=443");
    expect(
      listeningUrls(loadConfig({ DRASYL_TCP4_LISTEN: "0.0.0.0:1", DRASYL_TCP6_LISTEN: "" }), pk, addrs)[0],
    ).toContain("&tcpPort=1");
    expect(listeningUrls(loadConfig({ DRASYL_TCP4_LISTEN: "", DRASYL_TCP6_LISTEN: "" }), pk, addrs)[0]).toMatch(
      /networkId=1$/,
    );
  });
});

describe("peers table", () => {
  it("prints each peer with PoW, HELLO age, source and endpoints", () => {
    const table = new PeerTable();
    const slot = table.insert(new Uint8Array(32).fill(0xcd), 0, true, undefined);
    table.helloAt[slot] = 1000;
    table.setUdpSource(slot, false, "203.0.113.9", 40000);
    const eps = encodeEndpoints([
      { address: "10.0.0.9", port: 22528 },
      { address: "10.0.0.9", port: 0 },
    ]);
    table.setEndpoints(slot, eps, 0, eps.length);
    const text = formatPeers(table.values(), 1250);
    expect(text).toBe(
      `${"Node".padEnd(64)} PoW HelloRx HelloSrc\n${"cd".repeat(32)} ok  250     udp://203.0.113.9:40000 udp://10.0.0.9:22528\nTotal Peers: 1\n`,
    );
  });
});

describe("default wildcard listeners together", () => {
  let sp: TestSuperPeer | undefined;
  afterEach(async () => sp?.close());

  it("binds 0.0.0.0 and [::] on the same port without EADDRINUSE and serves both families", async () => {
    for (let attempt = 0; ; attempt++) {
      const port = 20000 + Math.floor(Math.random() * 40000);
      try {
        sp = await startTestSuperPeer({
          DRASYL_UDP4_LISTEN: `0.0.0.0:${port}`,
          DRASYL_UDP6_LISTEN: `[::]:${port}`,
          DRASYL_TCP4_LISTEN: `0.0.0.0:${port}`,
          DRASYL_TCP6_LISTEN: `[::]:${port}`,
        });
        break;
      } catch (e) {
        if (attempt > 5) throw e;
      }
    }
    const running = sp as TestSuperPeer;
    const port = running.bound.udp4?.port ?? 0;
    expect(running.bound.udp6?.port).toBe(port);
    for (const family of [4, 6] as const) {
      const c = await RawClient.open(vectorIdentity(family === 4 ? "id_2" : "id_3"), running.identity, family);
      c.send(c.hello(running.identity.publicKey), port, family === 4 ? "127.0.0.1" : "::1");
      expect(await c.receive()).toBeDefined();
      c.close();
    }
    const names = [...running.sp.peers.values()].map((p) => p.socket).sort();
    expect(names).toEqual(["udp4", "udp6"]);
  });
});
