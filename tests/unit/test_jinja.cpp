// Unit tests of the jinja engine, one construct at a time. Expected outputs were written for each
// case and checked against the reference renderer (@huggingface/jinja 0.5.11, the one
// transformers.js uses), including its departures from Python Jinja: e.g. strip('x') ignores
// its argument, 1.0 prints as "1.0" but ~ and tojson give "1", an iteration cut short by
// continue/break contributes no output, tuples cannot be printed, `'a' < 'b'` is an error.
// The JinjaErrors cases are templates the reference rejects; rpu must reject them too, with an
// rpu::Error (the reference's message is quoted beside each). The limit tests guard against
// runaway templates (recursion, loops, output size), which the reference does not bound.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "chat/chat_template.h"
#include "test_util.h"

namespace {

using nlohmann::ordered_json;

rpu::ChatRenderOptions fixed_clock() {
  rpu::ChatRenderOptions options;
  options.now = [] {
    std::tm t{};
    t.tm_year = 2025 - 1900;
    t.tm_mon = 2;
    t.tm_mday = 7;
    t.tm_hour = 9;
    t.tm_min = 5;
    return t;
  };
  return options;
}

std::string render(const std::string& source, const std::string& context_json,
                   const rpu::ChatRenderOptions& options = fixed_clock()) {
  return rpu::ChatTemplate::parse(source).render(ordered_json::parse(context_json), options);
}

// Parse or render must fail with an rpu::Error; returns its message.
std::string error_of(const std::string& source, const std::string& context_json = "{}",
                     const rpu::ChatRenderOptions& options = fixed_clock()) {
  try {
    const std::string out = render(source, context_json, options);
    ADD_FAILURE() << "expected an error, rendered: " << out;
  } catch (const rpu::Error& e) {
    return e.what();
  }
  return "";
}

void expect_error(const std::string& source, const std::string& context_json) {
  const std::string message = error_of(source, context_json);
  EXPECT_NE(message.find("chat template"), std::string::npos) << message;
}

void expect_raised(const std::string& source, const std::string& context_json, const std::string& message) {
  EXPECT_EQ(error_of(source, context_json), message);
}

TEST(Jinja, IfElifElse) {
  EXPECT_EQ(render("{% if x == 1 %}a{% elif x == 2 %}b{% else %}c{% endif %}",
                   R"J({"x": 2})J"),
            "b");
}

TEST(Jinja, LoopVariables) {
  EXPECT_EQ(render("{% for i in items %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.previtem }}{{ loop.nextitem }}|{% endfor %}",
                   R"J({"items": ["a", "b", "c"]})J"),
            "10truefalse332b|21falsefalse321ac|32falsetrue310b|");
}

TEST(Jinja, ForTupleUnpacking) {
  EXPECT_EQ(render("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{% for a, b in [[1, 2], [3, 4]] %}{{ a + b }}{% endfor %}",
                   R"J({"d": {"b": 1, "a": 2}})J"),
            "b=1;a=2;37");
}

TEST(Jinja, ForOverDictIteratesKeys) {
  EXPECT_EQ(render("{% for k in d %}{{ k }}{% endfor %}",
                   R"J({"d": {"z": 1, "y": 2}})J"),
            "zy");
}

TEST(Jinja, ForElse) {
  EXPECT_EQ(render("{% for x in [] %}x{% else %}empty{% endfor %}{% for x in [1] %}{{ x }}{% else %}no{% endfor %}",
                   "{}"),
            "empty1");
}

TEST(Jinja, ForWithCondition) {
  EXPECT_EQ(render("{% for x in [1, 2, 3, 4] if x is even %}{{ x }}{{ loop.index }}{{ loop.length }} {% endfor %}",
                   "{}"),
            "212 422 ");
}

TEST(Jinja, NamespaceSet) {
  EXPECT_EQ(render("{% set ns = namespace(n=0, s='') %}{% for x in [1, 2, 3] %}{% set ns.n = ns.n + x %}{% set ns.s = ns.s ~ x %}{% endfor %}{{ ns.n }} {{ ns.s }} {{ ns }}",
                   "{}"),
            "6 123 {\"n\": 6, \"s\": \"123\"}");
}

TEST(Jinja, SetInsideLoopDoesNotLeak) {
  EXPECT_EQ(render("{% set x = 'outer' %}{% for i in [1] %}{% set x = 'inner' %}{{ x }}{% endfor %} {{ x }}{% if true %}{% set y = 'if-leaks' %}{% endif %} {{ y }}",
                   "{}"),
            "inner outer if-leaks");
}

TEST(Jinja, SetTupleAndBlock) {
  EXPECT_EQ(render("{% set a, b = 1, 'two' %}{{ a }}{{ b }}{% set x %}hello {{ 'world' }}{% endset %}[{{ x }}]",
                   "{}"),
            "1two[hello world]");
}

TEST(Jinja, MacroDefaultsAndKeywords) {
  EXPECT_EQ(render("{% macro greet(name, greeting='Hi', punct='!') %}{{ greeting }}, {{ name }}{{ punct }}{% endmacro %}{{ greet('Bob') }} {{ greet('Al', greeting='Yo') }} {{ greet('Cy', 'Hey', '?') }}",
                   "{}"),
            "Hi, Bob! Yo, Al! Hey, Cy?");
}

TEST(Jinja, MacroSeesCallerScope) {
  EXPECT_EQ(render("{% macro show() %}{{ v }}{% endmacro %}{% for v in ['a', 'b'] %}{{ show() }}{% endfor %}",
                   "{}"),
            "ab");
}

TEST(Jinja, MacroVarargsKwargs) {
  EXPECT_EQ(render("{% macro m(a) %}{{ a }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 2, 3, k='v') }}",
                   "{}"),
            "1[2, 3]{\"k\": \"v\"}");
}

TEST(Jinja, CallBlock) {
  EXPECT_EQ(render("{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}{% call wrap('b') %}inner{% endcall %}{% macro each(xs) %}{% for x in xs %}{{ caller(x) }}{% endfor %}{% endmacro %}{% call(item) each([1, 2]) %}[{{ item }}]{% endcall %}",
                   "{}"),
            "<b>inner</b>[1][2]");
}

TEST(Jinja, FilterBlock) {
  EXPECT_EQ(render("{% filter upper %}shout {{ 'it' }}{% endfilter %}{% filter replace('a', 'o') %}banana{% endfilter %}",
                   "{}"),
            "SHOUT ITbonono");
}

TEST(Jinja, BreakContinue) {
  EXPECT_EQ(render("{% for i in range(10) %}{% if i == 3 %}{% continue %}{% endif %}{% if i == 6 %}{% break %}{% endif %}{{ i }}{% endfor %}",
                   "{}"),
            "01245");
}

TEST(Jinja, InterruptedIterationOutputIsDropped) {
  EXPECT_EQ(render("{% for i in [1, 2] %}a{% if i == 1 %}{% continue %}{% endif %}b{% endfor %}|{% for i in [1] %}x{% break %}{% endfor %}|{% for i in [1] %}{% break %}{% else %}else-runs{% endfor %}",
                   "{}"),
            "ab||else-runs");
}

TEST(Jinja, GenerationTagIsTransparent) {
  EXPECT_EQ(render("A {% generation %}x{% endgeneration %} B\n  {%- generation -%}  y  {%- endgeneration %}",
                   "{}"),
            "A x By");
}

TEST(Jinja, Comments) {
  EXPECT_EQ(render("a{# comment #}b {#- strip -#} c",
                   "{}"),
            "abc");
}

TEST(Jinja, WhitespaceControl) {
  EXPECT_EQ(render("a  {%- if true -%}  b  {%- endif -%}  c {{- ' d ' -}} e",
                   "{}"),
            "abc d e");
}

TEST(Jinja, TrimAndLstripBlocks) {
  EXPECT_EQ(render("<ul>\n  {% for x in [1, 2] %}\n  <li>{{ x }}</li>\n  {% endfor %}\n</ul>\n",
                   "{}"),
            "<ul>\n  <li>1</li>\n  <li>2</li>\n</ul>");
}

TEST(Jinja, ExpressionDoesNotTrimNewline) {
  EXPECT_EQ(render("{{ 'a' }}\n{{ 'b' }}\n",
                   "{}"),
            "a\nb");
}

TEST(Jinja, Literals) {
  EXPECT_EQ(render("{{ 'a\\n\\t\"b' }}|{{ \"it's\" }}|{{ 'x' 'y' }}|{{ 42 }}|{{ 1.0 }}|{{ 1.5 }}|{{ -0.0 }}|{{ [1, 'a', none, true, 2.0] }}|{{ {'k': 'v', 'n': 1, 'f': 1.0} }}|{{ 'a' ~ (1, 2) }}|{{ none }}|{{ undefined_var }}|{{ true }}|{{ '\\u00e9\\x41' }}",
                   "{}"),
            "a\n\t\"b|it's|xy|42|1.0|1.5|-0.0|[1, \"a\", null, true, 2]|{\"k\": \"v\", \"n\": 1, \"f\": 1}|a1,2|||true|éA");
}

TEST(Jinja, Arithmetic) {
  EXPECT_EQ(render("{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 4 / 2 }} {{ 2 ** 10 }} {{ 2 ** -1 }} {{ 1 + 2.0 }} {{ 3 * 1.5 }} {{ 10 / 4 * 2 }} {{ -x }} {{ 1 - -1 }}",
                   R"J({"x": 5})J"),
            "3 -4 1 -1 3.5 2.0 1024 0.5 3.0 4.5 5.0 -5 2");
}

TEST(Jinja, ConcatenationUsesRawStrings) {
  EXPECT_EQ(render("{{ 'a' ~ 1 ~ 2.0 ~ true }} {{ 'x' + 1 }} {{ 'l' ~ [1, 'b'] }} {{ 'd' ~ {'a': 1} }} {{ [1] + [2] }}",
                   "{}"),
            "a12true x1 l1,b d[object Map] [1, 2]");
}

TEST(Jinja, ComparisonsAndLogic) {
  EXPECT_EQ(render("{{ 1 < 2 }} {{ 2 >= 3 }} {{ 'a' in 'cat' }} {{ 3 not in [1, 2] }} {{ 'k' in {'k': 1} }} {{ not none }} {{ 0 or 'x' }} {{ [] and 1 }} {{ 1 == 1.0 }} {{ '1' == 1 }} {{ none == nothing }} {{ 'z' in nothing }} {{ [1] == [1] }} {{ l == l }}",
                   R"J({"l": [1]})J"),
            "true false true true true true x [] true true true false false true");
}

TEST(Jinja, Tests) {
  EXPECT_EQ(render("{% macro f() %}{% endmacro %}{{ x is defined }} {{ y is undefined }} {{ none is none }} {{ 's' is string }} {{ 1 is number }} {{ 1.5 is integer }} {{ {} is mapping }} {{ [] is iterable }} {{ 's' is sequence }} {{ true is boolean }} {{ 3 is odd }} {{ 4 is even }} {{ false is false }} {{ true is true }} {{ 'abc' is lower }} {{ 'ABC' is upper }} {{ x is not none }} {{ f is callable }} {{ x is callable }}",
                   R"J({"x": 1})J"),
            "true true true true true false true true true true true true true true true true true true false");
}

TEST(Jinja, Ternary) {
  EXPECT_EQ(render("{{ 'y' if x else 'n' }}{{ 'y' if none else 'n' }}{{ 'only' if false }}|{{ 'a' if false else 'b' if true else 'c' }}",
                   R"J({"x": 1})J"),
            "yn|b");
}

TEST(Jinja, AttributeSubscriptSlice) {
  EXPECT_EQ(render("{{ d.a }} {{ d['b'] }} {{ l[0] }} {{ l[-1] }} {{ l[1:] }} {{ l[::-1] }} {{ l[:2] }} {{ l[::2] }} {{ 'hello'[1:3] }} {{ 'hello'[::-1] }} {{ 'héllo'[1] }} {{ l[10] }}|{{ d.missing }}|{{ d.missing.deeper }}|{{ d.c.0 }}",
                   R"J({"d": {"a": 1, "b": "two", "c": ["first"]}, "l": [1, 2, 3]})J"),
            "1 two 1 3 [2, 3] [3, 2, 1] [1, 2] [1, 3] el olleh é |||first");
}

TEST(Jinja, TojsonFormatting) {
  EXPECT_EQ(render("{{ x|tojson }}\n{{ x|tojson(indent=2) }}\n{{ [] | tojson(indent=2) }}{{ {} | tojson(indent=2) }}\n{{ x|tojson(separators=(',', ':')) }}\n{{ s|tojson }} {{ s|tojson(ensure_ascii=true) }}\n{{ {'b': 1, 'a': 2, 'B': 3, '_': 4}|tojson(sort_keys=true) }}",
                   R"J({"x": {"name": "f", "n": [1, 2.5, 1.0, null, true], "o": {}}, "s": "café <b>&\"\\\n\u0001😀\u007f"})J"),
            "{\"name\": \"f\", \"n\": [1, 2.5, 1, null, true], \"o\": {}}\n{\n  \"name\": \"f\",\n  \"n\": [\n    1,\n    2.5,\n    1,\n    null,\n    true\n  ],\n  \"o\": {}\n}\n[]{}\n{\"name\":\"f\",\"n\":[1,2.5,1,null,true],\"o\":{}}\n\"café <b>&\\\"\\\\\\n\\u0001😀\x7f" "\" \"caf\\u00e9 <b>&\\\"\\\\\\n\\u0001\\ud83d\\ude00\\u007f\"\n{\"_\": 4, \"a\": 2, \"b\": 1, \"B\": 3}");
}

