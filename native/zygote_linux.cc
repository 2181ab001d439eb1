// The forkserver's zygote (Linux): fork() a Node process that has everything loaded, so
// a warm process costs a fork (about 1 ms) instead of a Node boot (about 100 ms).
//
// Forking a running Node is sound only under conditions the zygote keeps (forkserver_child.ts):
//  - V8 runs with --single-threaded: the platform's worker threads do not exist in the
//    child, so nothing may depend on background tasks;
//  - no async wait is pending and no libuv pool work is in flight at the fork;
//  - the child never runs Node's teardown (it joins threads the child does not have):
//    it leaves by exitNow().
// Node builds V8 so that its heap is MADV_DONTFORK (spawns copy fewer page tables);
// zygoteFork marks every mapping inheritable again first, or the child would fault on
// its first touch of the heap. The child then re-arms libuv's loop (uv_loop_fork) and
// forgets the addon's waiter thread, which stayed behind in the parent.
#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdio>
#include <cstring>
#include <vector>

#include "mp.h"

namespace mp {
namespace {

// The word SIGCHLD bumps (and wakes) in the zygote, so its wait for work also ends when a
// child exits. Set once, by zygoteWatchChildren; the mapping is held for good.
std::atomic<int32_t*> g_child_word{nullptr};

void on_sigchld(int) {
  int saved = errno;
  int32_t* w = g_child_word.load();
  if (w != nullptr && !reaper__running()) {  // (the reaper thread reaps, if it runs)
    __atomic_add_fetch(w, 1, __ATOMIC_SEQ_CST);
    syscall(SYS_futex, w, FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
  }
  errno = saved;
}

// Mappings that madvise refuses (EINVAL: [vvar] and other VM_IO ones), found by the
// scan, in address order; and whether a scan was done.
struct Range {
  uintptr_t start;
  uintptr_t end;
};
std::vector<Range> g_refusing;
bool g_scanned = false;
// Above every user mapping (x86-64's and arm64's user address space ends below 2^47, 2^48).
constexpr uintptr_t kTop = static_cast<uintptr_t>(1) << 48;

// Read /proc/self/maps and undo MADV_DONTFORK on each mapping (noting the ones that refuse).
void inherit_by_scan() {
  int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  static char buf[1 << 16];
  std::string text;
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
  close(fd);
  g_refusing.clear();
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    unsigned long start = 0;
    unsigned long end = 0;
    if (std::sscanf(text.c_str() + pos, "%lx-%lx", &start, &end) == 2 && end > start && end <= kTop) {
      if (madvise(reinterpret_cast<void*>(start), end - start, MADV_DOFORK) != 0 && errno == EINVAL) {
        g_refusing.push_back({start, end});
      }
    }
    pos = eol + 1;
  }
  g_scanned = true;
}

// Undo MADV_DONTFORK on everything between the refusing mappings, a few calls in all: the
// kernel goes through every mapping of a range and reports the holes between them
// (ENOMEM) only at the end. False if a mapping refused (a new VM_IO one): scan then.
bool inherit_by_ranges() {
  uintptr_t from = 0;
  auto advise = [](uintptr_t a, uintptr_t b) {
    return b <= a || madvise(reinterpret_cast<void*>(a), b - a, MADV_DOFORK) == 0 || errno == ENOMEM;
  };
  for (const Range& r : g_refusing) {
    if (!advise(from, r.start)) return false;
    from = r.end;
  }
  return advise(from, kTop);
}

// Make every mapping of this process inheritable (undo MADV_DONTFORK, which V8's heap
// pages get as they are made). Reading /proc/self/maps took 0.35 ms before each fork, so
// only the first fork (or one that meets a mapping the last scan did not know) scans.
void inherit_all_mappings() {
  if (!g_scanned || !inherit_by_ranges()) inherit_by_scan();
}

// This environment's libuv loop; `who` names the caller in the error.
uv_loop_t* loop_of(Napi::Env env, const char* who) {
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    throw Napi::Error::New(env, std::string(who) + ": no event loop");
  }
  return loop;
}

// A forked child's pid, its parent's pid and 4 words of seed (see zygote__fork).
void write_identity(int32_t* identity) {
  identity[0] = static_cast<int32_t>(getpid());
  identity[1] = static_cast<int32_t>(getppid());
  uint8_t seed[16];
  size_t got = 0;
  while (got < sizeof seed) {
    ssize_t n = getrandom(seed + got, sizeof seed - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  if (got < sizeof seed) std::memset(seed, 0, sizeof seed);
  std::memcpy(identity + 2, seed, sizeof seed);
}

}  // namespace

Napi::Value zygote__fork(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uv_loop_t* loop = loop_of(env, "zygoteFork");
  // SIGCHLD taken over since zygoteWatchChildren (libuv, for a process started here):
  // libuv's state in a child would then be wrong, and exits would not wake this loop.
  struct sigaction current;
  if (g_child_word.load() != nullptr && sigaction(SIGCHLD, nullptr, &current) == 0 &&
      current.sa_handler != on_sigchld) {
    return Napi::Number::New(env, -2);
  }
  // Where the child writes who it is before any JavaScript runs (an Int32Array of 6): its
  // pid, its parent's, and 16 bytes of OS randomness for Math.random's seed (zeros when
  // getrandom fails). Found in JavaScript, these cost a cold child ~1 ms.
  int32_t* identity = nullptr;
  if (info.Length() > 0 && info[0].IsTypedArray()) {
    Napi::TypedArray a = info[0].As<Napi::TypedArray>();
    if (a.TypedArrayType() == napi_int32_array && a.ElementLength() >= 6) identity = a.As<Napi::Int32Array>().Data();
  }
  inherit_all_mappings();
  pid_t pid = fork();
  if (pid < 0) {
    int err = errno;
    errors__throw_errno(env, err, "fork", "forkserver: cannot fork a warm process",
                        err == EAGAIN ? "the system refused a new process (ulimit -u, or the pids cgroup's pids.max)"
                                      : std::string());
  }
  if (pid > 0) reaper__note_forked(pid);
  if (pid == 0) {
    // The child: its own epoll instance and signal pipe, no zygote signal handling.
    reaper__after_fork_child();
    g_child_word.store(nullptr);
    signal(SIGCHLD, SIG_DFL);
    if (uv_loop_fork(loop) != 0) _exit(70);
    waiter__after_fork(env);
    if (identity != nullptr) write_identity(identity);
  }
  return Napi::Number::New(env, pid);
}

// Requests in flight on this loop (libuv's count): fs, dns, zlib and crypto pool work, stream
// writes. Node lists only some of them in process.getActiveResourcesInfo() (no crypto work);
// a child forked under one waits for ever, its work being the zygote's.
Napi::Value zygote__loop_requests(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Napi::Number::New(env, loop_of(env, "zygoteLoopRequests")->active_reqs.count);
}

// Returns false, changing nothing, when SIGCHLD already has a handler (libuv's: a process
// was started here), which the zygote must not take over.
Napi::Value zygote__watch_children(const Napi::CallbackInfo& info) {
  struct sigaction previous;
  if (sigaction(SIGCHLD, nullptr, &previous) == 0 && previous.sa_handler != SIG_DFL &&
      previous.sa_handler != SIG_IGN) {
    return Napi::Boolean::New(info.Env(), false);
  }
  Word w = mapping__word(info, 0, true);  // held for the life of the process
  g_child_word.store(w.addr);
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigchld;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
  if (sigaction(SIGCHLD, &sa, nullptr) != 0) {
    errors__throw_errno(info.Env(), errno, "sigaction", "forkserver: cannot watch warm processes");
  }
  return Napi::Boolean::New(info.Env(), true);
}

// [pid, code, pid, code, ...] of the children that ended, among `pids`: code is the exit
// status, or -N for a child killed by signal N (Python's exitcode). Never a child that libuv
// started and reaps by pid. With `allBut` (the server, a child subreaper), also any other
// ended child, except those in `allBut` (libuv's): adopted orphans and memory holders.
Napi::Value zygote__reap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env);
  uint32_t k = 0;
  auto add = [&](pid_t pid, int status) {
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? -WTERMSIG(status) : 255;
    out.Set(k++, Napi::Number::New(env, pid));
    out.Set(k++, Napi::Number::New(env, code));
  };
  auto pids_of = [&](size_t at) {
    std::vector<pid_t> pids;
    if (info.Length() > at && info[at].IsArray()) {
      Napi::Array a = info[at].As<Napi::Array>();
      for (uint32_t i = 0; i < a.Length(); i++) {
        Napi::Value v = a.Get(i);
        if (v.IsNumber()) pids.push_back(static_cast<pid_t>(v.As<Napi::Number>().Int32Value()));
      }
    }
    return pids;
  };
  for (pid_t pid : pids_of(0)) {
    int status = 0;
    if (pid > 0 && waitpid(pid, &status, WNOHANG) == pid) add(pid, status);
  }
  if (info.Length() > 1 && info[1].IsArray()) {
    std::vector<pid_t> libuvs = pids_of(1);
    for (;;) {
      // Look at the next ended child without reaping it: if it is libuv's, stop (libuv
      // reaps it; the rest wait for the next SIGCHLD).
      siginfo_t si;
      si.si_pid = 0;
      if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) != 0 || si.si_pid == 0) break;
      if (std::find(libuvs.begin(), libuvs.end(), si.si_pid) != libuvs.end()) break;
      int status = 0;
      if (waitpid(si.si_pid, &status, WNOHANG) != si.si_pid) break;
      add(si.si_pid, status);
    }
  }
  return out;
}

