// Async waits: promises resolved from the addon's own waiter thread(s), never from
// libuv's pool (a pool thread parked per pending wait would starve fs, dns and zlib).
//
// One EnvWaiter per napi_env (instance data), so each worker_thread has its own. It owns
// the pending promises and a ThreadSafeFunction through which backend threads hand back
// results. The ThreadSafeFunction is ref'd exactly while something is pending, so a
// process with no pending waits exits normally. An env cleanup hook, registered after the
// ThreadSafeFunction (hooks run last-in first-out, so ours runs before Node closes it),
// stops and joins the backend threads.
//
// Backends (mp.h WaitBackend): Linux uses futex_waitv groups (wait_linux.cc). Elsewhere,
// or when futex_waitv is missing, or with MP_NATIVE_WAITER=thread, the portable backend
// below runs one thread per pending wait, sleeping in 50 ms slices of wait__block so a
// cancel or shutdown is noticed promptly without waking other processes' sleepers.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "mp.h"

namespace mp {

const char* wait__result_name(WaitResult r) {
  switch (r) {
    case WaitResult::kOk:
      return "ok";
    case WaitResult::kNotEqual:
      return "not-equal";
    case WaitResult::kTimedOut:
      return "timed-out";
    case WaitResult::kCancelled:
      return "cancelled";
  }
  return "ok";
}

namespace {

// ---------------------------------------------------------------------------------------
// The portable backend: one thread per pending wait.

class ThreadBackend final : public WaitBackend {
 public:
  explicit ThreadBackend(CompletionSink* sink) : s_(std::make_shared<Shared>()), sink_(sink) {}
  ~ThreadBackend() override { shutdown(); }

  void add(const AsyncEntry& e) override {
    auto job = std::make_shared<Job>();
    job->entry = e;
    {
      std::lock_guard<std::mutex> lock(s_->mu);
      s_->jobs[e.serial] = job;
      s_->live++;
    }
    try {
      thread__spawn([s = s_, job, sink = sink_] { run(s, job, sink); }).detach();
    } catch (...) {
      std::lock_guard<std::mutex> lock(s_->mu);
      s_->jobs.erase(e.serial);
      s_->live--;
      throw;
    }
  }

  void remove(uint64_t serial) override {
    std::lock_guard<std::mutex> lock(s_->mu);
    auto it = s_->jobs.find(serial);
    if (it == s_->jobs.end()) return;
    it->second->cancel.store(true);
    s_->jobs.erase(it);
  }

  void shutdown() override {
    std::unique_lock<std::mutex> lock(s_->mu);
    for (auto& kv : s_->jobs) kv.second->cancel.store(true);
    s_->jobs.clear();
    s_->cv.wait(lock, [this] { return s_->live == 0; });
  }

  const char* kind() const override { return "thread"; }

 private:
  struct Job {
    AsyncEntry entry{};
    std::atomic<bool> cancel{false};
  };
  // Shared with the detached threads, so the last one out may outlive the backend.
  struct Shared {
    std::mutex mu;
    std::condition_variable cv;
    int live = 0;
    std::unordered_map<uint64_t, std::shared_ptr<Job>> jobs;
  };

  static void run(std::shared_ptr<Shared> s, std::shared_ptr<Job> job, CompletionSink* sink) {
    constexpr int64_t kSliceNs = 50 * 1000 * 1000;
    const AsyncEntry& e = job->entry;
    WaitResult result = WaitResult::kCancelled;
    while (!job->cancel.load()) {
      int64_t now = clock__now_ns();
      if (e.deadline_ns != kForever && now >= e.deadline_ns) {
        result = WaitResult::kTimedOut;
        break;
      }
      int64_t until = e.deadline_ns == kForever ? now + kSliceNs : std::min(e.deadline_ns, now + kSliceNs);
      WaitResult r = wait__block(e.word, e.expected, until);
      // Not-equal here means the value moved since the wait was registered: that is 'ok'.
      if (r == WaitResult::kOk || r == WaitResult::kNotEqual) {
        result = WaitResult::kOk;
        break;
      }
    }
    mapping__release(e.word.mapping);
    // Delivered before `live` drops, so shutdown() returning means no more deliveries.
    if (result != WaitResult::kCancelled && !job->cancel.load()) {
      std::vector<Completion> batch{Completion{e.serial, result}};
      sink->deliver(batch);
    }
    std::lock_guard<std::mutex> lock(s->mu);
    auto it = s->jobs.find(e.serial);
    if (it != s->jobs.end() && it->second == job) s->jobs.erase(it);
    s->live--;
    s->cv.notify_all();
  }

