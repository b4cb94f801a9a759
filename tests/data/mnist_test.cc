#include "data/mnist.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "data/idx.h"
#include "idx_writer.h"
#include "test_util/test_env.h"

namespace loom {
namespace {

using ::loom::testing::Gzip;
using ::loom::testing::IdxFile;
using ::loom::testing::ScratchDir;
using ::loom::testing::WriteOrDie;

// Pixel j of synthetic image i.
uint8_t Pixel(uint32_t i, uint32_t j) { return static_cast<uint8_t>((i * 31 + j * 7) % 256); }
uint8_t Label(uint32_t i) { return static_cast<uint8_t>((i * 3 + 1) % 10); }

std::string Images(uint32_t n) {
  std::vector<uint8_t> data(size_t{n} * kMnistPixels);
  for (uint32_t i = 0; i < n; ++i) {
    for (uint32_t j = 0; j < kMnistPixels; ++j) data[size_t{i} * kMnistPixels + j] = Pixel(i, j);
  }
  return IdxFile({n, 28, 28}, data);
}

std::string Labels(uint32_t n) {
  std::vector<uint8_t> data(n);
  for (uint32_t i = 0; i < n; ++i) data[i] = Label(i);
  return IdxFile({n}, data);
}

// A small MNIST directory: 50 train and 20 test examples; the train files gzip-compressed.
void WriteSmallMnist(const ScratchDir& dir) {
  WriteOrDie(dir.Join("train-images-idx3-ubyte.gz"), Gzip(Images(50)));
  WriteOrDie(dir.Join("train-labels-idx1-ubyte.gz"), Gzip(Labels(50)));
  WriteOrDie(dir.Join("t10k-images-idx3-ubyte"), Images(20));
  WriteOrDie(dir.Join("t10k-labels-idx1-ubyte"), Labels(20));
}

// Example `e` of `ds` is synthetic example `source`.
void ExpectExample(const Dataset& ds, int64_t e, uint32_t source) {
  EXPECT_EQ(ds.labels[e], Label(source)) << "example " << e;
  std::vector<float> image(kMnistPixels);
  ds.CopyImage(e, image.data());
  for (uint32_t j = 0; j < kMnistPixels; ++j) {
    ASSERT_EQ(image[j], static_cast<float>(Pixel(source, j)) / 255.f)
        << "example " << e << " pixel " << j;
  }
}

void ExpectErrorNames(const StatusOr<Mnist>& r, const std::vector<std::string>& fragments) {
  ASSERT_FALSE(r.ok());
  for (const auto& f : fragments) {
    EXPECT_NE(r.status().message().find(f), std::string::npos) << r.status().message();
  }
}

TEST(MnistTest, SplitsLikeReadDataSets) {
  ScratchDir dir;
  WriteSmallMnist(dir);
  MnistOptions options;
  options.validation_size = 10;
  auto r = LoadMnist(dir.path(), options);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const Mnist& m = *r;
  ASSERT_EQ(m.validation.size, 10);
  ASSERT_EQ(m.train.size, 40);
  ASSERT_EQ(m.test.size, 20);
  for (const Dataset* ds : {&m.train, &m.validation, &m.test}) {
    EXPECT_EQ(ds->features, 784);
    // Train is held as bytes (batches are drawn from it), the others as floats.
    const bool pixels = ds == &m.train;
    EXPECT_EQ(ds->held_as_pixels(), pixels);
    EXPECT_EQ(ds->images.size(), pixels ? 0 : static_cast<size_t>(ds->size * 784));
    EXPECT_EQ(ds->pixels.size(), pixels ? static_cast<size_t>(ds->size * 784) : 0);
    EXPECT_EQ(ds->labels.size(), static_cast<size_t>(ds->size));
  }
  // Validation is the FIRST examples; train is the rest.
  for (int64_t e = 0; e < 10; ++e) ExpectExample(m.validation, e, static_cast<uint32_t>(e));
  for (int64_t e = 0; e < 40; ++e) ExpectExample(m.train, e, static_cast<uint32_t>(10 + e));
  for (int64_t e = 0; e < 20; ++e) ExpectExample(m.test, e, static_cast<uint32_t>(e));
  // A split held as bytes has no floats to point at: image() says so instead of handing out a
  // pointer into nothing (a caller that used it crashed inside the first layer's product).
  EXPECT_DEATH(m.train.image(0), "held as pixels; use CopyImage");
  EXPECT_EQ(m.test.image(1), m.test.images.data() + 784);
}

TEST(MnistTest, ValidationSizeBounds) {
  ScratchDir dir;
  WriteSmallMnist(dir);
  MnistOptions options;
  options.validation_size = 0;
  auto r = LoadMnist(dir.path(), options);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->validation.size, 0);
  EXPECT_EQ(r->train.size, 50);
  options.validation_size = 51;
  ExpectErrorNames(LoadMnist(dir.path(), options),
                   {"MnistOptions.validation_size: 51", dir.Join("train-images-idx3-ubyte.gz")});
  // The default (5000) is more than this small set has.
  ExpectErrorNames(LoadMnist(dir.path()), {"MnistOptions.validation_size: 5000"});
}

TEST(MnistTest, PrefersRawOverGz) {
  ScratchDir dir;
  WriteSmallMnist(dir);
  WriteOrDie(dir.Join("t10k-labels-idx1-ubyte.gz"), "not even gzip");
  auto path = FindMnistFile(dir.path(), "t10k-labels-idx1-ubyte");
  ASSERT_TRUE(path.ok());
  EXPECT_EQ(*path, dir.Join("t10k-labels-idx1-ubyte"));
  path = FindMnistFile(dir.path(), "train-labels-idx1-ubyte");
  ASSERT_TRUE(path.ok());
  EXPECT_EQ(*path, dir.Join("train-labels-idx1-ubyte.gz"));
}

TEST(MnistTest, MissingFile) {
  ScratchDir dir;
  WriteSmallMnist(dir);
  ASSERT_TRUE(RemoveAll(dir.Join("t10k-images-idx3-ubyte")).ok());
  auto r = LoadMnist(dir.path(), {.validation_size = 10});
  ExpectErrorNames(r, {dir.Join("t10k-images-idx3-ubyte"), "t10k-images-idx3-ubyte.gz"});
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  ExpectErrorNames(LoadMnist(dir.Join("nope")), {dir.Join("nope")});
}

TEST(MnistTest, LabelCountMismatchNamesBothFiles) {
  ScratchDir dir;
  WriteSmallMnist(dir);
  WriteOrDie(dir.Join("t10k-labels-idx1-ubyte"), Labels(19));
  ExpectErrorNames(LoadMnist(dir.path(), {.validation_size = 10}),
                   {dir.Join("t10k-labels-idx1-ubyte") + ": has 19 labels but " +
                    dir.Join("t10k-images-idx3-ubyte") + " has 20 images"});
}

TEST(MnistTest, LabelOutOfRange) {
  ScratchDir dir;
  WriteSmallMnist(dir);
  std::vector<uint8_t> labels(20, 3);
  labels[17] = 10;
  WriteOrDie(dir.Join("t10k-labels-idx1-ubyte"), IdxFile({20}, labels));
  ExpectErrorNames(LoadMnist(dir.path(), {.validation_size = 10}),
                   {dir.Join("t10k-labels-idx1-ubyte") + ": label 10 at index 17 is not in 0..9"});
}

TEST(MnistTest, ImagesMustBe28x28) {
  ScratchDir dir;
  WriteSmallMnist(dir);
  WriteOrDie(dir.Join("t10k-images-idx3-ubyte"), IdxFile({20, 28, 27}, std::vector<uint8_t>(20 * 28 * 27)));
  ExpectErrorNames(LoadMnist(dir.path(), {.validation_size = 10}),
                   {dir.Join("t10k-images-idx3-ubyte") + ": images are 20x28x27, expected Nx28x28"});
  // Labels and images swapped: caught by rank, naming the file.
  WriteOrDie(dir.Join("t10k-images-idx3-ubyte"), Labels(20));
  ExpectErrorNames(LoadMnist(dir.path(), {.validation_size = 10}),
                   {dir.Join("t10k-images-idx3-ubyte") + ": IDX rank is 1, expected 3"});
}

TEST(MnistTest, CorruptFileNamesIt) {
  ScratchDir dir;
  WriteSmallMnist(dir);
  std::string gz = Gzip(Images(50));
  gz.resize(gz.size() - 100);
  WriteOrDie(dir.Join("train-images-idx3-ubyte.gz"), gz);
  ExpectErrorNames(LoadMnist(dir.path(), {.validation_size = 10}),
                   {dir.Join("train-images-idx3-ubyte.gz") + ": corrupt gzip data"});
}

// The real data set, as `make test` provides it.
TEST(MnistTest, RealMnist) {
  const std::string dir = testing::MnistDir();
  auto r = LoadMnist(dir);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const Mnist& m = *r;
  EXPECT_EQ(m.train.size, 55000);
  EXPECT_EQ(m.validation.size, 5000);
  EXPECT_EQ(m.test.size, 10000);

  auto train_labels_path = FindMnistFile(dir, kMnistTrainLabels);
  ASSERT_TRUE(train_labels_path.ok());
  auto raw = LoadMnistFiles(*FindMnistFile(dir, kMnistTrainImages), *train_labels_path);
  ASSERT_TRUE(raw.ok()) << raw.status().ToString();
  ASSERT_EQ(raw->size, 60000);
  // The first validation example is the first training-file example; train starts at 5000.
  EXPECT_EQ(m.validation.labels[0], raw->labels[0]);
  EXPECT_EQ(m.train.labels[0], raw->labels[5000]);
  EXPECT_TRUE(std::equal(m.validation.images.begin(), m.validation.images.end(),
                         raw->images.begin()));
  std::vector<float> train_images(m.train.size * 784);
  for (int64_t e = 0; e < m.train.size; ++e) m.train.CopyImage(e, train_images.data() + e * 784);
  EXPECT_TRUE(std::equal(train_images.begin(), train_images.end(), raw->images.begin() + 5000 * 784));

  for (const std::vector<float>* images :
       std::initializer_list<const std::vector<float>*>{&train_images, &m.validation.images, &m.test.images}) {
    auto [lo, hi] = std::minmax_element(images->begin(), images->end());
    EXPECT_EQ(*lo, 0.f);
    EXPECT_EQ(*hi, 1.f);
  }
  for (const Dataset* ds : {&m.train, &m.validation, &m.test}) {
    auto [llo, lhi] = std::minmax_element(ds->labels.begin(), ds->labels.end());
    EXPECT_EQ(*llo, 0);
    EXPECT_EQ(*lhi, 9);
  }
}

TEST(MnistTest, RealMnistGzipRoundTrip) {
  const std::string dir = testing::MnistDir();
  auto want = LoadMnist(dir);
  ASSERT_TRUE(want.ok()) << want.status().ToString();
  ScratchDir gz_dir;
  for (const char* name : {kMnistTrainImages, kMnistTrainLabels, kMnistTestImages,
                           kMnistTestLabels}) {
    auto path = FindMnistFile(dir, name);
    ASSERT_TRUE(path.ok()) << path.status().ToString();
    auto idx = ReadIdx(*path);
    ASSERT_TRUE(idx.ok()) << idx.status().ToString();
    std::vector<uint32_t> dims(idx->dims.begin(), idx->dims.end());
    WriteOrDie(gz_dir.Join(std::string(name) + ".gz"), Gzip(IdxFile(dims, idx->data), 1));
  }
  auto got = LoadMnist(gz_dir.path());
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->train.pixels, want->train.pixels);
  EXPECT_EQ(got->train.labels, want->train.labels);
  EXPECT_EQ(got->validation.images, want->validation.images);
  EXPECT_EQ(got->validation.labels, want->validation.labels);
  EXPECT_EQ(got->test.images, want->test.images);
  EXPECT_EQ(got->test.labels, want->test.labels);
}

}  // namespace
}  // namespace loom
