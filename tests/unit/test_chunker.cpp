// The chunker (src/retrieval/chunker.h) with two hand-checkable token counters: whitespace
// words and bytes.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "pdf_writer.h"
#include "retrieval/chunker.h"
#include "retrieval/utf8.h"
#include "test_util.h"

namespace {

using rpu::retrieval::Chunk;
using rpu::retrieval::ChunkOptions;
using rpu::retrieval::Chunker;
using rpu::retrieval::DocumentInfo;
using rpu::retrieval::Section;

int count_words(std::string_view text) {
  int n = 0;
  bool in_word = false;
  for (char c : text) {
    const bool space = c == ' ' || c == '\n' || c == '\t' || c == '\r';
    if (!space && !in_word) ++n;
    in_word = !space;
  }
  return n;
}

int count_bytes(std::string_view text) { return static_cast<int>(text.size()); }

Section section(std::string heading, std::string text, int page = 0, bool continues = false) {
  Section s;
  s.heading_path = std::move(heading);
  s.text = std::move(text);
  s.page = page;
  s.continues = continues;
  return s;
}

std::vector<Chunk> chunk(std::vector<Section> sections, ChunkOptions options,
                         rpu::retrieval::TokenCounter counter = count_words) {
  DocumentInfo info;
  info.title = "Doc";
  std::vector<Chunk> out;
  Chunker chunker(info, options, counter, [&](Chunk&& c) { out.push_back(std::move(c)); });
  for (Section& s : sections) chunker.add(std::move(s));
  chunker.finish();
  return out;
}

std::string words(int from, int n, const std::string& end = "") {
  std::string out;
  for (int i = 0; i < n; ++i) {
    if (i > 0) out += ' ';
    out += 'w';
    out += std::to_string(from + i);
  }
  return out + end;
}

void expect_valid(const std::vector<Chunk>& chunks, const ChunkOptions& options,
                  const rpu::retrieval::TokenCounter& counter) {
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    EXPECT_LE(chunks[i].n_tokens, options.max_tokens) << chunks[i].text;
    EXPECT_EQ(chunks[i].n_tokens, counter(chunks[i].text));
    EXPECT_EQ(chunks[i].ordinal, static_cast<int>(i));
    EXPECT_EQ(rpu::retrieval::utf8_valid_prefix(chunks[i].text), chunks[i].text.size());
    EXPECT_FALSE(chunks[i].text.empty());
  }
}

TEST(Chunker, PacksWholeParagraphs) {
  std::string text;
  for (int p = 0; p < 6; ++p) text += std::string(p ? "\n\n" : "") + words(p * 10, 10);
  const ChunkOptions options{25, 0};
  const auto chunks = chunk({section("H", text)}, options);
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_EQ(chunks[0].text, words(0, 10) + "\n\n" + words(10, 10));
  EXPECT_EQ(chunks[2].text, words(40, 10) + "\n\n" + words(50, 10));
  EXPECT_EQ(chunks[0].title, "Doc");
  EXPECT_EQ(chunks[0].heading_path, "H");
  expect_valid(chunks, options, count_words);
}

TEST(Chunker, OverlapCarriesWholeSentences) {
  std::string text;  // 30 sentences of 5 words
  for (int s = 0; s < 30; ++s) text += std::string(s ? " " : "") + words(s * 5, 5, ".");
  const ChunkOptions options{40, 10};
  const auto chunks = chunk({section("", text)}, options);
  ASSERT_GT(chunks.size(), 3u);
  expect_valid(chunks, options, count_words);
  for (std::size_t i = 0; i + 1 < chunks.size(); ++i) {
    // The next chunk starts with the previous one's last two sentences (10 words), verbatim.
    const std::string& prev = chunks[i].text;
    const std::string carried = chunks[i + 1].text.substr(0, chunks[i + 1].text.find('.', chunks[i + 1].text.find('.') + 1) + 1);
    EXPECT_EQ(count_words(carried), 10) << carried;
    EXPECT_TRUE(prev.ends_with(carried)) << prev << " | " << carried;
    EXPECT_TRUE(chunks[i].text.ends_with("."));  // cut at sentence ends
  }
  // All the text is there, in order: the last word of the text ends the last chunk.
  EXPECT_TRUE(chunks.back().text.ends_with(words(145, 5, ".")));
}

TEST(Chunker, LongSentenceSplitsAtWordsWithWordOverlap) {
  const std::string text = words(0, 100);  // one sentence, no terminator
  const ChunkOptions options{20, 5};
  const auto chunks = chunk({section("", text)}, options);
  expect_valid(chunks, options, count_words);
  ASSERT_GT(chunks.size(), 5u);
  EXPECT_EQ(chunks[0].text, words(0, 20));
  EXPECT_EQ(chunks[1].text, words(15, 20));  // 5 words of overlap
  for (const Chunk& c : chunks) EXPECT_NE(text.find(c.text), std::string::npos) << c.text;
  EXPECT_TRUE(chunks.back().text.ends_with("w99"));
}

