#include "serving/config_file.h"

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/message.h>
#include <google/protobuf/text_format.h>
#include <google/protobuf/util/json_util.h>

#include "core/file.h"
#include "core/json.h"

namespace loom::serving {
namespace {

// Keeps the first error TextFormat reports, with its place.
class FirstError : public google::protobuf::io::ErrorCollector {
 public:
  explicit FirstError(const std::string& source) : source_(source) {}
  void AddError(int line, google::protobuf::io::ColumnNumber column, const std::string& message) override {
    if (!error_.empty()) return;
    // TextFormat counts from 0; a whole-input error has line -1.
    error_ = line < 0 ? source_ + ": " + message
                      : source_ + ":" + std::to_string(line + 1) + ":" + std::to_string(column + 1) + ": " + message;
  }
  const std::string& error() const { return error_; }

 private:
  const std::string& source_;
  std::string error_;
};

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

Status ParseTextConfig(const std::string& text, const std::string& source, google::protobuf::Message* message) {
  FirstError errors(source);
  google::protobuf::TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  message->Clear();
  if (!parser.ParseFromString(text, message)) {
    return InvalidArgument(errors.error().empty() ? source + ": not a " + message->GetTypeName() : errors.error());
  }
  return OkStatus();
}

Status ReadConfigFile(const std::string& path, google::protobuf::Message* message) {
  if (EndsWith(path, ".yaml") || EndsWith(path, ".yml") || EndsWith(path, ".json")) {
    LOOM_ASSIGN_OR_RETURN(Json doc, ReadJsonOrYamlFile(path));
    message->Clear();
    google::protobuf::util::JsonParseOptions options;  // unknown fields are errors
    auto status = google::protobuf::util::JsonStringToMessage(doc.dump(), message, options);
    if (!status.ok()) return InvalidArgument(path + ": " + std::string(status.message()));
    return OkStatus();
  }
  LOOM_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  return ParseTextConfig(text, path, message);
}

}  // namespace loom::serving
