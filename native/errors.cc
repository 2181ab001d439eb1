// errno -> JS errors, and the argument checks every entry point uses. The native layer
// never trusts JS: every number is checked for type, integrality and range here.
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "mp.h"

namespace mp {

const char* errno__name(int err) {
  switch (err) {
#define MP_ERRNO(e) \
  case e:           \
    return #e;
    MP_ERRNO(EPERM)
    MP_ERRNO(ENOENT)
    MP_ERRNO(ESRCH)
    MP_ERRNO(EINTR)
    MP_ERRNO(EIO)
    MP_ERRNO(EBADF)
    MP_ERRNO(ECHILD)
    MP_ERRNO(EAGAIN)
    MP_ERRNO(ENOMEM)
    MP_ERRNO(EACCES)
    MP_ERRNO(EFAULT)
    MP_ERRNO(EBUSY)
    MP_ERRNO(EEXIST)
    MP_ERRNO(ENODEV)
    MP_ERRNO(EINVAL)
    MP_ERRNO(ENFILE)
    MP_ERRNO(EMFILE)
    MP_ERRNO(EFBIG)
    MP_ERRNO(ENOSPC)
    MP_ERRNO(EROFS)
    MP_ERRNO(EPIPE)
    MP_ERRNO(ERANGE)
    MP_ERRNO(ENAMETOOLONG)
    MP_ERRNO(ENOSYS)
    MP_ERRNO(ENOTSUP)
    MP_ERRNO(ETIMEDOUT)
    MP_ERRNO(EOVERFLOW)
#if defined(EOPNOTSUPP) && EOPNOTSUPP != ENOTSUP
    MP_ERRNO(EOPNOTSUPP)
#endif
#if defined(EWOULDBLOCK) && EWOULDBLOCK != EAGAIN
    MP_ERRNO(EWOULDBLOCK)
#endif
#undef MP_ERRNO
    default:
      return "UNKNOWN";
  }
}

void errors__throw_errno(Napi::Env env, int err, const char* syscall, const std::string& what,
                         const std::string& hint) {
  std::string msg = what + ": " + syscall + " failed: " + errno__name(err) + " (" + std::strerror(err) + ")";
  if (!hint.empty()) msg += ": " + hint;
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, errno__name(err)));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, syscall));
  // What to do about it, on its own, for wrappers that word the message their way.
  if (!hint.empty()) e.Set("hint", Napi::String::New(env, hint));
  throw e;
}

void errors__throw_type(Napi::Env env, const std::string& message) {
  Napi::Error e = Napi::TypeError::New(env, message);
  e.Set("code", Napi::String::New(env, "ERR_INVALID_ARG_TYPE"));
  throw e;
}

void errors__throw_range(Napi::Env env, const std::string& message) {
  Napi::Error e = Napi::RangeError::New(env, message);
  e.Set("code", Napi::String::New(env, "ERR_OUT_OF_RANGE"));
  throw e;
}

static std::string number_text(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", d);
  return buf;
}

std::string errors__describe(Napi::Value v) {
  switch (v.Type()) {
    case napi_undefined:
      return "undefined";
    case napi_null:
      return "null";
    case napi_boolean:
      return std::string("boolean ") + (v.As<Napi::Boolean>().Value() ? "true" : "false");
    case napi_number:
      return "number " + number_text(v.As<Napi::Number>().DoubleValue());
    case napi_string: {
      std::string s = v.As<Napi::String>().Utf8Value();
      if (s.size() > 40) s = s.substr(0, 40) + "...";
      return "a string (\"" + s + "\")";
    }
    case napi_symbol:
      return "a symbol";
    case napi_function:
      return "a function";
    case napi_bigint:
      return "a bigint";
    default:
      if (v.IsArrayBuffer()) return "an ArrayBuffer";
      if (v.IsTypedArray()) return "a typed array";
      if (v.IsArray()) return "an array";
      return "an object";
  }
}

static Napi::Value arg(const Napi::CallbackInfo& info, size_t i) {
  return i < info.Length() ? info[i] : info.Env().Undefined();
}

int64_t args__integer(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t min, int64_t max) {
  Napi::Value v = arg(info, i);
  if (!v.IsNumber()) {
    errors__throw_type(info.Env(), std::string(name) + " must be an integer, got " + errors__describe(v));
  }
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::trunc(d) != d) {
    errors__throw_type(info.Env(), std::string(name) + " must be an integer, got " + errors__describe(v));
  }
  // Compare as doubles first: casting an out-of-range double to int64 is undefined.
  if (d < static_cast<double>(min) || d > static_cast<double>(max)) {
    errors__throw_range(info.Env(), std::string(name) + " must be between " + std::to_string(min) + " and " +
                                        std::to_string(max) + ", got " + number_text(d));
  }
  return static_cast<int64_t>(d);
}

int32_t args__int32_value(const Napi::CallbackInfo& info, size_t i, const char* name) {
  Napi::Value v = arg(info, i);
  if (!v.IsNumber()) {
    errors__throw_type(info.Env(), std::string(name) + " must be a number, got " + errors__describe(v));
  }
  // ECMAScript ToInt32, so both int32 and uint32 spellings of a word value work.
  return v.As<Napi::Number>().Int32Value();
}

std::string args__string(const Napi::CallbackInfo& info, size_t i, const char* name) {
  Napi::Value v = arg(info, i);
  if (!v.IsString()) {
    errors__throw_type(info.Env(), std::string(name) + " must be a string, got " + errors__describe(v));
  }
  return v.As<Napi::String>().Utf8Value();
}

int64_t clock__now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int64_t args__deadline(const Napi::CallbackInfo& info, size_t i, const char* name) {
  Napi::Value v = arg(info, i);
  if (!v.IsNumber()) {
    errors__throw_type(info.Env(), std::string(name) + " must be a number of milliseconds (Infinity or negative: no timeout), got " +
                                       errors__describe(v));
  }
  double ms = v.As<Napi::Number>().DoubleValue();
  if (std::isnan(ms)) {
    errors__throw_type(info.Env(), std::string(name) + " must be a number of milliseconds (Infinity or negative: no timeout), got NaN");
  }
  if (ms < 0 || std::isinf(ms)) return kForever;
  int64_t now = clock__now_ns();
  double ns = ms * 1e6;
  // Beyond ~292 years from now: no deadline in practice.
  if (ns >= static_cast<double>(kForever - now) - 1e9) return kForever;
  return now + static_cast<int64_t>(ns);
}

}  // namespace mp
