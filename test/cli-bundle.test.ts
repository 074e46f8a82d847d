import { execFile, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { packageRoot } from "../stacks/package-files.ts";

/* The bundle that ships (dist/drasyl-deploy.mjs, built by the global setup) and how it reaches the Pulumi SDKs. */

const exec = promisify(execFile);
const tmp = mkdtempSync(join(tmpdir(), "drasyl-cli-bundle-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("the built CLI", () => {
  const dist = join(packageRoot(), "dist", "drasyl-deploy.mjs");

  it("does not load the Pulumi SDKs at startup (no static import of them in the bundle)", () => {
    const bundle = readFileSync(dist, "utf8");
    expect(bundle).not.toMatch(/^import [^;]* from "@pulumi\//m);
    expect(bundle).toContain('"@pulumi/pulumi/automation/index.js"');
  });

  it("loads the Automation API under plain node from the bundle's location, where the directory import fails", async () => {
    const script = `
      import { createRequire } from "node:module";
      const r = createRequire(${JSON.stringify(dist)});
      const a = r("@pulumi/pulumi/automation/index.js");
      let dirImport = "ok";
      try { await import(${JSON.stringify(join(packageRoot(), "node_modules", "@pulumi", "pulumi", "automation"))}); } catch (e) { dirImport = e.code; }
      console.log(typeof a.LocalWorkspace.createOrSelectStack, typeof a.PulumiCommand.install, dirImport);`;
    const { stdout } = await exec(process.execPath, ["--input-type=module", "-e", script], { cwd: tmp });
    expect(stdout.trim()).toBe("function function ERR_UNSUPPORTED_DIR_IMPORT");
  });

  it("`up --dry-run` of a cloud config runs the preflight through the bundled Automation API", async () => {
    const dir = mkdtempSync(join(tmp, "cli-"));
    writeFileSync(
      join(dir, "drasyl-deploy.yaml"),
      "deployment: t\ntargets:\n  - kind: hcloud\n    locations: [fsn1, { location: nbg1, serverType: cax11 }]\n    allowSsh: [203.0.113.7/32]\n",
    );
    const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir };
    const { stdout } = await exec(process.execPath, [dist, "--state-dir", join(dir, "state"), "up", "--dry-run"], {
      cwd: dir,
      env,
    });
    const lines = stdout.trim().split("\n");
    expect(lines.slice(0, 2)).toEqual([
      "t-fsn1: hcloud server cx23 (x64), debian-12, in fsn1 (created if missing)",
      "t-nbg1: hcloud server cax11 (arm64), debian-12, in nbg1 (created if missing)",
    ]);
    expect(stdout).toMatch(/hcloud: no Pulumi preview: cannot run the hcloud stack:/);
    expect(stdout).toMatch(/no Hetzner Cloud credentials: set HCLOUD_TOKEN/);
    expect(stdout).toMatch(/set PULUMI_CONFIG_PASSPHRASE/);
    if (spawnSync("sh", ["-c", "command -v pulumi"]).status !== 0)
      expect(stdout).toMatch(/the Pulumi CLI is not installed/);
  });
});
