/**
 * Controller sessions (ARCHITECTURE §6, seed 002's CE high availability) and the event hub.
 *
 * A controller opens a session with a Hello naming its client (the owner of its routes), its
 * instance, its administrative distance and the role it asks for. Per client, one instance is
 * the primary and the others are backups; only the primary may write (a write names its client
 * and instance in metadata). When the primary's session ends or its heartbeat lapses (three
 * intervals without a message), the oldest backup is promoted and told so on its session and on
 * the event stream; the routes stay as they are, so forwarding does not notice.
 *
 * When a client's last session goes, its routes go stale and a timer starts (the Hello's
 * stale_time_s, else the daemon's default). A client that comes back resyncs by mark-and-sweep
 * (BeginResync marks its routes stale, re-adding refreshes them, EndResync removes the rest);
 * when the timer fires first, the routes still stale are removed. Stale routes forward until
 * they are removed.
 *
 * Clients that never open a session may write too (a CLI, a script): their routes stay until
 * they withdraw them.
 */
import { ApiError, DISTANCE_DEFAULT, type Model } from "../fib/model.js";

export type RoleName = "primary" | "backup";

export interface SessionPeer {
  /** sends a message on the session's stream */
  send(msg: { role?: { client: string; instance: string; role: string; reason: string }; heartbeat?: { seq: number } }): void;
  /** ends the session's stream from the server side */
  end(): void;
}

interface Instance {
  id: string;
  role: RoleName;
  connected: Date;
  heartbeatMs: number;
  lastSeen: number;
  peer: SessionPeer;
  order: number;
}

interface Client {
  name: string;
  distance: number;
  staleTimeS: number;
  instances: Map<string, Instance>;
  staleTimer: NodeJS.Timeout | null;
  staleExpires: number;
  resyncing: boolean;
}

export interface EventMsg {
  route?: { subfib: string; prefix: string; withdrawn: boolean; owner: string; nexthops: string };
  neighbour?: { port: string; address: string; mac: string };
  port?: { port: string; up: boolean };
  role?: { client: string; instance: string; role: string; reason: string };
  ipsec_expire?: { protocol: string; spi: number; direction: string; dst: string; reqid: number; hard: boolean; reason: string };
}

export type EventType = "route" | "neighbour" | "port" | "role" | "ipsec";

interface Subscriber {
  types: Set<EventType>;
  queue: { seq: number; time: string; ev: EventMsg; lost: number }[];
  lost: number;
  wake: () => void;
}

const QUEUE_MAX = 65536;

/** Fan-out of events to subscribers, each with a bounded queue (overflow is counted, not fatal). */
export class EventHub {
  readonly #subs = new Set<Subscriber>();
  #seq = 0;

  subscribe(types: EventType[], wake: () => void): Subscriber {
    const s: Subscriber = { types: new Set(types.length === 0 ? (["route", "neighbour", "port", "role", "ipsec"] as EventType[]) : types), queue: [], lost: 0, wake };
    this.#subs.add(s);
    return s;
  }

  unsubscribe(s: Subscriber): void {
    this.#subs.delete(s);
  }

  wants(t: EventType): boolean {
    for (const s of this.#subs) if (s.types.has(t)) return true;
    return false;
  }

  publish(t: EventType, ev: EventMsg): void {
    const seq = ++this.#seq;
    const time = new Date().toISOString();
    for (const s of this.#subs) {
      if (!s.types.has(t)) continue;
      if (s.queue.length >= QUEUE_MAX) {
        s.lost++;
        continue;
      }
      s.queue.push({ seq, time, ev, lost: s.lost });
      s.lost = 0;
      s.wake();
    }
  }
}

export interface SessionInfo {
  client: string;
  instance: string;
  role: string;
  distance: number;
  routes: number;
  staleRoutes: number;
  connected: string;
  staleExpiresS: number;
  resyncing: boolean;
}

export class Sessions {
  readonly #clients = new Map<string, Client>();
  readonly #model: () => Model;
  readonly #events: EventHub;
  readonly #serial: <T>(f: () => Promise<T>) => Promise<T>;
  readonly #defaultStaleS: number;
  readonly #log: (msg: string) => void;
  #order = 0;
  readonly #tick: NodeJS.Timeout;

  constructor(o: { model: () => Model; events: EventHub; serial: <T>(f: () => Promise<T>) => Promise<T>; staleTimeS: number; log: (msg: string) => void }) {
    this.#model = o.model;
    this.#events = o.events;
    this.#serial = o.serial;
    this.#defaultStaleS = o.staleTimeS;
    this.#log = o.log;
    this.#tick = setInterval(() => this.#checkHeartbeats(), 50);
    this.#tick.unref();
  }

