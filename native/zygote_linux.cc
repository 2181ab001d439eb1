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
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <atomic>
#include <climits>
#include <cstdio>
#include <cstring>

#include "mp.h"

namespace mp {
namespace {

// The word SIGCHLD bumps (and wakes) in the zygote, so its wait for work also ends when a
// child exits. Set once, by zygoteWatchChildren; the mapping is held for good.
std::atomic<int32_t*> g_child_word{nullptr};

void on_sigchld(int) {
  int saved = errno;
  int32_t* w = g_child_word.load();
  if (w != nullptr) {
    __atomic_add_fetch(w, 1, __ATOMIC_SEQ_CST);
    syscall(SYS_futex, w, FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
  }
  errno = saved;
}

// Make every mapping of this process inheritable (undo MADV_DONTFORK). Errors are
// ignored: a mapping that cannot be changed ([vsyscall], ...) is not one V8 made.
void inherit_all_mappings() {
  int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  static char buf[1 << 16];
  std::string text;
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
  close(fd);
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    unsigned long start = 0;
    unsigned long end = 0;
    if (std::sscanf(text.c_str() + pos, "%lx-%lx", &start, &end) == 2 && end > start) {
      madvise(reinterpret_cast<void*>(start), end - start, MADV_DOFORK);
    }
    pos = eol + 1;
  }
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
  if (pid == 0) {
    // The child: its own epoll instance and signal pipe, no zygote signal handling.
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

// [pid, code, pid, code, ...] of the children that ended: code is the exit status, or
// -N for a child killed by signal N (Python's exitcode). With an array of pids, only those
// (the zygote reaping what it forked, a server the orphans of its zygote: never a child
// that libuv started and reaps by pid).
Napi::Value zygote__reap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env);
  uint32_t k = 0;
  auto add = [&](pid_t pid, int status) {
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? -WTERMSIG(status) : 255;
    out.Set(k++, Napi::Number::New(env, pid));
    out.Set(k++, Napi::Number::New(env, code));
  };
  if (info.Length() > 0 && info[0].IsArray()) {
    Napi::Array pids = info[0].As<Napi::Array>();
    for (uint32_t i = 0; i < pids.Length(); i++) {
      Napi::Value v = pids.Get(i);
      if (!v.IsNumber()) continue;
      int status = 0;
      pid_t pid = static_cast<pid_t>(v.As<Napi::Number>().Int32Value());
      if (pid > 0 && waitpid(pid, &status, WNOHANG) == pid) add(pid, status);
    }
    return out;
  }
  for (;;) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) break;
    add(pid, status);
  }
  return out;
}

// The server: orphans of its zygote become its children (and their exit codes its to learn).
Napi::Value zygote__set_subreaper(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0);
}

// Leave now, without Node's teardown (a forked child cannot run it: it would join the
// threads of the process it was forked from). Stdout and stderr are synchronous on Linux.
Napi::Value zygote__exit_now(const Napi::CallbackInfo& info) {
  int code = static_cast<int>(args__integer(info, 0, "code", INT32_MIN, INT32_MAX));
  _exit(code & 0xff);
}

}  // namespace mp
