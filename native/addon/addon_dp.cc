// addon_dp — the JS handles of the running dataplane (native/dp/dp_loop.h,
// dp_tables.h) and of the kernel neighbour socket (dp_neigh.h).
//
// Every call runs on the Node main thread, which is the tables' only writer.
// Table calls return the dp_err code as a number (see src/dp/native.ts for
// their meaning); a DP_ELPM failure is returned as (lpm status - 100) so that
// the caller can tell "too many distinct next hops" from other refusals.
// The one heavy call, loading a whole sub-FIB, builds its trie in an
// AsyncWorker on a detached table and publishes it from OnOK, on the main
// thread.
#include <cassert>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "addon.h"
extern "C" {
#include "dp_explain.h"
#include "dp_ipsec.h"
#include "dp_loop.h"
#include "../ipsec/ipsec_crypto.h"
#include <rte_ethdev.h>
#include "dp_neigh.h"
#include "lpm.h"
}

namespace srcfib {
namespace {

constexpr size_t kErrLen = 512;

int LpmCode(int rc, int lpm_status) { return rc == DP_ELPM ? lpm_status - 100 : rc; }

const uint8_t *Bytes(const Napi::Value &v) { return v.As<Napi::Uint8Array>().Data(); }
uint32_t U32(const Napi::Value &v) { return v.As<Napi::Number>().Uint32Value(); }
int I32(const Napi::Value &v) { return v.As<Napi::Number>().Int32Value(); }

void CopyBytes(const Napi::Object &o, const char *key, uint8_t *dst, size_t n)
{
	Napi::Value v = o.Get(key);
	if (v.IsTypedArray()) {
		Napi::Uint8Array a = v.As<Napi::Uint8Array>();
		std::memcpy(dst, a.Data(), a.ByteLength() < n ? a.ByteLength() : n);
	}
}

// ealInit(args: string[]) — argv[0] is supplied here.
Napi::Value EalInit(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	Napi::Array a = info[0].As<Napi::Array>();
	std::vector<std::string> args{"srcfib"};
	for (uint32_t i = 0; i < a.Length(); i++)
		args.push_back(a.Get(i).As<Napi::String>().Utf8Value());
	std::vector<char *> argv;
	for (auto &s : args)
		argv.push_back(s.data());
	argv.push_back(nullptr);
	char err[kErrLen] = "";
	if (dp_eal_init(static_cast<int>(args.size()), argv.data(), err, sizeof err) != 0)
		Napi::Error::New(env, err).ThrowAsJavaScriptException();
	return env.Undefined();
}

class DataplaneHandle : public Napi::ObjectWrap<DataplaneHandle> {
public:
	static Napi::Function Define(Napi::Env env)
	{
		return DefineClass(env, "NativeDataplane",
		                   {
		                       InstanceMethod<&DataplaneHandle::Start>("start"),
		                       InstanceMethod<&DataplaneHandle::Stop>("stop"),
		                       InstanceMethod<&DataplaneHandle::Close>("close"),
		                       InstanceMethod<&DataplaneHandle::PortInfo>("portInfo"),
		                       InstanceMethod<&DataplaneHandle::PortSet>("portSet"),
		                       InstanceMethod<&DataplaneHandle::BindingSet>("bindingSet"),
		                       InstanceMethod<&DataplaneHandle::BindingDelete>("bindingDelete"),
		                       InstanceMethod<&DataplaneHandle::BindingDefault>("bindingDefault"),
		                       InstanceMethod<&DataplaneHandle::FibBaseSet>("fibBaseSet"),
		                       InstanceMethod<&DataplaneHandle::FibBaseDelete>("fibBaseDelete"),
		                       InstanceMethod<&DataplaneHandle::RouteSet>("routeSet"),
		                       InstanceMethod<&DataplaneHandle::RoutesApply>("routesApply"),
		                       InstanceMethod<&DataplaneHandle::RouteDelete>("routeDelete"),
		                       InstanceMethod<&DataplaneHandle::SubfibLoad>("subfibLoad"),
		                       InstanceMethod<&DataplaneHandle::SubfibLookup>("subfibLookup"),
		                       InstanceMethod<&DataplaneHandle::NhgSet>("nhgSet"),
		                       InstanceMethod<&DataplaneHandle::NhgDelete>("nhgDelete"),
		                       InstanceMethod<&DataplaneHandle::AdjSet>("adjSet"),
		                       InstanceMethod<&DataplaneHandle::AdjDelete>("adjDelete"),
		                       InstanceMethod<&DataplaneHandle::Counters>("counters"),
		                       InstanceMethod<&DataplaneHandle::TakeResolve>("takeResolve"),
		                       InstanceMethod<&DataplaneHandle::Reclaim>("reclaim"),
		                       InstanceMethod<&DataplaneHandle::GraceStart>("graceStart"),
		                       InstanceMethod<&DataplaneHandle::GraceDone>("graceDone"),
		                       InstanceMethod<&DataplaneHandle::Explain>("explain"),
		                       InstanceMethod<&DataplaneHandle::PortLink>("portLink"),
		                       InstanceMethod<&DataplaneHandle::IpsecInfo>("ipsecInfo"),
		                       InstanceMethod<&DataplaneHandle::SaAdd>("saAdd"),
		                       InstanceMethod<&DataplaneHandle::SaDelete>("saDelete"),
		                       InstanceMethod<&DataplaneHandle::SaExpire>("saExpire"),
		                       InstanceMethod<&DataplaneHandle::SaStats>("saStats"),
		                       InstanceMethod<&DataplaneHandle::SaSetLife>("saSetLife"),
		                       InstanceMethod<&DataplaneHandle::TunnelSet>("tunnelSet"),
		                       InstanceMethod<&DataplaneHandle::TunnelDelete>("tunnelDelete"),
		                       InstanceMethod<&DataplaneHandle::SpdSet>("spdSet"),
		                   });
	}

