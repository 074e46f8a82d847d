import { createSocket, type Socket } from "node:dgram";
import { connect, type Socket as TcpSocket } from "node:net";
import { computeSessionKeys, type SessionKeys } from "../../sp-runtime/crypto/session.ts";
import { loadConfig, type SuperPeerConfig } from "../../sp-runtime/daemon/config.ts";
import { type RunningSuperPeer, startSuperPeer } from "../../sp-runtime/daemon/daemon.ts";
import { FrameReader, frame } from "../../sp-runtime/daemon/frame-reader.ts";
import { Logger } from "../../sp-runtime/daemon/log.ts";
import { Identity } from "../../sp-runtime/identity/identity.ts";
import { hexToBytes } from "../../sp-runtime/util/hex.ts";
import { MessageType } from "../../sp-runtime/wire/constants.ts";
import type { Endpoint } from "../../sp-runtime/wire/endpoints.ts";
import { encodeHelloSuperPeer, nowMicros } from "../../sp-runtime/wire/messages.ts";
import { buildPacket, type HeaderFields } from "../../sp-runtime/wire/packet.ts";
import { drasyl } from "./vectors.ts";

/** The vector identities carry real difficulty-24+ proofs of work, so tests need not mine any. */
export function vectorIdentity(name: "id_1" | "id_2" | "id_3"): Identity {
  const v = drasyl.identities[name];
  if (!v || v.proofOfWork === undefined) throw new Error(`no identity ${name}`);
  return new Identity(hexToBytes(v.secretKey), v.proofOfWork);
}

export interface TestSuperPeer extends RunningSuperPeer {
  identity: Identity;
  config: SuperPeerConfig;
  stdout: string;
  logs: string[];
}

/** A real super peer on loopback with OS-chosen ports, configured through the same env variables as production. */
export async function startTestSuperPeer(
  env: Record<string, string> = {},
  identity = vectorIdentity("id_1"),
): Promise<TestSuperPeer> {
  const config = loadConfig({
    DRASYL_UDP4_LISTEN: "127.0.0.1:0",
    DRASYL_UDP6_LISTEN: "[::1]:0",
    DRASYL_TCP4_LISTEN: "127.0.0.1:0",
    DRASYL_TCP6_LISTEN: "",
    DRASYL_PROMETHEUS_LISTEN: "",
    DRASYL_PEERS_PRINT_INTERVAL: "0",
    ...env,
  });
  const logs: string[] = [];
  const out = { text: "" };
  const running = await startSuperPeer(config, identity, new Logger(config.logLevel, (l) => logs.push(l)), (t) => {
    out.text += t;
  });
  return Object.assign(running, {
    identity,
    config,
    logs,
    get stdout() {
      return out.text;
    },
  });
}

/** A hand-driven client: builds exactly the packets a test wants, including wrong ones. */
export class RawClient {
  readonly socket: Socket;
  readonly identity: Identity;
  readonly session: SessionKeys;
  private readonly inbox: Buffer[] = [];
  private waiters: (() => void)[] = [];

  private constructor(socket: Socket, identity: Identity, sp: Identity) {
    this.socket = socket;
    this.identity = identity;
    this.session = computeSessionKeys(identity.xPublic, identity.xSecret, sp.xPublic);
    socket.on("message", (m) => {
      this.inbox.push(m);
      for (const w of this.waiters.splice(0)) w();
    });
  }

  static async open(identity: Identity, sp: Identity, family: 4 | 6 = 4): Promise<RawClient> {
    const socket = createSocket(family === 4 ? "udp4" : "udp6");
    await new Promise<void>((r) => socket.bind(0, family === 4 ? "127.0.0.1" : "::1", () => r()));
    return new RawClient(socket, identity, sp);
  }

  get port(): number {
    return this.socket.address().port;
  }

  header(recipient: Uint8Array, type: MessageType, over: Partial<HeaderFields> = {}): HeaderFields {
    return {
      hopCount: 0,
      networkId: 1,
      recipient,
      sender: this.identity.publicKey,
      pow: this.identity.pow,
      type,
      ...over,
    };
  }

  hello(
    sp: Uint8Array,
    opts: { time?: bigint; endpoints?: Endpoint[]; armed?: boolean; header?: Partial<HeaderFields> } = {},
  ): Uint8Array {
    const body = encodeHelloSuperPeer(opts.time ?? nowMicros(), opts.endpoints ?? []);
    return buildPacket(
      this.header(sp, MessageType.Hello, opts.header),
      body,
      opts.armed === false ? {} : { txKey: this.session.tx },
    );
  }

  send(pkt: Uint8Array, port: number, host = "127.0.0.1"): void {
    this.socket.send(pkt, port, host);
  }

  /** Next datagram, or undefined after `ms` of silence. */
  async receive(ms = 1000): Promise<Buffer | undefined> {
    const deadline = Date.now() + ms;
    while (this.inbox.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.inbox.shift();
  }

  close(): void {
    this.socket.close();
  }
}

/** A framed TCP client for the fallback path. */
export class RawTcpClient {
  readonly socket: TcpSocket;
  readonly frames: Buffer[] = [];
  closed = false;

  private constructor(socket: TcpSocket) {
    this.socket = socket;
    const reader = new FrameReader(
      65535,
      (f) => {
        this.frames.push(Buffer.from(f));
        return true;
      },
      () => undefined,
    );
    socket.on("data", (c: Buffer) => reader.feed(c));
    socket.on("close", () => {
      this.closed = true;
    });
    socket.on("error", () => undefined);
  }

  static async connect(port: number, host = "127.0.0.1"): Promise<RawTcpClient> {
    const socket = connect({ port, host, noDelay: true });
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    return new RawTcpClient(socket);
  }

  send(pkt: Uint8Array): void {
    this.socket.write(frame(pkt));
  }

  async waitFor(pred: () => boolean, ms = 2000): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 10));
    }
    return true;
  }

  close(): void {
    this.socket.destroy();
  }
}

export async function until(pred: () => boolean, ms = 3000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}

/**
 * Per-test cleanup for a test file: `defer` registers what to close, and everything registered is
 * closed (last first) after each test, so a failing assertion never leaks sockets into the next.
 */
export function deferredCleanup(afterEach: (fn: () => Promise<void>) => void): {
  defer: (fn: () => unknown) => void;
  superPeer: (env?: Record<string, string>) => Promise<TestSuperPeer>;
} {
  const cleanups: (() => unknown)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  const defer = (fn: () => unknown): void => {
    cleanups.push(fn);
  };
  return {
    defer,
    superPeer: async (env = {}) => {
      const sp = await startTestSuperPeer(env);
      defer(() => sp.close());
      return sp;
    },
  };
}