  std::shared_ptr<Shared> s_;
  CompletionSink* sink_;
};

// ---------------------------------------------------------------------------------------
// Per-env state.

class EnvWaiter;
void call_js(Napi::Env env, Napi::Function, EnvWaiter* w, void*);
using Tsfn = Napi::TypedThreadSafeFunction<EnvWaiter, void, call_js>;

struct Pending {
  double id;
  napi_deferred deferred;
};

class EnvWaiter final : public CompletionSink {
 public:
  explicit EnvWaiter(Napi::Env env) : env_(env) {
    tsfn_ = Tsfn::New(env, "multiprocessing:waiter", 0, 1, this,
                      [](Napi::Env, void*, EnvWaiter* w) { w->tsfn_finalized(); });
    tsfn_.Unref(env);
  }

  Napi::Value wait_async(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    double id = static_cast<double>(args__integer(info, 0, "id", -kMaxSafe, kMaxSafe));
    Word word = mapping__word(info, 1, false);
    int32_t expected = args__int32_value(info, 3, "expected");
    int64_t deadline = args__deadline(info, 4, "timeoutMs");
    if (cleaned_) throw Napi::Error::New(env, "waitAsync: this environment is shutting down");
    if (by_id_.count(id) != 0) {
      errors__throw_range(env, "id " + std::to_string(static_cast<long long>(id)) +
                                   " is already pending: ids must be unique among pending waits");
    }
    napi_deferred deferred;
    napi_value promise;
    if (napi_create_promise(env, &deferred, &promise) != napi_ok) throw Napi::Error::New(env);
    if (word__load(word.addr) != expected) {
      settle(env, deferred, WaitResult::kNotEqual);
      return Napi::Value(env, promise);
    }
    if (deadline != kForever && deadline <= clock__now_ns()) {
      settle(env, deferred, WaitResult::kTimedOut);
      return Napi::Value(env, promise);
    }
    uint64_t serial = next_serial_++;
    mapping__hold(word.mapping);
    pending_[serial] = Pending{id, deferred};
    by_id_[id] = serial;
    try {
      backend().add(AsyncEntry{serial, word, expected, deadline});
    } catch (...) {
      pending_.erase(serial);
      by_id_.erase(id);
      mapping__release(word.mapping);
      // The promise never reaches JS: settle it (not reject: an unobserved rejection
      // would be an unhandledRejection) so its deferred is freed, then report the error.
      settle(env, deferred, WaitResult::kCancelled);
      throw;
    }
    update_ref(env);
    return Napi::Value(env, promise);
  }

  bool cancel(Napi::Env env, double id) {
    auto it = by_id_.find(id);
    if (it == by_id_.end()) return false;
    uint64_t serial = it->second;
    by_id_.erase(it);
    auto p = pending_.find(serial);
    napi_deferred d = p->second.deferred;
    pending_.erase(p);
    if (backend_) backend_->remove(serial);
    settle(env, d, WaitResult::kCancelled);
    update_ref(env);
    return true;
  }

  size_t pending() const { return pending_.size(); }

  const char* backend_kind() { return backend().kind(); }

  // Any thread.
  void deliver(std::vector<Completion>& batch) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return;
    bool idle = done_.empty();
    done_.insert(done_.end(), batch.begin(), batch.end());
    // One call drains everything queued: schedule only when the queue was empty.
    if (idle) tsfn_.NonBlockingCall();
  }

  // JS thread, from the ThreadSafeFunction.
  void drain(Napi::Env env) {
    std::vector<Completion> batch;
    {
      std::lock_guard<std::mutex> lock(mu_);
      batch.swap(done_);
    }
    Napi::HandleScope scope(env);
    for (const Completion& c : batch) {
      auto p = pending_.find(c.serial);
      if (p == pending_.end()) continue;  // cancelled meanwhile
      napi_deferred d = p->second.deferred;
      by_id_.erase(p->second.id);
      pending_.erase(p);
      settle(env, d, c.result);
    }
    update_ref(env);
  }

  // Env cleanup hook (worker termination, env teardown): stop and join every thread
  // before Node closes the ThreadSafeFunction.
  void cleanup() {
    if (cleaned_) return;
    cleaned_ = true;
    {
      std::lock_guard<std::mutex> lock(mu_);
      closed_ = true;
      done_.clear();
    }
    if (backend_) {
      backend_->shutdown();
      backend_.reset();
    }
    // Settle what is left so the deferreds are freed; fails harmlessly (and leaks a few
    // bytes) if this env can no longer run JS.
    napi_handle_scope scope;
    if (napi_open_handle_scope(env_, &scope) == napi_ok) {
      napi_value s;
      if (napi_create_string_utf8(env_, "cancelled", NAPI_AUTO_LENGTH, &s) == napi_ok) {
        for (auto& kv : pending_) napi_resolve_deferred(env_, kv.second.deferred, s);
      }
      napi_close_handle_scope(env_, scope);
    }
    pending_.clear();
    by_id_.clear();
  }

