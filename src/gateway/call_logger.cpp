#include "gateway/call_logger.h"

#include "core/json_text.h"

namespace rpu::gateway {
namespace {

constexpr const char* kRemoved = "<UNSCRUBBED_REMOVED>";

// {"messages": [...], "tools": [...], ...} or [messages...]: every message scrubbed; other
// strings (tool schemas, a legacy prompt) scrubbed as text.
std::string scrub_json_text(ScrubSession& session, const std::string& text) {
  if (text.empty()) return text;
  // In the caller's key order: the conversion loop trains specialists on these requests and the
  // gateway serves them the caller's (sorted keys put a tool's "description" before its "name"
  // and its parameters in alphabetical order, a prompt the specialist never sees when serving).
  nlohmann::ordered_json value;
  try {
    value = parse_json_text<nlohmann::ordered_json>(text, "logged call");
  } catch (const std::exception&) {
    return session.scrub(text);
  }
  if (value.is_object() && value.contains("messages")) {
    session.scrub_messages(value["messages"]);
    for (auto it = value.begin(); it != value.end(); ++it) {
      if (it.key() != "messages") session.scrub_strings(it.value());
    }
  } else if (value.is_array()) {
    session.scrub_messages(value);
  } else {
    session.scrub_strings(value);
  }
  return value.dump();
}

}  // namespace

UsageRecord scrub_record(const Scrubber& scrubber, UsageRecord record, const Vault* vault) {
  ScrubSession session(scrubber);
  auto safely = [&](std::string& text, bool json) {
    try {
      text = json ? scrub_json_text(session, text) : session.scrub(text);
    } catch (const std::exception&) {
      text = kRemoved;  // fail closed: what could not be scrubbed is not written
    }
  };
  safely(record.request_json, true);
  safely(record.response_json, true);
  safely(record.error, false);
  if (vault != nullptr) {
    std::map<std::string, std::string> placeholders;
    for (const auto& [value, placeholder] : session.mapping()) placeholders[placeholder] = value;
    record.vault = vault->seal_mapping(placeholders);
  }
  return record;
}

CallLogger::CallLogger(UsageLog& log, const Scrubber* scrubber, size_t queue_capacity, const Vault* vault)
    : log_(log), scrubber_(scrubber), vault_(vault), capacity_(queue_capacity), worker_([this] { run(); }) {}

CallLogger::~CallLogger() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  worker_.join();
}

bool CallLogger::submit(UsageRecord raw) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (queue_.size() >= capacity_) {
      ++stats_.dropped;
      return false;
    }
    ++stats_.submitted;
    queue_.push_back(std::move(raw));
  }
  wake_.notify_one();
  return true;
}

void CallLogger::flush() {
  {
    std::unique_lock<std::mutex> lock(mutex_);
    idle_.wait(lock, [&] { return queue_.empty() && !busy_; });
  }
  log_.flush();
}

CallLogger::Stats CallLogger::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  Stats s = stats_;
  s.queued = queue_.size() + (busy_ ? 1 : 0);
  return s;
}

void CallLogger::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) break;  // stopping, and everything handed over
    UsageRecord record = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    lock.unlock();
    if (scrubber_ != nullptr) record = scrub_record(*scrubber_, std::move(record), vault_);
    log_.submit(std::move(record));
    lock.lock();
    busy_ = false;
    if (queue_.empty()) idle_.notify_all();
  }
  idle_.notify_all();
}

}  // namespace rpu::gateway
