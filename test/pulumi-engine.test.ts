import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { EngineEvent } from "@pulumi/pulumi/automation/index.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HCLOUD_PROFILE } from "../stacks/hcloud/profile.ts";
import { packageRoot } from "../stacks/package-files.ts";
import { CloudError } from "../stacks/pulumi/errors.ts";
import { engineProcesses, type Interrupt, type InterruptSource } from "../stacks/pulumi/interrupt.ts";
import { automationEngine, type EngineRunOptions, stackLocation } from "../stacks/pulumi/stack.ts";
import type { Server } from "../stacks/provider.ts";
import { StateDir } from "../stacks/state/state-dir.ts";
import { processAlive } from "../stacks/util/process.ts";
import { descendantProcesses } from "./support/process.ts";
import { findTestPulumiCli } from "./support/pulumi-cli.ts";
import {
  cloudRecords,
  gate,
  newStandInCloud,
  type StandInProviderOptions,
  StandInCloudProvider,
  type StandInServer,
} from "./support/stand-in-cloud.ts";

/*
 * The Automation API layer (stacks/pulumi/) driving the real Pulumi engine (the CLI on PATH, or
 * the pinned release scripts/test-prereqs.sh builds), with stand-in resources for Hetzner's
 * (test/support/stand-in-cloud.ts): the engine plans, orders, replaces, cancels, locks and
 * records state for real; only the cloud API is a directory. What is asserted is what
 * drasyl-deploy prints and leaves behind for each operation.
 */

const cli = await findTestPulumiCli();

/** Each engine run takes a few seconds, several times that on a busy machine; a test makes up to four. */
const ENGINE_TIMEOUT = 240_000;

const TOKEN = "hc-token-0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghij";
const PASSPHRASE = "correct horse battery staple";
const TWO: StandInServer[] = [
  { location: "fsn1", serverType: "cx23" },
  { location: "ash", serverType: "cpx22" },
];

/**
 * Ctrl-C fired by the test. Not from a terminal, drasyl-deploy forwards a SIGINT to the engine
 * itself; from a terminal, the terminal has sent the engine one too (the test does that).
 */
class TestInterrupts implements InterruptSource {
  private listener?: (i: Interrupt) => void;
  subscribe(listener: (i: Interrupt) => void): () => void {
    this.listener = listener;
    return () => (this.listener = undefined);
  }
  fire(): void {
    this.listener?.({ fromTerminal: false });
  }
  fireFromTerminal(): void {
    const cli = engineProcesses().find((pid) => readFileSync(`/proc/${pid}/comm`, "utf8").trim() === "pulumi");
    if (cli === undefined) throw new Error("no engine running");
    process.kill(cli, "SIGINT");
    this.listener?.({ fromTerminal: true });
  }
}

// Made only when a test runs: with the engine tests skipped, no hook runs to remove it.
let tmp = "";
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "drasyl-pulumi-engine-"));
});
/**
 * The engine's plugin processes outlive a killed engine: the stand-in's (a node process) keeps
 * serving. The tests end them by PID, from a snapshot of this process's tree taken before the kill.
 */
const stranded = new Set<number>();
function endStranded(): void {
  for (const pid of stranded) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Gone already.
    }
  }
}

