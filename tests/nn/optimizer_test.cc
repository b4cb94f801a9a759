#include "nn/optimizer.h"

#include <gtest/gtest.h>

#include <cmath>

namespace loom::nn {
namespace {

Parameter MakeParam(const std::string& name, std::vector<float> values) {
  Parameter p{name, Tensor({static_cast<int64_t>(values.size())}), Tensor({static_cast<int64_t>(values.size())})};
  for (size_t i = 0; i < values.size(); ++i) p.value[i] = values[i];
  return p;
}

void SetGrad(Parameter& p, std::vector<float> g) {
  for (size_t i = 0; i < g.size(); ++i) p.grad[i] = g[i];
}

TEST(OptimizerTest, AdamMatchesHandComputedSteps) {
  auto opt = Optimizer::Create(OptimizerOptions{});
  ASSERT_TRUE(opt.ok());
  std::vector<Parameter> params = {MakeParam("w", {1.0f, -2.0f, 0.5f})};
  const std::vector<std::vector<float>> grads = {{0.1f, -0.3f, 0.0f}, {0.2f, 0.05f, 1.0f}, {-0.4f, 0.0f, 1.0f}};
  // Step 1 by hand: m = 0.1 g, v = 0.001 g^2, lr_t = 0.01 sqrt(0.001) / 0.1, so each weight
  // with a non-zero gradient moves by 0.01 against its sign (up to epsilon).
  SetGrad(params[0], grads[0]);
  (*opt)->Apply(params);
  EXPECT_NEAR(params[0].value[0], 0.99f, 1e-6);
  EXPECT_NEAR(params[0].value[1], -1.99f, 1e-6);
  EXPECT_EQ(params[0].value[2], 0.5f);
  // Steps 2 and 3 against the formulas in double.
  double w[3] = {1.0, -2.0, 0.5}, m[3] = {0, 0, 0}, v[3] = {0, 0, 0};
  for (int t = 1; t <= 3; ++t) {
    const double lr_t = 0.01 * std::sqrt(1 - std::pow(0.999, t)) / (1 - std::pow(0.9, t));
    for (int i = 0; i < 3; ++i) {
      const double g = grads[t - 1][i];
      m[i] = 0.9 * m[i] + 0.1 * g;
      v[i] = 0.999 * v[i] + 0.001 * g * g;
      w[i] -= lr_t * m[i] / (std::sqrt(v[i]) + 1e-8);
    }
    if (t == 1) continue;
    SetGrad(params[0], grads[t - 1]);
    (*opt)->Apply(params);
    for (int i = 0; i < 3; ++i) EXPECT_NEAR(params[0].value[i], w[i], 2e-6) << "step " << t << " i " << i;
  }
  EXPECT_EQ((*opt)->step(), 3);
  auto state = (*opt)->SaveState();
  ASSERT_EQ(state.size(), 3u);
  EXPECT_EQ(state[0].name, "step");
  EXPECT_EQ(state[0].tensor[0], 3.0f);
  EXPECT_EQ(state[1].name, "w/Adam");
  EXPECT_EQ(state[2].name, "w/Adam_1");
  for (int i = 0; i < 3; ++i) {
    // Float arithmetic, as TF: 1 - 0.999f is 0.001 to 1.3e-5 relative.
    EXPECT_NEAR(state[1].tensor[i], m[i], 1e-5 * std::fabs(m[i]) + 1e-9);
    EXPECT_NEAR(state[2].tensor[i], v[i], 5e-5 * std::fabs(v[i]) + 1e-12);
  }
}

TEST(OptimizerTest, MomentumMatchesHandComputedSteps) {
  OptimizerOptions o;
  o.type = "sgd";
  o.learning_rate = 0.1;
  auto opt = Optimizer::Create(o);
  ASSERT_TRUE(opt.ok());
  std::vector<Parameter> params = {MakeParam("w", {1.0f})};
  const float expected[] = {0.95f, 0.855f, 0.7195f};  // accum 0.5, 0.95, 1.355
  for (float e : expected) {
    SetGrad(params[0], {0.5f});
    (*opt)->Apply(params);
    EXPECT_NEAR(params[0].value[0], e, 1e-6);
  }
  auto state = (*opt)->SaveState();
  ASSERT_EQ(state.size(), 2u);
  EXPECT_EQ(state[1].name, "w/Momentum");
  EXPECT_NEAR(state[1].tensor[0], 1.355f, 1e-6);
}

TEST(OptimizerTest, SetLearningRateTakesEffectOnTheNextStep) {
  OptimizerOptions o = *OptimizerOptions::FromName("sgd");
  o.momentum = 0;
  auto opt = Optimizer::Create(o);
  std::vector<Parameter> params = {MakeParam("w", {1.0f})};
  SetGrad(params[0], {1.0f});
  (*opt)->Apply(params);
  EXPECT_NEAR(params[0].value[0], 0.99f, 1e-7);
  (*opt)->set_learning_rate(0.5);
  (*opt)->Apply(params);
  EXPECT_NEAR(params[0].value[0], 0.49f, 1e-6);
  EXPECT_EQ((*opt)->options().learning_rate, 0.5);
}

TEST(OptimizerTest, FreeFunctionsWorkOnShards) {
  // Applying AdamUpdate to two halves equals applying it to the whole.
  std::vector<float> w(37), g(37), m(37, 0.01f), v(37, 0.02f);
  for (int i = 0; i < 37; ++i) {
    w[i] = 0.1f * i;
    g[i] = std::sin(static_cast<float>(i));
  }
  auto w2 = w, m2 = m, v2 = v;
  const float lr = AdamLearningRate(0.01, 0.9, 0.999, 5);
  AdamUpdate(w.data(), g.data(), m.data(), v.data(), 37, lr, 0.9f, 0.999f, 1e-8f);
  AdamUpdate(w2.data(), g.data(), m2.data(), v2.data(), 20, lr, 0.9f, 0.999f, 1e-8f);
  AdamUpdate(w2.data() + 20, g.data() + 20, m2.data() + 20, v2.data() + 20, 17, lr, 0.9f, 0.999f, 1e-8f);
  EXPECT_EQ(w, w2);
  EXPECT_EQ(m, m2);
  EXPECT_EQ(v, v2);
}

std::vector<Parameter> BigParams() {
  std::vector<Parameter> params;
  for (int64_t size : {7841, 100, 1000, 10}) {
    std::vector<float> values(size);
    for (int64_t i = 0; i < size; ++i) values[i] = std::cos(0.37f * static_cast<float>(i + size));
    params.push_back(MakeParam("p" + std::to_string(size), values));
    for (int64_t i = 0; i < size; ++i) params.back().grad[i] = std::sin(0.11f * static_cast<float>(i));
  }
  return params;
}

TEST(OptimizerTest, TwoThreadsEqualOne) {
  for (const char* type : {"adam", "sgd"}) {
    OptimizerOptions o = *OptimizerOptions::FromName(type);
    auto one = Optimizer::Create(o);
    o.num_threads = 2;
    auto two = Optimizer::Create(o);
    ASSERT_TRUE(one.ok() && two.ok());
    auto a = BigParams(), b = BigParams();
    for (int step = 0; step < 3; ++step) {
      (*one)->Apply(a);
      (*two)->Apply(b);
    }
    for (size_t p = 0; p < a.size(); ++p) EXPECT_EQ(a[p].value, b[p].value) << type << " " << a[p].name;
  }
}

TEST(OptimizerTest, SaveAndLoadContinuesExactly) {
  auto a = BigParams();
  auto opt = Optimizer::Create(OptimizerOptions{});
  (*opt)->Apply(a);
  (*opt)->Apply(a);
  auto state = (*opt)->SaveState();
  auto b = a;
  auto restored = Optimizer::Create(OptimizerOptions{});
  ASSERT_TRUE((*restored)->LoadState(state, "ckpt", b).ok());
  EXPECT_EQ((*restored)->step(), 2);
  (*opt)->Apply(a);
  (*restored)->Apply(b);
  for (size_t p = 0; p < a.size(); ++p) EXPECT_EQ(a[p].value, b[p].value);
}

TEST(OptimizerTest, LoadStateErrorsNameTheTensor) {
  auto params = BigParams();
  OptimizerOptions sgd_options = *OptimizerOptions::FromName("sgd");
  auto sgd = Optimizer::Create(sgd_options);
  (*sgd)->Apply(params);
  auto sgd_state = (*sgd)->SaveState();
  auto adam = Optimizer::Create(OptimizerOptions{});
  Status s = (*adam)->LoadState(sgd_state, "/d/model.ckpt-1.safetensors");
  EXPECT_EQ(s.message(),
            "/d/model.ckpt-1.safetensors: optimizer state p7841/Momentum is not a slot of the adam optimizer "
            "(its slots end in /Adam and /Adam_1)");
  EXPECT_EQ((*adam)->step(), 0);

  std::vector<NamedTensor> no_step(sgd_state.begin() + 1, sgd_state.end());
  EXPECT_EQ((*sgd)->LoadState(no_step, "c").message(), "c: optimizer state has no step");

  auto bad_step = sgd_state;
  bad_step[0].tensor[0] = 1.5f;
  EXPECT_EQ((*sgd)->LoadState(bad_step, "c").code(), StatusCode::kDataLoss);

  auto other = BigParams();
  other[0] = MakeParam("p7841", std::vector<float>(10, 0.0f));
  auto fresh = Optimizer::Create(sgd_options);
  EXPECT_EQ((*fresh)->LoadState(sgd_state, "c", other).message(),
            "c: p7841/Momentum has shape [7841], the parameter has [10]");
  other[0].name = "q";
  EXPECT_EQ((*fresh)->LoadState(sgd_state, "c", other).message(), "c: optimizer state has no q/Momentum");
  // A step alone (saved before any update) is a valid state.
  EXPECT_TRUE((*fresh)->LoadState({sgd_state[0]}, "c", params).ok());
}

TEST(OptimizerTest, OptionsParseAndValidate) {
  EXPECT_EQ(OptimizerOptions::FromName("momentum")->type, "sgd");
  EXPECT_EQ(OptimizerOptions::FromName("adagrad").status().message(), "unknown optimizer \"adagrad\" (want adam or sgd)");
  OptimizerOptions o;
  o.learning_rate = 0.5;
  o.beta2 = 0.99;
  auto back = OptimizerOptions::FromJson(o.ToJson(), "meta");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->learning_rate, 0.5);
  EXPECT_EQ(back->beta2, 0.99);
  EXPECT_EQ(OptimizerOptions::FromJson(Json{{"type", "adam"}, {"lr", 1}}, "m").status().message(),
            "m: lr: unknown optimizer option");
  o.learning_rate = -1;
  EXPECT_EQ(Optimizer::Create(o).status().message(), "optimizer.learning_rate: must be a positive number, got -1.000000");
  o = OptimizerOptions{};
  o.type = "rmsprop";
  EXPECT_FALSE(Optimizer::Create(o).ok());
}

}  // namespace
}  // namespace loom::nn
