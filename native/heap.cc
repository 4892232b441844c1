/* Heap housekeeping the N-API does not offer: V8's own "memory is short" notice.
 * After a bulk load the young generation stays at its grown size and old-space
 * pages stay committed; a forced collection does not shrink either while V8
 * still rates the allocation rate as high. LowMemoryNotification runs the
 * collections V8 reserves for that case (memory-reducing, until nothing more is
 * freed) and shrinks both. */
#include <node_api.h>
#include <v8.h>

extern "C" napi_value rtr_low_memory_notification(napi_env env, napi_callback_info info) {
  (void)env;
  (void)info;
  v8::Isolate *isolate = v8::Isolate::GetCurrent();
  if (isolate != nullptr) isolate->LowMemoryNotification();
  return nullptr;
}