	// new NativeDataplane({ports: [{devargs, tap, mac?: Uint8Array, mtu}], workers, mbufs})
	explicit DataplaneHandle(const Napi::CallbackInfo &info) : Napi::ObjectWrap<DataplaneHandle>(info)
	{
		Napi::Env env = info.Env();
		Napi::Object c = info[0].As<Napi::Object>();
		Napi::Array ports = c.Get("ports").As<Napi::Array>();
		dp_loop_config cfg;
		std::memset(&cfg, 0, sizeof cfg);
		cfg.nports = ports.Length();
		cfg.nworkers = U32(c.Get("workers"));
		cfg.mbufs = U32(c.Get("mbufs"));
		cfg.idle_sleep_us = c.Has("idleSleepUs") ? U32(c.Get("idleSleepUs")) : 0;
		cfg.ipsec = c.Has("ipsec") && c.Get("ipsec").ToBoolean().Value();
		if (c.Has("crypto") && c.Get("crypto").IsString())
			std::snprintf(cfg.crypto_only, sizeof cfg.crypto_only, "%s",
			              c.Get("crypto").As<Napi::String>().Utf8Value().c_str());
		if (c.Has("ikePorts") && c.Get("ikePorts").IsArray()) {
			Napi::Array ike = c.Get("ikePorts").As<Napi::Array>();
			for (uint32_t i = 0; i < 2 && i < ike.Length(); i++)
				cfg.ike_port[i] = static_cast<uint16_t>(U32(ike.Get(i)));
		}
		for (uint32_t i = 0; i < cfg.nports && i < DP_MAX_PORTS; i++) {
			Napi::Object p = ports.Get(i).As<Napi::Object>();
			std::string dev = p.Get("devargs").As<Napi::String>().Utf8Value();
			std::string tap = p.Get("tap").As<Napi::String>().Utf8Value();
			std::snprintf(cfg.port[i].devargs, sizeof cfg.port[i].devargs, "%s", dev.c_str());
			std::snprintf(cfg.port[i].tap_name, sizeof cfg.port[i].tap_name, "%s", tap.c_str());
			CopyBytes(p, "mac", cfg.port[i].mac, 6);
			cfg.port[i].mtu = static_cast<uint16_t>(U32(p.Get("mtu")));
		}
		char err[kErrLen] = "";
		loop_ = dp_loop_create(&cfg, err, sizeof err);
		if (!loop_)
			Napi::Error::New(env, err).ThrowAsJavaScriptException();
		else
			t_ = dp_loop_tables(loop_);
	}

	~DataplaneHandle() override { dp_loop_destroy(loop_); }

private:
	bool Alive(const Napi::CallbackInfo &info)
	{
		if (loop_)
			return true;
		Napi::Error::New(info.Env(), "the dataplane is closed").ThrowAsJavaScriptException();
		return false;
	}
	Napi::Value Rc(const Napi::CallbackInfo &info, int rc) { return Napi::Number::New(info.Env(), rc); }

	Napi::Value Start(const Napi::CallbackInfo &info)
	{
		if (!Alive(info))
			return info.Env().Undefined();
		char err[kErrLen] = "";
		if (dp_loop_start(loop_, err, sizeof err) != 0)
			Napi::Error::New(info.Env(), err).ThrowAsJavaScriptException();
		return info.Env().Undefined();
	}

	Napi::Value Stop(const Napi::CallbackInfo &info)
	{
		if (loop_)
			dp_loop_stop(loop_);
		return info.Env().Undefined();
	}

	// Stops the workers and releases every port and TAP.
	Napi::Value Close(const Napi::CallbackInfo &info)
	{
		if (loop_)
			dp_loop_destroy(loop_);
		loop_ = nullptr;
		t_ = nullptr;
		return info.Env().Undefined();
	}

	Napi::Value PortInfo(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		if (!Alive(info))
			return env.Undefined();
		unsigned p = U32(info[0]);
		uint8_t mac[6];
		dp_loop_port_mac(loop_, p, mac);
		Napi::Object o = Napi::Object::New(env);
		o.Set("dpdkPort", Napi::Number::New(env, dp_loop_dpdk_port(loop_, p)));
		o.Set("tapPort", Napi::Number::New(env, dp_loop_tap_port(loop_, p)));
		Napi::Uint8Array m = Napi::Uint8Array::New(env, 6);
		std::memcpy(m.Data(), mac, 6);
		o.Set("mac", m);
		return o;
	}

	// portSet(port, {mtu, mru, ip4?: Uint8Array(4), ip6?: Uint8Array(16)}) — MAC and port ids from the loop
	Napi::Value PortSet(const Napi::CallbackInfo &info)
	{
		if (!Alive(info))
			return info.Env().Undefined();
		unsigned p = U32(info[0]);
		Napi::Object o = info[1].As<Napi::Object>();
		dp_port_conf c;
		std::memset(&c, 0, sizeof c);
		c.dpdk_port = dp_loop_dpdk_port(loop_, p);
		c.tap_port = dp_loop_tap_port(loop_, p);
		c.mtu = static_cast<uint16_t>(U32(o.Get("mtu")));
		c.mru = static_cast<uint16_t>(U32(o.Get("mru")));
		dp_loop_port_mac(loop_, p, c.mac);
		if (o.Get("ip4").IsTypedArray()) {
			const uint8_t *a = Bytes(o.Get("ip4"));
			c.has_ip4 = 1;
			c.ip4 = (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];
		}
		if (o.Get("ip6").IsTypedArray()) {
			c.has_ip6 = 1;
			std::memcpy(c.ip6, Bytes(o.Get("ip6")), 16);
		}
		return Rc(info, dp_port_set(t_, static_cast<uint16_t>(p), &c));
	}

