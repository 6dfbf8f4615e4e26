import type { NativeDataplane } from "./native.js";

/**
 * Ids given back wait out a grace period before they are handed out again. Until every worker has
 * passed a quiescent state after an object went, a worker may still count a packet of the old
 * owner under its id (an SA's, a policy's, a FIB's, an adjacency's counters are indexed by id);
 * the new owner's counters start from a reading taken when it gets the id, so that reading must
 * come after the old owner's last packet. Workers pass a quiescent state after every burst, so
 * the wait is microseconds; an id is only waited for when no other is free.
 */
const PAUSE = new Int32Array(new SharedArrayBuffer(4));

export class GraceQueue {
  readonly #held: { id: number; token: number }[] = [];
  constructor(
    readonly dp: Pick<NativeDataplane, "graceStart" | "graceDone">,
    /** how long waitOne may block the control thread for a worker that is not moving on */
    readonly waitMs = 100,
  ) {}

  hold(id: number): void {
    this.#held.push({ id, token: this.dp.graceStart() });
  }

  /** The held ids whose grace period has passed, in the order they were held (tokens only grow). */
  ready(): number[] {
    let n = 0;
    while (n < this.#held.length && this.dp.graceDone(this.#held[n]!.token)) n++;
    return n ? this.#held.splice(0, n).map((h) => h.id) : [];
  }

  /** The oldest held id once its grace period has passed (blocking until then, for waitMs at
   *  most: a worker stuck inside a burst must not freeze the control plane), or undefined when
   *  none is held or the wait ran out (the id stays held). */
  waitOne(): number | undefined {
    const h = this.#held[0];
    if (!h) return undefined;
    const end = Date.now() + this.waitMs;
    while (!this.dp.graceDone(h.token)) {
      if (Date.now() >= end) return undefined;
      Atomics.wait(PAUSE, 0, 0, 0.05); // a 50 µs sleep on the control thread
    }
    this.#held.shift();
    return h.id;
  }

  get size(): number {
    return this.#held.length;
  }
}
