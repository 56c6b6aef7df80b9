// S3 of the conversion loop (src/convert/cluster.h) against hand-computed values: the adjusted
// Rand index, the signature tokens, TF-IDF weights, k chosen by silhouette on obvious blobs,
// and the same clusters for the same seed.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "convert/cluster.h"
#include "core/rng.h"

namespace rpu::convert {
namespace {

TEST(ConvertClusterAri, IdenticalPartitionsScoreOneWhateverTheNames) {
  EXPECT_DOUBLE_EQ(adjusted_rand_index(std::vector<int>{0, 0, 1, 1, 2}, std::vector<int>{0, 0, 1, 1, 2}), 1.0);
  EXPECT_DOUBLE_EQ(adjusted_rand_index(std::vector<int>{0, 0, 1, 1}, std::vector<int>{1, 1, 0, 0}), 1.0);
  EXPECT_DOUBLE_EQ(adjusted_rand_index(std::vector<std::string>{"a", "a", "b"}, std::vector<std::string>{"x", "x", "y"}),
                   1.0);
}

TEST(ConvertClusterAri, KnownContingencyTables) {
  // [0,0,1,1] vs [0,0,1,2]: index = C(2,2) = 1; rows 1 + 1 = 2; columns 1; pairs 6;
  // expected 2 * 1 / 6 = 1/3; max (2 + 1) / 2 = 3/2: (1 - 1/3) / (3/2 - 1/3) = 4/7.
  EXPECT_NEAR(adjusted_rand_index(std::vector<int>{0, 0, 1, 1}, std::vector<int>{0, 0, 1, 2}), 4.0 / 7.0, 1e-12);
  // [0,0,0,1,1,1] vs [0,0,1,1,2,2]: cells 2,1 / 1,2: index 2; rows 3 + 3 = 6; columns 1 + 1 + 1 = 3;
  // pairs 15; expected 6 * 3 / 15 = 1.2; max 4.5: 0.8 / 3.3 = 8/33.
  EXPECT_NEAR(adjusted_rand_index(std::vector<int>{0, 0, 0, 1, 1, 1}, std::vector<int>{0, 0, 1, 1, 2, 2}), 8.0 / 33.0,
              1e-12);
  // One cluster against all singletons: no pair agrees beyond chance.
  EXPECT_NEAR(adjusted_rand_index(std::vector<int>{0, 0, 0, 0}, std::vector<int>{0, 1, 2, 3}), 0.0, 1e-12);
  EXPECT_THROW(adjusted_rand_index(std::vector<int>{0}, std::vector<int>{0, 1}), std::exception);
}

TEST(ConvertClusterTokens, PlaceholdersAndNumbersAreNormalised) {
  const auto t = signature_tokens("system: Mail <EMAIL_1> or <PERSON_12>! | tools: book_table | user: Order PR-545530 at 5pm <UNSCRUBBED_REMOVED> <b>");
  const std::vector<std::string> expected = {"system", "mail", "<EMAIL>", "or", "<PERSON>", "tools", "book_table", "user",
                                             "order", "pr", "<NUM>", "at", "<NUM>", "<UNSCRUBBED_REMOVED>", "b"};
  EXPECT_EQ(t, expected);
}

TEST(ConvertClusterTfidf, SublinearIdfWeightsUnitLength) {
  // n = 3. "common" is in every text (idf ln(4/4) = 0: dropped); "cat" in 2 (idf ln(4/3));
  // "dog" in 2; "once" in 1 (below min_df 2).
  const Tfidf t = tfidf_vectors({"common cat cat dog", "common cat once", "common dog"});
  ASSERT_EQ(t.terms, (std::vector<std::string>{"cat", "common", "dog"}));
  const double idf = std::log(4.0 / 3.0);
  const double cat = (1 + std::log(2.0)) * idf, dog = idf, norm = std::sqrt(cat * cat + dog * dog);
  ASSERT_EQ(t.vectors[0].index, (std::vector<uint32_t>{0, 2}));
  EXPECT_NEAR(t.vectors[0].value[0], cat / norm, 1e-6);
  EXPECT_NEAR(t.vectors[0].value[1], dog / norm, 1e-6);
  ASSERT_EQ(t.vectors[1].index, (std::vector<uint32_t>{0}));
  EXPECT_NEAR(t.vectors[1].value[0], 1.0, 1e-6);
}

// Three tight blobs on the unit circle (120 degrees apart), points as dense sparse vectors.
std::vector<SparseVector> blobs(int per_blob, std::vector<int>* truth) {
  Rng rng(7);
  std::vector<SparseVector> points;
  for (int b = 0; b < 3; ++b) {
    for (int i = 0; i < per_blob; ++i) {
      const double angle = b * 2.0943951 + (rng.uniform() - 0.5) * 0.3;
      points.push_back({{0, 1}, {static_cast<float>(std::cos(angle)), static_cast<float>(std::sin(angle))}});
      truth->push_back(b);
    }
  }
  return points;
}

TEST(ConvertClusterKMeans, SilhouettePicksThreeForThreeBlobs) {
  std::vector<int> truth;
  const auto points = blobs(20, &truth);
  int best_k = 0;
  double best = -2;
  for (int k = 2; k <= 6; ++k) {
    const KMeansResult r = kmeans(points, 2, k, 11);
    const double s = mean_silhouette(points, r.labels);
    if (s > best) best = s, best_k = k;
  }
  EXPECT_EQ(best_k, 3);
  EXPECT_GT(best, 0.8);
  EXPECT_DOUBLE_EQ(adjusted_rand_index(kmeans(points, 2, 3, 11).labels, truth), 1.0);
}

std::vector<std::string> task_texts() {
  std::vector<std::string> texts;
  const char* kinds[] = {"system: classify the ticket into billing or technical | tools: | user: my invoice ",
                         "system: extract the name and email as json | tools: | user: hello from ",
                         "system: you can call tools | tools: book_table get_weather | user: book a table for "};
  for (int i = 0; i < 30; ++i) texts.push_back(std::string(kinds[i % 3]) + "<PERSON_1> number " + std::to_string(i));
  return texts;
}

TEST(ConvertClusterTexts, FindsTheTaskKindsAndIsDeterministic) {
  const auto texts = task_texts();
  ClusterOptions o;
  o.seed = 5;
  const Clustering a = cluster_texts(texts, o), b = cluster_texts(texts, o);
  EXPECT_EQ(a.k, 3);
  EXPECT_EQ(a.vectors, "tfidf");
  // Names and numbers normalise away, so there are three distinct vectors: k = 2 and 3 tried.
  EXPECT_EQ(a.tried.size(), 2u);
  EXPECT_EQ(a.labels, b.labels);
  std::vector<int> truth;
  for (int i = 0; i < 30; ++i) truth.push_back(i % 3);
  EXPECT_DOUBLE_EQ(adjusted_rand_index(a.labels, truth), 1.0);
  ASSERT_EQ(a.clusters.size(), 3u);
  for (const auto& c : a.clusters) {
    EXPECT_EQ(c.members.size(), 10u);
    EXPECT_EQ(c.examples.size(), 3u);
    EXPECT_EQ(c.top_terms.size(), 5u);
  }
  // A sample smaller than the input: k searched on it, then fitted on everything.
  o.sample_size = 12;
  const Clustering sampled = cluster_texts(texts, o);
  EXPECT_EQ(sampled.k, 3);
  EXPECT_DOUBLE_EQ(adjusted_rand_index(sampled.labels, truth), 1.0);
}

TEST(ConvertClusterTexts, FewOrIdenticalTextsMakeOneCluster) {
  const Clustering few = cluster_texts({"a b", "a c", "b c"});
  EXPECT_EQ(few.k, 1);
  EXPECT_FALSE(few.note.empty());
  const Clustering same = cluster_texts(std::vector<std::string>(10, "same text here"));
  EXPECT_EQ(same.k, 1);
  EXPECT_FALSE(same.note.empty());
  EXPECT_THROW(cluster_texts({}), std::exception);
  ClusterOptions fixed;
  fixed.k = 2;
  EXPECT_EQ(cluster_texts(task_texts(), fixed).k, 2);
}

}  // namespace
}  // namespace rpu::convert
