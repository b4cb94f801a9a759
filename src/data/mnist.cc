#include "data/mnist.h"

#include <utility>

#include "core/file.h"
#include "data/idx.h"

namespace loom {
namespace {

// A checked images/labels pair, still as bytes, so that splits convert only their own rows.
struct RawPair {
  IdxArray images;  // N x 28 x 28
  IdxArray labels;  // N, each 0..9
};

StatusOr<RawPair> ReadPair(const std::string& images_path, const std::string& labels_path) {
  RawPair pair;
  LOOM_ASSIGN_OR_RETURN(pair.images, ReadIdx(images_path, /*expected_rank=*/3));
  if (pair.images.dims[1] != kMnistRows || pair.images.dims[2] != kMnistCols) {
    return InvalidArgument(images_path + ": images are " + FormatDims(pair.images.dims) +
                           ", expected Nx28x28");
  }
  LOOM_ASSIGN_OR_RETURN(pair.labels, ReadIdx(labels_path, /*expected_rank=*/1));
  if (pair.labels.dims[0] != pair.images.dims[0]) {
    return InvalidArgument(labels_path + ": has " + std::to_string(pair.labels.dims[0]) +
                           " labels but " + images_path + " has " +
                           std::to_string(pair.images.dims[0]) + " images");
  }
  for (size_t i = 0; i < pair.labels.data.size(); ++i) {
    if (pair.labels.data[i] >= kMnistClasses) {
      return InvalidArgument(labels_path + ": label " + std::to_string(pair.labels.data[i]) +
                             " at index " + std::to_string(i) + " is not in 0..9");
    }
  }
  return pair;
}

// Examples [begin, end) of `pair` as a Dataset held as images (floats).
Dataset Slice(const RawPair& pair, int64_t begin, int64_t end) {
  Dataset ds;
  ds.size = end - begin;
  ds.features = kMnistPixels;
  ds.images.resize(static_cast<size_t>(ds.size * kMnistPixels));
  PixelsToUnitFloats(pair.images.data.data() + begin * kMnistPixels, ds.size * kMnistPixels, ds.images.data());
  ds.labels.assign(pair.labels.data.begin() + begin, pair.labels.data.begin() + end);
  return ds;
}

// Examples [begin, N) of `pair` as a Dataset held as pixels: the file's bytes themselves,
// moved, not copied.
Dataset TakePixels(RawPair&& pair, int64_t begin) {
  Dataset ds;
  ds.size = pair.images.dims[0] - begin;
  ds.features = kMnistPixels;
  ds.pixels = std::move(pair.images.data);
  ds.pixels.erase(ds.pixels.begin(), ds.pixels.begin() + begin * kMnistPixels);
  ds.labels.assign(pair.labels.data.begin() + begin, pair.labels.data.end());
  return ds;
}

}  // namespace

StatusOr<std::string> FindMnistFile(const std::string& dir, const std::string& name) {
  std::string raw = JoinPath(dir, name);
  if (PathExists(raw)) return raw;
  std::string gz = raw + ".gz";
  if (PathExists(gz)) return gz;
  if (!IsDirectory(dir)) return NotFound(dir + ": MNIST directory does not exist");
  return NotFound(raw + ": not found (nor " + name + ".gz)");
}

StatusOr<Dataset> LoadMnistFiles(const std::string& images_path, const std::string& labels_path) {
  LOOM_ASSIGN_OR_RETURN(RawPair pair, ReadPair(images_path, labels_path));
  return Slice(pair, 0, pair.images.dims[0]);
}

StatusOr<Mnist> LoadMnist(const std::string& dir, const MnistOptions& options) {
  LOOM_ASSIGN_OR_RETURN(std::string train_images, FindMnistFile(dir, kMnistTrainImages));
  LOOM_ASSIGN_OR_RETURN(std::string train_labels, FindMnistFile(dir, kMnistTrainLabels));
  LOOM_ASSIGN_OR_RETURN(std::string test_images, FindMnistFile(dir, kMnistTestImages));
  LOOM_ASSIGN_OR_RETURN(std::string test_labels, FindMnistFile(dir, kMnistTestLabels));

  Mnist mnist;
  {
    LOOM_ASSIGN_OR_RETURN(RawPair train, ReadPair(train_images, train_labels));
    const int64_t n = train.images.dims[0];
    if (options.validation_size < 0 || options.validation_size > n) {
      return InvalidArgument("MnistOptions.validation_size: " +
                             std::to_string(options.validation_size) + " is not in [0, " +
                             std::to_string(n) + "], the number of images in " + train_images);
    }
    mnist.validation = Slice(train, 0, options.validation_size);
    mnist.train = TakePixels(std::move(train), options.validation_size);
  }
  LOOM_ASSIGN_OR_RETURN(RawPair test, ReadPair(test_images, test_labels));
  mnist.test = Slice(test, 0, test.images.dims[0]);
  return mnist;
}

}  // namespace loom
