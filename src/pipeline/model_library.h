// Many models behind one Backend (`rpu serve --models DIR`): every model of a catalog is
// listed at once, loaded on its first request and unloaded, least recently used first, when
// more than `max_loaded` would be in memory.
//
// Algorithm:
//   - A request's `model` picks the catalog entry whose id is the name itself, or the longest
//     id the name starts with followed by '+' (the rest is a suffix the entry's own backend
//     understands, e.g. a reasoning strategy "NAME+sc8"; `suffix_ok` vets it before loading).
//   - acquire() marks the entry in use, then loads it under the entry's own lock (concurrent
//     requests for one model load it once; requests for models already loaded never wait).
//     Before a load that would exceed max_loaded, the least recently used idle entries are
//     unloaded: idle = no request between acquire and the end of chat(), and the instance's
//     backend reports no queued or active sequence. When every loaded entry is busy the
//     request gets a 503 rather than memory beyond the limit.
//   - A call's handle holds its instance (cancel() must stay safe), and the server may drop a
//     handle on the instance's own scheduler thread, where destroying the scheduler would join
//     itself. So an unloaded instance is retired, not destroyed: the library frees retired
//     instances nobody else holds, on request threads (at each acquire and before each load).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "pipeline/backend.h"

namespace rpu {

struct ModelEntry {
  std::string id;            // what requests name and /v1/models lists
  std::string path;          // a GGUF file or a model folder
  std::string adapter_path;  // a LoRA adapter applied to `path` ("base+adapter"), or empty
};

// A loaded model: whatever keeps it alive (weights, scheduler, threads) behind one Backend.
class ModelInstance {
 public:
  virtual ~ModelInstance() = default;
  virtual Backend& backend() = 0;
};

using ModelFactory = std::function<std::unique_ptr<ModelInstance>(const ModelEntry&)>;

class ModelLibrary : public Backend {
 public:
  // `suffix_ok(suffix)`: whether "ID+suffix" names something an instance of ID serves.
  ModelLibrary(std::vector<ModelEntry> entries, ModelFactory factory, int max_loaded,
               std::function<bool(const std::string&)> suffix_ok = {});
  ~ModelLibrary() override;

  std::string model_id() const override;  // the first entry's id
  std::vector<std::string> model_ids() const override;
  bool accepts_model(const std::string& model) const override;
  std::string metrics_text() const override;
  std::unique_ptr<CallHandle> chat(const ChatRequest& request, ChatEventSink sink) override;
  std::unique_ptr<CallHandle> complete(const CompletionRequest& request, ChatEventSink sink) override;
  EmbeddingResult embed(const EmbeddingRequest& request) override;
  RerankResult rerank(const RerankRequest& request) override;
  BackendLoad load() const override;
  int choice_count(const ChatRequest& request) const override;

  // Ids currently in memory, most recently used first (for tests and /metrics).
  std::vector<std::string> loaded_ids() const;

 private:
  struct Slot;
  class Lease;
  const Slot* find(const std::string& model) const;
  Lease acquire(const std::string& model);
  void make_room(Slot& loading);
  // Retired instances only the library still holds, taken out under the lock (freed by the caller).
  std::vector<std::shared_ptr<ModelInstance>> take_unused_retired();

  std::vector<std::unique_ptr<Slot>> slots_;
  ModelFactory factory_;
  int max_loaded_;
  std::function<bool(const std::string&)> suffix_ok_;
  mutable std::mutex mutex_;  // guards every Slot's instance, users and last_used
  std::vector<std::shared_ptr<ModelInstance>> retired_;  // unloaded, maybe still held by a handle
  uint64_t clock_ = 0;
  int64_t loads_ = 0, unloads_ = 0;
};

}  // namespace rpu
