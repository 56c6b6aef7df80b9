// S3 of the conversion loop: group logged calls into tasks by what they ask for.
//
// Vectors. By default TF-IDF of each call's task signature (logged_call.h), tokenised and
// weighted by gateway/task_signature.h (shared with the gateway's task classifier, so a call is
// vectorised the same way when clustered and when routed):
//   - tokens: lowercase words (letters, digits, '_' so tool names stay whole; lone letters
//     dropped); a placeholder of the scrubber (<EMAIL_1>, <PERSON_2>) becomes its type
//     (<EMAIL>), a token with a digit <NUM>, so two calls of one type that differ only in
//     personal data or numbers look alike;
//   - vocabulary: terms found in at least `min_df` calls (a term of one call cannot group it
//     with another), the `max_terms` most frequent kept;
//   - weight (1 + ln tf) * ln((1 + n) / (1 + df)): sublinear tf, and a term found in every call
//     weighs nothing, so the signature's "system:/tools:/user:" scaffolding does not pull all
//     calls together; each vector L2-normalised.
// Optionally the vectors are a Backend's embeddings (pipeline/backend.h embed(), unit length)
// instead; TF-IDF is the default because the built-in model's embeddings are weak. Cluster
// labels (top terms) always come from TF-IDF.
//
// Clustering: k-means (Lloyd) on the unit vectors with squared Euclidean distance (on unit
// vectors the same order as cosine distance), k-means++ seeding from a seeded splitmix64 Rng,
// `restarts` runs per k, the run with the least inertia kept; an emptied cluster takes the
// point farthest from its centroid.
// Choosing k: for each k in [k_min, k_max] the sample (all calls, or `sample_size` of them drawn
// with the seed when there are more) is clustered and its mean silhouette computed with
// Euclidean distances; the k with the highest mean silhouette wins (ties: the smaller k). With
// a sample, the chosen k is then fitted on all calls. A fixed k skips the search. Fewer than
// 2 * k_min calls (or no two distinct vectors): one cluster, with a note.
// Cost: the search is O(sample^2) for the distance matrix plus k-means on the sample; the
// final fit O(n * k * nnz) per iteration: 10k calls of the bench workload take 1.4 s with
// loading the log (1.2 s of CPU, one core).
// Answer shapes (cluster_calls): S4 picks a call's metric and S6 a route's output constraints (a
// forced tool call) from the shape of the teacher's answers (metric.h: a tool call, a JSON object,
// a final number, text), so a cluster should hold one shape. Signatures cannot always tell: under
// one "You are a helpful assistant" prompt an agent sends tool calls and free-form requests, and
// the silhouette's k kept them together (the bench workload: 485 tool calls with 306 open calls).
// So a cluster whose teacher answers are mixed (the shapes other than its most common one are at
// least 10% of its teacher answers and at least 10 calls) is split in two: the mean vector of its
// calls of the most common shape and of the others, and every member (an unknown shape too) to
// the nearer one by cosine, as the gateway's nearest-centroid classifier will route live calls.
// The split is kept only when the halves hold at most half as many calls of a minority shape as
// the cluster did, i.e. when the signatures do tell the shapes apart (2-means on the members, tried
// first, split the bench's mixed cluster along other lines); the halves are checked again, at most
// kMaxShapeSplits splits in all.
// Merging clusters with one answer contract (cluster_calls): agents with other system prompts that
// fill the same tools' arguments send one task, yet the signatures (where the system prompt weighs
// most) put each prompt in a cluster of its own. The bench workload's 667 tool calls became four
// clusters of 135-182, one per agent prompt, each too small for its specialist to learn to copy
// the arguments. So clusters whose teacher answers have a contract (metric.h answer_contract: a
// call of tool X, a JSON object with keys K, a final number; the majority shape, not mixed) are
// merged when their contracts match: the cosine of their per-contract counts is at least
// kSameContractCosine (the same tools, or keys, in similar proportions). Tool-call clusters
// calling other tools stay apart, and so do clusters of exact-match text (two label sets are two
// tasks, and a label cannot say which). A merged cluster keeps its parts (the clusters before
// merging), and the gateway's classifier one centroid per part, so a live call is matched
// against its own prompt's calls rather than against the mean of several prompts.
// Deterministic: the same calls, options and seed give the same clusters (one thread).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/task_signature.h"

namespace rpu {
class Backend;
}

