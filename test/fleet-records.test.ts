import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { journalCommand } from "../cli/commands/logs.ts";
import { appendAudit, auditArgs } from "../stacks/state/audit.ts";
import { diffPeers, formatPeersDiff, readPeersHistory, recordPeers } from "../stacks/state/peers-history.ts";
import { StateDir } from "../stacks/state/state-dir.ts";

const dir = mkdtempSync(join(tmpdir(), "dd-records-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const k = (c: string): string => c.repeat(64);
const entry = (server: string, key: string, host = "10.0.0.1") => ({
  server,
  publicKey: key,
  url: `udp://${host}:22527?publicKey=${key}&networkId=1&tcpPort=443`,
});

describe("peers --diff", () => {
  it("names added, removed, moved and re-keyed super peers", () => {
    const d = diffPeers(
      [entry("a", k("1")), entry("b", k("2")), entry("c", k("3"))],
      [entry("a", k("1")), entry("b", k("9")), entry("c", k("3"), "10.0.0.3"), entry("d", k("4"))],
    );
    expect(d.added.map((e) => e.server)).toEqual(["d"]);
    expect(d.removed).toEqual([]);
    expect(d.keyChanged).toEqual([{ server: "b", from: k("2"), to: k("9"), url: entry("b", k("9")).url }]);
    expect(d.moved.map((e) => e.server)).toEqual(["c"]);
    expect(diffPeers([entry("a", k("1"))], []).removed.map((e) => e.server)).toEqual(["a"]);
  });

  it("keeps the value before the last change, and a changed key is a warning", () => {
    const state = new StateDir(join(dir, "peers")).forDeployment("dep");
    expect(formatPeersDiff(readPeersHistory(state)).text).toMatch(/run drasyl-deploy up/);
    recordPeers(state, [entry("a", k("1")), entry("b", k("2"))], new Date("2026-01-01T00:00:00Z"));
    expect(formatPeersDiff(readPeersHistory(state)).text).toMatch(/unchanged since/);
    recordPeers(state, [entry("a", k("1")), entry("b", k("5")), entry("c", k("3"))], new Date("2026-01-02T00:00:00Z"));
    // An up that changes nothing keeps the last change visible.
    recordPeers(state, [entry("c", k("3")), entry("a", k("1")), entry("b", k("5"))], new Date("2026-01-03T00:00:00Z"));
    const { text, warnings } = formatPeersDiff(readPeersHistory(state));
    expect(text).toContain("changed by the up of 2026-01-02T00:00:00.000Z (before: 2026-01-01T00:00:00.000Z)");
    expect(text).toContain(`+ c  ${entry("c", k("3")).url}`);
    expect(text).toContain(`! b  public key ${k("2")} -> ${k("5")}`);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^warning: b has a new public key/);
    expect(statSync(state.peersHistoryFile).mode & 0o777).toBe(0o600);
  });
});

describe("the audit log", () => {
  it("is JSON lines, 0600, with who and when, and no secret-looking arguments", () => {
    const state = new StateDir(join(dir, "audit")).forDeployment("dep");
    appendAudit(state, {
      command: "rollout",
      args: ["rollout", "--release", "x.mjs"],
      exitCode: 0,
      servers: [{ server: "a", result: "upgraded", releaseBefore: "r1", releaseAfter: "r2" }],
    });
    appendAudit(state, { command: "up", args: ["up", `--token=${k("f")}${k("e")}`], exitCode: 1, servers: [] });
    const file = state.auditLogFile;
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const lines = readFileSync(file, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({
      command: "rollout",
      exitCode: 0,
      servers: [{ server: "a", releaseBefore: "r1", releaseAfter: "r2" }],
    });
    expect(lines[0]?.who).toMatch(/^.+@.+$/);
    expect(Number.isNaN(Date.parse(String(lines[0]?.time)))).toBe(false);
    expect(JSON.stringify(lines[1])).not.toMatch(/[0-9a-f]{65}/);
    expect(auditArgs([k("a")])).toEqual([k("a")]);
  });
});

describe("logs", () => {
  it("passes --since as one quoted word", () => {
    expect(journalCommand({ follow: false })).toBe("journalctl -u drasyl-sp --no-pager -o short-iso -n 50");
    expect(journalCommand({ follow: true, since: "1 hour ago; rm -rf /" })).toBe(
      "journalctl -u drasyl-sp --no-pager -o short-iso --since '1 hour ago; rm -rf /' -f",
    );
  });
});
