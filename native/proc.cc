// Questions about processes: is a pid alive, when did it start (to tell a reused pid
// from the original), parent-death signal, parent pid, FD_CLOEXEC.
//
// The Linux and POSIX paths are compiled and tested here; the macOS (libproc) and
// Windows branches are written to the documented APIs but not compiled in this project's
// CI machine (Linux only).
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "mp.h"

#if defined(_WIN32)
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
#include <tlhelp32.h>
#else
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#endif
#if defined(__linux__)
#include <sys/prctl.h>
#endif
#if defined(__APPLE__)
#include <libproc.h>
#include <sys/proc_info.h>
#endif

namespace mp {
namespace {

constexpr int64_t kMaxPid = 0x7fffffff;

#if defined(__linux__)
// Reads a small /proc file whole. Returns false (errno set) if it cannot be opened.
bool read_small_file(const char* path, std::string* out) {
  FILE* f = std::fopen(path, "re");
  if (f == nullptr) return false;
  char buf[4096];
  size_t n;
  out->clear();
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out->append(buf, n);
  std::fclose(f);
  return true;
}

// Boot time in seconds since the epoch ("btime" in /proc/stat); 0 if unknown.
long long boot_time() {
  static long long cached = -1;
  if (cached >= 0) return cached;
  std::string s;
  cached = 0;
  if (read_small_file("/proc/stat", &s)) {
    size_t at = s.find("\nbtime ");
    if (at != std::string::npos) cached = std::strtoll(s.c_str() + at + 7, nullptr, 10);
  }
  return cached;
}
#endif

}  // namespace

#if !defined(_WIN32)
static bool is_zombie(int64_t pid) {
#if defined(__linux__)
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%lld/stat", static_cast<long long>(pid));
  std::string s;
  if (!read_small_file(path, &s)) return false;
  size_t close = s.rfind(')');  // "pid (comm) state ...": comm may hold ')'
  if (close == std::string::npos || close + 2 >= s.size()) return false;
  char state = s[close + 2];
  return state == 'Z' || state == 'X' || state == 'x';
#elif defined(__APPLE__)
  struct proc_bsdinfo bi;
  int n = proc_pidinfo(static_cast<int>(pid), PROC_PIDTBSDINFO, 0, &bi, PROC_PIDTBSDINFO_SIZE);
  return n == PROC_PIDTBSDINFO_SIZE && bi.pbi_status == SZOMB;
#else
  (void)pid;
  return false;
#endif
}
#endif

Napi::Value proc__pid_alive(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t pid = args__integer(info, 0, "pid", 1, kMaxPid);
#if defined(_WIN32)
  HANDLE h = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, static_cast<DWORD>(pid));
  if (h == nullptr) return Napi::Boolean::New(env, GetLastError() == ERROR_ACCESS_DENIED);
  DWORD code = 0;
  BOOL ok = GetExitCodeProcess(h, &code);
  CloseHandle(h);
  return Napi::Boolean::New(env, ok && code == STILL_ACTIVE);
#else
  bool alive = kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
  // A zombie still answers kill(0), but it has died: it is only waiting for its parent
  // to reap it, which never happens while that parent blocks in a Sync wait on it.
  if (alive && is_zombie(pid)) alive = false;
  return Napi::Boolean::New(env, alive);
#endif
}

