import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inspect } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { parseIdentityFile } from "../sp-runtime/identity/identity-file.ts";
import type { Identity } from "../sp-runtime/identity/identity.ts";
import { bytesToHex } from "../sp-runtime/util/hex.ts";
import { FACTS_SCRIPT, type Facts, FactsError, parseFacts } from "../stacks/install/facts.ts";
import {
  expectedKeyType,
  fingerprint,
  forgetHostKey,
  HostKeyError,
  parseOpenSshKey,
  readPins,
  verifyHostKey,
} from "../stacks/install/host-keys.ts";
import { CURRENT_LINK, ENV_FILE, ETC_DIR, IDENTITY_FILE, UNIT_FILE } from "../stacks/install/layout.ts";
import {
  type Action,
  type DesiredState,
  describeAction,
  formatPlan,
  IdentityConflictError,
  type Plan,
  PlanError,
  planInstall,
  type Release,
} from "../stacks/install/plan.ts";
import { Secret } from "../stacks/install/secret.ts";
import { resolveSettings, type Settings } from "../stacks/install/settings.ts";
import type { Server } from "../stacks/provider.ts";
import { vectorIdentity } from "./support/super-peer.ts";

const ours = vectorIdentity("id_1");
const foreign = vectorIdentity("id_2");
const TOKEN = "s3cr3t-metrics-token";

function release(bundle: string, arch: "x64" | "arm64" = "x64", version = "24.21.0"): Release {
  return {
    id: `${bundle.repeat(12)}-node${version}`,
    bundle: { path: "/build/dist/drasyl-sp.mjs", sha256: bundle.repeat(64) },
    runtime: {
      version,
      arch,
      path: `/cache/node/${version}-linux-${arch}/bin/node`,
      sha256: `${arch === "x64" ? "e" : "f"}${version}`.padEnd(64, "0"),
    },
  };
}

function desired(over: Partial<DesiredState> = {}, settings: Partial<Settings> = {}): DesiredState {
  return { release: release("a"), identity: ours, settings: resolveSettings(settings), ...over };
}

/** A server as the facts script reports it, built from lines, so these tests also exercise the parser. */
function factsText(
  lines: string[],
  machine = "x86_64",
  extra: { user?: boolean; active?: string; enabled?: string; pubkey?: string } = {},
): string {
  return [
    `machine\t${machine}`,
    "systemd\tyes",
    `user\t${extra.user ? "yes" : "no"}`,
    ...lines,
    ...(extra.pubkey !== undefined ? [`pubkey\t${extra.pubkey}`] : []),
    `active\t${extra.active ?? "inactive"}`,
    `enabled\t${extra.enabled ?? "not-found"}`,
    "end",
  ].join("\n");
}

const fresh = (machine = "x86_64"): Facts => parseFacts(factsText([], machine));

/**
 * What the server looks like after the plan ran: each action applied to the facts, written back
 * as facts-script lines and parsed again.
 */
