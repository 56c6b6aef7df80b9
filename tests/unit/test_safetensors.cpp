// The safetensors reader against malformed files (each refused with one line naming the file
// and the rule), the model-folder loader (shards, index, a missing shard named), and the
// importer's refusals (unsupported architecture, unknown tensor, missing config key, a layer
// layout the engine does not run).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>

#include "core/error.h"
#include "hf_folder.h"
#include "import/hf_import.h"
#include "io/safetensors.h"
#include "test_util.h"

namespace rpu {
namespace {

std::string header_file(const std::string& header, const std::string& data, uint64_t declared = UINT64_MAX) {
  const uint64_t n = declared == UINT64_MAX ? header.size() : declared;
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[static_cast<size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + data;
}

SafetensorsFile parse(const std::string& bytes) {
  return SafetensorsFile::parse(MappedFile::from_bytes(std::vector<uint8_t>(bytes.begin(), bytes.end())), "t.safetensors");
}

// The error message of parsing `bytes` ("" when it parses).
std::string error_of(const std::string& bytes) {
  try {
    parse(bytes);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

#define EXPECT_REFUSED(bytes, fragment)                                   \
  do {                                                                    \
    const std::string message = error_of(bytes);                          \
    EXPECT_NE(message.find(fragment), std::string::npos) << message;      \
    EXPECT_NE(message.find("t.safetensors"), std::string::npos) << message; \
  } while (0)

const std::string k8(8, 'x');

TEST(SafetensorsTest, ReadsTensorsAndMetadata) {
  const std::string h =
      R"({"__metadata__":{"format":"pt"},"b":{"dtype":"F16","shape":[2],"data_offsets":[8,12]},"a":{"dtype":"F32","shape":[2,1],"data_offsets":[0,8]}})";
  const SafetensorsFile f = parse(header_file(h, std::string(12, '\1')));
  ASSERT_EQ(f.tensors().size(), 2u);
  EXPECT_EQ(f.metadata().at("format"), "pt");
  const SafetensorsTensor* a = f.find("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->shape, (std::vector<uint64_t>{2, 1}));
  EXPECT_EQ(a->n_bytes, 8u);
  EXPECT_EQ(f.find("b")->type, DType::F16);
  EXPECT_EQ(f.find("b")->data, a->data + 8);
  EXPECT_TRUE(parse(header_file("{}", "")).tensors().empty());
}

TEST(SafetensorsTest, RefusesBadHeaders) {
  EXPECT_REFUSED(std::string(5, '\0'), "truncated");
  EXPECT_REFUSED(header_file("{}", "", 0), "header length 0 is out of range");
  EXPECT_REFUSED(header_file("{}", "", uint64_t{1} << 40), "out of range");
  EXPECT_REFUSED(header_file("{}", "", 1000), "truncated: header of 1000 bytes");
  EXPECT_REFUSED(header_file("{\"a\":", ""), "not valid JSON");
  EXPECT_REFUSED(header_file("[1,2]", ""), "not a JSON object");
  EXPECT_REFUSED(header_file(std::string(40, '[') + std::string(40, ']'), ""), "nested deeper");
  EXPECT_REFUSED(header_file(R"({"__metadata__":{"x":1}})", ""), "__metadata__ value 'x' is not a string");
  EXPECT_REFUSED(header_file(R"({"a":3})", ""), "tensor 'a' is not an object");
  EXPECT_REFUSED(header_file(R"({"a":{"shape":[1],"data_offsets":[0,4]}})", "1234"), "has no \"dtype\"");
}

TEST(SafetensorsTest, RefusesDtypesShapesAndOffsets) {
  EXPECT_REFUSED(header_file(R"({"a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})", k8),
                 "dtype I64, which rpu cannot read (supported: F32, F16, BF16)");
  EXPECT_REFUSED(header_file(R"({"a":{"dtype":"F8_E4M3","shape":[8],"data_offsets":[0,8]}})", k8), "dtype F8_E4M3");
  EXPECT_REFUSED(header_file(R"({"a":{"dtype":"Q4","shape":[1],"data_offsets":[0,8]}})", k8), "unknown dtype 'Q4'");
  EXPECT_REFUSED(header_file(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", k8), "non-negative whole number");
  EXPECT_REFUSED(header_file(R"({"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,8]}})", k8), "non-negative whole number");
  EXPECT_REFUSED(header_file(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", k8),
                 "absurdly large");
  EXPECT_REFUSED(header_file(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", k8),
                 "needs 12 bytes but data_offsets span 8");
  EXPECT_REFUSED(header_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", k8), "before begin");
  EXPECT_REFUSED(header_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", k8), "[begin, end]");
  // Overlap, a hole, data past the end of the file (truncation), bytes after the last tensor.
  EXPECT_REFUSED(header_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", k8),
                 "overlaps");
  EXPECT_REFUSED(header_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", k8), "4 unused bytes before tensor 'a'");
  EXPECT_REFUSED(header_file(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", k8),
                 "truncated: the tensors need 16 data bytes but the file has 8");
  EXPECT_REFUSED(header_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", k8), "4 bytes after the last tensor");
}

// A folder holding the tests' random llama model, for the folder and importer cases.
std::string model_folder(const std::string& name, int shards) {
  test::HfSpec spec;
  spec.shards = shards;
  spec.n_layer = 1;
  const std::string dir = test::temp_path(name);
  test::write_hf_folder(test::random_hf_arrays(spec), dir);
  return dir;
}

std::string import_error(const std::string& dir) {
  try {
    hf::HfModel::open(dir);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(SafetensorsModelTest, OpensShardsAndNamesAMissingOne) {
  const std::string dir = model_folder("sharded", 3);
  const SafetensorsModel m = SafetensorsModel::open_dir(dir);
  EXPECT_EQ(m.shard_count(), 3u);
  EXPECT_NE(m.find("model.layers.0.mlp.up_proj.weight"), nullptr);
  EXPECT_EQ(m.find("nothing"), nullptr);
  std::filesystem::remove(dir + "/model-00002-of-00003.safetensors");
  const std::string message = import_error(dir);
  EXPECT_NE(message.find("shard 'model-00002-of-00003.safetensors' named by model.safetensors.index.json is missing"),
            std::string::npos)
      << message;
}

TEST(SafetensorsModelTest, RefusesBadIndexesAndFolders) {
  const std::string dir = model_folder("bad_index", 2);
  test::write_file(dir + "/model.safetensors.index.json", R"({"weight_map":{"x":"../evil.safetensors"}})");
  EXPECT_NE(import_error(dir).find("is not a file name in the model folder"), std::string::npos);
  test::write_file(dir + "/model.safetensors.index.json",
                   R"({"weight_map":{"ghost":"model-00001-of-00002.safetensors"}})");
  EXPECT_NE(import_error(dir).find("not in the index"), std::string::npos) << import_error(dir);
  const std::string empty = test::temp_path("empty_folder");
  std::filesystem::create_directories(empty);
  EXPECT_NE(import_error(empty).find("no config.json"), std::string::npos) << import_error(empty);
}

TEST(HfImportRefusalTest, NamesTheProblem) {
  const std::string dir = model_folder("refusals", 1);
  const std::string config = test::read_file(dir + "/config.json");
  auto with_config = [&](std::string from, std::string to) {
    std::string c = config;
    c.replace(c.find(from), from.size(), to);
    test::write_file(dir + "/config.json", c);
    return import_error(dir);
  };
  std::string e = with_config("\"model_type\": \"llama\"", "\"model_type\": \"mamba\"");
  EXPECT_NE(e.find("architecture 'mamba' (config.json model_type) is not supported (supported: llama"), std::string::npos) << e;
  e = with_config("\"hidden_size\"", "\"hidden_sizes\"");
  EXPECT_NE(e.find("config.json has no 'hidden_size'"), std::string::npos) << e;
  e = with_config("\"num_hidden_layers\": 1", "\"num_hidden_layers\": 0");
  EXPECT_NE(e.find("num_hidden_layers"), std::string::npos) << e;
  // One layer fewer than the weights hold: the last layer's tensors have no name.
  test::write_file(dir + "/config.json", config);
  EXPECT_EQ(import_error(dir), "");
  std::filesystem::remove(dir + "/tokenizer.json");
  EXPECT_NE(import_error(dir).find("no tokenizer.json"), std::string::npos) << import_error(dir);
}

// The engine runs each architecture's layer layout (which layers are local, which rotate, the
// query scale) from the architecture alone, as llama.cpp does; a config.json saying otherwise
// is refused with the key named, and so are malformed longrope factors and a multimodal
// checkpoint without its text_config.
TEST(HfImportRefusalTest, ConfigsTheEngineWouldRunWronglyAreNamed) {
  auto folder = [](const std::string& type, int n_layer) {
    test::HfSpec spec;
    spec.model_type = type;
    spec.n_layer = n_layer;
    spec.tied = true;
    const std::string dir = test::temp_path("layout_" + type);
    test::write_hf_folder(test::random_hf_arrays(spec), dir);
    return dir;
  };
  auto with = [](const std::string& dir, const std::function<void(nlohmann::json&)>& edit) {
    const std::string path = dir + "/config.json";
    const std::string saved = test::read_file(path);
    nlohmann::json c = nlohmann::json::parse(saved);
    edit(c);
    test::write_file(path, c.dump());
    std::string e = import_error(dir);
    test::write_file(path, saved);
    return e;
  };
  const std::string gemma2 = folder("gemma2", 2), gemma3 = folder("gemma3_text", 6), smollm3 = folder("smollm3", 4);
  const std::string phi3 = folder("phi3", 1), multimodal = folder("gemma3", 1);
  for (const std::string& dir : {gemma2, gemma3, smollm3, phi3}) EXPECT_EQ(import_error(dir), "") << dir;

  std::string e = with(gemma2, [](auto& c) { c["layer_types"][0] = "full_attention"; });
  EXPECT_NE(e.find("layer_types[0] is \"full_attention\"; rpu runs gemma2 with sliding-window attention in layer l exactly "
                   "when l % 2 < 1"),
            std::string::npos)
      << e;
  e = with(smollm3, [](auto& c) { c["layer_types"] = {"full_attention", "full_attention", "full_attention", "sliding_attention"}; });
  EXPECT_NE(e.find("layer_types[3] is \"sliding_attention\"; rpu runs smollm3 with full attention in every layer"), std::string::npos) << e;
  // Every layer full, as newer transformers write for a model without a window: accepted.
  e = with(smollm3, [](auto& c) { c["layer_types"] = std::vector<std::string>(4, "full_attention"); });
  EXPECT_EQ(e, "");
  e = with(gemma3, [](auto& c) { c["sliding_window_pattern"] = 4; });
  EXPECT_NE(e.find("sliding_window_pattern is 4; rpu runs gemma3 with a period of 6"), std::string::npos) << e;
  e = with(gemma3, [](auto& c) { c["layer_types"].erase(c["layer_types"].begin()); });
  EXPECT_NE(e.find("'layer_types' must list all 6 layers"), std::string::npos) << e;
  e = with(smollm3, [](auto& c) { c["no_rope_layers"][2] = 0; });
  EXPECT_NE(e.find("no_rope_layers[2] is 0; rpu runs smollm3 with every 4th layer without RoPE"), std::string::npos) << e;
  e = with(gemma2, [](auto& c) { c["query_pre_attn_scalar"] = 144; });
  EXPECT_NE(e.find("query_pre_attn_scalar is 144; rpu scales gemma2 queries of this size by 1/sqrt(16)"), std::string::npos) << e;
  e = with(phi3, [](auto& c) { c["rope_scaling"]["short_factor"].erase(0); });
  EXPECT_NE(e.find("rope_scaling.short_factor must be a list of 6 numbers"), std::string::npos) << e;
  e = with(phi3, [](auto& c) { c["partial_rotary_factor"] = 1.5; });
  EXPECT_NE(e.find("'partial_rotary_factor' must be a number in (0, 1]"), std::string::npos) << e;
  e = with(multimodal, [](auto& c) { c.erase("text_config"); });
  EXPECT_NE(e.find("config.json has no text_config object"), std::string::npos) << e;
}

}  // namespace
}  // namespace rpu
