# Fuzz target `documents`: the knowledge-base document readers (txt, md, html, jsonl) and the
# chunker (fuzz/documents_fuzzer.cpp). Sourced by fuzz/run_fuzz.sh.
sources=(src/retrieval/chunker.cpp src/retrieval/document.cpp src/retrieval/html_reader.cpp
         src/retrieval/input_file.cpp src/retrieval/jsonl_reader.cpp src/retrieval/line_reader.cpp
         src/retrieval/markdown_reader.cpp src/retrieval/pdf_reader.cpp src/retrieval/section_builder.cpp
         src/retrieval/text_reader.cpp src/retrieval/text_units.cpp src/retrieval/utf8.cpp
         src/core/json_text.cpp src/core/text.cpp)
libs=(-lfmt -lxml2 -lpoppler-cpp -lcrypto)
# shellcheck disable=SC2207  # pkg-config's words are the flags
cxxflags=($(pkg-config --cflags libxml-2.0 poppler-cpp))

seeds() {  # the first byte picks the format and the sizes (documents_fuzzer.cpp); the rest is the file
  local i=0 body
  seed() { printf "\\x$(printf %02x "$1")%s" "$2" >"$corpus/seed_$((i++))"; }
  body=$'# Title\n\nIntro text. Second sentence!\n\n## Part ##\n```\n# code\n\n```\nSetext\n---\n- item\n---\n\xc3\xa9\xe6\x97\xa5 text\r\n'
  seed 1 "$body"
  seed 29 "$body"
  seed 0 $'Title line\n\npara one\nline two\n\n\n\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e words words words. More.\n'
  seed 12 "$(head -c 300 /dev/zero | tr '\0' 'x')"
  seed 2 '<html><head><title>T &amp; x</title><script>var a;</script></head><body><nav>n</nav><h1>A</h1><p>p <b>b</b></p><h2>B</h2><ul><li>1<li>2</ul><table><tr><td>c<td>d</table><pre>x\n y</pre></body>'
  seed 22 '<h1>x<h2>y<p>z<div><div><div><p>deep</div></span>&eacute;&#x1F600;'
  seed 3 $'{"text": "one.\\n\\ntwo", "title": "T"}\n\n{"text": "x"}\n'
  seed 15 $'{"text": "\\u00e9\\u65e5 long text here to cut", "title": 1}\n'
  : >"$build_dir/documents.dict"
  local word
  for word in '# ' '## ' '```' '~~~' '===' '---' '<h1>' '</h1>' '<p>' '<title>' '<script>' '<pre>' '<td>' '&amp;' \
              '{"text": "' '"title": ' '\n\n' '. '; do
    printf '"%s"\n' "$(printf '%s' "$word" | sed 's/\\/\\\\/g; s/"/\\"/g')" >>"$build_dir/documents.dict"
  done
}
