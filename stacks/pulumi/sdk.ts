import { createRequire } from "node:module";
import type * as AutomationModule from "@pulumi/pulumi/automation/index.js";
import type * as PulumiModule from "@pulumi/pulumi";

/*
 * The Pulumi SDKs are loaded on first use, through require():
 * - they are CommonJS, and `import ... from "@pulumi/pulumi/automation"` is a directory import,
 *   which plain Node ESM refuses (ERR_UNSUPPORTED_DIR_IMPORT) although vitest accepts it;
 * - the CLI is one esbuild bundle with the packages external, and esbuild hoists every static
 *   import of an external package to the top of the bundle: a static import here would load
 *   @pulumi/pulumi and a cloud provider package (about 1.3 s) on every `drasyl-deploy` run, even for the local lab.
 * require() resolves from this file (or from dist/ in the bundle) to the package's node_modules,
 * and shares Node's module cache with `import "@pulumi/pulumi"` elsewhere (tests set mocks on it).
 */
const load = createRequire(import.meta.url);

export type Pulumi = typeof PulumiModule;
export type Automation = typeof AutomationModule;

export function pulumiSdk(): Pulumi {
  return load("@pulumi/pulumi") as Pulumi;
}

export function automationSdk(): Automation {
  return load("@pulumi/pulumi/automation/index.js") as Automation;
}

/** A cloud's Pulumi provider package, loaded the same way (each cloud's sdk.ts names its own). */
export function requirePackage(name: string): unknown {
  return load(name);
}

/** The version of the Pulumi SDK drasyl-deploy ships (the CLI must be at least as new as MIN_PULUMI_CLI). */
export function pulumiSdkVersion(): string {
  return (load("@pulumi/pulumi/package.json") as { version: string }).version;
}

/** The semver module the Pulumi SDK itself uses (PulumiCommand wants its SemVer instances). */
export function pulumiSemver(): typeof import("semver") {
  return createRequire(load.resolve("@pulumi/pulumi"))("semver") as typeof import("semver");
}