function applyPlan(facts: Facts, plan: Plan, now: number): Facts {
  const paths = structuredClone(facts.paths);
  let user = facts.userExists;
  let active = facts.active;
  let enabled = facts.enabled;
  let identity: Identity | undefined;
  for (const a of plan.actions) {
    switch (a.kind) {
      case "user":
        user = true;
        break;
      case "dir":
        paths[a.path] = { type: "dir", mode: a.mode, owner: a.owner, group: a.owner, mtime: now };
        break;
      case "file":
        paths[a.path] = { type: "file", mode: a.mode, owner: a.owner, group: a.owner, mtime: now, sha256: a.sha256 };
        if (a.path === IDENTITY_FILE) identity = parseIdentityFile((a.content as Secret).reveal());
        break;
      case "symlink":
        paths[a.path] = { type: "link", target: a.target };
        break;
      case "command": {
        const [cmd, ...args] = a.argv;
        const path = args.at(-1) as string;
        if (cmd === "rm")
          for (const p of Object.keys(paths)) if (p === path || p.startsWith(`${path}/`)) delete paths[p];
        if (cmd === "install")
          paths[path] = {
            type: "file",
            sha256: paths[IDENTITY_FILE]?.sha256 ?? "",
            mode: 0o600,
            owner: "root",
            group: "root",
            mtime: now,
          };
        if (cmd === "chmod") (paths[path] as { mode: number }).mode = parseInt(args[0] as string, 8);
        if (cmd === "chown")
          Object.assign(paths[path] as object, { owner: args[0]?.split(":")[0], group: args[0]?.split(":")[1] });
        break;
      }
      case "enable-start":
        enabled = "enabled";
        active = "active";
        break;
      case "restart":
        active = "active";
        break;
      case "daemon-reload":
        break;
    }
  }
  const lines = Object.entries(paths).map(([p, f]) =>
    f.type === "link"
      ? `link\t${p}\t${f.target}`
      : `${f.type}\t${p}\t${(f.mode ?? 0).toString(8)}\t${f.owner}\t${f.group}\t${f.mtime}${f.type === "file" ? `\t${f.sha256}` : ""}`,
  );
  const pubkey = identity
    ? identity.publicKeyHex
    : facts.identity.present
      ? (facts.identity.publicKey ?? "")
      : undefined;
  return parseFacts(
    factsText(lines, facts.machine, { user, active, enabled, ...(pubkey !== undefined ? { pubkey } : {}) }),
  );
}

const kinds = (plan: Plan): string[] =>
  plan.actions.map((a) =>
    a.kind === "file" || a.kind === "dir" || a.kind === "symlink"
      ? `${a.kind} ${a.path}`
      : a.kind === "command"
        ? `command ${a.argv.join(" ")}`
        : a.kind,
  );
const file = (plan: Plan, path: string) =>
  plan.actions.find((a): a is Extract<Action, { kind: "file" }> => a.kind === "file" && a.path === path);
const dir = (plan: Plan, path: string) =>
  plan.actions.find((a): a is Extract<Action, { kind: "dir" }> => a.kind === "dir" && a.path === path);

/** A server with the default desired state installed and running. */
function installed(d = desired()): Facts {
  return applyPlan(fresh(), planInstall(fresh(), d), 1000);
}

describe("planInstall on a fresh server", () => {
  const plan = planInstall(fresh(), desired(), { server: "fra-1" });
  const rel = "/opt/drasyl-sp/releases/aaaaaaaaaaaa-node24.21.0";
  const runtime = "/opt/drasyl-sp/runtimes/node-24.21.0-x64";

  it("plans everything, in an order where nothing is used before it exists", () => {
    expect(kinds(plan)).toEqual([
      "user",
      "dir /opt/drasyl-sp",
      "dir /opt/drasyl-sp/runtimes",
      `dir ${runtime}`,
      `dir ${runtime}/bin`,
      `file ${runtime}/bin/node`,
      "dir /opt/drasyl-sp/releases",
      `dir ${rel}`,
      `file ${rel}/drasyl-sp.mjs`,
      `symlink ${rel}/node`,
      `dir ${ETC_DIR}`,
      `file ${IDENTITY_FILE}`,
      `file ${ENV_FILE}`,
      `file ${UNIT_FILE}`,
      `symlink ${CURRENT_LINK}`,
      "daemon-reload",
      "enable-start",
    ]);
    expect(plan).toMatchObject({
      fresh: true,
      release: "aaaaaaaaaaaa-node24.21.0",
      publicKey: ours.publicKeyHex,
      restarts: true,
      server: "fra-1",
    });
    expect(plan.previousRelease).toBeUndefined();
  });

  it("gives secrets to drasyl-sp only, and code to root only", () => {
    expect(dir(plan, ETC_DIR)).toMatchObject({ mode: 0o700, owner: "drasyl-sp" });
    expect(file(plan, IDENTITY_FILE)).toMatchObject({ mode: 0o600, owner: "drasyl-sp" });
    expect(file(plan, ENV_FILE)).toMatchObject({ mode: 0o600, owner: "drasyl-sp" });
    expect(file(plan, UNIT_FILE)).toMatchObject({ mode: 0o644, owner: "root" });
    expect(file(plan, `${rel}/drasyl-sp.mjs`)).toMatchObject({
      mode: 0o644,
      owner: "root",
      source: "/build/dist/drasyl-sp.mjs",
      sha256: "a".repeat(64),
    });
    expect(file(plan, `${runtime}/bin/node`)).toMatchObject({
      mode: 0o755,
      owner: "root",
      source: "/cache/node/24.21.0-linux-x64/bin/node",
    });
    expect(dir(plan, "/opt/drasyl-sp")).toMatchObject({ mode: 0o755, owner: "root" });
    expect(plan.actions).toContainEqual({ kind: "symlink", path: `${rel}/node`, target: `${runtime}/bin/node` });
    expect(plan.actions).toContainEqual({ kind: "symlink", path: CURRENT_LINK, target: rel });
  });

  it("renders the unit and env file from the settings", () => {
    const unit = String(file(plan, UNIT_FILE)?.content);
    expect(unit).toContain('Environment="DRASYL_UDP4_LISTEN=0.0.0.0:22527"');
    expect(unit).toContain('Environment="DRASYL_TCP6_LISTEN=[::]:443"');
    expect(unit).toContain("ExecStart=/opt/drasyl-sp/current/node /opt/drasyl-sp/current/drasyl-sp.mjs");
    expect(String(file(plan, ENV_FILE)?.content)).toContain("DRASYL_PROMETHEUS_LISTEN=127.0.0.1:9898");
  });
});

