#include "data/png.h"
#include "data/libraries.h"

#include <png.h>

#include <algorithm>
#include <cmath>

#include "core/file.h"

namespace loom {
namespace {

// Pictures larger than this are refused before decoding (a digit needs far fewer pixels).
constexpr int64_t kMaxPixels = int64_t{1} << 26;
constexpr int kMnistSide = 28;
constexpr int kDigitBox = 20;

// Area-averaging resample of one axis: `in` has `n_in` samples per line and `lines` lines with
// stride `in_step` between samples and `in_line` between lines; writes n_out samples per line.
// Source interval [begin, begin + len) is mapped onto [0, n_out).
void ResampleAxis(const std::vector<float>& in, int64_t n_in, int64_t lines, int64_t in_line, int64_t in_step,
                  double begin, double len, int64_t n_out, std::vector<float>* out, int64_t out_line,
                  int64_t out_step) {
  const double step = len / static_cast<double>(n_out);
  for (int64_t line = 0; line < lines; ++line) {
    for (int64_t o = 0; o < n_out; ++o) {
      const double x0 = begin + o * step, x1 = x0 + step;
      double sum = 0;
      for (int64_t i = std::max<int64_t>(static_cast<int64_t>(std::floor(x0)), 0);
           i < n_in && static_cast<double>(i) < x1; ++i) {
        const double cover = std::min<double>(x1, i + 1) - std::max<double>(x0, i);
        if (cover > 0) sum += cover * in[line * in_line + i * in_step];
      }
      (*out)[line * out_line + o * out_step] = static_cast<float>(sum / step);
    }
  }
}

}  // namespace

StatusOr<GreyAlphaImage> DecodePng(std::string_view bytes, const std::string& source) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&image, bytes.data(), bytes.size()))
    return InvalidArgument(source + ": not a PNG image we can read: " + image.message);
  if (static_cast<int64_t>(image.width) * image.height > kMaxPixels) {
    png_image_free(&image);
    return InvalidArgument(source + ": " + std::to_string(image.width) + "x" + std::to_string(image.height) +
                           " pixels is too large (at most " + std::to_string(kMaxPixels) + ")");
  }
  image.format = PNG_FORMAT_GA;
  std::vector<uint8_t> samples(PNG_IMAGE_SIZE(image));
  if (!png_image_finish_read(&image, nullptr, samples.data(), 0, nullptr))
    return InvalidArgument(source + ": corrupt PNG: " + image.message);
  GreyAlphaImage out;
  out.width = image.width;
  out.height = image.height;
  const size_t n = static_cast<size_t>(out.width * out.height);
  out.grey.resize(n);
  out.alpha.resize(n);
  for (size_t i = 0; i < n; ++i) {
    out.grey[i] = samples[2 * i];
    out.alpha[i] = samples[2 * i + 1];
  }
  return out;
}

StatusOr<GreyAlphaImage> ReadPng(const std::string& path) {
  LOOM_ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
  return DecodePng(bytes, path);
}

StatusOr<std::string> EncodePng(int64_t width, int64_t height, int channels, const uint8_t* samples) {
  static constexpr png_uint_32 kFormats[] = {PNG_FORMAT_GRAY, PNG_FORMAT_GA, PNG_FORMAT_RGB, PNG_FORMAT_RGBA};
  if (channels < 1 || channels > 4) return InvalidArgument("PNG: channels must be 1 to 4, got " + std::to_string(channels));
  if (width <= 0 || height <= 0 || width * height > kMaxPixels)
    return InvalidArgument("PNG: bad size " + std::to_string(width) + "x" + std::to_string(height));
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  image.width = static_cast<png_uint_32>(width);
  image.height = static_cast<png_uint_32>(height);
  image.format = kFormats[channels - 1];
  png_alloc_size_t size = 0;
  if (!png_image_write_to_memory(&image, nullptr, &size, 0, samples, 0, nullptr))
    return Internal(std::string("PNG: ") + image.message);
  std::string out(size, '\0');
  if (!png_image_write_to_memory(&image, out.data(), &size, 0, samples, 0, nullptr))
    return Internal(std::string("PNG: ") + image.message);
  out.resize(size);
  return out;
}

