/**
 * The CLI's API subcommands: routes, fibs, bindings, rules, groups, interfaces, counters,
 * explain, sessions, ipsec. Each talks to a running daemon over the gRPC API (the Unix socket by
 * default), prints a table (or JSON with --json), and on a refused call prints the server's
 * message and exits 1.
 */
import { ApiCallError, ApiClient, DEFAULT_SOCKET, type Msg } from "./client.js";
import * as grpc from "@grpc/grpc-js";

export const CTL_USAGE = `API commands (talk to a running daemon; options anywhere):
  --socket PATH | --connect HOST:PORT [--ca F --cert F --key F]   where (default ${DEFAULT_SOCKET})
  --json                      JSON instead of a table
  --client NAME               the owner name for writes (default "cli")

  routes [list] [--fib F] [--subfib S] [--owner O] [--prefix P] [--all] [--local]
  routes add|replace PREFIX [--fib F] [--subfib S] (via ADDR dev PORT [weight W] [mac M])...
                              | dev PORT | group NAME | blackhole | unreachable | prohibit
  routes del PREFIX [--fib F] [--subfib S]
  routes lookup ADDR [--fib F] [--subfib S]
  fibs [list] | fibs create NAME | fibs delete NAME
  fibs subfib-add FIB NAME | fibs subfib-delete FIB NAME
  rules [list] [--fib F] | rules add FIB PRIORITY SUBFIB [source P] [in-port X] [protocol P]
                              [sport R] [dport R] [dscp N] [family 4|6] | rules delete FIB PRIORITY
  bindings [list] | bindings set SOURCE (fib F | interface I) | bindings delete SOURCE
  bindings default (4|6|both) FIB|none
  groups [list] | groups set NAME (via ADDR dev PORT [weight W])... | groups delete NAME
  interfaces [list] | interfaces set NAME [mtu N] [mru N] [fib F|none] [addresses A,B,...]
  counters [--watch MS]       all counters (nonzero drops), or a stream every MS
  explain SRC DST [protocol P] [sport N] [dport N] [in-port X] [dscp N]
  sessions                    controller sessions and the routes they own
  ipsec [sas] [--reqid N] | ipsec policies    the SAD (algorithms and counters, never keys), the SPD
  ipsec sa-delete esp|ah SPI DST | ipsec sp-delete NAME
                              (SAs are added by the IKE daemon over the API: keys on a command
                              line would show in ps and shell history)
`;

interface Opts {
  where: string;
  json: boolean;
  client: string;
  flags: Map<string, string>;
  bools: Set<string>;
  args: string[];
  tls?: { ca: string; cert: string; key: string };
}

const VALUE_FLAGS = new Set(["--socket", "--connect", "--client", "--fib", "--subfib", "--owner", "--prefix", "--watch", "--ca", "--cert", "--key", "--reqid"]);
const BOOL_FLAGS = new Set(["--json", "--all", "--local"]);