describe("planInstall is idempotent", () => {
  it("plans nothing for a server already in the desired state", () => {
    const facts = installed();
    const again = planInstall(facts, desired());
    expect(again.actions).toEqual([]);
    expect(again.restarts).toBe(false);
    expect(formatPlan(again)).toMatch(/nothing to do/);
  });

  it("only restarts a service that is down", () => {
    const facts = { ...installed(), active: "failed" };
    expect(kinds(planInstall(facts, desired()))).toEqual(["restart"]);
  });

  it("re-enables a disabled service", () => {
    const facts = { ...installed(), enabled: "disabled" };
    expect(kinds(planInstall(facts, desired()))).toEqual(["enable-start"]);
  });

  it("fixes drifted permissions without an upload or restart", () => {
    const facts = installed();
    Object.assign(facts.paths[IDENTITY_FILE] as object, { mode: 0o644 });
    Object.assign(facts.paths[ENV_FILE] as object, { owner: "root", group: "root" });
    expect(kinds(planInstall(facts, desired()))).toEqual([
      `command chmod 0600 -- ${IDENTITY_FILE}`,
      `command chown drasyl-sp:drasyl-sp -- ${ENV_FILE}`,
    ]);
  });
});

describe("planInstall for a new release", () => {
  it("adds the release next to the running one, switches current and restarts; the runtime is not uploaded again", () => {
    const facts = installed();
    const plan = planInstall(facts, desired({ release: release("b") }));
    const rel = "/opt/drasyl-sp/releases/bbbbbbbbbbbb-node24.21.0";
    expect(kinds(plan)).toEqual([
      `dir ${rel}`,
      `file ${rel}/drasyl-sp.mjs`,
      `symlink ${rel}/node`,
      `symlink ${CURRENT_LINK}`,
      "restart",
    ]);
    expect(plan.previousRelease).toBe("aaaaaaaaaaaa-node24.21.0");
    expect(plan.fresh).toBe(false);
  });

  it("keeps the previous release for a rollback and prunes older ones and their runtimes", () => {
    let facts = installed();
    let t = 2000;
    for (const r of [release("b"), release("c", "x64", "24.20.0"), release("d")]) {
      facts = applyPlan(facts, planInstall(facts, desired({ release: r })), t++);
    }
    expect(facts.releases.map((r) => r.id)).toEqual([
      "dddddddddddd-node24.21.0",
      "cccccccccccc-node24.20.0",
      "bbbbbbbbbbbb-node24.21.0",
    ]);
    const plan = planInstall(facts, desired({ release: release("e") }));
    expect(plan.previousRelease).toBe("dddddddddddd-node24.21.0");
    // Node 24.20.0 stays: release c still uses it.
    expect(kinds(plan).filter((k) => k.startsWith("command"))).toEqual([
      "command rm -rf -- /opt/drasyl-sp/releases/bbbbbbbbbbbb-node24.21.0",
    ]);
    facts = applyPlan(facts, plan, t);
    expect(facts.releases.map((r) => r.id)).toEqual([
      "eeeeeeeeeeee-node24.21.0",
      "dddddddddddd-node24.21.0",
      "cccccccccccc-node24.20.0",
    ]);
    // One more: c goes, and with it the only release that used Node 24.20.0.
    const next = planInstall(facts, desired({ release: release("f") }));
    expect(kinds(next).filter((k) => k.startsWith("command"))).toEqual([
      "command rm -rf -- /opt/drasyl-sp/releases/cccccccccccc-node24.20.0",
      "command rm -rf -- /opt/drasyl-sp/runtimes/node-24.20.0-x64",
    ]);
    expect(next.actions.at(-3)).toEqual({ kind: "restart" });
  });

  it("returns to an older release that is still on the server without uploading anything", () => {
    let facts = installed();
    facts = applyPlan(facts, planInstall(facts, desired({ release: release("b") })), 2000);
    expect(kinds(planInstall(facts, desired()))).toEqual([`symlink ${CURRENT_LINK}`, "restart"]);
  });
});