TEST(Jinja, ContextKeyOrderFollowsJavaScript) {
  EXPECT_EQ(render("{{ d|tojson }}",
                   R"J({"d": {"b": 1, "2": 2, "a": 3, "1": 4, "01": 5}})J"),
            "{\"1\": 4, \"2\": 2, \"b\": 1, \"a\": 3, \"01\": 5}");
}

TEST(Jinja, StringFilters) {
  EXPECT_EQ(render("{{ '  x  '|trim }}|{{ 'abc'|length }}|{{ '😀a'|length }}|{{ 'Hello World'|upper }}|{{ 'Hello'|lower }}|{{ 'hello wORLD'|title }}|{{ 'hELLO'|capitalize }}|{{ 'aXbX'|replace('X', '-') }}|{{ 'aaa'|replace('a', 'b', 2) }}|{{ 'a\\nb\\n\\nc'|indent }}|{{ 'a\\nb'|indent(2, true) }}|{{ '42'|int }}|{{ '4.5x'|float }}|{{ 'zz'|int }}|{{ 'zz'|int(7) }}|{{ 'ab'|join('-') }}|{{ 'x'|string }}",
                   "{}"),
            "x|3|3|HELLO WORLD|hello|Hello WORLD|HELLO|a-b-|bba|a\n    b\n\n    c|  a\n  b|42|4.5|0|7|a-b|x");
}

