import type { EngineEvent, PulumiCommand } from "@pulumi/pulumi/automation/index.js";
import type { DnsProgramArgs } from "../dns/program-args.ts";
import { forgetHostKey } from "../install/host-keys.ts";
import type { Provider, Server } from "../provider.ts";
import type { DeploymentState } from "../state/state-dir.ts";
import { ensureDeployKey } from "./deploy-key.ts";
import { CloudError, DebugLog, redactor } from "./errors.ts";
import type { InterruptSource } from "./interrupt.ts";
import { type AddressDetector, sshSources } from "./operator-address.ts";
import { serversFromOutput } from "./outputs.ts";
import { engineEnv, findPulumiCli, missingCredentials, type PassphrasePrompt, passphraseEnv } from "./preflight.ts";
import type { CloudProfile } from "./profile.ts";
import { EngineProgress, ownerByRegionPrefix, parseUrn, previewLines } from "./progress.ts";
import {
  automationEngine,
  type Engine,
  type EngineFactory,
  type OperationContext,
  readFileBackendOutputs,
  runOperation,
  type StackLocation,
  stackLocation,
} from "./stack.ts";
import { waitForSshLogin } from "./ssh-ready.ts";

type Progress = (server: string, message: string) => void;

/** The fields every cloud target's config has (stacks/config-fields.ts cloudFields). */
export interface CloudTargetFields {
  sshUser: string;
  /** Default: this machine's public address, found at run time. */
  allowSsh?: string[];
  /** Pulumi backend URL; default: the file backend in the state dir. */
  backend?: string;
}

/** A cloud target from the config, plus the seams tests use instead of a real engine. */
export interface CloudProviderOptions<T extends CloudTargetFields = CloudTargetFields> {
  state: DeploymentState;
  ports: { udp: number; tcp: number };
  target: T;
  /** An exposed metrics endpoint and who may scrape it; absent: the firewall keeps the port closed. */
  metrics?: { port: number; sources: string[] } | undefined;
  /** When this cloud manages the deployment's DNS zone: the records, settled when the program runs. */
  dns?: (() => Promise<DnsProgramArgs>) | undefined;
  /** Where credentials and the passphrase come from; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Asked when PULUMI_CONFIG_PASSPHRASE(_FILE) is not set. */
  passphrasePrompt?: PassphrasePrompt;
  engineFactory?: EngineFactory;
  findCli?: () => Promise<PulumiCommand>;
  detectAddresses?: AddressDetector;
  interrupts?: InterruptSource;
  /** Default: wait until the login user can log in (5 min). */
  waitForSsh?: (server: Server, onProgress: (message: string) => void) => Promise<void>;
}

/** The inputs of a cloud's program that are known only when it runs. */
export interface ProgramInputs {
  sshPublicKey: string;
  sshSources: string[];
  dns?: DnsProgramArgs | undefined;
}

/**
 * A Provider backed by a Pulumi stack (one per deployment and cloud), through the Automation
 * API. Subclasses name the cloud, its servers and its program; everything about running the
 * engine (preflight, credentials, passphrase, progress, cancellation, locks, errors) is here.
 */
export abstract class PulumiCloudProvider<T extends CloudTargetFields = CloudTargetFields> implements Provider {
  abstract readonly profile: CloudProfile;
  readonly createsServers = true;
  protected abstract serverList(): { name: string; region: string; detail: string }[];
  /** The inline program; loads the cloud's SDK only when called. */
  protected abstract program(inputs: ProgramInputs): () => Promise<Record<string, unknown>>;

  constructor(protected readonly opts: CloudProviderOptions<T>) {}

  get kind(): string {
    return this.profile.kind;
  }

  protected get env(): NodeJS.ProcessEnv {
    return this.opts.env ?? process.env;
  }

  protected location(): StackLocation {
    return stackLocation(this.profile, this.opts.state, this.opts.target.backend);
  }

  private owner(): (logical: string) => string | undefined {
    return ownerByRegionPrefix(this.serverList());
  }

  /** CLI, credentials and passphrase, all checked before anything runs; every problem is reported at once. */
  private async preflight(): Promise<{ command: PulumiCommand; envVars: Record<string, string> }> {
    const problems: CloudError[] = [];
    let command: PulumiCommand | undefined;
    try {
      command = await (this.opts.findCli ?? (() => findPulumiCli({ env: this.env })))();
    } catch (e) {
      if (!(e instanceof CloudError)) throw e;
      problems.push(e);
    }
    const creds = missingCredentials(this.profile, this.env);
    if (creds) problems.push(new CloudError("credentials-missing", creds));
    let passphrase: Record<string, string> = {};
    try {
      passphrase = await passphraseEnv(this.env, this.opts.passphrasePrompt);
    } catch (e) {
      if (!(e instanceof CloudError)) throw e;
      problems.push(e);
    }
    const first = problems[0];
    if (first || !command) {
      const lines = problems.map((p) => p.message);
      throw new CloudError(
        first?.kind ?? "cli-missing",
        lines.length === 1 ? (lines[0] ?? "") : `cannot run the ${this.kind} stack:\n- ${lines.join("\n- ")}`,
      );
    }
    return { command, envVars: engineEnv(this.profile, this.env, passphrase) };
  }

