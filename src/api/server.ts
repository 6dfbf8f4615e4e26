/**
 * The gRPC API (package srcfib.v1, src/api/proto/): the services over the live model.
 *
 * Served on a Unix socket (mode 0600) and optionally on TCP with TLS and client certificates
 * (or plaintext behind an explicit insecure flag). Server reflection is on.
 *
 * Writes run one at a time (a promise chain), each validated completely before it changes
 * anything; reads run between them. A refused request gets the status of its ApiError and a
 * message that names the field; batch errors also carry trailing metadata srcfib-bad-index.
 * Clients name themselves in metadata: srcfib-client (required for writes), srcfib-instance
 * (for a session's instance), srcfib-distance (sessionless clients).
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, unlinkSync } from "node:fs";
import { connect } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import type { ApiConfig } from "./config.js";
import { EventHub, Sessions, type EventType } from "./sessions.js";
import { ApiError, type Model, type NexthopIn, type RouteOpIn, type RouteOut, type RouteType } from "../fib/model.js";
import type { DataplaneCounters } from "../fib/dataplane.js";
import type { Lifetime, Sad, SaOut } from "../ipsec/sad.js";

/** What the Ipsec service needs: the SAD/SPD, its counters, and which crypto device runs it. */
export interface IpsecApi {
  sad: Sad;
  /** refreshes the SAs' counters from the dataplane; the policies' hits */
  counters(): { spIn: Float64Array; spOut: Float64Array };
  device: string;
}
import { formatPrefix as fmtPrefix, parsePrefix, type Family } from "../lookup/prefix.js";

export const PROTO_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "src", "api", "proto");
export const PROTO_FILES = ["srcfib/v1/common.proto", "srcfib/v1/routes.proto", "srcfib/v1/fibs.proto", "srcfib/v1/ops.proto", "srcfib/v1/ipsec.proto"];
export const LOADER_OPTIONS: protoLoader.Options = { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true, includeDirs: [PROTO_DIR] };

export function loadProto(): { def: protoLoader.PackageDefinition; pkg: grpc.GrpcObject } {
  const def = protoLoader.loadSync(PROTO_FILES, LOADER_OPTIONS);
  return { def, pkg: grpc.loadPackageDefinition(def) };
}

function service(pkg: grpc.GrpcObject, name: string): grpc.ServiceDefinition {
  const v1 = (pkg.srcfib as grpc.GrpcObject).v1 as grpc.GrpcObject;
  return (v1[name] as grpc.ServiceClientConstructor).service;
}

const STATUS: Record<ApiError["code"], grpc.status> = {
  INVALID_ARGUMENT: grpc.status.INVALID_ARGUMENT,
  NOT_FOUND: grpc.status.NOT_FOUND,
  ALREADY_EXISTS: grpc.status.ALREADY_EXISTS,
  FAILED_PRECONDITION: grpc.status.FAILED_PRECONDITION,
  PERMISSION_DENIED: grpc.status.PERMISSION_DENIED,
  INTERNAL: grpc.status.INTERNAL,
};

function toStatus(err: unknown): Partial<grpc.StatusObject> {
  if (err instanceof ApiError) {
    const md = new grpc.Metadata();
    if (err.index !== undefined) md.set("srcfib-bad-index", String(err.index));
    return { code: STATUS[err.code], details: err.message, metadata: md };
  }
  return { code: grpc.status.INTERNAL, details: err instanceof Error ? err.message : String(err) };
}

type Obj = Record<string, unknown>;

function mdString(md: grpc.Metadata, key: string): string {
  const v = md.get(key)[0];
  return v === undefined ? "" : String(v);
}

