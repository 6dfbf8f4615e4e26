// addon_lpm — the JS handle of one lpm table (native/lookup/lpm.h).
//
// Writes and single lookups run on the main thread.  A full build runs in an
// AsyncWorker on a detached table (no readers, so nothing to synchronise) and
// the main thread adopts it in OnOK: the published table is only ever written
// from the main thread.  Input buffers are referenced, not copied, while the
// worker runs.
#include <arpa/inet.h>
#include <cassert>
#include <cstring>
#include <vector>

#include "addon.h"

namespace srcfib {
namespace {

class LpmHandle : public Napi::ObjectWrap<LpmHandle> {
public:
	static Napi::Function Define(Napi::Env env)
	{
		return DefineClass(env, "NativeLpm",
		                   {
		                       InstanceMethod<&LpmHandle::Add>("add"),
		                       InstanceMethod<&LpmHandle::Delete>("delete"),
		                       InstanceMethod<&LpmHandle::Get>("get"),
		                       InstanceMethod<&LpmHandle::Lookup>("lookup"),
		                       InstanceMethod<&LpmHandle::LookupBatch>("lookupBatch"),
		                       InstanceMethod<&LpmHandle::Stats>("stats"),
		                       InstanceMethod<&LpmHandle::Build>("build"),
		                       InstanceMethod<&LpmHandle::Walk>("walk"),
		                   });
	}

	explicit LpmHandle(const Napi::CallbackInfo &info) : Napi::ObjectWrap<LpmHandle>(info)
	{
		family_ = info[0].As<Napi::Number>().Int32Value();
		assert(family_ == 4 || family_ == 6);
		lpm_ = lpm_table_create(family_, nullptr);
		if (lpm_ == nullptr)
			Napi::Error::New(info.Env(), "lpm_table_create: out of memory").ThrowAsJavaScriptException();
	}

	~LpmHandle() override { lpm_table_destroy(lpm_); }

	lpm_t *table() { return lpm_; }
	int family() const { return family_; }

private:
	static const uint8_t *Bytes(const Napi::Value &v) { return v.As<Napi::Uint8Array>().Data(); }

	// add(addr, len, nh) -> previous next hop (0xFFFFFFFF if new) or a negative status
	Napi::Value Add(const Napi::CallbackInfo &info)
	{
		uint32_t old = LPM_MISS;
		int rc = lpm_route_add(lpm_, Bytes(info[0]), info[1].As<Napi::Number>().Uint32Value(),
		                       info[2].As<Napi::Number>().Uint32Value(), &old);
		return Napi::Number::New(info.Env(), rc < 0 ? (double)rc : (double)old);
	}

	Napi::Value Delete(const Napi::CallbackInfo &info)
	{
		uint32_t old = LPM_MISS;
		int rc = lpm_route_delete(lpm_, Bytes(info[0]), info[1].As<Napi::Number>().Uint32Value(), &old);
		return Napi::Number::New(info.Env(), rc < 0 ? (double)rc : (double)old);
	}

	Napi::Value Get(const Napi::CallbackInfo &info)
	{
		uint32_t nh = LPM_MISS;
		int rc = lpm_route_get(lpm_, Bytes(info[0]), info[1].As<Napi::Number>().Uint32Value(), &nh);
		return Napi::Number::New(info.Env(), rc < 0 ? (double)rc : (double)nh);
	}

	Napi::Value Lookup(const Napi::CallbackInfo &info)
	{
		const uint8_t *a = Bytes(info[0]);
		uint32_t nh;
		if (family_ == 4) {
			uint32_t be;
			std::memcpy(&be, a, 4);
			nh = lpm4_lookup(lpm_, ntohl(be));
		} else {
			nh = lpm6_lookup(lpm_, a);
		}
		return Napi::Number::New(info.Env(), nh);
	}

	// lookupBatch(addrs: Uint8Array (n * 4 or n * 16, network order), out: Uint32Array)
	void LookupBatch(const Napi::CallbackInfo &info)
	{
		Napi::Uint8Array addrs = info[0].As<Napi::Uint8Array>();
		Napi::Uint32Array out = info[1].As<Napi::Uint32Array>();
		uint32_t *o = out.Data();
		if (family_ == 6) {
			size_t n = addrs.ByteLength() / 16;
			lpm6_lookup_bulk(lpm_, reinterpret_cast<const uint8_t(*)[16]>(addrs.Data()), o,
			                 static_cast<unsigned>(n));
			return;
		}
		size_t n = addrs.ByteLength() / 4;
		const uint8_t *a = addrs.Data();
		uint32_t host[256];
		for (size_t base = 0; base < n; base += 256) {
			size_t cnt = n - base < 256 ? n - base : 256;
			for (size_t i = 0; i < cnt; i++) {
				uint32_t be;
				std::memcpy(&be, a + 4 * (base + i), 4);
				host[i] = ntohl(be);
			}
			lpm4_lookup_bulk(lpm_, host, o + base, static_cast<unsigned>(cnt));
		}
	}

	Napi::Value Stats(const Napi::CallbackInfo &info)
	{
		lpm_stats_t s;
		lpm_table_stats(lpm_, &s);
		Napi::Env env = info.Env();
		Napi::Object o = Napi::Object::New(env);
		o.Set("routes", Napi::Number::New(env, (double)s.routes));
		o.Set("bytes", Napi::Number::New(env, (double)s.bytes));
		o.Set("bytesReserved", Napi::Number::New(env, (double)s.bytes_reserved));
		o.Set("ribBytes", Napi::Number::New(env, (double)s.rib_bytes));
		o.Set("nodes", Napi::Number::New(env, (double)s.nodes));
		o.Set("leaves", Napi::Number::New(env, (double)s.leaves));
		o.Set("nextHops", Napi::Number::New(env, (double)s.next_hops));
		o.Set("pendingBlocks", Napi::Number::New(env, (double)s.pending_blocks));
		return o;
	}