TEST(Chunker, NeverCrossesSectionBoundaries) {
  const ChunkOptions options{1000, 50};
  const auto chunks = chunk({section("A", "alpha one"), section("A > B", "beta two"), section("A > B", "beta three"),
                             section("A > B", "beta continued", 0, true), section("", "page one", 1),
                             section("", "page two", 2, true)},
                            options);
  ASSERT_EQ(chunks.size(), 5u);
  EXPECT_EQ(chunks[0].text, "alpha one");
  EXPECT_EQ(chunks[0].heading_path, "A");
  EXPECT_EQ(chunks[1].text, "beta two");          // same heading, but a new section (no continues)
  EXPECT_EQ(chunks[2].text, "beta three\n\nbeta continued");  // a continuing section packs on
  EXPECT_EQ(chunks[2].heading_path, "A > B");
  EXPECT_EQ(chunks[3].text, "page one");          // a new page is a new chunk even with continues
  EXPECT_EQ(chunks[3].page_begin, 1);
  EXPECT_EQ(chunks[3].page_end, 1);
  EXPECT_EQ(chunks[4].page_begin, 2);
  expect_valid(chunks, options, count_words);
}

// A byte counter over multi-byte text with no spaces: hard cuts, each on a character boundary.
TEST(Chunker, HardCutsNeverSplitACharacter) {
  std::string text;
  for (int i = 0; i < 40; ++i) text += "日本語のテキストé";
  for (int max : {7, 10, 31}) {
    const ChunkOptions options{max, 0};
    const auto chunks = chunk({section("", text)}, options, count_bytes);
    expect_valid(chunks, options, count_bytes);
    std::string joined;
    for (const Chunk& c : chunks) joined += c.text;
    EXPECT_EQ(joined, text) << max;  // no overlap: the pieces are the text
  }
}

TEST(Chunker, ByteCounterCountsTheJoins) {
  std::string text;
  for (int p = 0; p < 20; ++p) text += std::string(p ? "\n\n" : "") + words(p * 3, 3, ". Then more.");
  const ChunkOptions options{60, 12};
  const auto chunks = chunk({section("", text)}, options, count_bytes);
  expect_valid(chunks, options, count_bytes);
  ASSERT_GT(chunks.size(), 5u);
}

// Sentences stay whole; only the sentence too long for a chunk is cut, between words, and its
// words fill the chunks around it.
TEST(Chunker, SentencesThenWords) {
  const std::string text = "Short one here. " + words(0, 30, ".") + " Last bit.";
  const ChunkOptions options{12, 0};
  const auto chunks = chunk({section("", text)}, options);
  expect_valid(chunks, options, count_words);
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_EQ(chunks[0].text, "Short one here. " + words(0, 9));
  EXPECT_EQ(chunks[1].text, words(9, 12));
  EXPECT_EQ(chunks[2].text, words(21, 9, ".") + " Last bit.");
}

TEST(Chunker, DeterministicAndOptionsChecked) {
  std::string text;
  for (int s = 0; s < 50; ++s) text += std::string(s % 7 == 0 ? "\n\n" : " ") + words(s * 4, 4 + s % 3, s % 2 ? "." : "!");
  const ChunkOptions options{33, 9};
  const auto a = chunk({section("x", text)}, options);
  const auto b = chunk({section("x", text)}, options);
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].text, b[i].text);
    EXPECT_EQ(a[i].byte_begin, b[i].byte_begin);
  }
  EXPECT_THROW(chunk({section("", "a")}, {0, 0}), rpu::Error);
  // An overlap as big as the chunk is clamped (to half), and still terminates.
  const auto c = chunk({section("", words(0, 50))}, {10, 10});
  expect_valid(c, {10, 10}, count_words);
  EXPECT_EQ(c[1].text, words(5, 10));
}

// A counter that is not additive (long texts cost more than their parts, as when a tokenizer
// merges across joins): the whole chunk is checked, and units move to the next chunk.
TEST(Chunker, NonAdditiveCounterStillWithinMax) {
  const auto superlinear = [](std::string_view t) {
    const int w = count_words(t);
    return w + (w > 10 ? w / 2 : 0);
  };
  std::string text;
  for (int s = 0; s < 40; ++s) text += std::string(s ? " " : "") + words(s * 3, 3, ".");
  for (const ChunkOptions options : {ChunkOptions{20, 0}, ChunkOptions{20, 6}}) {
    const auto chunks = chunk({section("", text)}, options, superlinear);
    expect_valid(chunks, options, superlinear);
    ASSERT_GT(chunks.size(), 8u);
    EXPECT_TRUE(chunks.front().text.starts_with("w0 w1 w2."));
    EXPECT_TRUE(chunks.back().text.ends_with("w117 w118 w119.")) << options.overlap_tokens << " " << chunks.back().text;
    for (std::size_t i = 0; i + 1 < chunks.size() && options.overlap_tokens == 0; ++i) {
      EXPECT_TRUE(chunks[i].text.ends_with("."));
    }
  }
}