	// bindingSet(family, addr, len, fib)
	Napi::Value BindingSet(const Napi::CallbackInfo &info)
	{
		if (!Alive(info))
			return info.Env().Undefined();
		return Rc(info, dp_binding_set(t_, I32(info[0]), Bytes(info[1]), U32(info[2]),
		                               static_cast<uint16_t>(U32(info[3]))));
	}
	Napi::Value BindingDelete(const Napi::CallbackInfo &info)
	{
		if (!Alive(info))
			return info.Env().Undefined();
		return Rc(info, dp_binding_delete(t_, I32(info[0]), Bytes(info[1]), U32(info[2])));
	}
	Napi::Value BindingDefault(const Napi::CallbackInfo &info)
	{
		if (!Alive(info))
			return info.Env().Undefined();
		return Rc(info, dp_binding_default(t_, I32(info[0]), static_cast<uint16_t>(U32(info[1]))));
	}

	// fibBaseSet(fib, defaultSubfib, rules: [{id, subfib, inPort, family, src: Uint8Array(16), srcLen,
	//            dscp, proto (-1: any), sport: [lo, hi], dport: [lo, hi]}])
	Napi::Value FibBaseSet(const Napi::CallbackInfo &info)
	{
		if (!Alive(info))
			return info.Env().Undefined();
		Napi::Array rs = info[2].As<Napi::Array>();
		std::vector<dp_rule> rules(rs.Length());
		for (uint32_t i = 0; i < rs.Length(); i++) {
			Napi::Object o = rs.Get(i).As<Napi::Object>();
			dp_rule &r = rules[i];
			std::memset(&r, 0, sizeof r);
			r.id = U32(o.Get("id"));
			r.subfib = static_cast<uint16_t>(U32(o.Get("subfib")));
			r.in_port = static_cast<uint16_t>(U32(o.Get("inPort")));
			r.family = static_cast<uint8_t>(U32(o.Get("family")));
			CopyBytes(o, "src", r.src, 16);
			r.src_len = static_cast<uint8_t>(U32(o.Get("srcLen")));
			r.dscp = static_cast<uint8_t>(U32(o.Get("dscp")));
			int proto = I32(o.Get("proto"));
			r.proto_any = proto < 0;
			r.proto = proto < 0 ? 0 : static_cast<uint8_t>(proto);
			Napi::Array sp = o.Get("sport").As<Napi::Array>(), dpr = o.Get("dport").As<Napi::Array>();
			r.sport_lo = static_cast<uint16_t>(U32(sp.Get(0u)));
			r.sport_hi = static_cast<uint16_t>(U32(sp.Get(1u)));
			r.dport_lo = static_cast<uint16_t>(U32(dpr.Get(0u)));
			r.dport_hi = static_cast<uint16_t>(U32(dpr.Get(1u)));
		}
		return Rc(info, dp_fib_base_set(t_, static_cast<uint16_t>(U32(info[0])), static_cast<uint16_t>(U32(info[1])),
		                                rules.data(), static_cast<unsigned>(rules.size())));
	}
	Napi::Value FibBaseDelete(const Napi::CallbackInfo &info)
	{
		if (!Alive(info))
			return info.Env().Undefined();
		return Rc(info, dp_fib_base_delete(t_, static_cast<uint16_t>(U32(info[0]))));
	}

	// routeSet(subfib, family, addr, len, nhg)
	Napi::Value RouteSet(const Napi::CallbackInfo &info)
	{
		if (!Alive(info))
			return info.Env().Undefined();
		int st = 0;
		int rc = dp_route_set(t_, static_cast<uint16_t>(U32(info[0])), I32(info[1]), Bytes(info[2]), U32(info[3]),
		                      U32(info[4]), &st);
		return Rc(info, LpmCode(rc, st));
	}
	Napi::Value RouteDelete(const Napi::CallbackInfo &info)
	{
		if (!Alive(info))
			return info.Env().Undefined();
		int st = 0;
		int rc = dp_route_delete(t_, static_cast<uint16_t>(U32(info[0])), I32(info[1]), Bytes(info[2]), U32(info[3]),
		                         &st);
		return Rc(info, LpmCode(rc, st));
	}

	// routesApply(subfib, family, addrs, lens, nhgs, old) -> [rc, done]: n changes in one call
	// (nhgs[i] 0xffffffff deletes); old[i] receives the previous nhg id or 0xffffffff.
	Napi::Value RoutesApply(const Napi::CallbackInfo &info)
	{
		if (!Alive(info))
			return info.Env().Undefined();
		int family = I32(info[1]);
		auto addrs = info[2].As<Napi::Uint8Array>();
		auto lens = info[3].As<Napi::Uint8Array>();
		auto nhgs = info[4].As<Napi::Uint32Array>();
		auto old = info[5].As<Napi::Uint32Array>();
		size_t n = lens.ElementLength();
		size_t w = family == 4 ? 4 : 16;
		Napi::Array out = Napi::Array::New(info.Env(), 2);
		if (nhgs.ElementLength() < n || old.ElementLength() < n || addrs.ElementLength() < n * w) {
			Napi::TypeError::New(info.Env(), "routesApply: arrays shorter than lens").ThrowAsJavaScriptException();
			return info.Env().Undefined();
		}
		int st = 0;
		size_t done = 0;
		int rc = dp_routes_apply(t_, static_cast<uint16_t>(U32(info[0])), family, n, addrs.Data(), lens.Data(),
		                         nhgs.Data(), old.Data(), &done, &st);
		out.Set(0u, Napi::Number::New(info.Env(), LpmCode(rc, st)));
		out.Set(1u, Napi::Number::New(info.Env(), static_cast<double>(done)));
		return out;
	}

