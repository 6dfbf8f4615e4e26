import type { NativeDataplane } from "./native.js";

/**
 * Ids given back wait out a grace period before they are handed out again. Until every worker has
 * passed a quiescent state after an object went, a worker may still count a packet of the old
 * owner under its id (an SA's, a policy's, a FIB's, an adjacency's counters are indexed by id);
 * the new owner's counters start from a reading taken when it gets the id, so that reading must
 * come after the old owner's last packet. Workers pass a quiescent state after every burst, so
 * the wait is microseconds; an id is only waited for when no other is free.
 */
export class GraceQueue {
  readonly #held: { id: number; token: number }[] = [];
  constructor(readonly dp: Pick<NativeDataplane, "graceStart" | "graceDone" | "graceWait">) {}

  hold(id: number): void {
    this.#held.push({ id, token: this.dp.graceStart() });
  }

  /** The held ids whose grace period has passed, in the order they were held (tokens only grow). */
  ready(): number[] {
    let n = 0;
    while (n < this.#held.length && this.dp.graceDone(this.#held[n]!.token)) n++;
    return n ? this.#held.splice(0, n).map((h) => h.id) : [];
  }

  /** The oldest held id once its grace period has passed (blocks until then), or undefined when
   *  none is held. */
  waitOne(): number | undefined {
    const h = this.#held.shift();
    if (h) this.dp.graceWait(h.token);
    return h?.id;
  }

  get size(): number {
    return this.#held.length;
  }
}
