import { readFileSync } from "node:fs";

/** Copies of the shared developer vectors, kept in the repository so a clone alone passes its tests. */
const VECTORS = new URL("../fixtures/vectors/", import.meta.url);

export function loadVector<T>(name: string): T {
  return JSON.parse(readFileSync(new URL(name, VECTORS), "utf8")) as T;
}

export interface DrasylIdentityVector {
  secretKey: string;
  publicKey: string;
  x25519PublicKey: string;
  x25519SecretKey: string;
  proofOfWork?: number;
  powLeadingZeroBits?: number;
}

export interface DrasylPacketVector {
  name: string;
  sender: string;
  recipient: string;
  armedWith?: string;
  random?: string;
  plaintextBody: string;
  time?: number;
  packet: string;
  relayedPacket?: string;
}

export interface DrasylVectors {
  magic: { hex: string; u32: number };
  networkId: number;
  identities: Record<string, DrasylIdentityVector>;
  sessions: { of: string; peer: string; rx: string; tx: string }[];
  pow: { publicKey: string; proofOfWork: number; difficulty: number; valid: boolean }[];
  identityFile: { text: string; publicKey: string };
  packets: DrasylPacketVector[];
}

export const drasyl = loadVector<DrasylVectors>("drasyl.json");
