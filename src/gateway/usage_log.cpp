#include "gateway/usage_log.h"

#include <algorithm>
#include <map>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/json_text.h"
#include "gateway/usage_store.h"
#include "gateway/vault.h"

namespace rpu::gateway {
namespace {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One successful call as a line of OpenAI's fine-tuning chat format; false for a row this
// version cannot read (skipped, not exported half).
bool write_openai_line(const std::string& request_text, const std::string& response_text, std::ostream& out) {
  using json = nlohmann::ordered_json;
  const std::optional<LoggedExchange> call = read_exchange(request_text, response_text);
  if (!call) return false;
  json line = {{"messages", call->messages}};
  line["messages"].push_back(call->answer);
  if (call->tools.is_array() && !call->tools.empty()) line["tools"] = call->tools;
  out << line.dump(-1, ' ', false, json::error_handler_t::replace) << '\n';
  return true;
}

}  // namespace

UsageLog::UsageLog(UsageLogOptions options, bool start_writer)
    : options_(std::move(options)), store_(open_usage_store(options_.path, StoreAccess::kWrite)) {
  if (start_writer) start();
}

UsageLog::~UsageLog() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (writer_.joinable()) writer_.join();
  if (!queue_.empty()) {  // never started: write what was queued
    std::vector<UsageRecord> rest(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.end()));
    queue_.clear();
    write(rest);
  }
}

void UsageLog::start() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!writer_.joinable()) writer_ = std::thread([this] { run(); });
}

bool UsageLog::submit(UsageRecord record) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (queue_.size() >= options_.queue_capacity) {
      ++stats_.dropped;
      return false;
    }
    queue_.push_back(std::move(record));
    ++submitted_;
  }
  wake_.notify_one();
  return true;
}

void UsageLog::flush() {
  std::unique_lock<std::mutex> lock(mutex_);
  const uint64_t target = submitted_;
  wake_.notify_all();
  written_.wait(lock, [&] { return stats_.written + stats_.write_errors >= target || !writer_.joinable(); });
}

UsageLogStats UsageLog::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  UsageLogStats s = stats_;
  s.queued = queue_.size();
  return s;
}

void UsageLog::run() {
  std::vector<UsageRecord> batch;
  bool last_failed = false;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait_for(lock, options_.flush_interval,
                     [&] { return stopping_ || queue_.size() >= options_.batch_rows; });
      if (queue_.empty() && stopping_) return;
      if (stopping_ && last_failed) {
        // Shutting down with the store unreachable: a retry per batch could hold the exit for a
        // connect timeout each, so what is left counts as failed at once.
        stats_.write_errors += queue_.size();
        queue_.clear();
        written_.notify_all();
        return;
      }
      const size_t n = std::min(queue_.size(), options_.batch_rows);
      batch.assign(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.begin() + static_cast<std::ptrdiff_t>(n)));
      queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
    }
    if (batch.empty()) continue;
    last_failed = !write(batch);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      (last_failed ? stats_.write_errors : stats_.written) += batch.size();
    }
    written_.notify_all();
    batch.clear();
  }
}

bool UsageLog::write(const std::vector<UsageRecord>& batch) {
  try {
    store_->write_batch(batch);
  } catch (const std::exception&) {
    return false;  // counted by the caller; the gateway keeps serving
  }
  try {
    const int64_t oldest = options_.retention_days > 0 ? now_ms() - options_.retention_days * 86'400'000 : 0;
    store_->apply_retention(oldest, options_.max_rows);
  } catch (const std::exception&) {
    // The rows are written, so they are not errors; retention runs again after the next batch
    // (with several gateways on one PostgreSQL log, two deletes may collide).
  }
  return true;
}

std::optional<LoggedExchange> read_exchange(const std::string& request_json, const std::string& response_json) {
  using json = nlohmann::ordered_json;
  json request, response;
  try {
    request = parse_json_text<json>(request_json, "logged request");
    response = parse_json_text<json>(response_json, "logged response");
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (response.is_array()) response = response.empty() ? json() : response[0];
  if (!request.is_object() || !request.contains("messages") || !request["messages"].is_array() ||
      !response.is_object()) {
    return std::nullopt;
  }
  LoggedExchange exchange{request["messages"], request.contains("tools") ? request["tools"] : json(), response};
  if (request.contains("max_tokens") && request["max_tokens"].is_number_integer()) {
    exchange.max_tokens = std::max(0, request["max_tokens"].get<int>());
  }
  return exchange;
}

std::vector<UsageSummaryRow> summarize_usage(const std::string& location) {
  return open_usage_store(location, StoreAccess::kRead)->summarize();
}

int64_t export_openai_jsonl(const std::string& location, std::ostream& out, const Vault* reveal_with) {
  const auto store = open_usage_store(location, StoreAccess::kRead);
  int64_t lines = 0;
  store->each_row(0, [&](int64_t, const UsageRecord& row) {
    // Training data is what a client was answered: successful primary calls with an answer.
    if (!row.error.empty() || row.response_json.empty() || row.kind != "primary") return;
    const std::string &request = row.request_json, &response = row.response_json, &vault = row.vault;
    if (reveal_with == nullptr || vault.empty()) {
      if (write_openai_line(request, response, out)) ++lines;
      return;
    }
    // The placeholders stand inside JSON strings: their values go in JSON-escaped.
    std::map<std::string, std::string> escaped;
    for (const auto& [placeholder, value] : reveal_with->open_mapping(vault)) {
      const std::string quoted = nlohmann::json(value).dump();
      escaped[placeholder] = quoted.substr(1, quoted.size() - 2);
    }
    if (write_openai_line(reveal(request, escaped), reveal(response, escaped), out)) ++lines;
  });
  return lines;
}

}  // namespace rpu::gateway