	// subfibLookup(subfib, family, addr) -> nhg id or LPM_MISS (for Explain and tests)
	Napi::Value SubfibLookup(const Napi::CallbackInfo &info)
	{
		if (!Alive(info))
			return info.Env().Undefined();
		lpm_t *l = dp_subfib_lpm(t_, static_cast<uint16_t>(U32(info[0])), I32(info[1]), false);
		const uint8_t *a = Bytes(info[2]);
		uint32_t nh = LPM_MISS;
		if (l && I32(info[1]) == 4)
			nh = lpm4_lookup(l, (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3]);
		else if (l)
			nh = lpm6_lookup(l, a);
		return Napi::Number::New(info.Env(), nh);
	}

	Napi::Value SubfibLoad(const Napi::CallbackInfo &info);

	// explain({family, src, dst, inPort, proto, dscp, sport, dport, hasPorts}) -> decision ids
	Napi::Value Explain(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		if (!Alive(info))
			return env.Undefined();
		Napi::Object q = info[0].As<Napi::Object>();
		dp_explain_in in;
		std::memset(&in, 0, sizeof in);
		in.family = I32(q.Get("family"));
		Napi::Uint8Array src = q.Get("src").As<Napi::Uint8Array>(), dst = q.Get("dst").As<Napi::Uint8Array>();
		size_t w = in.family == 4 ? 4 : 16;
		if ((in.family != 4 && in.family != 6) || src.ByteLength() != w || dst.ByteLength() != w) {
			Napi::TypeError::New(env, "explain: family 4 or 6 with 4- or 16-byte addresses").ThrowAsJavaScriptException();
			return env.Undefined();
		}
		std::memcpy(in.src, src.Data(), w);
		std::memcpy(in.dst, dst.Data(), w);
		in.in_port = static_cast<uint16_t>(U32(q.Get("inPort")));
		in.proto = static_cast<uint8_t>(U32(q.Get("proto")));
		in.dscp = static_cast<uint8_t>(U32(q.Get("dscp")));
		in.has_ports = q.Get("hasPorts").ToBoolean();
		in.sport = static_cast<uint16_t>(U32(q.Get("sport")));
		in.dport = static_cast<uint16_t>(U32(q.Get("dport")));
		dp_explain_out o;
		dp_explain(t_, &in, &o);
		Napi::Object r = Napi::Object::New(env);
		r.Set("fib", Napi::Number::New(env, o.fib));
		r.Set("byDefault", Napi::Boolean::New(env, o.by_default));
		r.Set("rule", Napi::Number::New(env, static_cast<double>(o.rule)));
		r.Set("subfib", Napi::Number::New(env, o.subfib));
		r.Set("nhg", Napi::Number::New(env, o.nhg));
		r.Set("kind", Napi::Number::New(env, o.kind));
		r.Set("adj", Napi::Number::New(env, static_cast<double>(o.adj)));
		r.Set("resolved", Napi::Boolean::New(env, o.resolved));
		r.Set("outPort", Napi::Number::New(env, o.out_port));
		Napi::Uint8Array m = Napi::Uint8Array::New(env, 6);
		std::memcpy(m.Data(), o.mac, 6);
		r.Set("mac", m);
		r.Set("drop", Napi::Number::New(env, o.drop));
		r.Set("spIn", Napi::Number::New(env, static_cast<double>(o.sp_in)));
		r.Set("spOut", Napi::Number::New(env, static_cast<double>(o.sp_out)));
		r.Set("localOnly", Napi::Boolean::New(env, o.local_only));
		r.Set("tunnel", Napi::Number::New(env, o.tunnel));
		return r;
	}

	// portLink(port) -> {up, speedMbps}
	Napi::Value PortLink(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		if (!Alive(info))
			return env.Undefined();
		struct rte_eth_link link;
		std::memset(&link, 0, sizeof link);
		uint16_t port = dp_loop_dpdk_port(loop_, U32(info[0]));
		int rc = rte_eth_link_get_nowait(port, &link);
		Napi::Object r = Napi::Object::New(env);
		r.Set("up", Napi::Boolean::New(env, rc == 0 && link.link_status == RTE_ETH_LINK_UP));
		r.Set("speedMbps", Napi::Number::New(env, rc == 0 && link.link_speed != RTE_ETH_SPEED_NUM_UNKNOWN ? link.link_speed : 0));
		return r;
	}

	// nhgSet(id, kind, adjs: Uint16Array, weights: Uint16Array)
	Napi::Value NhgSet(const Napi::CallbackInfo &info)
	{
		if (!Alive(info))
			return info.Env().Undefined();
		Napi::Uint16Array adj = info[2].As<Napi::Uint16Array>(), w = info[3].As<Napi::Uint16Array>();
		return Rc(info, dp_nhg_set(t_, U32(info[0]), static_cast<dp_nhg_kind>(U32(info[1])),
		                           static_cast<unsigned>(adj.ElementLength()), adj.Data(), w.Data()));
	}
	Napi::Value NhgDelete(const Napi::CallbackInfo &info)
	{
		if (!Alive(info))
			return info.Env().Undefined();
		return Rc(info, dp_nhg_delete(t_, U32(info[0])));
	}