TEST(Jinja, ListFilters) {
  EXPECT_EQ(render("{{ l|first }} {{ l|last }} {{ l|length }} {{ l|join(', ') }} {{ l|join }} {{ l|reverse }} {{ l|sort }} {{ l|sort(reverse=true) }} {{ l|unique }} {{ l|list }} {{ l|string }} {{ ['b', 'A', 'c']|sort }} {{ ['b', 'A', 'c']|sort(case_sensitive=true) }}",
                   R"J({"l": [3, 1, 2, 1]})J"),
            "3 1 4 3, 1, 2, 1 3121 [1, 2, 1, 3] [1, 1, 2, 3] [3, 2, 1, 1] [3, 1, 2] [3, 1, 2, 1] [3, 1, 2, 1] [\"A\", \"b\", \"c\"] [\"A\", \"b\", \"c\"]");
}

TEST(Jinja, MappingFilters) {
  EXPECT_EQ(render("{{ users|map(attribute='name')|join(',') }} {{ users|selectattr('admin')|map(attribute='name')|list }} {{ users|rejectattr('admin')|map(attribute='name')|list }} {{ users|selectattr('name', 'equalto', 'bo')|length }} {{ users|map(attribute='age', default=0)|list }} {{ users|sort(attribute='name', reverse=true)|map(attribute='name')|join }}",
                   R"J({"users": [{"name": "al", "admin": true, "age": 30}, {"name": "bo", "admin": false}, {"name": "cy", "admin": true, "age": 5}]})J"),
            "al,bo,cy [\"al\", \"cy\"] [\"bo\"] 1 [30, 0, 5] cyboal");
}

