// Windows shared memory: named pagefile-backed sections (CreateFileMappingW/MapViewOfFile).
//
// NOT TESTED IN THIS PROJECT'S BUILD MACHINE (Linux only); checked only by a MinGW
// syntax pass. Review on Windows before release.
//
// Differences from POSIX, as in CPython's multiprocessing.shared_memory:
// - Names live in the session namespace "Local\<name>". A section exists while any
//   process holds a handle or a view; there is no unlink. shmUnlink only reports ENOENT
//   for a name that does not exist, and the resource tracker is not needed.
// - SEC_COMMIT charges the whole size against the commit limit at creation, so running
//   out is an error from shmCreate (ENOMEM), never a fault on first touch.
// - shmAttach learns the size from VirtualQuery, rounded up to the page size.
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>

#include <algorithm>
#include <cerrno>

#include "mp.h"

namespace mp {

int win__errno(unsigned long code) {
  switch (code) {
    case ERROR_FILE_NOT_FOUND:
    case ERROR_PATH_NOT_FOUND:
      return ENOENT;
    case ERROR_ALREADY_EXISTS:
    case ERROR_FILE_EXISTS:
      return EEXIST;
    case ERROR_ACCESS_DENIED:
      return EACCES;
    case ERROR_NOT_ENOUGH_MEMORY:
    case ERROR_OUTOFMEMORY:
    case ERROR_COMMITMENT_LIMIT:
      return ENOMEM;
    case ERROR_DISK_FULL:
      return ENOSPC;
    case ERROR_TOO_MANY_OPEN_FILES:
      return EMFILE;
    case ERROR_INVALID_HANDLE:
      return EBADF;
    case ERROR_FILENAME_EXCED_RANGE:
      return ENAMETOOLONG;
    default:
      return EINVAL;
  }
}

std::wstring win__wide(const std::string& s) {
  if (s.empty()) return std::wstring();
  int n = MultiByteToWideChar(CP_UTF8, 0, s.data(), static_cast<int>(s.size()), nullptr, 0);
  std::wstring w(static_cast<size_t>(n), L'\0');
  MultiByteToWideChar(CP_UTF8, 0, s.data(), static_cast<int>(s.size()), &w[0], n);
  return w;
}

namespace {

constexpr size_t kMaxName = 200;  // kernel object names: keep well under MAX_PATH
constexpr int64_t kMaxSize = (int64_t{1} << 53) - 1;

std::wstring object_name(Napi::Env env, const std::string& name) {
  if (name.empty() || name.size() > kMaxName) {
    errors__throw_range(env, "name must be 1 to " + std::to_string(kMaxName) + " bytes long, got " +
                                 std::to_string(name.size()));
  }
  if (name.find_first_of("/\\") != std::string::npos || name.find('\0') != std::string::npos) {
    Napi::Error e = Napi::TypeError::New(env, "name must not contain '/', '\\' or NUL, got \"" + name + "\"");
    e.Set("code", Napi::String::New(env, "ERR_INVALID_ARG_VALUE"));
    throw e;
  }
  return L"Local\\" + win__wide(name);
}

[[noreturn]] void fail(Napi::Env env, DWORD code, const char* syscall, const char* what, const std::string& name) {
  int err = win__errno(code);
  std::string hint;
  if (err == EEXIST) hint = "a segment with this name already exists: choose another name or attach to it";
  if (err == ENOENT) hint = "no segment with this name (never created, or every handle to it was closed)";
  if (err == ENOMEM) hint = "the system commit limit is reached: free memory or enlarge the page file";
  errors__throw_errno(env, err, syscall, std::string(what) + " \"" + name + "\" (Windows error " +
                                             std::to_string(static_cast<unsigned long>(code)) + ")",
                      hint);
}

}  // namespace

void shm__unmap(Mapping* m) {
  UnmapViewOfFile(m->addr);
  if (m->os_handle != nullptr) CloseHandle(static_cast<HANDLE>(m->os_handle));
}

Napi::Value shm__create(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t size = args__integer(info, 0, "size", 1, std::min(kMaxSize, mapping__max_size()));
  bool generated = info.Length() < 2 || info[1].IsUndefined() || info[1].IsNull();
  std::string name = generated ? std::string() : args__string(info, 1, "name");
  HANDLE h = nullptr;
  for (int attempt = 0;; attempt++) {
    if (generated) name = shm__random_name();
    std::wstring wname = object_name(env, name);
    uint64_t s = static_cast<uint64_t>(size);
    h = CreateFileMappingW(INVALID_HANDLE_VALUE, nullptr, PAGE_READWRITE | SEC_COMMIT, static_cast<DWORD>(s >> 32),
                           static_cast<DWORD>(s & 0xffffffffu), wname.c_str());
    DWORD code = GetLastError();
    if (h != nullptr && code != ERROR_ALREADY_EXISTS) break;
    if (h != nullptr) CloseHandle(h);  // opened someone else's section: not ours to use
    if (h != nullptr || code == ERROR_ALREADY_EXISTS) {
      if (generated && attempt < 100) continue;
      fail(env, ERROR_ALREADY_EXISTS, "CreateFileMappingW", "shmCreate: cannot create segment", name);
    }
    fail(env, code, "CreateFileMappingW", "shmCreate: cannot create segment", name);
  }
  void* addr = MapViewOfFile(h, FILE_MAP_ALL_ACCESS, 0, 0, static_cast<SIZE_T>(size));
  if (addr == nullptr) {
    DWORD code = GetLastError();
    CloseHandle(h);
    fail(env, code, "MapViewOfFile", "shmCreate: cannot map segment", name);
  }
  // The handle stays open (in the Mapping) so the name outlives this call even if JS
  // never attaches elsewhere; it is closed when the mapping is unmapped.
  Napi::ArrayBuffer buffer = mapping__adopt(env, static_cast<uint8_t*>(addr), static_cast<size_t>(size), name, h);
  Napi::Object result = Napi::Object::New(env);
  result.Set("name", Napi::String::New(env, name));
  result.Set("buffer", buffer);
  return result;
}

Napi::Value shm__attach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = args__string(info, 0, "name");
  std::wstring wname = object_name(env, name);
  HANDLE h = OpenFileMappingW(FILE_MAP_ALL_ACCESS, FALSE, wname.c_str());
  if (h == nullptr) fail(env, GetLastError(), "OpenFileMappingW", "shmAttach: cannot open segment", name);
  void* addr = MapViewOfFile(h, FILE_MAP_ALL_ACCESS, 0, 0, 0);
  if (addr == nullptr) {
    DWORD code = GetLastError();
    CloseHandle(h);
    fail(env, code, "MapViewOfFile", "shmAttach: cannot map segment", name);
  }
  MEMORY_BASIC_INFORMATION mbi;
  if (VirtualQuery(addr, &mbi, sizeof mbi) == 0) {
    DWORD code = GetLastError();
    UnmapViewOfFile(addr);
    CloseHandle(h);
    fail(env, code, "VirtualQuery", "shmAttach: cannot size segment", name);
  }
  size_t size = mbi.RegionSize;
  Napi::ArrayBuffer buffer = mapping__adopt(env, static_cast<uint8_t*>(addr), size, name, h);
  Napi::Object result = Napi::Object::New(env);
  result.Set("buffer", buffer);
  result.Set("size", Napi::Number::New(env, static_cast<double>(size)));
  return result;
}

Napi::Value shm__unlink(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = args__string(info, 0, "name");
  std::wstring wname = object_name(env, name);
  HANDLE h = OpenFileMappingW(FILE_MAP_READ, FALSE, wname.c_str());
  if (h == nullptr) fail(env, GetLastError(), "OpenFileMappingW", "shmUnlink: no segment", name);
  CloseHandle(h);  // nothing to unlink: the section goes away with its last handle
  return env.Undefined();
}

Napi::Value tracker__start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  errors__throw_errno(env, ENOTSUP, "trackerStart", "trackerStart: no resource tracker on Windows",
                      "sections vanish with their last handle, so there is nothing to clean up");
}

Napi::Value tracker__shared(const Napi::CallbackInfo& info) {
  return tracker__start(info);
}

Napi::Value tracker__restart(const Napi::CallbackInfo& info) {
  return tracker__start(info);
}

}  // namespace mp
