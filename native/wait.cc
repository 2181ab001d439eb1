// The JS-facing synchronous wait/wake, shared by every OS; the sleeping itself is in
// wait_linux.cc / wait_apple.cc / wait_win32.cc.
#include <cmath>

#include "mp.h"

namespace mp {
namespace {

// Keeps the mapping mapped for the duration of a blocking call.
class Hold {
 public:
  explicit Hold(Mapping* m) : m_(m) {}
  ~Hold() { mapping__release(m_); }
  Hold(const Hold&) = delete;
  Hold& operator=(const Hold&) = delete;

 private:
  Mapping* m_;
};

}  // namespace

Napi::Value wait__wait_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Word w = mapping__word(info, 0, true);
  Hold hold(w.mapping);
  int32_t expected = args__int32_value(info, 2, "expected");
  int64_t deadline = args__deadline(info, 3, "timeoutMs");
  return Napi::String::New(env, wait__result_name(wait__block(w, expected, deadline)));
}

Napi::Value wait__wake_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Word w = mapping__word(info, 0, false);
  int64_t count;
  if (info.Length() > 2 && info[2].IsNumber() && std::isinf(info[2].As<Napi::Number>().DoubleValue()) &&
      info[2].As<Napi::Number>().DoubleValue() > 0) {
    count = INT32_MAX;  // Infinity: everyone, as Atomics.notify
  } else {
    count = args__integer(info, 2, "count", 0, (int64_t{1} << 53) - 1);
  }
  return Napi::Number::New(env, wait__wake(w, count));
}

}  // namespace mp
