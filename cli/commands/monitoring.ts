import { chmodSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { monitoringFiles, TOKEN_FILE } from "../../stacks/monitoring/files.ts";
import { isExposed, metricsPort, requireMetricsToken } from "../../stacks/monitoring/exposure.ts";
import { TARGETS_DIR } from "../../stacks/monitoring/prometheus-config.ts";
import { metricsHost } from "../../stacks/monitoring/targets.ts";
import { InvalidArgumentError } from "commander";
import { loadIdentity } from "../../stacks/state/identities.ts";
import { listServers, openDeployment } from "../deployment.ts";
import { configOption, type Register } from "../options.ts";

export interface MonitoringOptions {
  config?: string;
  stateDir: string;
  /** Default: <state dir>/deployments/<deployment>/monitoring. */
  out?: string;
  /** Where the files will be on the Prometheus host; default: the output directory. */
  filesAt?: string;
  dropRate?: number;
}

/**
 * Writes the deployment's Prometheus scrape config (one file_sd file per super peer), alert rules
 * and Grafana dashboard. Targets of servers no longer in the deployment are removed, so Prometheus
 * stops scraping them on its next file_sd refresh.
 */
export async function monitoring(
  opts: MonitoringOptions,
  out: (s: string) => void = (s) => process.stdout.write(s),
): Promise<number> {
  const d = openDeployment(opts.config, opts.stateDir);
  const listen = d.settings.prometheusListen;
  const port = listen === "" ? undefined : metricsPort(listen);
  if (port === undefined) {
    out(
      `superPeer.prometheusListen is "": the super peers serve no metrics. Set it (e.g. "[::]:9898" with a token and metricsFrom) and run drasyl-deploy up first.\n`,
    );
    return 1;
  }
  requireMetricsToken(listen, d.settings.prometheusToken);
  const servers = await listServers(d);
  if (servers.length === 0) {
    out(`Deployment "${d.config.deployment}" has no servers yet: run drasyl-deploy up\n`);
    return 1;
  }
  const dir = resolve(opts.out ?? d.state.ensureDir(join(d.state.dir, "monitoring")));
  const filesAt = opts.filesAt ?? dir;
  if (!isAbsolute(filesAt))
    throw new Error(`--files-at must be an absolute path on the Prometheus host, got ${filesAt}`);
  const files = monitoringFiles({
    deployment: d.config.deployment,
    filesAt,
    targets: servers.map((s) => {
      const publicKeyHex = loadIdentity(d.state, s.name)?.publicKeyHex;
      return {
        deployment: d.config.deployment,
        server: s.name,
        region: s.region,
        host: metricsHost(s),
        port,
        ...(publicKeyHex ? { publicKeyHex } : {}),
      };
    }),
    ...(d.settings.prometheusToken ? { token: d.settings.prometheusToken } : {}),
    ...(opts.dropRate === undefined ? {} : { dropRate: opts.dropRate }),
  });

  mkdirSync(join(dir, TARGETS_DIR), { recursive: true });
  const current = new Set(files.map((f) => f.path));
  for (const name of readdirSync(join(dir, TARGETS_DIR))) {
    if (name.endsWith(".json") && !current.has(`${TARGETS_DIR}/${name}`)) rmSync(join(dir, TARGETS_DIR, name));
  }
  if (!d.settings.prometheusToken) rmSync(join(dir, TOKEN_FILE), { force: true });
  for (const f of files) {
    const path = join(dir, f.path);
    writeFileSync(path, f.content, { mode: f.mode });
    // writeFileSync keeps the mode of a file that exists; the token file must be 0600 regardless.
    chmodSync(path, f.mode);
  }

  out(`Wrote the monitoring files for "${d.config.deployment}" to ${dir}:\n`);
  for (const f of files) out(`  ${f.path}${f.path === TOKEN_FILE ? " (the bearer token, 0600)" : ""}\n`);
  out(
    `\nPrometheus: prometheus --config.file=${join(dir, "prometheus.yml")}, or copy its job and rule_files entry into yours`,
  );
  out(opts.filesAt ? ` (the paths point at ${filesAt}: copy the directory there)\n` : "\n");
  out(`Grafana: Dashboards > New > Import > upload grafana-dashboard.json, pick the Prometheus data source\n`);
  if (!isExposed(listen)) {
    out(
      `\nNote: the super peers' metrics endpoint listens on ${listen} (local to each server), so a Prometheus elsewhere cannot scrape these targets.\n` +
        `Expose it with superPeer.prometheusListen (e.g. "[::]:${port}"), superPeer.metricsFrom and ${"$"}DRASYL_DEPLOY_METRICS_TOKEN, then drasyl-deploy up; ` +
        `or read the figures through SSH with drasyl-deploy status --metrics.\n`,
    );
  }
  return 0;
}

export const registerMonitoring: Register = (program, globals) => {
  program
    .command("monitoring")
    .description(
      "write Prometheus scrape targets (file_sd), alert rules and a Grafana dashboard for the deployment's super peers",
    )
    .addOption(configOption())
    .option("-o, --out <dir>", "output directory (default: <state dir>/deployments/<deployment>/monitoring)")
    .option(
      "--files-at <dir>",
      "absolute path the files will have on the Prometheus host (default: the output directory)",
    )
    .option("--drop-rate <n>", "dropped packets/s per super peer that raise an alert (default 50)", (v: string) => {
      const n = Number(v);
      if (!(n > 0)) throw new InvalidArgumentError("must be a positive number");
      return n;
    })
    .action(async (o: { config?: string; out?: string; filesAt?: string; dropRate?: number }) => {
      process.exitCode = await monitoring({ ...o, stateDir: globals().stateDir });
    });
};