	// adjSet(id, {port, mtu, resolved, dst?: Uint8Array(6)}) — source MAC is the port's
	Napi::Value AdjSet(const Napi::CallbackInfo &info)
	{
		if (!Alive(info))
			return info.Env().Undefined();
		Napi::Object o = info[1].As<Napi::Object>();
		dp_adj a;
		std::memset(&a, 0, sizeof a);
		a.port = static_cast<uint16_t>(U32(o.Get("port")));
		a.mtu = static_cast<uint16_t>(U32(o.Get("mtu")));
		a.resolved = o.Get("resolved").ToBoolean().Value() ? 1 : 0;
		CopyBytes(o, "dst", a.dst_mac, 6);
		dp_loop_port_mac(loop_, a.port, a.src_mac);
		return Rc(info, dp_adj_set(t_, static_cast<uint16_t>(U32(info[0])), &a));
	}
	Napi::Value AdjDelete(const Napi::CallbackInfo &info)
	{
		if (!Alive(info))
			return info.Env().Undefined();
		return Rc(info, dp_adj_delete(t_, static_cast<uint16_t>(U32(info[0]))));
	}

	// counters() -> {drop, port (DP_MAX_PORTS x PORT_FIELDS), fib, subfib, rule, adj (pkts, bytes pairs)}
	// as Float64Arrays (exact to 2^53).
	Napi::Value Counters(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		if (!Alive(info))
			return env.Undefined();
		auto *c = static_cast<dp_counters *>(aligned_alloc(64, sizeof(dp_counters)));
		if (!c) {
			Napi::Error::New(env, "out of memory").ThrowAsJavaScriptException();
			return env.Undefined();
		}
		dp_loop_counters(loop_, c);
		auto arr = [&](const uint64_t *src, size_t n) {
			Napi::Float64Array a = Napi::Float64Array::New(env, n);
			for (size_t i = 0; i < n; i++)
				a[i] = static_cast<double>(src[i]);
			return a;
		};
		Napi::Object o = Napi::Object::New(env);
		o.Set("drop", arr(c->drop, DP_DROP_MAX));
		o.Set("port", arr(reinterpret_cast<const uint64_t *>(c->port), sizeof c->port / 8));
		o.Set("fib", arr(c->fib_pkts, DP_MAX_FIBS));
		o.Set("subfib", arr(c->subfib_pkts, DP_MAX_SUBFIBS));
		o.Set("rule", arr(c->rule_hits, DP_MAX_RULE_IDS));
		o.Set("adj", arr(reinterpret_cast<const uint64_t *>(c->adj), sizeof c->adj / 8));
		o.Set("sa", arr(reinterpret_cast<const uint64_t *>(c->sa), sizeof c->sa / 8));
		o.Set("spIn", arr(c->sp_hits[DP_SP_IN], DP_MAX_SPS));
		o.Set("spOut", arr(c->sp_hits[DP_SP_OUT], DP_MAX_SPS));
		std::vector<uint64_t> wrx(dp_loop_nworkers(loop_));
		for (unsigned w = 0; w < wrx.size(); w++)
			wrx[w] = dp_loop_worker_rx(loop_, w);
		o.Set("workerRx", arr(wrx.data(), wrx.size()));
		free(c);
		return o;
	}

	// ---- IPsec (dp_ipsec.h).  Calls that can fail with a reason return [rc, message]. ----
	Napi::Value RcMsg(const Napi::CallbackInfo &info, int rc, const char *msg)
	{
		Napi::Array a = Napi::Array::New(info.Env(), 2);
		a.Set(0u, Napi::Number::New(info.Env(), rc));
		a.Set(1u, Napi::String::New(info.Env(), rc == DP_OK ? "" : msg));
		return a;
	}

	// ipsecInfo() -> {driver, whyNot} or null when IPsec is off
	Napi::Value IpsecInfo(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		const ipsec_crypto *c = loop_ ? dp_loop_crypto(loop_) : nullptr;
		if (!c)
			return env.Null();
		Napi::Object o = Napi::Object::New(env);
		o.Set("driver", Napi::String::New(env, c->driver));
		o.Set("whyNot", Napi::String::New(env, c->why_not));
		return o;
	}