	// walk() -> { addrs: Uint8Array, lens: Uint8Array, nhs: Uint32Array }, every route in prefix order
	Napi::Value Walk(const Napi::CallbackInfo &info)
	{
		struct Acc {
			std::vector<uint8_t> addrs, lens;
			std::vector<uint32_t> nhs;
			unsigned nb;
		} acc;
		acc.nb = family_ == 4 ? 4 : 16;
		lpm_table_walk(
		    lpm_,
		    [](void *ctx, const uint8_t *addr, unsigned len, uint32_t nh) -> int {
			    Acc *a = static_cast<Acc *>(ctx);
			    a->addrs.insert(a->addrs.end(), addr, addr + a->nb);
			    a->lens.push_back(static_cast<uint8_t>(len));
			    a->nhs.push_back(nh);
			    return 0;
		    },
		    &acc);
		Napi::Env env = info.Env();
		Napi::Object o = Napi::Object::New(env);
		Napi::Uint8Array addrs = Napi::Uint8Array::New(env, acc.addrs.size());
		std::memcpy(addrs.Data(), acc.addrs.data(), acc.addrs.size());
		Napi::Uint8Array lens = Napi::Uint8Array::New(env, acc.lens.size());
		std::memcpy(lens.Data(), acc.lens.data(), acc.lens.size());
		Napi::Uint32Array nhs = Napi::Uint32Array::New(env, acc.nhs.size());
		std::memcpy(nhs.Data(), acc.nhs.data(), acc.nhs.size() * 4);
		o.Set("addrs", addrs);
		o.Set("lens", lens);
		o.Set("nhs", nhs);
		return o;
	}

	// build(addrs, lens, nhs) -> Promise<status>; replaces the whole table
	Napi::Value Build(const Napi::CallbackInfo &info);

	lpm_t *lpm_ = nullptr;
	int family_ = 4;
};

// Publishes a full build into the handle's table.
class BuildWorker : public LpmBuildWorker {
public:
	BuildWorker(Napi::Env env, LpmHandle *handle, Napi::Object self, Napi::Uint8Array addrs,
	            Napi::Uint8Array lens, Napi::Uint32Array nhs)
	    : LpmBuildWorker(env, "srcfib:lpm-build", handle->family(), self, addrs, lens, nhs), handle_(handle)
	{
	}

private:
	int Publish(lpm_t *built, int status) override
	{
		return status == LPM_OK ? lpm_table_adopt(handle_->table(), built) : status;
	}
	LpmHandle *handle_;
};

Napi::Value LpmHandle::Build(const Napi::CallbackInfo &info)
{
	auto *w = new BuildWorker(info.Env(), this, info.This().As<Napi::Object>(), info[0].As<Napi::Uint8Array>(),
	                          info[1].As<Napi::Uint8Array>(), info[2].As<Napi::Uint32Array>());
	Napi::Promise p = w->Promise();
	w->Queue();
	return p;
}

} // namespace

LpmBuildWorker::LpmBuildWorker(Napi::Env env, const char *name, int family, Napi::Object self,
                               Napi::Uint8Array addrs, Napi::Uint8Array lens, Napi::Uint32Array nhs)
    : Napi::AsyncWorker(env, name), deferred_(Napi::Promise::Deferred::New(env)), family_(family),
      n_(lens.ByteLength()), addrs_(addrs.Data()), lens_(lens.Data()), nhs_(nhs.Data())
{
	self_ = Napi::Persistent(self);
	refs_[0] = Napi::Persistent(static_cast<Napi::Object>(addrs));
	refs_[1] = Napi::Persistent(static_cast<Napi::Object>(lens));
	refs_[2] = Napi::Persistent(static_cast<Napi::Object>(nhs));
}

void LpmBuildWorker::Execute()
{
	built_ = lpm_table_create(family_, nullptr);
	if (built_ == nullptr) {
		status_ = LPM_ERR_NOMEM;
		return;
	}
	status_ = lpm_table_build(built_, n_, addrs_, lens_, nhs_);
	if (status_ != LPM_OK) {
		lpm_table_destroy(built_);
		built_ = nullptr;
	}
}

void LpmBuildWorker::OnOK()
{
	lpm_t *b = built_;
	built_ = nullptr;
	deferred_.Resolve(Napi::Number::New(Env(), Publish(b, status_)));
}

void LpmInit(Napi::Env env, Napi::Object exports)
{
	exports.Set("NativeLpm", LpmHandle::Define(env));
	Napi::Object status = Napi::Object::New(env);
	status.Set("OK", Napi::Number::New(env, LPM_OK));
	status.Set("NOENT", Napi::Number::New(env, LPM_ERR_NOENT));
	status.Set("NOMEM", Napi::Number::New(env, LPM_ERR_NOMEM));
	status.Set("NH_FULL", Napi::Number::New(env, LPM_ERR_NH_FULL));
	status.Set("INVAL", Napi::Number::New(env, LPM_ERR_INVAL));
	exports.Set("lpmStatus", status);
	exports.Set("LPM_MISS", Napi::Number::New(env, LPM_MISS));
	exports.Set("LPM_NH_MAX", Napi::Number::New(env, LPM_NH_MAX));
	exports.Set("LPM_DISTINCT_NH_MAX", Napi::Number::New(env, LPM_DISTINCT_NH_MAX));
}

} // namespace srcfib
