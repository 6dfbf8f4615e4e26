// Module entry: registers the classes of each native object.
#include "addon.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports)
{
	srcfib::LpmInit(env, exports);
	srcfib::DataplaneInit(env, exports);
	return exports;
}

NODE_API_MODULE(srcfib, Init)
