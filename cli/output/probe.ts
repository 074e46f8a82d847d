import type { ProbeResult } from "../../sp-runtime/node/prober.ts";

/** One probe in a summary table cell: its round trip, "FAIL" (the error is printed below the table), or "-" when not probed. */
export function formatProbe(r: ProbeResult | undefined): string {
  if (!r) return "-";
  return r.ok ? `${r.rttMs.toFixed(1)} ms` : "FAIL";
}
