import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The package root, found from this file whether it runs from sources or from the dist bundle. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, "utf8")) as { name?: string }).name === "drasyl-deploy")
      return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error("cannot find the drasyl-deploy package root");
    dir = parent;
  }
}

/** The single-file super peer that drasyl-deploy runs locally and ships to servers. */
export function superPeerBundle(): string {
  const file = join(packageRoot(), "dist", "drasyl-sp.mjs");
  if (!existsSync(file)) throw new Error(`${file} is missing: run "npm run build" first`);
  return file;
}
