// Windows: cross-process sleep/wake on a 32-bit word with named kernel objects.
//
// NOT TESTED IN THIS PROJECT'S BUILD MACHINE (Linux only); checked only by a MinGW
// syntax pass. Review on Windows before release.
//
// WaitOnAddress is process-local, so each word gets named objects in the session
// namespace, derived from the segment name and the word's byte offset:
//
//   Local\<segment>_<offset>   a semaphore (created on demand by sleepers). A semaphore
//                              rather than an event because wake(n) must release exactly
//                              n sleepers, and an auto-reset event releases one and a
//                              manual-reset event all (PulseEvent is unreliable).
//   Local\<segment>_waiters    one section per segment, reserved (SEC_RESERVE) and
//                              committed page by page on use; the LONG at <offset> counts
//                              sleepers on that word that no waker has claimed yet (W).
//
// wait:  W++ (full barrier), re-read the word (not-equal -> leave), sleep on the
//        semaphore with the timeout.
// wake(n): claim k = min(W, n) by CAS W -> W-k, then release k semaphore permits.
// leave (timeout, or value moved): if W > 0, W-- (we go unclaimed); if W == 0 a waker
//        has claimed us and is about to release a permit: consume it (bounded wait).
// The Dekker pair "W++ then read word" / "write word (seq-cst in JS) then read W" means
// a waker either sees the sleeper counted or the sleeper sees the new value: no lost
// wake. A sleeper that dies while counted leaves W one too high; a later wake then
// releases one spare permit, i.e. one spurious 'ok', and the count heals.
//
// Async waits use waiter.cc's portable backend (one thread per pending wait).
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>

#include <algorithm>
#include <climits>
#include <mutex>

#include "mp.h"

namespace mp {
namespace {

struct SideState {
  HANDLE section = nullptr;
  uint8_t* view = nullptr;
  size_t size = 0;
};

std::mutex& side_mutex() {
  static std::mutex* mu = new std::mutex();  // never destroyed: see mapping.cc
  return *mu;
}

SideState* side(Mapping* m) {
  std::lock_guard<std::mutex> lock(side_mutex());
  if (m->wait_state != nullptr) return static_cast<SideState*>(m->wait_state);
  // Every process derives the same size from the same segment (64 KiB granularity covers
  // the page-rounded size an attacher sees), but only the creator's size counts.
  uint64_t size = (static_cast<uint64_t>(m->size) + 0xffff) & ~static_cast<uint64_t>(0xffff);
  std::wstring name = L"Local\\" + win__wide(m->name) + L"_waiters";
  HANDLE h = CreateFileMappingW(INVALID_HANDLE_VALUE, nullptr, PAGE_READWRITE | SEC_RESERVE,
                                static_cast<DWORD>(size >> 32), static_cast<DWORD>(size & 0xffffffffu), name.c_str());
  if (h == nullptr) return nullptr;
  void* view = MapViewOfFile(h, FILE_MAP_ALL_ACCESS, 0, 0, 0);
  MEMORY_BASIC_INFORMATION mbi;
  if (view == nullptr || VirtualQuery(view, &mbi, sizeof mbi) == 0) {
    if (view != nullptr) UnmapViewOfFile(view);
    CloseHandle(h);
    return nullptr;
  }
  SideState* s = new SideState{h, static_cast<uint8_t*>(view), mbi.RegionSize};
  m->wait_state = s;
  return s;
}

// The sleeper count of a word, or nullptr if the side section cannot cover it.
volatile LONG* counter(Mapping* m, size_t offset) {
  SideState* s = side(m);
  if (s == nullptr || offset + sizeof(LONG) > s->size) return nullptr;
  void* p = s->view + offset;
  // Commit the page in this view before touching it (a no-op once committed).
  if (VirtualAlloc(p, sizeof(LONG), MEM_COMMIT, PAGE_READWRITE) == nullptr) return nullptr;
  return static_cast<volatile LONG*>(p);
}

std::wstring semaphore_name(const Word& w) {
  return L"Local\\" + win__wide(w.mapping->name) + L"_" + std::to_wstring(w.offset);
}

// Leave the sleeper set. True if we left unclaimed; false if a waker had claimed us, in
// which case its permit is consumed here so it cannot wake a later sleeper spuriously.
bool leave(volatile LONG* count, HANDLE sem) {
  for (;;) {
    LONG c = *count;
    if (c > 0) {
      if (InterlockedCompareExchange(count, c - 1, c) == c) return true;
      continue;
    }
    WaitForSingleObject(sem, 5000);  // the claiming waker releases right after its claim
    return false;
  }
}

// Last resort when the named objects cannot be made: poll.
WaitResult poll(const Word& w, int32_t expected, int64_t deadline_ns) {
  for (;;) {
    if (word__load(w.addr) != expected) return WaitResult::kOk;
    if (deadline_ns != kForever && clock__now_ns() >= deadline_ns) return WaitResult::kTimedOut;
    Sleep(1);
  }
}

}  // namespace

void wait__forget(Mapping* m) {
  std::lock_guard<std::mutex> lock(side_mutex());
  SideState* s = static_cast<SideState*>(m->wait_state);
  if (s == nullptr) return;
  UnmapViewOfFile(s->view);
  CloseHandle(s->section);
  delete s;
  m->wait_state = nullptr;
}

WaitResult wait__block(const Word& w, int32_t expected, int64_t deadline_ns) {
  if (word__load(w.addr) != expected) return WaitResult::kNotEqual;
  volatile LONG* count = counter(w.mapping, w.offset);
  HANDLE sem = count == nullptr ? nullptr : CreateSemaphoreW(nullptr, 0, LONG_MAX, semaphore_name(w).c_str());
  if (sem == nullptr) return poll(w, expected, deadline_ns);
  InterlockedIncrement(count);
  WaitResult result;
  if (word__load(w.addr) != expected) {
    result = leave(count, sem) ? WaitResult::kNotEqual : WaitResult::kOk;
  } else {
    DWORD ms = INFINITE;
    if (deadline_ns != kForever) {
      int64_t left = deadline_ns - clock__now_ns();
      int64_t m = left <= 0 ? 0 : (left + 999999) / 1000000;
      ms = static_cast<DWORD>(std::min<int64_t>(m, 0xfffffffe));
    }
    DWORD r = WaitForSingleObject(sem, ms);
    if (r == WAIT_OBJECT_0) {
      result = WaitResult::kOk;
    } else {
      result = leave(count, sem) ? WaitResult::kTimedOut : WaitResult::kOk;
    }
  }
  CloseHandle(sem);
  return result;
}

int wait__wake(const Word& w, int64_t n) {
  if (n <= 0) return 0;
  volatile LONG* count = counter(w.mapping, w.offset);
  if (count == nullptr) return 0;  // sleepers poll
  LONG k;
  for (;;) {
    LONG c = *count;
    if (c <= 0) return 0;
    k = static_cast<LONG>(std::min<int64_t>(c, n));
    if (InterlockedCompareExchange(count, c - k, c) == c) break;
  }
  HANDLE sem = OpenSemaphoreW(SEMAPHORE_MODIFY_STATE, FALSE, semaphore_name(w).c_str());
  if (sem == nullptr) return 0;  // every counted sleeper died
  ReleaseSemaphore(sem, k, nullptr);
  CloseHandle(sem);
  return static_cast<int>(k);
}

std::unique_ptr<WaitBackend> wait__native_backend(CompletionSink*) { return nullptr; }

}  // namespace mp
