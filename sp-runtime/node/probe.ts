import { generateIdentity, type Identity } from "../identity/identity.ts";
import type { SuperPeerAddress } from "./super-peer-url.ts";
import { DrasylNode } from "./test-node.ts";

export type ProbeResult = { ok: true; rttMs: number } | { ok: false; error: string };

let probeIdentity: Promise<Identity> | undefined;

/**
 * Lets the caller supply a stored identity, so a short-lived command does not spend seconds on
 * proof of work every time it runs.
 */
export function useProbeIdentity(source: () => Promise<Identity>): void {
  probeIdentity = undefined;
  identitySource = source;
}

let identitySource: () => Promise<Identity> = () => generateIdentity();

/** A super peer ignores HELLOs with weaker proof of work than its minimum, so the probe needs a real one. */
function identity(): Promise<Identity> {
  probeIdentity ??= identitySource();
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
