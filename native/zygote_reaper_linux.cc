// The zygote's reaper (Linux): a thread that reaps the zygote's forked children as they
// exit and posts their exit codes (the job's exit cell, which a join waits on, and the
// exit ring, which the server reads), whatever the zygote's main thread is doing. That
// thread forks the pool's refills, about 1 ms each, in which a child's exit used to wait
// for its reaping: traced, 1 cycle in 5 had a fork between a child's exit and its reap.
//
// It only ever reaps pids the zygote forked (noted by zygoteFork): it looks at the next
// ended child without reaping it (WNOWAIT), and stops for good at one it did not fork (a
// process libuv started: the zygote is then unfit to fork, and its JavaScript loop reaps
// by pid, as before). It takes no lock and calls nothing that does: system calls and
// atomics only, so a fork by the main thread at any moment leaves nothing half-held (the
// thread itself does not exist in the child).
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>

#include "mp.h"

namespace mp {
namespace {

// Where things are in the forkserver's segment header (forkserver_shared.ts), from JS.
struct Layout {
  int32_t events, exit_head, exit_tail, exits_at, exit_cap, cells_at, cell_pids_at, cells, exited, zygote_events, watched;
};

constexpr int kIdle = 0, kRunning = 1, kStopped = 2;
std::atomic<int> g_state{kIdle};
int32_t* g_words = nullptr;  // the header (the mapping is held for the life of the process)
Layout g_at;

// The pids forked and not reaped yet: an open-addressing set, written by the main thread
// (add) and the reaper (remove). 0: empty, -1: removed.
constexpr int kSlots = 1 << 16;
std::atomic<int32_t> g_forked[kSlots];
// Bumped by each add: the reaper sleeps on it while the zygote has no child.
std::atomic<int32_t> g_added{0};

int32_t* word(int32_t index) { return g_words + index; }
int32_t load(int32_t index) { return __atomic_load_n(word(index), __ATOMIC_SEQ_CST); }
void store(int32_t index, int32_t v) { __atomic_store_n(word(index), v, __ATOMIC_SEQ_CST); }

void futex_wake(void* addr) { syscall(SYS_futex, addr, FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0); }
void futex_wait(void* addr, int32_t seen, long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
  syscall(SYS_futex, addr, FUTEX_WAIT, seen, &ts, nullptr, 0);
}

// The slot of `pid` in g_forked, or -1.
int forked_slot(pid_t pid) {
  for (int i = 0, at = static_cast<int>(static_cast<uint32_t>(pid) % kSlots); i < kSlots; i++, at = (at + 1) % kSlots) {
    int32_t v = g_forked[at].load();
    if (v == 0) return -1;
    if (v == pid) return at;
  }
  return -1;
}

// As the zygote's JavaScript does (zygote.ts fillCells, postExits): the cell first (a join
// waits on it), then the ring (the code marked WATCHED if the parent watches the cell, so
// the server does not report it again), waiting while it is full, then the server's nudge.
void post_exit(pid_t pid, int32_t code) {
  bool watched = false;
  for (int32_t cell = 0; cell < g_at.cells; cell++) {
    if (load(g_at.cell_pids_at + cell) != pid) continue;
    store(g_at.cell_pids_at + cell, 0);
    int32_t was = __atomic_exchange_n(word(g_at.cells_at + cell), g_at.exited | (code & 0xffff), __ATOMIC_SEQ_CST);
    watched = (was & g_at.watched) != 0;
    futex_wake(word(g_at.cells_at + cell));
    break;
  }
  int32_t head = load(g_at.exit_head);
  for (int32_t tail = load(g_at.exit_tail); head - tail >= g_at.exit_cap; tail = load(g_at.exit_tail)) {
    futex_wait(word(g_at.exit_tail), tail, 5);  // the server frees room as it reads
  }
  int32_t at = g_at.exits_at + 2 * (head % g_at.exit_cap);
  store(at, pid);
  store(at + 1, (code & 0xffff) | (watched ? g_at.watched : 0));  // as forkserver_shared.ts ringCode
  store(g_at.exit_head, head + 1);
  __atomic_add_fetch(word(g_at.events), 1, __ATOMIC_SEQ_CST);
  futex_wake(word(g_at.events));
}

void* reap_forever(void*) {
  for (;;) {
    siginfo_t si;
    std::memset(&si, 0, sizeof si);
    int32_t added = g_added.load();
    if (waitid(P_ALL, 0, &si, WEXITED | WNOWAIT) != 0) {
      if (errno == ECHILD) futex_wait(&g_added, added, 1000);  // no child: wait for a fork
      continue;
    }
    pid_t pid = si.si_pid;
    int slot = forked_slot(pid);
    if (slot < 0) break;  // not ours: the zygote's JavaScript reaps from now on
    std::memset(&si, 0, sizeof si);
    if (waitid(P_PID, static_cast<id_t>(pid), &si, WEXITED) != 0) continue;
    g_forked[slot].store(-1);  // (only this thread removes: the slot still holds pid)
    int32_t code = si.si_code == CLD_EXITED ? si.si_status : (si.si_code == CLD_KILLED || si.si_code == CLD_DUMPED) ? -si.si_status : 255;
    post_exit(pid, code);
  }
  g_state.store(kStopped);
  __atomic_add_fetch(word(g_at.zygote_events), 1, __ATOMIC_SEQ_CST);
  futex_wake(word(g_at.zygote_events));
  return nullptr;
}

}  // namespace

void reaper__note_forked(pid_t pid) {
  if (g_state.load() != kRunning) return;
  for (int i = 0, at = static_cast<int>(static_cast<uint32_t>(pid) % kSlots); i < kSlots; i++, at = (at + 1) % kSlots) {
    int32_t v = g_forked[at].load();
    if ((v == 0 || v == -1) && g_forked[at].compare_exchange_strong(v, pid)) break;
  }
  g_added.fetch_add(1);
  futex_wake(&g_added);
}

void reaper__after_fork_child() { g_state.store(kIdle); }

bool reaper__running() { return g_state.load() == kRunning; }

// zygoteStartReaper(words, layout): start the reaper over the segment header `words` (an
// Int32Array at offset 0, held for good); `layout` (Int32Array) gives the word indexes.
// True if it runs (it starts once per process).
Napi::Value zygote__start_reaper(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (g_state.load() != kIdle) return Napi::Boolean::New(env, g_state.load() == kRunning);
  Word w = mapping__word(info, 0, true);
  if (info.Length() < 3 || !info[2].IsTypedArray()) throw Napi::TypeError::New(env, "zygoteStartReaper: layout must be an Int32Array");
  Napi::TypedArray t = info[2].As<Napi::TypedArray>();
  if (t.TypedArrayType() != napi_int32_array || t.ElementLength() < 11) {
    throw Napi::TypeError::New(env, "zygoteStartReaper: layout must be an Int32Array of 11");
  }
  const int32_t* l = t.As<Napi::Int32Array>().Data();
  g_at = {l[0], l[1], l[2], l[3], l[4], l[5], l[6], l[7], l[8], l[9], l[10]};
  g_words = w.addr;
  g_state.store(kRunning);
  // Signals stay the main thread's (its SIGCHLD handler, its waits' EINTR).
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  pthread_t thread;
  int err = pthread_create(&thread, &attr, reap_forever, nullptr);
  pthread_attr_destroy(&attr);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (err != 0) g_state.store(kIdle);
  return Napi::Boolean::New(env, err == 0);
}

// Whether the reaper reaps (false once it met a child it did not fork, or never started).
Napi::Value zygote__reaper_running(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), reaper__running());
}

// The forked children the reaper has not reaped: for the zygote's JavaScript, which reaps
// them once the reaper stopped.
Napi::Value zygote__forked_pids(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env);
  uint32_t k = 0;
  for (int i = 0; i < kSlots; i++) {
    int32_t v = g_forked[i].load();
    if (v > 0) out.Set(k++, Napi::Number::New(env, v));
  }
  return out;
}

}  // namespace mp