const FAMILY: Record<string, 0 | Family> = { FAMILY_UNSPECIFIED: 0, FAMILY_IPV4: 4, FAMILY_IPV6: 6 };
const OPS: Record<string, RouteOpIn["op"]> = { OP_ADD: "add", OP_DELETE: "delete", OP_REPLACE: "replace" };
const TYPES: Record<string, RouteType | null> = {
  ROUTE_TYPE_UNSPECIFIED: null,
  ROUTE_TYPE_FORWARD: "forward",
  ROUTE_TYPE_BLACKHOLE: "blackhole",
  ROUTE_TYPE_UNREACHABLE: "unreachable",
  ROUTE_TYPE_PROHIBIT: "prohibit",
  ROUTE_TYPE_LOCAL: "local",
  ROUTE_TYPE_IPSEC: "ipsec",
};
const TYPE_ENUM: Record<RouteType, string> = { forward: "ROUTE_TYPE_FORWARD", blackhole: "ROUTE_TYPE_BLACKHOLE", unreachable: "ROUTE_TYPE_UNREACHABLE", prohibit: "ROUTE_TYPE_PROHIBIT", local: "ROUTE_TYPE_LOCAL", ipsec: "ROUTE_TYPE_IPSEC" };
const EVENT_TYPES: Record<string, EventType> = { EVENT_TYPE_ROUTE: "route", EVENT_TYPE_NEIGHBOUR: "neighbour", EVENT_TYPE_PORT: "port", EVENT_TYPE_ROLE: "role", EVENT_TYPE_IPSEC: "ipsec" };

function nexthopsIn(v: unknown): NexthopIn[] {
  return ((v as Obj[] | undefined) ?? []).map((n) => ({ via: String(n.via ?? ""), port: String(n.port ?? ""), weight: Number(n.weight ?? 0), mac: String(n.mac ?? "") }));
}

function lifeIn(v: unknown): Lifetime {
  const o = (v as Obj | null | undefined) ?? {};
  const n = (k: string): number => Number(o[k] ?? 0);
  return { softBytes: n("soft_bytes"), hardBytes: n("hard_bytes"), softPackets: n("soft_packets"), hardPackets: n("hard_packets"), softSeconds: n("soft_seconds"), hardSeconds: n("hard_seconds") };
}

function lifeMsg(l: Lifetime): Obj {
  return { soft_bytes: l.softBytes, hard_bytes: l.hardBytes, soft_packets: l.softPackets, hard_packets: l.hardPackets, soft_seconds: l.softSeconds, hard_seconds: l.hardSeconds };
}

export interface ApiDeps {
  model: () => Model;
  counters: () => DataplaneCounters;
  interfaces: () => Obj[];
  events: EventHub;
  /** the SAD and SPD, or null when IPsec is off */
  ipsec: () => IpsecApi | null;
  cfg: ApiConfig;
  log: (level: "info" | "warn" | "error", msg: string) => void;
}

/** The write queue: one write at a time, in arrival order. */
export function makeSerial(): <T>(f: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(f: () => Promise<T>): Promise<T> => {
    const run = tail.then(f, f);
    tail = run.catch(() => undefined);
    return run;
  };
}

function countersMsg(c: DataplaneCounters): Obj {
  return {
    drops: c.drops,
    ports: Object.fromEntries(Object.entries(c.ports).map(([k, v]) => [k, { values: v }])),
    fibs: c.fibs,
    subfibs: c.subfibs,
    rules: c.rules,
    adjacencies: c.adjacencies.map((a) => ({ id: a.id, port: a.port, via: a.via, mac: a.mac ?? "", packets: a.pkts, bytes: a.bytes })),
    workers: c.workers,
    time: new Date().toISOString(),
  };
}

export class ApiServer {
  readonly server: grpc.Server;
  readonly sessions: Sessions;
  readonly serial = makeSerial();
  readonly #deps: ApiDeps;
  readonly #streams = new Set<grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>>();
  #socket: string | null = null;

  constructor(deps: ApiDeps) {
    this.#deps = deps;
    this.sessions = new Sessions({ model: deps.model, events: deps.events, serial: this.serial, staleTimeS: deps.cfg.staleTimeS, log: (m) => deps.log("info", m) });
    const { def, pkg } = loadProto();
    // Big batches: a full table in 1000-route batches is well under this; the batch limit is
    // api.batch_max operations.
    this.server = new grpc.Server({ "grpc.max_receive_message_length": 64 * 1024 * 1024, "grpc.max_send_message_length": 64 * 1024 * 1024 });
    new ReflectionService(def).addToServer(this.server);
    this.#addServices(pkg);
  }

  // ---- plumbing -------------------------------------------------------------------------------

