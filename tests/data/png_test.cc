// PNG decoding (libpng) and the MNIST preparation of a picture, on real MNIST test images
// written as PNGs here (with libpng): at their own size, scaled up, as dark ink on light colour
// paper, and on a transparent canvas. A model trained a little must classify the prepared
// pictures as it classifies the originals.
#include "data/png.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <iostream>
#include <vector>

#include "data/mnist.h"
#include "nn/model.h"
#include "test_util/test_env.h"

namespace loom {
namespace {

constexpr int kImages = 1000;

class PngTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto mnist = LoadMnist(testing::MnistDir());
    ASSERT_TRUE(mnist.ok()) << mnist.status().ToString();
    mnist_ = new Mnist(std::move(*mnist));
    auto model = nn::Model::Create(nn::ModelSpec::Mlp(100), nn::ModelOptions{});
    ASSERT_TRUE(model.ok());
    model_ = model->release();
    model_->InitParameters(5);
    const Dataset& train = mnist_->train;
    std::vector<float> images(100 * train.features);
    for (int step = 0; step < 500; ++step) {
      const int64_t first = step * 100 % (train.size - 100);
      // The training split may be held as pixels (Dataset::held_as_pixels): copy the batch as floats.
      for (int k = 0; k < 100; ++k) train.CopyImage(first + k, images.data() + k * train.features);
      model_->ComputeGradients(images.data(), train.labels.data() + first, 100);
      for (nn::Parameter& p : model_->parameters())
        for (int64_t i = 0; i < p.value.size(); ++i) p.value[i] -= 0.1f * p.grad[i];
    }
  }
  static void TearDownTestSuite() {
    delete model_;
    delete mnist_;
  }

  static int64_t Classify(const float* image) {
    float scores[10];
    model_->Predict(image, 1, scores);
    return std::max_element(scores, scores + 10) - scores;
  }

  // Test image i as 8-bit pixels (0 background, 255 ink).
  static std::vector<uint8_t> Pixels(int64_t i) {
    std::vector<uint8_t> p(784);
    for (int k = 0; k < 784; ++k) p[k] = static_cast<uint8_t>(std::lround(mnist_->test.image(i)[k] * 255));
    return p;
  }

  // Encodes, decodes and prepares `samples` (channels per pixel) as `loom predict` does.
  static std::vector<float> RoundTrip(int64_t w, int64_t h, int channels, const std::vector<uint8_t>& samples) {
    auto png = EncodePng(w, h, channels, samples.data());
    EXPECT_TRUE(png.ok()) << png.status().ToString();
    auto image = DecodePng(*png, "test.png");
    EXPECT_TRUE(image.ok()) << image.status().ToString();
    EXPECT_EQ(image->width, w);
    EXPECT_EQ(image->height, h);
    auto mnist = MnistFromImage(*image, "test.png");
    EXPECT_TRUE(mnist.ok()) << mnist.status().ToString();
    return mnist.ok() ? *mnist : std::vector<float>(784, 0.0f);
  }

  // How many of the first kImages test images keep their class after `transform`, and how many
  // are classified right before and after it.
  struct Counts {
    int same = 0, right_before = 0, right_after = 0;
  };
  static Counts Agreement(const std::function<std::vector<float>(int64_t)>& transform) {
    Counts c;
    for (int64_t i = 0; i < kImages; ++i) {
      const int64_t before = Classify(mnist_->test.image(i)), after = Classify(transform(i).data());
      c.same += before == after;
      c.right_before += before == mnist_->test.labels[i];
      c.right_after += after == mnist_->test.labels[i];
    }
    std::cout << c.same << " of " << kImages << " keep their class; right before " << c.right_before
              << ", after " << c.right_after << "\n";
    return c;
  }

  static Mnist* mnist_;
  static nn::Model* model_;
};

Mnist* PngTest::mnist_ = nullptr;
nn::Model* PngTest::model_ = nullptr;

