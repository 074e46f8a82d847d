import { appendFileSync, chmodSync } from "node:fs";
import { hostname, userInfo } from "node:os";
import type { DeploymentState } from "./state-dir.ts";

export interface AuditServer {
  server: string;
  result: string;
  releaseBefore?: string;
  releaseAfter?: string;
  error?: string;
}

export interface AuditEntry {
  time: string;
  /** user@host of the operator's machine. */
  who: string;
  command: string;
  args: string[];
  exitCode: number;
  servers: AuditServer[];
}

// 64+ hex digits is what a secret key (or a token) looks like; public keys are exactly 64 and stay.
const SECRETISH = /\b[0-9a-fA-F]{65,}\b/g;

function who(): string {
  let user: string;
  try {
    user = userInfo().username;
  } catch {
    user = process.env.USER ?? `uid${process.getuid?.() ?? "?"}`;
  }
  return `${user}@${hostname()}`;
}

/** The command line as typed, minus anything that looks like a secret. */
export function auditArgs(argv: readonly string[]): string[] {
  return argv.map((a) => a.replace(SECRETISH, "<redacted>"));
}

/** One JSON line per command in the deployment's audit.log (0600); never fails the command it records. */
export function appendAudit(state: DeploymentState, entry: Omit<AuditEntry, "time" | "who">): void {
  const line: AuditEntry = { time: new Date().toISOString(), who: who(), ...entry, args: auditArgs(entry.args) };
  for (const s of line.servers) if (s.error) s.error = s.error.replace(SECRETISH, "<redacted>");
  try {
    const file = state.prepare(state.auditLogFile);
    appendFileSync(file, `${JSON.stringify(line)}\n`, { mode: 0o600 });
    chmodSync(file, 0o600);
  } catch (e) {
    process.stderr.write(`warning: could not write the audit log: ${(e as Error).message}\n`);
  }
}
