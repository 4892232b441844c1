/* Heap housekeeping the N-API does not offer: V8's own "memory is short" notice.
 * After a bulk load the young generation stays at its grown size (32 MiB), and a
 * forced collection does not shrink it while V8 still rates the allocation rate
 * as high. LowMemoryNotification runs the memory-reducing collections V8 keeps
 * for that case, until they free nothing more: they shrink it, and give back the
 * old-space pages they empty. */
#include <node_api.h>
#include <v8.h>

extern "C" napi_value rtr_low_memory_notification(napi_env env, napi_callback_info info) {
  (void)env;
  (void)info;
  v8::Isolate *isolate = v8::Isolate::GetCurrent();
  if (isolate != nullptr) isolate->LowMemoryNotification();
  return nullptr;
}
