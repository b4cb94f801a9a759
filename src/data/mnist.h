// MNIST from its four IDX files, split as TensorFlow's input_data.read_data_sets does:
// validation = the FIRST validation_size training examples, train = the rest, test = t10k.
// Each file may be raw or gzip (`<name>` or `<name>.gz` in the directory).
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"
#include "data/dataset.h"

namespace loom {

inline constexpr int kMnistRows = 28;
inline constexpr int kMnistCols = 28;
inline constexpr int kMnistPixels = kMnistRows * kMnistCols;
inline constexpr int kMnistClasses = 10;

inline constexpr char kMnistTrainImages[] = "train-images-idx3-ubyte";
inline constexpr char kMnistTrainLabels[] = "train-labels-idx1-ubyte";
inline constexpr char kMnistTestImages[] = "t10k-images-idx3-ubyte";
inline constexpr char kMnistTestLabels[] = "t10k-labels-idx1-ubyte";

struct MnistOptions {
  // How many of the first training examples become the validation split (read_data_sets' 5000).
  int64_t validation_size = 5000;
};

struct Mnist {
  Dataset train;       // 55000 with the defaults, held as pixels (what batches are drawn from)
  Dataset validation;  // 5000, held as images (floats)
  Dataset test;        // 10000, held as images (floats)
};

// Loads and splits MNIST from `dir`. Errors name the file at fault: a missing file, a bad IDX
// file (see ReadIdx), images that are not Nx28x28, a label count that differs from its image
// count (naming both files), a label outside 0..9, or a validation_size above the train count.
StatusOr<Mnist> LoadMnist(const std::string& dir, const MnistOptions& options = {});

// One images/labels pair (e.g. the t10k files for `loom predict`) as a single Dataset held as
// images, with the same checks as LoadMnist.
StatusOr<Dataset> LoadMnistFiles(const std::string& images_path, const std::string& labels_path);

// `<dir>/<name>` if it exists, else `<dir>/<name>.gz`; NotFound naming both otherwise.
StatusOr<std::string> FindMnistFile(const std::string& dir, const std::string& name);

}  // namespace loom
