// The resource tracker: a tiny forked process that unlinks the shared memory names of a
// process tree once the whole tree is gone, however it died.
//
// Protocol (lib/resource_tracker.ts writes it): lines "R <name>\n" (register) and
// "U <name>\n" (unregister) on a pipe whose write end every process of the tree holds.
// read() returns EOF exactly when the last write end closes, i.e. when the last process
// of the tree exits (SIGKILL included); the tracker then unlinks every name still
// registered and exits.
//
// Fork safety: the parent is multithreaded (V8, libuv), so between fork and _exit the
// children call only async-signal-safe functions (plus mmap/mremap/munmap, plain system
// calls): no malloc, no stdio, no locks. The name table lives in mmap'd memory.
// Double fork: the intermediate child exits at once and is reaped here, so the tracker is
// not our child (no zombie to reap later, and no SIGCHLD surprise for Node) and it does
// not die with our session.
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/prctl.h>
#include <sys/syscall.h>
#endif

#include <cerrno>
#include <cstring>
#include <mutex>

#include "mp.h"

namespace mp {
namespace {

constexpr size_t kNameMax = 255;
constexpr size_t kSlot = 256;  // one length byte + up to 255 name bytes
constexpr size_t kInitialSlots = 256;

struct Table {
  char* base = nullptr;
  size_t cap = 0;  // slots
  size_t count = 0;
};

bool table_grow(Table* t) {
  size_t old_bytes = t->cap * kSlot;
  size_t new_cap = t->cap == 0 ? kInitialSlots : t->cap * 2;
  size_t new_bytes = new_cap * kSlot;
  void* p;
#if defined(__linux__)
  if (t->base != nullptr) {
    p = mremap(t->base, old_bytes, new_bytes, MREMAP_MAYMOVE);
  } else {
    p = mmap(nullptr, new_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  }
  if (p == MAP_FAILED) return false;
#else
  p = mmap(nullptr, new_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANON, -1, 0);
  if (p == MAP_FAILED) return false;
  if (t->base != nullptr) {
    std::memcpy(p, t->base, old_bytes);
    munmap(t->base, old_bytes);
  }
#endif
  t->base = static_cast<char*>(p);
  t->cap = new_cap;
  return true;
}

long table_find(const Table* t, const char* name, size_t len) {
  for (size_t i = 0; i < t->count; i++) {
    const char* slot = t->base + i * kSlot;
    if (static_cast<unsigned char>(slot[0]) == len && std::memcmp(slot + 1, name, len) == 0) {
      return static_cast<long>(i);
    }
  }
  return -1;
}

void handle_line(Table* t, const char* line, size_t len) {
  if (len < 3 || line[1] != ' ' || (line[0] != 'R' && line[0] != 'U')) return;
  const char* name = line + 2;
  size_t n = len - 2;
  if (n == 0 || n > kNameMax) return;
  // Never let a line name anything outside the shm namespace ("../x", "a/b").
  for (size_t i = 0; i < n; i++) {
    if (name[i] == '/' || name[i] == '\0' || name[i] == ' ') return;
  }
  if ((n == 1 && name[0] == '.') || (n == 2 && name[0] == '.' && name[1] == '.')) return;
  long at = table_find(t, name, n);
  if (line[0] == 'R') {
    if (at >= 0) return;  // registered twice: harmless
    if (t->count == t->cap && !table_grow(t)) return;  // out of memory: cannot track it
    char* slot = t->base + t->count * kSlot;
    slot[0] = static_cast<char>(n);
    std::memcpy(slot + 1, name, n);
    t->count++;
  } else if (at >= 0) {
    t->count--;
    if (static_cast<size_t>(at) != t->count) std::memcpy(t->base + at * kSlot, t->base + t->count * kSlot, kSlot);
  }
}

void unlink_name(const char* name, size_t n) {
  char path[16 + kNameMax];
#if defined(__linux__)
  // glibc's shm_open uses /dev/shm; unlink is async-signal-safe, shm_unlink is not listed.
  static const char kDir[] = "/dev/shm/";
  std::memcpy(path, kDir, sizeof kDir - 1);
  std::memcpy(path + sizeof kDir - 1, name, n);
  path[sizeof kDir - 1 + n] = '\0';
  unlink(path);
#else
  path[0] = '/';
  std::memcpy(path + 1, name, n);
  path[1 + n] = '\0';
  shm_unlink(path);  // a plain system call on macOS
#endif
}

void close_from(int lowest) {
#if defined(__linux__) && defined(SYS_close_range)
  if (syscall(SYS_close_range, static_cast<unsigned>(lowest), ~0U, 0) == 0) return;
#endif
  struct rlimit rl;
  long limit = 65536;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < 65536) {
    limit = static_cast<long>(rl.rlim_cur);
  }
  for (long fd = lowest; fd < limit; fd++) close(static_cast<int>(fd));
}

[[noreturn]] void tracker_main(int rfd) {
  // Default dispositions first (the parent's handlers point into Node), then ignore the
  // signals a terminal or a process manager sends to a whole group or session.
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_DFL;
  sigemptyset(&sa.sa_mask);
  for (int s = 1; s < NSIG; s++) {
    if (s != SIGKILL && s != SIGSTOP) sigaction(s, &sa, nullptr);
  }
  sa.sa_handler = SIG_IGN;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);
  sigaction(SIGPIPE, &sa, nullptr);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  setsid();
#ifdef __linux__
  // Shown by ps/top instead of the parent's name (a plain syscall, safe after fork).
  prctl(PR_SET_NAME, "mp-tracker", 0, 0, 0);
#endif
  if (chdir("/") != 0) {
    // Only to avoid pinning the parent's cwd; staying put is harmless.
  }

