// The one internal header of the addon. Every file includes it; nothing else is shared.
//
// Naming: `module__verb` for functions that cross files (shm__create, wait__block, ...),
// so a reader can tell which file defines a symbol from its name alone.
//
// Layering inside the addon:
//   errors.cc   errno -> JS Error with .code/.errno/.syscall; argument checks
//   mapping.cc  the per-process registry of mappings (refcounted, keyed by address)
//   shm_*.cc    create/attach/unlink/unmap a named segment (per OS)
//   wait_*.cc   block/wake on one 32-bit word across processes (per OS); Linux also
//               provides the futex_waitv backend of the async waiter
//   wait.cc     the JS-facing synchronous wait/wake (argument parsing, shared by all OSes)
//   waiter.cc   per-env async waits: promises, ThreadSafeFunction, cleanup hook, and the
//               portable thread-per-wait backend
//   proc.cc     pid questions, parent-death signal, FD_CLOEXEC
//   tracker_posix.cc  the forked resource tracker
#pragma once

#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif
#include <napi.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>
#if defined(_MSC_VER)
#include <intrin.h>
#endif
#if !defined(_WIN32)
#include <pthread.h>
#include <signal.h>
#endif

namespace mp {

// Bump when lib/native.ts changes shape.
constexpr int kAbiVersion = 1;
// Prefix of generated segment names. Short on purpose: macOS allows 30 characters.
constexpr const char* kShmPrefix = "mp_";

#if defined(_WIN32)
constexpr const char* kPlatform = "win32";
#elif defined(__APPLE__)
constexpr const char* kPlatform = "darwin";
#elif defined(__linux__)
constexpr const char* kPlatform = "linux";
#elif defined(__FreeBSD__)
constexpr const char* kPlatform = "freebsd";
#else
constexpr const char* kPlatform = "unknown";
#endif

// ---------------------------------------------------------------------------------------
// errors.cc

// Name of a C errno value ("ENOENT"), or "UNKNOWN".
const char* errno__name(int err);
// Throw a JS Error: message "<what>: <syscall> failed: <CODE> (<strerror>)<hint>", with
// .code = errno name, .errno = err (positive, as os.constants.errno), .syscall, and .hint
// (what to do, when known).
[[noreturn]] void errors__throw_errno(Napi::Env env, int err, const char* syscall, const std::string& what,
                                      const std::string& hint = std::string());
[[noreturn]] void errors__throw_type(Napi::Env env, const std::string& message);
[[noreturn]] void errors__throw_range(Napi::Env env, const std::string& message);
// Short description of a JS value for messages ("a string", "number NaN", ...).
std::string errors__describe(Napi::Value v);

// Argument checks: the message names the argument. They throw, never return bad values.
int64_t args__integer(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t min, int64_t max);
int32_t args__int32_value(const Napi::CallbackInfo& info, size_t i, const char* name);  // ToInt32 of a number
std::string args__string(const Napi::CallbackInfo& info, size_t i, const char* name);
// timeoutMs -> absolute CLOCK_MONOTONIC deadline in ns; kForever for Infinity/negative.
constexpr int64_t kForever = INT64_MAX;
int64_t args__deadline(const Napi::CallbackInfo& info, size_t i, const char* name);
// The current CLOCK_MONOTONIC (steady) time in ns.
int64_t clock__now_ns();

// ---------------------------------------------------------------------------------------
// mapping.cc: one Mapping per mmap this addon made. JS sees it as one external ArrayBuffer.
//
// Lifetime: the memory stays mapped while the ArrayBuffer is open (not shmClose'd, not
// garbage collected) or while any wait (sync or pending async) holds the mapping. The
// Mapping object itself lives until the memory is unmapped AND the ArrayBuffer's
// finalizer has run (the finalizer gets the Mapping as its hint).
struct Mapping {
  uint8_t* addr = nullptr;
  size_t size = 0;       // bytes JS sees (the requested size)
  std::string name;      // segment name without slash
  void* os_handle = nullptr;  // Windows: the section handle, kept so the name lives on
  void* wait_state = nullptr;  // per-OS wait bookkeeping (Windows: the waiter-count view)
  // Guarded by the registry mutex:
  int holds = 0;                   // waits referencing the memory
  bool open = true;                // the ArrayBuffer is attached
  bool finalizer_pending = true;   // the ArrayBuffer finalizer has not run yet
  bool unmapped = false;
};

// Reads the runtime's largest external ArrayBuffer (Node 20: 4 GiB) once per process.
void mapping__init(Napi::Env env);
// Largest mapping JS can see as one ArrayBuffer.
int64_t mapping__max_size();
// How many mappings of this addon are live in the process (for the mapping budget).
size_t mapping__count();

// Register a fresh mapping and wrap it in one external ArrayBuffer. On failure the memory
// is unmapped and a JS error is thrown.
Napi::ArrayBuffer mapping__adopt(Napi::Env env, uint8_t* addr, size_t size, const std::string& name,
                                 void* os_handle);
// shmClose: detach the buffer (views become length 0), then unmap unless waits hold it.
void mapping__close(const Napi::CallbackInfo& info);
// Take/release a hold that keeps the memory mapped. Release may unmap (any thread).
void mapping__hold(Mapping* m);
void mapping__release(Mapping* m);

// One 32-bit word inside a mapping.
struct Word {
  Mapping* mapping = nullptr;
  int32_t* addr = nullptr;
  size_t offset = 0;  // byte offset of the word in the mapping
};
// Resolve (view, index) arguments at info[i], info[i+1] to a word of a live mapping of
// this addon; TypeError/RangeError otherwise. With `hold`, also takes a hold (in the same
// critical section), which the caller must release.
Word mapping__word(const Napi::CallbackInfo& info, size_t i, bool hold);

// A sequentially consistent load of a shared word (JS writes it with Atomics.*).
inline int32_t word__load(const int32_t* p) {
#if defined(_MSC_VER) && !defined(__clang__)
  return _InterlockedOr(reinterpret_cast<volatile long*>(const_cast<int32_t*>(p)), 0);
#else
  return __atomic_load_n(p, __ATOMIC_SEQ_CST);
#endif
}

// Per OS (shm_posix.cc / shm_win32.cc): release the OS resources of a mapping.
void shm__unmap(Mapping* m);
// A random segment name: kShmPrefix + 10 characters of [a-z0-9].
std::string shm__random_name();

// ---------------------------------------------------------------------------------------
// Per OS (wait_linux.cc / wait_apple.cc / wait_win32.cc): sleeping on one word.

enum class WaitResult { kOk, kNotEqual, kTimedOut, kCancelled };
const char* wait__result_name(WaitResult r);

// Sleep while *w.addr == expected, until woken or the monotonic deadline (kForever: none).
// Never returns kCancelled. A spurious kOk is allowed (callers loop on their condition).
WaitResult wait__block(const Word& w, int32_t expected, int64_t deadline_ns);
// Wake up to `count` sleepers on the word in any process; returns how many woke (on
// platforms that cannot count exactly, a lower bound; see the platform file).
int wait__wake(const Word& w, int64_t count);
// Called once just before a mapping is unmapped: drop m->wait_state.
void wait__forget(Mapping* m);

#if defined(_WIN32)
// shm_win32.cc: GetLastError() code -> errno value; UTF-8 -> UTF-16.
int win__errno(unsigned long code);
std::wstring win__wide(const std::string& s);
#endif

// Start a helper thread with every signal blocked (as libuv does for its own threads), so
// process-directed signals (SIGCHLD, SIGINT, ...) are delivered to Node's threads, never to
// a waiter sleeping in a system call.
template <typename F>
std::thread thread__spawn(F&& f) {
#if defined(_WIN32)
  return std::thread(std::forward<F>(f));
#else
  sigset_t all;
  sigset_t old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  try {
    std::thread t(std::forward<F>(f));
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    return t;
  } catch (...) {
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    throw;
  }
#endif
}

// ---------------------------------------------------------------------------------------
// Async waits. waiter.cc owns the promises; a backend owns the sleeping.

struct Completion {
  uint64_t serial;
  WaitResult result;
};

// Where backends deliver results. Thread-safe; called from backend threads.
class CompletionSink {
 public:
  virtual ~CompletionSink() = default;
  virtual void deliver(std::vector<Completion>& batch) = 0;
};

struct AsyncEntry {
  uint64_t serial;  // unique per env for the life of the env
  Word word;        // the backend owns one mapping hold for it (taken by the caller)
  int32_t expected;
  int64_t deadline_ns;  // kForever: none
};

class WaitBackend {
 public:
  virtual ~WaitBackend() = default;
  // JS thread. Takes over the entry's mapping hold and releases it when the entry ends.
  // If add throws, the hold was NOT taken over (the caller releases it).
  virtual void add(const AsyncEntry& e) = 0;
  // JS thread. The wait was cancelled: forget it (no completion needed, may still come).
  virtual void remove(uint64_t serial) = 0;
  // JS thread (env cleanup). Stop and join every thread; release every hold.
  virtual void shutdown() = 0;
  virtual const char* kind() const = 0;
};

// Per OS: the efficient backend, or nullptr where there is none (then waiter.cc uses one
// thread per pending wait). Linux: futex_waitv groups (kernel 5.16+).
std::unique_ptr<WaitBackend> wait__native_backend(CompletionSink* sink);
// waiter.cc: the portable backend (one thread per pending wait, sliced sleeps).
std::unique_ptr<WaitBackend> waiter__thread_backend(CompletionSink* sink);

// ---------------------------------------------------------------------------------------
// JS entry points, exported by addon.cc.

// Wrap an entry point so a C++ exception that is not a Napi::Error (std::bad_alloc,
// std::system_error from std::thread) becomes a JS Error instead of std::terminate.
template <Napi::Value (*F)(const Napi::CallbackInfo&)>
Napi::Value guarded(const Napi::CallbackInfo& info) {
  try {
    return F(info);
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::system_error& e) {
    // std::thread failing to start one of the addon's waiter threads, in practice.
    int err = e.code().value();
    errors__throw_errno(info.Env(), err, "pthread_create", "multiprocessing native addon: cannot start a thread",
                        err == EAGAIN ? "the system refused a new thread: this user or container has reached its "
                                        "process/thread limit (ulimit -u, or the pids cgroup's pids.max)"
                                      : std::string());
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), std::string("multiprocessing native addon: ") + e.what());
  }
}

