// The per-process registry of mappings made by this addon, keyed by address range.
//
// Why a registry: wait/wake must refuse words outside our mappings (a futex on arbitrary
// memory is a bug magnet), and a pending async wait must keep its memory mapped even if
// JS closes the buffer meanwhile: the waiter thread reads the word after every wake, and
// reading unmapped memory would crash the process. So memory is unmapped only when the
// buffer is closed (or collected) AND no wait holds it, exactly once, by whichever thread
// drops the last reason to keep it.
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <random>
#if defined(_WIN32)
#include <process.h>
#else
#include <unistd.h>
#endif

#include "mp.h"

namespace mp {
namespace {

struct Registry {
  std::mutex mu;
  std::map<uintptr_t, Mapping*> by_addr;  // start address -> mapping, only while mapped
};

// Never destroyed: a waiter thread may still release a hold while static destructors run
// at process exit.
Registry& registry() {
  static Registry* r = new Registry();
  return *r;
}

enum class After { kNothing, kUnmap, kUnmapAndDelete, kDelete };

// Caller holds the registry mutex. Decides what to do with `m` once the lock is dropped;
// erases it from the index before the unmap so no lookup can hand out its address.
After settle_locked(Registry& r, Mapping* m) {
  bool unmap = false;
  if (!m->unmapped && !m->open && m->holds == 0) {
    r.by_addr.erase(reinterpret_cast<uintptr_t>(m->addr));
    m->unmapped = true;
    unmap = true;
  }
  bool del = m->unmapped && m->holds == 0 && !m->finalizer_pending;
  if (unmap) return del ? After::kUnmapAndDelete : After::kUnmap;
  return del ? After::kDelete : After::kNothing;
}

void apply(Mapping* m, After a) {
  if (a == After::kUnmap || a == After::kUnmapAndDelete) {
    wait__forget(m);
    shm__unmap(m);
  }
  if (a == After::kUnmapAndDelete || a == After::kDelete) delete m;
}

// Runs on the JS thread (Node schedules external-buffer finalizers there), after the
// buffer was garbage collected or detached by mapping__close.
void finalize(napi_env /*env*/, void* /*data*/, void* hint) {
  Mapping* m = static_cast<Mapping*>(hint);
  Registry& r = registry();
  After a;
  {
    std::lock_guard<std::mutex> lock(r.mu);
    m->finalizer_pending = false;
    m->open = false;
    a = settle_locked(r, m);
  }
  apply(m, a);
}

int current_pid() {
#if defined(_WIN32)
  return _getpid();
#else
  return static_cast<int>(getpid());
#endif
}

}  // namespace

namespace {
std::atomic<int64_t> g_max_size{(int64_t{1} << 32)};
}

void mapping__init(Napi::Env env) {
  // Node < 22 caps a Buffer (and so napi_create_external_arraybuffer) at 2^32 bytes;
  // Node 22 raised it to 2^53 - 1. Checking up front avoids reserving gigabytes of
  // /dev/shm only to fail when wrapping them.
  int major = 0;
  Napi::Value process = env.Global().Get("process");
  if (process.IsObject()) {
    Napi::Value versions = process.As<Napi::Object>().Get("versions");
    if (versions.IsObject()) {
      Napi::Value node = versions.As<Napi::Object>().Get("node");
      if (node.IsString()) major = std::atoi(node.As<Napi::String>().Utf8Value().c_str());
    }
  }
  g_max_size.store(major >= 22 ? (int64_t{1} << 53) - 1 : (int64_t{1} << 32));
}

int64_t mapping__max_size() { return g_max_size.load(); }

size_t mapping__count() {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  return r.by_addr.size();
}

std::string shm__random_name() {
  // Seeded per thread from the OS (random_device) and re-seeded after fork, so a forked
  // child never replays its parent's sequence. Collisions are retried by the caller.
  thread_local std::mt19937_64 rng;
  thread_local int seeded_pid = -1;
  if (seeded_pid != current_pid()) {
    seeded_pid = current_pid();
    std::random_device rd;
    std::seed_seq seq{rd(), rd(), rd(), rd(), static_cast<unsigned>(seeded_pid)};
    rng.seed(seq);
  }
  static const char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::uniform_int_distribution<int> pick(0, 35);
  std::string s(kShmPrefix);
  for (int i = 0; i < 10; i++) s += kAlphabet[pick(rng)];
  return s;
}

Napi::ArrayBuffer mapping__adopt(Napi::Env env, uint8_t* addr, size_t size, const std::string& name,
                                 void* os_handle) {
  Mapping* m = new Mapping();
  m->addr = addr;
  m->size = size;
  m->name = name;
  m->os_handle = os_handle;
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) {  // napi would refuse the call without taking over the memory
    shm__unmap(m);
    delete m;
    throw Napi::Error::New(env);
  }
  napi_value ab = nullptr;
  napi_status st = napi_create_external_arraybuffer(env, addr, size, finalize, m, &ab);
  if (st == napi_no_external_buffers_allowed) {
    // Electron (V8 memory cage) refuses before taking the memory: ours to release.
    shm__unmap(m);
    delete m;
    Napi::Error e = Napi::Error::New(env,
                                     "shared memory: this runtime does not allow external ArrayBuffers (e.g. "
                                     "Electron with the V8 memory cage), so shared memory cannot be mapped here");
    e.Set("code", Napi::String::New(env, "ERR_MP_NO_EXTERNAL_BUFFERS"));
    throw e;
  }
  if (st != napi_ok) {
    // Node built the finalizer and has already called it (or will): Buffer::New calls its
    // free callback when it fails, e.g. above buffer.constants.MAX_LENGTH (4 GiB on Node
    // 20). `finalize` then unmaps and frees `m`, so `m` must not be touched here.
    napi_value exc = nullptr;
    napi_is_exception_pending(env, &pending);
    if (pending) napi_get_and_clear_last_exception(env, &exc);
    Napi::Error e = Napi::RangeError::New(
        env, "shared memory: cannot map " + std::to_string(size) +
                 " bytes as one ArrayBuffer: this Node version limits an external buffer to "
                 "require('buffer').constants.MAX_LENGTH bytes (4 GiB on Node 20); use smaller segments");
    e.Set("code", Napi::String::New(env, "ERR_BUFFER_TOO_LARGE"));
    if (exc != nullptr) e.Set("cause", Napi::Value(env, exc));
    throw e;
  }
  Registry& r = registry();
  {
    std::lock_guard<std::mutex> lock(r.mu);
    r.by_addr[reinterpret_cast<uintptr_t>(addr)] = m;
  }
  return Napi::ArrayBuffer(env, ab);
}