StatusOr<std::vector<float>> MnistFromImage(const GreyAlphaImage& image, const std::string& source) {
  const int64_t w = image.width, h = image.height;
  const size_t n = static_cast<size_t>(w * h);
  if (w <= 0 || h <= 0 || image.grey.size() != n || image.alpha.size() != n)
    return InvalidArgument(source + ": empty image");
  // The ink, in [0, 1].
  std::vector<float> ink(n);
  const bool transparent = std::any_of(image.alpha.begin(), image.alpha.end(), [](uint8_t a) { return a < 255; });
  if (transparent) {
    for (size_t i = 0; i < n; ++i) ink[i] = image.alpha[i] / 255.0f;
  } else {
    double border = 0;
    int64_t count = 0;
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x)
        if (y == 0 || x == 0 || y == h - 1 || x == w - 1) {
          border += image.grey[y * w + x];
          ++count;
        }
    const bool light_background = border / count > 127.5;
    for (size_t i = 0; i < n; ++i) ink[i] = (light_background ? 255 - image.grey[i] : image.grey[i]) / 255.0f;
  }
  // Background (the border's mean ink) to 0, the darkest stroke to 1.
  double border = 0;
  int64_t count = 0;
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x)
      if (y == 0 || x == 0 || y == h - 1 || x == w - 1) {
        border += ink[y * w + x];
        ++count;
      }
  const float background = static_cast<float>(border / count);
  const float peak = *std::max_element(ink.begin(), ink.end());
  if (peak - background < 0.1f) return InvalidArgument(source + ": no digit found: the image is blank");
  for (float& v : ink) v = std::clamp((v - background) / (peak - background), 0.0f, 1.0f);

  // Crop to the ink.
  int64_t x0 = w, y0 = h, x1 = -1, y1 = -1;
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x)
      if (ink[y * w + x] > 0) {
        x0 = std::min(x0, x);
        x1 = std::max(x1, x);
        y0 = std::min(y0, y);
        y1 = std::max(y1, y);
      }
  const int64_t bw = x1 - x0 + 1, bh = y1 - y0 + 1;
  // Scale so the longer side is 20, keeping the aspect ratio.
  const double scale = static_cast<double>(kDigitBox) / static_cast<double>(std::max(bw, bh));
  const int64_t nw = std::clamp<int64_t>(std::lround(bw * scale), 1, kDigitBox);
  const int64_t nh = std::clamp<int64_t>(std::lround(bh * scale), 1, kDigitBox);
  std::vector<float> rows(static_cast<size_t>(h * nw));  // horizontal pass: h lines of nw
  ResampleAxis(ink, w, h, w, 1, static_cast<double>(x0), static_cast<double>(bw), nw, &rows, nw, 1);
  std::vector<float> digit(static_cast<size_t>(nh * nw));  // vertical pass: nw columns of nh
  ResampleAxis(rows, h, nw, 1, nw, static_cast<double>(y0), static_cast<double>(bh), nh, &digit, 1, nw);

  // Centre of mass to the middle of the 28x28 field (MNIST's digits have theirs at 14.0, 14.0
  // in pixel-index coordinates).
  double mass = 0, mx = 0, my = 0;
  for (int64_t y = 0; y < nh; ++y)
    for (int64_t x = 0; x < nw; ++x) {
      const double v = digit[y * nw + x];
      mass += v;
      mx += v * x;
      my += v * y;
    }
  const int64_t dx = std::lround(kMnistSide / 2.0 - mx / mass);
  const int64_t dy = std::lround(kMnistSide / 2.0 - my / mass);
  std::vector<float> out(kMnistSide * kMnistSide, 0.0f);
  for (int64_t y = 0; y < nh; ++y)
    for (int64_t x = 0; x < nw; ++x) {
      const int64_t fx = x + dx, fy = y + dy;
      if (fx >= 0 && fx < kMnistSide && fy >= 0 && fy < kMnistSide) out[fy * kMnistSide + fx] = digit[y * nw + x];
    }
  return out;
}

}  // namespace loom

namespace loom {

std::string PngLibraryVersion() {
  return png_get_libpng_ver(nullptr);
}

}  // namespace loom
