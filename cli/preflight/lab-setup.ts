import { spawn } from "node:child_process";
import { labHostFacts, labReadiness } from "../../stacks/local/requirements.ts";
import { LabError } from "../../stacks/local/run.ts";

/** The lab can run, or why not; apt failures throw instead, since the operator must act on them. */
export type LabSetup = { ok: true } | { ok: false; reason: string };

function aptGet(args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    // apt's progress goes to stderr: stdout stays for what the command prints for clients.
    const child = spawn("apt-get", args, {
      stdio: ["ignore", process.stderr, process.stderr],
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
    });
    child.on("error", reject);
    child.on("exit", (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

/**
 * Makes this machine ready for the local lab before anything is written: as root with apt it
 * installs the missing Debian packages; otherwise it reports why the lab cannot run here.
 */
export async function prepareLab(log: (line: string) => void): Promise<LabSetup> {
  const readiness = labReadiness(labHostFacts());
  if (readiness.ready) return { ok: true };
  if (!readiness.install) return { ok: false, reason: readiness.reason };
  const pkgs = readiness.install;
  log(
    `Installing ${pkgs.join(", ")} with apt-get: the local lab builds Debian servers with debootstrap and boots them with systemd-nspawn (once per machine).`,
  );
  const failed = (step: string, code: number): LabError =>
    new LabError(
      `apt-get ${step} failed (exit ${code}), nothing was set up: fix apt (see its messages above) or run "apt-get install ${pkgs.join(" ")}" yourself, then run this again`,
    );
  const update = await aptGet(["update", "-q"]);
  if (update !== 0) throw failed("update", update);
  const install = await aptGet(["install", "-y", "-q", "--no-install-recommends", ...pkgs]);
  if (install !== 0) throw failed("install", install);
  const after = labReadiness(labHostFacts());
  if (after.ready) return { ok: true };
  throw new LabError(
    `the lab still cannot run after installing ${pkgs.join(", ")}: ${after.install ? `${after.install.join(", ")} still missing` : after.reason}`,
  );
}
