/**
 * A small promise client for the srcfib.v1 API, used by the CLI, the tests and bench:api.
 * It loads the same .proto files as the server (no generated stubs) and sends the caller's
 * identity as metadata on every call.
 */
import { readFileSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import { loadProto } from "./server.js";

export type Msg = Record<string, unknown>;

export interface ClientOptions {
  /** srcfib-client metadata: the owner of routes this client writes */
  client?: string;
  instance?: string;
  distance?: number;
  /** TLS with a client certificate (PEM files) */
  tls?: { ca: string; cert: string; key: string; serverName?: string };
}

export const DEFAULT_SOCKET = "/run/srcfib/api.sock";

/** "unix:/path", "/path" (a socket), "host:port" (TCP). */
export function targetOf(where: string): string {
  if (where.startsWith("unix:")) return where;
  if (where.startsWith("/") || where.startsWith(".")) return `unix:${where}`;
  return where;
}

export class ApiCallError extends Error {
  constructor(
    readonly code: grpc.status,
    readonly details: string,
    readonly metadata: grpc.Metadata | undefined,
  ) {
    super(`${grpc.status[code]}: ${details}`);
    this.name = "ApiCallError";
  }
}

type Unary = (req: Msg, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Msg) => void) => grpc.ClientUnaryCall;
type ServerStream = (req: Msg, md: grpc.Metadata, opts?: grpc.CallOptions) => grpc.ClientReadableStream<Msg>;
type Duplex = (md: grpc.Metadata) => grpc.ClientDuplexStream<Msg, Msg>;

export class ApiClient {
  readonly #stubs = new Map<string, grpc.Client>();
  readonly #defs = new Map<string, grpc.ServiceDefinition>();
  readonly #opts: ClientOptions;

  constructor(where: string, opts: ClientOptions = {}) {
    this.#opts = opts;
    const { pkg } = loadProto();
    const v1 = (pkg.srcfib as grpc.GrpcObject).v1 as grpc.GrpcObject;
    const creds = opts.tls
      ? grpc.credentials.createSsl(readFileSync(opts.tls.ca), readFileSync(opts.tls.key), readFileSync(opts.tls.cert))
      : grpc.credentials.createInsecure();
    const chOpts: grpc.ChannelOptions = { "grpc.max_receive_message_length": 64 * 1024 * 1024, "grpc.max_send_message_length": 64 * 1024 * 1024 };
    if (opts.tls?.serverName) chOpts["grpc.ssl_target_name_override"] = opts.tls.serverName;
    let channel: grpc.Channel | null = null;
    for (const name of ["Routes", "NexthopGroups", "Interfaces", "Fibs", "Bindings", "CountersService", "Events", "Explain", "Sessions", "Ipsec"]) {
      const Ctor = v1[name] as grpc.ServiceClientConstructor;
      // One channel for all services.
      const stub: grpc.Client = channel === null ? new Ctor(targetOf(where), creds, chOpts) : new Ctor(targetOf(where), creds, { ...chOpts, channelOverride: channel });
      if (channel === null) channel = stub.getChannel() as grpc.Channel;
      this.#stubs.set(name, stub);
      this.#defs.set(name, Ctor.service);
    }
  }

