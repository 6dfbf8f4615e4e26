// addon — the only files that include napi.h.  JavaScript validates every
// argument before it gets here (src/lookup/lpm.ts); native code asserts.
// Status codes travel back as numbers and become errors in exactly one place
// on the TypeScript side (src/lookup/errors.ts).
#pragma once
#include <napi.h>

namespace srcfib {
void LpmInit(Napi::Env env, Napi::Object exports);
void DataplaneInit(Napi::Env env, Napi::Object exports);
}
