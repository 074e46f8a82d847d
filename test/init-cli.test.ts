import { execFile } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../cli/config/load.ts";
import { packageRoot } from "../stacks/package-files.ts";
import { loadIdentity } from "../stacks/state/identities.ts";
import { StateDir } from "../stacks/state/state-dir.ts";
import { fingerprint, parseOpenSshKey } from "../stacks/install/host-keys.ts";
import { labAvailable, labHostKey, LocalProvider } from "../stacks/local/local-provider.ts";
import type { Server } from "../stacks/provider.ts";
import { type FakeHcloud, startFakeHcloud } from "./support/fake-hcloud.ts";
import { startFakeSts } from "./support/fake-sts.ts";
import { Tmux, tmuxAvailable } from "./support/tmux.ts";

const execRaw = promisify(execFile);
const CLI = join(packageRoot(), "dist", "drasyl-deploy.mjs");
const dir = mkdtempSync(join(tmpdir(), "dd-init-"));
const stateDir = join(dir, "state");
// No ssh-agent and no ~/.ssh of whoever runs the tests: the key choices are the test's own.
const home = join(dir, "home");
mkdirSync(join(home, ".ssh"), { recursive: true });
// The machine's cache stays: the lab's base image and the Node runtimes are built or fetched once per machine, not per test.
const cache = process.env.XDG_CACHE_HOME?.startsWith("/") ? process.env.XDG_CACHE_HOME : join(homedir(), ".cache");
const baseEnv: Record<string, string> = {
  PATH: process.env.PATH ?? "/usr/bin:/bin",
  HOME: home,
  XDG_CACHE_HOME: cache,
  TERM: "xterm-256color",
  LANG: "C.UTF-8",
};

let fake: FakeHcloud;
beforeAll(async () => {
  fake = await startFakeHcloud("good-token");
});
afterAll(async () => {
  await fake.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The built CLI without a terminal (stdin is not a TTY). */
async function cli(
  cwd: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await execRaw(process.execPath, [CLI, "--state-dir", stateDir, ...args], {
      cwd,
      env: { ...baseEnv, ...env },
      timeout: 600_000,
      maxBuffer: 16 << 20,
    });
    return { code: 0, ...r };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === "number" ? err.code : 1, stdout: err.stdout ?? "", stderr: err.stderr ?? "" };
  }
}

function workdir(name: string): string {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true });
  return d;
}