  metadata(): grpc.Metadata {
    const md = new grpc.Metadata();
    if (this.#opts.client) md.set("srcfib-client", this.#opts.client);
    if (this.#opts.instance) md.set("srcfib-instance", this.#opts.instance);
    if (this.#opts.distance !== undefined) md.set("srcfib-distance", String(this.#opts.distance));
    return md;
  }

  #method<T>(service: string, method: string): T {
    const s = this.#stubs.get(service);
    if (!s) throw new Error(`no service ${service}`);
    const f = (s as unknown as Record<string, unknown>)[method];
    if (typeof f !== "function") throw new Error(`no method ${service}.${method}`);
    return (f as (...a: unknown[]) => unknown).bind(s) as T;
  }

  /** A unary call; rejects with ApiCallError. */
  call<T = Msg>(service: string, method: string, req: Msg = {}, timeoutMs = 30000): Promise<T> {
    const f = this.#method<Unary>(service, method);
    return new Promise((resolve, reject) => {
      f(req, this.metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => {
        if (err) reject(new ApiCallError(err.code, err.details, err.metadata));
        else resolve(res as T);
      });
    });
  }

  #def(service: string, method: string): grpc.MethodDefinition<Msg, Msg> {
    const d = this.#defs.get(service)?.[method] as grpc.MethodDefinition<Msg, Msg> | undefined;
    if (!d) throw new Error(`no method ${service}.${method}`);
    return d;
  }

  /** A request encoded ahead of time, for callEncoded (bench:api: so that encoding is not what
   *  it measures). */
  encode(service: string, method: string, req: Msg): Buffer {
    return this.#def(service, method).requestSerialize(req);
  }

  /** A unary call with a request from encode(). */
  callEncoded<T = Msg>(service: string, method: string, bytes: Buffer, timeoutMs = 30000): Promise<T> {
    const d = this.#def(service, method);
    const stub = this.#stubs.get(service)!;
    return new Promise((resolve, reject) => {
      stub.makeUnaryRequest(d.path, (b: Buffer) => b, d.responseDeserialize, bytes, this.metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => {
        if (err) reject(new ApiCallError(err.code, err.details, err.metadata));
        else resolve(res as T);
      });
    });
  }

  /** A server stream, collected (for bounded streams such as Routes.List). */
  async collect<T = Msg>(service: string, method: string, req: Msg = {}): Promise<T[]> {
    const out: T[] = [];
    for await (const m of this.stream(service, method, req)) out.push(m as T);
    return out;
  }

  stream(service: string, method: string, req: Msg = {}): grpc.ClientReadableStream<Msg> & AsyncIterable<Msg> {
    const f = this.#method<ServerStream>(service, method);
    const s = f(req, this.metadata());
    const it = s as grpc.ClientReadableStream<Msg> & AsyncIterable<Msg>;
    const orig = s[Symbol.asyncIterator].bind(s);
    // Re-throw stream errors as ApiCallError.
    (it as unknown as Record<symbol, unknown>)[Symbol.asyncIterator] = async function* () {
      try {
        for await (const m of { [Symbol.asyncIterator]: orig }) yield m as Msg;
      } catch (err: unknown) {
        const e = err as grpc.ServiceError;
        if (typeof e.code === "number") throw new ApiCallError(e.code, e.details, e.metadata);
        throw err;
      }
    };
    return it;
  }

  duplex(service: string, method: string): grpc.ClientDuplexStream<Msg, Msg> {
    return this.#method<Duplex>(service, method)(this.metadata());
  }

  close(): void {
    for (const s of this.#stubs.values()) s.close();
  }
}

/** A controller session: Hello, heartbeats, role changes. */
export class Session {
  readonly #call: grpc.ClientDuplexStream<Msg, Msg>;
  #beat: NodeJS.Timeout | null = null;
  role: string = "";
  readonly welcome: Promise<Msg>;
  readonly roles: Msg[] = [];
  onRole: ((r: Msg) => void) | null = null;
  ended: Promise<ApiCallError | null>;

  constructor(api: ApiClient, hello: { client: string; instance: string; distance?: number; role?: "ROLE_PRIMARY" | "ROLE_BACKUP"; heartbeat_ms?: number; stale_time_s?: number }) {
    this.#call = api.duplex("Sessions", "Open");
    let ok: (m: Msg) => void = () => undefined;
    let no: (e: unknown) => void = () => undefined;
    this.welcome = new Promise((resolve, reject) => {
      ok = resolve;
      no = reject;
    });
    this.ended = new Promise((resolve) => {
      this.#call.on("error", (err: grpc.ServiceError) => {
        const e = new ApiCallError(err.code, err.details, err.metadata);
        no(e);
        resolve(e);
      });
      this.#call.on("end", () => resolve(null));
    });
    this.#call.on("data", (m: Msg) => {
      if (m.welcome) {
        this.role = String((m.welcome as Msg).role);
        ok(m.welcome as Msg);
      } else if (m.role) {
        this.role = String((m.role as Msg).role);
        this.roles.push(m.role as Msg);
        this.onRole?.(m.role as Msg);
      }
    });
    this.#call.write({ hello: { distance: 0, role: "ROLE_UNSPECIFIED", heartbeat_ms: 0, stale_time_s: 0, ...hello } });
    const hb = hello.heartbeat_ms ?? 0;
    if (hb > 0) {
      let seq = 0;
      this.#beat = setInterval(() => this.#call.write({ heartbeat: { seq: ++seq } }), hb);
    }
  }

  /** Stops heartbeats without closing (to let the heartbeat lapse). */
  stopHeartbeats(): void {
    if (this.#beat) clearInterval(this.#beat);
    this.#beat = null;
  }

  close(): void {
    this.stopHeartbeats();
    this.#call.end();
  }

  cancel(): void {
    this.stopHeartbeats();
    this.#call.cancel();
  }
}