// Through chunk_document: a chunk's byte range in a .md / .txt file starts with its first
// paragraph verbatim and ends with its last.
TEST(Chunker, OffsetsPointAtTheSourceText) {
  std::string source = "# Manual\n\nIntro paragraph with several words in it.\n\n## Part\n\n";
  for (int p = 0; p < 12; ++p) source += words(p * 9, 9, ". Next sentence here.") + "\nsecond line é.\n\n";
  source += "```\ncode block\n```\n";
  for (const std::string ext : {".md", ".txt"}) {
    const std::string path = rpu::test::temp_path("offsets" + ext);
    rpu::test::write_file(path, source);
    std::vector<Chunk> chunks;
    const ChunkOptions options{20, 6};
    const DocumentInfo info = rpu::retrieval::chunk_document(path, {}, options, count_words,
                                                             [&](Chunk&& c) { chunks.push_back(std::move(c)); });
    ASSERT_GT(chunks.size(), 5u);
    expect_valid(chunks, options, count_words);
    for (const Chunk& c : chunks) {
      EXPECT_EQ(c.title, ext == ".md" ? "Manual" : "# Manual");
      const std::string first = c.text.substr(0, c.text.find("\n\n"));
      const std::string last = c.text.substr(c.text.rfind("\n\n") == std::string::npos ? 0 : c.text.rfind("\n\n") + 2);
      EXPECT_EQ(source.substr(c.byte_begin, first.size()), first) << ext << " chunk " << c.ordinal;
      ASSERT_GE(c.byte_end, last.size());
      EXPECT_EQ(source.substr(c.byte_end - last.size(), last.size()), last) << ext << " chunk " << c.ordinal;
      if (ext == ".md") {
        EXPECT_EQ(c.text.find('#'), std::string::npos);  // a heading is not text in .md
      }
    }
    EXPECT_EQ(info.kind, ext.substr(1));
    EXPECT_EQ(chunks[0].text.starts_with("# Manual"), ext == ".txt");
    if (ext == ".md") {
      EXPECT_EQ(chunks[0].heading_path, "Manual");
      EXPECT_EQ(chunks[1].heading_path, "Manual > Part");
    }
  }
}

// PDF pages through chunk_document: a chunk per page here, with its page and the PDF's title;
// HTML chunks get approximate offsets inside the file.
TEST(Chunker, PdfPagesAndHtmlOffsets) {
  rpu::test::PdfSpec spec;
  spec.pages = {{"First page words."}, {"Second page words."}};
  spec.title = "Pages";
  const std::string pdf_path = rpu::test::temp_path("chunks.pdf");
  rpu::test::write_file(pdf_path, rpu::test::make_pdf(spec));
  std::vector<Chunk> chunks;
  const auto collect = [&](Chunk&& c) { chunks.push_back(std::move(c)); };
  rpu::retrieval::chunk_document(pdf_path, {}, {}, count_words, collect);
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[0].page_begin, 1);
  EXPECT_EQ(chunks[1].page_end, 2);
  EXPECT_EQ(chunks[1].title, "Pages");
  EXPECT_NE(chunks[1].text.find("Second page words."), std::string::npos);

  std::string html = "<html><head><title>H</title></head><body>\n<h1>Top</h1>\n";
  for (int p = 0; p < 30; ++p) html += "<p>" + words(p * 8, 8, ".") + "</p>\n";
  html += "</body></html>\n";
  const std::string html_path = rpu::test::temp_path("chunks.html");
  rpu::test::write_file(html_path, html);
  chunks.clear();
  rpu::retrieval::chunk_document(html_path, {}, {20, 4}, count_words, collect);
  ASSERT_GT(chunks.size(), 10u);
  uint64_t previous = 0;
  for (const Chunk& c : chunks) {
    EXPECT_EQ(c.heading_path, "Top");
    EXPECT_LE(c.byte_begin, c.byte_end);
    EXPECT_LE(c.byte_end, html.size());
    EXPECT_GE(c.byte_begin, previous);
    previous = c.byte_begin;
    // Line granularity: the chunk's first word is on the line its range starts in.
    const std::string first_word = c.text.substr(0, c.text.find(' ')) + ' ';
    const std::size_t line_begin = c.byte_begin == 0 ? 0 : html.rfind('\n', c.byte_begin - 1) + 1;
    const std::size_t line_end = html.find('\n', c.byte_begin);
    EXPECT_NE(html.substr(line_begin, line_end - line_begin).find(first_word), std::string::npos) << c.text;
  }
}

}  // namespace
