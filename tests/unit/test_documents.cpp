// Document readers (src/retrieval/document.h): sections, heading paths, offsets and errors for
// each format, on files written into a temporary folder by the tests themselves.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "pdf_writer.h"
#include "retrieval/document.h"
#include "retrieval/utf8.h"
#include "test_util.h"

namespace {

using rpu::retrieval::DocumentError;
using rpu::retrieval::DocumentInfo;
using rpu::retrieval::ReadOptions;
using rpu::retrieval::Section;

std::string write(const std::string& name, const std::string& bytes) {
  const std::string path = rpu::test::temp_path(name);
  rpu::test::write_file(path, bytes);
  return path;
}

struct Read {
  DocumentInfo info;
  std::vector<Section> sections;
};

Read read(const std::string& path, const ReadOptions& options = {}) {
  Read r;
  r.info = rpu::retrieval::read_document(path, options, [&](Section&& s) { r.sections.push_back(std::move(s)); });
  return r;
}

// The read's error message ("" when it succeeded).
std::string error_of(const std::string& path, const ReadOptions& options = {}) {
  try {
    read(path, options);
  } catch (const DocumentError& e) {
    return e.what();
  }
  return "";
}

std::vector<std::string> paragraphs(const Section& s) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos <= s.text.size()) {
    std::size_t end = s.text.find("\n\n", pos);
    if (end == std::string::npos) end = s.text.size();
    out.push_back(s.text.substr(pos, end - pos));
    pos = end + 2;
  }
  return out;
}

// Every paragraph of every section is its source bytes verbatim at its span.
void expect_exact_spans(const std::string& source, const std::vector<Section>& sections) {
  for (const Section& s : sections) {
    const auto paras = paragraphs(s);
    ASSERT_EQ(paras.size(), s.paragraph_spans.size()) << s.text;
    for (std::size_t i = 0; i < paras.size(); ++i) {
      const auto& span = s.paragraph_spans[i];
      EXPECT_EQ(source.substr(span.begin, span.end - span.begin), paras[i]);
    }
    EXPECT_EQ(s.byte_begin, s.paragraph_spans.front().begin);
    EXPECT_EQ(s.byte_end, s.paragraph_spans.back().end);
  }
}

TEST(Documents, TxtParagraphsTitleAndHash) {
  const std::string source = "  Getting started  \n\nFirst paragraph,\nsecond line.\n\n\n\n  \nSecond paragraph.\n";
  const std::string path = write("notes.txt", source);
  const Read r = read(path);
  EXPECT_EQ(r.info.kind, "txt");
  EXPECT_EQ(r.info.title, "Getting started");
  EXPECT_EQ(r.info.bytes, source.size());
  EXPECT_EQ(r.info.sha256, rpu::retrieval::sha256_file(path));
  ASSERT_EQ(r.sections.size(), 1u);
  EXPECT_EQ(r.sections[0].heading_path, "");
  EXPECT_EQ(r.sections[0].text, "  Getting started  \n\nFirst paragraph,\nsecond line.\n\nSecond paragraph.");
  EXPECT_EQ(r.sections[0].page, 0);
  EXPECT_FALSE(r.sections[0].continues);
  expect_exact_spans(source, r.sections);
}