TEST(Jinja, DictFiltersAndMethods) {
  EXPECT_EQ(render("{{ d|items }} {{ d|length }} {{ d|dictsort }} {{ d|dictsort(reverse=true) }} {{ d.items()|list }} {{ d.keys() }} {{ d.values() }} {{ d.get('a') }} {{ d.get('zz', 'dflt') }} {{ d.get('zz') }}",
                   R"J({"d": {"b": 2, "a": 1}})J"),
            "[[\"b\", 2], [\"a\", 1]] 2 [[\"a\", 1], [\"b\", 2]] [[\"b\", 2], [\"a\", 1]] [[\"b\", 2], [\"a\", 1]] [\"b\", \"a\"] [2, 1] 1 dflt ");
}

TEST(Jinja, DefaultAndNumberFilters) {
  EXPECT_EQ(render("{{ missing|default('d') }} {{ ''|default('e') }} {{ ''|default('e', true) }} {{ none|default('n') }} {{ -3|abs }} {{ -2.5|abs }} {{ 3.7|int }} {{ -3.7|int }} {{ 3|float }} {{ 2.0|string }} {{ true|int }} {{ 'x'|safe }} {{ 1.5|int(0) }}",
                   "{}"),
            "d  e  3 2.5 3 -4 3.0 2.0 1 x 1.5");
}

