// POSIX shared memory segments: shm_open + ftruncate + posix_fallocate + mmap(MAP_SHARED).
//
// Each mapping is handed to JS as ONE external ArrayBuffer of exactly the requested size;
// JS makes every typed view over it. The fd is closed right after mmap: the mapping keeps
// the segment alive, and an fd per segment would exhaust RLIMIT_NOFILE quickly.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "mp.h"

namespace mp {
namespace {

#if defined(__APPLE__)
// PSHMNAMLEN is 31 including the leading slash.
constexpr size_t kMaxName = 30;
#else
constexpr size_t kMaxName = 255;  // NAME_MAX of a file in /dev/shm
#endif
// Largest size we accept: a JS number must hold it exactly, and so must off_t.
constexpr int64_t kMaxSize = (int64_t{1} << 53) - 1;

std::string check_name(Napi::Env env, const std::string& name) {
  if (name.empty() || name.size() > kMaxName) {
    errors__throw_range(env, "name must be 1 to " + std::to_string(kMaxName) + " bytes long, got " +
                                 std::to_string(name.size()));
  }
  if (name.find('/') != std::string::npos || name.find('\0') != std::string::npos || name == "." ||
      name == "..") {
    Napi::Error e = Napi::TypeError::New(env, "name must not contain '/' or NUL and must not be '.' or '..', got \"" +
                                                  name + "\" (give the bare segment name; the leading slash is added)");
    e.Set("code", Napi::String::New(env, "ERR_INVALID_ARG_VALUE"));
    throw e;
  }
  return "/" + name;
}

std::string hint_for(int err, const std::string& name) {
  switch (err) {
    case ENOSPC:
#if defined(__linux__)
      return "/dev/shm is full: free space or mount a larger /dev/shm (Docker: --shm-size)";
#else
      return "no space left for shared memory: free some or raise the system limit";
#endif
    case EEXIST:
      return "a segment named \"" + name + "\" already exists: choose another name or attach to it";
    case ENOENT:
      return "no segment named \"" + name + "\" (never created, or already unlinked)";
    case EMFILE:
    case ENFILE:
      return "too many open files: close some or raise the limit (ulimit -n)";
    case EACCES:
      return "permission denied for segment \"" + name + "\" (created by another user?)";
    case ENOMEM:
      return "not enough memory or address space to map it, or too many mappings in this process "
             "(vm.max_map_count): close segments no longer used";
    case ENAMETOOLONG:
      return "the name is too long for this system";
    case EFBIG:
    case EINVAL:
      return "the size or name is not valid for this system";
    default:
      return std::string();
  }
}

[[noreturn]] void fail(Napi::Env env, int err, const char* syscall, const char* what, const std::string& name) {
  errors__throw_errno(env, err, syscall, std::string(what) + " \"" + name + "\"", hint_for(err, name));
}

#if defined(__linux__)
// Each segment is one mapping, and Linux allows a process vm.max_map_count of them (65530
// by default) in all. The runtime needs mappings of its own all the time (V8 heap pages,
// malloc arenas, thread stacks) and dies when one fails ("Zone Allocation failed"), so
// segments may take only part of the allowance: past it, creating or attaching one is a
// clean ENOMEM here rather than an abort somewhere else.
struct MapBudget {
  long max_map_count;
  size_t segments;
};

const MapBudget& map_budget() {
  static const MapBudget budget = [] {
    long max = 65530;
    if (FILE* f = std::fopen("/proc/sys/vm/max_map_count", "r")) {
      if (std::fscanf(f, "%ld", &max) != 1) max = 65530;
      std::fclose(f);
    }
    long reserve = std::max(1024L, max / 4);
    return MapBudget{max, static_cast<size_t>(std::max(64L, max - reserve))};
  }();
  return budget;
}

void check_budget(Napi::Env env, const char* what, const std::string& name) {
  const MapBudget& b = map_budget();
  size_t live = mapping__count();
  if (live < b.segments) return;
  errors__throw_errno(env, ENOMEM, "mmap", std::string(what) + " \"" + name + "\"",
                      "this process already maps " + std::to_string(live) +
                          " shared memory segments, the most it may (vm.max_map_count is " +
                          std::to_string(b.max_map_count) +
                          " and the rest is kept for the runtime): close segments no longer used, or raise "
                          "vm.max_map_count");
}
#else
void check_budget(Napi::Env, const char*, const std::string&) {}
#endif

// The resource tracker is forked from this process without an exec (tracker_posix.cc):
// it would inherit every mapping made so far and keep the segments' /dev/shm space in use
// for the life of the process tree, unlink or not. (Node's own children exec at once.)
void keep_from_forks(void* addr, size_t size) {
#if defined(MADV_DONTFORK)
  madvise(addr, size, MADV_DONTFORK);  // advisory: on failure the tracker merely holds space
#else
  (void)addr;
  (void)size;
#endif
}

}  // namespace

void shm__unmap(Mapping* m) {
  // The only failure of munmap is EINVAL on a bad range, which the registry rules out.
  munmap(m->addr, m->size);
}

Napi::Value shm__create(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t size = args__integer(info, 0, "size", 1, std::min(kMaxSize, mapping__max_size()));
  bool generated = info.Length() < 2 || info[1].IsUndefined() || info[1].IsNull();
  std::string name = generated ? std::string() : args__string(info, 1, "name");
  check_budget(env, "shmCreate: cannot create segment", generated ? std::string("<random>") : name);
  std::string path;
  int fd = -1;
  for (int attempt = 0;; attempt++) {
    if (generated) name = shm__random_name();
    path = check_name(env, name);
    fd = shm_open(path.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
    if (fd >= 0) break;
    int err = errno;
    if (err == EINTR || (generated && err == EEXIST && attempt < 100)) continue;
    fail(env, err, "shm_open", "shmCreate: cannot create segment", name);
  }
  // From here on a failure must not leave a half-made segment behind.
  auto abandon = [&](int err, const char* syscall) {
    close(fd);
    shm_unlink(path.c_str());
    fail(env, err, syscall, "shmCreate: cannot create segment", name);
  };
  while (ftruncate(fd, static_cast<off_t>(size)) != 0) {
    if (errno != EINTR) abandon(errno, "ftruncate");
  }
#if !defined(__APPLE__)
  // tmpfs ftruncate reserves nothing: without this a full /dev/shm shows up as SIGBUS on
  // the first touch of a page instead of an error here. (macOS has no posix_fallocate and
  // its shm is not tmpfs-backed.)
  for (;;) {
    int err = posix_fallocate(fd, 0, static_cast<off_t>(size));
    if (err == 0 || err == EOPNOTSUPP || err == ENOSYS) break;  // cannot reserve: map anyway
    if (err != EINTR) abandon(err, "posix_fallocate");
  }
#endif
  void* addr = mmap(nullptr, static_cast<size_t>(size), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (addr == MAP_FAILED) abandon(errno, "mmap");
  close(fd);
  keep_from_forks(addr, static_cast<size_t>(size));
  Napi::ArrayBuffer buffer;
  try {
    buffer = mapping__adopt(env, static_cast<uint8_t*>(addr), static_cast<size_t>(size), name, nullptr);
  } catch (...) {
    shm_unlink(path.c_str());  // adopt already unmapped it
    throw;
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("name", Napi::String::New(env, name));
  result.Set("buffer", buffer);
  return result;
}

Napi::Value shm__attach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = args__string(info, 0, "name");
  std::string path = check_name(env, name);
  check_budget(env, "shmAttach: cannot map segment", name);
  int fd;
  do {
    fd = shm_open(path.c_str(), O_RDWR, 0);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) fail(env, errno, "shm_open", "shmAttach: cannot open segment", name);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    fail(env, err, "fstat", "shmAttach: cannot open segment", name);
  }
  if (st.st_size > std::min(kMaxSize, mapping__max_size())) {
    close(fd);
    Napi::Error e = Napi::RangeError::New(
        env, "shmAttach: segment \"" + name + "\" is " + std::to_string(static_cast<long long>(st.st_size)) +
                 " bytes, more than this Node version can see as one ArrayBuffer (" +
                 std::to_string(mapping__max_size()) + " bytes; Node 22 raised the limit)");
    e.Set("code", Napi::String::New(env, "ERR_BUFFER_TOO_LARGE"));
    throw e;
  }
  if (st.st_size <= 0) {
    close(fd);
    errors__throw_errno(env, EINVAL, "fstat", "shmAttach: cannot map segment \"" + name + "\"",
                        "its size is " + std::to_string(static_cast<long long>(st.st_size)) +
                            " bytes (an empty segment, or one still being created, cannot be mapped)");
  }
  size_t size = static_cast<size_t>(st.st_size);
  void* addr = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  int err = errno;
  close(fd);
  if (addr == MAP_FAILED) fail(env, err, "mmap", "shmAttach: cannot map segment", name);
  keep_from_forks(addr, size);
  Napi::ArrayBuffer buffer = mapping__adopt(env, static_cast<uint8_t*>(addr), size, name, nullptr);
  Napi::Object result = Napi::Object::New(env);
  result.Set("buffer", buffer);
  result.Set("size", Napi::Number::New(env, static_cast<double>(size)));
  return result;
}

Napi::Value shm__unlink(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = args__string(info, 0, "name");
  std::string path = check_name(env, name);
  if (shm_unlink(path.c_str()) != 0) fail(env, errno, "shm_unlink", "shmUnlink: cannot unlink segment", name);
  return env.Undefined();
}

}  // namespace mp