  // fds: /dev/null on 0-2, the pipe on 3, nothing else.
  if (rfd <= 2) rfd = fcntl(rfd, F_DUPFD, 3);
  int devnull = open("/dev/null", O_RDWR);
  if (devnull >= 0) {
    for (int fd = 0; fd <= 2; fd++) {
      if (devnull != fd) dup2(devnull, fd);
    }
  }
  if (rfd != 3) {
    dup2(rfd, 3);
    rfd = 3;
  }
  close_from(4);

  Table table;
  table_grow(&table);
  char buf[4096];
  char line[2 + kNameMax + 1];
  size_t len = 0;
  bool skipping = false;  // inside an over-long line: drop it whole
  for (;;) {
    ssize_t n = read(rfd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EOF: every process of the tree is gone
    for (ssize_t i = 0; i < n; i++) {
      char c = buf[i];
      if (c == '\n') {
        if (!skipping) handle_line(&table, line, len);
        len = 0;
        skipping = false;
      } else if (!skipping) {
        if (len == sizeof line) {
          skipping = true;
        } else {
          line[len++] = c;
        }
      }
    }
  }
  for (size_t i = 0; i < table.count; i++) {
    const char* slot = table.base + i * kSlot;
    unlink_name(slot + 1, static_cast<unsigned char>(slot[0]));
  }
  _exit(0);
}

// fork without running pthread_atfork handlers: the intermediate child is a copy of a
// multithreaded process, where a handler could block on a lock another thread held.
pid_t fork_raw() {
#if defined(__linux__)
  return static_cast<pid_t>(syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0));
#else
  return fork();
#endif
}

bool make_pipe(int fds[2]) {
#if defined(__linux__)
  return pipe2(fds, O_CLOEXEC) == 0;
#else
  if (pipe(fds) != 0) return false;
  fcntl(fds[0], F_SETFD, FD_CLOEXEC);
  fcntl(fds[1], F_SETFD, FD_CLOEXEC);
  return true;
#endif
}

// A started tracker: the write end of its pipe (O_CLOEXEC) and its pid; or, when `err`
// is not 0, what failed.
struct Started {
  int fd = -1;
  pid_t pid = 0;
  int err = 0;
  const char* syscall = nullptr;
};

Started start_tracker() {
  Started out;
  int data[2];
  int back[2];  // the intermediate child reports the tracker's pid (or -errno) here
  if (!make_pipe(data)) {
    out.err = errno;
    out.syscall = "pipe2";
    return out;
  }
  if (!make_pipe(back)) {
    out.err = errno;
    out.syscall = "pipe2";
    close(data[0]);
    close(data[1]);
    return out;
  }
  pid_t child = fork();
  if (child == 0) {
    close(data[1]);
    close(back[0]);
    pid_t tracker = fork_raw();
    if (tracker == 0) {
      close(back[1]);
      tracker_main(data[0]);
    }
    int32_t report = tracker > 0 ? static_cast<int32_t>(tracker) : -static_cast<int32_t>(errno);
    ssize_t w;
    do {
      w = write(back[1], &report, sizeof report);
    } while (w < 0 && errno == EINTR);
    _exit(0);
  }
  int fork_err = errno;
  close(data[0]);
  close(back[1]);
  if (child < 0) {
    close(data[1]);
    close(back[0]);
    out.err = fork_err;
    out.syscall = "fork";
    return out;
  }
  int status;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  int32_t report = 0;
  ssize_t r;
  do {
    r = read(back[0], &report, sizeof report);
  } while (r < 0 && errno == EINTR);
  close(back[0]);
  if (r != static_cast<ssize_t>(sizeof report) || report <= 0) {
    close(data[1]);
    out.err = report < 0 ? -report : EIO;
    out.syscall = "fork";
    return out;
  }
  out.fd = data[1];
  out.pid = static_cast<pid_t>(report);
  return out;
}

[[noreturn]] void throw_not_started(Napi::Env env, const Started& s, const char* what) {
  errors__throw_errno(env, s.err, s.syscall, std::string(what) + ": cannot start the resource tracker",
                      "the process limit may be reached");
}

// The process's own tracker, shared by every thread: each worker thread loads its own
// copy of the library, and a name one thread registers and another unlinks must be
// unregistered with the tracker it was registered with. Its write end keeps one fd number
// for the life of the process: a restart dup()s the new pipe onto it, so no thread ever
// writes to a closed (and perhaps reused) descriptor.
std::mutex shared_mutex;
int shared_fd = -1;
pid_t shared_pid = 0;  // 0: inherited from the parent process, not started here
uint32_t shared_generation = 0;

Napi::Value shared_state(Napi::Env env) {
  Napi::Object result = Napi::Object::New(env);
  result.Set("fd", Napi::Number::New(env, shared_fd));
  result.Set("pid", Napi::Number::New(env, shared_pid));
  result.Set("generation", Napi::Number::New(env, shared_generation));
  return result;
}

}  // namespace