describe("drasyl-deploy init without a terminal", () => {
  it("--yes writes the local sandbox with the defaults", async () => {
    const cwd = workdir("yes-local");
    const r = await cli(cwd, ["init", "--yes", "--target", "local", "--name", "ci-local"]);
    expect(r.code, r.stderr).toBe(0);
    const config = parseConfig(readFileSync(join(cwd, "drasyl-deploy.yaml"), "utf8"), "f");
    expect(config).toMatchObject({
      deployment: "ci-local",
      networkId: 1,
      ports: { udp: 22527, tcp: 443 },
      targets: [{ kind: "local", regions: ["lab-1", "lab-2", "lab-3"] }],
    });
    expect(r.stdout).toContain("Deploy with: drasyl-deploy up");
  });

  it("--yes for Hetzner Cloud checks the token against the API and keeps it out of the file", async () => {
    const cwd = workdir("yes-hcloud");
    const env = { HCLOUD_TOKEN: "good-token", HCLOUD_ENDPOINT: fake.url };
    const r = await cli(
      cwd,
      [
        "init",
        "--yes",
        "--target",
        "hcloud",
        "--regions",
        "fsn1,ash",
        "--network-id",
        "1234",
        "--server-type",
        "cpx22",
        "--name",
        "ci-hc",
      ],
      env,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("HCLOUD_TOKEN accepted: 6 locations, 4 server types.");
    const text = readFileSync(join(cwd, "drasyl-deploy.yaml"), "utf8");
    expect(text).not.toContain("good-token");
    expect(parseConfig(text, "f")).toMatchObject({
      networkId: 1234,
      targets: [{ kind: "hcloud", locations: ["fsn1", "ash"], serverType: "cpx22" }],
    });
    // A type the API does not offer in every chosen location names the flag.
    const bad = await cli(
      workdir("yes-hcloud-bad-type"),
      ["init", "--yes", "--target", "hcloud", "--regions", "fsn1,ash", "--server-type", "cx23"],
      env,
    );
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--server-type "cx23": cx23 .* is not available in ash/);
  });

  it("--yes with a rejected token stops with where to create one, writing nothing", async () => {
    const cwd = workdir("yes-hcloud-401");
    const r = await cli(cwd, ["init", "--yes", "--target", "hcloud"], {
      HCLOUD_TOKEN: "wrong",
      HCLOUD_ENDPOINT: fake.url,
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/rejected HCLOUD_TOKEN \(HTTP 401\): create one in the Hetzner Cloud Console/);
    expect(existsSync(join(cwd, "drasyl-deploy.yaml"))).toBe(false);
  });

  it("--yes for AWS takes the regions and the instance type from flags", async () => {
    const cwd = workdir("yes-aws");
    const r = await cli(cwd, [
      "init",
      "--yes",
      "--target",
      "aws",
      "--regions",
      "eu-central-1,ap-northeast-1",
      "--instance-type",
      "t4g.micro",
      "--tcp-port",
      "8443",
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("AWS credentials: not checked");
    expect(parseConfig(readFileSync(join(cwd, "drasyl-deploy.yaml"), "utf8"), "f")).toMatchObject({
      ports: { tcp: 8443 },
      targets: [{ kind: "aws", regions: ["eu-central-1", "ap-northeast-1"], instanceType: "t4g.micro" }],
    });
    const sts = await startFakeSts("AKIDGOOD");
    try {
      const keys = { AWS_SECRET_ACCESS_KEY: "s3cr3t-value", AWS_ENDPOINT_URL_STS: sts.url };
      const good = await cli(workdir("yes-aws-sts"), ["init", "--yes", "--target", "aws"], {
        ...keys,
        AWS_ACCESS_KEY_ID: "AKIDGOOD",
      });
      expect(good.stdout).toContain(
        "AWS credentials accepted: account 123456789012 (arn:aws:iam::123456789012:user/ci).",
      );
      expect(readFileSync(join(dir, "yes-aws-sts", "drasyl-deploy.yaml"), "utf8")).not.toMatch(/AKIDGOOD|s3cr3t-value/);
      const rejected = await cli(workdir("yes-aws-sts-bad"), ["init", "--yes", "--target", "aws"], {
        ...keys,
        AWS_ACCESS_KEY_ID: "AKIDBAD",
      });
      expect(rejected.code).toBe(2);
      expect(rejected.stderr).toMatch(
        /AWS rejected the credentials \(InvalidClientTokenId: .*\): create an access key/,
      );
      expect(rejected.stderr).not.toContain("NodeVersionSupportWarning");
    } finally {
      await sts.close();
    }
    const bad = await cli(workdir("yes-aws-bad"), ["init", "--yes", "--target", "aws", "--regions", "mars-1"]);
    expect(bad.stderr).toContain('--regions "mars-1": "mars-1" is not an AWS region name');
  });

  it("a wrong flag value names the flag and what it takes", async () => {
    const cwd = workdir("bad-flags");
    const cases: [string[], string][] = [
      [["--target", "gcp"], '--target "gcp": unknown target "gcp": use hcloud, aws, existing, local'],
      [["--network-id", "12x"], '--network-id "12x": a 32-bit signed integer, or random'],
      [["--tcp-port", "0"], '--tcp-port "0": a port number, 1-65535'],
      [["--name", "My_Peers"], "--name \"My_Peers\": 1-32 characters of a-z, 0-9 and '-'"],
      [
        ["--target", "local,hcloud", "--regions", "fsn1"],
        '--regions "fsn1": with several targets, prefix each region with its target',
      ],
    ];
    for (const [flags, message] of cases) {
      const r = await cli(cwd, ["init", "--yes", ...flags]);
      expect(r.code, flags.join(" ")).toBe(2);
      expect(r.stderr).toContain(message);
    }
    expect(existsSync(join(cwd, "drasyl-deploy.yaml"))).toBe(false);
    // Without a token the built-in catalog decides: any type of a family offered in the location.
    expect(
      (await cli(cwd, ["init", "--yes", "--target", "hcloud", "--regions", "ash", "--server-type", "cpx32"])).code,
    ).toBe(0);
  });

  it("a re-run with --yes keeps what the file says, even values init does not list", async () => {
    const cwd = workdir("yes-keep");
    const file = join(cwd, "drasyl-deploy.yaml");
    expect(
      (
        await cli(cwd, [
          "init",
          "--yes",
          "--target",
          "hcloud,local",
          "--regions",
          "hcloud:nbg1,local:a,local:b",
          "--server-type",
          "cpx32",
          "--network-id",
          "-5",
        ])
      ).code,
    ).toBe(0);
    const before = readFileSync(file, "utf8");
    const again = await cli(cwd, ["init", "--yes"]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain("drasyl-deploy.yaml already says exactly this: nothing to write.");
    expect(readFileSync(file, "utf8")).toBe(before);
    expect(parseConfig(before, "f")).toMatchObject({
      networkId: -5,
      targets: [
        { kind: "hcloud", locations: ["nbg1"], serverType: "cpx32" },
        { kind: "local", regions: ["a", "b"] },
      ],
    });
  });

  it("a missing answer names its flag; an existing file is only overwritten with --force", async () => {
    const cwd = workdir("no-tty");
    const r = await cli(cwd, ["init", "--target", "local"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      "Deployment name: no answer (there is no terminal to ask on): pass --name, or --yes to take the defaults",
    );
    const host = await cli(cwd, ["init", "--yes", "--target", "existing"]);
    expect(host.stderr).toContain("pass --host");
    expect(existsSync(join(cwd, "drasyl-deploy.yaml"))).toBe(false);

    expect((await cli(cwd, ["init", "--yes", "--target", "local", "--name", "one"])).code).toBe(0);
    const before = readFileSync(join(cwd, "drasyl-deploy.yaml"), "utf8");
    const again = await cli(cwd, ["init", "--yes", "--name", "two"]);
    expect(again.code).toBe(2);
    expect(again.stdout).toMatch(/^-deployment: one\n\+deployment: two$/m);
    expect(again.stderr).toContain("pass --force to overwrite it");
    expect(readFileSync(join(cwd, "drasyl-deploy.yaml"), "utf8")).toBe(before);
    // A re-run takes the file's values as defaults: only the name changes.
    expect((await cli(cwd, ["init", "--yes", "--name", "two", "--force"])).code).toBe(0);
    expect(readFileSync(join(cwd, "drasyl-deploy.yaml"), "utf8")).toBe(
      before.replace("deployment: one", "deployment: two"),
    );
  });
});

const terminal = tmuxAvailable();
const lab = labAvailable().ok;

describe.skipIf(!terminal)("drasyl-deploy init in a terminal (tmux)", () => {
  const tmux = new Tmux(join(dir, "tmux.sock"));
  afterAll(() => tmux.killServer());

  it("Hetzner Cloud: a rejected token is reported at once; Ctrl-C writes nothing and exits 130", async () => {
    const cwd = workdir("tty-hcloud-401");
    const t = tmux.start([process.execPath, CLI, "--state-dir", stateDir, "init"], {
      cwd,
      env: { ...baseEnv, HCLOUD_TOKEN: "wrong", HCLOUD_ENDPOINT: fake.url },
    });
    await t.answer(/^\? Deployment name/m, "Enter");
    // With a token set, Hetzner Cloud is preselected.
    await t.answer(/^\? Where should the super peers run/m, "Enter");
    const s = await t.waitFor(/^\? Continue with the built-in list/m);
    expect(s).toContain(`Reading locations and server types from the Hetzner Cloud API (${fake.url})`);
    expect(s).toMatch(
      /✗ Hetzner Cloud rejected HCLOUD_TOKEN \(HTTP 401\): create one in the Hetzner Cloud Console: your project > Security > API tokens/,
    );
    t.keys("C-c");
    expect(await t.exitCode()).toBe(130);
    expect(t.screen()).toContain("Cancelled: nothing written.");
    expect(existsSync(join(cwd, "drasyl-deploy.yaml"))).toBe(false);
    t.kill();
  });

  it("Hetzner Cloud: live locations and server types with monthly prices", async () => {
    const cwd = workdir("tty-hcloud");
    const t = tmux.start([process.execPath, CLI, "--state-dir", stateDir, "init"], {
      cwd,
      env: { ...baseEnv, HCLOUD_TOKEN: "good-token", HCLOUD_ENDPOINT: fake.url },
    });
    await t.answer(/^\? Deployment name/m, "C-u");
    t.type("hc-tty");
    t.keys("Enter");
    await t.answer(/^\? Where should the super peers run/m, "Enter");
    let s = await t.waitFor(/^\? Hetzner Cloud locations/m);
    expect(s).toContain("HCLOUD_TOKEN accepted: 6 locations, 4 server types.");
    expect(s).toContain("not offered, this drasyl-deploy does not support them yet: xyz9");
    expect(s).toMatch(/◉ fsn1 +Falkenstein, DE/);
    expect(s).toMatch(/◯ hel1 +Helsinki, FI/);
    // fsn1, ash and sin are preselected; add hel1 (the third entry).
    t.keys("Down", "Down", "Space", "Enter");
    s = await t.waitFor(/^\? Hetzner Cloud server type/m);
    expect(s).toContain(
      "default: the smallest shared-CPU type (cx23 in fsn1, hel1 €4.19/month, cpx22 in ash, sin €9.49/month)",
    );
    expect(s).toMatch(/cpx22 +2 vCPU, 4 GB, x86, €7\.99-9\.49\/month/);
    expect(s).toMatch(/ccx13 +2 vCPU, 8 GB, x86, €15\.49\/month/);
    expect(s).not.toMatch(/cx23 +2 vCPU/);
    t.keys("Down", "Enter");
    await t.answer(/^\? Network id/m, "Enter");
    await t.answer(/^\? TCP fallback port/m, "Enter");
    s = await t.waitFor(/^\? Run `drasyl-deploy up` now\?/m);
    expect(s).toContain("Wrote drasyl-deploy.yaml.");
    expect(s).toContain("#   HCLOUD_TOKEN");
    // Ctrl-C after the file is written only declines `up`, and does not claim nothing was written.
    t.keys("C-c");
    expect(await t.exitCode()).toBe(130);
    expect(t.screen()).toContain("Deploy with: drasyl-deploy up");
    expect(t.screen()).not.toContain("nothing written");
    const text = readFileSync(join(cwd, "drasyl-deploy.yaml"), "utf8");
    expect(text).not.toContain("good-token");
    expect(parseConfig(text, "f")).toMatchObject({
      deployment: "hc-tty",
      targets: [{ kind: "hcloud", locations: ["fsn1", "hel1", "ash", "sin"], serverType: "cpx22" }],
    });
    t.kill();
  });

  it("a re-run offers the file's values, shows the diff and overwrites only when told to", async () => {
    const cwd = workdir("tty-rerun");
    expect((await cli(cwd, ["init", "--yes", "--target", "local", "--name", "rerun", "--network-id", "77"])).code).toBe(
      0,
    );
    const before = readFileSync(join(cwd, "drasyl-deploy.yaml"), "utf8");
    const rerun = async (overwrite: string): Promise<number> => {
      const t = tmux.start([process.execPath, CLI, "--state-dir", stateDir, "init"], { cwd, env: baseEnv });
      let s = await t.waitFor(/^\? Deployment name: \(rerun\)/m);
      expect(s).toContain("drasyl-deploy.yaml exists: its values are the defaults.");
      t.keys("Enter");
      await t.answer(/^\? Where should the super peers run/m, "Enter");
      await t.answer(/^\? How many lab servers/m, "Down", "Enter");
      s = await t.waitFor(/^\? Network id/m);
      expect(s).toMatch(/❯ 77: as in the current file/);
      t.keys("Enter");
      await t.answer(/^\? TCP fallback port/m, "Enter");
      s = await t.waitFor(/^\? Overwrite drasyl-deploy\.yaml with these changes\?/m);
      expect(s).toMatch(/^- {4}regions: \[lab-1, lab-2, lab-3\]\n\+ {4}regions: \[lab-1, lab-2, lab-3, lab-4\]$/m);
      t.keys(overwrite, "Enter");
      if (overwrite === "y") await t.answer(/^\? Run `drasyl-deploy up` now\?/m, "n", "Enter");
      const code = await t.exitCode();
      t.kill();
      return code;
    };
    expect(await rerun("n")).toBe(1);
    expect(readFileSync(join(cwd, "drasyl-deploy.yaml"), "utf8")).toBe(before);
    expect(await rerun("y")).toBe(0);
    expect(readFileSync(join(cwd, "drasyl-deploy.yaml"), "utf8")).toBe(
      before.replace("[lab-1, lab-2, lab-3]", "[lab-1, lab-2, lab-3, lab-4]"),
    );
  });

  describe.skipIf(!lab)("with lab servers", () => {
    const deployment = `it${process.pid % 10000}`;
    const hostLab = new LocalProvider({
      state: new StateDir(join(dir, "lab-state")).forDeployment(`ih${process.pid % 10000}`),
      regions: ["x"],
      sshUser: "deploy",
    });
    const written: string[] = [];
    afterAll(async () => {
      for (const config of written) await cli(dir, ["destroy", "--yes", "--config", config]);
      await hostLab.destroy();
    }, 300_000);

    it("local sandbox: the answers become a file, and `up` from the wizard deploys super peers that answer", async () => {
      const cwd = workdir("tty-local");
      const t = tmux.start([process.execPath, CLI, "--state-dir", stateDir, "init"], { cwd, env: baseEnv });
      await t.answer(/^\? Deployment name/m);
      t.type(`Bad_Name${deployment}`);
      t.keys("Enter");
      await t.waitFor(/1-32 characters of a-z, 0-9 and '-'/);
      for (let i = 0; i < `Bad_Name${deployment}`.length; i++) t.keys("BSpace");
      t.type(deployment);
      t.keys("Enter");
      let s = await t.waitFor(/^\? Where should the super peers run/m);
      expect(s).toMatch(/◉ local sandbox/);
      expect(s).toMatch(/◯ Hetzner Cloud/);
      t.keys("Enter");
      await t.answer(/^\? How many lab servers/m, "Up", "Up", "Enter");
      s = await t.waitFor(/^\? Network id/m);
      expect(s).toContain("All super peers and nodes of one drasyl network share its network id");
      const random = Number(/(\d+): a random id/.exec(s)?.[1]);
      t.keys("Down", "Enter");
      await t.answer(/^\? TCP fallback port/m, "Enter");
      s = await t.waitFor(/^\? Run `drasyl-deploy up` now\?/m);
      expect(s).toMatch(/^ {2}- kind: local\n {4}regions: \[lab-1\]$/m);
      written.push(join(cwd, "drasyl-deploy.yaml"));
      expect(parseConfig(readFileSync(join(cwd, "drasyl-deploy.yaml"), "utf8"), "f")).toMatchObject({
        deployment,
        networkId: random,
        targets: [{ kind: "local", regions: ["lab-1"] }],
      });
      t.keys("Enter");
      expect(await t.exitCode(300_000)).toBe(0);
      s = t.screen();
      const key = loadIdentity(new StateDir(stateDir).forDeployment(deployment), `${deployment}-lab-1`)?.publicKeyHex;
      expect(s).toMatch(new RegExp(`^${deployment}-lab-1 +installed +\\S+ +[\\d.]+ ms +[\\d.]+ ms$`, "m"));
      expect(s).toContain(`publicKey=${key}&networkId=${random}&tcpPort=443`);
      t.kill();
      const status = await cli(cwd, ["status", "--json"]);
      expect(JSON.parse(status.stdout)).toEqual([
        expect.objectContaining({
          healthy: true,
          udp: expect.objectContaining({ ok: true }),
          tcp: expect.objectContaining({ ok: true }),
        }),
      ]);
    }, 400_000);

    it("existing server: a wrong host is corrected, the host key fingerprint is shown and pinned, `up` installs", async () => {
      const [server] = (await hostLab.apply()) as [Server];
      const hostKey = await labHostKey(server);
      copyFileSync(server.ssh.privateKeyPath ?? "", join(home, ".ssh", "id_ed25519"));
      copyFileSync(`${server.ssh.privateKeyPath ?? ""}.pub`, join(home, ".ssh", "id_ed25519.pub"));
      const cwd = workdir("tty-existing");
      const t = tmux.start([process.execPath, CLI, "--state-dir", stateDir, "init"], { cwd, env: baseEnv });
      await t.answer(/^\? Deployment name/m, "C-u");
      t.type("ex-tty");
      t.keys("Enter");
      // Uncheck the preselected local sandbox, check "servers you already have".
      await t.answer(/^\? Where should the super peers run/m, "Down", "Down", "Space", "Down", "Space", "Enter");
      await t.answer(/^\? Network id/m, "Enter");
      await t.answer(/^\? TCP fallback port/m, "Enter");
      await t.answer(/^\? Server address/m);
      t.type("no-such-host.invalid");
      t.keys("Enter");
      await t.answer(/^\? SSH port/m, "Enter");
      await t.answer(/^\? SSH user/m);
      for (let i = 0; i < 4; i++) t.keys("BSpace");
      t.type("deploy");
      t.keys("Enter");
      let s = await t.waitFor(/^\? SSH key to log in with/m);
      expect(s).toMatch(/~\/\.ssh\/id_ed25519 \(ssh-ed25519 SHA256:\S+/);
      expect(s).toContain("a new key drasyl-deploy makes for this deployment");
      t.keys("Enter");
      await t.answer(/^\? DNS name clients should use/m, "Enter");
      s = await t.waitFor(/Fix that and enter the server again/);
      expect(s).toMatch(
        /✗ cannot reach server "no-such-host" \(deploy@no-such-host\.invalid:22\) over SSH: the name no-such-host\.invalid does not resolve/,
      );
      await t.answer(/^\? Server address/m);
      for (let i = 0; i < "no-such-host.invalid".length; i++) t.keys("BSpace");
      t.type(server.ipv4 ?? "");
      t.keys("Enter");
      await t.answer(/^\? SSH port/m, "Enter");
      await t.answer(/^\? SSH user/m, "Enter");
      await t.answer(/^\? SSH key to log in with/m, "Enter");
      await t.answer(/^\? DNS name clients should use/m, "Enter");
      s = await t.waitFor(/^\? Pin this host key/m);
      expect(s).toContain(`Host key: ssh-ed25519 ${fingerprint(parseOpenSshKey(hostKey))}`);
      t.keys("Enter");
      s = await t.waitFor(/^\? Add another server you already have\?/m);
      expect(s).toContain("✓ deploy has passwordless sudo");
      expect(s).toContain("✓ Debian GNU/Linux 12 (bookworm)");
      expect(s).toContain("✓ UDP 22527 and TCP 443 are free");
      t.keys("Enter");
      await t.answer(/^\? Run `drasyl-deploy up` now\?/m, "n", "Enter");
      expect(await t.exitCode()).toBe(0);
      t.kill();
      const file = join(cwd, "drasyl-deploy.yaml");
      const config = parseConfig(readFileSync(file, "utf8"), "f");
      const name = (server.ipv4 ?? "").replaceAll(".", "-");
      expect(config.targets).toEqual([
        {
          kind: "existing",
          servers: [
            {
              name,
              region: name,
              host: server.ipv4,
              sshPort: 22,
              user: "deploy",
              privateKey: "~/.ssh/id_ed25519",
              hostKey,
            },
          ],
        },
      ]);
      const up = await cli(cwd, ["up"]);
      expect(up.code, up.stderr + up.stdout).toBe(0);
      expect(up.stdout).toMatch(new RegExp(`^${name} +installed +\\S+ +[\\d.]+ ms +[\\d.]+ ms$`, "m"));
      const peers = await cli(cwd, ["peers", "--format", "lines"]);
      expect(peers.stdout.trim()).toBe(
        `udp://${server.ipv4}:22527?publicKey=${loadIdentity(new StateDir(stateDir).forDeployment("ex-tty"), name)?.publicKeyHex}&networkId=1&tcpPort=443`,
      );
    }, 400_000);

    it("existing server without a terminal: --yes with flags pins the offered key, --host-key must match", async () => {
      const [server] = (await hostLab.apply()) as [Server];
      const hostKey = await labHostKey(server);
      copyFileSync(server.ssh.privateKeyPath ?? "", join(home, ".ssh", "id_ed25519"));
      const flags = [
        "init",
        "--yes",
        "--target",
        "existing",
        "--host",
        server.ipv4 ?? "",
        "--user",
        "deploy",
        "--ssh-key",
        "~/.ssh/id_ed25519",
        "--server-name",
        "sp1",
      ];
      const ok = await cli(workdir("yes-existing"), flags);
      expect(ok.code, ok.stderr).toBe(0);
      expect(ok.stdout).toContain(`Host key: ssh-ed25519 ${fingerprint(parseOpenSshKey(hostKey))}`);
      expect(
        parseConfig(readFileSync(join(dir, "yes-existing", "drasyl-deploy.yaml"), "utf8"), "f").targets[0],
      ).toMatchObject({ servers: [{ name: "sp1", hostKey }] });
      const other = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHGvTuxHDkJsqnhqCmkOdwjFmO0xqPSoh10MPCkzSXNV";
      const wrong = await cli(workdir("yes-existing-wrong"), [...flags, "--host-key", other]);
      expect(wrong.code).toBe(2);
      expect(wrong.stderr).toContain("the server offered a different host key than --host-key");
      expect(existsSync(join(dir, "yes-existing-wrong", "drasyl-deploy.yaml"))).toBe(false);
    }, 120_000);
  });
});