TEST_F(PngTest, MnistImagesComeBackAsThemselves) {
  // A digit already 20 pixels tall and centred by mass is left as it is (up to a pixel's shift
  // when its centre of mass rounds the other way).
  int identical = 0;
  for (int64_t i = 0; i < kImages; ++i) {
    std::vector<float> back = RoundTrip(28, 28, 1, Pixels(i));
    double diff = 0;
    for (int k = 0; k < 784; ++k) diff += std::fabs(back[k] - mnist_->test.image(i)[k]);
    identical += diff / 784 < 0.01;
  }
  std::cout << identical << " of " << kImages << " unchanged\n";
  EXPECT_GE(identical, kImages * 9 / 10);
}

TEST_F(PngTest, ScaledColourPicturesOnPaperKeepTheirClass) {
  // 3x larger, dark blue ink on cream paper, off-centre in a 130x100 RGB picture.
  const int w = 130, h = 100, ox = 7, oy = 11;
  const Counts counts = Agreement([&](int64_t i) {
    std::vector<uint8_t> px = Pixels(i), rgb(w * h * 3);
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) {
        const int sx = (x - ox) / 3, sy = (y - oy) / 3;
        const float ink = (x >= ox && y >= oy && sx < 28 && sy < 28) ? px[sy * 28 + sx] / 255.0f : 0.0f;
        const uint8_t paper[3] = {250, 245, 225}, pen[3] = {20, 30, 110};
        for (int c = 0; c < 3; ++c)
          rgb[(y * w + x) * 3 + c] = static_cast<uint8_t>(std::lround(paper[c] + ink * (pen[c] - paper[c])));
      }
    return RoundTrip(w, h, 3, rgb);
  });
  EXPECT_GE(counts.same, kImages * 97 / 100);
  EXPECT_GE(counts.right_after, counts.right_before - kImages / 100);
}

TEST_F(PngTest, NonIntegerScaleAndTransparentCanvasKeepTheirClass) {
  // 1.7x (bilinear), black ink on a transparent canvas (grey+alpha).
  const int side = 48;
  const Counts counts = Agreement([&](int64_t i) {
    std::vector<uint8_t> px = Pixels(i), ga(side * side * 2);
    auto at = [&](int x, int y) { return x < 0 || y < 0 || x > 27 || y > 27 ? 0.0 : px[y * 28 + x] / 255.0; };
    for (int y = 0; y < side; ++y)
      for (int x = 0; x < side; ++x) {
        const double fx = (x + 0.5) / 1.7 - 0.5, fy = (y + 0.5) / 1.7 - 0.5;
        const int x0 = static_cast<int>(std::floor(fx)), y0 = static_cast<int>(std::floor(fy));
        const double ax = fx - x0, ay = fy - y0;
        const double v = (1 - ay) * ((1 - ax) * at(x0, y0) + ax * at(x0 + 1, y0)) +
                         ay * ((1 - ax) * at(x0, y0 + 1) + ax * at(x0 + 1, y0 + 1));
        ga[(y * side + x) * 2] = 0;
        ga[(y * side + x) * 2 + 1] = static_cast<uint8_t>(std::lround(v * 255));
      }
    return RoundTrip(side, side, 2, ga);
  });
  EXPECT_GE(counts.same, kImages * 90 / 100);
  EXPECT_GE(counts.right_after, counts.right_before - kImages * 3 / 100);
}

TEST(PngErrorsTest, BadInputIsOneLineNamingTheFile) {
  auto not_png = DecodePng("GIF89a........", "digit.gif");
  ASSERT_FALSE(not_png.ok());
  EXPECT_EQ(not_png.status().message().rfind("digit.gif: not a PNG image", 0), 0u) << not_png.status().ToString();

  std::vector<uint8_t> grey(32 * 32, 128);
  auto png = EncodePng(32, 32, 1, grey.data());
  ASSERT_TRUE(png.ok());
  auto truncated = DecodePng(std::string_view(*png).substr(0, png->size() / 2), "cut.png");
  ASSERT_FALSE(truncated.ok());
  EXPECT_EQ(truncated.status().message().rfind("cut.png: ", 0), 0u) << truncated.status().ToString();

  auto blank = DecodePng(*png, "blank.png");
  ASSERT_TRUE(blank.ok());
  auto none = MnistFromImage(*blank, "blank.png");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().message(), "blank.png: no digit found: the image is blank");

  auto missing = ReadPng("/nonexistent/x.png");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("/nonexistent/x.png"), std::string::npos);
}

}  // namespace
}  // namespace loom