describe("planInstall for changed settings", () => {
  it("rewrites the unit for new ports, then daemon-reload and restart, nothing else", () => {
    const plan = planInstall(installed(), desired({}, { udpPort: 22528, tcpPort: 8443 }));
    expect(kinds(plan)).toEqual([`file ${UNIT_FILE}`, "daemon-reload", "restart"]);
    expect(String(file(plan, UNIT_FILE)?.content)).toContain('Environment="DRASYL_UDP6_LISTEN=[::]:22528"');
  });

  it("rewrites the env file for a new network id", () => {
    const plan = planInstall(installed(), desired({}, { networkId: 42, maxPeers: 100 }));
    expect(kinds(plan)).toEqual([`file ${ENV_FILE}`, "daemon-reload", "restart"]);
    expect(String(file(plan, ENV_FILE)?.content)).toMatch(/^DRASYL_NETWORK_ID=42$/m);
  });

  it("refuses settings the daemon would refuse, before planning anything", () => {
    expect(() => planInstall(fresh(), desired({}, { prometheusListen: "localhost:9898" }))).toThrow(
      /prometheusListen="localhost:9898" is not a valid address:port/,
    );
    expect(() => resolveSettings({ udpPort: 0 })).toThrow(/udpPort must be a port/);
    expect(() => resolveSettings({ prometheusToken: "a b\n" })).toThrow(/prometheusToken may only contain/);
  });
});

