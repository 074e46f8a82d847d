import { generateIdentity, type Identity } from "../identity/identity.ts";
import type { SuperPeerAddress } from "./super-peer-url.ts";
import { DrasylNode } from "./test-node.ts";

export type ProbeResult = { ok: true; rttMs: number } | { ok: false; error: string };

let probeIdentity: Promise<Identity> | undefined;

/** Mined once per process at the default difficulty: a super peer ignores HELLOs with weaker proof of work. */
function identity(): Promise<Identity> {
  probeIdentity ??= generateIdentity();
  return probeIdentity;
}

/** One HELLO over `transport`, answered by an ACK from the expected key and network id. */
export async function probeSuperPeer(sp: SuperPeerAddress, transport: "udp" | "tcp", networkId = 1, timeoutMs = 3000): Promise<ProbeResult> {
  const node = new DrasylNode({ identity: await identity(), superPeers: [sp], networkId });
  try {
    await node.start();
    const r = await node.hello(sp, transport, timeoutMs);
    return { ok: true, rttMs: r.rttMs };
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  } finally {
    await node.close();
  }
}
