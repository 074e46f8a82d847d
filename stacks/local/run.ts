import { execFile } from "node:child_process";

/** A failed command, with its stderr in the message so the operator sees why it failed. */
export class LabError extends Error {
  override readonly name = "LabError";
}

export interface RunOptions {
  input?: string;
  timeoutMs?: number;
}

/**
 * Runs a program with an argument vector (never a shell string, so names and paths are passed
 * as they are) and returns its stdout.
 */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      { encoding: "utf8", timeout: opts.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (!err) return resolve(stdout);
        const detail = (stderr || err.message).trim().split("\n").slice(-5).join("\n");
        reject(new LabError(`${cmd} ${args.join(" ")} failed: ${detail}`));
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}

/** Like run(), for cleanup steps where "already gone" is the expected outcome. */
export async function tryRun(cmd: string, args: readonly string[]): Promise<boolean> {
  try {
    await run(cmd, args);
    return true;
  } catch {
    return false;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
