import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export type ServerArch = "x64" | "arm64";

/**
 * The Node LTS that drasyl-deploy ships to servers, from the npm packages that carry the official
 * binaries. The integrity is pinned here rather than taken from the registry at download time, so
 * a tampered registry answer cannot put a different binary on every super peer.
 */
export const NODE_RUNTIME = {
  version: "24.21.0",
  integrity: {
    x64: "sha512-3nULszZ5X0fciYpG0t6TrdApJzAn8+FlINP6OiMX7V8HrvpATPN936U1LlReOJriLRa4e8yEqQBYCnLyPNAs7Q==",
    arm64: "sha512-FpJRPEz2OvvTLfjIOlNGFY9JLPMKgl5m+d4oGYBLg24kJ1mmvN1Zl/HPJgF4HDaJ51ISev1l1cRZ/DM+keXW5g==",
  },
} as const;

export class RuntimeError extends Error {
  override readonly name = "RuntimeError";
}

export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const base =
    env.XDG_CACHE_HOME && env.XDG_CACHE_HOME.startsWith("/") ? env.XDG_CACHE_HOME : join(homedir(), ".cache");
  return join(base, "drasyl-deploy");
}

export function integrityOf(file: string): string {
  return `sha512-${createHash("sha512").update(readFileSync(file)).digest("base64")}`;
}

/**
 * Path to the pinned `node` binary for `arch`, downloaded once through npm (so the user's registry
 * and proxy settings apply), checked against the pinned integrity, and cached.
 */
export async function nodeRuntime(arch: ServerArch, cache = cacheDir()): Promise<string> {
  const { version } = NODE_RUNTIME;
  const dir = join(cache, "node", `${version}-linux-${arch}`);
  const binary = join(dir, "bin", "node");
  if (existsSync(binary)) return binary;

  mkdirSync(join(cache, "node"), { recursive: true });
  const work = mkdtempSync(join(cache, "node", ".download-"));
  try {
    const spec = `node-linux-${arch}@${version}`;
    try {
      await run("npm", ["pack", spec, "--silent", "--pack-destination", work], { timeout: 300_000 });
    } catch (e) {
      throw new RuntimeError(
        `could not download ${spec} from the npm registry: ${(e as Error).message.split("\n")[0]}`,
      );
    }
    const tgz = readdirSync(work).find((f) => f.endsWith(".tgz"));
    if (!tgz) throw new RuntimeError(`npm pack ${spec} produced no tarball`);
    const actual = integrityOf(join(work, tgz));
    if (actual !== NODE_RUNTIME.integrity[arch]) {
      throw new RuntimeError(
        `${spec} failed its integrity check (expected ${NODE_RUNTIME.integrity[arch]}, got ${actual}); not using it`,
      );
    }
    await run("tar", ["-xzf", join(work, tgz), "-C", work, "package/bin/node"]);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(join(dir, "bin"), { recursive: true });
    renameSync(join(work, "package", "bin", "node"), binary);
    return binary;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
