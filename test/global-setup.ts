import { execFileSync } from "node:child_process";

/** End-to-end tests run the bundles that ship, so build them once before any test. */
export default function setup(): void {
  execFileSync(process.execPath, ["scripts/build.mjs"], { stdio: "inherit" });
}