Napi::Value shm__create(const Napi::CallbackInfo& info);
Napi::Value shm__attach(const Napi::CallbackInfo& info);
Napi::Value shm__unlink(const Napi::CallbackInfo& info);
Napi::Value shm__close(const Napi::CallbackInfo& info);

Napi::Value wait__wait_js(const Napi::CallbackInfo& info);
Napi::Value wait__wake_js(const Napi::CallbackInfo& info);

void waiter__init(Napi::Env env);  // per-env state, ThreadSafeFunction, cleanup hook
Napi::Value waiter__wait_async(const Napi::CallbackInfo& info);
Napi::Value waiter__cancel(const Napi::CallbackInfo& info);
Napi::Value waiter__pending(const Napi::CallbackInfo& info);
Napi::Value waiter__backend_kind(const Napi::CallbackInfo& info);

Napi::Value proc__pid_alive(const Napi::CallbackInfo& info);
Napi::Value proc__start_time(const Napi::CallbackInfo& info);
Napi::Value proc__set_parent_death_signal(const Napi::CallbackInfo& info);
Napi::Value proc__getppid(const Napi::CallbackInfo& info);
Napi::Value proc__fd_set_cloexec(const Napi::CallbackInfo& info);
Napi::Value fd__poll(const Napi::CallbackInfo& info);

