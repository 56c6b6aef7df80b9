// A scripted Backend for tests whose calls only chat: a subclass writes chat(); completions and
// embeddings are named errors.
#pragma once

#include <memory>
#include <string>
#include <utility>

#include "core/error.h"
#include "pipeline/backend.h"

namespace rpu::test {

class ChatOnlyBackend : public Backend {
 public:
  explicit ChatOnlyBackend(std::string id) : id_(std::move(id)) {}
  std::string model_id() const override { return id_; }
  std::unique_ptr<CallHandle> complete(const CompletionRequest&, ChatEventSink) override {
    throw Error(id_ + " only chats");
  }
  EmbeddingResult embed(const EmbeddingRequest&) override { throw Error(id_ + " only chats"); }

 private:
  std::string id_;
};

}  // namespace rpu::test
