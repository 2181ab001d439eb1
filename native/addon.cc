// Module init and the exports table; nothing else. lib/native.ts is the contract.
#include "mp.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  using namespace mp;
  mapping__init(env);
  waiter__init(env);
  exports.Set("abiVersion", Napi::Number::New(env, kAbiVersion));
  exports.Set("platform", Napi::String::New(env, kPlatform));
  exports.Set("shmPrefix", Napi::String::New(env, kShmPrefix));
  struct Entry {
    const char* name;
    Napi::Function::Callback fn;
  };
  static const Entry kTable[] = {
      {"shmCreate", guarded<shm__create>},
      {"shmAttach", guarded<shm__attach>},
      {"shmUnlink", guarded<shm__unlink>},
      {"shmClose", guarded<shm__close>},
      {"wait", guarded<wait__wait_js>},
      {"wake", guarded<wait__wake_js>},
      {"waitAsync", guarded<waiter__wait_async>},
      {"cancelWait", guarded<waiter__cancel>},
      {"pendingWaits", guarded<waiter__pending>},
      {"pidAlive", guarded<proc__pid_alive>},
      {"processStartTime", guarded<proc__start_time>},
      {"setParentDeathSignal", guarded<proc__set_parent_death_signal>},
      {"getppid", guarded<proc__getppid>},
      {"trackerStart", guarded<tracker__start>},
      {"trackerShared", guarded<tracker__shared>},
      {"trackerRestart", guarded<tracker__restart>},
      {"fdSetCloexec", guarded<proc__fd_set_cloexec>},
      {"fdPoll", guarded<fd__poll>},
      // Diagnostics, not part of lib/native.ts: which async-wait backend this env uses.
      {"waiterBackend", guarded<waiter__backend_kind>},
  };
  for (const Entry& e : kTable) exports.Set(e.name, Napi::Function::New(env, e.fn, e.name));
#if defined(__linux__)
  static const Entry kLinux[] = {
      {"zygoteFork", guarded<zygote__fork>},
      {"zygoteWatchChildren", guarded<zygote__watch_children>},
      {"zygoteReap", guarded<zygote__reap>},
      {"exitNow", guarded<zygote__exit_now>},
      {"setChildSubreaper", guarded<zygote__set_subreaper>},
      {"zygoteLoopRequests", guarded<zygote__loop_requests>},
      {"zygoteStartReaper", guarded<zygote__start_reaper>},
      {"zygoteReaperRunning", guarded<zygote__reaper_running>},
      {"zygoteForkedPids", guarded<zygote__forked_pids>},
  };
  for (const Entry& e : kLinux) exports.Set(e.name, Napi::Function::New(env, e.fn, e.name));
#endif
  return exports;
}

}  // namespace

NODE_API_MODULE(multiprocessing, Init)