  #unary(f: (req: Obj, md: grpc.Metadata) => unknown): grpc.handleUnaryCall<unknown, unknown> {
    return (call, cb) => {
      Promise.resolve()
        .then(() => f(call.request as Obj, call.metadata))
        .then(
          (res) => cb(null, res),
          (err: unknown) => cb(toStatus(err)),
        );
    };
  }

  /** A write: serialized, with the caller's identity checked. */
  #write(f: (req: Obj, who: { client: string; instance: string }, md: grpc.Metadata) => Promise<unknown>, needClient = false): grpc.handleUnaryCall<unknown, unknown> {
    return this.#unary((req, md) =>
      this.serial(async () => {
        const client = mdString(md, "srcfib-client");
        const instance = mdString(md, "srcfib-instance");
        if (needClient && client === "") throw new ApiError("INVALID_ARGUMENT", "metadata srcfib-client: missing; routes belong to the client that writes them, so a write must name it");
        if (client !== "") this.sessions.checkWrite(client, instance);
        return f(req, { client, instance }, md);
      }),
    );
  }

  #model(): Model {
    return this.#deps.model();
  }

  #fibMsg(name: string): Obj {
    const m = this.#model();
    const f = m.config.fibs.find((x) => x.name === name);
    if (!f) throw new ApiError("NOT_FOUND", `name: no FIB named "${name}"`);
    const c = this.#deps.counters();
    return {
      name,
      subfibs: f.subfibs.map((s) => ({ name: s.name, routes: m.rib.size(`${name}.${s.name}`), packets: c.subfibs[`${name}.${s.name}`] ?? 0 })),
      rules: f.rules.map((r) => ({
        fib: name,
        priority: r.priority,
        subfib: r.subfib,
        family: r.family === 0 ? "FAMILY_UNSPECIFIED" : `FAMILY_IPV${r.family}`,
        source: r.source ? `${fmtPrefix(r.source)}` : "",
        in_port: r.inPort ?? "",
        dscp: r.dscp ?? -1,
        has_dscp: r.dscp !== null,
        protocol: r.protocol === null ? "" : String(r.protocol),
        sport: r.sport ? (r.sport[0] === r.sport[1] ? String(r.sport[0]) : `${r.sport[0]}-${r.sport[1]}`) : "",
        dport: r.dport ? (r.dport[0] === r.dport[1] ? String(r.dport[0]) : `${r.dport[0]}-${r.dport[1]}`) : "",
        hits: c.rules[`${name}#${r.priority}`] ?? 0,
      })),
      packets: c.fibs[name] ?? 0,
      from_config: m.isFileFib(name),
    };
  }

  #bindingsMsg(): Obj {
    const m = this.#model();
    const out: Obj[] = [];
    for (const [t, b] of m.plan.bindings) {
      const explicit = m.config.bindings.some((x) => fmtPrefix(x.source) === t);
      out.push({ source: t, fib: b.fib, interface: "", implicit: !explicit, from_config: explicit ? m.isFileBinding(t) : true });
    }
    return { bindings: out, default_ipv4: m.config.defaultFib[4] ?? "", default_ipv6: m.config.defaultFib[6] ?? "" };
  }

  #ipsec(): IpsecApi {
    const x = this.#deps.ipsec();
    if (!x) throw new ApiError("FAILED_PRECONDITION", "IPsec is off in this dataplane (dataplane.ipsec: false in the configuration)");
    return x;
  }

  #addIpsec(pkg: grpc.GrpcObject): void {
    // AddSa arrives undecoded: the request's bytes (which hold the keys) are wiped once the SA is
    // installed or refused, and so are the decoded key buffers (Sad.addSa).
    const svc = service(pkg, "Ipsec");
    const decodeAdd = svc.AddSa!.requestDeserialize;
    const saMsg = (a: SaOut): Obj => ({
      protocol: a.protocol,
      spi: a.spi,
      direction: a.direction,
      mode: a.mode,
      src: a.src,
      dst: a.dst,
      inner_family: a.innerFamily,
      reqid: a.reqid,
      encryption: a.encryption,
      integrity: a.integrity,
      replay_window: a.replayWindow,
      esn: a.esn,
      natt: a.natt,
      natt_sport: a.nattSport,
      natt_dport: a.nattDport,
      lifetime: lifeMsg(a.lifetime),
      tunnel_mtu: a.tunnelMtu,
      state: a.state,
      expired_by: a.expiredBy,
      added: a.addedAt,
      current: a.current,
      packets: a.packets,
      bytes: a.bytes,
      replay_drops: a.replayDrops,
      auth_drops: a.authDrops,
      other_drops: a.otherDrops,
    });
    const idOf = (req: Obj): [string, number, string] => {
      const id = (req.id as Obj | null | undefined) ?? req;
      return [String(id.protocol ?? ""), Number(id.spi ?? 0), String(id.dst ?? "")];
    };
    this.server.addService({ ...svc, AddSa: { ...svc.AddSa!, requestDeserialize: (b: Buffer) => b } }, {
      AddSa: this.#write(async (raw) => {
        const buf = raw as unknown as Buffer;
        try {
          let req: Obj;
          try {
            req = decodeAdd(buf) as Obj;
          } catch (err: unknown) {
            throw new ApiError("INVALID_ARGUMENT", `request: not an AddSaRequest: ${err instanceof Error ? err.message : String(err)}`);
          }
          const x = this.#ipsec();
          const out = x.sad.addSa({
            spi: Number(req.spi ?? 0),
            protocol: String(req.protocol ?? ""),
            direction: String(req.direction ?? ""),
            mode: String(req.mode ?? ""),
            src: String(req.src ?? ""),
            dst: String(req.dst ?? ""),
            innerFamily: Number(req.inner_family ?? 0),
            reqid: Number(req.reqid ?? 0),
            encryption: String(req.encryption ?? ""),
            encryptionKey: (req.encryption_key as Buffer | undefined) ?? Buffer.alloc(0),
            integrity: String(req.integrity ?? ""),
            integrityKey: (req.integrity_key as Buffer | undefined) ?? Buffer.alloc(0),
            replayWindow: Number(req.replay_window ?? 0),
            esn: Boolean(req.esn),
            natt: Boolean(req.natt),
            nattSport: Number(req.natt_sport ?? 0),
            nattDport: Number(req.natt_dport ?? 0),
            lifetime: lifeIn(req.lifetime),
            tunnelMtu: Number(req.tunnel_mtu ?? 0),
          });
          this.#deps.log("info", `IPsec: added ${out.direction}bound ${out.protocol.toUpperCase()} SA spi 0x${out.spi.toString(16).padStart(8, "0")} ${out.src} -> ${out.dst} reqid ${out.reqid} (${[out.encryption, out.integrity].filter((t) => t !== "").join(" + ")})`);
          return saMsg(out);
        } finally {
          buf.fill(0);
        }
      }),
      UpdateSa: this.#write(async (req) => {
        const [p, spi, dst] = idOf(req);
        return saMsg(this.#ipsec().sad.updateSa(p, spi, dst, lifeIn(req.lifetime), Number(req.tunnel_mtu ?? 0)));
      }),
      DeleteSa: this.#write(async (req) => {
        const [p, spi, dst] = idOf(req);
        this.#ipsec().sad.deleteSa(p, spi, dst);
        this.#deps.log("info", `IPsec: deleted ${p.toUpperCase()} SA spi 0x${spi.toString(16).padStart(8, "0")} to ${dst}`);
        return {};
      }),
      GetSa: this.#unary((req) => {
        const x = this.#ipsec();
        x.counters();
        const [p, spi, dst] = idOf(req);
        return saMsg(x.sad.getSa(p, spi, dst));
      }),
      ListSas: this.#unary((req) => {
        const x = this.#ipsec();
        x.counters();
        const reqid = Number(req.reqid ?? 0);
        return { sas: x.sad.listSas().filter((a) => reqid === 0 || a.reqid === reqid).map(saMsg), crypto_device: x.device };
      }),
      AddSp: this.#write(async (req) => {
        const out = this.#ipsec().sad.addSp({
          name: String(req.name ?? ""),
          direction: String(req.direction ?? ""),
          priority: Number(req.priority ?? 0),
          src: String(req.src ?? ""),
          dst: String(req.dst ?? ""),
          protocol: String(req.protocol ?? ""),
          sport: String(req.sport ?? ""),
          dport: String(req.dport ?? ""),
          action: String(req.action ?? ""),
          reqid: Number(req.reqid ?? 0),
        });
        this.#deps.log("info", `IPsec: added ${out.direction}bound policy ${out.name}: ${out.src} -> ${out.dst} ${out.action}${out.reqid ? ` reqid ${out.reqid}` : ""}`);
        return out;
      }),
      DeleteSp: this.#write(async (req) => {
        this.#ipsec().sad.deleteSp(String(req.name ?? ""));
        return {};
      }),
      ListSps: this.#unary(() => {
        const x = this.#ipsec();
        const c = x.counters();
        return { policies: x.sad.listSps({ in: c.spIn, out: c.spOut }) };
      }),
    });
  }

  #addServices(pkg: grpc.GrpcObject): void {
    const d = this.#deps;
    // Routes.Modify arrives undecoded and is decoded when its turn in the write queue comes: a
    // burst of big batches would otherwise be decoded all in one turn of the event loop (tens of
    // milliseconds for a few 10k-route batches), and queued batches stay compact meanwhile.
    const routes = service(pkg, "Routes");
    const decodeModify = routes.Modify!.requestDeserialize;
    this.server.addService({ ...routes, Modify: { ...routes.Modify!, requestDeserialize: (b: Buffer) => b } }, {
      Modify: this.#write(async (raw, who, md) => {
        let req: Obj;
        try {
          req = decodeModify(raw as unknown as Buffer) as Obj;
        } catch (err: unknown) {
          throw new ApiError("INVALID_ARGUMENT", `request: not a ModifyRequest: ${err instanceof Error ? err.message : String(err)}`);
        }
        const ops: RouteOpIn[] = ((req.ops as Obj[] | undefined) ?? []).map((o) => {
          const r = (o.route as Obj | null) ?? {};
          return {
            op: OPS[String(o.op)] ?? null,
            route: { fib: String(r.fib ?? ""), subfib: String(r.subfib ?? ""), prefix: String(r.prefix ?? ""), type: TYPES[String(r.type)] ?? null, nexthops: nexthopsIn(r.nexthops), group: String(r.nexthop_group ?? ""), reqid: Number(r.ipsec_reqid ?? 0) },
            prefixes: (o.prefixes as string[] | undefined) ?? [],
          };
        });
        const dText = mdString(md, "srcfib-distance");
        if (dText !== "" && !/^\d{1,3}$/.test(dText)) throw new ApiError("INVALID_ARGUMENT", `metadata srcfib-distance: "${dText}" is not a distance (0-255)`);
        if (dText !== "" && Number(dText) > 255) throw new ApiError("INVALID_ARGUMENT", `metadata srcfib-distance: ${dText} is above 255`);
        const distance = this.sessions.distanceOf(who.client, dText === "" ? null : Number(dText));
        const r = await this.#model().modifyRoutes(who.client, distance, ops, d.cfg.batchMax);
        return { applied: r.applied, best_changes: r.bestChanges };
      }, true),
      List: (call: grpc.ServerWritableStream<Obj, Obj>) => {
        const q = call.request;
        let gen: Generator<RouteOut>;
        try {
          gen = this.#model().routes({ fib: String(q.fib ?? ""), subfib: String(q.subfib ?? ""), prefix: String(q.prefix ?? ""), owner: String(q.owner ?? ""), all: Boolean(q.all_candidates), local: Boolean(q.include_local), family: FAMILY[String(q.family)] ?? 0 });
          // run the generator's checks before the first write
          const first = gen.next();
          const pump = (r: IteratorResult<RouteOut>): void => {
            let cur = r;
            while (!cur.done) {
              const ok = call.write(routeMsg(cur.value));
              cur = gen.next();
              if (!ok && !cur.done) {
                const next = cur;
                call.once("drain", () => pump(next));
                return;
              }
            }
            call.end();
          };
          pump(first);
        } catch (err: unknown) {
          call.emit("error", toStatus(err));
        }
      },
      Lookup: this.#unary((req) => ({ routes: this.#model().lookup(String(req.fib ?? ""), String(req.subfib ?? ""), String(req.address ?? "")).map(routeMsg) })),
    });
    this.server.addService(service(pkg, "NexthopGroups"), {
      List: this.#unary(() => ({ groups: this.#model().groups() })),
      Set: this.#write(async (req) => this.#model().setGroup(String(req.name ?? ""), nexthopsIn(req.nexthops))),
      Delete: this.#write(async (req) => {
        this.#model().deleteGroup(String(req.name ?? ""));
        return {};
      }),
    });
    this.server.addService(service(pkg, "Interfaces"), {
      List: this.#unary(() => ({ interfaces: d.interfaces() })),
      Update: this.#write(async (req) => {
        const name = String(req.name ?? "");
        await this.#model().updateInterface(name, ((req.update_mask as string[] | undefined) ?? []).map(String), {
          mtu: Number(req.mtu ?? 0),
          mru: Number(req.mru ?? 0),
          addresses: ((req.addresses as string[] | undefined) ?? []).map(String),
          fib: String(req.fib ?? ""),
        });
        return d.interfaces().find((i) => i.name === name);
      }),
    });
    this.server.addService(service(pkg, "Fibs"), {
      List: this.#unary(() => ({ fibs: this.#model().config.fibs.map((f) => this.#fibMsg(f.name)) })),
      Get: this.#unary((req) => this.#fibMsg(String(req.name ?? ""))),
      Create: this.#write(async (req) => {
        await this.#model().createFib(String(req.name ?? ""));
        return this.#fibMsg(String(req.name));
      }),
      Delete: this.#write(async (req) => {
        await this.#model().deleteFib(String(req.name ?? ""));
        return {};
      }),
      CreateSubfib: this.#write(async (req) => {
        await this.#model().createSubfib(String(req.fib ?? ""), String(req.subfib ?? ""));
        return this.#fibMsg(String(req.fib));
      }),
      DeleteSubfib: this.#write(async (req) => {
        await this.#model().deleteSubfib(String(req.fib ?? ""), String(req.subfib ?? ""));
        return this.#fibMsg(String(req.fib));
      }),
      AddRule: this.#write(async (req) => {
        const fam = FAMILY[String(req.family)] ?? 0;
        await this.#model().addRule(String(req.fib ?? ""), {
          priority: Number(req.priority ?? 0),
          subfib: String(req.subfib ?? ""),
          family: fam,
          source: String(req.source ?? ""),
          inPort: String(req.in_port ?? ""),
          dscp: req.has_dscp ? Number(req.dscp ?? 0) : null,
          protocol: String(req.protocol ?? ""),
          sport: String(req.sport ?? ""),
          dport: String(req.dport ?? ""),
        });
        return this.#fibMsg(String(req.fib));
      }),
      DeleteRule: this.#write(async (req) => {
        await this.#model().deleteRule(String(req.fib ?? ""), Number(req.priority ?? 0));
        return this.#fibMsg(String(req.fib));
      }),
    });
    this.server.addService(service(pkg, "Bindings"), {
      List: this.#unary(() => this.#bindingsMsg()),
      Set: this.#write(async (req) => {
        await this.#model().setBinding(String(req.source ?? ""), String(req.fib ?? ""), String(req.interface ?? ""));
        const list = (this.#bindingsMsg().bindings as Obj[]).find((b) => b.source === fmtPrefixText(String(req.source)));
        return list ?? {};
      }),
      Delete: this.#write(async (req) => {
        await this.#model().deleteBinding(String(req.source ?? ""));
        return {};
      }),
      SetDefault: this.#write(async (req) => {
        await this.#model().setDefault(FAMILY[String(req.family)] ?? 0, String(req.fib ?? ""));
        return this.#bindingsMsg();
      }),
    });
    this.server.addService(service(pkg, "CountersService"), {
      Get: this.#unary(() => countersMsg(d.counters())),
      Stream: (call: grpc.ServerWritableStream<Obj, Obj>) => {
        const ms = Number(call.request.interval_ms ?? 0);
        if (!Number.isInteger(ms) || ms < 100 || ms > 3600000) {
          call.emit("error", { code: grpc.status.INVALID_ARGUMENT, details: `interval_ms: ${ms} is out of range 100-3600000` });
          return;
        }
        this.#streams.add(call);
        const send = (): void => {
          try {
            call.write(countersMsg(d.counters()));
          } catch {
            /* the dataplane is closing */
          }
        };
        send();
        const t = setInterval(send, ms);
        const stop = (): void => {
          clearInterval(t);
          this.#streams.delete(call);
        };
        call.on("cancelled", stop);
        call.on("close", stop);
        call.on("error", stop);
      },
    });
    this.server.addService(service(pkg, "Events"), {
      Subscribe: (call: grpc.ServerWritableStream<Obj, Obj>) => {
        const types = ((call.request.types as string[] | undefined) ?? []).map((t) => EVENT_TYPES[t]).filter((t): t is EventType => t !== undefined);
        this.#streams.add(call);
        let writing = false;
        const flush = (): void => {
          if (writing) return;
          while (sub.queue.length > 0) {
            const e = sub.queue.shift()!;
            const ok = call.write({ seq: e.seq, time: e.time, lost: e.lost, ...e.ev });
            if (!ok) {
              writing = true;
              call.once("drain", () => {
                writing = false;
                flush();
              });
              return;
            }
          }
        };
        const sub = d.events.subscribe(types, () => setImmediate(flush));
        const stop = (): void => {
          d.events.unsubscribe(sub);
          this.#streams.delete(call);
        };
        call.on("cancelled", stop);
        call.on("close", stop);
        call.on("error", stop);
      },
    });
    this.#addIpsec(pkg);
    this.server.addService(service(pkg, "Explain"), {
      Explain: this.#unary((req) => {
        const r = this.#model().explain({
          src: String(req.src ?? ""),
          dst: String(req.dst ?? ""),
          inPort: String(req.in_port ?? ""),
          protocol: String(req.protocol ?? ""),
          sport: Number(req.sport ?? 0),
          dport: Number(req.dport ?? 0),
          dscp: Number(req.dscp ?? 0),
        });
        return {
          binding: r.binding,
          fib: r.fib,
          subfib: r.subfib,
          rule: r.rule,
          prefix: r.prefix,
          route_owner: r.routeOwner,
          nexthop_group: r.nexthopGroup,
          action: r.action,
          adjacency: r.adjacency,
          out_port: r.outPort,
          mac: r.mac,
          drop_reason: r.dropReason,
          ipsec_policy_in: r.ipsecPolicyIn,
          ipsec_policy_out: r.ipsecPolicyOut,
          ipsec_reqid: r.ipsecReqid,
          steps: r.steps,
        };
      }),
    });
    this.server.addService(service(pkg, "Sessions"), {
      Open: (call: grpc.ServerDuplexStream<Obj, Obj>) => this.#session(call),
      List: this.#unary(() => ({
        sessions: this.sessions.list().map((s) => ({
          client: s.client,
          instance: s.instance,
          role: s.role,
          distance: s.distance,
          routes: s.routes,
          stale_routes: s.staleRoutes,
          connected: s.connected,
          stale_expires_s: s.staleExpiresS,
          resyncing: s.resyncing,
        })),
      })),
      BeginResync: this.#unary((req, md) =>
        this.serial(async () => {
          const client = String(req.client ?? "") || mdString(md, "srcfib-client");
          if (client === "") throw new ApiError("INVALID_ARGUMENT", "client: missing (or metadata srcfib-client)");
          return { stale: await this.sessions.beginResync(client, mdString(md, "srcfib-instance")), removed: 0 };
        }),
      ),
      EndResync: this.#unary(async (req, md) => {
        const client = String(req.client ?? "") || mdString(md, "srcfib-client");
        if (client === "") throw new ApiError("INVALID_ARGUMENT", "client: missing (or metadata srcfib-client)");
        return { stale: 0, removed: await this.sessions.endResync(client, mdString(md, "srcfib-instance")) };
      }),
    });
  }

  #session(call: grpc.ServerDuplexStream<Obj, Obj>): void {
    this.#streams.add(call);
    let who: { client: string; instance: string } | null = null;
    let done = false;
    const finish = (reason: string): void => {
      if (done) return;
      done = true;
      this.#streams.delete(call);
      if (who) this.sessions.ended(who.client, who.instance, reason);
    };
    const fail = (err: unknown): void => {
      done = true;
      this.#streams.delete(call);
      call.emit("error", toStatus(err));
    };
    call.on("data", (m: Obj) => {
      if (done) return;
      const hello = m.hello as Obj | null | undefined;
      const hb = m.heartbeat as Obj | null | undefined;
      if (who === null) {
        if (!hello) return fail(new ApiError("INVALID_ARGUMENT", "the first message of a session must be a hello"));
        const h = {
          client: String(hello.client ?? ""),
          instance: String(hello.instance ?? ""),
          distance: Number(hello.distance ?? 0),
          role: String(hello.role ?? ""),
          heartbeatMs: Number(hello.heartbeat_ms ?? 0),
          staleTimeS: Number(hello.stale_time_s ?? 0),
        };
        who = { client: h.client, instance: h.instance };
        const peer = {
          send: (msg: Obj) => void call.write(msg),
          end: () => {
            done = true;
            this.#streams.delete(call);
            call.end();
          },
        };
        this.sessions.open(h, peer).then(
          (w) => {
            if (done) return;
            call.write({ welcome: { role: w.role, primary: w.primary, stale_routes: w.staleRoutes, stale_time_s: w.staleTimeS } });
          },
          (err: unknown) => {
            who = null;
            fail(err);
          },
        );
        return;
      }
      if (hello) return fail(new ApiError("INVALID_ARGUMENT", "hello: the session is already open"));
      this.sessions.seen(who.client, who.instance);
      if (hb) call.write({ heartbeat: { seq: Number(hb.seq ?? 0) } });
    });
    call.on("end", () => {
      finish("closed by the controller");
      if (!call.destroyed) call.end();
    });
    call.on("cancelled", () => finish("cancelled (connection lost)"));
    call.on("error", () => finish("stream error"));
    call.on("close", () => finish("stream closed"));
  }

  // ---- listening ------------------------------------------------------------------------------

  async listen(): Promise<string[]> {
    const cfg = this.#deps.cfg;
    const where: string[] = [];
    if (cfg.socket !== null) {
      await prepareSocket(cfg.socket);
      const old = process.umask(0o177);
      try {
        await bind(this.server, `unix:${cfg.socket}`, grpc.ServerCredentials.createInsecure());
      } finally {
        process.umask(old);
      }
      chmodSync(cfg.socket, 0o600);
      this.#socket = cfg.socket;
      where.push(`unix:${cfg.socket}`);
    }
    if (cfg.tcpListen !== null) {
      let creds: grpc.ServerCredentials;
      if (cfg.insecure) {
        this.#deps.log("warn", `API on ${cfg.tcpListen} is plaintext TCP without authentication (api.tcp.insecure): anyone who can reach it controls forwarding`);
        creds = grpc.ServerCredentials.createInsecure();
      } else {
        creds = grpc.ServerCredentials.createSsl(readFileSync(cfg.tlsCa!), [{ cert_chain: readFileSync(cfg.tlsCert!), private_key: readFileSync(cfg.tlsKey!) }], true);
      }
      const port = await bind(this.server, cfg.tcpListen, creds);
      where.push(`${cfg.insecure ? "tcp" : "tls"}:${cfg.tcpListen.replace(/:\d+$/, `:${port}`)}`);
    }
    return where;
  }

  async close(): Promise<void> {
    this.sessions.close();
    for (const s of this.#streams) {
      try {
        s.end();
      } catch {
        /* gone */
      }
    }
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, 1000);
      this.server.tryShutdown(() => {
        clearTimeout(t);
        resolve();
      });
    });
    if (this.#socket) {
      try {
        unlinkSync(this.#socket);
      } catch {
        /* already gone */
      }
    }
  }
}

function bind(server: grpc.Server, addr: string, creds: grpc.ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) => server.bindAsync(addr, creds, (err, port) => (err ? reject(new Error(`cannot listen on ${addr}: ${err.message}`)) : resolve(port))));
}

/** Makes the socket's directory; removes a socket file nobody listens on (a crashed daemon's). */
async function prepareSocket(path: string): Promise<void> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  if (!existsSync(path)) return;
  if (!statSync(path).isSocket()) throw new Error(`api.socket ${path} exists and is not a socket`);
  const alive = await new Promise<boolean>((resolve) => {
    const s = connect(path);
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
  if (alive) throw new Error(`api.socket ${path}: another process is serving there (another srcfib?)`);
  unlinkSync(path);
}

function fmtPrefixText(t: string): string {
  try {
    return fmtPrefix(parsePrefix(t));
  } catch {
    return t;
  }
}

function routeMsg(r: RouteOut): Obj {
  return { fib: r.fib, subfib: r.subfib, prefix: r.prefix, type: TYPE_ENUM[r.type], nexthops: r.nexthops, nexthop_group: r.group, ipsec_reqid: r.reqid, owner: r.owner, distance: r.distance, best: r.best, stale: r.stale };
}
