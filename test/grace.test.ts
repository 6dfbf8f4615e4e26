import { describe, expect, it } from "vitest";
import { GraceQueue } from "../src/lookup/grace.js";

/** The dataplane's grace periods, played by hand: a token is done once `passed` reaches it. */
function clock() {
  const c = {
    next: 1,
    passed: 0,
    graceStart: () => c.next++,
    graceDone: (t: number) => t <= c.passed,
  };
  return c;
}

describe("GraceQueue", () => {
  it("hands an id back only after the grace period that began when it was given back", () => {
    const c = clock();
    const q = new GraceQueue(c);
    q.hold(7);
    q.hold(3);
    expect(q.ready()).toEqual([]);
    c.passed = 1; // the workers passed a quiescent state after 7 went, not yet after 3
    expect(q.ready()).toEqual([7]);
    expect(q.size).toBe(1);
    q.hold(9);
    c.passed = 3;
    expect(q.ready()).toEqual([3, 9]);
    expect(q.ready()).toEqual([]);
  });

  it("waits for the oldest only when asked, for nothing when none is held, and not for ever", () => {
    const c = clock();
    const q = new GraceQueue(c, 30);
    expect(q.waitOne()).toBeUndefined();
    q.hold(5);
    q.hold(6);
    // a worker that never moves on: the wait gives up after waitMs and 5 stays held
    const t0 = Date.now();
    expect(q.waitOne()).toBeUndefined();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(25);
    expect(q.size).toBe(2);
    c.passed = 1;
    expect(q.waitOne()).toBe(5);
    expect(q.ready()).toEqual([]); // 6's period began after 5's
    expect(q.size).toBe(1);
  });
});
