// .jsonl: one JSON object per line; its text field (ReadOptions::jsonl_text_field) is a section
// of its own, under the title field as heading path. A record never shares a chunk with the next
// one. A line that is not a JSON object, or whose text field is missing or not a string, is a
// DocumentError naming file:line: skipping it would silently leave a hole in the knowledge base.
// Blank lines are skipped; an empty text field gives no section.
#include <nlohmann/json.hpp>

#include "core/json_text.h"
#include "retrieval/line_reader.h"
#include "retrieval/readers.h"
#include "retrieval/section_builder.h"
#include "retrieval/utf8.h"

namespace rpu::retrieval {
namespace {

[[noreturn]] void bad_line(const ReaderContext& ctx, const Line& line, const std::string& problem) {
  throw DocumentError(ctx.file.name() + ":" + std::to_string(line.number) + ": " + problem);
}

// The string at `field`, or nullptr when absent or null; a DocumentError when it is another type.
const std::string* string_field(const ReaderContext& ctx, const Line& line, const nlohmann::json& record,
                                const std::string& field) {
  const auto it = record.find(field);
  if (it == record.end() || it->is_null()) return nullptr;
  if (!it->is_string()) bad_line(ctx, line, "field \"" + field + "\" is " + it->type_name() + ", not a string");
  return it->get_ptr<const std::string*>();
}

void read_record(ReaderContext& ctx, SectionBuilder& builder, const Line& line) {
  nlohmann::json record;
  try {
    record = parse_json_text(line.text, "record");
  } catch (const rpu::Error& e) {
    bad_line(ctx, line, std::string(e.what()).substr(8));  // drop our "record: " prefix
  }
  if (!record.is_object()) bad_line(ctx, line, std::string("a ") + record.type_name() + ", not a JSON object");
  const std::string* text = string_field(ctx, line, record, ctx.options.jsonl_text_field);
  if (text == nullptr) bad_line(ctx, line, "no \"" + ctx.options.jsonl_text_field + "\" field");
  const std::string* title = string_field(ctx, line, record, ctx.options.jsonl_title_field);
  builder.start(title ? std::string(utf8_truncate(*title, ctx.options.max_title_bytes)) : std::string());
  // The text is JSON-escaped in the file, so its paragraphs all point at the record's line.
  builder.add_text(*text, line.begin, line.end());
  builder.finish();
}

}  // namespace

void read_jsonl(ReaderContext& ctx) {
  ctx.started();
  // A record cannot be cut, so a line may be as long as max_jsonl_line_bytes; one piece longer
  // than that is the error below.
  LineReader lines(ctx.file, &ctx.hash, ctx.options.buffer_bytes, ctx.options.max_jsonl_line_bytes);
  SectionBuilder builder(ctx.options.max_section_bytes, ctx.emit);
  Line line;
  while (lines.next(line)) {
    if (line.cut) {
      bad_line(ctx, line, "line longer than " + std::to_string(ctx.options.max_jsonl_line_bytes) +
                              " bytes (ReadOptions::max_jsonl_line_bytes)");
    }
    if (is_blank(line.text)) continue;
    read_record(ctx, builder, line);
  }
}

}  // namespace rpu::retrieval
