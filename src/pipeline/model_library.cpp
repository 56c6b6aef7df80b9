#include "pipeline/model_library.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "core/error.h"

namespace rpu {

struct ModelLibrary::Slot {
  ModelEntry entry;
  std::mutex load_mutex;  // one load at a time per entry; other entries load in parallel
  // Guarded by ModelLibrary::mutex_:
  std::shared_ptr<ModelInstance> instance;
  int users = 0;          // requests between acquire() and the end of their chat()/embed()
  bool loading = false;   // counted against max_loaded while its factory runs
  uint64_t last_used = 0;
};

// An entry held in use by one request; its instance once loaded.
class ModelLibrary::Lease {
 public:
  Lease(ModelLibrary& library, Slot& slot) : library_(&library), slot_(&slot) {}
  Lease(Lease&& other) noexcept
      : instance(std::move(other.instance)), library_(std::exchange(other.library_, nullptr)), slot_(other.slot_) {}
  Lease(const Lease&) = delete;
  ~Lease() {
    if (library_ == nullptr) return;
    std::lock_guard lock(library_->mutex_);
    --slot_->users;
  }
  std::shared_ptr<ModelInstance> instance;

 private:
  ModelLibrary* library_;
  Slot* slot_;
};

namespace {

// A call's handle that keeps its model in memory until the handle is gone. `instance` is
// declared first so the inner handle (which may point into it) is destroyed before it.
class HeldCall : public CallHandle {
 public:
  HeldCall(std::shared_ptr<ModelInstance> instance, std::unique_ptr<CallHandle> inner)
      : instance_(std::move(instance)), inner_(std::move(inner)) {}
  void cancel() override {
    if (inner_) inner_->cancel();
  }

