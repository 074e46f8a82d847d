import { alertRules } from "./alert-rules.ts";
import { grafanaDashboard } from "./grafana-dashboard.ts";
import { prometheusConfig, RULES_FILE, TARGETS_DIR } from "./prometheus-config.ts";
import { fileSdTargets, type ScrapeTarget } from "./targets.ts";

export interface MonitoringInput {
  deployment: string;
  targets: ScrapeTarget[];
  /** Where the files will be on the Prometheus host (absolute). */
  filesAt: string;
  /** The metrics bearer token, if the endpoints require one. */
  token?: string;
  dropRate?: number;
}

export interface GeneratedFile {
  /** Relative to the output directory. */
  path: string;
  content: string;
  /** 0600 for the token, 0644 otherwise. */
  mode: number;
}

export const TOKEN_FILE = "metrics-token";
export const DASHBOARD_FILE = "grafana-dashboard.json";
export const CONFIG_FILE = "prometheus.yml";

/** Every file `drasyl-deploy monitoring` writes, as data: the command only writes them out. */
export function monitoringFiles(i: MonitoringInput): GeneratedFile[] {
  const files: GeneratedFile[] = [
    {
      path: CONFIG_FILE,
      content: prometheusConfig({
        deployment: i.deployment,
        filesAt: i.filesAt,
        ...(i.token ? { tokenFile: TOKEN_FILE } : {}),
      }),
      mode: 0o644,
    },
    {
      path: RULES_FILE,
      content: alertRules({ deployment: i.deployment, ...(i.dropRate === undefined ? {} : { dropRate: i.dropRate }) }),
      mode: 0o644,
    },
    {
      path: DASHBOARD_FILE,
      content: `${JSON.stringify(grafanaDashboard({ deployment: i.deployment }), null, 2)}\n`,
      mode: 0o644,
    },
    ...i.targets.map((t) => ({
      path: `${TARGETS_DIR}/${t.server}.json`,
      content: `${JSON.stringify(fileSdTargets(t), null, 2)}\n`,
      mode: 0o644,
    })),
  ];
  if (i.token) files.push({ path: TOKEN_FILE, content: `${i.token}\n`, mode: 0o600 });
  return files;
}
