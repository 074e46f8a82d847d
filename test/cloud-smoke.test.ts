import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { packageRoot } from "../stacks/package-files.ts";
import { AWS_PROFILE } from "../stacks/aws/profile.ts";
import { HCLOUD_PROFILE } from "../stacks/hcloud/profile.ts";
import { missingCredentials } from "../stacks/pulumi/preflight.ts";

/*
 * The real-cloud smoke test: `npm run test:cloud`. Per cloud with credentials in the environment
 * (HCLOUD_TOKEN; AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY or AWS_PROFILE), it deploys ONE super
 * peer with the built CLI, probes it with real drasyl HELLOs over UDP and TCP (`status`), reads
 * `peers`, and destroys it again, whatever happened before. It costs a few cents and needs the
 * Pulumi CLI and internet. It never runs as part of `npm test`: DRASYL_DEPLOY_CLOUD_TEST=1 (set by
 * the npm script) must be there too.
 *
 * DRASYL_SMOKE_HCLOUD_LOCATION (default fsn1) and DRASYL_SMOKE_AWS_REGION (default eu-central-1)
 * pick where; PULUMI_CONFIG_PASSPHRASE is made up when unset (the state is thrown away afterwards).
 */

const exec = promisify(execFile);
const optIn = process.env.DRASYL_DEPLOY_CLOUD_TEST === "1";
const clouds = [
  {
    kind: "hcloud" as const,
    profile: HCLOUD_PROFILE,
    target: `kind: hcloud\n    locations: [${process.env.DRASYL_SMOKE_HCLOUD_LOCATION ?? "fsn1"}]`,
  },
  {
    kind: "aws" as const,
    profile: AWS_PROFILE,
    target: `kind: aws\n    regions: [${process.env.DRASYL_SMOKE_AWS_REGION ?? "eu-central-1"}]`,
  },
];

interface StatusRow {
  server: string;
  healthy: boolean;
  udp?: { ok: boolean };
  tcp?: { ok: boolean };
}

for (const cloud of clouds) {
  const missing = missingCredentials(cloud.profile);
  const why = !optIn ? "run it with `npm run test:cloud`" : missing ? `no credentials: ${missing.split(":")[0]}` : "";
  describe.skipIf(!optIn || missing !== undefined)(
    `real ${cloud.kind}: deploy one super peer, probe it, destroy it${why ? ` (skipped: ${why})` : ""}`,
    () => {
      // Made in beforeAll: vitest runs a skipped describe's body too, when it collects the tests.
      let dir = "";
      let stateDir = "";
      let config = "";
      const deployment = `smoke-${randomBytes(3).toString("hex")}`;
      const env = {
        ...process.env,
        PULUMI_CONFIG_PASSPHRASE: process.env.PULUMI_CONFIG_PASSPHRASE ?? randomBytes(16).toString("hex"),
      };
      beforeAll(() => {
        dir = mkdtempSync(join(tmpdir(), `drasyl-smoke-${cloud.kind}-`));
        stateDir = join(dir, "state");
        config = join(dir, "drasyl-deploy.yaml");
        writeFileSync(config, `deployment: ${deployment}\ntargets:\n  - ${cloud.target}\n`);
      });

      async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
        try {
          const r = await exec(
            process.execPath,
            [join(packageRoot(), "dist", "drasyl-deploy.mjs"), "--state-dir", stateDir, ...args, "--config", config],
            {
              env,
              timeout: 20 * 60_000,
              maxBuffer: 64 * 1024 * 1024,
            },
          );
          return { code: 0, ...r };
        } catch (e) {
          const err = e as { code?: number; stdout?: string; stderr?: string };
          return {
            code: typeof err.code === "number" ? err.code : 1,
            stdout: err.stdout ?? "",
            stderr: err.stderr ?? "",
          };
        }
      }

      afterAll(async () => {
        const r = await cli("destroy", "--yes");
        if (r.code !== 0) {
          // Say it loudly: real servers may still be running and costing money.
          console.error(
            `DESTROY FAILED for deployment ${deployment}: remove its resources by hand (labels/tags managed-by=drasyl-deploy, deployment=${deployment}); state kept in ${stateDir}\n${r.stderr}`,
          );
          throw new Error(`destroy failed (exit ${r.code})`);
        }
        rmSync(dir, { recursive: true, force: true });
      }, 30 * 60_000);

      it(
        "up creates the server, installs the super peer and prints DRASYL_SUPER_PEERS",
        async () => {
          const r = await cli("up");
          expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
          expect(r.stdout).toMatch(/DRASYL_SUPER_PEERS=/);
          expect(r.stderr).toMatch(/SSH ready at /);
        },
        30 * 60_000,
      );

      it(
        "status probes it over UDP and TCP with real drasyl HELLOs",
        async () => {
          const r = await cli("status", "--json");
          expect(r.code, r.stderr).toBe(0);
          const rows = JSON.parse(r.stdout) as StatusRow[];
          expect(rows).toHaveLength(1);
          expect(rows[0]).toMatchObject({ healthy: true, udp: { ok: true }, tcp: { ok: true } });
        },
        5 * 60_000,
      );

      it(
        "peers prints the client line for it",
        async () => {
          const r = await cli("peers", "--format", "lines");
          expect(r.code, r.stderr).toBe(0);
          expect(r.stdout.trim().split("\n")).toHaveLength(1);
        },
        5 * 60_000,
      );

      it(
        "a second up changes nothing",
        async () => {
          const r = await cli("up");
          expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
          expect(r.stdout).toMatch(/unchanged/);
        },
        30 * 60_000,
      );
    },
  );
}