Napi::Value tracker__start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Started s = start_tracker();
  if (s.err != 0) throw_not_started(env, s, "trackerStart");
  Napi::Object result = Napi::Object::New(env);
  result.Set("fd", Napi::Number::New(env, s.fd));
  result.Set("pid", Napi::Number::New(env, s.pid));
  return result;
}

Napi::Value tracker__shared(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int inherited = static_cast<int>(args__integer(info, 0, "inheritedFd", -1, 0x7fffffff));
  std::lock_guard<std::mutex> hold(shared_mutex);
  if (shared_fd < 0) {
    if (inherited >= 0) {
      shared_fd = inherited;
      shared_pid = 0;
    } else {
      Started s = start_tracker();
      if (s.err != 0) throw_not_started(env, s, "trackerShared");
      shared_fd = s.fd;
      shared_pid = s.pid;
    }
    shared_generation = 1;
  }
  return shared_state(env);
}

Napi::Value tracker__restart(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t seen = args__integer(info, 0, "generation", 0, 0xffffffff);
  std::lock_guard<std::mutex> hold(shared_mutex);
  // Another thread may have restarted it already: then the caller only needs the news.
  if (shared_fd >= 0 && seen == shared_generation) {
    Started s = start_tracker();
    if (s.err != 0) throw_not_started(env, s, "trackerRestart");
#if defined(__linux__)
    int moved = dup3(s.fd, shared_fd, O_CLOEXEC);
#else
    // No dup3: FD_CLOEXEC is set right after (a program exec'd in between would keep the
    // tracker alive a little longer, nothing worse).
    int moved = dup2(s.fd, shared_fd);
    if (moved >= 0) fcntl(shared_fd, F_SETFD, FD_CLOEXEC);
#endif
    int err = errno;
    close(s.fd);
    if (moved < 0) errors__throw_errno(env, err, "dup3", "trackerRestart: cannot replace the tracker pipe");
    shared_pid = s.pid;
    shared_generation++;
  }
  return shared_state(env);
}

}  // namespace mp