TEST(Jinja, StringMethods) {
  EXPECT_EQ(render("{{ '  a  '.strip() }}|{{ 'xxaxx'.strip('x') }}|{{ '\\n\\nb'.lstrip('\\n') }}|{{ 'c  '.rstrip() }}|{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'a,b,c'.split(',', 1) }}|{{ 'abc'.startswith('ab') }}|{{ 'abc'.endswith(('x', 'c')) }}|{{ 'aaa'.replace('a', 'b', 1) }}|{{ 'ab'.replace('', '-') }}|{{ 'ab'.upper() }}{{ 'AB'.lower() }}{{ 'ab cd'.title() }}{{ 'ab'.capitalize() }}|{{ 'abc'.length }}",
                   "{}"),
            "a|xxaxx|b|c|[\"a\", \"b\", \"\", \"c\"]|[\"a\", \"b\"]|[\"a\", \"b,c\"]|true|true|baa|-a-b-|ABabAb CdAb|3");
}

TEST(Jinja, UnicodeCaseMapping) {
  EXPECT_EQ(render("{{ 'straße'|upper }} {{ 'ΣΑΣ ΑΣ'|lower }} {{ 'İ'|lower|length }} {{ 'été'|capitalize }} {{ 'ﬁ'|upper }}",
                   "{}"),
            "STRASSE σας ας 2 Été FI");
}

TEST(Jinja, NumberPrinting) {
  EXPECT_EQ(render("{{ 12345678901234567890 }} {{ 1000000000000000000000 }} {{ 0.1 + 0.2 }} {{ 1 / 3 }} {{ 100000000000000000000.0 }} {{ 0.0000001 }} {{ big }} {{ 1 / 0 }} {{ -1 / 0 }} {{ 2 ** 53 + 1 }} {{ big * big }} {{ 1.5 * big }}",
                   R"J({"big": 1e+21})J"),
            "12345678901234567000 1e+21 0.30000000000000004 0.3333333333333333 100000000000000000000.0 1e-7 1e+21 Infinity -Infinity 9007199254740992 1e+42 1.5e+21");
}

TEST(Jinja, Globals) {
  EXPECT_EQ(render("{{ range(3) }} {{ range(1, 7, 2) }} {{ range(3, 0, -1) }} {{ True }}{{ False }}{{ None }} {{ namespace({'a': 1}, b=2) }} {{ strftime_now('%Y-%m-%d %H:%M %b %B %%') }} {{ strftime_now('%A') }}",
                   "{}"),
            "[0, 1, 2] [1, 3, 5] [3, 2, 1] truefalse {\"a\": 1, \"b\": 2} 2025-03-07 09:05 Mar March % %A");
}

TEST(Jinja, RaiseException) { expect_raised("{{ raise_exception('Roles must alternate') }}", "{}", "Roles must alternate"); }

TEST(JinjaErrors, RawIsNotSupported) { expect_error("{% raw %}x{% endraw %}", "{}"); }  // reference: 'Unknown statement type: raw'

TEST(JinjaErrors, IncludeIsNotSupported) { expect_error("a\n{% include 'x.html' %}", "{}"); }  // reference: 'Unknown statement type: include'

TEST(JinjaErrors, UnknownFilter) { expect_error("line one\n{{ x|nofilter }}", R"J({"x": "s"})J"); }  // reference: 'Unknown StringValue filter: nofilter'

TEST(JinjaErrors, UnknownTest) { expect_error("{{ x is foo }}", R"J({"x": 1})J"); }  // reference: 'Unknown test: foo'

TEST(JinjaErrors, UndefinedMacroCall) { expect_error("{{ undefined_macro() }}", "{}"); }  // reference: 'Cannot call something that is not a function: got UndefinedValue'

TEST(JinjaErrors, RoundIsNotSupported) { expect_error("{{ 1.5|round }}", "{}"); }  // reference: 'Unknown NumericValue filter: round'

TEST(JinjaErrors, SelectIsNotSupported) { expect_error("{{ [1, 2]|select('odd')|list }}", "{}"); }  // reference: 'Unknown ArrayValue filter: select'

TEST(JinjaErrors, StringFormatIsNotSupported) { expect_error("{{ 'a{}'.format(1) }}", "{}"); }  // reference: 'Cannot call something that is not a function: got UndefinedValue'

TEST(JinjaErrors, ListAppendIsNotSupported) { expect_error("{% set l = [] %}{{ l.append(1) }}", "{}"); }  // reference: 'Cannot call something that is not a function: got UndefinedValue'

TEST(JinjaErrors, SubscriptOfUndefined) { expect_error("{{ nothing[0] }}", "{}"); }  // reference: 'Cannot access property with non-string: got IntegerValue'