namespace rpu::convert {

struct LoggedCall;

// Sparse and unit length (TF-IDF), or dense as a sparse vector with every index (embeddings).
using gateway::SparseVector;
// The signature's tokens as described above (the gateway's implementation).
using gateway::signature_tokens;

struct TfidfOptions {
  int min_df = 2;            // a term must be in at least this many texts
  size_t max_terms = 20000;  // the most frequent terms kept
};

struct Tfidf {
  std::vector<std::string> terms;     // vocabulary, by index
  std::vector<double> idf;            // per term (what the gateway's classifier file carries)
  std::vector<SparseVector> vectors;  // one per text, L2-normalised (all zero when no term is kept)
};
Tfidf tfidf_vectors(const std::vector<std::string>& texts, const TfidfOptions& options = {});

struct KMeansResult {
  std::vector<int> labels;  // cluster of each point, 0..k-1
  std::vector<std::vector<float>> centroids;
  double inertia = 0;  // sum of squared distances to the centroids
};
// k-means++ seeding, `restarts` runs, the best kept. Needs 1 <= k <= points.size().
KMeansResult kmeans(const std::vector<SparseVector>& points, size_t dimensions, int k, uint64_t seed, int restarts = 4,
                    int max_iterations = 100);

// Mean silhouette of a labelling with Euclidean distances; 0 when there is one cluster. A point
// alone in its cluster scores 0 (the usual convention).
double mean_silhouette(const std::vector<SparseVector>& points, const std::vector<int>& labels);

// Hubert and Arabie's adjusted Rand index of two labellings of the same items: 1 for the same
// partition (whatever the label names), about 0 for independent ones. Both partitions of one
// cluster each (or of singletons each) give 1.
double adjusted_rand_index(const std::vector<int>& labels_a, const std::vector<int>& labels_b);
// The same for string labels (e.g. the workload's type names).
double adjusted_rand_index(const std::vector<std::string>& labels_a, const std::vector<std::string>& labels_b);

struct ClusterOptions {
  int k = 0;  // > 0: exactly this k (capped at the number of calls); 0: chosen by silhouette
  int k_min = 2, k_max = 12;
  uint64_t seed = 1;
  int restarts = 4;
  size_t sample_size = 2000;  // most points the silhouette (and the k search) is computed on
  TfidfOptions tfidf;
  // Embeddings instead of TF-IDF: a Backend whose embed() serves `embed_model` (empty: its
  // model_id()). Null: TF-IDF.
  Backend* embedder = nullptr;
  std::string embed_model;
  size_t embed_batch = 64;  // texts per embed() call
  bool split_mixed_shapes = true;  // split clusters of mixed answer shapes (above)
  bool merge_same_contracts = true;  // merge clusters with the same answer contract (above)
};

inline constexpr int kMaxShapeSplits = 16;
inline constexpr double kSameContractCosine = 0.8;

struct ClusterSummary {
  int id = 0;
  std::vector<size_t> members;         // indexes into the input, ascending
  std::vector<std::vector<size_t>> parts;  // the members by the cluster they were in before merging, larger first
  std::vector<std::string> top_terms;  // highest mean TF-IDF over the members, at most 5
  std::vector<size_t> examples;        // the (at most) 3 members nearest the centroid, nearest first
};

struct KScore {
  int k = 0;
  double silhouette = 0;
};

struct Clustering {
  std::string vectors;  // "tfidf" or "embedding:MODEL"
  std::string method;   // e.g. "k-means++ (4 restarts), k by mean silhouette on 600 of 600 calls"
  int k = 0;                             // clusters in the result (the silhouette's k + shape_splits - contract_merges)
  int shape_splits = 0;                  // clusters split for mixed answer shapes
  int contract_merges = 0;               // clusters merged into one with the same answer contract
  double silhouette = 0;                 // of the result (on the sample)
  std::vector<KScore> tried;             // the silhouette of every k searched (empty for a fixed k)
  std::vector<int> labels;               // cluster of each input text
  std::vector<ClusterSummary> clusters;  // by id; larger clusters first
  std::string note;                      // why the result is degenerate, when it is
  Tfidf tfidf;                           // of the texts (labels and the gateway's classifier come from it)
};

// Clusters texts (task signatures). `shapes`: empty, or one per text, the shape of its teacher
// answer (MetricKind as an int; -1 unknown), for the split above. `contracts`: empty, or one per
// text (shapes given), its teacher answer's answer_contract ("" none), for the merge above.
// Throws rpu::Error on an empty input, shapes or tools of another length or a failing embedder.
Clustering cluster_texts(const std::vector<std::string>& texts, const ClusterOptions& options = {},
                         const std::vector<int>& shapes = {}, const std::vector<std::string>& contracts = {});
// The same over logged calls' task_signature(), with the shapes of the teacher answers
// (metric_for_answer; calls not from a teacher: unknown) and their contracts.
Clustering cluster_calls(const std::vector<LoggedCall>& calls, const ClusterOptions& options = {});

}  // namespace rpu::convert
