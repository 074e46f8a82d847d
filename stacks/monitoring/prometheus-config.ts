import { stringify } from "yaml";

export interface ScrapeConfigOptions {
  deployment: string;
  /** Where the generated files are on the Prometheus host (absolute), e.g. /etc/prometheus/drasyl. */
  filesAt: string;
  /** With a bearer token the scrape sends it from this file (relative to filesAt); without, no Authorization header. */
  tokenFile?: string;
  scrapeInterval?: string;
}

export const TARGETS_DIR = "targets";
export const RULES_FILE = "drasyl-alerts.yml";

/** The scrape job's name; alert rules and the dashboard select on the deployment label, not on this. */
export function jobName(deployment: string): string {
  return `drasyl-${deployment}`;
}

/**
 * A complete prometheus.yml with one scrape job for the deployment: targets from the file_sd
 * files (one per super peer, so a new server appears without a reload), the bearer token from a
 * file (never inline, so the config can be shown and versioned), and the alert rules. An operator
 * with a Prometheus of their own copies the job and the rule file entry into theirs.
 */
export function prometheusConfig(o: ScrapeConfigOptions): string {
  const at = o.filesAt.replace(/\/+$/, "");
  const job: Record<string, unknown> = {
    job_name: jobName(o.deployment),
    scrape_interval: o.scrapeInterval ?? "15s",
    metrics_path: "/metrics",
    scheme: "http",
    ...(o.tokenFile ? { authorization: { type: "Bearer", credentials_file: `${at}/${o.tokenFile}` } } : {}),
    file_sd_configs: [{ files: [`${at}/${TARGETS_DIR}/*.json`], refresh_interval: "1m" }],
  };
  const doc = {
    global: { scrape_interval: o.scrapeInterval ?? "15s", evaluation_interval: "15s" },
    rule_files: [`${at}/${RULES_FILE}`],
    scrape_configs: [job],
  };
  return `# drasyl-deploy monitoring for deployment "${o.deployment}" (generated; re-run \`drasyl-deploy monitoring\` after changes)\n${stringify(doc)}`;
}
