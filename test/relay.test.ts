import { afterEach, describe, expect, it } from "vitest";
import { bytesToHex } from "../sp-runtime/util/hex.ts";
import { DrasylNode, type AppEvent, type UniteEvent } from "../sp-runtime/node/test-node.ts";
import type { SuperPeerAddress } from "../sp-runtime/node/super-peer-url.ts";
import { deferredCleanup, type TestSuperPeer, until, vectorIdentity } from "./support/super-peer.ts";

const { defer, superPeer } = deferredCleanup(afterEach);

function address(sp: TestSuperPeer, over: Partial<SuperPeerAddress> = {}): SuperPeerAddress {
  return {
    host: "127.0.0.1",
    port: sp.bound.udp4?.port ?? 0,
    tcpPort: sp.bound.tcp4?.port ?? 0,
    publicKey: sp.identity.publicKey,
    ...over,
  };
}

async function node(
  name: "id_2" | "id_3",
  sps: SuperPeerAddress[],
  extra: Partial<ConstructorParameters<typeof DrasylNode>[0]> = {},
): Promise<DrasylNode> {
  const n = new DrasylNode({
    identity: vectorIdentity(name),
    superPeers: sps,
    bind: { address: "127.0.0.1" },
    ...extra,
  });
  await n.start();
  defer(() => n.close());
  return n;
}

function nextApp(n: DrasylNode): Promise<AppEvent> {
  return new Promise((resolve) => n.once("app", resolve));
}

describe("two drasyl test nodes through the daemon", () => {
  it("exchange end-to-end encrypted APP both ways, hop count incremented", async () => {
    const sp = await superPeer({ DRASYL_SEND_UNITES: "-1" });
    const a = await node("id_2", [address(sp)]);
    const b = await node("id_3", [address(sp)]);
    await a.hello(sp.identity.publicKey, "udp");
    await b.hello(sp.identity.publicKey, "udp");

    const atB = nextApp(b);
    a.sendApp(b.identity.publicKey, Buffer.from("hello from a"));
    const gotB = await atB;
    expect(Buffer.from(gotB.payload).toString()).toBe("hello from a");
    expect(gotB.hopCount).toBe(1);
    expect(bytesToHex(gotB.sender)).toBe(a.publicKeyHex);

    const atA = nextApp(a);
    b.sendApp(a.identity.publicKey, Buffer.from("and back"));
    expect(Buffer.from((await atA).payload).toString()).toBe("and back");
    expect(sp.sp.totals.appTx).toBe(2);
  });

  it("UNITE reaches both nodes with the other's reported endpoints and observed address", async () => {
    const sp = await superPeer();
    const a = await node("id_2", [address(sp)], {
      endpoints: [{ address: "192.0.2.10", port: 4000 }],
      processUnites: false,
    });
    const b = await node("id_3", [address(sp)], {
      endpoints: [{ address: "2001:db8::b", port: 5000 }],
      processUnites: false,
    });
    await a.hello(sp.identity.publicKey, "udp");
    await b.hello(sp.identity.publicKey, "udp");
    const unites: Record<string, UniteEvent> = {};
    a.on("unite", (u) => (unites.a = u));
    b.on("unite", (u) => (unites.b = u));
    a.sendApp(b.identity.publicKey, Buffer.from("x"));
    expect(await until(() => unites.a !== undefined && unites.b !== undefined)).toBe(true);
    expect(bytesToHex(unites.a?.address ?? new Uint8Array())).toBe(b.publicKeyHex);
    expect(unites.a?.endpoints).toEqual([
      { address: "2001:db8::b", port: 5000 },
      { address: "127.0.0.1", port: b.address().port },
    ]);
    expect(bytesToHex(unites.b?.address ?? new Uint8Array())).toBe(a.publicKeyHex);
    expect(unites.b?.endpoints).toEqual([
      { address: "192.0.2.10", port: 4000 },
      { address: "127.0.0.1", port: a.address().port },
    ]);
  });

  it("relays between a TCP-only node and a UDP node, in both directions", async () => {
    const sp = await superPeer({ DRASYL_SEND_UNITES: "-1" });
    const tcpNode = await node("id_2", [address(sp)]);
    const udpNode = await node("id_3", [address(sp)]);
    await tcpNode.hello(sp.identity.publicKey, "tcp");
    await udpNode.hello(sp.identity.publicKey, "udp");
    expect(sp.sp.peers.get(tcpNode.identity.publicKey)?.prot).toBe("tcp");

    const atUdp = nextApp(udpNode);
    tcpNode.sendApp(udpNode.identity.publicKey, Buffer.from("over tcp"), "tcp");
    expect(Buffer.from((await atUdp).payload).toString()).toBe("over tcp");

    const atTcp = nextApp(tcpNode);
    udpNode.sendApp(tcpNode.identity.publicKey, Buffer.from("to the tcp node"), "udp");
    const got = await atTcp;
    expect(Buffer.from(got.payload).toString()).toBe("to the tcp node");
    expect(got.via).toBe("tcp");
  });

  it("falls back to TCP when UDP is blocked, and relays over it", async () => {
    const sp = await superPeer({ DRASYL_SEND_UNITES: "-1" });
    // UDP goes to a port where nothing answers: as good as a firewall dropping it.
    const blocked = address(sp, { port: 9 });
    const a = await node("id_2", [blocked], { helloTimeoutMs: 300 });
    const b = await node("id_3", [address(sp)]);
    await b.hello(sp.identity.publicKey, "udp");
    a.startHelloLoop(100);
    expect(
      await until(
        () => a.stats().superPeers[0]?.tcpConnected === true && a.stats().superPeers[0]?.rttMs.tcp !== undefined,
        5000,
      ),
    ).toBe(true);
    expect(a.stats().superPeers[0]?.rttMs.udp).toBeUndefined();
    const atB = nextApp(b);
    a.sendApp(b.identity.publicKey, Buffer.from("via fallback"));
    expect(Buffer.from((await atB).payload).toString()).toBe("via fallback");
  });

  it("talks over IPv6", async () => {
    const sp = await superPeer({ DRASYL_SEND_UNITES: "-1" });
    const v6 = address(sp, { host: "::1", port: sp.bound.udp6?.port ?? 0 });
    const a = await node("id_2", [v6], { bind: { address: "::1" } });
    const b = await node("id_3", [v6], { bind: { address: "::1" } });
    await a.hello(sp.identity.publicKey, "udp");
    await b.hello(sp.identity.publicKey, "udp");
    const atB = nextApp(b);
    a.sendApp(b.identity.publicKey, Buffer.from("v6"));
    expect(Buffer.from((await atB).payload).toString()).toBe("v6");
  });
});