  // A forked child (zygote): the backend's thread stayed in the parent. Leak the backend
  // (its destructor would join that thread) and forget waits nobody will finish; the
  // next wait starts a new backend here.
  void after_fork(Napi::Env env) {
    (void)backend_.release();
    pending_.clear();
    by_id_.clear();
    done_.clear();
    update_ref(env);
  }

  // The instance-data finalizer and the ThreadSafeFunction finalizer each own this object.
  void drop_owner() {
    if (--owners_ == 0) delete this;
  }

 private:
  static constexpr int64_t kMaxSafe = (int64_t{1} << 53) - 1;

  void tsfn_finalized() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      closed_ = true;
    }
    drop_owner();
  }

  WaitBackend& backend() {
    if (!backend_) {
      const char* force = std::getenv("MP_NATIVE_WAITER");
      bool portable = force != nullptr && std::strcmp(force, "thread") == 0;
      if (!portable) backend_ = wait__native_backend(this);
      if (!backend_) backend_ = waiter__thread_backend(this);
    }
    return *backend_;
  }

  static void settle(Napi::Env env, napi_deferred d, WaitResult r) {
    napi_value s;
    if (napi_create_string_utf8(env, wait__result_name(r), NAPI_AUTO_LENGTH, &s) == napi_ok) {
      napi_resolve_deferred(env, d, s);
    }
  }

  void update_ref(Napi::Env env) {
    bool want = !pending_.empty();
    if (want == reffed_ || cleaned_) return;
    if (want) {
      tsfn_.Ref(env);
    } else {
      tsfn_.Unref(env);
    }
    reffed_ = want;
  }

  napi_env env_;
  Tsfn tsfn_;
  bool reffed_ = false;
  bool cleaned_ = false;
  int owners_ = 2;
  std::unique_ptr<WaitBackend> backend_;
  uint64_t next_serial_ = 1;
  std::unordered_map<uint64_t, Pending> pending_;  // serial -> promise
  std::unordered_map<double, uint64_t> by_id_;     // caller's id -> serial
  std::mutex mu_;                                  // guards done_ and closed_
  std::vector<Completion> done_;
  bool closed_ = false;  // no more ThreadSafeFunction calls
};

void call_js(Napi::Env env, Napi::Function, EnvWaiter* w, void*) {
  if (env == nullptr) return;  // the ThreadSafeFunction is being torn down
  w->drain(env);
}

void cleanup_hook(void* arg) { static_cast<EnvWaiter*>(arg)->cleanup(); }

void instance_finalize(Napi::Env, EnvWaiter* w) {
  w->cleanup();  // normally done already by the cleanup hook
  w->drop_owner();
}

EnvWaiter& waiter(const Napi::CallbackInfo& info) { return *info.Env().GetInstanceData<EnvWaiter>(); }

}  // namespace

std::unique_ptr<WaitBackend> waiter__thread_backend(CompletionSink* sink) {
  return std::make_unique<ThreadBackend>(sink);
}

void waiter__init(Napi::Env env) {
  EnvWaiter* w = new EnvWaiter(env);
  env.SetInstanceData<EnvWaiter, instance_finalize>(w);
  if (napi_add_env_cleanup_hook(env, cleanup_hook, w) != napi_ok) throw Napi::Error::New(env);
}

Napi::Value waiter__wait_async(const Napi::CallbackInfo& info) { return waiter(info).wait_async(info); }

void waiter__after_fork(Napi::Env env) {
  EnvWaiter* w = env.GetInstanceData<EnvWaiter>();
  if (w != nullptr) w->after_fork(env);
}

Napi::Value waiter__cancel(const Napi::CallbackInfo& info) {
  double id = static_cast<double>(args__integer(info, 0, "id", -((int64_t{1} << 53) - 1), (int64_t{1} << 53) - 1));
  return Napi::Boolean::New(info.Env(), waiter(info).cancel(info.Env(), id));
}

Napi::Value waiter__pending(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(waiter(info).pending()));
}

Napi::Value waiter__backend_kind(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), waiter(info).backend_kind());
}

}  // namespace mp
