import { existsSync, readdirSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline/promises";
import type { PulumiCommand } from "@pulumi/pulumi/automation/index.js";
import { CloudError } from "./errors.ts";
import type { CloudProfile } from "./profile.ts";
import { automationSdk, pulumiSdkVersion, pulumiSemver } from "./sdk.ts";

/**
 * The oldest Pulumi CLI drasyl-deploy accepts. The Automation SDK it ships is 3.248; Pulumi keeps
 * newer CLIs compatible with older SDKs, not the other way round, so the CLI must be of the same
 * generation or newer.
 */
export const MIN_PULUMI_CLI = "3.200.0";

const INSTALL_HINT =
  "install it with `curl -fsSL https://get.pulumi.com | sh` (or `brew install pulumi`, see https://www.pulumi.com/docs/install/) and make sure `pulumi` is on PATH";

/** Where an installed CLI may be: PATH, the install script's ~/.pulumi/bin, PulumiCommand.install()'s ~/.pulumi/versions/<v>. */
export function cliRoots(env: NodeJS.ProcessEnv = process.env): (string | undefined)[] {
  const home = env.PULUMI_HOME ?? join(env.HOME ?? homedir(), ".pulumi");
  const roots: (string | undefined)[] = [undefined, home];
  const versions = join(home, "versions");
  if (existsSync(versions)) for (const v of readdirSync(versions).sort().reverse()) roots.push(join(versions, v));
  return roots;
}

/** Looks up a CLI at `root` (undefined: PATH); throws what PulumiCommand.get throws. */
export type CliLookup = (root: string | undefined, minVersion: string) => Promise<PulumiCommand>;

const realLookup: CliLookup = async (root, minVersion) => {
  const { PulumiCommand } = automationSdk();
  const semver = pulumiSemver();
  return PulumiCommand.get({ root, version: new semver.SemVer(minVersion) });
};

/**
 * The Pulumi CLI to drive, checked for its version. Missing or too old is a CloudError saying how
 * to install it; nothing is downloaded here (see installPulumiCli for that, with consent).
 */
export async function findPulumiCli(
  opts: { env?: NodeJS.ProcessEnv; lookup?: CliLookup; minVersion?: string } = {},
): Promise<PulumiCommand> {
  const lookup = opts.lookup ?? realLookup;
  const min = opts.minVersion ?? MIN_PULUMI_CLI;
  let tooOld: string | undefined;
  for (const root of cliRoots(opts.env)) {
    try {
      return await lookup(root, min);
    } catch (e) {
      const msg = (e as Error).message;
      const m = /your current CLI version is (\S+?)\.? Please update/.exec(msg);
      if (m) tooOld ??= `${m[1]}${root ? ` at ${root}/bin/pulumi` : " on PATH"}`;
      else if (/Major version mismatch/.test(msg))
        tooOld ??= `a newer major version${root ? ` at ${root}/bin/pulumi` : ""} (${msg})`;
      // Anything else (ENOENT, not executable): not installed there.
    }
  }
  if (tooOld)
    throw new CloudError(
      "cli-too-old",
      `the Pulumi CLI is too old: found ${tooOld}, drasyl-deploy needs ${min} or newer; update it: ${INSTALL_HINT}`,
    );
  throw new CloudError(
    "cli-missing",
    `the Pulumi CLI is not installed (drasyl-deploy drives it to create cloud servers; no Pulumi account is needed): ${INSTALL_HINT}. drasyl-deploy can also download it into ~/.pulumi/versions/${pulumiSdkVersion()} for you: run drasyl-deploy install-pulumi`,
  );
}

/**
 * Downloads and installs the Pulumi CLI matching the shipped SDK into ~/.pulumi/versions/<v>
 * (PulumiCommand.install: fetches get.pulumi.com/install.sh and runs it). Only call this after
 * the operator agreed, and only where the network allows it.
 */
export async function installPulumiCli(root?: string): Promise<PulumiCommand> {
  const { PulumiCommand } = automationSdk();
  const semver = pulumiSemver();
  try {
    return await PulumiCommand.install({ root, version: new semver.SemVer(pulumiSdkVersion()) });
  } catch (e) {
    throw new CloudError(
      "cli-missing",
      `could not install the Pulumi CLI: ${(e as Error).message.split("\n")[0]}; ${INSTALL_HINT}`,
    );
  }
}

/**
 * Whether this machine has credentials for the cloud, read only from the standard environment
 * variables and files; returns what is missing, or undefined. Nothing is validated online here.
 */
export function missingCredentials(
  cloud: CloudProfile,
  env: NodeJS.ProcessEnv = process.env,
  exists: (p: string) => boolean = existsSync,
): string | undefined {
  return cloud.missingCredentials(env, exists);
}

/** Asks for the passphrase; resolves undefined when it cannot ask (no terminal). */
export type PassphrasePrompt = () => Promise<string | undefined>;

/** Prompts on the terminal without echo; undefined without a terminal. */
export const ttyPassphrasePrompt: PassphrasePrompt = async () => {
  if (!process.stdin.isTTY || !process.stderr.isTTY) return undefined;
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  const write = (rl as unknown as { _writeToOutput?: (s: string) => void })._writeToOutput;
  let muted = false;
  (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = (s: string) => {
    if (!muted && write) write.call(rl, s);
  };
  try {
    const question = rl.question("Passphrase for the Pulumi state of this deployment (PULUMI_CONFIG_PASSPHRASE): ");
    muted = true;
    const answer = await question;
    process.stderr.write("\n");
    return answer;
  } finally {
    rl.close();
  }
};

/**
 * The passphrase environment for the engine: PULUMI_CONFIG_PASSPHRASE or _FILE from the
 * environment (an explicitly empty passphrase counts), else the prompt's answer; else a CloudError.
 */
export async function passphraseEnv(
  env: NodeJS.ProcessEnv,
  prompt?: PassphrasePrompt,
): Promise<Record<string, string>> {
  if (env.PULUMI_CONFIG_PASSPHRASE !== undefined) return { PULUMI_CONFIG_PASSPHRASE: env.PULUMI_CONFIG_PASSPHRASE };
  if (env.PULUMI_CONFIG_PASSPHRASE_FILE) return { PULUMI_CONFIG_PASSPHRASE_FILE: env.PULUMI_CONFIG_PASSPHRASE_FILE };
  const answer = prompt ? await prompt() : undefined;
  if (answer !== undefined) return { PULUMI_CONFIG_PASSPHRASE: answer };
  throw new CloudError(
    "passphrase-missing",
    "the Pulumi state of cloud deployments is encrypted with a passphrase: set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE). Keep it: the same passphrase is needed for every later up and destroy",
  );
}

/** The variables the engine gets: the cloud's credentials and Pulumi's own, nothing else of ours. */
export function engineEnv(
  cloud: CloudProfile,
  env: NodeJS.ProcessEnv,
  extra: Record<string, string>,
): Record<string, string> {
  const out: Record<string, string> = { PULUMI_SKIP_UPDATE_CHECK: "true", PULUMI_SKIP_CONFIRMATIONS: "true" };
  for (const [k, v] of Object.entries(env))
    if (v !== undefined && (k.startsWith(cloud.envPrefix) || k === "PULUMI_HOME")) out[k] = v;
  return { ...out, ...extra };
}
