// Linux: cross-process sleep/wake on a 32-bit word with futex, and the async waiter
// backend built on futex_waitv.
//
// Shared futexes (no FUTEX_PRIVATE_FLAG): the kernel keys them by (inode, offset) for
// MAP_SHARED file mappings, so a wake in one process reaches sleepers in every process
// that mapped the same segment, at whatever address.
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>

#include "mp.h"

namespace mp {
namespace {

long futex(void* addr, int op, uint32_t val, const struct timespec* ts) {
  return syscall(SYS_futex, addr, op, val, ts, nullptr, 0);
}

struct timespec to_timespec(int64_t ns) {
  struct timespec ts;
  ts.tv_sec = static_cast<time_t>(ns / 1000000000);
  ts.tv_nsec = static_cast<long>(ns % 1000000000);
  return ts;
}

// CLOCK_MONOTONIC in ns: the clock of futex_waitv's absolute timeout. (clock__now_ns is
// std::chrono::steady_clock, which is the same clock on Linux; this file says it outright.)
int64_t mono_ns() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

}  // namespace

WaitResult wait__block(const Word& w, int32_t expected, int64_t deadline_ns) {
  if (word__load(w.addr) != expected) return WaitResult::kNotEqual;
  for (;;) {
    struct timespec rel;
    const struct timespec* tsp = nullptr;
    if (deadline_ns != kForever) {
      int64_t left = deadline_ns - mono_ns();
      if (left <= 0) return WaitResult::kTimedOut;
      rel = to_timespec(left);
      tsp = &rel;
    }
    // FUTEX_WAIT's timeout is relative (CLOCK_MONOTONIC); recomputed after every EINTR.
    if (futex(w.addr, FUTEX_WAIT, static_cast<uint32_t>(expected), tsp) == 0) return WaitResult::kOk;
    switch (errno) {
      case EINTR:
        continue;
      case EAGAIN:
        return WaitResult::kNotEqual;
      case ETIMEDOUT:
        return WaitResult::kTimedOut;
      default:
        return WaitResult::kOk;  // cannot happen on a live mapping; callers re-check anyway
    }
  }
}

void wait__forget(Mapping*) {}

int wait__wake(const Word& w, int64_t count) {
  if (count <= 0) return 0;
  int n = count > INT_MAX ? INT_MAX : static_cast<int>(count);
  long r = futex(w.addr, FUTEX_WAKE, static_cast<uint32_t>(n), nullptr);
  return r < 0 ? 0 : static_cast<int>(r);
}

// ---------------------------------------------------------------------------------------
// The futex_waitv backend: each waiter thread sleeps on up to 127 shared words plus one
// private control word at once. The JS thread adds/removes entries under `mu_`, then bumps
// the group's control word and wakes it; the control word's value is part of the compare
// in futex_waitv, so a change made after the thread built its list returns at once (no
// lost updates). Identical (address, expected) pairs share one entry.
//
// futex_waitv returns only ONE woken index, and a wake on another entry during the same
// call is absorbed, so after every return the thread re-reads EVERY word and resolves each
// entry whose value differs from `expected` as 'ok' (callers loop on their condition, so a
// spurious 'ok' is harmless; a lost wake would not be). Timeouts use the earliest deadline
// of the group as futex_waitv's absolute CLOCK_MONOTONIC timeout.
namespace {

constexpr long kSysFutexWaitv = 449;  // same number on every architecture
constexpr uint32_t kFutex32 = 2;      // FUTEX2_SIZE_U32
constexpr uint32_t kFutexPrivate = FUTEX_PRIVATE_FLAG;
constexpr size_t kMaxEntries = 127;  // FUTEX_WAITV_MAX (128) minus the control word

// Declared here: older kernel headers lack struct futex_waitv.
struct FutexWaitv {
  uint64_t val;
  uint64_t uaddr;
  uint32_t flags;
  uint32_t reserved;
};

long futex_waitv(FutexWaitv* w, unsigned n, const struct timespec* abs_timeout) {
  return syscall(kSysFutexWaitv, w, n, 0, abs_timeout, CLOCK_MONOTONIC);
}

class FutexBackend final : public WaitBackend {
 public:
  explicit FutexBackend(CompletionSink* sink) : sink_(sink) {}
  ~FutexBackend() override { shutdown(); }