TEST(JinjaErrors, UnclosedIf) { expect_error("{% if true %}x", "{}"); }  // reference: "Cannot read properties of undefined (reading 'type')"

TEST(JinjaErrors, UnterminatedString) { expect_error("{{ 'abc }}", "{}"); }  // reference: 'Unexpected end of input'

TEST(JinjaErrors, BreakOutsideLoop) { expect_error("{% break %}", "{}"); }  // reference: ''

TEST(JinjaErrors, StringComparisonUnsupported) { expect_error("{{ 'a' < 'b' }}", "{}"); }  // reference: 'Unknown operator "<" between StringValue and StringValue'

TEST(JinjaErrors, NoneConcatenation) { expect_error("{{ 'a' + none }}", "{}"); }  // reference: 'Cannot perform operation on null values'

TEST(JinjaErrors, FirstOfEmptyList) { expect_error("{{ []|first }}", "{}"); }  // reference: "Cannot read properties of undefined (reading 'type')"

TEST(JinjaErrors, PrintingATupleFails) { expect_error("{{ (1, 2) }}", "{}"); }  // reference: 'Cannot convert to JSON: TupleValue'

TEST(JinjaErrors, TupleItemsDoNotUnpack) { expect_error("{% for a, b in [(1, 2)] %}{{ a }}{% endfor %}", "{}"); }  // reference: 'Cannot unpack non-iterable type: TupleValue'

TEST(JinjaErrors, MessagesNameTheTemplateLine) {
  EXPECT_EQ(error_of("line one\n{{ x|nofilter }}", R"({"x": "s"})"),
            "chat template line 2: unknown StringValue filter: nofilter");
  EXPECT_EQ(error_of("a\n\n{% raw %}x{% endraw %}"),
            "chat template line 3: unknown statement type: raw (not supported by this renderer)");
  // trim_blocks removes newlines before lexing; lines still count in the original source.
  EXPECT_EQ(error_of("{% if true %}\n{% endif %}\n{% if true %}\n{{ nothing() }}\n{% endif %}"),
            "chat template line 4: cannot call 'nothing': it is UndefinedValue, not a function or macro");
  EXPECT_NE(error_of("{% for x in [1] %}\n{{ x }}").find("missing {% endfor %}"), std::string::npos);
}

TEST(JinjaErrors, ContextCannotRedeclareGlobals) {
  EXPECT_NE(error_of("{{ 1 }}", R"({"range": 1})").find("already declared"), std::string::npos);
  EXPECT_NE(error_of("{{ 1 }}", "[1]").find("must be a JSON object"), std::string::npos);
}