afterAll(() => {
  for (const pid of descendantProcesses()) stranded.add(pid);
  endStranded();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

interface Run {
  lines: string[];
  /** The engine's events of the up or destroy, as drasyl-deploy received them. */
  events: EngineEvent[];
  servers?: Server[];
  error?: CloudError;
}

/** Durations vary: "(3 s)" and "in 4 s" become "(N s)" and "in N s". */
const normal = (lines: string[]): string[] =>
  lines.map((l) => l.replace(/\(\d+(\.\d+)? s\)/, "(N s)").replace(/ in \d+ s:/, " in N s:"));

/** A deployment "t" with its own state dir, stand-in cloud and Pulumi home. */
function world(name: string) {
  const root = join(tmp, name);
  const stateDir = join(root, "state");
  const cloud = join(root, "cloud");
  const pulumiHome = join(root, "pulumi-home");
  mkdirSync(cloud, { recursive: true });
  mkdirSync(pulumiHome, { recursive: true });
  newStandInCloud(cloud, TOKEN);
  const interrupts = new TestInterrupts();
  const sshWaits: string[] = [];
  const state = new StateDir(stateDir).forDeployment("t");
  const location = stackLocation(HCLOUD_PROFILE, state);
  type Options = Partial<Omit<StandInProviderOptions, "target">> & {
    passphrase?: string;
    token?: string;
    allowSsh?: string[];
  };
  const provider = (o: Options = {}): StandInCloudProvider => {
    const { passphrase = PASSPHRASE, token = TOKEN, allowSsh = ["203.0.113.7/32"], ...rest } = o;
    return new StandInCloudProvider({
      state,
      cloud,
      servers: TWO,
      ports: { udp: 22527, tcp: 443 },
      target: { sshUser: "drasyl-deploy", allowSsh },
      env: { HCLOUD_TOKEN: token, PULUMI_CONFIG_PASSPHRASE: passphrase, PULUMI_HOME: pulumiHome },
      findCli: async () => {
        if (!cli.command) throw new Error(cli.skip);
        return cli.command;
      },
      // The plugin process resolves @pulumi/pulumi from its working directory, which is in the state dir.
      engineFactory: async (setup) => {
        const engine = await automationEngine({
          ...setup,
          envVars: { ...setup.envVars, NODE_PATH: join(packageRoot(), "node_modules") },
        });
        const recorded = (o: EngineRunOptions): EngineRunOptions => ({
          ...o,
          onEvent: (e) => (events.push(e), o.onEvent(e)),
        });
        return { ...engine, up: (o) => engine.up(recorded(o)), destroy: (o) => engine.destroy(recorded(o)) };
      },
      interrupts,
      waitForSsh: async (s) => {
        sshWaits.push(`${s.name} ${s.ssh.user}@${s.ssh.host}`);
      },
      ...rest,
    });
  };
  let events: EngineEvent[] = [];
  const attempt = async (f: (progress: (s: string, m: string) => void) => Promise<Server[] | void>): Promise<Run> => {
    const lines: string[] = [];
    events = [];
    try {
      const servers = await f((s, m) => lines.push(`[${s}] ${m}`));
      return { lines, events, ...(servers ? { servers } : {}) };
    } catch (e) {
      if (!(e instanceof CloudError)) throw e;
      return { lines, events, error: e };
    }
  };
  const backend = join(stateDir, "pulumi", ".pulumi");
  const checkpoint = (): {
    latest?: {
      resources?: unknown[];
      pending_operations?: { type: string; resource: { urn: string } }[];
      secrets_providers?: { type: string; state?: { salt?: string } };
    };
  } =>
    (
      JSON.parse(readFileSync(join(backend, "stacks", "drasyl-deploy-hcloud", "t.json"), "utf8")) as {
        checkpoint: object;
      }
    ).checkpoint;
  const lockDir = join(backend, "locks", "organization", "drasyl-deploy-hcloud", "t");
  return {
    stateDir,
    state,
    cloud,
    interrupts,
    sshWaits,
    location,
    provider,
    backend,
    checkpoint,
    locks: () => (existsSync(lockDir) ? readdirSync(lockDir).filter((f) => f.endsWith(".json")) : []),
    up: (p = provider()) => attempt((progress) => p.apply(progress)),
    destroy: (p = provider()) => attempt((progress) => p.destroy(progress)),
    log: () => readFileSync(location.debugLogPath, "utf8"),
  };
}

const UP_HEADER = (stateDir: string): string =>
  `[hcloud] pulumi up: stack drasyl-deploy-hcloud/t (file://${join(stateDir, "pulumi")})`;

/** Waits until the engine acknowledged a Ctrl-C (the CLI says so on its output, which goes to the debug log). */
async function engineCancelling(logPath: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!readFileSync(logPath, "utf8").includes("received; cancelling")) {
    if (Date.now() > deadline) throw new Error("the engine did not acknowledge the Ctrl-C");
    await new Promise((r) => setTimeout(r, 50));
  }
}

if (cli.skip) it.skip(`the Pulumi engine tests: ${cli.skip}`, () => {});

describe.skipIf(cli.skip !== undefined)(
  "a stack's life on the real engine: preview, up, no-op up, update, replacements, destroy",
  { timeout: ENGINE_TIMEOUT },
  () => {
    let w: ReturnType<typeof world>;
    let first: Run;
    beforeAll(() => {
      w = world("lifecycle");
    });

    it("a new stack lives in the file backend under the state dir; its preview lists what up creates, per server", async () => {
      const lines = await w.provider().preview();
      expect(lines.slice(0, -1).sort()).toEqual(
        [
          "hcloud: create pulumi-nodejs default",
          "hcloud: create SshKey ssh-key",
          "hcloud: create Firewall firewall",
          "t-fsn1: create PrimaryIp fsn1-ipv4",
          "t-fsn1: create Server fsn1-server",
          "t-ash: create PrimaryIp ash-ipv4",
          "t-ash: create Server ash-server",
        ].sort(),
      );
      expect(lines.at(-1)).toBe("hcloud: 7 to create");
      expect(cloudRecords(w.cloud)).toEqual({});
      // The project and the stack's settings (the passphrase's salt) in the deployment's state, 0700.
      expect(readFileSync(join(w.location.workDir, "Pulumi.yaml"), "utf8")).toMatch(
        /name: drasyl-deploy-hcloud\n[\s\S]*backend:\n\s+url: file:\/\//,
      );
      expect(readFileSync(join(w.location.workDir, "Pulumi.t.yaml"), "utf8")).toMatch(/^encryptionsalt: v1:/m);
      for (const dir of [w.location.workDir, join(w.stateDir, "pulumi")])
        expect(statSync(dir).mode & 0o777).toBe(0o700);
      expect(existsSync(join(w.backend, "stacks", "drasyl-deploy-hcloud", "t.json"))).toBe(true);
    });

    it("up creates everything, each resource on its server's line, and does not claim a cancellation", async () => {
      first = await w.up();
      expect(first.error).toBeUndefined();
      const lines = normal(first.lines);
      expect(lines[0]).toBe(UP_HEADER(w.stateDir));
      expect(lines.slice(1, -3).sort()).toEqual(
        [
          "[hcloud] creating pulumi-nodejs default",
          "[hcloud] created pulumi-nodejs default (N s)",
          "[hcloud] creating SshKey ssh-key",
          "[hcloud] created SshKey ssh-key (N s)",
          "[hcloud] creating Firewall firewall",
          "[hcloud] created Firewall firewall (N s)",
          "[t-fsn1] creating PrimaryIp fsn1-ipv4",
          "[t-fsn1] created PrimaryIp fsn1-ipv4 (N s)",
          "[t-fsn1] creating Server fsn1-server",
          "[t-fsn1] created Server fsn1-server (N s)",
          "[t-ash] creating PrimaryIp ash-ipv4",
          "[t-ash] created PrimaryIp ash-ipv4 (N s)",
          "[t-ash] creating Server ash-server",
          "[t-ash] created Server ash-server (N s)",
        ].sort(),
      );
      // The engine ends even a successful update with a CancelEvent: that is no cancellation.
      expect(first.events.at(-2)?.summaryEvent?.resourceChanges).toEqual({ create: 7 });
      expect(first.events.at(-1)?.cancelEvent).toEqual({});
      expect(lines.slice(-3)).toEqual([
        "[hcloud] engine done in N s: 7 created",
        "[t-fsn1] SSH ready at drasyl-deploy@198.51.100.77 (N s)",
        "[t-ash] SSH ready at drasyl-deploy@198.51.100.167 (N s)",
      ]);
      const records = cloudRecords(w.cloud);
      expect(Object.keys(records).sort()).toEqual([
        "firewall/t-firewall",
        "primary_ip/t-ash-ipv4",
        "primary_ip/t-fsn1-ipv4",
        "server/t-ash",
        "server/t-fsn1",
        "ssh_key/drasyl-deploy-t",
      ]);
      expect(records["server/t-fsn1"]?.inputs).toMatchObject({
        serverType: "cx23",
        ipv4: "198.51.100.77",
        sshKey: records["ssh_key/drasyl-deploy-t"]?.id,
      });
      const key = w.state.deployKeyFile;
      expect(first.servers).toEqual([
        {
          name: "t-fsn1",
          region: "fsn1",
          ipv4: "198.51.100.77",
          ipv6: undefined,
          arch: "x64",
          ssh: { host: "198.51.100.77", port: 22, user: "drasyl-deploy", privateKeyPath: key },
        },
        {
          name: "t-ash",
          region: "ash",
          ipv4: "198.51.100.167",
          ipv6: undefined,
          arch: "x64",
          ssh: { host: "198.51.100.167", port: 22, user: "drasyl-deploy", privateKeyPath: key },
        },
      ]);
      expect(w.sshWaits).toEqual(["t-fsn1 drasyl-deploy@198.51.100.77", "t-ash drasyl-deploy@198.51.100.167"]);
      // The state's secrets are the passphrase's, salted as in the stack's settings.
      const salt = /^encryptionsalt: (\S+)$/m.exec(
        readFileSync(join(w.location.workDir, "Pulumi.t.yaml"), "utf8"),
      )?.[1];
      expect(w.checkpoint().latest?.secrets_providers).toEqual({ type: "passphrase", state: { salt } });
      // status and peers read the real engine's checkpoint without CLI or passphrase.
      expect(await w.provider({ env: {} }).list()).toEqual(first.servers);
      expect(w.locks()).toEqual([]);
    });

    it("a second up changes nothing and says so in one line; refreshing is silent", async () => {
      const before = cloudRecords(w.cloud);
      const r = await w.up();
      expect(r.error).toBeUndefined();
      const ops = r.events.flatMap((e) => (e.resourcePreEvent ? [e.resourcePreEvent.metadata.op] : []));
      // Every resource and the stack itself is refreshed (read from the cloud), nothing else happens.
      expect(ops.filter((op) => op === "refresh")).toHaveLength(8);
      expect(new Set(ops)).toEqual(new Set(["refresh", "same"]));
      expect(r.events.at(-1)?.cancelEvent).toEqual({});
      expect(normal(r.lines)).toEqual([
        UP_HEADER(w.stateDir),
        "[hcloud] engine done in N s: 7 unchanged",
        "[t-fsn1] SSH ready at drasyl-deploy@198.51.100.77 (N s)",
        "[t-ash] SSH ready at drasyl-deploy@198.51.100.167 (N s)",
      ]);
      expect(cloudRecords(w.cloud)).toEqual(before);
    });

    it("a preview of changes names the changed input of an update and the reason of a replacement, and changes nothing", async () => {
      const before = cloudRecords(w.cloud);
      const lines = await w
        .provider({
          allowSsh: ["198.51.100.9/32"],
          servers: [{ location: "fsn1", serverType: "cx33" }, TWO[1] as StandInServer],
        })
        .preview();
      expect(lines.slice(0, -1).sort()).toEqual([
        "hcloud: update Firewall firewall (sshSources)",
        "t-fsn1: replace Server fsn1-server (because of serverType)",
      ]);
      expect(lines.at(-1)).toBe("hcloud: 1 to update, 1 to replace, 5 unchanged");
      expect(cloudRecords(w.cloud)).toEqual(before);
    });

    it("an update in place: the firewall keeps its id", async () => {
      const before = cloudRecords(w.cloud);
      const r = await w.up(w.provider({ allowSsh: ["198.51.100.9/32"] }));
      expect(r.error).toBeUndefined();
      expect(normal(r.lines).slice(0, 4)).toEqual([
        UP_HEADER(w.stateDir),
        "[hcloud] updating Firewall firewall",
        "[hcloud] updated Firewall firewall (N s)",
        "[hcloud] engine done in N s: 1 updated, 6 unchanged",
      ]);
      const fw = cloudRecords(w.cloud)["firewall/t-firewall"];
      expect(fw?.id).toBe(before["firewall/t-firewall"]?.id);
      expect(fw?.inputs.sshSources).toEqual(["198.51.100.9/32"]);
    });

    it("a server type change replaces the server, the old one deleted first (same name), keeping its primary IP", async () => {
      const before = cloudRecords(w.cloud);
      const r = await w.up(
        w.provider({
          allowSsh: ["198.51.100.9/32"],
          servers: [{ location: "fsn1", serverType: "cx33" }, TWO[1] as StandInServer],
        }),
      );
      expect(r.error).toBeUndefined();
      // Deleted before created: the stand-in cloud, like Hetzner, refuses a second server named t-fsn1.
      const steps = r.events.flatMap((e) =>
        e.resourcePreEvent?.metadata.urn.endsWith("::fsn1-server") ? [e.resourcePreEvent.metadata.op] : [],
      );
      expect(steps.filter((op) => op !== "refresh")).toEqual(["delete-replaced", "replace", "create-replacement"]);
      expect(normal(r.lines).slice(0, 6)).toEqual([
        UP_HEADER(w.stateDir),
        "[t-fsn1] deleting the replaced Server fsn1-server",
        "[t-fsn1] deleted the replaced Server fsn1-server (N s)",
        "[t-fsn1] creating the replacement Server fsn1-server",
        "[t-fsn1] created the replacement Server fsn1-server (N s)",
        "[hcloud] engine done in N s: 1 replaced, 6 unchanged",
      ]);
      const after = cloudRecords(w.cloud);
      expect(after["server/t-fsn1"]?.id).not.toBe(before["server/t-fsn1"]?.id);
      expect(after["server/t-fsn1"]?.inputs).toMatchObject({ serverType: "cx33", ipv4: "198.51.100.77" });
      expect(after["primary_ip/t-fsn1-ipv4"]).toEqual(before["primary_ip/t-fsn1-ipv4"]);
      expect(after["server/t-ash"]).toEqual(before["server/t-ash"]);
      expect(r.servers?.map((s) => s.ipv4)).toEqual(["198.51.100.77", "198.51.100.167"]);
    });

    it("a new deployment key replaces the SSH key without a name collision, and the servers that carry it", async () => {
      const before = cloudRecords(w.cloud);
      // As after a lost state dir: a new deployment key.
      rmSync(dirname(w.state.deployKeyFile), { recursive: true });
      const r = await w.up(
        w.provider({
          allowSsh: ["198.51.100.9/32"],
          servers: [{ location: "fsn1", serverType: "cx33" }, TWO[1] as StandInServer],
        }),
      );
      expect(r.error).toBeUndefined();
      const lines = normal(r.lines);
      // The servers go first (they use the key), then the key; the new key comes before the new servers.
      const at = (l: string): number => lines.indexOf(l);
      for (const l of [
        "[hcloud] deleting the replaced SshKey ssh-key",
        "[hcloud] created the replacement SshKey ssh-key (N s)",
        "[t-fsn1] deleted the replaced Server fsn1-server (N s)",
        "[t-ash] created the replacement Server ash-server (N s)",
      ])
        expect(lines).toContain(l);
      expect(at("[t-fsn1] deleted the replaced Server fsn1-server (N s)")).toBeLessThan(
        at("[hcloud] deleting the replaced SshKey ssh-key"),
      );
      expect(at("[hcloud] created the replacement SshKey ssh-key (N s)")).toBeLessThan(
        at("[t-fsn1] creating the replacement Server fsn1-server"),
      );
      expect(lines).toContain("[hcloud] engine done in N s: 3 replaced, 4 unchanged");
      const after = cloudRecords(w.cloud);
      expect(after["ssh_key/drasyl-deploy-t"]?.inputs.publicKey).toBe(
        readFileSync(`${w.state.deployKeyFile}.pub`, "utf8").trim(),
      );
      expect(after["ssh_key/drasyl-deploy-t"]?.id).not.toBe(before["ssh_key/drasyl-deploy-t"]?.id);
      expect(after["server/t-ash"]?.inputs.sshKey).toBe(after["ssh_key/drasyl-deploy-t"]?.id);
      expect(after["primary_ip/t-ash-ipv4"]).toEqual(before["primary_ip/t-ash-ipv4"]);
    });

    it("destroy removes every resource; the deployment key stays; status then lists nothing", async () => {
      const r = await w.destroy();
      expect(r.error).toBeUndefined();
      const lines = normal(r.lines);
      expect(lines.slice(0, -2).sort()).toEqual(
        [
          "[hcloud] deleting pulumi-nodejs default",
          "[hcloud] deleted pulumi-nodejs default (N s)",
          "[hcloud] deleting SshKey ssh-key",
          "[hcloud] deleted SshKey ssh-key (N s)",
          "[hcloud] deleting Firewall firewall",
          "[hcloud] deleted Firewall firewall (N s)",
          "[t-fsn1] deleting PrimaryIp fsn1-ipv4",
          "[t-fsn1] deleted PrimaryIp fsn1-ipv4 (N s)",
          "[t-fsn1] deleting Server fsn1-server",
          "[t-fsn1] deleted Server fsn1-server (N s)",
          "[t-ash] deleting PrimaryIp ash-ipv4",
          "[t-ash] deleted PrimaryIp ash-ipv4 (N s)",
          "[t-ash] deleting Server ash-server",
          "[t-ash] deleted Server ash-server (N s)",
        ].sort(),
      );
      expect(lines.slice(-2)).toEqual([
        "[hcloud] engine done in N s: 7 deleted",
        `[hcloud] removed the hcloud resources; the deployment key ${w.state.deployKeyFile} and the identities stay in the local state`,
      ]);
      expect(lines.indexOf("[t-fsn1] deleted Server fsn1-server (N s)")).toBeLessThan(
        lines.indexOf("[t-fsn1] deleting PrimaryIp fsn1-ipv4"),
      );
      expect(cloudRecords(w.cloud)).toEqual({});
      expect(existsSync(w.state.deployKeyFile)).toBe(true);
      expect(await w.provider({ env: {} }).list()).toEqual([]);
    });

    it("the debug log holds the engine's full output of every operation, 0600", () => {
      const log = w.log();
      expect(statSync(w.location.debugLogPath).mode & 0o777).toBe(0o600);
      expect(
        log.match(/^===== \S+ (preview|up|destroy) drasyl-deploy-hcloud\/t /gm)?.map((l) => l.split(" ")[2]),
      ).toEqual(["preview", "up", "up", "preview", "up", "up", "up", "destroy"]);
      expect(log).toContain("Updating (t):");
      expect(log).toContain("Destroying (t):");
      expect(log).not.toContain(TOKEN);
      expect(log).not.toContain(PASSPHRASE);
    });
  },
);

describe.skipIf(cli.skip !== undefined)(
  "the real engine: passphrase, secrets, a killed engine, Ctrl-C",
  { timeout: ENGINE_TIMEOUT },
  () => {
    it("a wrong passphrase is refused and leaves the state and the cloud as they were", async () => {
      const w = world("passphrase");
      const servers = [TWO[0] as StandInServer];
      expect((await w.up(w.provider({ servers }))).error).toBeUndefined();
      const files = (): Record<string, string> =>
        Object.fromEntries(
          [w.backend, w.location.workDir].flatMap((d) =>
            (readdirSync(d, { recursive: true }) as string[])
              .filter((f) => statSync(join(d, f)).isFile())
              .map((f) => [join(d, f), readFileSync(join(d, f), "utf8")]),
          ),
        );
      const state = files();
      const cloud = cloudRecords(w.cloud);
      const r = await w.up(
        w.provider({ servers: [{ location: "fsn1", serverType: "cx33" }], passphrase: "not the passphrase" }),
      );
      expect(r.error?.kind).toBe("passphrase-wrong");
      expect(r.error?.message).toBe(
        `PULUMI_CONFIG_PASSPHRASE is not the passphrase the Pulumi stack drasyl-deploy-hcloud/t was created with. Nothing was changed and the state was not re-initialized: run again with the original passphrase\n(full engine output: ${w.location.debugLogPath})`,
      );
      expect(r.lines).toEqual([UP_HEADER(w.stateDir)]);
      expect(files()).toEqual(state);
      expect(cloudRecords(w.cloud)).toEqual(cloud);
      expect(w.log()).not.toContain("not the passphrase");
    });

    it("a credential a provider echoes in an error reaches neither the terminal nor the debug log", async () => {
      const w = world("secret");
      // The stand-in cloud wants another token: every create fails, echoing the request with its Authorization header.
      writeFileSync(join(w.cloud, "token"), "the-project-token");
      const r = await w.up();
      expect(r.error?.kind).toBe("auth");
      expect(r.error?.message).toMatch(/^Hetzner Cloud rejected the API token: set HCLOUD_TOKEN/);
      const failures = r.lines.filter((l) => l.includes("401 unauthorized"));
      expect(failures.length).toBeGreaterThan(0);
      for (const l of failures)
        expect(l).toMatch(
          /^\[\S+\] error: POST \/v1\/\w+ name=\S+ \(Authorization: Bearer \[HCLOUD_TOKEN redacted\]\): 401 unauthorized: invalid token$/,
        );
      // A failed update does end early: that is reported.
      expect(r.lines.at(-1)).toBe("[hcloud] engine: operation cancelled after the failure");
      const log = w.log();
      expect(log).toContain("(Authorization: Bearer [HCLOUD_TOKEN redacted]): 401 unauthorized");
      for (const text of [log, r.error?.message ?? "", ...r.lines]) expect(text).not.toContain(TOKEN);
    });

    it("an engine killed mid-update (SIGKILL) leaves a lock and a pending create; the next up reports and clears both and converges", async () => {
      const w = world("sigkill");
      expect((await w.up(w.provider({ servers: [TWO[0] as StandInServer] }))).error).toBeUndefined();
      const slow = gate(w.cloud, "server", "t-ash");
      const run = w.up();
      await slow.started();
      for (const pid of descendantProcesses()) stranded.add(pid);
      // The CLI itself, as the OOM killer would; the create in flight never reaches the cloud.
      const engine = engineProcesses().find((pid) => readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("\0up\0"));
      expect(engine).toBeDefined();
      process.kill(engine as number, "SIGKILL");
      const r = await run;
      endStranded();
      expect(r.error?.kind).toBe("killed");
      expect(r.error?.message).toMatch(
        /^up failed: the Pulumi engine was killed \(SIGKILL\) by something other than drasyl-deploy\. Resource operations that were in flight may be left pending in the Pulumi state, .*managed-by=drasyl-deploy, deployment=t.*Run `drasyl-deploy up` again/,
      );
      expect(normal(r.lines).slice(-1)).toEqual(["[t-ash] creating Server ash-server"]);
      expect(w.locks()).toHaveLength(1);
      expect(w.checkpoint().latest?.pending_operations?.map((p) => [p.type, p.resource.urn])).toEqual([
        ["creating", "urn:pulumi:t::drasyl-deploy-hcloud::pulumi-nodejs:dynamic/hcloud:Server::ash-server"],
      ]);
      expect(processAlive(engine as number)).toBe(false);

      const again = await w.up();
      expect(again.error).toBeUndefined();
      expect(normal(again.lines)).toEqual([
        UP_HEADER(w.stateDir),
        // Reported once; clearing it from the state needs the stale lock cleared first.
        "[hcloud] an earlier run was killed while creating Server ash-server: it may exist in the cloud without being in the Pulumi state; look for it in the Hetzner Cloud console (labels managed-by=drasyl-deploy, deployment=t) and delete it if so (with a fixed name, it makes this run fail until then)",
        expect.stringMatching(
          new RegExp(
            `^\\[hcloud\\] clearing a stale Pulumi lock: the lock was left by a run that is gone \\(pid ${engine}, \\S+\\) and no other drasyl-deploy run holds deployment "t"$`,
          ),
        ),
        "[t-ash] creating Server ash-server",
        "[t-ash] created Server ash-server (N s)",
        "[hcloud] engine done in N s: 1 created, 6 unchanged",
        "[t-fsn1] SSH ready at drasyl-deploy@198.51.100.77 (N s)",
        "[t-ash] SSH ready at drasyl-deploy@198.51.100.167 (N s)",
      ]);
      expect(w.locks()).toEqual([]);
      expect(w.checkpoint().latest?.pending_operations ?? []).toEqual([]);
      expect(Object.keys(cloudRecords(w.cloud))).toContain("server/t-ash");
    });

    it("Ctrl-C once: the engine finishes what is in flight, starts nothing new, saves its state; up continues from there", async () => {
      const w = world("ctrl-c");
      const slow = gate(w.cloud, "primary_ip", "t-fsn1-ipv4");
      const run = w.up();
      await slow.started();
      w.interrupts.fire();
      await engineCancelling(w.location.debugLogPath);
      slow.open();
      const r = await run;
      expect(r.error?.kind).toBe("cancelled");
      expect(r.error?.message).toMatch(
        /^up cancelled: the engine stopped after the operations in flight and saved its state/,
      );
      const lines = normal(r.lines);
      const note = lines.indexOf(
        "[hcloud] Ctrl-C: cancelling up; the engine finishes what is in flight, starts nothing new and saves its state. Press Ctrl-C again to kill it (operations in flight are then left pending)",
      );
      expect(note).toBeGreaterThan(0);
      expect(lines.indexOf("[t-fsn1] created PrimaryIp fsn1-ipv4 (N s)")).toBeGreaterThan(note);
      expect(lines).not.toContain("[t-fsn1] creating Server fsn1-server");
      expect(lines.slice(-2)).toEqual([
        expect.stringMatching(/^\[hcloud\] engine done in N s: \d created$/),
        "[hcloud] engine: operation cancelled",
      ]);
      expect(Object.keys(cloudRecords(w.cloud))).toContain("primary_ip/t-fsn1-ipv4");
      expect(Object.keys(cloudRecords(w.cloud))).not.toContain("server/t-fsn1");
      expect(w.locks()).toEqual([]);
      expect(w.checkpoint().latest?.pending_operations ?? []).toEqual([]);

      const again = await w.up();
      expect(again.error).toBeUndefined();
      expect(normal(again.lines)).toContain("[t-fsn1] created Server fsn1-server (N s)");
      expect(Object.keys(cloudRecords(w.cloud))).toHaveLength(6);
    });

    it("Ctrl-C twice in a terminal: the second kills the engine and says what may be left; the next up converges", async () => {
      const w = world("ctrl-c-twice");
      const slow = gate(w.cloud, "primary_ip", "t-fsn1-ipv4");
      const run = w.up();
      await slow.started();
      w.interrupts.fireFromTerminal();
      await engineCancelling(w.location.debugLogPath);
      for (const pid of descendantProcesses()) stranded.add(pid);
      // The terminal's second SIGINT would make the engine exit at once; drasyl-deploy kills it either way.
      w.interrupts.fireFromTerminal();
      const r = await run;
      expect(r.error?.kind).toBe("killed");
      expect(r.error?.message).toMatch(
        /^up killed\. Resource operations that were in flight may be left pending in the Pulumi state/,
      );
      // The engine may still report what it got done before it died.
      expect(
        r.lines.filter((l) => /^\[hcloud\] Ctrl-C again: killed the engine \(pids \d+(, \d+)*\)$/.test(l)),
      ).toHaveLength(1);
      // The engine's own processes are gone; the stand-in's plugin (a node process) is the test's to end.
      expect(engineProcesses()).toEqual([]);
      endStranded();
      expect(w.locks()).toHaveLength(1);

      const again = await w.up();
      expect(again.error).toBeUndefined();
      const lines = normal(again.lines);
      expect(lines.filter((l) => l.startsWith("[hcloud] clearing a stale Pulumi lock: "))).toHaveLength(1);
      expect(lines).toContain(
        "[hcloud] an earlier run was killed while creating PrimaryIp fsn1-ipv4: it may exist in the cloud without being in the Pulumi state; look for it in the Hetzner Cloud console (labels managed-by=drasyl-deploy, deployment=t) and delete it if so (with a fixed name, it makes this run fail until then)",
      );
      expect(Object.keys(cloudRecords(w.cloud))).toHaveLength(6);
      expect(w.locks()).toEqual([]);
    });

    it("an engine killed during an update: the next up names it, and its refresh settles it", async () => {
      const w = world("kill-update");
      const one = { servers: [TWO[0] as StandInServer] };
      expect((await w.up(w.provider(one))).error).toBeUndefined();
      const slow = gate(w.cloud, "firewall", "t-firewall");
      const run = w.up(w.provider({ ...one, allowSsh: ["198.51.100.9/32"] }));
      await slow.started();
      for (const pid of descendantProcesses()) stranded.add(pid);
      process.kill(
        engineProcesses().find((pid) => readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("\0up\0")) as number,
        "SIGKILL",
      );
      expect((await run).error?.kind).toBe("killed");
      endStranded();
      expect(w.checkpoint().latest?.pending_operations?.map((p) => p.type)).toEqual(["updating"]);

      const again = await w.up(w.provider({ ...one, allowSsh: ["198.51.100.9/32"] }));
      expect(again.error).toBeUndefined();
      expect(normal(again.lines).slice(1, 6)).toEqual([
        "[hcloud] an earlier run was killed while updating Firewall firewall: this run reads its actual state from the cloud and goes on from there",
        expect.stringMatching(/^\[hcloud\] clearing a stale Pulumi lock: /),
        "[hcloud] updating Firewall firewall",
        "[hcloud] updated Firewall firewall (N s)",
        "[hcloud] engine done in N s: 1 updated, 4 unchanged",
      ]);
      expect(w.checkpoint().latest?.pending_operations ?? []).toEqual([]);
      expect(cloudRecords(w.cloud)["firewall/t-firewall"]?.inputs.sshSources).toEqual(["198.51.100.9/32"]);
    });

    it("leaves no engine process behind", () => {
      expect(descendantProcesses()).toEqual([]);
    });
  },
);
