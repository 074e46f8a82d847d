/**
 * A mutex in one Int32 of a SharedArrayBuffer (the futex scheme: 0 free, 1 held, 2 held with
 * waiters), for the writes to the shared peer and pair tables that must not interleave across
 * worker threads: inserts, removals, UNITE decisions. Uncontended it costs one compare-exchange to
 * take and one exchange to give back, so a single worker pays next to nothing for it.
 */
export class SharedLock {
  private readonly word: Int32Array;
  private readonly maxWaitMs: number;

  constructor(buffer: SharedArrayBuffer, byteOffset: number, maxWaitMs = 10_000) {
    this.word = new Int32Array(buffer, byteOffset, 1);
    this.maxWaitMs = maxWaitMs;
  }

  acquire(): void {
    const w = this.word;
    if (Atomics.compareExchange(w, 0, 0, 1) === 0) return;
    let waited = 0;
    while (Atomics.exchange(w, 0, 2) !== 0) {
      // Critical sections take microseconds. Only a thread that died inside one (killed, out of
      // memory) holds it this long; failing loudly lets the service manager restart the daemon,
      // where waiting on would leave it hung.
      if (Atomics.wait(w, 0, 2, 100) === "timed-out" && (waited += 100) >= this.maxWaitMs)
        throw new Error(
          `the shared peer table's lock was held for ${this.maxWaitMs} ms: a worker thread died holding it`,
        );
    }
  }

  release(): void {
    if (Atomics.exchange(this.word, 0, 0) === 2) Atomics.notify(this.word, 0, 1);
  }
}