  close(): void {
    clearInterval(this.#tick);
    for (const c of this.#clients.values()) if (c.staleTimer) clearTimeout(c.staleTimer);
  }

  #client(name: string, distance: number): Client {
    let c = this.#clients.get(name);
    if (!c) {
      c = { name, distance, staleTimeS: this.#defaultStaleS, instances: new Map(), staleTimer: null, staleExpires: 0, resyncing: false };
      this.#clients.set(name, c);
    }
    return c;
  }

  /** The distance for a write by a client (its session's, else the metadata's, else 100). */
  distanceOf(client: string, fromMetadata: number | null): number {
    const c = this.#client(client, fromMetadata ?? DISTANCE_DEFAULT);
    if (c.instances.size === 0 && fromMetadata !== null) c.distance = fromMetadata;
    return c.distance;
  }

  /** Refuses writes by a backup instance, or by a client whose primary is another instance. */
  checkWrite(client: string, instance: string): void {
    const c = this.#clients.get(client);
    if (!c || c.instances.size === 0) return;
    const primary = [...c.instances.values()].find((i) => i.role === "primary");
    if (instance === "" || !c.instances.has(instance)) {
      throw new ApiError("PERMISSION_DENIED", `client "${client}" has a session (primary ${primary?.id ?? "?"}); writes must come from its primary instance (metadata srcfib-instance)`);
    }
    if (c.instances.get(instance)!.role !== "primary") {
      throw new ApiError("PERMISSION_DENIED", `instance "${instance}" of client "${client}" is a backup; only the primary (${primary?.id ?? "?"}) may write`);
    }
  }

  /** Opens a session; returns the Welcome. */
  async open(h: { client: string; instance: string; distance: number; role: string; heartbeatMs: number; staleTimeS: number }, peer: SessionPeer): Promise<{ role: RoleName; primary: string; staleRoutes: number; staleTimeS: number }> {
    if (!/^[A-Za-z0-9_.:@-]{1,64}$/.test(h.client)) throw new ApiError("INVALID_ARGUMENT", `hello.client: "${h.client}" is not a client name (1-64 of A-Z a-z 0-9 _ . : @ -)`);
    if (h.client === "config" || h.client === "connected" || h.client === "neighbour") throw new ApiError("INVALID_ARGUMENT", `hello.client: "${h.client}" is reserved`);
    if (!/^[A-Za-z0-9_.:@-]{1,64}$/.test(h.instance)) throw new ApiError("INVALID_ARGUMENT", `hello.instance: "${h.instance}" is not an instance name (1-64 of A-Z a-z 0-9 _ . : @ -)`);
    if (h.distance > 255) throw new ApiError("INVALID_ARGUMENT", `hello.distance: ${h.distance} is above 255`);
    if (h.heartbeatMs !== 0 && (h.heartbeatMs < 10 || h.heartbeatMs > 600000)) throw new ApiError("INVALID_ARGUMENT", `hello.heartbeat_ms: ${h.heartbeatMs} is out of range 10-600000 (or 0 for none)`);
    if (h.staleTimeS > 86400) throw new ApiError("INVALID_ARGUMENT", `hello.stale_time_s: ${h.staleTimeS} is above 86400`);
    const distance = h.distance === 0 ? DISTANCE_DEFAULT : h.distance;
    const c = this.#client(h.client, distance);
    if (c.instances.has(h.instance)) throw new ApiError("ALREADY_EXISTS", `hello.instance: client "${h.client}" already has a session from instance "${h.instance}"`);
    const primary = [...c.instances.values()].find((i) => i.role === "primary");
    const role: RoleName = primary ? "backup" : "primary";
    c.instances.set(h.instance, { id: h.instance, role, connected: new Date(), heartbeatMs: h.heartbeatMs, lastSeen: Date.now(), peer, order: this.#order++ });
    if (h.staleTimeS !== 0) c.staleTimeS = h.staleTimeS;
    if (role === "primary" && c.distance !== distance) {
      c.distance = distance;
      await this.#serial(() => this.#model().setDistance(c.name, distance));
    }
    this.#events.publish("role", { role: { client: c.name, instance: h.instance, role, reason: "session opened" } });
    this.#log(`session: ${c.name}/${h.instance} opened as ${role}`);
    return { role, primary: primary?.id ?? h.instance, staleRoutes: this.#model().rib.countStale(c.name), staleTimeS: c.staleTimeS };
  }

  seen(client: string, instance: string): void {
    const i = this.#clients.get(client)?.instances.get(instance);
    if (i) i.lastSeen = Date.now();
  }

  /** A session ended (stream closed, error, or heartbeat lapsed). */
  ended(client: string, instance: string, reason: string): void {
    const c = this.#clients.get(client);
    const inst = c?.instances.get(instance);
    if (!c || !inst) return;
    c.instances.delete(instance);
    this.#log(`session: ${client}/${instance} (${inst.role}) ended: ${reason}`);
    this.#events.publish("role", { role: { client, instance, role: "gone", reason } });
    if (inst.role === "primary") {
      const next = [...c.instances.values()].sort((a, b) => a.order - b.order)[0];
      if (next) {
        next.role = "primary";
        const why = `primary ${instance} ${reason}`;
        this.#log(`session: ${client}/${next.id} promoted to primary (${why})`);
        try {
          next.peer.send({ role: { client, instance: next.id, role: "primary", reason: why } });
        } catch {
          /* its stream is going too; the next check ends it */
        }
        this.#events.publish("role", { role: { client, instance: next.id, role: "primary", reason: why } });
      }
    }
    if (c.instances.size === 0) {
      const n = this.#model().rib.markStale(client);
      this.#log(`session: client ${client} has no session left: ${n} route(s) stale, removed in ${c.staleTimeS} s unless it resyncs`);
      this.#startStaleTimer(c);
    }
  }

  #startStaleTimer(c: Client): void {
    if (c.staleTimer) clearTimeout(c.staleTimer);
    c.staleExpires = Date.now() + c.staleTimeS * 1000;
    c.staleTimer = setTimeout(() => {
      c.staleTimer = null;
      c.resyncing = false;
      void this.#sweep(c.name, "stale timer expired").catch((err: unknown) => this.#log(`session: sweeping ${c.name}: ${err instanceof Error ? err.message : String(err)}`));
    }, c.staleTimeS * 1000);
    c.staleTimer.unref();
  }

  async #sweep(client: string, why: string): Promise<number> {
    return this.#serial(async () => {
      const model = this.#model();
      const n = await model.removeRoutes(client, model.rib.staleOf(client));
      this.#log(`session: ${client}: ${n} stale route(s) removed (${why})`);
      return n;
    });
  }

  async beginResync(client: string, instance: string): Promise<number> {
    this.checkWrite(client, instance);
    const c = this.#client(client, DISTANCE_DEFAULT);
    const n = this.#model().rib.markStale(client);
    c.resyncing = true;
    this.#startStaleTimer(c);
    return n;
  }

  async endResync(client: string, instance: string): Promise<number> {
    this.checkWrite(client, instance);
    const c = this.#clients.get(client);
    if (c?.staleTimer) clearTimeout(c.staleTimer);
    if (c) {
      c.staleTimer = null;
      c.resyncing = false;
    }
    return this.#sweep(client, "resync ended");
  }

  #checkHeartbeats(): void {
    const now = Date.now();
    for (const c of this.#clients.values()) {
      for (const i of [...c.instances.values()]) {
        if (i.heartbeatMs === 0 || now - i.lastSeen <= 3 * i.heartbeatMs) continue;
        try {
          i.peer.end();
        } catch {
          /* already gone */
        }
        this.ended(c.name, i.id, `heartbeat lapsed (nothing for ${now - i.lastSeen} ms, interval ${i.heartbeatMs} ms)`);
      }
    }
  }

  list(): SessionInfo[] {
    const model = this.#model();
    const out: SessionInfo[] = [];
    for (const c of this.#clients.values()) {
      const routes = model.rib.count(c.name);
      const stale = model.rib.countStale(c.name);
      const expires = c.staleTimer ? Math.max(0, Math.ceil((c.staleExpires - Date.now()) / 1000)) : 0;
      if (c.instances.size === 0) {
        if (routes === 0) continue;
        out.push({ client: c.name, instance: "", role: c.staleTimer ? "gone" : "sessionless", distance: c.distance, routes, staleRoutes: stale, connected: "", staleExpiresS: expires, resyncing: c.resyncing });
      }
      for (const i of [...c.instances.values()].sort((a, b) => a.order - b.order)) {
        out.push({ client: c.name, instance: i.id, role: i.role, distance: c.distance, routes, staleRoutes: stale, connected: i.connected.toISOString(), staleExpiresS: expires, resyncing: c.resyncing });
      }
    }
    return out;
  }
}
