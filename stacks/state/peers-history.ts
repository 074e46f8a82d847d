import { readJson, writeJson } from "./json-file.ts";
import type { DeploymentState } from "./state-dir.ts";

/** One entry of DRASYL_SUPER_PEERS as `up` printed it. */
export interface PeerEntry {
  server: string;
  publicKey: string;
  url: string;
}

export interface PeersSnapshot {
  at: string;
  entries: PeerEntry[];
}

/** The value of the last `up` that changed it, and the one it replaced. */
export interface PeersHistory {
  current: PeersSnapshot;
  previous?: PeersSnapshot;
}

export interface PeersDiff {
  added: PeerEntry[];
  removed: PeerEntry[];
  /** Same server, other key: every client that knows the old key must be updated. */
  keyChanged: { server: string; from: string; to: string; url: string }[];
  /** Same server and key, other address or ports. */
  moved: { server: string; from: string; to: string }[];
}

export function diffPeers(before: readonly PeerEntry[], after: readonly PeerEntry[]): PeersDiff {
  const old = new Map(before.map((e) => [e.server, e]));
  const now = new Map(after.map((e) => [e.server, e]));
  const diff: PeersDiff = { added: [], removed: [], keyChanged: [], moved: [] };
  for (const e of after) {
    const o = old.get(e.server);
    if (!o) diff.added.push(e);
    else if (o.publicKey !== e.publicKey)
      diff.keyChanged.push({ server: e.server, from: o.publicKey, to: e.publicKey, url: e.url });
    else if (o.url !== e.url) diff.moved.push({ server: e.server, from: o.url, to: e.url });
  }
  for (const e of before) if (!now.has(e.server)) diff.removed.push(e);
  return diff;
}

function same(a: readonly PeerEntry[], b: readonly PeerEntry[]): boolean {
  const key = (l: readonly PeerEntry[]): string =>
    JSON.stringify([...l].sort((x, y) => x.server.localeCompare(y.server)));
  return key(a) === key(b);
}

export function readPeersHistory(state: DeploymentState): PeersHistory | undefined {
  return readJson<PeersHistory>(state.peersHistoryFile);
}

/** Called by `up` with what it printed; only a change moves the current value to `previous`. */
export function recordPeers(state: DeploymentState, entries: PeerEntry[], now = new Date()): void {
  const history = readPeersHistory(state);
  if (history && same(history.current.entries, entries)) return;
  const current = { at: now.toISOString(), entries };
  writeJson(state, state.peersHistoryFile, history ? { current, previous: history.current } : { current });
}

export function formatPeersDiff(history: PeersHistory | undefined): { text: string; warnings: string[] } {
  if (!history) return { text: "No DRASYL_SUPER_PEERS recorded yet: run drasyl-deploy up.\n", warnings: [] };
  if (!history.previous)
    return { text: `DRASYL_SUPER_PEERS unchanged since it was first printed (${history.current.at}).\n`, warnings: [] };
  const d = diffPeers(history.previous.entries, history.current.entries);
  const lines = [`DRASYL_SUPER_PEERS changed by the up of ${history.current.at} (before: ${history.previous.at}):`];
  for (const e of d.added) lines.push(`+ ${e.server}  ${e.url}`);
  for (const e of d.removed) lines.push(`- ${e.server}  ${e.url}`);
  for (const e of d.moved) lines.push(`~ ${e.server}  ${e.from} -> ${e.to}`);
  for (const e of d.keyChanged) lines.push(`! ${e.server}  public key ${e.from} -> ${e.to}`);
  const warnings = d.keyChanged.map(
    (e) =>
      `warning: ${e.server} has a new public key (${e.to}): clients that only know ${e.from} can no longer reach it; give them the new DRASYL_SUPER_PEERS`,
  );
  lines.push(
    d.added.length + d.removed.length + d.moved.length + d.keyChanged.length > 0
      ? "Clients need the new DRASYL_SUPER_PEERS value (drasyl-deploy peers)."
      : "No change for clients.",
  );
  return { text: `${lines.join("\n")}\n`, warnings };
}
