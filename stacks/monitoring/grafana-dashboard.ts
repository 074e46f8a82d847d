import type { Dashboard, MappingType, Panel, ThresholdsMode, VariableModel } from "@grafana/schema";

export interface DashboardOptions {
  deployment: string;
}

/** Grafana 11's dashboard schema version; newer Grafana migrates it forward on import. */
export const DASHBOARD_SCHEMA_VERSION = 39;
const DATASOURCE = { type: "prometheus", uid: "${datasource}" };

interface PanelSpec {
  title: string;
  description: string;
  unit: string;
  /** PromQL with `SEL` where the deployment and region selector goes. */
  queries: { expr: string; legend: string }[];
  stacked?: boolean;
}

const PANELS: PanelSpec[] = [
  {
    title: "Peers per region",
    description: "Nodes registered with the super peers (drasyl_sp_peers), summed per region.",
    unit: "short",
    queries: [{ expr: "sum by (region) (drasyl_sp_peers{SEL})", legend: "{{region}}" }],
    stacked: true,
  },
  {
    title: "Peers per super peer",
    description: "drasyl_sp_peers of each super peer.",
    unit: "short",
    queries: [{ expr: "sum by (server) (drasyl_sp_peers{SEL})", legend: "{{server}}" }],
  },
  {
    title: "Handshakes/s",
    description: "HELLOs received per second (drasyl_sp_messages_total, type hello): registrations and keep-alives.",
    unit: "reqps",
    queries: [
      {
        expr: 'sum by (region) (rate(drasyl_sp_messages_total{SEL, type="hello", direction="rx"}[$__rate_interval]))',
        legend: "{{region}}",
      },
    ],
  },
  {
    title: "Relayed bytes/s",
    description: "Bytes forwarded between peers that have no direct path (drasyl_sp_relayed_bytes_total).",
    unit: "Bps",
    queries: [
      { expr: "sum by (region) (rate(drasyl_sp_relayed_bytes_total{SEL}[$__rate_interval]))", legend: "{{region}}" },
    ],
    stacked: true,
  },
  {
    title: "Relayed packets/s",
    description: "Application packets forwarded to a peer (drasyl_sp_messages_total, type app, tx).",
    unit: "pps",
    queries: [
      {
        expr: 'sum by (region) (rate(drasyl_sp_messages_total{SEL, type="app", direction="tx"}[$__rate_interval]))',
        legend: "{{region}}",
      },
    ],
    stacked: true,
  },
  {
    title: "Dropped packets/s by reason",
    description: "Packets the super peers dropped, by reason (drasyl_sp_dropped_packets_total).",
    unit: "pps",
    queries: [
      { expr: "sum by (reason) (rate(drasyl_sp_dropped_packets_total{SEL}[$__rate_interval]))", legend: "{{reason}}" },
    ],
    stacked: true,
  },
  {
    title: "UNITEs/s",
    description: "UNITE messages sent to help two peers punch a direct path (drasyl_sp_messages_total, type unite).",
    unit: "pps",
    queries: [
      {
        expr: 'sum by (region) (rate(drasyl_sp_messages_total{SEL, type="unite", direction="tx"}[$__rate_interval]))',
        legend: "{{region}}",
      },
    ],
  },
  {
    title: "TCP fallback connections",
    description: "Open TCP fallback connections (drasyl_sp_tcp_connections).",
    unit: "short",
    queries: [{ expr: "sum by (region) (drasyl_sp_tcp_connections{SEL})", legend: "{{region}}" }],
  },
  {
    title: "Process CPU",
    description: "CPU used by each super peer process (process_cpu_seconds_total), 1.0 = one core.",
    unit: "percentunit",
    queries: [
      { expr: "sum by (server) (rate(process_cpu_seconds_total{SEL}[$__rate_interval]))", legend: "{{server}}" },
    ],
  },
  {
    title: "Process RSS",
    description: "Resident memory of each super peer process (process_resident_memory_bytes).",
    unit: "bytes",
    queries: [{ expr: "sum by (server) (process_resident_memory_bytes{SEL})", legend: "{{server}}" }],
  },
];