  /**
   * `runsProgram`: preview and up run the program, so its inputs are settled first (the operator's
   * address may need a network lookup, whose failure should read as such). destroy and reading
   * outputs do not run it: no lookup then, unless the engine unexpectedly asks for the program.
   */
  private async context(
    onEvent: (e: EngineEvent) => void,
    note: (m: string) => void,
    runsProgram: boolean,
  ): Promise<OperationContext> {
    const { command, envVars } = await this.preflight();
    const location = this.location();
    const inputs = async (): Promise<ProgramInputs> => ({
      sshPublicKey: ensureDeployKey(this.opts.state).publicKey,
      sshSources: await sshSources(this.opts.target.allowSsh, this.opts.detectAddresses),
      dns: await this.opts.dns?.(),
    });
    const settled = runsProgram ? await inputs() : undefined;
    const program = async (): Promise<Record<string, unknown>> => this.program(settled ?? (await inputs()))();
    this.opts.state.prepare(location.debugLogPath);
    const log = new DebugLog(
      location.debugLogPath,
      redactor(
        this.env,
        envVars.PULUMI_CONFIG_PASSPHRASE ? { PULUMI_CONFIG_PASSPHRASE: envVars.PULUMI_CONFIG_PASSPHRASE } : {},
      ),
    );
    let engine: Engine | undefined;
    return {
      location,
      log,
      onEvent,
      note,
      ...(this.opts.interrupts ? { interrupts: this.opts.interrupts } : {}),
      openEngine: async () =>
        (engine ??= await (this.opts.engineFactory ?? automationEngine)({ location, program, envVars, command })),
    };
  }

  async preview(): Promise<string[]> {
    const events: EngineEvent[] = [];
    let ctx: OperationContext;
    try {
      ctx = await this.context(
        (e) => events.push(e),
        () => {},
        true,
      );
    } catch (e) {
      if (!(e instanceof CloudError)) throw e;
      // Without the CLI, credentials or passphrase Pulumi cannot preview; say what would be made.
      return [
        ...this.serverList().map((s) => `${s.name}: ${this.kind} server ${s.detail} (created if missing)`),
        `${this.kind}: no Pulumi preview: ${e.message}`,
      ];
    }
    await runOperation(ctx, "preview", (engine, o) => engine.preview(o));
    const lines = previewLines(events, { owner: this.owner(), shared: this.kind });
    return lines.length > 0 ? lines : [`${this.kind}: no changes`];
  }

  async apply(onProgress: Progress = () => {}): Promise<Server[]> {
    const progress = new EngineProgress({ owner: this.owner(), shared: this.kind, onProgress });
    const ctx = await this.context(
      (e) => progress.handle(e),
      (m) => onProgress(this.kind, m),
      true,
    );
    onProgress(
      this.kind,
      `pulumi up: stack ${ctx.location.projectName}/${ctx.location.stackName} (${ctx.location.backendUrl})`,
    );
    const { outputs } = await runOperation(
      { ...ctx, onCancelRequested: () => progress.cancelRequested() },
      "up",
      (engine, o) => engine.up(o),
    );
    const servers = serversFromOutput(outputs.servers?.value, this.opts.state.deployKeyFile);
    // A server the engine just created or replaced is a new machine, maybe at an address whose old
    // host key is pinned: forget that pin so the installer pins the new key on first contact.
    const fresh = new Set([...progress.newServers].map((urn) => this.owner()(parseUrn(urn).name)));
    for (const s of servers.filter((x) => fresh.has(x.name))) {
      for (const host of [s.ipv4, s.ipv6])
        if (host && forgetHostKey(this.opts.state.knownHostsFile, host, 22))
          onProgress(s.name, `new server at ${host}: forgot its old pinned host key`);
    }
    const wait =
      this.opts.waitForSsh ??
      ((server: Server, p: (m: string) => void) => waitForSshLogin(server, { onProgress: p }).then(() => undefined));
    await Promise.all(
      servers.map(async (s) => {
        const t = Date.now();
        await wait(s, (m) => onProgress(s.name, m));
        onProgress(s.name, `SSH ready at ${s.ssh.user}@${s.ssh.host} (${((Date.now() - t) / 1000).toFixed(1)} s)`);
      }),
    );
    return servers;
  }

  async list(): Promise<Server[]> {
    const location = this.location();
    const keyPath = this.opts.state.deployKeyFile;
    if (location.backendUrl.startsWith("file://"))
      return serversFromOutput(readFileBackendOutputs(location)?.servers, keyPath);
    const ctx = await this.context(
      () => {},
      () => {},
      false,
    );
    const engine = await ctx.openEngine();
    return serversFromOutput((await engine.outputs()).servers?.value, keyPath);
  }

  async destroy(onProgress: Progress = () => {}): Promise<void> {
    const location = this.location();
    if (location.backendUrl.startsWith("file://") && readFileBackendOutputs(location) === undefined) {
      onProgress(this.kind, "no cloud resources recorded for this deployment: nothing to remove");
      return;
    }
    const progress = new EngineProgress({ owner: this.owner(), shared: this.kind, onProgress });
    const ctx = await this.context(
      (e) => progress.handle(e),
      (m) => onProgress(this.kind, m),
      false,
    );
    await runOperation({ ...ctx, onCancelRequested: () => progress.cancelRequested() }, "destroy", (engine, o) =>
      engine.destroy(o),
    );
    onProgress(
      this.kind,
      `removed the ${this.kind} resources; the deployment key ${this.opts.state.deployKeyFile} and the identities stay in the local state`,
    );
  }
}
