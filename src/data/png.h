// PNG images in and out (libpng, the one file that includes it), and the MNIST preparation of
// an arbitrary picture of a digit: `loom predict digit.png` sends what this makes.
//
// MNIST's digits were size-normalised to fit a 20x20 box keeping their aspect ratio (with
// anti-aliasing), then centred by their centre of mass in a 28x28 field, white on black.
// MnistFromImage does the same to any decoded image: it finds the ink (see below), crops to it,
// scales with area averaging so the longer side is 20 pixels, and shifts the centre of mass to
// the field's centre.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace loom {

// A decoded image as 8-bit grey and alpha (libpng converts colour with the sRGB luminance
// weights, palettes, 16-bit samples and tRNS transparency).
struct GreyAlphaImage {
  int64_t width = 0;
  int64_t height = 0;
  std::vector<uint8_t> grey;   // width * height, row-major
  std::vector<uint8_t> alpha;  // width * height; 255 everywhere for an opaque image
};

// Decodes PNG bytes; errors are prefixed by `source` ("a.png: ...").
StatusOr<GreyAlphaImage> DecodePng(std::string_view bytes, const std::string& source);
StatusOr<GreyAlphaImage> ReadPng(const std::string& path);

// An 8-bit PNG of `channels` (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA) interleaved samples,
// row-major. For tests and tools that write pictures.
StatusOr<std::string> EncodePng(int64_t width, int64_t height, int channels, const uint8_t* samples);

// The MNIST form of a picture of one digit: 784 floats in [0, 1], white digit on black.
// The ink: where the image has transparent pixels, the alpha (a digit drawn on a transparent
// canvas); otherwise the grey level, inverted when the border is mostly light (dark digit on
// paper). Errors: "<source>: no digit found: the image is blank".
StatusOr<std::vector<float>> MnistFromImage(const GreyAlphaImage& image, const std::string& source);

}  // namespace loom