TEST(JinjaLimits, MacroRecursionIsBounded) {
  const std::string message = error_of("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
  EXPECT_NE(message.find("recursion is deeper than"), std::string::npos) << message;
}

TEST(JinjaLimits, ParseNestingIsBounded) {
  const std::string deep = "{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}";
  EXPECT_NE(error_of(deep).find("nesting is deeper than"), std::string::npos);
  std::string blocks;
  for (int i = 0; i < 2000; ++i) blocks += "{% if true %}";
  EXPECT_NE(error_of(blocks).find("nesting is deeper than"), std::string::npos);
}

TEST(JinjaLimits, LoopsAreBoundedBySteps) {
  rpu::ChatRenderOptions options = fixed_clock();
  options.max_steps = 1'000'000;
  options.max_cost = UINT64_MAX;  // the step limit holds on its own (the work budget is tested below)
  const std::string message =
      error_of("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "{}", options);
  EXPECT_NE(message.find("exceeded 1000000 evaluation steps"), std::string::npos) << message;
  EXPECT_NE(error_of("{{ range(1000000000)|length }}").find("range()"), std::string::npos);
}

TEST(JinjaLimits, StringAndOutputSizesAreBounded) {
  rpu::ChatRenderOptions unbudgeted = fixed_clock();
  unbudgeted.max_cost = UINT64_MAX;  // the size limits hold on their own
  const std::string doubling = "{% set ns = namespace(s='xxxxxxxxxxxxxxxx') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}";
  EXPECT_NE(error_of(doubling, "{}", unbudgeted).find("string longer than"), std::string::npos);
  EXPECT_NE(error_of(doubling).find("work budget"), std::string::npos);  // and the budget stops it sooner
  rpu::ChatRenderOptions options = fixed_clock();
  options.max_output_bytes = 1000;
  EXPECT_NE(error_of("{% for i in range(1000) %}abc{% endfor %}", "{}", options).find("output exceeds"), std::string::npos);
  EXPECT_NE(error_of("{% set l = [1] %}{% set ns = namespace(l=l) %}{% for i in range(64) %}{% set ns.l = ns.l + ns.l %}{% endfor %}",
                     "{}", unbudgeted)
                .find("list longer than"),
            std::string::npos);
}

// Issue 11 finding 4: work is counted by cost (bytes built or scanned, items copied), not steps.
// Each of these ran for minutes or hours within the step and size limits; now each stops with
// the budget error (measured well under 1 s; the 10 s bound only catches a hang).
struct BudgetCase {
  std::string error;
  double seconds = 0;
  bool budget_error = false;
};

BudgetCase render_heavy(const std::string& source, const rpu::ChatRenderOptions& options = fixed_clock()) {
  BudgetCase c;
  const auto start = std::chrono::steady_clock::now();
  try {
    const std::string out = render(source, "{}", options);
    ADD_FAILURE() << "expected an error, rendered " << out.size() << " bytes";
  } catch (const rpu::ChatTemplateBudgetError& e) {
    c.error = e.what();
    c.budget_error = true;
  } catch (const rpu::Error& e) {
    c.error = e.what();
  }
  c.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return c;
}

const char* const kDoublingThenLoop =
    "{% set ns = namespace(s='a') %}{% for i in range(25) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}"
    "{% for i in range(1000000) %}{% set t = ns.s ~ 'b' %}{% endfor %}";

TEST(JinjaLimits, CopyingABigStringPerStepExhaustsTheBudget) {
  const BudgetCase c = render_heavy(kDoublingThenLoop);
  EXPECT_TRUE(c.budget_error) << c.error;
  EXPECT_NE(c.error.find("work budget"), std::string::npos) << c.error;
  std::printf("doubling x25 then a 1M-step concat loop: %.3f s: %s\n", c.seconds, c.error.c_str());
}

TEST(JinjaLimits, NestedHugeLoopsExhaustTheBudget) {
  const BudgetCase c = render_heavy("{% for i in range(4000000) %}{% for j in range(4000000) %}{% endfor %}{% endfor %}");
  EXPECT_TRUE(c.budget_error) << c.error;
  EXPECT_NE(c.error.find("work budget"), std::string::npos) << c.error;
  std::printf("4M x 4M loops: %.3f s: %s\n", c.seconds, c.error.c_str());
}

TEST(JinjaLimits, ScanningABigStringPerStepExhaustsTheBudget) {
  const std::string big = "{% set ns = namespace(s='a') %}{% for i in range(25) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}";
  for (const std::string scan : {"{% if 'b' in ns.s %}{% endif %}", "{{ ns.s|length }}", "{{ ns.s.startswith('b') }}",
                                 "{% if ns.s == ns.s %}{% endif %}", "{{ ns.s[-1] }}"}) {
    const BudgetCase c = render_heavy(big + "{% for i in range(1000000) %}" + scan + "{% endfor %}");
    EXPECT_TRUE(c.budget_error) << scan << ": " << c.error;
  }
}

// Builtins build strings outside the interpreter; each is capped before it can reach gigabytes.
TEST(JinjaLimits, BuiltinsCannotBuildHugeStrings) {
  const std::string big = "{% set ns = namespace(s='a') %}{% for i in range(20) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}";
  EXPECT_NE(error_of(big + "{{ ns.s.replace('', ns.s) }}").find("string longer than"), std::string::npos);
  EXPECT_NE(error_of(big + "{{ ns.s.replace('a', ns.s)|length }}").find("string longer than"), std::string::npos);
  const std::string lines = "{% set ns = namespace(s='\n') %}{% for i in range(20) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}";
  EXPECT_NE(error_of(lines + "{{ ns.s|indent(10000)|length }}").find("string longer than"), std::string::npos);
  // A list holding one 1 MB string 4096 times prints (or becomes JSON) as 4 GB.
  const std::string refs = big + "{% set l = namespace(l=[ns.s]) %}{% for i in range(12) %}{% set l.l = l.l + l.l %}{% endfor %}";
  EXPECT_NE(error_of(refs + "{{ (l.l ~ '')|length }}").find("string longer than"), std::string::npos);
  EXPECT_NE(error_of(refs + "{{ l.l|tojson|length }}").find("string longer than"), std::string::npos);
}

TEST(JinjaLimits, TheBudgetIsAnOption) {
  rpu::ChatRenderOptions options = fixed_clock();
  options.max_cost = 100'000;
  const BudgetCase c = render_heavy("{% for i in range(10000) %}x{% endfor %}", options);
  EXPECT_TRUE(c.budget_error) << c.error;
  EXPECT_NE(c.error.find("work budget of 100000 units"), std::string::npos) << c.error;
  options.max_cost = 10'000'000;
  EXPECT_EQ(render("{% for i in range(10000) %}x{% endfor %}", "{}", options), std::string(10000, 'x'));
}

TEST(JinjaLimits, ACancelledRenderStops) {
  rpu::ChatRenderOptions options = fixed_clock();
  int polls = 0;
  options.cancelled = [&polls] { return ++polls >= 2; };  // the caller leaves after the first poll
  const BudgetCase c = render_heavy("{% for i in range(1000) %}x{% endfor %}", options);
  EXPECT_TRUE(c.budget_error) << c.error;
  EXPECT_NE(c.error.find("cancelled"), std::string::npos) << c.error;
}

// The budget leaves ample room for real work: a published template over a long conversation
// (2,000 messages, 4 MB of text) renders with the default limits.
TEST(JinjaLimits, LongConversationsFitTheBudget) {
  const std::string source = rpu::test::read_file(rpu::test::fixture("templates/Qwen-Qwen3-0.6B.jinja"));
  ordered_json messages = ordered_json::array();
  for (int i = 0; i < 2000; ++i)
    messages.push_back({{"role", i % 2 == 0 ? "user" : "assistant"}, {"content", std::string(2000, 'a' + i % 26)}});
  const ordered_json context = rpu::make_chat_context(messages, nullptr, {}, nullptr);
  const std::string out = rpu::ChatTemplate::parse(source).render(context, fixed_clock());
  EXPECT_GT(out.size(), 4'000'000u);
}

TEST(JinjaLimits, CyclicNamespaceCannotBePrinted) {
  EXPECT_NE(error_of("{% set ns = namespace() %}{% set ns.self = ns %}{{ ns }}").find("nesting deeper than"), std::string::npos);
}

// 1200 seeded random templates over every construct (tests/peers/gen_jinja_fuzz_vectors.mjs),
// rendered by the reference: same bytes, or an error where it errors.
TEST(JinjaFuzzVectors, MatchTheReferenceRenderer) {
  std::ifstream in(std::string(RPU_PEERS_DIR) + "/../vectors/jinja_fuzz.json");
  ASSERT_TRUE(in) << "missing tests/vectors/jinja_fuzz.json";
  const ordered_json vectors = ordered_json::parse(in);
  const ordered_json& context = vectors.at("context");
  int passed = 0, total = 0;
  for (const auto& c : vectors.at("cases")) {
    ++total;
    const std::string source = c.at("t").get<std::string>();
    std::string actual, error;
    try {
      actual = rpu::ChatTemplate::parse(source).render(context, fixed_clock());
    } catch (const rpu::Error& e) {
      error = e.what();
    }
    if (c.contains("out")) {
      if (error.empty() && actual == c.at("out").get<std::string>()) ++passed;
      else ADD_FAILURE() << source << "\n  expected: " << c.at("out").get<std::string>() << "\n  actual: " << (error.empty() ? actual : "error: " + error);
    } else {
      if (!error.empty()) ++passed;
      else ADD_FAILURE() << source << "\n  the reference fails (" << c.at("err").get<std::string>() << "), rpu rendered: " << actual;
    }
  }
  EXPECT_EQ(passed, total);
  EXPECT_GE(total, 1000);
}

TEST(JinjaApi, ParseOnceRenderMany) {
  const rpu::ChatTemplate tmpl = rpu::ChatTemplate::parse("{% for m in messages %}{{ m.role }}:{{ m.content }};{% endfor %}");
  EXPECT_EQ(tmpl.render(ordered_json::parse(R"({"messages": [{"role": "user", "content": "a"}]})")), "user:a;");
  EXPECT_EQ(tmpl.render(ordered_json::parse(R"({"messages": []})")), "");
  EXPECT_EQ(tmpl.source(), "{% for m in messages %}{{ m.role }}:{{ m.content }};{% endfor %}");
  EXPECT_EQ(rpu::ChatTemplate::parse("").render(ordered_json::object()), "");
}

TEST(JinjaApi, DefaultClockIsTheCurrentDate) {
  const std::string year = rpu::ChatTemplate::parse("{{ strftime_now('%Y') }}").render(ordered_json::object());
  ASSERT_EQ(year.size(), 4u);
  EXPECT_GE(std::stoi(year), 2025);
}

TEST(JinjaApi, MalformedUtf8InTemplateIsNotACrash) {
  EXPECT_EQ(render("a\xff\xfe{{ 'b' }}", "{}"), "a\xff\xfe" "b");
  EXPECT_NO_THROW(error_of("{{ '\xc3' + \xe2\x80 }}"));
}

}  // namespace