	// saAdd(id, {proto, tunnel, spi, inbound, tunnelMode, outerFamily, innerFamily, src, dst (Uint8Array(16)),
	//       cipher, auth, key, salt, authKey (Uint8Array), replayWindow, esn, natt, nattSport, nattDport, ttl,
	//       softBytes, hardBytes, softPackets, hardPackets}) -> [rc, message]
	// The key bytes are copied once into the SA; this function's copy is wiped before it returns
	// (the caller wipes its own).
	Napi::Value SaAdd(const Napi::CallbackInfo &info)
	{
		if (!Alive(info))
			return info.Env().Undefined();
		uint16_t id = static_cast<uint16_t>(U32(info[0]));
		Napi::Object o = info[1].As<Napi::Object>();
		dp_sa_spec s;
		std::memset(&s, 0, sizeof s);
		s.proto = static_cast<uint8_t>(U32(o.Get("proto")));
		s.tunnel = static_cast<uint16_t>(U32(o.Get("tunnel")));
		ipsec_sa_conf &c = s.conf;
		c.spi = U32(o.Get("spi"));
		c.inbound = o.Get("inbound").ToBoolean().Value();
		c.tunnel = o.Get("tunnelMode").ToBoolean().Value();
		c.outer_family = static_cast<uint8_t>(U32(o.Get("outerFamily")));
		c.inner_family = static_cast<uint8_t>(U32(o.Get("innerFamily")));
		CopyBytes(o, "src", c.src, 16);
		CopyBytes(o, "dst", c.dst, 16);
		c.cipher = static_cast<uint8_t>(U32(o.Get("cipher")));
		c.auth = static_cast<uint8_t>(U32(o.Get("auth")));
		auto key = [&](const char *name, uint8_t *dst, size_t cap, uint8_t *len) {
			Napi::Value v = o.Get(name);
			if (!v.IsTypedArray())
				return;
			Napi::Uint8Array a = v.As<Napi::Uint8Array>();
			size_t n = a.ByteLength() < cap ? a.ByteLength() : cap;
			std::memcpy(dst, a.Data(), n);
			if (len)
				*len = static_cast<uint8_t>(a.ByteLength() > 255 ? 255 : a.ByteLength());
		};
		key("key", c.key, sizeof c.key, &c.key_len);
		key("salt", c.salt, sizeof c.salt, nullptr);
		key("authKey", c.auth_key, sizeof c.auth_key, &c.auth_key_len);
		c.replay_window = U32(o.Get("replayWindow"));
		c.esn = o.Get("esn").ToBoolean().Value();
		c.natt = o.Get("natt").ToBoolean().Value();
		c.natt_sport = static_cast<uint16_t>(U32(o.Get("nattSport")));
		c.natt_dport = static_cast<uint16_t>(U32(o.Get("nattDport")));
		c.ttl = static_cast<uint8_t>(U32(o.Get("ttl")));
		auto u64 = [&](const char *name) -> uint64_t {
			Napi::Value v = o.Get(name);
			return v.IsNumber() ? static_cast<uint64_t>(v.As<Napi::Number>().DoubleValue()) : 0;
		};
		c.life.soft_bytes = u64("softBytes");
		c.life.hard_bytes = u64("hardBytes");
		c.life.soft_packets = u64("softPackets");
		c.life.hard_packets = u64("hardPackets");
		char err[kErrLen] = "";
		int rc = dp_sa_add(t_, id, &s, err, sizeof err);
		ipsec_wipe(&s, sizeof s);
		return RcMsg(info, rc, err);
	}

	Napi::Value SaDelete(const Napi::CallbackInfo &info)
	{
		if (!Alive(info))
			return info.Env().Undefined();
		char err[kErrLen] = "";
		return RcMsg(info, dp_sa_delete(t_, static_cast<uint16_t>(U32(info[0])), err, sizeof err), err);
	}

	Napi::Value SaExpire(const Napi::CallbackInfo &info)
	{
		if (!Alive(info))
			return info.Env().Undefined();
		return Rc(info, dp_sa_expire(t_, static_cast<uint16_t>(U32(info[0]))));
	}

	// saStats(id) -> {packets, bytes, softExpired, hardExpired} or null
	Napi::Value SaStats(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		if (!Alive(info))
			return env.Undefined();
		ipsec_sa_stats st;
		if (dp_sa_stats(t_, static_cast<uint16_t>(U32(info[0])), &st) != DP_OK)
			return env.Null();
		Napi::Object o = Napi::Object::New(env);
		o.Set("packets", Napi::Number::New(env, static_cast<double>(st.packets)));
		o.Set("bytes", Napi::Number::New(env, static_cast<double>(st.bytes)));
		o.Set("softExpired", Napi::Boolean::New(env, st.soft_expired));
		o.Set("hardExpired", Napi::Boolean::New(env, st.hard_expired));
		return o;
	}

	// saSetLife(id, softBytes, hardBytes, softPackets, hardPackets) -> rc
	Napi::Value SaSetLife(const Napi::CallbackInfo &info)
	{
		if (!Alive(info))
			return info.Env().Undefined();
		auto u64 = [&](size_t i) { return static_cast<uint64_t>(info[i].As<Napi::Number>().DoubleValue()); };
		ipsec_life l = {u64(1), u64(2), u64(3), u64(4)};
		return Rc(info, dp_sa_set_life(t_, static_cast<uint16_t>(U32(info[0])), &l));
	}

	// tunnelSet(id, mtu4, mtu6, outSa4, outSa6) -> [rc, message]  (0xffff: none)
	Napi::Value TunnelSet(const Napi::CallbackInfo &info)
	{
		if (!Alive(info))
			return info.Env().Undefined();
		dp_tunnel tun;
		tun.mtu[0] = static_cast<uint16_t>(U32(info[1]));
		tun.mtu[1] = static_cast<uint16_t>(U32(info[2]));
		tun.out_sa[0] = static_cast<uint16_t>(U32(info[3]));
		tun.out_sa[1] = static_cast<uint16_t>(U32(info[4]));
		char err[kErrLen] = "";
		return RcMsg(info, dp_tunnel_set(t_, static_cast<uint16_t>(U32(info[0])), &tun, err, sizeof err), err);
	}

	Napi::Value TunnelDelete(const Napi::CallbackInfo &info)
	{
		if (!Alive(info))
			return info.Env().Undefined();
		return Rc(info, dp_tunnel_delete(t_, static_cast<uint16_t>(U32(info[0]))));
	}

