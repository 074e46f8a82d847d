import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

export interface Spawned {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<number | null>;
  /** Resolves once stdout matches, rejects if the process exits first or the time runs out. */
  waitFor(pattern: RegExp, ms?: number): Promise<RegExpMatchArray>;
  /** The same for stderr. */
  waitForStderr(pattern: RegExp, ms?: number): Promise<RegExpMatchArray>;
  stop(): Promise<number | null>;
}

export function spawnProcess(cmd: string, args: string[], env: NodeJS.ProcessEnv): Spawned {
  const child = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  let exited = false;
  void exit.then(() => (exited = true));
  const waitOn = async (text: () => string, pattern: RegExp, ms: number): Promise<RegExpMatchArray> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const m = text().match(pattern);
      if (m) return m;
      if (exited) throw new Error(`process exited before printing ${pattern}: ${err}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}; stdout: ${out}; stderr: ${err}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exit,
    waitFor: (pattern, ms = 20_000) => waitOn(() => out, pattern, ms),
    waitForStderr: (pattern, ms = 20_000) => waitOn(() => err, pattern, ms),
    async stop() {
      if (!exited) child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 5000);
      const code = await exit;
      clearTimeout(t);
      return code;
    },
  };
}

/** Every process below `root` (by /proc), e.g. to end what a killed parent left running. */
export function descendantProcesses(root = process.pid): number[] {
  const children = new Map<number, number[]>();
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${e}/stat`, "utf8");
    } catch {
      continue;
    }
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    children.set(ppid, [...(children.get(ppid) ?? []), Number(e)]);
  }
  const out: number[] = [];
  const walk = (pid: number): void => {
    for (const c of children.get(pid) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(root);
  return out;
}
