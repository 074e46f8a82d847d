import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, isAbsolute, join } from "node:path";
import type { PulumiCommand } from "@pulumi/pulumi/automation/index.js";
import { MIN_PULUMI_CLI } from "../../stacks/pulumi/preflight.ts";
import { automationSdk, pulumiSemver } from "../../stacks/pulumi/sdk.ts";

/**
 * The Pulumi CLI the engine tests drive: `pulumi` on PATH, else the pinned release that
 * scripts/test-prereqs.sh builds from the Go module proxy into the cache (the paths must match).
 */
export const PULUMI_TEST_CLI_VERSION = "v3.274.1";

/** Where scripts/test-prereqs.sh puts the binary it builds. */
export function cachedPulumiCli(home = homedir()): string {
  return join(home, ".cache", "drasyl-deploy", "pulumi-cli", PULUMI_TEST_CLI_VERSION, "bin", "pulumi");
}

const DYNAMIC_PLUGIN = "pulumi-resource-pulumi-nodejs";

export type TestCli = { command: PulumiCommand; skip?: undefined } | { command?: undefined; skip: string };

/**
 * The CLI, or why the engine tests skip. In CI (CI=true) a missing CLI is an error: there the
 * prerequisites script must have provided it.
 */
export async function findTestPulumiCli(env: NodeJS.ProcessEnv = process.env): Promise<TestCli> {
  const { PulumiCommand } = automationSdk();
  const min = new (pulumiSemver().SemVer)(MIN_PULUMI_CLI);
  const problems: string[] = [];
  const cached = cachedPulumiCli();
  // PulumiCommand.get runs <root>/bin/pulumi, or `pulumi` from PATH without a root.
  const roots = existsSync(cached) ? [undefined, dirname(dirname(cached))] : [undefined];
  for (const root of roots) {
    try {
      const command = await PulumiCommand.get({ root, version: min });
      // The stand-in resources need the pulumi-nodejs plugin that a Pulumi release ships next to its CLI.
      const plugin = join(dirname(command.command), DYNAMIC_PLUGIN);
      if (isAbsolute(command.command) && !existsSync(plugin)) throw new Error(`${plugin} is missing`);
      return { command };
    } catch (e) {
      problems.push(`${root ? cached : "pulumi on PATH"}: ${(e as Error).message.split("\n")[0]}`);
    }
  }
  const skip = `no usable Pulumi CLI (${problems.join("; ")}); run \`bash scripts/test-prereqs.sh\` to build ${PULUMI_TEST_CLI_VERSION} into ${cached}`;
  if (env.CI === "true") throw new Error(`the Pulumi engine tests must run in CI: ${skip}`);
  return { skip };
}
