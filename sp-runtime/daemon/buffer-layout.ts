/**
 * Hands out offsets in one SharedArrayBuffer for the typed arrays of a table, each 8-byte aligned
 * so that a Float64Array may start at any of them.
 */
export class BufferLayout {
  size = 0;

  at(bytes: number): number {
    const offset = Math.ceil(this.size / 8) * 8;
    this.size = offset + bytes;
    return offset;
  }
}