describe("planInstall and identities", () => {
  const holdingForeign = (): Facts => {
    const facts = installed(desired({ identity: foreign }));
    expect(facts.identity).toEqual({ present: true, publicKey: foreign.publicKeyHex });
    return facts;
  };

  it("refuses to overwrite a different identity, naming both keys and both ways on", () => {
    let err: unknown;
    try {
      planInstall(holdingForeign(), desired(), { server: "fra-1" });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(IdentityConflictError);
    const msg = (err as Error).message;
    expect(msg).toContain(foreign.publicKeyHex);
    expect(msg).toContain(ours.publicKeyHex);
    expect(msg).toContain("--adopt-identity fra-1");
    expect(msg).toContain("--replace-identity fra-1");
    expect(msg).not.toContain(bytesToHex(foreign.secretKey).slice(0, 64));
  });

  it("refuses an unreadable identity file too, offering only replace", () => {
    const facts = { ...installed(), identity: { present: true as const } };
    expect(() => planInstall(facts, desired(), { server: "fra-1" })).toThrow(
      /cannot read[\s\S]*--replace-identity fra-1/,
    );
    expect(() => planInstall(facts, desired({ identityPolicy: "adopt" }), { server: "fra-1" })).toThrow(
      IdentityConflictError,
    );
  });

  it("with replace: backs the old identity up (0600) before writing ours, then restarts", () => {
    const now = new Date("2025-11-26T03:04:05.678Z");
    const plan = planInstall(holdingForeign(), desired({ identityPolicy: "replace" }), { now });
    expect(kinds(plan)).toEqual([
      `command install -m 0600 -o root -g root -- ${IDENTITY_FILE} ${IDENTITY_FILE}.replaced-20251126T030405Z`,
      `file ${IDENTITY_FILE}`,
      "restart",
    ]);
    expect(plan.publicKey).toBe(ours.publicKeyHex);
  });

  it("with adopt: keeps the server's identity and expects its key", () => {
    const plan = planInstall(holdingForeign(), desired({ identityPolicy: "adopt" }));
    expect(plan.actions).toEqual([]);
    expect(plan.publicKey).toBe(foreign.publicKeyHex);
  });

  it("policies change nothing when the server holds our identity", () => {
    expect(planInstall(installed(), desired({ identityPolicy: "replace" })).actions).toEqual([]);
  });
});

describe("architectures", () => {
  it("installs the arm64 runtime on an aarch64 server", () => {
    const plan = planInstall(fresh("aarch64"), desired({ release: release("a", "arm64") }));
    expect(file(plan, "/opt/drasyl-sp/runtimes/node-24.21.0-arm64/bin/node")).toMatchObject({
      source: "/cache/node/24.21.0-linux-arm64/bin/node",
    });
    expect(plan.actions).toContainEqual({
      kind: "symlink",
      path: "/opt/drasyl-sp/releases/aaaaaaaaaaaa-node24.21.0/node",
      target: "/opt/drasyl-sp/runtimes/node-24.21.0-arm64/bin/node",
    });
  });

  it("refuses a release for the wrong architecture, and architectures without a runtime", () => {
    expect(() => planInstall(fresh("aarch64"), desired())).toThrow(PlanError);
    expect(() => fresh("armv7l")).toThrow(FactsError);
    expect(() => fresh("armv7l")).toThrow(/unsupported CPU architecture "armv7l".*x86_64 and aarch64/);
  });

  it("refuses a server without systemd", () => {
    const facts = { ...fresh(), systemd: false };
    expect(() => planInstall(facts, desired(), { server: "old-1" })).toThrow(/old-1 does not run systemd/);
  });
});

describe("plans show no secrets", () => {
  it("formatPlan, describeAction, JSON and inspect hide the identity and the metrics token", () => {
    const plan = planInstall(fresh(), desired({}, { prometheusToken: TOKEN }), { server: "fra-1" });
    const secretHex = bytesToHex(ours.secretKey);
    const printed = [
      formatPlan(plan),
      JSON.stringify(plan),
      inspect(plan, { depth: 10 }),
      ...plan.actions.map(describeAction),
    ].join("\n");
    expect(printed).not.toContain(secretHex);
    expect(printed).not.toContain(secretHex.slice(0, 64));
    expect(printed).not.toContain(TOKEN);
    expect(formatPlan(plan)).toMatch(new RegExp(`${IDENTITY_FILE} 0600 drasyl-sp: .*<secret, sha256 [0-9a-f]{12}…>`));
    expect(formatPlan(plan)).toMatch(new RegExp(`${ENV_FILE} 0600 drasyl-sp: .*<secret, sha256`));
    expect((file(plan, ENV_FILE)?.content as Secret).reveal()).toContain(`DRASYL_PROMETHEUS_TOKEN=${TOKEN}`);
  });
});

describe("the facts script", () => {
  it("runs on a machine without drasyl-sp and reports just that", () => {
    const out = execFileSync("sh", ["-c", FACTS_SCRIPT], { encoding: "utf8" });
    const facts = parseFacts(out);
    expect(facts.arch).toBe(process.arch === "arm64" ? "arm64" : "x64");
    expect(facts.releases).toEqual([]);
    expect(facts.identity).toEqual({ present: false });
  });

  it("a cut-off output is an error, not an empty server", () => {
    expect(() => parseFacts("machine\tx86_64\nsystemd\tyes\n")).toThrow(/cut off/);
  });
});

describe("host key pins (no SSH needed)", () => {
  const dir = mkdtempSync(join(tmpdir(), "drasyl-pins-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const keygen = (name: string): string => {
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, name)]);
    return readFileSync(join(dir, `${name}.pub`), "utf8");
  };
  const keyA = keygen("a");
  const keyB = keygen("b");
  const server: Server = { name: "fra-1", region: "r", ssh: { host: "192.0.2.7", port: 2222, user: "root" } };
  const stateDir = join(dir, "state");

  it("fingerprints like ssh-keygen -l", () => {
    const expected = execFileSync("ssh-keygen", ["-l", "-f", join(dir, "a.pub")], { encoding: "utf8" }).split(" ")[1];
    expect(fingerprint(parseOpenSshKey(keyA))).toBe(expected);
  });

  it("pins on first contact into a private file, accepts the same key, refuses another one with a way out", () => {
    expect(verifyHostKey(join(stateDir, "known_hosts.json"), server, parseOpenSshKey(keyA))).toEqual({
      pinnedNow: true,
    });
    expect(statSync(stateDir).mode & 0o777).toBe(0o700);
    expect(statSync(join(stateDir, "known_hosts.json")).mode & 0o777).toBe(0o600);
    expect(readPins(join(stateDir, "known_hosts.json"))["192.0.2.7:2222"]).toMatchObject({
      server: "fra-1",
      fingerprint: fingerprint(parseOpenSshKey(keyA)),
    });
    expect(verifyHostKey(join(stateDir, "known_hosts.json"), server, parseOpenSshKey(keyA))).toEqual({
      pinnedNow: false,
    });
    expect(() => verifyHostKey(join(stateDir, "known_hosts.json"), server, parseOpenSshKey(keyB))).toThrow(
      HostKeyError,
    );
    const msg = (() => {
      try {
        verifyHostKey(join(stateDir, "known_hosts.json"), server, parseOpenSshKey(keyB));
        return "";
      } catch (e) {
        return (e as Error).message;
      }
    })();
    expect(msg).toContain('server "fra-1" (192.0.2.7:2222) has CHANGED');
    expect(msg).toContain(fingerprint(parseOpenSshKey(keyA)));
    expect(msg).toContain(fingerprint(parseOpenSshKey(keyB)));
    expect(msg).toContain("drasyl-deploy forget-host fra-1");
    expect(forgetHostKey(join(stateDir, "known_hosts.json"), "192.0.2.7", 2222)).toBe(true);
    expect(forgetHostKey(join(stateDir, "known_hosts.json"), "192.0.2.7", 2222)).toBe(false);
    expect(verifyHostKey(join(stateDir, "known_hosts.json"), server, parseOpenSshKey(keyB))).toEqual({
      pinnedNow: true,
    });
  });

  it("checks first contact against the key the provider reported", () => {
    const s: Server = { ...server, ssh: { ...server.ssh, host: "2001:db8::1" }, hostKey: keyA };
    expect(expectedKeyType(join(stateDir, "known_hosts.json"), s)).toBe("ssh-ed25519");
    expect(() => verifyHostKey(join(stateDir, "known_hosts.json"), s, parseOpenSshKey(keyB))).toThrow(
      /offered SSH host key SHA256:.*but its provider reported SHA256:/,
    );
    expect(readPins(join(stateDir, "known_hosts.json"))["[2001:db8::1]:2222"]).toBeUndefined();
    verifyHostKey(join(stateDir, "known_hosts.json"), s, parseOpenSshKey(keyA));
    expect(readPins(join(stateDir, "known_hosts.json"))["[2001:db8::1]:2222"]?.key).toBe(
      keyA.split(" ").slice(0, 2).join(" "),
    );
  });
});
