// AdamW and the schedule against their closed forms, and a convergence check.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "core/error.h"
#include "train/optimizer.h"

namespace rpu {
namespace {

TEST(AdamWTest, FirstStepsMatchTheFormula) {
  std::vector<float> p = {1.0f, -2.0f, 0.5f}, g(3);
  std::vector<float> q = {3.0f}, gq(1);
  AdamWOptions o;
  o.weight_decay = 0.1f;
  o.clip_norm = 0;
  AdamW opt(o);
  opt.add("w", p, g, true);
  opt.add("norm", q, gq, false);
  // Reference in double: two steps with fixed gradients.
  std::vector<double> ref_p = {1.0, -2.0, 0.5, 3.0}, m(4, 0), v(4, 0);
  const std::vector<std::vector<double>> grads = {{0.5, -1.0, 2.0, 0.25}, {-0.1, 0.3, 1.0, -0.5}};
  const double lr = 0.01;
  for (int step = 1; step <= 2; ++step) {
    const auto& gr = grads[static_cast<size_t>(step - 1)];
    for (int i = 0; i < 3; ++i) g[static_cast<size_t>(i)] = static_cast<float>(gr[static_cast<size_t>(i)]);
    gq[0] = static_cast<float>(gr[3]);
    opt.step(static_cast<float>(lr));
    for (size_t i = 0; i < 4; ++i) {
      m[i] = 0.9 * m[i] + 0.1 * gr[i];
      v[i] = 0.95 * v[i] + 0.05 * gr[i] * gr[i];
      const double update = (m[i] / (1 - std::pow(0.9, step))) / (std::sqrt(v[i] / (1 - std::pow(0.95, step))) + 1e-8);
      const double decay = i < 3 ? 0.1 : 0.0;
      ref_p[i] -= lr * (update + decay * ref_p[i]);
    }
    for (size_t i = 0; i < 3; ++i) EXPECT_NEAR(p[i], ref_p[i], 1e-6) << "step " << step;
    EXPECT_NEAR(q[0], ref_p[3], 1e-6);
    EXPECT_EQ(g[0], 0.0f);  // gradients are zeroed
  }
}

TEST(AdamWTest, ClipsTheGlobalNormAndRefusesNonFiniteGradients) {
  std::vector<float> p = {0, 0}, g = {30.0f, 40.0f};
  AdamWOptions o;
  o.clip_norm = 1.0f;
  o.weight_decay = 0;
  AdamW opt(o);
  opt.add("w", p, g, true);
  EXPECT_FLOAT_EQ(opt.step(0.1f), 50.0f);  // the norm before clipping
  // Adam's first step moves each coordinate by ~lr whatever the scale; clipping keeps the sign.
  EXPECT_NEAR(p[0], -0.1f, 1e-5);
  EXPECT_NEAR(p[1], -0.1f, 1e-5);
  g = {NAN, 1.0f};
  EXPECT_THROW(opt.step(0.1f), Error);
}

// Tensors longer than one 65,536-value block, updated with and without a pool: the blocks
// split the work, never the arithmetic, so the results are identical bit for bit; and the
// norm agrees with a float64 sum.
TEST(AdamWTest, PooledStepsEqualSingleThreadedOnes) {
  const size_t n = 150000;
  std::vector<float> p1(n), g1(n), small1 = {0.5f}, gs1 = {0.0f};
  for (size_t i = 0; i < n; ++i) {
    p1[i] = std::sin(0.001f * static_cast<float>(i));
    g1[i] = std::cos(0.37f * static_cast<float>(i)) * 1e-3f;
  }
  std::vector<float> p2 = p1, g2 = g1, small2 = small1, gs2 = gs1;
  AdamW serial, pooled;
  serial.add("w", p1, g1, true);
  serial.add("b", small1, gs1, false);
  pooled.add("w", p2, g2, true);
  pooled.add("b", small2, gs2, false);
  ThreadPool pool(3);
  double want = 0;
  for (float x : g1) want += static_cast<double>(x) * x;
  EXPECT_NEAR(pooled.grad_norm(&pool), std::sqrt(want), 1e-6 * std::sqrt(want));
  for (int step = 0; step < 3; ++step) {
    for (size_t i = 0; i < n; ++i) g1[i] = g2[i] = std::cos(0.37f * static_cast<float>(i + step)) * 1e-3f;
    gs1[0] = gs2[0] = 0.25f;
    EXPECT_EQ(serial.step(0.01f), pooled.step(0.01f, &pool));
  }
  EXPECT_EQ(p1, p2);
  EXPECT_EQ(small1, small2);
  EXPECT_NE(p1[1], std::sin(0.001f));  // the step moved them
}

TEST(AdamWTest, MinimisesAQuadraticAndStateRoundTrips) {
  std::vector<float> p = {5.0f, -3.0f}, g(2);
  AdamWOptions o;
  o.weight_decay = 0;
  AdamW opt(o);
  opt.add("w", p, g, true);
  for (int i = 0; i < 2000; ++i) {
    g[0] = 2 * (p[0] - 1.0f);  // (p0 - 1)^2 + 4 (p1 + 2)^2
    g[1] = 8 * (p[1] + 2.0f);
    opt.step(0.01f);
  }
  EXPECT_NEAR(p[0], 1.0f, 1e-2);
  EXPECT_NEAR(p[1], -2.0f, 1e-2);
  std::stringstream state;
  opt.save(state);
  std::vector<float> p2 = p, g2(2);
  AdamW restored(o);
  restored.add("w", p2, g2, true);
  restored.load(state);
  EXPECT_EQ(restored.steps_taken(), 2000);
  std::vector<float> p3(2), g3(2);
  AdamW wrong(o);
  wrong.add("other", p3, g3, true);
  std::stringstream again;
  opt.save(again);
  EXPECT_THROW(wrong.load(again), Error);
}

TEST(LearningRateScheduleTest, WarmupThenCosineToTheFloor) {
  LearningRateSchedule s{1e-3f, 10, 110, 0.1f};
  EXPECT_FLOAT_EQ(s.at(0), 1e-4f);
  EXPECT_FLOAT_EQ(s.at(9), 1e-3f);
  EXPECT_NEAR(s.at(10), 1e-3f, 1e-9);
  EXPECT_NEAR(s.at(60), 1e-3f * (0.1f + 0.9f * 0.5f), 1e-8);  // half way: cos = 0
  EXPECT_NEAR(s.at(110), 1e-4f, 1e-9);
  EXPECT_NEAR(s.at(500), 1e-4f, 1e-9);
}

// A time-boxed run anneals by the share of its time budget when that is further along than
// the steps: the rate at half the time is the cosine's midpoint, at the end its floor.
TEST(LearningRateScheduleTest, TimeBudgetDrivesTheCosineWhenAhead) {
  LearningRateSchedule s{1e-3f, 10, 100010, 0.1f};
  EXPECT_FLOAT_EQ(s.at(50, 0.0), s.at(50));
  EXPECT_NEAR(s.at(50, 0.5), 1e-4f + 0.9e-3f * 0.5f, 1e-6);
  EXPECT_NEAR(s.at(50, 1.0), 1e-4f, 1e-9);
  EXPECT_NEAR(s.at(50, 3.0), 1e-4f, 1e-9);      // over budget: stays at the floor
  EXPECT_FLOAT_EQ(s.at(5, 1.0), s.at(5));        // warmup is by steps only
  EXPECT_FLOAT_EQ(s.at(90010, 0.1), s.at(90010)); // steps further along than time: steps decide
}

}  // namespace
}  // namespace rpu