TEST(Documents, Sha256OfKnownText) {
  EXPECT_EQ(rpu::retrieval::sha256_file(write("abc.txt", "abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Documents, TxtCrLfLinesAndBom) {
  const Read r = read(write("crlf.txt", "\xEF\xBB\xBFone\r\ntwo\r\n\r\nthree"));
  ASSERT_EQ(r.sections.size(), 1u);
  EXPECT_EQ(r.sections[0].text, "one\ntwo\n\nthree");
  EXPECT_EQ(r.info.title, "one");
  EXPECT_EQ(r.sections[0].byte_begin, 3u);  // after the byte order mark
}

TEST(Documents, TxtTitleFallsBackToFileName) {
  EXPECT_EQ(read(write("empty.txt", "\n  \n")).info.title, "empty.txt");
}

// A buffer much smaller than the file and small sections: the same paragraphs come out, in
// continuing sections, with exact spans; a line longer than a section is cut at characters.
TEST(Documents, TxtStreamsThroughSmallBuffer) {
  std::string source;
  std::vector<std::string> expected;
  for (int i = 0; i < 300; ++i) {
    std::string p = "Paragraph " + std::to_string(i) + " é ü 日本 with some words";
    if (i % 7 == 0) p += "\nand a second line";
    expected.push_back(p);
    source += p + (i % 5 == 0 ? "\n\n\n" : "\n\n");
  }
  std::string long_line;
  while (long_line.size() < 3000) long_line += "日本語é";
  source += long_line + "\n";
  ReadOptions options;
  options.buffer_bytes = 64;
  options.max_section_bytes = 1024;
  const std::string path = write("big.txt", source);
  const Read r = read(path, options);
  ASSERT_GT(r.sections.size(), 10u);
  EXPECT_FALSE(r.sections[0].continues);
  std::vector<std::string> got;
  std::string tail;
  for (const Section& s : r.sections) {
    EXPECT_LE(s.text.size(), 1024u);
    EXPECT_EQ(rpu::retrieval::utf8_valid_prefix(s.text), s.text.size());
    if (&s != &r.sections[0]) {
      EXPECT_TRUE(s.continues);
    }
    for (const std::string& p : paragraphs(s)) {
      if (got.size() < expected.size()) {
        got.push_back(p);
      } else {
        tail += p;  // the pieces of the long line
      }
    }
  }
  EXPECT_EQ(got, expected);
  EXPECT_EQ(tail, long_line);
  expect_exact_spans(source, r.sections);
  EXPECT_EQ(r.info.sha256, rpu::retrieval::sha256_file(path));
}

TEST(Documents, MarkdownHeadingPathsAndOffsets) {
  const std::string source =
      "Intro text before any heading.\n"
      "\n"
      "# Guide\n"
      "\n"
      "Welcome to the guide.\n"
      "\n"
      "## Install ##\n"
      "Run the installer.\n"
      "\n"
      "```sh\n"
      "# not a heading\n"
      "make install\n"
      "```\n"
      "\n"
      "### From source\n"
      "Clone it.\n"
      "\n"
      "Usage\n"
      "-----\n"
      "Call it.\n"
      "\n"
      "Other Part\n"
      "==========\n"
      "#hashtag is text\n"
      "\n"
      "- a list item\n"
      "---\n"
      "After the rule.\n";
  const Read r = read(write("guide.md", source));
  EXPECT_EQ(r.info.kind, "md");
  EXPECT_EQ(r.info.title, "Guide");
  ASSERT_EQ(r.sections.size(), 6u);
  EXPECT_EQ(r.sections[0].heading_path, "");
  EXPECT_EQ(r.sections[0].text, "Intro text before any heading.");
  EXPECT_EQ(r.sections[1].heading_path, "Guide");
  EXPECT_EQ(r.sections[2].heading_path, "Guide > Install");
  EXPECT_EQ(r.sections[2].text, "Run the installer.\n\n```sh\n# not a heading\nmake install\n```");
  EXPECT_EQ(r.sections[3].heading_path, "Guide > Install > From source");
  EXPECT_EQ(r.sections[4].heading_path, "Guide > Usage");
  EXPECT_EQ(r.sections[4].text, "Call it.");
  EXPECT_EQ(r.sections[5].heading_path, "Other Part");
  EXPECT_EQ(r.sections[5].text, "#hashtag is text\n\n- a list item\n\nAfter the rule.");
  for (const Section& s : r.sections) EXPECT_FALSE(s.continues);
  expect_exact_spans(source, r.sections);
  EXPECT_EQ(source.substr(r.sections[3].byte_begin, 9), "Clone it.");
}

TEST(Documents, MarkdownUnclosedFenceAndTitleFallback) {
  const Read r = read(write("code.md", "## Only H2\n\n```\n# inside\n\n# still inside\n"));
  EXPECT_EQ(r.info.title, "code.md");  // no level-1 heading
  ASSERT_EQ(r.sections.size(), 1u);
  EXPECT_EQ(r.sections[0].heading_path, "Only H2");
  EXPECT_EQ(r.sections[0].text, "```\n# inside\n\n# still inside");
}

// Sections merged over `continues`: (heading path, text) per run.
std::vector<std::pair<std::string, std::string>> runs(const std::vector<Section>& sections) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const Section& s : sections) {
    if (s.continues && !out.empty()) {
      out.back().second += "\n\n" + s.text;
    } else {
      out.emplace_back(s.heading_path, s.text);
    }
  }
  return out;
}

// The same Markdown read through a 32-byte buffer into 100-byte sections gives the same runs of
// text under the same headings; fences of either kind and any length hide headings.
TEST(Documents, MarkdownStreamsThroughSmallBuffer) {
  std::string source;
  for (int h = 0; h < 20; ++h) {
    source += std::string(1 + h % 3, '#') + " Heading " + std::to_string(h) + "\n\n";
    for (int p = 0; p < 4; ++p) source += "Paragraph " + std::to_string(p) + " of section " + std::to_string(h) + ", é日本.\n\n";
    if (h % 4 == 0) source += "````md\n```\n# fenced\n```\n````\n\n~~~\n## tilde fenced\n~~~\n\n";
  }
  ReadOptions small;
  small.buffer_bytes = 32;
  small.max_section_bytes = 100;
  const std::string path = write("stream.md", source);
  const Read whole = read(path);
  const Read streamed = read(path, small);
  EXPECT_GT(streamed.sections.size(), whole.sections.size());
  EXPECT_EQ(runs(streamed.sections), runs(whole.sections));
  ASSERT_EQ(runs(whole.sections).size(), 20u);
  EXPECT_EQ(whole.sections[1].heading_path, "Heading 0 > Heading 1");
  EXPECT_EQ(whole.sections[3].heading_path, "Heading 3");
  EXPECT_NE(whole.sections[0].text.find("# fenced"), std::string::npos);
  EXPECT_NE(whole.sections[0].text.find("## tilde fenced"), std::string::npos);
  expect_exact_spans(source, streamed.sections);
  EXPECT_EQ(streamed.info.sha256, whole.info.sha256);
}

TEST(Documents, MarkdownFrontMatter) {
  const std::string source = "---\ntitle: \"Site Page\"\ntags: [a, b]\n---\n\n# Heading\n\nBody.\n";
  const Read r = read(write("front.md", source));
  EXPECT_EQ(r.info.title, "Site Page");
  ASSERT_EQ(r.sections.size(), 1u);
  EXPECT_EQ(r.sections[0].heading_path, "Heading");
  EXPECT_EQ(r.sections[0].text, "Body.");
  // Not closed: the lines were text after all (the "---" a thematic break).
  const Read open = read(write("open.md", "---\nnot: front matter\n\nstill text\n"));
  EXPECT_EQ(open.info.title, "open.md");
  ASSERT_EQ(open.sections.size(), 1u);
  EXPECT_EQ(open.sections[0].text, "not: front matter\n\nstill text");
  expect_exact_spans("---\nnot: front matter\n\nstill text\n", open.sections);
}

TEST(Documents, HtmlTitleHeadingsAndSkippedElements) {
  const std::string source =
      "<!DOCTYPE html><html><head><title>The &amp; Title</title><style>p { color: red }</style>"
      "<script>var hidden = 1;</script></head><body>"
      "<nav><a href='/'>Home</a> menu</nav>"
      "<h1>Main</h1><p>First   paragraph\n with <b>bold</b> caf&eacute;.</p>"
      "<h2>Sub</h2><ul><li>one</li><li>two</li></ul>"
      "<table><tr><th>k</th><td>v</td></tr></table>"
      "<script>document.write('no')</script>"
      "<pre>line 1\n  line 2</pre>"
      "<h2>Next</h2><blockquote>Quoted<br>text</blockquote>"
      "<p>Unclosed paragraph"
      "</body></html>";
  const Read r = read(write("page.html", source));
  EXPECT_EQ(r.info.kind, "html");
  EXPECT_EQ(r.info.title, "The & Title");
  ASSERT_EQ(r.sections.size(), 3u);
  EXPECT_EQ(r.sections[0].heading_path, "Main");
  EXPECT_EQ(r.sections[0].text, "First paragraph with bold café.");
  EXPECT_EQ(r.sections[1].heading_path, "Main > Sub");
  EXPECT_EQ(r.sections[1].text, "one\n\ntwo\n\nk | v\n\nline 1\n  line 2");
  EXPECT_EQ(r.sections[2].heading_path, "Main > Next");
  EXPECT_EQ(r.sections[2].text, "Quoted\ntext\n\nUnclosed paragraph");
  for (const Section& s : r.sections) {
    EXPECT_EQ(s.text.find("hidden"), std::string::npos);
    EXPECT_EQ(s.text.find("menu"), std::string::npos);
    EXPECT_LE(s.byte_end, source.size());
  }
}

TEST(Documents, HtmlTitleFromFirstH1AndBrokenMarkup) {
  const Read r = read(write("frag.htm", "<div><h1>Heading <i>one</i></h1><p>a<p>b</div></span><td>c"));
  EXPECT_EQ(r.info.title, "Heading one");
  ASSERT_EQ(r.sections.size(), 1u);
  EXPECT_EQ(r.sections[0].text, "a\n\nb\n\nc");
}

// A paragraph longer than a section is cut; its pieces keep spans inside the file (found by the
// documents fuzzer: pieces of HTML text used to get offsets as if they were verbatim).
TEST(Documents, HtmlLongParagraphSpansStayInTheFile) {
  std::string source = "<p>";
  for (int i = 0; i < 200; ++i) source += "word&amp;" + std::to_string(i) + " ";
  source += "</p>\n<p>next</p>";
  ReadOptions options;
  options.max_section_bytes = 100;
  const Read r = read(write("long.html", source), options);
  ASSERT_GT(r.sections.size(), 10u);
  uint64_t previous = 0;
  for (const Section& s : r.sections) {
    EXPECT_LE(s.text.size(), 100u);
    EXPECT_LE(s.byte_begin, s.byte_end);
    EXPECT_LE(s.byte_end, source.size());
    EXPECT_GE(s.byte_begin, previous);
    previous = s.byte_begin;
  }
  EXPECT_TRUE(r.sections.back().text.ends_with("word&199\n\nnext")) << r.sections.back().text;
}

TEST(Documents, JsonlRecordsAndFields) {
  const std::string source =
      "{\"text\": \"First record.\\n\\nIts second paragraph.\", \"title\": \"One\"}\n"
      "\n"
      "{\"text\": \"No title here.\", \"id\": 7}\n"
      "{\"text\": \"Same title again.\", \"title\": \"One\"}\n"
      "{\"text\": \"\"}\n";
  const Read r = read(write("data.jsonl", source));
  EXPECT_EQ(r.info.kind, "jsonl");
  EXPECT_EQ(r.info.title, "data.jsonl");
  ASSERT_EQ(r.sections.size(), 3u);
  EXPECT_EQ(r.sections[0].heading_path, "One");
  EXPECT_EQ(r.sections[0].text, "First record.\n\nIts second paragraph.");
  EXPECT_EQ(r.sections[1].heading_path, "");
  EXPECT_EQ(r.sections[2].heading_path, "One");
  for (const Section& s : r.sections) EXPECT_FALSE(s.continues);  // a record never joins the one before
  // Spans point at the record's line.
  EXPECT_EQ(r.sections[1].byte_begin, source.find("{\"text\": \"No title"));
  EXPECT_EQ(source[r.sections[1].byte_end], '\n');

  ReadOptions options;
  options.jsonl_text_field = "body";
  options.jsonl_title_field = "name";
  const Read custom = read(write("custom.jsonl", "{\"body\": \"B\", \"name\": \"N\", \"text\": 1}\n"), options);
  ASSERT_EQ(custom.sections.size(), 1u);
  EXPECT_EQ(custom.sections[0].text, "B");
  EXPECT_EQ(custom.sections[0].heading_path, "N");
}

TEST(Documents, JsonlBigRecordContinues) {
  ReadOptions options;
  options.max_section_bytes = 100;
  std::string text;
  for (int i = 0; i < 40; ++i) text += "word" + std::to_string(i) + (i % 10 == 9 ? "\\n\\n" : " ");
  const Read r = read(write("big.jsonl", "{\"text\": \"" + text + "\", \"title\": \"T\"}\n{\"text\": \"x\"}\n"), options);
  ASSERT_GE(r.sections.size(), 4u);
  EXPECT_FALSE(r.sections.front().continues);
  for (std::size_t i = 1; i + 1 < r.sections.size(); ++i) {
    EXPECT_TRUE(r.sections[i].continues);
    EXPECT_EQ(r.sections[i].heading_path, "T");
  }
  EXPECT_FALSE(r.sections.back().continues);  // the next record
  EXPECT_EQ(r.sections.back().text, "x");
}

// A bad record is an error naming file:line (not skipped: a silent hole in a knowledge base is worse).
TEST(Documents, JsonlBadLinesAreErrors) {
  const std::string ok = "{\"text\": \"fine\"}\n";
  std::string e = error_of(write("bad1.jsonl", ok + ok + "{\"text\": \"unterminated}\n" + ok));
  EXPECT_NE(e.find("bad1.jsonl:3: "), std::string::npos) << e;
  e = error_of(write("bad2.jsonl", ok + "{\"title\": \"x\"}\n"));
  EXPECT_NE(e.find("bad2.jsonl:2: no \"text\" field"), std::string::npos) << e;
  e = error_of(write("bad3.jsonl", "[1, 2]\n"));
  EXPECT_NE(e.find("bad3.jsonl:1: "), std::string::npos) << e;
  EXPECT_NE(e.find("not a JSON object"), std::string::npos) << e;
  e = error_of(write("bad4.jsonl", "{\"text\": 42}\n"));
  EXPECT_NE(e.find("bad4.jsonl:1: field \"text\" is number"), std::string::npos) << e;
  ReadOptions small;
  small.max_jsonl_line_bytes = 64;
  e = error_of(write("bad5.jsonl", ok + "{\"text\": \"" + std::string(200, 'x') + "\"}\n"), small);
  EXPECT_NE(e.find("bad5.jsonl:2: line longer than 64 bytes"), std::string::npos) << e;
  e = error_of(write("deep.jsonl", std::string(1000, '[') + "\n"));
  EXPECT_NE(e.find("deep.jsonl:1: "), std::string::npos) << e;
}

TEST(Documents, BinaryFilesAreRejected) {
  std::string e = error_of(write("nul.txt", std::string("text\0more", 9)));
  EXPECT_NE(e.find("nul.txt: binary file (NUL byte at offset 4)"), std::string::npos) << e;
  e = error_of(write("ctrl.md", std::string(100, '\x01') + "abc"));
  EXPECT_NE(e.find("binary file"), std::string::npos) << e;
  e = error_of(write("utf16.txt", std::string("\xFF\xFEh\0i\0", 6)));
  EXPECT_NE(e.find("UTF-16"), std::string::npos) << e;
  // A NUL past the sniffed head is still found, by the streaming reader.
  ReadOptions options;
  options.buffer_bytes = 4096;
  const std::string late = std::string(100000, 'a') + std::string(1, '\0');
  e = error_of(write("late.txt", late), options);
  EXPECT_NE(e.find("binary file (NUL byte at offset 100000)"), std::string::npos) << e;
  e = error_of(write("nul.html", std::string("<p>a\0b</p>", 10)));
  EXPECT_NE(e.find("binary file"), std::string::npos) << e;
}

// Invalid UTF-8 is an error naming the byte (text is never silently altered).
TEST(Documents, InvalidUtf8IsAnErrorNamingTheByte) {
  std::string e = error_of(write("bad.txt", "hello\nwor\xC3\x28ld\n"));
  EXPECT_NE(e.find("bad.txt: invalid UTF-8 at byte 9 (line 2)"), std::string::npos) << e;
  e = error_of(write("overlong.md", "# T\n\xC0\xAF\n"));
  EXPECT_NE(e.find("invalid UTF-8 at byte 4"), std::string::npos) << e;
  // Past the first buffer, in a cut line, and a sequence truncated by the end of the file.
  ReadOptions options;
  options.buffer_bytes = 100;
  options.max_section_bytes = 300;
  e = error_of(write("late.txt", std::string(5000, 'x') + "\xE6\x97" + "x"), options);
  EXPECT_NE(e.find("invalid UTF-8 at byte 5000"), std::string::npos) << e;
  e = error_of(write("end.txt", "abc\xE6\x97"));
  EXPECT_NE(e.find("invalid UTF-8 at byte 3"), std::string::npos) << e;
  e = error_of(write("bad.jsonl", "{\"text\": \"a\xFF\"}\n"));
  EXPECT_NE(e.find("invalid UTF-8 at byte 11"), std::string::npos) << e;
}

TEST(Documents, UnsupportedMissingAndDirectory) {
  std::string e = error_of(write("report.docx", "PK"));
  EXPECT_NE(e.find("report.docx: unsupported extension '.docx'"), std::string::npos) << e;
  e = error_of(write("README", "text"));
  EXPECT_NE(e.find("unsupported extension ''"), std::string::npos) << e;
  e = error_of(rpu::test::temp_path("missing.txt"));
  EXPECT_NE(e.find("missing.txt: cannot open"), std::string::npos) << e;
  const std::string dir = rpu::test::temp_path("folder.md");
  std::filesystem::create_directories(dir);
  e = error_of(dir);
  EXPECT_NE(e.find("not a regular file"), std::string::npos) << e;
  // The kind can be forced for a file without a known extension.
  ReadOptions options;
  options.kind = "md";
  EXPECT_EQ(read(write("README2", "# Readme\ntext\n"), options).info.title, "Readme");
  EXPECT_THROW(rpu::retrieval::sha256_file(rpu::test::temp_path("missing2.txt")), DocumentError);
}

TEST(Documents, PdfPagesAndTitle) {
  rpu::test::PdfSpec spec;
  spec.pages = {{"Hello PDF world.", "Second line."}, {"Page two text."}};
  spec.title = "A Test Document";
  const std::string pdf = rpu::test::make_pdf(spec);
  const Read r = read(write("doc.pdf", pdf));
  EXPECT_EQ(r.info.kind, "pdf");
  EXPECT_EQ(r.info.title, "A Test Document");
  EXPECT_EQ(r.info.bytes, pdf.size());
  ASSERT_EQ(r.sections.size(), 2u);
  EXPECT_EQ(r.sections[0].page, 1);
  EXPECT_EQ(r.sections[1].page, 2);
  EXPECT_NE(r.sections[0].text.find("Hello PDF world."), std::string::npos) << r.sections[0].text;
  EXPECT_NE(r.sections[0].text.find("Second line."), std::string::npos) << r.sections[0].text;
  EXPECT_NE(r.sections[1].text.find("Page two text."), std::string::npos) << r.sections[1].text;
  EXPECT_EQ(r.sections[0].heading_path, "");
  EXPECT_FALSE(r.sections[1].continues);
  spec.title.clear();
  EXPECT_EQ(read(write("untitled.pdf", rpu::test::make_pdf(spec))).info.title, "untitled.pdf");
}

TEST(Documents, PdfEncryptedBrokenAndNotPdf) {
  rpu::test::PdfSpec spec;
  spec.pages = {{"Secret."}};
  spec.encrypted = true;
  std::string e = error_of(write("locked.pdf", rpu::test::make_pdf(spec)));
  EXPECT_NE(e.find("locked.pdf: encrypted PDF"), std::string::npos) << e;
  e = error_of(write("broken.pdf", "%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages"));
  EXPECT_NE(e.find("broken.pdf: broken PDF"), std::string::npos) << e;
  spec.encrypted = false;
  const std::string good = rpu::test::make_pdf(spec);
  e = error_of(write("truncated.pdf", good.substr(0, good.size() / 3)));
  EXPECT_NE(e.find("truncated.pdf: broken PDF"), std::string::npos) << e;
  e = error_of(write("fake.pdf", "just text"));
  EXPECT_NE(e.find("fake.pdf: not a PDF file"), std::string::npos) << e;
  ReadOptions small;
  small.max_whole_file_bytes = 100;
  e = error_of(write("big.pdf", good), small);
  EXPECT_NE(e.find("over the 100-byte limit"), std::string::npos) << e;
}

TEST(Documents, OnStartComesFirstWithTheTitle) {
  std::vector<std::string> events;
  ReadOptions options;
  options.on_start = [&](const DocumentInfo& info) { events.push_back("start " + info.title + " " + info.kind); };
  rpu::retrieval::read_document(write("start.md", "intro\n\n# The Title\n\ntext\n"), options,
                                [&](Section&& s) { events.push_back(s.text); });
  EXPECT_EQ(events, (std::vector<std::string>{"start The Title md", "intro", "text"}));
}

}  // namespace