  void add(const AsyncEntry& a) override {
    bool shared = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      Key key{a.word.addr, a.expected};
      Entry* e;
      auto it = by_word_.find(key);
      if (it != by_word_.end()) {
        e = it->second;
        shared = true;
      } else {
        Group* g = group_with_room();  // may throw (thread creation): nothing changed yet
        e = new Entry{a.word, a.expected, g, {}, false};
        g->entries.push_back(e);
        by_word_.emplace(key, e);
      }
      e->waiters.push_back(Waiter{a.serial, a.deadline_ns});
      by_serial_[a.serial] = e;
      kick(e->group);
    }
    // An entry holds its mapping once, however many waits share it.
    if (shared) mapping__release(a.word.mapping);
  }

  void remove(uint64_t serial) override {
    Mapping* release = nullptr;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = by_serial_.find(serial);
      if (it == by_serial_.end()) return;
      Entry* e = it->second;
      by_serial_.erase(it);
      for (size_t i = 0; i < e->waiters.size(); i++) {
        if (e->waiters[i].serial == serial) {
          e->waiters.erase(e->waiters.begin() + static_cast<std::ptrdiff_t>(i));
          break;
        }
      }
      if (e->waiters.empty()) {
        // Safe to drop while the thread sleeps on this address: the kernel keeps no
        // reference to user memory, and the control word bump below makes any call the
        // thread is about to make return at once, before it could read the old address.
        release = e->word.mapping;
        drop_entry_locked(e);  // kicks the group
      }
      // A waiter left a shared entry: its deadline may have been the group's earliest;
      // the thread then wakes once early and finds nothing to do. Cheaper than a kick.
    }
    if (release != nullptr) mapping__release(release);
  }

