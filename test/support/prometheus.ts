import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { type Spawned, spawnProcess } from "./process.ts";

/*
 * Debian's Prometheus for the monitoring tests: on PATH, or unpacked by scripts/test-prereqs.sh
 * into ~/.cache/drasyl-deploy/prometheus (same path as there).
 */
const CACHED = join(homedir(), ".cache", "drasyl-deploy", "prometheus", "usr", "bin");

function which(tool: string): string | undefined {
  try {
    return execFileSync("sh", ["-c", `command -v ${tool}`], { encoding: "utf8" }).trim() || undefined;
  } catch {
    return existsSync(join(CACHED, tool)) ? join(CACHED, tool) : undefined;
  }
}

export const promtoolPath = which("promtool");
export const prometheusPath = which("prometheus");

/** promtool's exit code and output (stdout and stderr). */
export function promtool(...args: string[]): { code: number; output: string } {
  if (!promtoolPath) throw new Error("no promtool");
  try {
    const out = execFileSync(promtoolPath, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    return { code: 0, output: out };
  } catch (e) {
    const err = e as { status: number; stdout: string; stderr: string };
    return { code: err.status, output: `${err.stdout}${err.stderr}` };
  }
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

export interface RunningPrometheus {
  url: string;
  /** An instant query's result vector. */
  query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
  process: Spawned;
  stop(): Promise<void>;
}

/** A real Prometheus on 127.0.0.1 with its TSDB in a temp dir, removed on stop. */
export async function startPrometheus(configYaml: string): Promise<RunningPrometheus> {
  if (!prometheusPath) throw new Error("no prometheus");
  const dir = mkdtempSync(join(tmpdir(), "drasyl-prom-"));
  const config = join(dir, "prometheus.yml");
  writeFileSync(config, configYaml);
  const port = await freePort();
  const proc = spawnProcess(
    prometheusPath,
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ],
    { ...process.env },
  );
  const url = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    await proc.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      if ((await fetch(`${url}/-/ready`)).ok) break;
    } catch {
      // not listening yet
    }
    if (proc.child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus did not become ready: ${proc.stderr()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    process: proc,
    stop,
    async query(expr) {
      const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`);
      const body = (await res.json()) as {
        status: string;
        error?: string;
        data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
      };
      if (body.status !== "success") throw new Error(`query ${expr} failed: ${body.error ?? res.status}`);
      return body.data?.result ?? [];
    },
  };
}