// The server: orphans of its zygote become its children (and their exit codes its to learn).
Napi::Value zygote__set_subreaper(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0);
}

namespace {

// The memory holder (see zygote__exit_now): its stack, and the pid of the child it holds for.
alignas(64) char g_holder_stack[16 * 1024];
pid_t g_held_for = 0;

// Runs in the holder, a process that shares the exiting child's memory (CLONE_VM) and has
// no file descriptors and every signal blocked: it waits for its parent's death (the
// parent-death signal, SIGKILL), then its own exit unmaps the memory. Raw system calls
// only: it runs on the child's thread-local storage.
int hold_memory(void*) {
  syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  if (syscall(SYS_getppid) != g_held_for) syscall(SYS_exit, 0);  // the child is gone already
  for (;;) syscall(SYS_pause);
  return 0;
}

}  // namespace

// Leave now, without Node's teardown (a forked child cannot run it: it would join the
// threads of the process it was forked from). Stdout and stderr are synchronous on Linux.
//
// Unmapping a forked child's memory (the zygote's 40 MB, shared copy-on-write) takes the
// kernel about 1 ms, between the child's exit and its parent's SIGCHLD: on the path of
// every join. So the child first closes its files and starts a holder process that
// shares its memory; the child's own exit then only drops its reference, and is reaped
// (and joined) at once, with its files closed as after any exit. The holder dies of its
// parent-death signal and unmaps the memory beside the next start; the server, the child
// subreaper, reaps it. Without a holder (clone failed) the exit is as before.
Napi::Value zygote__exit_now(const Napi::CallbackInfo& info) {
  int code = static_cast<int>(args__integer(info, 0, "code", INT32_MIN, INT32_MAX));
#if defined(SYS_close_range) && !defined(__SANITIZE_ADDRESS__)
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, nullptr);  // the holder starts with all blocked (the child is leaving)
  g_held_for = getpid();
  if (syscall(SYS_close_range, 0U, ~0U, 0U) == 0) {
    clone(hold_memory, g_holder_stack + sizeof g_holder_stack, CLONE_VM | SIGCHLD, nullptr);
  }
#endif
  _exit(code & 0xff);
}

}  // namespace mp
