// S3's XML answers as expat reads them: entities and character references decoded, the
// namespace left out of names, malformed documents an error with the line.
#include "storage/s3_xml.h"

#include <gtest/gtest.h>

namespace loom::storage {
namespace {

TEST(S3XmlTest, ListingWithEntitiesAndNonAscii) {
  const std::string xml =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\n"
      "  <Name>b</Name><IsTruncated>false</IsTruncated>\n"
      "  <Contents><Key>dir/a&amp;b&lt;c&gt;&quot;q&apos;.txt</Key><Size>7</Size>"
      "<ETag>&quot;abc&quot;</ETag></Contents>\n"
      "  <Contents><Key>caf&#xE9; &#9731; \xE6\x97\xA5.bin</Key><Size>1</Size></Contents>\n"
      "  <CommonPrefixes><Prefix><![CDATA[x&y<z>/]]></Prefix></CommonPrefixes>\n"
      "</ListBucketResult>\n";
  auto doc = ParseXml(xml, "list");
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  EXPECT_EQ(doc->name, "ListBucketResult");
  auto contents = doc->Children("Contents");
  ASSERT_EQ(contents.size(), 2u);
  EXPECT_EQ(contents[0]->ChildText("Key"), "dir/a&b<c>\"q'.txt");
  EXPECT_EQ(contents[0]->ChildText("ETag"), "\"abc\"");
  EXPECT_EQ(contents[1]->ChildText("Key"), "caf\xC3\xA9 \xE2\x98\x83 \xE6\x97\xA5.bin");
  ASSERT_NE(doc->Child("CommonPrefixes"), nullptr);
  EXPECT_EQ(doc->Child("CommonPrefixes")->ChildText("Prefix"), "x&y<z>/");
  EXPECT_EQ(doc->ChildText("IsTruncated"), "false");
  EXPECT_EQ(doc->ChildText("NextContinuationToken"), "");
  EXPECT_EQ(doc->Child("Missing"), nullptr);
}

TEST(S3XmlTest, MalformedIsAnErrorWithTheLine) {
  auto doc = ParseXml("<Error>\n<Code>NoSuchKey</Code>\n<Message>a & b</Message></Error>", "GET s3://b/k");
  ASSERT_FALSE(doc.ok());
  EXPECT_EQ(doc.status().message(), "GET s3://b/k: malformed XML at line 3: not well-formed (invalid token)");
  EXPECT_FALSE(ParseXml("", "empty").ok());
  EXPECT_FALSE(ParseXml("<a><b></a>", "mismatched").ok());
  EXPECT_FALSE(ParseXml("<a>&undefined;</a>", "entity").ok());
}

TEST(S3XmlTest, EscapeRoundTrips) {
  const std::string text = "a&b<c>\"q'\xC3\xBC";
  EXPECT_EQ(XmlEscape(text), "a&amp;b&lt;c&gt;&quot;q&apos;\xC3\xBC");
  auto doc = ParseXml("<ETag>" + XmlEscape(text) + "</ETag>", "round trip");
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  EXPECT_EQ(doc->text, text);
}

}  // namespace
}  // namespace loom::storage
