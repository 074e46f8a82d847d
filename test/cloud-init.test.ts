import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { installServer } from "../stacks/install/installer.ts";
import { CloudInitLabHost } from "./support/cloud-init-variant.ts";
import { labAvailable, labExec } from "../stacks/local/local-provider.ts";
import { renderUserData } from "../stacks/pulumi/cloud-init.ts";
import { ensureDeployKey } from "../stacks/pulumi/deploy-key.ts";
import { waitForSshLogin } from "../stacks/pulumi/ssh-ready.ts";
import type { Server } from "../stacks/provider.ts";
import { StateDir } from "../stacks/state/state-dir.ts";
import { vectorIdentity } from "./support/super-peer.ts";

/*
 * The user data for real: lab hosts from the cloud-init image variant (test/support/cloud-init-variant.ts),
 * seeded through NoCloud like a cloud's metadata service would, with the deployment key also in the
 * metadata's public-keys as Hetzner and EC2 hand it over. Then the installer goes onto one of them.
 */
const lab = labAvailable();
describe.skipIf(!lab.ok && process.env.CI !== "true")(
  `cloud-init on a lab host${lab.ok ? "" : ` (skipped: ${lab.reason})`}`,
  () => {
    const stateDir = mkdtempSync(join(tmpdir(), "drasyl-cloud-init-"));
    const unique = `${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;
    const key = ensureDeployKey(new StateDir(stateDir).forDeployment("ci"));
    const userHost = new CloudInitLabHost({
      stateDir,
      name: `ci-${unique}`,
      userData: renderUserData({ user: "drasyl-deploy", authorizedKey: key.publicKey }),
      metadataKeys: [key.publicKey],
    });
    const rootHost = new CloudInitLabHost({
      stateDir,
      name: `ci-root-${unique}`,
      userData: renderUserData({ user: "root", authorizedKey: key.publicKey }),
      metadataKeys: [key.publicKey],
    });
    let asLab: Server;
    let asUser: Server;
    let rootAsRoot: Server;

    const root = async (command: string): Promise<string> => {
      const r = await labExec(asLab, command, 120_000);
      expect(r.code, `${command}: ${r.stderr}`).toBe(0);
      return r.stdout.trim();
    };

    beforeAll(async () => {
      const [a, b] = await Promise.all([userHost.boot(), rootHost.boot()]);
      asLab = a;
      asUser = { ...a, name: "ci-user", ssh: { ...a.ssh, user: "drasyl-deploy", privateKeyPath: key.privateKeyPath } };
      rootAsRoot = { ...b, name: "ci-root", ssh: { ...b.ssh, user: "root", privateKeyPath: key.privateKeyPath } };
      // What the cloud providers wait for before they hand servers to the installer: a login as the
      // cloud-init user with the deployment key, after every cloud-init stage (which may restart sshd).
      await Promise.all([
        waitForSshLogin(asUser, { timeoutMs: 120_000, intervalMs: 500 }),
        waitForSshLogin(rootAsRoot, { timeoutMs: 120_000, intervalMs: 500 }),
      ]);
    }, 300_000);

    afterAll(async () => {
      const results = await Promise.allSettled([userHost.destroy(), rootHost.destroy()]);
      rmSync(stateDir, { recursive: true, force: true });
      for (const r of results) if (r.status === "rejected") throw r.reason;
    }, 120_000);

    it("cloud-init ran the user data from the NoCloud seed without errors", async () => {
      expect(await root("cloud-init status --wait >/dev/null; cloud-init status")).toBe("status: done");
      expect(JSON.parse(await root("cat /run/cloud-init/result.json"))).toMatchObject({ v1: { errors: [] } });
      expect(await root("cloud-init query v1.platform")).toBe("nocloud");
    });

    it("the login user works with the deployment key: own account, bash, locked password, passwordless sudo", async () => {
      const r = await labExec(
        asUser,
        "id -un; getent passwd drasyl-deploy | cut -d: -f7; sudo -n id -u; sudo -n passwd -S drasyl-deploy | cut -d' ' -f2",
      );
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.trim().split("\n")).toEqual(["drasyl-deploy", "/bin/bash", "0", "L"]);
      expect(await root("stat -c '%a %U' /home/drasyl-deploy/.ssh /home/drasyl-deploy/.ssh/authorized_keys")).toBe(
        "700 drasyl-deploy\n600 drasyl-deploy",
      );
      expect(await root("cat /home/drasyl-deploy/.ssh/authorized_keys")).toContain(key.publicKey.split(" ")[1]);
    });

    it("root is closed to the deployment key, and password logins are off", async () => {
      const r = await labExec({ ...asUser, ssh: { ...asUser.ssh, user: "root" } }, "id -u", 30_000);
      expect(r.code).not.toBe(0);
      expect(r.stdout).toMatch(/Please login as the user "?(drasyl-deploy|NONE)"? rather than the user "root"/);
      expect(await root("sshd -T 2>/dev/null | grep -E '^passwordauthentication '")).toBe("passwordauthentication no");
    });

    it("with root as login user, root takes the key", async () => {
      const r = await labExec(rootAsRoot, "id -u");
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.trim()).toBe("0");
    });

    it("the installer installs a super peer through the cloud-init login user", async () => {
      const progress: string[] = [];
      const r = await installServer(
        asUser,
        { identity: vectorIdentity("id_1") },
        {
          knownHostsFile: new StateDir(stateDir).knownHostsFile,
          prober: vectorIdentity("id_3"),
          onProgress: (m) => progress.push(m),
        },
      );
      expect(r.error, progress.join("\n")).toBeUndefined();
      expect(r.status).toBe("installed");
      expect(r.health?.udp).toMatchObject({ ok: true });
      expect(r.health?.tcp).toMatchObject({ ok: true });
    }, 180_000);
  },
);
