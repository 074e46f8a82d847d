import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import type { EngineEvent, PulumiCommand } from "@pulumi/pulumi/automation/index.js";
import { afterAll, describe, expect, it } from "vitest";
import { packageRoot } from "../stacks/package-files.ts";
import { parseConfig } from "../cli/config/load.ts";
import type { HcloudTargetConfig } from "../stacks/hcloud/config.ts";
import { HCLOUD_PROFILE } from "../stacks/hcloud/profile.ts";
import { AWS_PROFILE } from "../stacks/aws/profile.ts";
import { StateDir } from "../stacks/state/state-dir.ts";
import { parseOpenSshKey, readPins, verifyHostKey } from "../stacks/install/host-keys.ts";
import { HcloudProvider } from "../stacks/hcloud/hcloud-provider.ts";
import type { CloudProviderOptions } from "../stacks/pulumi/cloud-provider.ts";
import { CloudError, DebugLog, explainEngineError, redactor } from "../stacks/pulumi/errors.ts";
import {
  Cancellation,
  engineProcesses,
  type Interrupt,
  type InterruptSource,
  killEngineProcesses,
} from "../stacks/pulumi/interrupt.ts";
import { parseLockError, staleLockVerdict } from "../stacks/pulumi/locks.ts";
import { ipv6Prefix64, sshSources } from "../stacks/pulumi/operator-address.ts";
import { engineEnv, findPulumiCli, missingCredentials, passphraseEnv } from "../stacks/pulumi/preflight.ts";
import { EngineProgress, ownerByRegionPrefix, previewLines } from "../stacks/pulumi/progress.ts";
import {
  type Engine,
  type EngineSetup,
  type OperationContext,
  readFileBackendOutputs,
  runOperation,
  stackLocation,
} from "../stacks/pulumi/stack.ts";
import type { Server } from "../stacks/provider.ts";

/*
 * The Automation API glue, tested against recorded-style engine output (test/fixtures/pulumi/,
 * hand-written from the engine's event schema and the CLI's error texts). Where an engine is
 * needed, a fake one replays those fixtures: these tests check what drasyl-deploy does with the
 * engine's output, not that a cloud deployment works (`npm run test:cloud` does that).
 */

const fixture = <T>(name: string): T =>
  JSON.parse(readFileSync(join(packageRoot(), "test", "fixtures", "pulumi", name), "utf8")) as T;
const tmp = mkdtempSync(join(tmpdir(), "drasyl-pulumi-glue-"));
let n = 0;
const freshStateDir = (): string => {
  const d = join(tmp, `state-${n++}`);
  mkdirSync(d, { recursive: true });
  return d;
};
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const TOKEN = "hc-token-0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghij";
const PASSPHRASE = "correct horse battery staple";
const fakeCli = async (): Promise<PulumiCommand> => ({ command: "pulumi", version: null }) as unknown as PulumiCommand;

/** A source of Ctrl-Cs the test fires by hand. */
class FakeInterrupts implements InterruptSource {
  private listener?: (i: Interrupt) => void;
  subscribe(listener: (i: Interrupt) => void): () => void {
    this.listener = listener;
    return () => (this.listener = undefined);
  }
  fire(fromTerminal = false): void {
    this.listener?.({ fromTerminal });
  }
}

/** An engine that replays fixture events; every operation is a test-supplied function. */
function fakeEngine(parts: Partial<Engine>): Engine {
  const nope = async (): Promise<never> => {
    throw new Error("not expected in this test");
  };
  return {
    preview: nope,
    up: nope,
    destroy: nope,
    cancel: nope,
    outputs: nope,
    pendingOperations: async () => [],
    clearPendingCreates: nope,
    ...parts,
  };
}

const hcloudTarget = (locations: string[]): HcloudTargetConfig =>
  parseConfig(`deployment: t\ntargets:\n  - kind: hcloud\n    locations: [${locations.join(", ")}]\n`, "t.yaml")
    .targets[0] as HcloudTargetConfig;

function provider(
  stateDir: string,
  extra: Partial<CloudProviderOptions<HcloudTargetConfig>> & { locations?: string[] } = {},
): HcloudProvider {
  const { locations = ["fsn1", "ash"], ...rest } = extra;
  return new HcloudProvider({
    state: new StateDir(stateDir).forDeployment("t"),
    ports: { udp: 22527, tcp: 443 },
    target: hcloudTarget(locations),
    env: { HCLOUD_TOKEN: TOKEN, PULUMI_CONFIG_PASSPHRASE: PASSPHRASE, UNRELATED_SECRET: "do-not-pass" },
    findCli: fakeCli,
    detectAddresses: async () => ({ ipv4: "203.0.113.7", ipv6: "2001:db8:77:1::5" }),
    interrupts: new FakeInterrupts(),
    ...rest,
  });
}