	// spdSet(dir (0 in, 1 out), [{id, family, src, srcLen, dst, dstLen, proto (-1: any), action, tunnel,
	//        sport: [lo, hi], dport: [lo, hi]}]) -> [rc, message]
	Napi::Value SpdSet(const Napi::CallbackInfo &info)
	{
		if (!Alive(info))
			return info.Env().Undefined();
		Napi::Array a = info[1].As<Napi::Array>();
		std::vector<dp_sp> sp(a.Length());
		for (uint32_t i = 0; i < a.Length(); i++) {
			Napi::Object o = a.Get(i).As<Napi::Object>();
			dp_sp &p = sp[i];
			std::memset(&p, 0, sizeof p);
			p.id = U32(o.Get("id"));
			p.family = static_cast<uint8_t>(U32(o.Get("family")));
			CopyBytes(o, "src", p.src, 16);
			CopyBytes(o, "dst", p.dst, 16);
			p.src_len = static_cast<uint8_t>(U32(o.Get("srcLen")));
			p.dst_len = static_cast<uint8_t>(U32(o.Get("dstLen")));
			int proto = I32(o.Get("proto"));
			p.proto_any = proto < 0;
			p.proto = proto < 0 ? 0 : static_cast<uint8_t>(proto);
			p.action = static_cast<uint8_t>(U32(o.Get("action")));
			p.tunnel = static_cast<uint16_t>(U32(o.Get("tunnel")));
			Napi::Array spr = o.Get("sport").As<Napi::Array>(), dpr = o.Get("dport").As<Napi::Array>();
			p.sport_lo = static_cast<uint16_t>(U32(spr.Get(0u)));
			p.sport_hi = static_cast<uint16_t>(U32(spr.Get(1u)));
			p.dport_lo = static_cast<uint16_t>(U32(dpr.Get(0u)));
			p.dport_hi = static_cast<uint16_t>(U32(dpr.Get(1u)));
		}
		char err[kErrLen] = "";
		int rc = dp_spd_set(t_, I32(info[0]), sp.data(), static_cast<unsigned>(sp.size()), err, sizeof err);
		return RcMsg(info, rc, err);
	}

	Napi::Value TakeResolve(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		if (!Alive(info))
			return env.Undefined();
		uint16_t ids[DP_MAX_ADJS];
		unsigned n = dp_loop_take_resolve(loop_, ids, DP_MAX_ADJS);
		Napi::Uint16Array a = Napi::Uint16Array::New(env, n);
		std::memcpy(a.Data(), ids, n * sizeof(uint16_t));
		return a;
	}

	Napi::Value Reclaim(const Napi::CallbackInfo &info)
	{
		if (t_)
			dp_tables_reclaim(t_, false);
		return info.Env().Undefined();
	}

	/* Tokens count grace periods from 1 up: a double holds them exactly for far longer than a
	 * process runs (2^53 periods). */
	Napi::Value GraceStart(const Napi::CallbackInfo &info)
	{
		return Napi::Number::New(info.Env(), t_ ? static_cast<double>(dp_tables_grace_start(t_)) : 0.0);
	}

	static bool token_of(const Napi::CallbackInfo &info, uint64_t *token)
	{
		double d = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1.0;
		if (!std::isfinite(d) || d < 0 || d >= 18446744073709551616.0) {
			Napi::TypeError::New(info.Env(), "grace: a token from graceStart()").ThrowAsJavaScriptException();
			return false;
		}
		*token = static_cast<uint64_t>(d);
		return true;
	}

