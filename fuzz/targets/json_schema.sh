# Fuzz target `json_schema`: JSON Schema -> GBNF -> grammar -> matcher (fuzz/json_schema_fuzzer.cpp).
# Sourced by fuzz/run_fuzz.sh.
sources=(src/decode/json_schema.cpp src/decode/gbnf_text.cpp src/decode/grammar_parse.cpp src/decode/grammar_matcher.cpp
         src/tokenizer/unicode.cpp)
libs=(-lfmt -lutf8proc)

seeds() {  # one schema per file; some carry a NUL and a document for the matcher
  local i=0 schema
  for schema in \
    '{"type":"object","properties":{"name":{"type":"string","minLength":1,"maxLength":8},"age":{"type":"integer","minimum":0,"maximum":150},"tags":{"type":"array","items":{"type":"string"},"maxItems":3}},"required":["name","age"],"additionalProperties":false}' \
    '{"type":"array","prefixItems":[{"type":"integer"},{"type":"string","format":"date"},{"const":null}],"items":false,"minItems":2}' \
    '{"type":"array","items":{"type":"number","exclusiveMinimum":-2.5,"maximum":1000},"minItems":1,"maxItems":4}' \
    '{"enum":["red","green",3,null,{"a":[1,2]},"\u00e9\"\\"]}' \
    '{"$defs":{"node":{"type":"object","properties":{"value":{"type":"integer"},"next":{"anyOf":[{"$ref":"#/$defs/node"},{"type":"null"}]}},"required":["value"]}},"$ref":"#/$defs/node"}' \
    '{"definitions":{"a":{"type":"string"}},"oneOf":[{"$ref":"#/definitions/a"},{"type":"boolean"},{"type":["integer","null"]}]}' \
    '{"allOf":[{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]},{"properties":{"b":{"type":"integer"}}}]}' \
    '{"type":"string","pattern":"^[a-z]+$"}' \
    '{"type":"string","format":"date-time"}' \
    '{"type":"object","properties":{"id":{"type":"string","format":"uuid"},"t":{"type":"string","format":"time"}},"additionalProperties":{"type":"number"}}' \
    '{"type":"object","required":["x","y"],"additionalProperties":true}' \
    '{"type":"array","items":[{"type":"boolean"}],"uniqueItems":false,"title":"draft-07 tuple"}' \
    '{"$defs":{"d":{"anyOf":[{"type":"null"},{"$ref":"#/$defs/d"}]}},"$ref":"#/$defs/d"}' \
    '{"type":"integer","minimum":-1234567,"maximum":98765432101}' \
    '{"type":"object"}' \
    '{"$ref":1}' \
    '{"allOf":[{"$ref":"#/$defs/a"},{"required":[1],"additionalProperties":false}],"$defs":{"a":{"properties":3}}}' \
    '{"type":"string","maxLength":10000}' \
    'true'; do
    printf '%s' "$schema" >"$corpus/seed_$((i++))"
  done
  printf '%s\0%s' '{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]}' '{"a": -12}' \
    >"$corpus/seed_$((i++))"
  printf '%s\0%s' '{"type":"array","items":{"enum":["x","yy"]},"maxItems":2}' '["yy", "x"]' >"$corpus/seed_$((i++))"
  local word
  : >"$build_dir/json_schema.dict"
  for word in type properties required additionalProperties items prefixItems minItems maxItems enum const \
              minLength maxLength minimum maximum exclusiveMinimum exclusiveMaximum anyOf oneOf allOf '$ref' \
              '$defs' definitions format string integer number boolean null object array date time date-time \
              uuid '#/$defs/'; do
    printf '"\\"%s\\""\n' "$word" >>"$build_dir/json_schema.dict"
  done
}
