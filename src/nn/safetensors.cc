#include "nn/safetensors.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <set>

#include "core/file.h"
#include "core/json.h"

namespace loom::nn {
namespace {

constexpr char kMetadataKey[] = "__metadata__";
// The Hugging Face reader refuses headers above 100 MB; so do we.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

static_assert(std::endian::native == std::endian::little, "safetensors data is little-endian");

std::string Le64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}

}  // namespace

StatusOr<std::string> EncodeSafetensors(const std::vector<NamedTensor>& tensors,
                                        const std::map<std::string, std::string>& metadata,
                                        const std::string& source) {
  Json header = Json::object();
  if (!metadata.empty()) {
    Json meta = Json::object();
    for (const auto& [k, v] : metadata) meta[k] = v;
    header[kMetadataKey] = std::move(meta);
  }
  uint64_t offset = 0;
  std::set<std::string> names;
  for (const NamedTensor& t : tensors) {
    if (t.name.empty() || t.name == kMetadataKey)
      return InvalidArgument(source + ": invalid tensor name \"" + t.name + "\"");
    if (!names.insert(t.name).second)
      return InvalidArgument(source + ": tensor " + t.name + " appears twice");
    const uint64_t bytes = static_cast<uint64_t>(t.tensor.size()) * sizeof(float);
    Json entry = Json::object();
    entry["dtype"] = "F32";
    entry["shape"] = t.tensor.shape();
    entry["data_offsets"] = Json::array({offset, offset + bytes});
    header[t.name] = std::move(entry);
    offset += bytes;
  }
  std::string header_text = header.dump();
  header_text.append((8 - header_text.size() % 8) % 8, ' ');
  std::string out = Le64(header_text.size());
  out.reserve(8 + header_text.size() + offset);
  out += header_text;
  for (const NamedTensor& t : tensors)
    out.append(reinterpret_cast<const char*>(t.tensor.data()), t.tensor.size() * sizeof(float));
  return out;
}

Status WriteSafetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                        const std::map<std::string, std::string>& metadata) {
  LOOM_ASSIGN_OR_RETURN(std::string bytes, EncodeSafetensors(tensors, metadata, path));
  LOOM_ASSIGN_OR_RETURN(AtomicFileWriter writer, AtomicFileWriter::Open(path));
  LOOM_RETURN_IF_ERROR(writer.Append(bytes));
  return writer.Commit();
}

StatusOr<Safetensors> DecodeSafetensors(std::string_view bytes, const std::string& source) {
  auto corrupt = [&](const std::string& what) { return DataLoss(source + ": " + what); };
  if (bytes.size() < 8)
    return corrupt("not a safetensors file: " + std::to_string(bytes.size()) + " bytes, shorter than the 8-byte header length");
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | static_cast<unsigned char>(bytes[i]);
  if (header_len > kMaxHeaderBytes || header_len > bytes.size() - 8)
    return corrupt("header length " + std::to_string(header_len) + " exceeds the file size " +
                   std::to_string(bytes.size()));
  std::string_view header_text = bytes.substr(8, header_len);
  if (header_text.empty() || header_text[0] != '{')
    return corrupt("header is not a JSON object");
  auto parsed = ParseJson(header_text, source + ": header");
  if (!parsed.ok()) return DataLoss(parsed.status().message());
  const Json& header = *parsed;
  if (!header.is_object()) return corrupt("header is not a JSON object");
  const std::string_view data = bytes.substr(8 + header_len);

  Safetensors out;
  struct Entry {
    std::string name;
    std::vector<int64_t> shape;
    uint64_t begin, end;
  };
  std::vector<Entry> entries;
  for (const auto& [name, value] : header.items()) {
    if (name == kMetadataKey) {
      if (!value.is_object()) return corrupt("__metadata__ must be an object of strings");
      for (const auto& [k, v] : value.items()) {
        if (!v.is_string()) return corrupt("__metadata__." + k + " must be a string, got " + v.dump());
        out.metadata[k] = v.get<std::string>();
      }
      continue;
    }
    const std::string field = "tensor " + name;
    if (!value.is_object()) return corrupt(field + ": must be an object");
    for (const auto& [k, v] : value.items()) {
      if (k != "dtype" && k != "shape" && k != "data_offsets") return corrupt(field + ": unknown key " + k);
    }
    auto dtype = value.find("dtype");
    auto shape = value.find("shape");
    auto offsets = value.find("data_offsets");
    if (dtype == value.end() || shape == value.end() || offsets == value.end())
      return corrupt(field + ": needs dtype, shape and data_offsets");
    if (!dtype->is_string()) return corrupt(field + ": dtype must be a string");
    if (*dtype != "F32")
      return corrupt(field + ": dtype " + dtype->get<std::string>() + " is not supported (only F32)");
    Entry e{name, {}, 0, 0};
    if (!shape->is_array()) return corrupt(field + ": shape must be a list of integers");
    uint64_t elements = 1;
    for (const Json& d : *shape) {
      if (!d.is_number_unsigned()) return corrupt(field + ": shape must be a list of non-negative integers, got " + shape->dump());
      const uint64_t dim = d.get<uint64_t>();
      if (dim > (uint64_t{1} << 40) || (dim && elements > (uint64_t{1} << 40) / dim))
        return corrupt(field + ": shape " + shape->dump() + " is too large");
      elements *= dim;
      e.shape.push_back(static_cast<int64_t>(dim));
    }
    if (!offsets->is_array() || offsets->size() != 2 || !(*offsets)[0].is_number_unsigned() ||
        !(*offsets)[1].is_number_unsigned())
      return corrupt(field + ": data_offsets must be [begin, end]");
    e.begin = (*offsets)[0].get<uint64_t>();
    e.end = (*offsets)[1].get<uint64_t>();
    if (e.begin > e.end) return corrupt(field + ": data_offsets " + offsets->dump() + " end before they begin");
    if (e.end > data.size())
      return corrupt(field + ": data_offsets " + offsets->dump() + " are beyond the " +
                     std::to_string(data.size()) + " bytes of data");
    if (e.end - e.begin != elements * sizeof(float))
      return corrupt(field + ": shape " + ShapeString(e.shape) + " needs " +
                     std::to_string(elements * sizeof(float)) + " bytes, data_offsets give " +
                     std::to_string(e.end - e.begin));
    entries.push_back(std::move(e));
  }
  // The data must be covered exactly: sorted by offset, each tensor starts where the last ended.
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t expected = 0;
  for (const Entry& e : entries) {
    if (e.begin != expected)
      return corrupt("tensor " + e.name + ": data_offsets begin at " + std::to_string(e.begin) +
                     (e.begin < expected ? ", overlapping the previous tensor" : ", leaving a gap") +
                     " (expected " + std::to_string(expected) + ")");
    expected = e.end;
  }
  if (expected != data.size())
    return corrupt("the tensors cover " + std::to_string(expected) + " of the " +
                   std::to_string(data.size()) + " data bytes");
  for (Entry& e : entries) {
    Tensor t(e.shape);
    if (t.size() > 0) std::memcpy(t.data(), data.data() + e.begin, e.end - e.begin);
    out.tensors.push_back({std::move(e.name), std::move(t)});
  }
  return out;
}

StatusOr<Safetensors> ReadSafetensors(const std::string& path) {
  LOOM_ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
  return DecodeSafetensors(bytes, path);
}

}  // namespace loom::nn
