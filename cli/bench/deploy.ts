/**
 * `npm run bench:deploy`: wall time of `drasyl-deploy up` on local lab servers, through the built
 * CLI as a user runs it. Targets: a fresh `up` on 3 servers within 1.3x of one server, and a no-op
 * `up` under 3 s. "Fresh" is measured twice: with everything new (identities are mined, servers
 * booted, runtime pushed), and with identities already backed up but new servers (what a rebuild
 * after `destroy` costs), which isolates how the per-server work scales. Last, the first-time path:
 * `init --yes` to a verified three-server sandbox (the answers from flags, then its `up`), and the no-op `up` after it.
 * Then a gated rollout of a second release (the shipped bundle with a different version line) to
 * the three servers with `--soak 5`: canary, then one at a time, each probed, soaked and relay-checked.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { packageRoot } from "../../stacks/package-files.ts";
import { labAvailable } from "../../stacks/local/local-provider.ts";

const cli = join(packageRoot(), "dist", "drasyl-deploy.mjs");

function timed(stateDir: string, config: string, ...args: string[]): number {
  const t = process.hrtime.bigint();
  try {
    execFileSync(process.execPath, [cli, "--state-dir", stateDir, ...args, "--config", config], {
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 900_000,
    });
  } catch (e) {
    const err = e as { stdout?: Buffer; stderr?: Buffer };
    throw new Error(
      `drasyl-deploy ${args.join(" ")} failed:\n${err.stderr?.toString() ?? ""}${err.stdout?.toString() ?? ""}`,
      { cause: e },
    );
  }
  return Number(process.hrtime.bigint() - t) / 1e9;
}

interface Row {
  case: string;
  servers: number;
  seconds: number;
}

function deployment(dir: string, name: string, regions: string[]): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, `deployment: ${name}\ntargets:\n  - kind: local\n    regions: [${regions.join(", ")}]\n`);
  return file;
}

const lab = labAvailable();
if (!lab.ok) {
  process.stderr.write(`bench:deploy needs the local lab: ${lab.reason}\n`);
  process.exit(1);
}

const dir = mkdtempSync(join(tmpdir(), "dd-bench-"));
const stateDir = join(dir, "state");
const rows: Row[] = [];
// The shipped bundle under another version line: a different release id, the same behaviour.
const secondRelease = join(dir, "drasyl-sp-bench.mjs");
const [shebang, ...rest] = readFileSync(join(packageRoot(), "dist", "drasyl-sp.mjs"), "utf8").split("\n");
writeFileSync(secondRelease, [shebang, "// drasyl-sp bench release", ...rest].join("\n"));
const configs = {
  one: deployment(dir, `b1x${process.pid % 1000}`, ["r1"]),
  three: deployment(dir, `b3x${process.pid % 1000}`, ["r1", "r2", "r3"]),
  init: join(dir, "init.yaml"),
};
try {
  for (const [n, config] of [
    [1, configs.one],
    [3, configs.three],
  ] as const) {
    rows.push({ case: "fresh up (new identities, new servers)", servers: n, seconds: timed(stateDir, config, "up") });
    rows.push({ case: "no-op up", servers: n, seconds: timed(stateDir, config, "up") });
    if (n === 3)
      rows.push({
        case: "gated rollout of a new release (--soak 5)",
        servers: n,
        seconds: timed(stateDir, config, "rollout", "--release", secondRelease, "--soak", "5"),
      });
    timed(stateDir, config, "destroy", "--yes");
    rows.push({ case: "fresh up (kept identities, new servers)", servers: n, seconds: timed(stateDir, config, "up") });
    timed(stateDir, config, "destroy", "--yes");
  }
  const name = `bix${process.pid % 1000}`;
  rows.push({
    case: "init --yes to a verified sandbox (new identities, new servers)",
    servers: 3,
    seconds: timed(stateDir, configs.init, "init", "--yes", "--target", "local", "--name", name, "--up"),
  });
  rows.push({ case: "no-op up after init", servers: 3, seconds: timed(stateDir, configs.init, "up") });
} finally {
  for (const config of Object.values(configs)) {
    if (!existsSync(config)) continue;
    try {
      timed(stateDir, config, "destroy", "--yes");
    } catch {
      // Already destroyed.
    }
  }
  rmSync(dir, { recursive: true, force: true });
}

const get = (c: string, n: number): number => rows.find((r) => r.case === c && r.servers === n)?.seconds ?? NaN;
const ratioNew = get("fresh up (new identities, new servers)", 3) / get("fresh up (new identities, new servers)", 1);
const ratioKept = get("fresh up (kept identities, new servers)", 3) / get("fresh up (kept identities, new servers)", 1);
const noop = get("no-op up", 3);
const rollout = get("gated rollout of a new release (--soak 5)", 3);
const targets = [
  {
    target: "fresh up, 3 servers vs 1 (new identities)",
    goal: "<= 1.3x",
    measured: `${ratioNew.toFixed(2)}x`,
    pass: ratioNew <= 1.3,
  },
  {
    target: "fresh up, 3 servers vs 1 (kept identities)",
    goal: "<= 1.3x",
    measured: `${ratioKept.toFixed(2)}x`,
    pass: ratioKept <= 1.3,
  },
  { target: "no-op up, 3 servers", goal: "< 3 s", measured: `${noop.toFixed(2)} s`, pass: noop < 3 },
  // Three batches, each: install and start check, probes, 5 s soak with the relay check alongside.
  {
    target: "gated rollout, 3 servers, --soak 5",
    goal: "< 60 s",
    measured: `${rollout.toFixed(2)} s`,
    pass: rollout < 60,
  },
];
console.table(rows.map((r) => ({ ...r, seconds: Number(r.seconds.toFixed(2)) })));
console.table(targets.map((t) => ({ ...t, result: t.pass ? "PASS" : "MISS" })));
console.log(JSON.stringify({ deploy: { rows, targets } }, null, 2));
