#include "core/status.h"

#include <gtest/gtest.h>

namespace loom {
namespace {

StatusOr<int> Half(int x) {
  if (x % 2) return InvalidArgument("x: " + std::to_string(x) + " is odd");
  return x / 2;
}

Status Quarter(int x, int* out) {
  LOOM_ASSIGN_OR_RETURN(int h, Half(x));
  LOOM_ASSIGN_OR_RETURN(*out, Half(h));
  return OkStatus();
}

TEST(StatusTest, OkAndError) {
  EXPECT_TRUE(OkStatus().ok());
  Status s = NotFound("a.idx: open: No such file");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.ToString(), "NOT_FOUND: a.idx: open: No such file");
  EXPECT_EQ(s.WithPrefix("train").message(), "train: a.idx: open: No such file");
}

TEST(StatusTest, AssignOrReturnPropagates) {
  int out = 0;
  EXPECT_TRUE(Quarter(8, &out).ok());
  EXPECT_EQ(out, 2);
  Status s = Quarter(6, &out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "x: 3 is odd");
}

TEST(StatusTest, ErrnoMapsCodes) {
  EXPECT_EQ(ErrnoStatus("/x", "open", ENOENT).code(), StatusCode::kNotFound);
  EXPECT_EQ(ErrnoStatus("/x", "open", EACCES).code(), StatusCode::kPermissionDenied);
  EXPECT_NE(ErrnoStatus("/x", "open", EACCES).message().find("/x: open: "), std::string::npos);
}

}  // namespace
}  // namespace loom