  void shutdown() override {
    std::vector<std::unique_ptr<Group>> groups;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto& g : groups_) {
        g->stop = true;
        kick(g.get());
      }
      groups.swap(groups_);
    }
    for (auto& g : groups) {
      if (g->thread.joinable()) g->thread.join();
    }
    std::vector<Mapping*> release;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto& g : groups) {
        for (Entry* e : g->entries) {
          release.push_back(e->word.mapping);
          delete e;
        }
      }
      by_word_.clear();
      by_serial_.clear();
    }
    for (Mapping* m : release) mapping__release(m);
  }

  const char* kind() const override { return "futex_waitv"; }

 private:
  struct Group;
  struct Waiter {
    uint64_t serial;
    int64_t deadline_ns;
  };
  struct Entry {
    Word word;
    int32_t expected;
    Group* group;
    std::vector<Waiter> waiters;
    bool woken;
  };
  struct Group {
    uint32_t ctrl = 0;  // private futex word: bumped by the JS thread on every change
    bool stop = false;
    std::vector<Entry*> entries;
    std::thread thread;
  };
  using Key = std::pair<int32_t*, int32_t>;

  static void kick(Group* g) {
    if (g == nullptr) return;
    __atomic_fetch_add(&g->ctrl, 1, __ATOMIC_SEQ_CST);
    futex(&g->ctrl, FUTEX_WAKE_PRIVATE, 1, nullptr);
  }

  Group* group_with_room() {
    for (auto& g : groups_) {
      if (g->entries.size() < kMaxEntries) return g.get();
    }
    auto g = std::make_unique<Group>();
    Group* raw = g.get();
    raw->thread = thread__spawn([this, raw] { run(raw); });
    groups_.push_back(std::move(g));
    return raw;
  }

  // mu_ held. Unlinks `e` from every index and frees it; the caller releases its mapping.
  void drop_entry_locked(Entry* e) {
    auto& v = e->group->entries;
    for (size_t i = 0; i < v.size(); i++) {
      if (v[i] == e) {
        v[i] = v.back();
        v.pop_back();
        break;
      }
    }
    by_word_.erase(Key{e->word.addr, e->expected});
    kick(e->group);
    delete e;
  }

  void run(Group* g) {
    std::vector<FutexWaitv> wv;
    wv.reserve(kMaxEntries + 1);
    std::vector<Completion> done;
    std::vector<Mapping*> release;
    long woke = -1;  // index in `wv` that futex_waitv reported woken
    std::unique_lock<std::mutex> lock(mu_);
    while (!g->stop) {
      if (woke >= 1 && static_cast<size_t>(woke) < wv.size()) {
        // Resolve the reported entry even if its value is back to `expected` (ABA):
        // the waker meant to wake it.
        Key key{reinterpret_cast<int32_t*>(static_cast<uintptr_t>(wv[woke].uaddr)),
                static_cast<int32_t>(static_cast<uint32_t>(wv[woke].val))};
        auto it = by_word_.find(key);
        if (it != by_word_.end() && it->second->group == g) it->second->woken = true;
      }
      int64_t now = mono_ns();
      int64_t next = kForever;
      for (size_t i = 0; i < g->entries.size();) {
        Entry* e = g->entries[i];
        bool fire = e->woken || word__load(e->word.addr) != e->expected;
        size_t keep = 0;
        for (const Waiter& w : e->waiters) {
          if (fire || (w.deadline_ns != kForever && w.deadline_ns <= now)) {
            done.push_back(Completion{w.serial, fire ? WaitResult::kOk : WaitResult::kTimedOut});
            by_serial_.erase(w.serial);
          } else {
            if (w.deadline_ns < next) next = w.deadline_ns;
            e->waiters[keep++] = w;
          }
        }
        e->waiters.resize(keep);
        if (keep == 0) {
          release.push_back(e->word.mapping);
          g->entries[i] = g->entries.back();
          g->entries.pop_back();
          by_word_.erase(Key{e->word.addr, e->expected});
          delete e;
          continue;
        }
        i++;
      }
      wv.clear();
      wv.push_back(FutexWaitv{__atomic_load_n(&g->ctrl, __ATOMIC_SEQ_CST),
                              static_cast<uint64_t>(reinterpret_cast<uintptr_t>(&g->ctrl)),
                              kFutex32 | kFutexPrivate, 0});
      for (Entry* e : g->entries) {
        wv.push_back(FutexWaitv{static_cast<uint64_t>(static_cast<uint32_t>(e->expected)),
                                static_cast<uint64_t>(reinterpret_cast<uintptr_t>(e->word.addr)), kFutex32, 0});
      }
      lock.unlock();
      if (!done.empty()) {
        sink_->deliver(done);
        done.clear();
      }
      for (Mapping* m : release) mapping__release(m);
      release.clear();
      struct timespec ts;
      if (next != kForever) ts = to_timespec(next);
      long r = futex_waitv(wv.data(), static_cast<unsigned>(wv.size()), next == kForever ? nullptr : &ts);
      // r >= 0: index woken. Errors: EAGAIN (a word differs: the control word moved or a
      // value changed), ETIMEDOUT, EINTR, EFAULT (an entry was dropped and unmapped after
      // the list was built): all mean "look again".
      woke = r;
      lock.lock();
    }
  }

  CompletionSink* sink_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Group>> groups_;
  std::map<Key, Entry*> by_word_;
  std::unordered_map<uint64_t, Entry*> by_serial_;
};

}  // namespace

std::unique_ptr<WaitBackend> wait__native_backend(CompletionSink* sink) {
  // Kernels before 5.16 (or seccomp filters) lack futex_waitv: nr_futexes = 0 gives
  // EINVAL where it exists, ENOSYS/EPERM where it does not.
  if (futex_waitv(nullptr, 0, nullptr) == 0 || errno != EINVAL) return nullptr;
  return std::make_unique<FutexBackend>(sink);
}

}  // namespace mp
