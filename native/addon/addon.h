// addon — the only files that include napi.h.  JavaScript validates every
// argument before it gets here (src/lookup/lpm.ts); native code asserts.
// Status codes travel back as numbers and become errors in exactly one place
// on the TypeScript side (src/lookup/errors.ts).
#pragma once
#include <napi.h>

#include <cstddef>
#include <cstdint>

extern "C" {
#include "lpm.h"
}

namespace srcfib {
void LpmInit(Napi::Env env, Napi::Object exports);
void DataplaneInit(Napi::Env env, Napi::Object exports);

// Builds an lpm table from packed routes on a libuv worker thread (a detached
// table with no readers, so nothing to synchronise), then hands it to
// Publish() on the main thread, the tables' only writer, and resolves the
// promise with what Publish returns.  The input buffers (and the JS object
// that owns the target) are referenced, not copied, while the build runs.
class LpmBuildWorker : public Napi::AsyncWorker {
public:
	LpmBuildWorker(Napi::Env env, const char *name, int family, Napi::Object self, Napi::Uint8Array addrs,
	               Napi::Uint8Array lens, Napi::Uint32Array nhs);
	Napi::Promise Promise() { return deferred_.Promise(); }

protected:
	// Main thread.  built is the new table (ownership passes) when status is
	// LPM_OK, else nullptr; returns the number the promise resolves with.
	virtual int Publish(lpm_t *built, int status) = 0;

private:
	void Execute() override;
	void OnOK() override;
	void OnError(const Napi::Error &e) override { deferred_.Reject(e.Value()); }

	Napi::Promise::Deferred deferred_;
	int family_;
	size_t n_;
	const uint8_t *addrs_, *lens_;
	const uint32_t *nhs_;
	Napi::ObjectReference self_;
	Napi::ObjectReference refs_[3];
	lpm_t *built_ = nullptr;
	int status_ = LPM_OK;
};
}
