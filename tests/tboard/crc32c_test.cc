#include "tboard/crc32c.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace loom::tboard::crc32c {
namespace {

// Known answers: RFC 3720 (iSCSI) appendix B.4 and the "123456789" check value.
TEST(Crc32cTest, KnownVectors) {
  EXPECT_EQ(Value("123456789"), 0xE3069283u);
  EXPECT_EQ(Value(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(Value(std::string(32, '\xff')), 0x62A8AB43u);
  std::string ascending, descending;
  for (int i = 0; i < 32; ++i) {
    ascending.push_back(static_cast<char>(i));
    descending.push_back(static_cast<char>(31 - i));
  }
  EXPECT_EQ(Value(ascending), 0x46DD794Eu);
  EXPECT_EQ(Value(descending), 0x113FDB5Cu);
  EXPECT_EQ(Value(""), 0u);
}

TEST(Crc32cTest, ExtendEqualsWhole) {
  std::string a = "hello ", b = "world";
  EXPECT_EQ(Extend(Value(a), b.data(), b.size()), Value(a + b));
}

// Both implementations, every length 0..300 at every alignment 0..7, on random bytes.
TEST(Crc32cTest, PortableAndHardwareAgree) {
  std::mt19937 rng(42);
  std::string buf(320, '\0');
  for (char& c : buf) c = static_cast<char>(rng());
  EXPECT_EQ(ExtendPortable(0, "123456789", 9), 0xE3069283u);
  for (size_t align = 0; align < 8; ++align) {
    for (size_t n = 0; n + align <= 308; ++n) {
      uint32_t portable = ExtendPortable(0, buf.data() + align, n);
      ASSERT_EQ(portable, Value(buf.data() + align, n)) << "align " << align << " n " << n;
      if (HardwareAccelerated()) {
        ASSERT_EQ(portable, ExtendHardware(0, buf.data() + align, n))
            << "align " << align << " n " << n;
      }
    }
  }
}

TEST(Crc32cTest, MaskRoundTripsAndChangesValue) {
  for (uint32_t crc : {0u, 1u, 0xE3069283u, 0xFFFFFFFFu, 0x8A9136AAu}) {
    EXPECT_NE(Mask(crc), crc);
    EXPECT_EQ(Unmask(Mask(crc)), crc);
  }
  // Mask(0) is the delta itself; Mask rotates right by 15 before adding it.
  EXPECT_EQ(Mask(0), kMaskDelta);
  EXPECT_EQ(Mask(1u << 15), 1u + kMaskDelta);
}

}  // namespace
}  // namespace loom::tboard::crc32c