 private:
  std::shared_ptr<ModelInstance> instance_;
  std::unique_ptr<CallHandle> inner_;
};

bool idle(ModelInstance& instance) {
  const BackendLoad load = instance.backend().load();
  return load.queued == 0 && load.active_sequences == 0;
}

}  // namespace

ModelLibrary::ModelLibrary(std::vector<ModelEntry> entries, ModelFactory factory, int max_loaded,
                           std::function<bool(const std::string&)> suffix_ok)
    : factory_(std::move(factory)), max_loaded_(max_loaded), suffix_ok_(std::move(suffix_ok)) {
  if (entries.empty()) fail("the model library has no models");
  if (max_loaded_ < 1) fail("at most {} models loaded: must be at least 1", max_loaded_);
  for (ModelEntry& e : entries) {
    for (const auto& s : slots_) {
      if (s->entry.id == e.id) fail("two models are named '{}' ({} and {})", e.id, s->entry.path, e.path);
    }
    auto slot = std::make_unique<Slot>();
    slot->entry = std::move(e);
    slots_.push_back(std::move(slot));
  }
}

ModelLibrary::~ModelLibrary() = default;  // after the server stopped: no handle is left

std::string ModelLibrary::model_id() const { return slots_.front()->entry.id; }

std::vector<std::string> ModelLibrary::model_ids() const {
  std::vector<std::string> ids;
  for (const auto& s : slots_) ids.push_back(s->entry.id);
  return ids;
}

const ModelLibrary::Slot* ModelLibrary::find(const std::string& model) const {
  const Slot* best = nullptr;
  for (const auto& s : slots_) {
    const std::string& id = s->entry.id;
    if (id == model) return s.get();
    // "ID+suffix": the longest such id wins ("base+adapter+sc8" is base+adapter's).
    if (model.size() > id.size() + 1 && model.compare(0, id.size(), id) == 0 && model[id.size()] == '+' &&
        (best == nullptr || id.size() > best->entry.id.size())) {
      best = s.get();
    }
  }
  if (best == nullptr) return nullptr;
  const std::string suffix = model.substr(best->entry.id.size() + 1);
  return !suffix_ok_ || suffix_ok_(suffix) ? best : nullptr;
}

bool ModelLibrary::accepts_model(const std::string& model) const { return find(model) != nullptr; }

std::vector<std::shared_ptr<ModelInstance>> ModelLibrary::take_unused_retired() {
  std::vector<std::shared_ptr<ModelInstance>> unused;
  std::lock_guard lock(mutex_);
  for (auto it = retired_.begin(); it != retired_.end();) {
    if (it->use_count() == 1) {
      unused.push_back(std::move(*it));
      it = retired_.erase(it);
    } else {
      ++it;
    }
  }
  return unused;
}

// Called with the entry's load_mutex held, before its factory runs.
void ModelLibrary::make_room(Slot& loading) {
  {
    std::lock_guard lock(mutex_);
    int in_memory = 0;
    for (const auto& s : slots_) in_memory += s.get() != &loading && (s->instance || s->loading) ? 1 : 0;
    while (in_memory >= max_loaded_) {
      Slot* victim = nullptr;
      for (const auto& s : slots_) {
        if (s.get() == &loading || !s->instance || s->users > 0 || !idle(*s->instance)) continue;
        if (victim == nullptr || s->last_used < victim->last_used) victim = s.get();
      }
      if (victim == nullptr) {
        throw ApiError(503,
                       fmt::format("model '{}' cannot be loaded now: all {} loaded models are busy (--max-loaded {})",
                                   loading.entry.id, in_memory, max_loaded_),
                       "server_error", "model", "model_busy");
      }
      retired_.push_back(std::move(victim->instance));
      victim->instance.reset();
      --in_memory;
      ++unloads_;
    }
    loading.loading = true;
  }
  take_unused_retired();  // freed here, on this request's thread, before the new model loads
}

ModelLibrary::Lease ModelLibrary::acquire(const std::string& model) {
  Slot* slot = const_cast<Slot*>(find(model));
  if (slot == nullptr) {
    throw ApiError(404, fmt::format("the model '{}' does not exist", model), "invalid_request_error", "model",
                   "model_not_found");
  }
  take_unused_retired();
  {
    std::lock_guard lock(mutex_);
    ++slot->users;
    slot->last_used = ++clock_;
  }
  Lease lease(*this, *slot);
  std::lock_guard load_lock(slot->load_mutex);
  {
    std::lock_guard lock(mutex_);
    if (slot->instance) {
      lease.instance = slot->instance;
      return lease;
    }
  }
  make_room(*slot);
  std::shared_ptr<ModelInstance> instance;
  try {
    instance = factory_(slot->entry);
  } catch (...) {
    std::lock_guard lock(mutex_);
    slot->loading = false;
    throw;
  }
  std::lock_guard lock(mutex_);
  slot->loading = false;
  slot->instance = instance;
  ++loads_;
  lease.instance = std::move(instance);
  return lease;
}

std::unique_ptr<CallHandle> ModelLibrary::chat(const ChatRequest& request, ChatEventSink sink) {
  Lease lease = acquire(request.model);
  std::unique_ptr<CallHandle> handle = lease.instance->backend().chat(request, std::move(sink));
  return std::make_unique<HeldCall>(lease.instance, std::move(handle));
}

std::unique_ptr<CallHandle> ModelLibrary::complete(const CompletionRequest& request, ChatEventSink sink) {
  Lease lease = acquire(request.model);
  std::unique_ptr<CallHandle> handle = lease.instance->backend().complete(request, std::move(sink));
  return std::make_unique<HeldCall>(lease.instance, std::move(handle));
}

EmbeddingResult ModelLibrary::embed(const EmbeddingRequest& request) {
  Lease lease = acquire(request.model);
  return lease.instance->backend().embed(request);
}

RerankResult ModelLibrary::rerank(const RerankRequest& request) {
  Lease lease = acquire(request.model);
  return lease.instance->backend().rerank(request);
}

int ModelLibrary::choice_count(const ChatRequest& request) const {
  // Only a loaded model can say (a reasoning suffix answers with one choice); the server asks
  // just before chat(), which loads it anyway.
  Lease lease = const_cast<ModelLibrary*>(this)->acquire(request.model);
  return lease.instance->backend().choice_count(request);
}

BackendLoad ModelLibrary::load() const {
  BackendLoad total;
  std::lock_guard lock(mutex_);
  for (const auto& s : slots_) {
    if (!s->instance) continue;
    const BackendLoad l = s->instance->backend().load();
    total.queued += l.queued;
    total.active_sequences += l.active_sequences;
    total.kv_bytes_in_use += l.kv_bytes_in_use;
    total.kv_bytes_mapped += l.kv_bytes_mapped;
  }
  return total;
}

std::vector<std::string> ModelLibrary::loaded_ids() const {
  std::lock_guard lock(mutex_);
  std::vector<const Slot*> loaded;
  for (const auto& s : slots_) {
    if (s->instance) loaded.push_back(s.get());
  }
  std::sort(loaded.begin(), loaded.end(), [](const Slot* a, const Slot* b) { return a->last_used > b->last_used; });
  std::vector<std::string> ids;
  for (const Slot* s : loaded) ids.push_back(s->entry.id);
  return ids;
}

std::string ModelLibrary::metrics_text() const {
  std::lock_guard lock(mutex_);
  const auto loaded = std::count_if(slots_.begin(), slots_.end(), [](const auto& s) { return s->instance != nullptr; });
  return fmt::format(
      "# HELP rpu_models_loaded Models in memory (rpu serve --models).\n# TYPE rpu_models_loaded gauge\n"
      "rpu_models_loaded {}\n"
      "# HELP rpu_model_loads_total Models loaded on a request.\n# TYPE rpu_model_loads_total counter\n"
      "rpu_model_loads_total {}\n"
      "# HELP rpu_model_unloads_total Models unloaded to make room (least recently used first).\n"
      "# TYPE rpu_model_unloads_total counter\nrpu_model_unloads_total {}\n",
      loaded, loads_, unloads_);
}

}  // namespace rpu
