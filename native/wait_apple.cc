// macOS: cross-process sleep/wake on a 32-bit word.
//
// NOT COMPILED OR TESTED IN THIS PROJECT'S BUILD MACHINE (Linux only). Written against
// <os/os_sync_wait_on_address.h> (macOS 14.4+) and the private <sys/ulock.h> as used by
// libc++, Rust std, Zig and Go; review on a Mac before release.
//
// Preferred: os_sync_wait_on_address / os_sync_wake_by_address_{any,all} with the SHARED
// flags (macOS 14.4+, public API). Before 14.4: __ulock_wait2 / __ulock_wake with
// UL_COMPARE_AND_WAIT_SHARED (macOS 11+; __ulock_wait with a microsecond timeout before
// that). All are looked up with dlsym at run time so one binary runs on every version
// and builds with any SDK. If none is found (cannot happen on 10.15+), waits poll.
//
// Neither primitive says whether it returned because the value differed or because it
// was woken, so wait__block checks the value first ('not-equal') and reports 'ok' for
// every other non-timeout return (callers loop on their condition).
//
// Async waits use waiter.cc's portable backend (one thread per pending wait).
#include <dlfcn.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <climits>

#include "mp.h"

namespace mp {
namespace {

using OsSyncWait = int (*)(void* addr, uint64_t value, size_t size, uint32_t flags);
using OsSyncWaitTimeout = int (*)(void* addr, uint64_t value, size_t size, uint32_t flags, uint32_t clockid,
                                  uint64_t timeout_ns);
using OsSyncWake = int (*)(void* addr, size_t size, uint32_t flags);
using UlockWait2 = int (*)(uint32_t op, void* addr, uint64_t value, uint64_t timeout_ns, uint64_t value2);
using UlockWait = int (*)(uint32_t op, void* addr, uint64_t value, uint32_t timeout_us);
using UlockWake = int (*)(uint32_t op, void* addr, uint64_t wake_value);

constexpr uint32_t kOsSyncWaitShared = 0x1;  // OS_SYNC_WAIT_ON_ADDRESS_SHARED
constexpr uint32_t kOsSyncWakeShared = 0x1;  // OS_SYNC_WAKE_BY_ADDRESS_SHARED
constexpr uint32_t kOsClockMachAbsolute = 32;  // OS_CLOCK_MACH_ABSOLUTE_TIME (timeout is in ns)
constexpr uint32_t kUlCompareAndWaitShared = 3;
constexpr uint32_t kUlfWakeAll = 0x00000100;
constexpr uint32_t kUlfNoErrno = 0x01000000;
// Above this many, one wake-all is cheaper than a loop of wake-one calls.
constexpr int64_t kWakeLoopMax = 64;

struct Api {
  OsSyncWait wait = nullptr;
  OsSyncWaitTimeout wait_timeout = nullptr;
  OsSyncWake wake_any = nullptr;
  OsSyncWake wake_all = nullptr;
  UlockWait2 ulock_wait2 = nullptr;
  UlockWait ulock_wait = nullptr;
  UlockWake ulock_wake = nullptr;
  bool os_sync() const { return wait && wait_timeout && wake_any && wake_all; }
};

template <typename T>
T sym(const char* name) {
  return reinterpret_cast<T>(dlsym(RTLD_DEFAULT, name));
}

const Api& api() {
  static const Api a = [] {
    Api x;
    x.wait = sym<OsSyncWait>("os_sync_wait_on_address");
    x.wait_timeout = sym<OsSyncWaitTimeout>("os_sync_wait_on_address_with_timeout");
    x.wake_any = sym<OsSyncWake>("os_sync_wake_by_address_any");
    x.wake_all = sym<OsSyncWake>("os_sync_wake_by_address_all");
    x.ulock_wait2 = sym<UlockWait2>("__ulock_wait2");
    x.ulock_wait = sym<UlockWait>("__ulock_wait");
    x.ulock_wake = sym<UlockWake>("__ulock_wake");
    return x;
  }();
  return a;
}

}  // namespace

void wait__forget(Mapping*) {}

WaitResult wait__block(const Word& w, int32_t expected, int64_t deadline_ns) {
  const Api& a = api();
  void* addr = w.addr;
  uint64_t value = static_cast<uint32_t>(expected);
  if (word__load(w.addr) != expected) return WaitResult::kNotEqual;
  for (;;) {
    uint64_t left = 0;  // ns; 0 with kForever means no timeout
    if (deadline_ns != kForever) {
      int64_t l = deadline_ns - clock__now_ns();
      if (l <= 0) return WaitResult::kTimedOut;
      left = static_cast<uint64_t>(l);
    }
    int r;
    int err;
    if (a.os_sync()) {
      r = deadline_ns == kForever ? a.wait(addr, value, 4, kOsSyncWaitShared)
                                  : a.wait_timeout(addr, value, 4, kOsSyncWaitShared, kOsClockMachAbsolute, left);
      err = r < 0 ? errno : 0;
    } else if (a.ulock_wait2 && a.ulock_wake) {
      r = a.ulock_wait2(kUlCompareAndWaitShared | kUlfNoErrno, addr, value, left, 0);
      err = r < 0 ? -r : 0;
    } else if (a.ulock_wait && a.ulock_wake) {
      // Microseconds in 32 bits (~71 minutes): longer timeouts wake early and loop.
      uint64_t us = left == 0 ? 0 : std::max<uint64_t>(1, std::min<uint64_t>(left / 1000, UINT32_MAX));
      r = a.ulock_wait(kUlCompareAndWaitShared | kUlfNoErrno, addr, value, static_cast<uint32_t>(us));
      err = r < 0 ? -r : 0;
    } else {
      struct timespec ts = {0, 1000000};
      nanosleep(&ts, nullptr);
      if (word__load(w.addr) != expected) return WaitResult::kOk;
      continue;
    }
    if (r >= 0) return WaitResult::kOk;
    if (err == EINTR || err == EFAULT) continue;  // EFAULT: the page was not resident yet
    if (err == ETIMEDOUT) continue;               // the loop head decides with the clock
    return WaitResult::kOk;
  }
}

int wait__wake(const Word& w, int64_t count) {
  const Api& a = api();
  void* addr = w.addr;
  if (count <= 0) return 0;
  if (a.os_sync()) {
    if (count > kWakeLoopMax) return a.wake_all(addr, 4, kOsSyncWakeShared) == 0 ? 1 : 0;  // at least one
    int n = 0;
    while (n < count && a.wake_any(addr, 4, kOsSyncWakeShared) == 0) n++;  // -1/ENOENT: no more sleepers
    return n;
  }
  if (a.ulock_wake) {
    if (count > kWakeLoopMax) {
      return a.ulock_wake(kUlCompareAndWaitShared | kUlfWakeAll | kUlfNoErrno, addr, 0) == 0 ? 1 : 0;
    }
    int n = 0;
    for (;;) {
      if (n >= count) break;
      int r = a.ulock_wake(kUlCompareAndWaitShared | kUlfNoErrno, addr, 0);
      if (r == -EINTR) continue;
      if (r != 0) break;  // -ENOENT: nobody waiting
      n++;
    }
    return n;
  }
  return 0;  // polling waiters (no primitive) notice the value change by themselves
}

std::unique_ptr<WaitBackend> wait__native_backend(CompletionSink*) { return nullptr; }

}  // namespace mp
