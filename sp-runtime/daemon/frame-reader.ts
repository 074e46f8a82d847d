/**
 * Splits a TCP byte stream into u16-BE length-prefixed frames (tokio LengthDelimitedCodec with a
 * 2-byte length). Whole frames inside one chunk are handed out as views without copying; only a
 * frame split across chunks is buffered, and never more than 2 + maxFrame bytes. Frames over
 * maxFrame are skipped as they stream by instead of being buffered.
 */
export class FrameReader {
  private pending: Buffer | undefined;
  private skip = 0;
  private readonly maxFrame: number;
  private readonly onFrame: (frame: Buffer) => boolean;
  private readonly onOversized: () => void;

  /** onFrame returns false to stop reading (the connection is being closed). */
  constructor(maxFrame: number, onFrame: (frame: Buffer) => boolean, onOversized: () => void) {
    this.maxFrame = maxFrame;
    this.onFrame = onFrame;
    this.onOversized = onOversized;
  }

  feed(chunk: Buffer): void {
    let data = chunk;
    if (this.skip > 0) {
      const n = Math.min(this.skip, data.length);
      this.skip -= n;
      data = data.subarray(n);
    }
    if (this.pending !== undefined) {
      data = Buffer.concat([this.pending, data]);
      this.pending = undefined;
    }
    let off = 0;
    while (data.length - off >= 2) {
      const len = ((data[off] as number) << 8) | (data[off + 1] as number);
      if (len > this.maxFrame) {
        this.onOversized();
        const available = data.length - off - 2;
        if (available >= len) {
          off += 2 + len;
          continue;
        }
        this.skip = len - available;
        return;
      }
      if (data.length - off - 2 < len) break;
      const frame = data.subarray(off + 2, off + 2 + len);
      off += 2 + len;
      if (!this.onFrame(frame)) return;
    }
    if (off < data.length) this.pending = Buffer.from(data.subarray(off));
  }
}

export function frame(pkt: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(pkt.length + 2);
  out[0] = pkt.length >>> 8;
  out[1] = pkt.length & 0xff;
  out.set(pkt, 2);
  return out;
}