/** The label selector every panel uses: this deployment, the regions picked in the dashboard. */
export function panelSelector(deployment: string): string {
  return `deployment=${JSON.stringify(deployment)}, region=~"$region"`;
}

function timeseries(spec: PanelSpec, id: number, deployment: string): Panel {
  const half = 12;
  return {
    id,
    type: "timeseries",
    title: spec.title,
    description: spec.description,
    datasource: DATASOURCE,
    gridPos: { h: 8, w: half, x: ((id - 2) % 2) * half, y: 4 + Math.floor((id - 2) / 2) * 8 },
    fieldConfig: {
      defaults: {
        unit: spec.unit,
        min: 0,
        custom: {
          drawStyle: "line",
          fillOpacity: spec.stacked ? 20 : 0,
          stacking: { mode: spec.stacked ? "normal" : "none", group: "A" },
        },
      },
      overrides: [],
    },
    options: {
      legend: { displayMode: "list", placement: "bottom", showLegend: true },
      tooltip: { mode: "multi", sort: "desc" },
    },
    targets: spec.queries.map((q, i) => ({
      refId: String.fromCharCode(65 + i),
      datasource: DATASOURCE,
      expr: q.expr.replaceAll("SEL", panelSelector(deployment)),
      legendFormat: q.legend,
      range: true,
    })),
  };
}

/** Up or down per super peer, the first thing an operator looks at. */
function upPanel(deployment: string): Panel {
  return {
    id: 1,
    type: "stat",
    title: "Super peers up",
    description: "Whether Prometheus can scrape each super peer (up).",
    datasource: DATASOURCE,
    gridPos: { h: 4, w: 24, x: 0, y: 0 },
    fieldConfig: {
      defaults: {
        mappings: [
          {
            type: "value" as MappingType.ValueToText,
            options: { "0": { text: "DOWN", color: "red" }, "1": { text: "UP", color: "green" } },
          },
        ],
        thresholds: {
          mode: "absolute" as ThresholdsMode.Absolute,
          steps: [
            { value: null, color: "red" },
            { value: 1, color: "green" },
          ],
        },
      },
      overrides: [],
    },
    options: {
      colorMode: "background",
      graphMode: "none",
      reduceOptions: { calcs: ["lastNotNull"], fields: "", values: false },
      textMode: "value_and_name",
    },
    targets: [
      {
        refId: "A",
        datasource: DATASOURCE,
        expr: `up{${panelSelector(deployment)}}`,
        legendFormat: "{{server}}",
        instant: true,
      },
    ],
  };
}

function variables(deployment: string): VariableModel[] {
  return [
    { name: "datasource", label: "Prometheus", type: "datasource", query: "prometheus" },
    {
      name: "region",
      label: "Region",
      type: "query",
      datasource: DATASOURCE,
      query: { query: `label_values(up{deployment=${JSON.stringify(deployment)}}, region)`, refId: "regions" },
      refresh: 2,
      includeAll: true,
      multi: true,
      allValue: ".*",
      current: { text: "All", value: "$__all" },
    },
  ];
}

/**
 * A Grafana dashboard for one deployment: up per super peer, then peers, handshakes, relayed
 * bytes and packets, drops by reason, UNITEs, TCP connections, process CPU and RSS, per region
 * or per super peer. The Prometheus data source is a dashboard variable, so the JSON imports into
 * any Grafana without editing.
 */
export function grafanaDashboard(o: DashboardOptions): Dashboard {
  return {
    uid: `drasyl-${o.deployment}`.slice(0, 40),
    title: `drasyl super peers: ${o.deployment}`,
    description: "Generated by drasyl-deploy monitoring",
    tags: ["drasyl", "drasyl-deploy"],
    editable: true,
    schemaVersion: DASHBOARD_SCHEMA_VERSION,
    version: 1,
    refresh: "30s",
    time: { from: "now-6h", to: "now" },
    timezone: "browser",
    templating: { list: variables(o.deployment) },
    annotations: { list: [] },
    panels: [upPanel(o.deployment), ...PANELS.map((p, i) => timeseries(p, i + 2, o.deployment))],
  };
}
