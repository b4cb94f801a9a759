// S3's XML: the answers of ListObjectsV2, CreateMultipartUpload, CompleteMultipartUpload and
// errors, read into a small element tree by expat (entities and character references decoded,
// malformed XML an error), and the escaping of text Loom writes into a request body.
// This is the only file that includes expat.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace loom::storage {

// One element: its name (without namespace: S3's default xmlns is not in the names), its text
// (character data directly inside it, entities decoded) and its child elements in order.
struct XmlElement {
  std::string name;
  std::string text;
  std::vector<XmlElement> children;

  // The first child named `name`, or nullptr.
  const XmlElement* Child(std::string_view name) const;
  // Every child named `name`, in order.
  std::vector<const XmlElement*> Children(std::string_view name) const;
  // The text of the first child named `name`; "" when there is none.
  std::string ChildText(std::string_view name) const;
};

// Parses a whole document; errors read "<what>: malformed XML at line L: <expat's reason>".
StatusOr<XmlElement> ParseXml(std::string_view xml, const std::string& what);

// Text as XML character data or an attribute value: & < > " ' as entities.
std::string XmlEscape(std::string_view text);

}  // namespace loom::storage
