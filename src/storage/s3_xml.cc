#include "storage/s3_xml.h"
#include "storage/libraries.h"

#include <expat.h>

#include <memory>

namespace loom::storage {
namespace {

// The elements being read, innermost last; the finished root ends in `root`.
struct ParseState {
  std::vector<XmlElement> open;
  XmlElement root;
  bool has_root = false;
};

void OnStart(void* data, const XML_Char* name, const XML_Char** /*attributes*/) {
  auto* state = static_cast<ParseState*>(data);
  state->open.push_back(XmlElement{name, "", {}});
}

void OnEnd(void* data, const XML_Char* /*name*/) {
  auto* state = static_cast<ParseState*>(data);
  XmlElement done = std::move(state->open.back());
  state->open.pop_back();
  if (state->open.empty()) {
    state->root = std::move(done);
    state->has_root = true;
  } else {
    state->open.back().children.push_back(std::move(done));
  }
}

void OnText(void* data, const XML_Char* text, int length) {
  auto* state = static_cast<ParseState*>(data);
  if (!state->open.empty()) state->open.back().text.append(text, static_cast<size_t>(length));
}

}  // namespace

const XmlElement* XmlElement::Child(std::string_view child) const {
  for (const XmlElement& c : children)
    if (c.name == child) return &c;
  return nullptr;
}

std::vector<const XmlElement*> XmlElement::Children(std::string_view child) const {
  std::vector<const XmlElement*> out;
  for (const XmlElement& c : children)
    if (c.name == child) out.push_back(&c);
  return out;
}

std::string XmlElement::ChildText(std::string_view child) const {
  const XmlElement* c = Child(child);
  return c != nullptr ? c->text : "";
}

StatusOr<XmlElement> ParseXml(std::string_view xml, const std::string& what) {
  std::unique_ptr<XML_ParserStruct, decltype(&XML_ParserFree)> parser(XML_ParserCreate("UTF-8"), XML_ParserFree);
  if (parser == nullptr) return Internal(what + ": cannot create an XML parser");
  ParseState state;
  XML_SetUserData(parser.get(), &state);
  XML_SetElementHandler(parser.get(), OnStart, OnEnd);
  XML_SetCharacterDataHandler(parser.get(), OnText);
  if (xml.size() > static_cast<size_t>(INT32_MAX)) return InvalidArgument(what + ": XML answer too large");
  if (XML_Parse(parser.get(), xml.data(), static_cast<int>(xml.size()), XML_TRUE) != XML_STATUS_OK) {
    return InvalidArgument(what + ": malformed XML at line " +
                           std::to_string(XML_GetCurrentLineNumber(parser.get())) + ": " +
                           XML_ErrorString(XML_GetErrorCode(parser.get())));
  }
  if (!state.has_root) return InvalidArgument(what + ": empty XML answer");
  return std::move(state.root);
}

std::string XmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string XmlLibraryVersion() {
  const XML_Expat_Version v = XML_ExpatVersionInfo();
  return std::to_string(v.major) + "." + std::to_string(v.minor) + "." + std::to_string(v.micro);
}

}  // namespace loom::storage