// zygote_linux.cc (Linux only): the forkserver's fork of a loaded Node.
Napi::Value zygote__fork(const Napi::CallbackInfo& info);
Napi::Value zygote__watch_children(const Napi::CallbackInfo& info);
Napi::Value zygote__reap(const Napi::CallbackInfo& info);
Napi::Value zygote__exit_now(const Napi::CallbackInfo& info);
Napi::Value zygote__set_subreaper(const Napi::CallbackInfo& info);
Napi::Value zygote__loop_requests(const Napi::CallbackInfo& info);
// zygote_reaper_linux.cc (Linux only): the zygote's reaper thread.
Napi::Value zygote__start_reaper(const Napi::CallbackInfo& info);
Napi::Value zygote__reaper_running(const Napi::CallbackInfo& info);
Napi::Value zygote__forked_pids(const Napi::CallbackInfo& info);
#if defined(__linux__)
void reaper__note_forked(pid_t pid);  // the zygote's fork, in the zygote
void reaper__after_fork_child();      // the zygote's fork, in the child
bool reaper__running();
#endif
// waiter.cc: in a forked child, forget the waiter thread that stayed in the parent.
void waiter__after_fork(Napi::Env env);

Napi::Value tracker__start(const Napi::CallbackInfo& info);
Napi::Value tracker__shared(const Napi::CallbackInfo& info);
Napi::Value tracker__restart(const Napi::CallbackInfo& info);

}  // namespace mp