	Napi::Value GraceDone(const Napi::CallbackInfo &info)
	{
		uint64_t token;
		if (!token_of(info, &token))
			return info.Env().Undefined();
		return Napi::Boolean::New(info.Env(), !t_ || dp_tables_grace_done(t_, token));
	}


public:
	dp_tables *tables() { return t_; }

private:
	dp_loop *loop_ = nullptr;
	dp_tables *t_ = nullptr;
};

// Publishes a sub-FIB's table built off the main thread.
class SubfibLoadWorker : public LpmBuildWorker {
public:
	SubfibLoadWorker(Napi::Env env, DataplaneHandle *h, Napi::Object self, uint16_t subfib, int family,
	                 Napi::Uint8Array addrs, Napi::Uint8Array lens, Napi::Uint32Array nhs)
	    : LpmBuildWorker(env, "srcfib:subfib-load", family, self, addrs, lens, nhs), h_(h), subfib_(subfib),
	      family_(family)
	{
	}

private:
	int Publish(lpm_t *built, int status) override
	{
		if (status != LPM_OK)
			return LpmCode(DP_ELPM, status);
		if (!h_->tables()) { // closed while the build ran
			lpm_table_destroy(built);
			return DP_ENOENT;
		}
		int st = 0;
		return LpmCode(dp_subfib_adopt(h_->tables(), subfib_, family_, built, &st), st);
	}
	DataplaneHandle *h_;
	uint16_t subfib_;
	int family_;
};

// subfibLoad(subfib, family, addrs, lens, nhgs) -> Promise<rc>
Napi::Value DataplaneHandle::SubfibLoad(const Napi::CallbackInfo &info)
{
	if (!Alive(info))
		return info.Env().Undefined();
	auto *w = new SubfibLoadWorker(info.Env(), this, info.This().As<Napi::Object>(),
	                               static_cast<uint16_t>(U32(info[0])), I32(info[1]), info[2].As<Napi::Uint8Array>(),
	                               info[3].As<Napi::Uint8Array>(), info[4].As<Napi::Uint32Array>());
	Napi::Promise p = w->Promise();
	w->Queue();
	return p;
}

class NeighHandle : public Napi::ObjectWrap<NeighHandle> {
public:
	static Napi::Function Define(Napi::Env env)
	{
		return DefineClass(env, "NativeNeigh",
		                   {
		                       InstanceMethod<&NeighHandle::Dump>("dump"),
		                       InstanceMethod<&NeighHandle::Read>("read"),
		                       InstanceMethod<&NeighHandle::Resolve>("resolve"),
		                       InstanceMethod<&NeighHandle::Close>("close"),
		                   });
	}
	explicit NeighHandle(const Napi::CallbackInfo &info) : Napi::ObjectWrap<NeighHandle>(info)
	{
		char err[kErrLen] = "";
		n_ = dp_neigh_open(err, sizeof err);
		if (!n_)
			Napi::Error::New(info.Env(), err).ThrowAsJavaScriptException();
	}
	~NeighHandle() override { dp_neigh_close(n_); }

private:
	bool Alive(const Napi::CallbackInfo &info)
	{
		if (n_)
			return true;
		Napi::Error::New(info.Env(), "the neighbour socket is closed").ThrowAsJavaScriptException();
		return false;
	}
	Napi::Value Dump(const Napi::CallbackInfo &info)
	{
		char err[kErrLen] = "";
		if (Alive(info) && dp_neigh_dump(n_, err, sizeof err) != 0)
			Napi::Error::New(info.Env(), err).ThrowAsJavaScriptException();
		return info.Env().Undefined();
	}
	// read() -> array of {deleted, family, ifindex, state, flags, addr: Uint8Array, lladdr: Uint8Array|null},
	// or the string "overrun"
	Napi::Value Read(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		if (!Alive(info))
			return env.Undefined();
		Napi::Array out = Napi::Array::New(env);
		dp_neigh_event ev[256];
		char err[kErrLen] = "";
		uint32_t k = 0;
		for (int rounds = 0; rounds < 64; rounds++) {
			int n = dp_neigh_read(n_, ev, 256, err, sizeof err);
			if (n == DP_NEIGH_OVERRUN)
				return Napi::String::New(env, "overrun");
			if (n < 0) {
				Napi::Error::New(env, err).ThrowAsJavaScriptException();
				return env.Undefined();
			}
			for (int i = 0; i < n; i++) {
				Napi::Object o = Napi::Object::New(env);
				o.Set("deleted", Napi::Boolean::New(env, ev[i].deleted));
				o.Set("family", Napi::Number::New(env, ev[i].family));
				o.Set("ifindex", Napi::Number::New(env, ev[i].ifindex));
				o.Set("state", Napi::Number::New(env, ev[i].state));
				o.Set("flags", Napi::Number::New(env, ev[i].flags));
				Napi::Uint8Array a = Napi::Uint8Array::New(env, ev[i].family == 4 ? 4 : 16);
				std::memcpy(a.Data(), ev[i].addr, a.ByteLength());
				o.Set("addr", a);
				if (ev[i].has_lladdr) {
					Napi::Uint8Array m = Napi::Uint8Array::New(env, 6);
					std::memcpy(m.Data(), ev[i].lladdr, 6);
					o.Set("lladdr", m);
				} else {
					o.Set("lladdr", env.Null());
				}
				out.Set(k++, o);
			}
			if (n < 256)
				break;
		}
		return out;
	}
	// resolve(family, ifindex, addr)
	Napi::Value Resolve(const Napi::CallbackInfo &info)
	{
		char err[kErrLen] = "";
		if (Alive(info) && dp_neigh_resolve(n_, I32(info[0]), U32(info[1]), Bytes(info[2]), err, sizeof err) != 0)
			Napi::Error::New(info.Env(), err).ThrowAsJavaScriptException();
		return info.Env().Undefined();
	}
	Napi::Value Close(const Napi::CallbackInfo &info)
	{
		dp_neigh_close(n_);
		n_ = nullptr;
		return info.Env().Undefined();
	}
	dp_neigh *n_ = nullptr;
};

} // namespace

void DataplaneInit(Napi::Env env, Napi::Object exports)
{
	exports.Set("ealInit", Napi::Function::New<EalInit>(env, "ealInit"));
	exports.Set("NativeDataplane", DataplaneHandle::Define(env));
	exports.Set("NativeNeigh", NeighHandle::Define(env));
	Napi::Array names = Napi::Array::New(env, DP_DROP_MAX), help = Napi::Array::New(env, DP_DROP_MAX);
	for (uint32_t i = 0; i < DP_DROP_MAX; i++) {
		names.Set(i, Napi::String::New(env, dp_drop_names[i]));
		help.Set(i, Napi::String::New(env, dp_drop_help[i]));
	}
	exports.Set("dropNames", names);
	exports.Set("dropHelp", help);
	Napi::Object lim = Napi::Object::New(env);
	lim.Set("ports", Napi::Number::New(env, DP_MAX_PORTS));
	lim.Set("fibs", Napi::Number::New(env, DP_MAX_FIBS));
	lim.Set("subfibs", Napi::Number::New(env, DP_MAX_SUBFIBS));
	lim.Set("rulesPerFib", Napi::Number::New(env, DP_MAX_RULES));
	lim.Set("ruleIds", Napi::Number::New(env, DP_MAX_RULE_IDS));
	lim.Set("nhgs", Napi::Number::New(env, DP_MAX_NHGS));
	lim.Set("adjs", Napi::Number::New(env, DP_MAX_ADJS));
	lim.Set("workers", Napi::Number::New(env, DP_MAX_WORKERS));
	lim.Set("sas", Napi::Number::New(env, DP_MAX_SAS));
	lim.Set("tunnels", Napi::Number::New(env, DP_MAX_TUNNELS));
	lim.Set("sps", Napi::Number::New(env, DP_MAX_SPS));
	lim.Set("portCounterFields", Napi::Number::New(env, sizeof(dp_port_counters) / 8));
	exports.Set("dpLimits", lim);
}

} // namespace srcfib