function parse(argv: string[]): Opts {
  const flags = new Map<string, string>();
  const bools = new Set<string>();
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (VALUE_FLAGS.has(a)) {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${a} needs a value`);
      flags.set(a, v);
    } else if (BOOL_FLAGS.has(a)) bools.add(a);
    else if (a.startsWith("--")) throw new UsageError(`unknown option ${a}`);
    else args.push(a);
  }
  const o: Opts = { where: flags.get("--connect") ?? flags.get("--socket") ?? process.env.SRCFIB_SOCKET ?? DEFAULT_SOCKET, json: bools.has("--json"), client: flags.get("--client") ?? "cli", flags, bools, args };
  const ca = flags.get("--ca");
  const cert = flags.get("--cert");
  const key = flags.get("--key");
  if (ca || cert || key) {
    if (!ca || !cert || !key) throw new UsageError("TLS needs --ca, --cert and --key");
    o.tls = { ca, cert, key };
  }
  return o;
}

export class UsageError extends Error {}

function table(rows: Record<string, unknown>[], cols: string[]): string {
  if (rows.length === 0) return "(none)\n";
  const cells = rows.map((r) => cols.map((c) => (r[c] === undefined || r[c] === null ? "" : String(r[c]))));
  const w = cols.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)));
  const line = (v: string[]): string => v.map((x, i) => x.padEnd(w[i]!)).join("  ").trimEnd();
  return `${line(cols.map((c) => c.toUpperCase()))}\n${cells.map(line).join("\n")}\n`;
}

function nexthopText(r: Msg): string {
  const t = String(r.type ?? "");
  if (r.nexthop_group) return `group ${String(r.nexthop_group)}`;
  if (t !== "ROUTE_TYPE_FORWARD") return t.replace("ROUTE_TYPE_", "").toLowerCase();
  return ((r.nexthops as Msg[]) ?? []).map((n) => (n.via ? `via ${String(n.via)} dev ${String(n.port)}${Number(n.weight) !== 1 ? ` weight ${String(n.weight)}` : ""}` : `dev ${String(n.port)}`)).join(", ");
}

/** "via A dev P [weight W] [mac M] ..." words into Nexthop messages. */
function nexthopWords(words: string[]): Msg[] {
  const out: Msg[] = [];
  let cur: Msg | null = null;
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    const v = words[i + 1];
    if (["via", "dev", "weight", "mac"].includes(w) && v === undefined) throw new UsageError(`${w} needs a value`);
    if (w === "via") {
      cur = { via: v, port: "", weight: 1, mac: "" };
      out.push(cur);
      i++;
    } else if (w === "dev") {
      if (!cur || cur.port !== "") {
        cur = { via: "", port: "", weight: 1, mac: "" };
        out.push(cur);
      }
      cur.port = v;
      i++;
    } else if (w === "weight" && cur) {
      cur.weight = Number(v);
      i++;
    } else if (w === "mac" && cur) {
      cur.mac = v;
      i++;
    } else throw new UsageError(`unexpected "${w}" (next hops are: via ADDR dev PORT [weight W] [mac M])`);
  }
  return out;
}

function kv(words: string[], allowed: string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (let i = 0; i < words.length; i += 2) {
    const k = words[i]!;
    const v = words[i + 1];
    if (!allowed.includes(k)) throw new UsageError(`unexpected "${k}" (expected one of: ${allowed.join(", ")})`);
    if (v === undefined) throw new UsageError(`${k} needs a value`);
    m.set(k, v);
  }
  return m;
}

export async function runCtl(cmd: string, argv: string[]): Promise<number> {
  const o = parse(argv);
  const api = new ApiClient(o.where, { client: o.client, ...(o.tls ? { tls: o.tls } : {}) });
  const out = (v: unknown, text: () => string): void => {
    process.stdout.write(o.json ? `${JSON.stringify(v, null, 1)}\n` : text());
  };
  const fib = o.flags.get("--fib") ?? "";
  const subfib = o.flags.get("--subfib") ?? "";
  try {
    const [sub = "list", ...rest] = o.args;
    switch (cmd) {
      case "routes": {
        if (sub === "list") {
          const rows = await api.collect("Routes", "List", { fib, subfib, owner: o.flags.get("--owner") ?? "", prefix: o.flags.get("--prefix") ?? "", all_candidates: o.bools.has("--all"), include_local: o.bools.has("--local") });
          out(rows, () => table(rows.map((r) => ({ ...r, sub: `${String(r.fib)}.${String(r.subfib)}`, nexthops: nexthopText(r), best: r.best ? "*" : "", stale: r.stale ? "stale" : "" })), ["sub", "prefix", "nexthops", "owner", "distance", "best", "stale"]));
          return 0;
        }
        if (sub === "lookup") {
          if (rest.length !== 1) throw new UsageError("routes lookup needs an address");
          const r = await api.call("Routes", "Lookup", { fib: fib || "main", subfib, address: rest[0] });
          const rows = (r.routes as Msg[]) ?? [];
          out(rows, () => table(rows.map((x) => ({ ...x, nexthops: nexthopText(x), best: x.best ? "*" : "" })), ["prefix", "nexthops", "owner", "distance", "best"]));
          return 0;
        }
        if (sub === "add" || sub === "replace" || sub === "del" || sub === "delete") {
          const [prefix, ...words] = rest;
          if (!prefix) throw new UsageError(`routes ${sub} needs a prefix`);
          const route: Msg = { fib: fib || "main", subfib, prefix };
          if (sub === "add" || sub === "replace") {
            if (words.length === 1 && ["blackhole", "unreachable", "prohibit"].includes(words[0]!)) route.type = `ROUTE_TYPE_${words[0]!.toUpperCase()}`;
            else if (words[0] === "group" && words.length === 2) route.nexthop_group = words[1];
            else route.nexthops = nexthopWords(words);
          } else if (words.length > 0) throw new UsageError("routes del takes only a prefix (and --fib/--subfib)");
          const r = await api.call("Routes", "Modify", { ops: [{ op: sub === "add" ? "OP_ADD" : sub === "replace" ? "OP_REPLACE" : "OP_DELETE", route }] });
          out(r, () => `ok: ${String(r.applied)} applied, ${String(r.best_changes)} forwarding change(s)\n`);
          return 0;
        }
        throw new UsageError(`unknown routes subcommand "${sub}"`);
      }
      case "fibs": {
        if (sub === "list") {
          const r = await api.call("Fibs", "List");
          const fibs = (r.fibs as Msg[]) ?? [];
          out(fibs, () => table(fibs.map((f) => ({ name: f.name, subfibs: ((f.subfibs as Msg[]) ?? []).map((s) => `${String(s.name)}(${String(s.routes)})`).join(" "), rules: ((f.rules as Msg[]) ?? []).length, packets: f.packets, origin: f.from_config ? "config" : "api" })), ["name", "subfibs", "rules", "packets", "origin"]));
          return 0;
        }
        const need = (n: number): void => {
          if (rest.length !== n) throw new UsageError(`fibs ${sub} needs ${n} argument(s)`);
        };
        let r: Msg;
        if (sub === "create") (need(1), (r = await api.call("Fibs", "Create", { name: rest[0] })));
        else if (sub === "delete") (need(1), (r = await api.call("Fibs", "Delete", { name: rest[0] })));
        else if (sub === "subfib-add") (need(2), (r = await api.call("Fibs", "CreateSubfib", { fib: rest[0], subfib: rest[1] })));
        else if (sub === "subfib-delete") (need(2), (r = await api.call("Fibs", "DeleteSubfib", { fib: rest[0], subfib: rest[1] })));
        else throw new UsageError(`unknown fibs subcommand "${sub}"`);
        out(r, () => "ok\n");
        return 0;
      }
      case "rules": {
        if (sub === "list") {
          const r = await api.call("Fibs", "List");
          const rows = ((r.fibs as Msg[]) ?? []).filter((f) => fib === "" || f.name === fib).flatMap((f) => (f.rules as Msg[]) ?? []);
          out(rows, () => table(rows.map((x) => ({ ...x, family: String(x.family).replace("FAMILY_UNSPECIFIED", "any").replace("FAMILY_IPV", "ipv"), dscp: x.has_dscp ? x.dscp : "" })), ["fib", "priority", "subfib", "family", "source", "in_port", "dscp", "protocol", "sport", "dport", "hits"]));
          return 0;
        }
        if (sub === "add") {
          const [f, prio, sf, ...words] = rest;
          if (!f || prio === undefined || !sf) throw new UsageError("rules add needs FIB PRIORITY SUBFIB");
          const m = kv(words, ["source", "in-port", "protocol", "sport", "dport", "dscp", "family"]);
          const fam = m.get("family");
          const r = await api.call("Fibs", "AddRule", {
            fib: f,
            priority: Number(prio),
            subfib: sf,
            source: m.get("source") ?? "",
            in_port: m.get("in-port") ?? "",
            protocol: m.get("protocol") ?? "",
            sport: m.get("sport") ?? "",
            dport: m.get("dport") ?? "",
            has_dscp: m.has("dscp"),
            dscp: Number(m.get("dscp") ?? 0),
            family: fam === "4" ? "FAMILY_IPV4" : fam === "6" ? "FAMILY_IPV6" : "FAMILY_UNSPECIFIED",
          });
          out(r, () => "ok\n");
          return 0;
        }
        if (sub === "delete") {
          if (rest.length !== 2) throw new UsageError("rules delete needs FIB PRIORITY");
          const r = await api.call("Fibs", "DeleteRule", { fib: rest[0], priority: Number(rest[1]) });
          out(r, () => "ok\n");
          return 0;
        }
        throw new UsageError(`unknown rules subcommand "${sub}"`);
      }
      case "bindings": {
        if (sub === "list") {
          const r = await api.call("Bindings", "List");
          const rows = (r.bindings as Msg[]) ?? [];
          out(r, () => `${table(rows.map((b) => ({ ...b, origin: b.implicit ? "interface" : b.from_config ? "config" : "api" })), ["source", "fib", "origin"])}default: ipv4 ${String(r.default_ipv4) || "(none)"}, ipv6 ${String(r.default_ipv6) || "(none)"}\n`);
          return 0;
        }
        let r: Msg;
        if (sub === "set") {
          const [src, kind, target] = rest;
          if (!src || (kind !== "fib" && kind !== "interface") || !target) throw new UsageError("bindings set needs SOURCE fib NAME | interface NAME");
          r = await api.call("Bindings", "Set", { source: src, [kind]: target });
        } else if (sub === "delete") {
          if (rest.length !== 1) throw new UsageError("bindings delete needs SOURCE");
          r = await api.call("Bindings", "Delete", { source: rest[0] });
        } else if (sub === "default") {
          const [fam, f] = rest;
          if (!fam || !f) throw new UsageError("bindings default needs 4|6|both FIB|none");
          r = await api.call("Bindings", "SetDefault", { family: fam === "4" ? "FAMILY_IPV4" : fam === "6" ? "FAMILY_IPV6" : "FAMILY_UNSPECIFIED", fib: f === "none" ? "" : f });
        } else throw new UsageError(`unknown bindings subcommand "${sub}"`);
        out(r, () => "ok\n");
        return 0;
      }
      case "groups": {
        if (sub === "list") {
          const r = await api.call("NexthopGroups", "List");
          const rows = (r.groups as Msg[]) ?? [];
          out(rows, () => table(rows.map((g) => ({ name: g.name, nexthops: nexthopText({ type: "ROUTE_TYPE_FORWARD", nexthops: g.nexthops }), routes: g.routes })), ["name", "nexthops", "routes"]));
          return 0;
        }
        let r: Msg;
        if (sub === "set") {
          const [name, ...words] = rest;
          if (!name) throw new UsageError("groups set needs NAME and next hops");
          r = await api.call("NexthopGroups", "Set", { name, nexthops: nexthopWords(words) });
        } else if (sub === "delete") {
          if (rest.length !== 1) throw new UsageError("groups delete needs NAME");
          r = await api.call("NexthopGroups", "Delete", { name: rest[0] });
        } else throw new UsageError(`unknown groups subcommand "${sub}"`);
        out(r, () => "ok\n");
        return 0;
      }
      case "interfaces": {
        if (sub === "list") {
          const r = await api.call("Interfaces", "List");
          const rows = (r.interfaces as Msg[]) ?? [];
          out(rows, () => table(rows.map((i) => ({ ...i, addresses: ((i.addresses as string[]) ?? []).join(" "), link: i.link_up ? "up" : "down" })), ["name", "device", "tap", "mac", "mtu", "mru", "fib", "link", "addresses"]));
          return 0;
        }
        if (sub === "set") {
          const [name, ...words] = rest;
          if (!name) throw new UsageError("interfaces set needs NAME");
          const m = kv(words, ["mtu", "mru", "fib", "addresses"]);
          const r = await api.call("Interfaces", "Update", {
            name,
            update_mask: [...m.keys()],
            mtu: Number(m.get("mtu") ?? 0),
            mru: Number(m.get("mru") ?? 0),
            fib: m.get("fib") === "none" ? "" : (m.get("fib") ?? ""),
            addresses: (m.get("addresses") ?? "").split(",").filter((x) => x !== ""),
          });
          out(r, () => "ok\n");
          return 0;
        }
        throw new UsageError(`unknown interfaces subcommand "${sub}"`);
      }
      case "counters": {
        const show = (c: Msg): void =>
          out(c, () => {
            const drops = Object.entries((c.drops as Record<string, number>) ?? {}).filter(([, v]) => v > 0);
            const ports = Object.entries((c.ports as Record<string, { values: Record<string, number> }>) ?? {}).map(([name, v]) => ({ port: name, ...v.values }));
            return `${c.time as string}\n${table(ports, ["port", "rx_pkts", "tx_pkts", "punt_pkts", "inject_pkts", "icmp_sent"])}\n${table(
              drops.map(([k, v]) => ({ reason: k, packets: v })),
              ["reason", "packets"],
            )}\n${table(
              Object.entries((c.subfibs as Record<string, number>) ?? {}).map(([k, v]) => ({ subfib: k, packets: v })),
              ["subfib", "packets"],
            )}`;
          });
        const watch = o.flags.get("--watch");
        if (watch === undefined) {
          show(await api.call("CountersService", "Get"));
          return 0;
        }
        for await (const c of api.stream("CountersService", "Stream", { interval_ms: Number(watch) })) show(c);
        return 0;
      }
      case "explain": {
        const [src, dst, ...words] = o.args;
        if (!src || !dst) throw new UsageError("explain needs SRC DST");
        const m = kv(words, ["protocol", "sport", "dport", "in-port", "dscp"]);
        const r = await api.call("Explain", "Explain", { src, dst, protocol: m.get("protocol") ?? "", sport: Number(m.get("sport") ?? 0), dport: Number(m.get("dport") ?? 0), in_port: m.get("in-port") ?? "", dscp: Number(m.get("dscp") ?? 0) });
        out(r, () => `${((r.steps as string[]) ?? []).map((s, i) => `${i + 1}. ${s}`).join("\n")}\n=> ${String(r.action)}${r.drop_reason ? ` (${String(r.drop_reason)})` : r.out_port ? ` out ${String(r.out_port)}` : r.ipsec_reqid ? ` (reqid ${String(r.ipsec_reqid)})` : ""}\n`);
        return 0;
      }
      case "sessions": {
        const r = await api.call("Sessions", "List");
        const rows = (r.sessions as Msg[]) ?? [];
        out(rows, () => table(rows.map((s) => ({ ...s, stale: s.stale_routes, expires: s.stale_expires_s ? `${String(s.stale_expires_s)}s` : "" })), ["client", "instance", "role", "distance", "routes", "stale", "expires", "connected"]));
        return 0;
      }
      case "ipsec": {
        const what = o.args[0] ?? "sas";
        if (what === "sas") {
          const r = await api.call("Ipsec", "ListSas", { reqid: Number(o.flags.get("--reqid") ?? 0) });
          const rows = (r.sas as Msg[]) ?? [];
          out(r, () =>
            `crypto device: ${String(r.crypto_device)}\n` +
            table(
              rows.map((a) => ({ ...a, spi: `0x${Number(a.spi).toString(16).padStart(8, "0")}`, dir: a.direction, algs: [a.encryption, a.integrity].filter((x) => x !== "").join("+"), use: a.current ? "*" : "", drops: `${String(a.replay_drops)}/${String(a.auth_drops)}/${String(a.other_drops)}` })),
              ["protocol", "spi", "dir", "mode", "src", "dst", "reqid", "algs", "state", "use", "packets", "bytes", "drops"],
            ),
          );
          return 0;
        }
        if (what === "policies") {
          const r = await api.call("Ipsec", "ListSps", {});
          const rows = (r.policies as Msg[]) ?? [];
          out(rows, () => table(rows, ["name", "direction", "priority", "src", "dst", "protocol", "sport", "dport", "action", "reqid", "hits"]));
          return 0;
        }
        let r: Msg;
        if (what === "sa-delete") {
          const [, proto, spi, dst] = o.args;
          if (!proto || !spi || !dst) throw new UsageError("ipsec sa-delete needs esp|ah SPI DST");
          r = await api.call("Ipsec", "DeleteSa", { protocol: proto, spi: Number(spi), dst });
        } else if (what === "sp-delete") {
          if (!o.args[1]) throw new UsageError("ipsec sp-delete needs NAME");
          r = await api.call("Ipsec", "DeleteSp", { name: o.args[1] });
        } else throw new UsageError(`unknown ipsec subcommand "${what}"`);
        out(r, () => "ok\n");
        return 0;
      }
      default:
        throw new UsageError(`unknown command "${cmd}"`);
    }
  } catch (err: unknown) {
    if (err instanceof ApiCallError) {
      const idx = err.metadata?.get("srcfib-bad-index")[0];
      process.stderr.write(`srcfib: ${grpc.status[err.code]}: ${err.details}${idx !== undefined ? ` (entry ${String(idx)})` : ""}\n`);
      if (err.code === grpc.status.UNAVAILABLE) process.stderr.write(`srcfib: is the daemon running and serving on ${o.where}? (--socket PATH)\n`);
      return 1;
    }
    throw err;
  } finally {
    api.close();
  }
}

export const CTL_COMMANDS = new Set(["routes", "fibs", "rules", "bindings", "groups", "interfaces", "counters", "explain", "sessions", "ipsec"]);