describe("preflight", () => {
  it("a missing Pulumi CLI says how to install it and offers the download only as an option", async () => {
    const missing = async (): Promise<never> => {
      throw new Error("spawn pulumi ENOENT");
    };
    const e = await findPulumiCli({ env: { HOME: tmp }, lookup: missing }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(CloudError);
    expect((e as CloudError).kind).toBe("cli-missing");
    expect((e as Error).message).toMatch(
      /the Pulumi CLI is not installed .*`curl -fsSL https:\/\/get\.pulumi\.com \| sh`.*run drasyl-deploy install-pulumi/,
    );
  });

  it("a too old CLI names its version and the minimum", async () => {
    const old = async (root: string | undefined): Promise<never> => {
      throw new Error(
        root === undefined
          ? "Minimum version requirement failed. The minimum CLI version requirement is 3.200.0, your current CLI version is 3.100.0. Please update the Pulumi CLI."
          : "spawn ENOENT",
      );
    };
    const e = (await findPulumiCli({ env: { HOME: tmp }, lookup: old }).catch((x: unknown) => x)) as CloudError;
    expect(e.kind).toBe("cli-too-old");
    expect(e.message).toMatch(/found 3\.100\.0 on PATH, drasyl-deploy needs 3\.200\.0 or newer/);
  });

  it("finds a CLI installed by the install script in ~/.pulumi when PATH has none", async () => {
    const roots: (string | undefined)[] = [];
    const found = await findPulumiCli({
      env: { HOME: "/home/op" },
      lookup: async (root) => {
        roots.push(root);
        if (root === "/home/op/.pulumi") return (await fakeCli()) as PulumiCommand;
        throw new Error("spawn ENOENT");
      },
    });
    expect(found.command).toBe("pulumi");
    expect(roots).toEqual([undefined, "/home/op/.pulumi"]);
  });

  it.skipIf(spawnSync("sh", ["-c", "command -v pulumi"]).status === 0)(
    "this machine has no pulumi CLI: the real lookup reports it",
    async () => {
      const e = (await findPulumiCli({ env: { HOME: tmp } }).catch((x: unknown) => x)) as CloudError;
      expect(e.kind).toBe("cli-missing");
    },
  );

  it("credentials come from the standard environment only", () => {
    expect(missingCredentials(HCLOUD_PROFILE, {})).toMatch(/set HCLOUD_TOKEN/);
    expect(missingCredentials(HCLOUD_PROFILE, { HCLOUD_TOKEN: TOKEN })).toBeUndefined();
    const none = (): boolean => false;
    expect(missingCredentials(AWS_PROFILE, { HOME: "/nowhere" }, none)).toMatch(
      /AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY .* AWS_PROFILE/,
    );
    expect(
      missingCredentials(AWS_PROFILE, { AWS_ACCESS_KEY_ID: "AKIA", AWS_SECRET_ACCESS_KEY: "s" }, none),
    ).toBeUndefined();
    expect(missingCredentials(AWS_PROFILE, { AWS_PROFILE: "ops" }, none)).toBeUndefined();
    expect(missingCredentials(AWS_PROFILE, { HOME: "/home/op" }, (p) => p === "/home/op/.aws/config")).toBeUndefined();
  });

  it("the passphrase: env (even empty), file, prompt, else a clear error", async () => {
    expect(await passphraseEnv({ PULUMI_CONFIG_PASSPHRASE: "x" })).toEqual({ PULUMI_CONFIG_PASSPHRASE: "x" });
    expect(await passphraseEnv({ PULUMI_CONFIG_PASSPHRASE: "" })).toEqual({ PULUMI_CONFIG_PASSPHRASE: "" });
    expect(await passphraseEnv({ PULUMI_CONFIG_PASSPHRASE_FILE: "/p" })).toEqual({
      PULUMI_CONFIG_PASSPHRASE_FILE: "/p",
    });
    expect(await passphraseEnv({}, async () => "typed")).toEqual({ PULUMI_CONFIG_PASSPHRASE: "typed" });
    const e = (await passphraseEnv({}, async () => undefined).catch((x: unknown) => x)) as CloudError;
    expect(e.kind).toBe("passphrase-missing");
    expect(e.message).toMatch(/set PULUMI_CONFIG_PASSPHRASE \(or PULUMI_CONFIG_PASSPHRASE_FILE\)/);
  });

  it("the engine gets the cloud's credentials and Pulumi's settings, nothing else of the caller's environment", () => {
    const env = {
      HCLOUD_TOKEN: TOKEN,
      AWS_SECRET_ACCESS_KEY: "aws",
      GITHUB_TOKEN: "gh",
      PULUMI_HOME: "/ph",
      PATH: "/bin",
    };
    expect(engineEnv(HCLOUD_PROFILE, env, { PULUMI_CONFIG_PASSPHRASE: PASSPHRASE })).toEqual({
      HCLOUD_TOKEN: TOKEN,
      PULUMI_HOME: "/ph",
      PULUMI_CONFIG_PASSPHRASE: PASSPHRASE,
      PULUMI_SKIP_UPDATE_CHECK: "true",
      PULUMI_SKIP_CONFIRMATIONS: "true",
    });
    expect(Object.keys(engineEnv(AWS_PROFILE, env, {})).sort()).toEqual([
      "AWS_SECRET_ACCESS_KEY",
      "PULUMI_HOME",
      "PULUMI_SKIP_CONFIRMATIONS",
      "PULUMI_SKIP_UPDATE_CHECK",
    ]);
  });

  it("everything missing is reported at once, before any engine runs; a dry run still says what would be created", async () => {
    const stateDir = freshStateDir();
    let opened = false;
    const p = provider(stateDir, {
      env: {},
      findCli: async () => {
        throw new CloudError("cli-missing", "the Pulumi CLI is not installed");
      },
      engineFactory: async () => {
        opened = true;
        return fakeEngine({});
      },
    });
    const e = (await p.apply().catch((x: unknown) => x)) as CloudError;
    expect(e).toBeInstanceOf(CloudError);
    expect(e.message.split("\n")).toEqual([
      "cannot run the hcloud stack:",
      "- the Pulumi CLI is not installed",
      expect.stringMatching(/^- no Hetzner Cloud credentials: set HCLOUD_TOKEN/),
      expect.stringMatching(/^- the Pulumi state of cloud deployments is encrypted with a passphrase/),
    ]);
    expect(opened).toBe(false);
    expect(await p.preview()).toEqual([
      "t-fsn1: hcloud server cx23 (x64), debian-12, in fsn1 (created if missing)",
      "t-ash: hcloud server cpx22 (x64), debian-12, in ash (created if missing)",
      expect.stringMatching(/^hcloud: no Pulumi preview: cannot run the hcloud stack:/),
    ]);
  });

  it("SSH sources: the configured CIDRs, else the operator's address (/32 and its IPv6 /64)", async () => {
    expect(await sshSources(["192.0.2.0/24"], async () => ({ ipv4: "203.0.113.7" }))).toEqual(["192.0.2.0/24"]);
    expect(await sshSources(undefined, async () => ({ ipv4: "203.0.113.7", ipv6: "2001:db8:77:1:a:b:c:d" }))).toEqual([
      "203.0.113.7/32",
      "2001:db8:77:1::/64",
    ]);
    expect(ipv6Prefix64("2001:db8::1")).toBe("2001:db8:0:0::/64");
    await expect(sshSources(undefined, async () => ({}))).rejects.toThrow(/allowSsh: \[203\.0\.113\.7\/32\]/);
  });
});

describe("engine error mapping", () => {
  const cases = fixture<{ name: string; cloud: "hcloud" | "aws"; kind: string; text: string }[]>("errors.json");
  it.each(cases.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    const r = explainEngineError(c.text, c.cloud === "aws" ? AWS_PROFILE : HCLOUD_PROFILE, "drasyl-deploy-hcloud/t");
    expect(r.kind).toBe(c.kind);
    expect(r.message.length).toBeLessThan(500);
    expect(r.message).not.toMatch(/^code: /);
  });

  it("the messages say what to do", () => {
    const by = (name: string) => {
      const c = cases.find((x) => x.name === name);
      if (!c) throw new Error(name);
      return explainEngineError(c.text, c.cloud === "aws" ? AWS_PROFILE : HCLOUD_PROFILE, "drasyl-deploy-hcloud/t")
        .message;
    };
    expect(by("hcloud bad token")).toMatch(/Hetzner Cloud rejected the API token: set HCLOUD_TOKEN/);
    expect(by("aws bad keys")).toMatch(
      /AWS rejected the credentials \(.*InvalidClientTokenId.*\): check AWS_ACCESS_KEY_ID/,
    );
    expect(by("plugin download")).toMatch(
      /could not get the Hetzner Cloud provider plugin .*`pulumi plugin install resource hcloud/,
    );
    expect(by("aws vcpu quota")).toMatch(
      /AWS refused for a limit or capacity reason: .*VcpuLimitExceeded.* raise the limit/,
    );
    expect(by("hcloud server limit")).toMatch(/server limit exceeded \(resource_limit_exceeded/);
    expect(by("passphrase wrong")).toMatch(
      /not the passphrase the Pulumi stack .* was created with\. Nothing was changed and the state was not re-initialized/,
    );
    expect(by("something else")).toBe(
      "the Pulumi engine failed: image debian-99 not found; hcloud:index/server:Server resource 'fsn1-server' has a problem: image debian-99 not found",
    );
  });

  it("the debug log keeps the full text without secrets, 0600", () => {
    const stateDir = freshStateDir();
    const log = new DebugLog(
      join(stateDir, "pulumi-hcloud.log"),
      redactor(
        { HCLOUD_TOKEN: TOKEN, AWS_SECRET_ACCESS_KEY: "wJalrXUtnFEMI/K7MDENG" },
        { PULUMI_CONFIG_PASSPHRASE: PASSPHRASE },
      ),
    );
    log.section("up");
    log.write(
      `provider config token=${TOKEN} secret=wJalrXUtnFEMI/K7MDENG passphrase "${PASSPHRASE}"\nerror: full detail line\n`,
    );
    const text = readFileSync(log.path, "utf8");
    expect(text).toContain("error: full detail line");
    expect(text).toContain(
      'token=[HCLOUD_TOKEN redacted] secret=[AWS_SECRET_ACCESS_KEY redacted] passphrase "[PULUMI_CONFIG_PASSPHRASE redacted]"',
    );
    expect(text).not.toContain(TOKEN);
    expect(statSync(log.path).mode & 0o777).toBe(0o600);
  });
});

function context(
  stateDir: string,
  engine: Engine,
  extra: Partial<OperationContext> = {},
): OperationContext & { notes: string[]; events: EngineEvent[] } {
  const notes: string[] = [];
  const events: EngineEvent[] = [];
  const location = stackLocation(HCLOUD_PROFILE, new StateDir(stateDir).forDeployment("t"));
  return {
    location,
    log: new DebugLog(join(stateDir, "debug.log"), redactor({ HCLOUD_TOKEN: TOKEN })),
    openEngine: async () => engine,
    onEvent: (e) => events.push(e),
    note: (m) => notes.push(m),
    interrupts: new FakeInterrupts(),
    kill: () => [],
    notes,
    events,
    ...extra,
  };
}

describe("locks", () => {
  const lockText = (pid: number, host = hostname()): string =>
    (fixture<{ name: string; text: string }[]>("errors.json").find((c) => c.name === "diy lock held")?.text ?? "")
      .replace("PID", String(pid))
      .replace("HOSTNAME", host);
  const deadPid = (): number => {
    const r = spawnSync("true");
    return r.pid ?? 999_999;
  };

  it("reads who holds the lock from the engine's message", () => {
    const lock = {
      url: "file:///state/pulumi/.pulumi/locks/organization/drasyl-deploy-hcloud/t/8f3c1a2e-5b7d-4e1f-9a0c-2d6b8e4f1a37.json",
      user: "root",
      host: "builder",
      pid: 4242,
      createdAt: "2026-01-01T10:00:00Z",
    };
    expect(parseLockError(lockText(4242, "builder"))).toEqual([lock]);
    // The Automation API's error repeats the CLI's stderr; one lock is still one lock.
    expect(parseLockError(`${lockText(4242, "builder")}\n err?: Error: ${lockText(4242, "builder")}`)).toEqual([lock]);
  });

  it("stale only when the locking process is gone from this machine and no other drasyl-deploy run holds the deployment", () => {
    const stateDir = freshStateDir();
    const check = { state: new StateDir(stateDir).forDeployment("t") };
    expect(staleLockVerdict(parseLockError(lockText(deadPid())), check)).toMatchObject({ stale: true });
    expect(staleLockVerdict(parseLockError(lockText(process.pid)), check)).toMatchObject({
      stale: false,
      reason: expect.stringMatching(/still holds the lock/),
    });
    expect(staleLockVerdict(parseLockError(lockText(deadPid(), "other-machine")), check)).toMatchObject({
      stale: false,
      reason: expect.stringMatching(/another machine/),
    });
    expect(staleLockVerdict([], check)).toMatchObject({ stale: false });
    // The deployment's own lock (stacks/state/lock.ts): held by another live run, or by us.
    mkdirSync(join(stateDir, "deployments", "t"), { recursive: true });
    writeFileSync(join(stateDir, "deployments", "t", "lock"), String(process.ppid));
    expect(staleLockVerdict(parseLockError(lockText(deadPid())), check)).toMatchObject({
      stale: false,
      reason: expect.stringMatching(/another drasyl-deploy run \(pid \d+\)/),
    });
    writeFileSync(join(stateDir, "deployments", "t", "lock"), String(process.pid));
    expect(staleLockVerdict(parseLockError(lockText(deadPid())), check)).toMatchObject({ stale: true });
  });

  it("a stale lock is cleared once through `pulumi cancel` and the operation runs again", async () => {
    const stateDir = freshStateDir();
    let ups = 0;
    let cancels = 0;
    const engine = fakeEngine({
      up: async () => {
        if (ups++ === 0) throw new Error(lockText(deadPid()));
        return { outputs: {} };
      },
      cancel: async () => {
        cancels++;
      },
    });
    const ctx = context(stateDir, engine);
    await runOperation(ctx, "up", (e, o) => e.up(o));
    expect([ups, cancels]).toEqual([2, 1]);
    expect(ctx.notes).toEqual([
      expect.stringMatching(/^clearing a stale Pulumi lock: the lock was left by a run that is gone/),
    ]);
  });

  it("a live lock is left alone and reported", async () => {
    const stateDir = freshStateDir();
    let cancels = 0;
    const engine = fakeEngine({
      up: async () => {
        throw new Error(lockText(process.pid));
      },
      cancel: async () => {
        cancels++;
      },
    });
    const e = (await runOperation(context(stateDir, engine), "up", (x, o) => x.up(o)).catch(
      (x: unknown) => x,
    )) as CloudError;
    expect(e.kind).toBe("lock-held");
    expect(e.message).toMatch(/locked by another update: .* still holds the lock/);
    expect(e.message).toContain(`(full engine output: ${join(stateDir, "debug.log")})`);
    expect(cancels).toBe(0);
  });
});

describe("what a killed engine leaves, and secrets in its output", () => {
  it("an engine killed by someone else (SIGKILL, e.g. the OOM killer) is reported as killed, with what to do", async () => {
    const engine = fakeEngine({
      up: async () => {
        throw new Error(
          "code: -2\n stdout: \n stderr: Command was killed with SIGKILL (Forced termination): pulumi up --yes\n",
        );
      },
    });
    const e = (await runOperation(context(freshStateDir(), engine), "up", (x, o) => x.up(o)).catch(
      (x: unknown) => x,
    )) as CloudError;
    expect(e.kind).toBe("killed");
    expect(e.message).toMatch(
      /^up failed: the Pulumi engine was killed \(SIGKILL\) by something other than drasyl-deploy\. .* may be left pending .*Run `drasyl-deploy up` again/,
    );
  });

  it("pending operations are named once and pending creates dropped from the state before up and destroy, not before a preview", async () => {
    const calls: string[] = [];
    const engine = fakeEngine({
      pendingOperations: async () =>
        calls.includes("clear")
          ? []
          : [{ type: "creating", urn: "urn:pulumi:t::drasyl-deploy-hcloud::hcloud:index/server:Server::ash-server" }],
      clearPendingCreates: async () => {
        calls.push("clear");
      },
      up: async () => {
        calls.push("up");
        return { outputs: {} };
      },
      preview: async () => {
        calls.push("preview");
        return { changeSummary: {} };
      },
    });
    const ctx = context(freshStateDir(), engine);
    await runOperation(ctx, "preview", (x, o) => x.preview(o));
    await runOperation(ctx, "up", (x, o) => x.up(o));
    expect(calls).toEqual(["preview", "clear", "up"]);
    expect(ctx.notes).toEqual([
      "an earlier run was killed while creating server ash-server: it may exist in the cloud without being in the Pulumi state; look for it in the Hetzner Cloud console (labels managed-by=drasyl-deploy, deployment=t) and delete it if so (with a fixed name, it makes this run fail until then)",
    ]);
  });

  it("a credential in the engine's diagnostics or error is redacted before it is shown", async () => {
    const leak = `POST /v1/servers (Authorization: Bearer ${TOKEN}): 401 unauthorized`;
    const engine = fakeEngine({
      up: async (o) => {
        o.onEvent({
          sequence: 1,
          timestamp: 1,
          diagnosticEvent: { urn: "", prefix: "error: ", message: leak, color: "raw", severity: "error" },
        });
        throw new Error(`code: 1\n stderr: error: ${leak}\n`);
      },
    });
    const ctx = context(freshStateDir(), engine);
    const e = (await runOperation(ctx, "up", (x, o) => x.up(o)).catch((x: unknown) => x)) as CloudError;
    expect(ctx.events[0]?.diagnosticEvent?.message).toBe(
      "POST /v1/servers (Authorization: Bearer [HCLOUD_TOKEN redacted]): 401 unauthorized",
    );
    expect(e.message).not.toContain(TOKEN);
  });
});

describe("progress", () => {
  const owner = ownerByRegionPrefix([
    { name: "t-fsn1", region: "fsn1" },
    { name: "t-ash", region: "ash" },
  ]);

  it("engine events become per-region progress lines", () => {
    const lines: string[] = [];
    const p = new EngineProgress({ owner, shared: "hcloud", onProgress: (s, m) => lines.push(`[${s}] ${m}`) });
    for (const e of fixture<EngineEvent[]>("up-hcloud.events.json")) p.handle(e);
    expect(lines).toEqual([
      "[hcloud] creating Hetzner provider default_1_41_0",
      "[hcloud] created Hetzner provider default_1_41_0 (0 s)",
      "[hcloud] creating SSH key ssh-key",
      "[hcloud] creating firewall firewall",
      "[t-fsn1] creating primary IP fsn1-ipv4",
      "[t-ash] creating primary IP ash-ipv4",
      "[hcloud] created SSH key ssh-key (1 s)",
      "[hcloud] created firewall firewall (1 s)",
      "[t-fsn1] created primary IP fsn1-ipv4 (2 s)",
      "[t-ash] created primary IP ash-ipv4 (3 s)",
      "[t-fsn1] creating server fsn1-server",
      "[t-ash] creating server ash-server",
      "[t-ash] warning: server type cpx22 will be deprecated soon",
      "[t-fsn1] created server fsn1-server (12 s)",
      "[t-ash] created server ash-server (18 s)",
      "[hcloud] engine done in 23 s: 8 created",
    ]);
    expect([...p.newServers]).toEqual([
      "urn:pulumi:t::drasyl-deploy-hcloud::hcloud:index/server:Server::fsn1-server",
      "urn:pulumi:t::drasyl-deploy-hcloud::hcloud:index/server:Server::ash-server",
    ]);
  });

  it("a failed resource reports on its own region's line", () => {
    const lines: string[] = [];
    const p = new EngineProgress({ owner, shared: "hcloud", onProgress: (s, m) => lines.push(`[${s}] ${m}`) });
    for (const e of fixture<{ events: EngineEvent[] }>("up-failed-hcloud.events.json").events) p.handle(e);
    expect(lines).toEqual([
      "[t-ash] creating server ash-server",
      "[t-ash] error: server limit exceeded (resource_limit_exceeded, 8c3e0a1b)",
      "[t-ash] FAILED to create server ash-server",
      "[hcloud] engine done in 3 s: 7 unchanged",
      "[hcloud] engine: operation cancelled after the failure",
    ]);
  });

  it("the CancelEvent that ends every update is reported only after a Ctrl-C or a failure", () => {
    const events = fixture<EngineEvent[]>("up-hcloud.events.json");
    expect(events.at(-1)?.cancelEvent).toEqual({});
    const run = (ctrlC: boolean): string[] => {
      const lines: string[] = [];
      const p = new EngineProgress({ owner, shared: "hcloud", onProgress: (s, m) => lines.push(`[${s}] ${m}`) });
      events.forEach((e, i) => {
        if (ctrlC && i === 10) p.cancelRequested();
        p.handle(e);
      });
      return lines.filter((l) => l.includes("engine"));
    };
    expect(run(false)).toEqual(["[hcloud] engine done in 23 s: 8 created"]);
    expect(run(true)).toEqual(["[hcloud] engine done in 23 s: 8 created", "[hcloud] engine: operation cancelled"]);
  });

  it("a preview becomes the lines of `up --dry-run`", () => {
    const aws = ownerByRegionPrefix([
      { name: "t-eu-central-1", region: "eu-central-1" },
      { name: "t-us-east-1", region: "us-east-1" },
      { name: "t-ap-southeast-1", region: "ap-southeast-1" },
    ]);
    expect(previewLines(fixture<EngineEvent[]>("preview-aws.events.json"), { owner: aws, shared: "aws" })).toEqual([
      "t-eu-central-1: update instance eu-central-1-server (instanceType)",
      "t-eu-central-1: create firewall rule eu-central-1-in-ssh-198-51-100-9-32",
      "t-eu-central-1: delete firewall rule eu-central-1-in-ssh-203-0-113-7-32",
      "t-ap-southeast-1: create VPC ap-southeast-1-vpc",
      "t-us-east-1: replace key pair us-east-1-key (because of publicKey)",
      "aws: 2 to create, 1 to update, 1 to replace, 1 to delete, 3 unchanged",
    ]);
  });
});

describe("Ctrl-C", () => {
  /** An `up` that runs until it is aborted (as the CLI does on SIGINT), or until the test ends it. */
  function longUp(): { engine: Engine; seen: { signal?: AbortSignal }; endAsInterrupted: () => void } {
    const seen: { signal?: AbortSignal } = {};
    let end: (e: Error) => void = () => {};
    const engine = fakeEngine({
      up: (o) =>
        new Promise((_, reject) => {
          seen.signal = o.signal;
          end = reject;
          o.signal.addEventListener("abort", () => reject(new Error("code: 255\n stderr: error: update canceled\n")));
        }),
    });
    return { engine, seen, endAsInterrupted: () => end(new Error("code: 255\n stderr: error: update canceled\n")) };
  }

  it("the first Ctrl-C cancels cleanly and says what is left", async () => {
    const interrupts = new FakeInterrupts();
    const { engine, seen } = longUp();
    const ctx = context(freshStateDir(), engine, { interrupts });
    const run = runOperation(ctx, "up", (e, o) => e.up(o)).catch((x: unknown) => x);
    await new Promise((r) => setTimeout(r, 10));
    interrupts.fire(false);
    const e = (await run) as CloudError;
    expect(seen.signal?.aborted).toBe(true);
    expect(e.kind).toBe("cancelled");
    expect(e.message).toMatch(/up cancelled: the engine stopped after the operations in flight and saved its state/);
    expect(ctx.notes[0]).toMatch(/^Ctrl-C: cancelling up; .* Press Ctrl-C again to kill it/);
  });

  it("a Ctrl-C from the terminal already reached the engine: no second SIGINT is sent", async () => {
    const interrupts = new FakeInterrupts();
    const { engine, seen, endAsInterrupted } = longUp();
    const run = runOperation(context(freshStateDir(), engine, { interrupts }), "up", (e, o) => e.up(o)).catch(
      (x: unknown) => x,
    );
    await new Promise((r) => setTimeout(r, 10));
    interrupts.fire(true);
    expect(seen.signal?.aborted).toBe(false);
    endAsInterrupted();
    expect(((await run) as CloudError).kind).toBe("cancelled");
  });

  it("the second Ctrl-C kills the engine and warns about pending operations", async () => {
    const interrupts = new FakeInterrupts();
    const killed: number[][] = [];
    let end: (e: Error) => void = () => {};
    const engine = fakeEngine({ up: () => new Promise((_, reject) => (end = reject)) });
    const ctx = context(freshStateDir(), engine, {
      interrupts,
      kill: () => {
        killed.push([4711]);
        end(new Error("signal: killed"));
        return [4711];
      },
    });
    const run = runOperation(ctx, "up", (e, o) => e.up(o)).catch((x: unknown) => x);
    await new Promise((r) => setTimeout(r, 10));
    interrupts.fire(true);
    interrupts.fire(true);
    const e = (await run) as CloudError;
    expect(killed).toEqual([[4711]]);
    expect(e.kind).toBe("killed");
    expect(e.message).toMatch(
      /may be left pending in the Pulumi state.*managed-by=drasyl-deploy, deployment=t.*drasyl-deploy up/,
    );
    expect(ctx.notes[1]).toBe("Ctrl-C again: killed the engine (pids 4711)");
  });

  it("the engine processes are found among this process's children by name and killed by PID", async () => {
    const dir = mkdtempSync(join(tmp, "bin-"));
    const fake = join(dir, "pulumi-fake-engine");
    copyFileSync("/bin/sleep", fake);
    const child = spawn(fake, ["30"], { stdio: "ignore" });
    const other = spawn("sleep", ["30"], { stdio: "ignore" });
    try {
      await new Promise((r) => setTimeout(r, 100));
      expect(engineProcesses()).toEqual([child.pid]);
      const exited = new Promise((r) => child.on("exit", (_code, signal) => r(signal)));
      expect(killEngineProcesses()).toEqual([child.pid]);
      expect(await exited).toBe("SIGKILL");
      expect(other.exitCode).toBeNull();
    } finally {
      other.kill();
      child.kill();
    }
  });

  it("Cancellation forwards one abort for a signal not from the terminal, and kills on the second", () => {
    const interrupts = new FakeInterrupts();
    const events: string[] = [];
    const c = new Cancellation(interrupts, {
      onCancel: () => events.push("cancel"),
      onKill: (p) => events.push(`kill ${p.join(",")}`),
      kill: () => [1, 2],
    });
    interrupts.fire(false);
    expect(c.signal.aborted).toBe(true);
    interrupts.fire(false);
    interrupts.fire(false);
    expect(events).toEqual(["cancel", "kill 1,2"]);
    c.dispose();
  });
});

describe("the hcloud provider over a replayed engine", () => {
  const outputs = {
    servers: {
      value: [
        {
          name: "t-fsn1",
          region: "fsn1",
          ipv4: "198.51.100.4",
          ipv6: "2001:db8:4::1",
          arch: "x64",
          sshUser: "drasyl-deploy",
        },
        {
          name: "t-ash",
          region: "ash",
          ipv4: "198.51.100.9",
          ipv6: "2001:db8:9::1",
          arch: "x64",
          sshUser: "drasyl-deploy",
        },
      ],
    },
  };

  it("apply: engine setup, per-region progress, stale host-key pins of new servers dropped, SSH waited for", async () => {
    const stateDir = freshStateDir();
    const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHVyrxjGx8zvrS0zDCIYAS0pO0Sc0FbxLGxjQxTkMXHX";
    const pinned: Server = { name: "old", region: "x", ssh: { host: "198.51.100.4", port: 22, user: "root" } };
    verifyHostKey(join(stateDir, "known_hosts.json"), pinned, parseOpenSshKey(KEY));
    let setup: EngineSetup | undefined;
    const waited: string[] = [];
    const lines: string[] = [];
    const p = provider(stateDir, {
      engineFactory: async (s) => {
        setup = s;
        return fakeEngine({
          up: async (o) => {
            for (const e of fixture<EngineEvent[]>("up-hcloud.events.json")) o.onEvent(e);
            o.onOutput(`Updating (t):\n token would be ${TOKEN}\n`);
            return { outputs };
          },
        });
      },
      waitForSsh: async (s) => {
        waited.push(`${s.ssh.user}@${s.ssh.host} ${s.ssh.privateKeyPath}`);
      },
    });
    const servers = await p.apply((s, m) => lines.push(`[${s}] ${m}`));

    expect(setup?.location).toMatchObject({
      projectName: "drasyl-deploy-hcloud",
      stackName: "t",
      backendUrl: `file://${join(stateDir, "pulumi")}`,
      workDir: join(stateDir, "deployments", "t", "pulumi-hcloud"),
    });
    expect(setup?.envVars).toEqual({
      HCLOUD_TOKEN: TOKEN,
      PULUMI_CONFIG_PASSPHRASE: PASSPHRASE,
      PULUMI_SKIP_UPDATE_CHECK: "true",
      PULUMI_SKIP_CONFIRMATIONS: "true",
    });
    const key = new StateDir(stateDir).forDeployment("t").deployKeyFile;
    expect(servers).toEqual([
      {
        name: "t-fsn1",
        region: "fsn1",
        ipv4: "198.51.100.4",
        ipv6: "2001:db8:4::1",
        arch: "x64",
        ssh: { host: "198.51.100.4", port: 22, user: "drasyl-deploy", privateKeyPath: key },
      },
      {
        name: "t-ash",
        region: "ash",
        ipv4: "198.51.100.9",
        ipv6: "2001:db8:9::1",
        arch: "x64",
        ssh: { host: "198.51.100.9", port: 22, user: "drasyl-deploy", privateKeyPath: key },
      },
    ]);
    expect(statSync(key).mode & 0o777).toBe(0o600);
    expect(statSync(join(stateDir, "deployments", "t", "ssh")).mode & 0o777).toBe(0o700);
    expect(readFileSync(`${key}.pub`, "utf8")).toMatch(/^ssh-ed25519 AAAA\S+ drasyl-deploy-t\n$/);
    expect(waited).toEqual([`drasyl-deploy@198.51.100.4 ${key}`, `drasyl-deploy@198.51.100.9 ${key}`]);
    expect(readPins(join(stateDir, "known_hosts.json"))["198.51.100.4:22"]).toBeUndefined();
    expect(lines).toContain("[t-fsn1] new server at 198.51.100.4: forgot its old pinned host key");
    expect(lines).toContain("[t-ash] created server ash-server (18 s)");
    expect(lines.filter((l) => l.includes("SSH ready"))).toHaveLength(2);
    const log = readFileSync(join(stateDir, "deployments", "t", "pulumi-hcloud.log"), "utf8");
    expect(log).toContain("Updating (t):");
    expect(log).not.toContain(TOKEN);
  });

  it("a failed up: progress on the region, a short message, the full text in the debug log", async () => {
    const stateDir = freshStateDir();
    const failed = fixture<{ stdout: string; stderr: string; events: EngineEvent[] }>("up-failed-hcloud.events.json");
    const lines: string[] = [];
    const p = provider(stateDir, {
      engineFactory: async () =>
        fakeEngine({
          up: async (o) => {
            for (const e of failed.events) o.onEvent(e);
            o.onOutput(failed.stdout);
            throw new Error(`code: 255\n stdout: ${failed.stdout}\n stderr: ${failed.stderr}`);
          },
        }),
    });
    const e = (await p.apply((s, m) => lines.push(`[${s}] ${m}`)).catch((x: unknown) => x)) as CloudError;
    expect(e.kind).toBe("quota");
    const logPath = join(stateDir, "deployments", "t", "pulumi-hcloud.log");
    expect(e.message).toBe(
      `Hetzner Cloud refused for a limit or capacity reason: server limit exceeded (resource_limit_exceeded, 8c3e0a1b). Ask Hetzner Cloud to raise the limit, pick another server type or location, or deploy fewer regions\n(full engine output: ${logPath})`,
    );
    expect(lines).toContain("[t-ash] FAILED to create server ash-server");
    expect(readFileSync(logPath, "utf8")).toContain("Diagnostics:");
  });

  it("list reads the outputs from the file backend without CLI, credentials or passphrase", async () => {
    const stateDir = freshStateDir();
    const p = provider(stateDir, { env: {}, findCli: async () => Promise.reject(new Error("no CLI needed")) });
    expect(await p.list()).toEqual([]);
    const dir = join(stateDir, "pulumi", ".pulumi", "stacks", "drasyl-deploy-hcloud");
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, "t.json.gz"),
      gzipSync(readFileSync(join(packageRoot(), "test", "fixtures", "pulumi", "checkpoint-hcloud.json"))),
    );
    const key = new StateDir(stateDir).forDeployment("t").deployKeyFile;
    expect(await p.list()).toEqual([
      {
        name: "t-fsn1",
        region: "fsn1",
        ipv4: "198.51.100.4",
        ipv6: "2001:db8:4::1",
        arch: "x64",
        ssh: { host: "198.51.100.4", port: 22, user: "drasyl-deploy", privateKeyPath: key },
      },
      {
        name: "t-nbg1",
        region: "nbg1",
        ipv4: "198.51.100.5",
        ipv6: "2001:db8:5::1",
        arch: "arm64",
        ssh: { host: "198.51.100.5", port: 22, user: "drasyl-deploy", privateKeyPath: key },
      },
    ]);
    expect(
      readFileBackendOutputs(stackLocation(AWS_PROFILE, new StateDir(stateDir).forDeployment("t"))),
    ).toBeUndefined();
  });

  it("destroy without a recorded stack has nothing to do and needs nothing", async () => {
    const lines: string[] = [];
    await provider(freshStateDir(), {
      env: {},
      findCli: async () => Promise.reject(new Error("no CLI needed")),
    }).destroy((s, m) => lines.push(`[${s}] ${m}`));
    expect(lines).toEqual(["[hcloud] no cloud resources recorded for this deployment: nothing to remove"]);
  });
});
