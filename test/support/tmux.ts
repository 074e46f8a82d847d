import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";

function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Whether tmux is installed (scripts/test-prereqs.sh installs it). */
export function tmuxAvailable(): boolean {
  try {
    execFileSync("tmux", ["-V"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/**
 * A real terminal for a command: a detached session on a tmux server of its own (its socket is a
 * path the test owns, so other tmux users are untouched and nothing stays behind in /tmp/tmux-*). The command's exit code
 * is printed on the screen as "[exit N]" and the pane stays until killed.
 */
export class Tmux {
  private readonly socket: string;
  private sessions = 0;

  /** `socket`: a path in the test's temp dir. */
  constructor(socket: string) {
    this.socket = socket;
  }

  private tmux(...args: string[]): string {
    return execFileSync("tmux", ["-S", this.socket, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  }

  start(argv: string[], opts: { cwd: string; env?: Record<string, string> }): TmuxSession {
    // A session that outlives the tests' ones: tmux exits with its last session, and a new session
    // racing that exit on the same socket fails.
    if (this.sessions === 0) this.tmux("new-session", "-d", "-s", "keep", "sleep 3600");
    const name = `s${++this.sessions}`;
    const env = Object.entries(opts.env ?? {}).map(([k, v]) => `${k}=${shq(v)}`);
    const cmd = `cd ${shq(opts.cwd)} && env ${env.join(" ")} ${argv.map(shq).join(" ")}; echo "[exit $?]"; sleep 3600`;
    this.tmux("new-session", "-d", "-s", name, "-x", "140", "-y", "50", cmd);
    return new TmuxSession((...a) => this.tmux(...a), name);
  }

  killServer(): void {
    try {
      this.tmux("kill-server");
    } catch {
      // No server left: nothing to clean up.
    }
    rmSync(this.socket, { force: true });
  }
}

export class TmuxSession {
  private readonly tmux: (...args: string[]) => string;
  readonly name: string;

  constructor(tmux: (...args: string[]) => string, name: string) {
    this.tmux = tmux;
    this.name = name;
  }

  /** Everything the terminal showed, scrollback included, wrapped lines joined. */
  screen(): string {
    return this.tmux("capture-pane", "-p", "-J", "-S", "-", "-t", this.name);
  }

  /** Keys by tmux name (Enter, Down, Space, C-c, BSpace) or literal text with type(). */
  keys(...keys: string[]): void {
    this.tmux("send-keys", "-t", this.name, ...keys);
  }

  type(text: string): void {
    this.tmux("send-keys", "-t", this.name, "-l", text);
  }

  /** Waits until the screen matches, counting matches: `after` skips that many earlier ones. */
  async waitFor(pattern: RegExp, ms = 20_000, after = 0): Promise<string> {
    const deadline = Date.now() + ms;
    const global = new RegExp(pattern.source, pattern.flags.includes("g") ? pattern.flags : `${pattern.flags}g`);
    for (;;) {
      const s = this.screen();
      if ((s.match(global)?.length ?? 0) > after) return s;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern} on the screen:\n${s}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Answers a prompt: waits for its question, then sends the keys. */
  async answer(question: RegExp, ...keys: string[]): Promise<void> {
    await this.waitFor(question);
    for (const k of keys) this.keys(k);
  }

  async exitCode(ms = 30_000): Promise<number> {
    const s = await this.waitFor(/\[exit \d+\]/, ms);
    return Number(/\[exit (\d+)\]/.exec(s)?.[1]);
  }

  kill(): void {
    try {
      this.tmux("kill-session", "-t", this.name);
    } catch {
      // Already gone.
    }
  }
}
