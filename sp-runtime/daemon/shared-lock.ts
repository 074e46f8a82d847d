/**
 * A mutex in one Int32 of a SharedArrayBuffer (the futex scheme: 0 free, 1 held, 2 held with
 * waiters), for the writes to the shared peer and pair tables that must not interleave across
 * worker threads: inserts, removals, UNITE decisions. Uncontended it costs one compare-exchange to
 * take and one exchange to give back, so a single worker pays next to nothing for it.
 */
export class SharedLock {
  private readonly word: Int32Array;

  constructor(buffer: SharedArrayBuffer, byteOffset: number) {
    this.word = new Int32Array(buffer, byteOffset, 1);
  }

  acquire(): void {
    const w = this.word;
    if (Atomics.compareExchange(w, 0, 0, 1) === 0) return;
    while (Atomics.exchange(w, 0, 2) !== 0) Atomics.wait(w, 0, 2);
  }

  release(): void {
    if (Atomics.exchange(this.word, 0, 0) === 2) Atomics.notify(this.word, 0, 1);
  }
}