Napi::Value proc__start_time(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t pid = args__integer(info, 0, "pid", 1, kMaxPid);
#if defined(__linux__)
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%lld/stat", static_cast<long long>(pid));
  std::string s;
  if (!read_small_file(path, &s)) return env.Null();
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so fields are
  // counted from the LAST ')'. starttime is field 22, i.e. the 20th after it.
  size_t close = s.rfind(')');
  if (close == std::string::npos) return env.Null();
  const char* p = s.c_str() + close + 1;
  for (int field = 3; field < 22; field++) {
    while (*p == ' ') p++;
    while (*p != ' ' && *p != '\0') p++;
  }
  char* end = nullptr;
  unsigned long long ticks = std::strtoull(p, &end, 10);
  if (end == p) return env.Null();
  long hz = sysconf(_SC_CLK_TCK);
  if (hz <= 0) hz = 100;
  double ms = static_cast<double>(boot_time()) * 1000.0 +
              static_cast<double>(ticks / static_cast<unsigned long long>(hz)) * 1000.0 +
              static_cast<double>(ticks % static_cast<unsigned long long>(hz)) * 1000.0 / static_cast<double>(hz);
  return Napi::Number::New(env, ms);
#elif defined(__APPLE__)
  struct proc_bsdinfo bi;
  int n = proc_pidinfo(static_cast<int>(pid), PROC_PIDTBSDINFO, 0, &bi, PROC_PIDTBSDINFO_SIZE);
  if (n != PROC_PIDTBSDINFO_SIZE) return env.Null();
  return Napi::Number::New(env, static_cast<double>(bi.pbi_start_tvsec) * 1000.0 +
                                    static_cast<double>(bi.pbi_start_tvusec / 1000));
#elif defined(_WIN32)
  HANDLE h = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, static_cast<DWORD>(pid));
  if (h == nullptr) return env.Null();
  FILETIME created, exited, kernel, user;
  BOOL ok = GetProcessTimes(h, &created, &exited, &kernel, &user);
  CloseHandle(h);
  if (!ok) return env.Null();
  ULARGE_INTEGER t;
  t.LowPart = created.dwLowDateTime;
  t.HighPart = created.dwHighDateTime;
  // FILETIME: 100 ns ticks since 1601-01-01.
  return Napi::Number::New(env, static_cast<double>((t.QuadPart - 116444736000000000ULL) / 10000ULL));
#else
  (void)pid;
  return env.Null();
#endif
}

Napi::Value proc__set_parent_death_signal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t sig = args__integer(info, 0, "signal", 0, 64);
#if defined(__linux__)
  if (prctl(PR_SET_PDEATHSIG, static_cast<unsigned long>(sig), 0, 0, 0) != 0) {
    errors__throw_errno(env, errno, "prctl", "setParentDeathSignal(" + std::to_string(sig) + ")",
                        "not a valid signal number");
  }
  return Napi::Boolean::New(env, true);
#else
  (void)sig;
  return Napi::Boolean::New(env, false);
#endif
}

Napi::Value proc__getppid(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
#if defined(_WIN32)
  DWORD self = GetCurrentProcessId();
  DWORD parent = 0;
  HANDLE snap = CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0);
  if (snap != INVALID_HANDLE_VALUE) {
    PROCESSENTRY32W e;
    e.dwSize = sizeof e;
    for (BOOL ok = Process32FirstW(snap, &e); ok; ok = Process32NextW(snap, &e)) {
      if (e.th32ProcessID == self) {
        parent = e.th32ParentProcessID;
        break;
      }
    }
    CloseHandle(snap);
  }
  return Napi::Number::New(env, static_cast<double>(parent));
#else
  return Napi::Number::New(env, static_cast<double>(getppid()));
#endif
}

Napi::Value proc__fd_set_cloexec(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t fd = args__integer(info, 0, "fd", 0, 0x7fffffff);
#if defined(_WIN32)
  (void)fd;  // CRT fds are not inherited by programs Node spawns unless passed in stdio
#else
  int flags = fcntl(static_cast<int>(fd), F_GETFD);
  if (flags < 0 || fcntl(static_cast<int>(fd), F_SETFD, flags | FD_CLOEXEC) < 0) {
    errors__throw_errno(env, errno, "fcntl", "fdSetCloexec(" + std::to_string(fd) + ")",
                        errno == EBADF ? "the descriptor is not open" : "");
  }
#endif
  return env.Undefined();
}

}  // namespace mp
