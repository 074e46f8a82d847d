import { readdirSync, readFileSync } from "node:fs";

/** A Ctrl-C (SIGINT). `fromTerminal`: the terminal sent it to the whole foreground process group, the engine included. */
export interface Interrupt {
  fromTerminal: boolean;
}

export interface InterruptSource {
  subscribe(listener: (i: Interrupt) => void): () => void;
}

/** SIGINT of this process; while subscribed, Ctrl-C no longer ends the process by itself. */
export const processInterrupts: InterruptSource = {
  subscribe(listener) {
    const handler = (): void => listener({ fromTerminal: process.stdin.isTTY === true });
    process.on("SIGINT", handler);
    return () => process.off("SIGINT", handler);
  },
};

function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return undefined;
  }
}

function commOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "";
  }
}

/** This process's descendants whose program name starts with "pulumi": the CLI and its plugins. */
export function engineProcesses(root = process.pid): number[] {
  const children = new Map<number, number[]>();
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return [];
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const pid = Number(e);
    const ppid = parentOf(pid);
    if (ppid === undefined) continue;
    children.set(ppid, [...(children.get(ppid) ?? []), pid]);
  }
  const out: number[] = [];
  const walk = (pid: number): void => {
    for (const c of children.get(pid) ?? []) {
      if (commOf(c).startsWith("pulumi")) out.push(c);
      walk(c);
    }
  };
  walk(root);
  return out;
}

/** SIGKILLs the engine processes this process started (by PID); returns them. */
export function killEngineProcesses(): number[] {
  const pids = engineProcesses();
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
  return pids;
}

export type CancelState = "running" | "cancelling" | "killed";

/**
 * Two-stage Ctrl-C for one engine operation. The first asks the engine to stop cleanly: it
 * finishes the resource operations in flight, starts no new ones and saves its state (a Ctrl-C
 * from the terminal already reached the engine itself; otherwise the abort signal forwards one).
 * The second kills the engine at once.
 */
export class Cancellation {
  readonly controller = new AbortController();
  state: CancelState = "running";
  private readonly unsubscribe: () => void;

  constructor(
    source: InterruptSource,
    private readonly hooks: { onCancel: () => void; onKill: (pids: number[]) => void; kill?: () => number[] },
  ) {
    this.unsubscribe = source.subscribe((i) => this.interrupt(i));
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  private interrupt(i: Interrupt): void {
    if (this.state === "running") {
      this.state = "cancelling";
      // The engine treats a second SIGINT as "terminate now": do not add one to the terminal's.
      if (!i.fromTerminal) this.controller.abort();
      this.hooks.onCancel();
    } else if (this.state === "cancelling") {
      this.state = "killed";
      const pids = (this.hooks.kill ?? killEngineProcesses)();
      if (!this.controller.signal.aborted) this.controller.abort();
      this.hooks.onKill(pids);
    }
  }

  dispose(): void {
    this.unsubscribe();
  }
}
