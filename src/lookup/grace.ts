import type { NativeDataplane } from "./native.js";

const PAUSE = new Int32Array(new SharedArrayBuffer(4));

/**
 * Free ids of one kind of dataplane object (SA, policy, tunnel, FIB, sub-FIB, nexthop group,
 * adjacency). An id whose object the workers may have seen comes back through release(): it is
 * handed out again only after every worker has passed a quiescent state since. Until then a worker
 * may still hold the old object by its id, or count a packet of it under the id (counters are
 * indexed by id); the new owner's counters start from a reading taken when it gets the id, which
 * must come after the old owner's last packet. Workers pass a quiescent state after every burst,
 * so the wait is microseconds; take() only waits when no other id is free, and for waitMs at most
 * (a worker stuck inside a burst must not freeze the control plane).
 */
export class FreeIds {
  readonly #free: number[] = [];
  readonly #held: { id: number; token: number }[] = [];
  constructor(
    readonly dp: Pick<NativeDataplane, "graceStart" | "graceDone">,
    /** ids 0..n-1 start free (taken lowest first); 0: the caller hands out fresh ids itself */
    n = 0,
    readonly waitMs = 100,
  ) {
    for (let i = n - 1; i >= 0; i--) this.#free.push(i);
  }

  /** A free id, or undefined when there is none; wait: when none is free, wait for the oldest held
   *  one (undefined when that wait runs out, the id staying held). */
  take(wait = true): number | undefined {
    let n = 0;
    while (n < this.#held.length && this.dp.graceDone(this.#held[n]!.token)) n++;
    for (const h of this.#held.splice(0, n)) this.#free.push(h.id);
    const id = this.#free.pop();
    if (id !== undefined || !wait || !this.#held.length) return id;
    const h = this.#held[0]!;
    const end = Date.now() + this.waitMs;
    while (!this.dp.graceDone(h.token)) {
      if (Date.now() >= end) return undefined;
      Atomics.wait(PAUSE, 0, 0, 0.05); // a 50 µs sleep on the control thread
    }
    this.#held.shift();
    return h.id;
  }

  /** Gives back an id no worker saw (an add that failed before it was published). */
  give(id: number): void {
    this.#free.push(id);
  }

  /** Gives back the id of an object the workers may have seen: free after their grace period. */
  release(id: number): void {
    this.#held.push({ id, token: this.dp.graceStart() });
  }

  /** ids waiting for their grace period */
  get held(): number {
    return this.#held.length;
  }
}
