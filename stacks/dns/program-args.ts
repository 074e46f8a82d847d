/** A record set a DNS program manages for a server of another target kind (or the other cloud). */
export interface ForeignRecord {
  server: string;
  /** Relative to the zone. */
  name: string;
  ipv4?: string;
  ipv6?: string;
}

/** What a cloud program needs to manage a zone's records: the zone, the TTL, the names, and the other servers' records. */
export interface DnsProgramArgs {
  zone: string;
  ttl: number;
  /** hcloud only: create the zone (kept on destroy) instead of looking it up. */
  createZone: boolean;
  /** The program's own servers' record names (relative to the zone), by server name. */
  names: Record<string, string>;
  /** Records for servers this program does not create (existing servers, the other cloud), so one zone covers a mixed fleet. */
  foreign: ForeignRecord[];
}

/** Record sets of one name: A and AAAA, each only when the server has an address of that family. */
export function addressRecords(r: {
  ipv4?: string | undefined;
  ipv6?: string | undefined;
}): { type: "A" | "AAAA"; value: string }[] {
  return [
    ...(r.ipv4 ? [{ type: "A" as const, value: r.ipv4 }] : []),
    ...(r.ipv6 ? [{ type: "AAAA" as const, value: r.ipv6 }] : []),
  ];
}

/** The logical name of a record set's resource: the record's, so the record stays one resource whichever server it points at. */
export function recordResourceName(name: string, type: "A" | "AAAA"): string {
  return `dns-${name}-${type.toLowerCase()}`;
}