Napi::Value shm__close(const Napi::CallbackInfo& info) {
  mapping__close(info);
  return info.Env().Undefined();
}

void mapping__close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Value v = info.Length() > 0 ? info[0] : env.Undefined();
  if (!v.IsArrayBuffer()) {
    errors__throw_type(env, "buffer must be the ArrayBuffer returned by shmCreate or shmAttach, got " +
                                errors__describe(v));
  }
  bool detached = false;
  if (napi_is_detached_arraybuffer(env, v, &detached) != napi_ok) throw Napi::Error::New(env);
  if (detached) return;  // closed already: idempotent
  void* data = nullptr;
  size_t len = 0;
  if (napi_get_arraybuffer_info(env, v, &data, &len) != napi_ok) throw Napi::Error::New(env);
  Registry& r = registry();
  Mapping* m = nullptr;
  {
    std::lock_guard<std::mutex> lock(r.mu);
    auto it = r.by_addr.find(reinterpret_cast<uintptr_t>(data));
    if (it != r.by_addr.end() && it->second->open && it->second->size == len) m = it->second;
  }
  if (m == nullptr) {
    errors__throw_type(env, "buffer must be the ArrayBuffer returned by shmCreate or shmAttach, got an "
                            "ArrayBuffer this addon did not map");
  }
  // Detach first: after this no JS view can reach the memory, so unmapping is safe.
  napi_status st = napi_detach_arraybuffer(env, v);
  if (st != napi_ok) {
    Napi::Error e = Napi::Error::New(env, "shmClose: napi_detach_arraybuffer failed (status " +
                                              std::to_string(static_cast<int>(st)) +
                                              "); the segment stays mapped because views may still use it");
    e.Set("code", Napi::String::New(env, "ERR_MP_DETACH"));
    throw e;
  }
  After a;
  {
    std::lock_guard<std::mutex> lock(r.mu);
    m->open = false;
    a = settle_locked(r, m);
  }
  apply(m, a);
}

void mapping__hold(Mapping* m) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  m->holds++;
}

void mapping__release(Mapping* m) {
  Registry& r = registry();
  After a;
  {
    std::lock_guard<std::mutex> lock(r.mu);
    m->holds--;
    a = settle_locked(r, m);
  }
  apply(m, a);
}

Word mapping__word(const Napi::CallbackInfo& info, size_t i, bool hold) {
  Napi::Env env = info.Env();
  Napi::Value v = i < info.Length() ? info[i] : env.Undefined();
  napi_typedarray_type type = napi_int8_array;
  size_t length = 0;
  void* data = nullptr;
  if (!v.IsTypedArray() ||
      napi_get_typedarray_info(env, v, &type, &length, &data, nullptr, nullptr) != napi_ok ||
      type != napi_int32_array) {
    errors__throw_type(env, "view must be an Int32Array over a buffer from shmCreate or shmAttach, got " +
                                errors__describe(v));
  }
  int64_t index = args__integer(info, i + 1, "index", 0, INT32_MAX);
  if (static_cast<uint64_t>(index) >= length) {
    errors__throw_range(env, "index must be less than view.length (" + std::to_string(length) + "), got " +
                                 std::to_string(index));
  }
  uintptr_t addr = reinterpret_cast<uintptr_t>(data) + static_cast<uintptr_t>(index) * 4;
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.by_addr.upper_bound(addr);
  if (it != r.by_addr.begin()) {
    --it;
    Mapping* m = it->second;
    uintptr_t start = reinterpret_cast<uintptr_t>(m->addr);
    if (m->open && addr >= start && addr + 4 <= start + m->size && addr % 4 == 0) {
      if (hold) m->holds++;
      return Word{m, reinterpret_cast<int32_t*>(addr), static_cast<size_t>(addr - start)};
    }
  }
  errors__throw_type(env, "view must be an Int32Array over a buffer from shmCreate or shmAttach (cross-process "
                          "wait/wake works only on shared memory mapped by this addon)");
}

}  // namespace mp
