import { createHash } from "node:crypto";
import { createReadStream, statSync } from "node:fs";
import { superPeerBundle } from "../package-files.ts";
import type { ServerArch } from "../provider.ts";
import { NODE_RUNTIME, nodeRuntime } from "./node-runtime.ts";
import type { Release } from "./plan.ts";

/** A local Node binary for an architecture, e.g. from nodeRuntime(). */
export type RuntimeSource = (arch: ServerArch) => Promise<{ path: string; version: string }>;

export const pinnedRuntime: RuntimeSource = async (arch) => ({
  path: await nodeRuntime(arch),
  version: NODE_RUNTIME.version,
});

// Servers install in parallel from the same files; the 120 MB runtime is hashed once, not per server.
const hashes = new Map<string, Promise<string>>();

export function fileSha256(path: string): Promise<string> {
  const st = statSync(path);
  const key = `${path}\0${st.size}\0${st.mtimeMs}`;
  let h = hashes.get(key);
  if (!h) {
    h = new Promise<string>((resolve, reject) => {
      const hash = createHash("sha256");
      createReadStream(path)
        .on("data", (d) => hash.update(d))
        .on("error", reject)
        .on("end", () => resolve(hash.digest("hex")));
    });
    hashes.set(key, h);
    h.catch(() => hashes.delete(key));
  }
  return h;
}

/** The release for a server of `arch`: its id names the content, so an unchanged bundle and runtime is the same release. */
export async function resolveRelease(
  arch: ServerArch,
  bundlePath: string = superPeerBundle(),
  runtime: RuntimeSource = pinnedRuntime,
): Promise<Release> {
  const rt = await runtime(arch);
  const [bundleSha, runtimeSha] = await Promise.all([fileSha256(bundlePath), fileSha256(rt.path)]);
  return {
    id: `${bundleSha.slice(0, 12)}-node${rt.version}`,
    bundle: { path: bundlePath, sha256: bundleSha },
    runtime: { version: rt.version, arch, path: rt.path, sha256: runtimeSha },
  };
}
