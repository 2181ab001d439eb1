// Waiting on a file descriptor: what the Sync forms of a socket Connection need to block
// the thread until a socket can be read or written (libuv owns the fd's async side).
#include <cerrno>
#include <string>

#include "mp.h"

#if !defined(_WIN32)
#include <poll.h>
#endif

namespace mp {

// fdPoll(fd, wantWrite, timeoutMs) -> bits: 1 readable, 2 writable, 4 hang-up or error; 0
// on timeout. timeoutMs < 0 waits forever. EINTR counts as a timeout of this slice
// (callers loop with their own deadline).
Napi::Value fd__poll(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t fd = args__integer(info, 0, "fd", 0, 0x7fffffff);
  bool want_write = info.Length() > 1 && info[1].ToBoolean().Value();
  int64_t timeout = args__integer(info, 2, "timeoutMs", -1, 0x7fffffff);
#if defined(_WIN32)
  (void)fd;
  (void)want_write;
  (void)timeout;
  errors__throw_errno(env, ENOSYS, "poll", "fdPoll", "blocking socket calls are not available on Windows; use the async forms");
  return env.Undefined();
#else
  struct pollfd p;
  p.fd = static_cast<int>(fd);
  p.events = static_cast<short>(want_write ? POLLOUT : POLLIN);
  p.revents = 0;
  int n = poll(&p, 1, static_cast<int>(timeout));
  if (n < 0) {
    if (errno == EINTR) return Napi::Number::New(env, 0);
    errors__throw_errno(env, errno, "poll", "fdPoll(" + std::to_string(fd) + ")", "");
    return env.Undefined();
  }
  int bits = 0;
  if (p.revents & POLLIN) bits |= 1;
  if (p.revents & POLLOUT) bits |= 2;
  if (p.revents & (POLLHUP | POLLERR | POLLNVAL)) bits |= 4;
  return Napi::Number::New(env, bits);
#endif
}

}  // namespace mp
