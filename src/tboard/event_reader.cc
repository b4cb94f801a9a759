#include "tboard/event_reader.h"

#include <utility>

#include "tensorboard/event.pb.h"

namespace loom::tboard {

StatusOr<std::unique_ptr<EventReader>> EventReader::Open(const std::string& path) {
  LOOM_ASSIGN_OR_RETURN(std::unique_ptr<RecordReader> records, RecordReader::Open(path));
  return std::unique_ptr<EventReader>(new EventReader(std::move(records)));
}

Status EventReader::ReadAvailable(EventFileContents* out) {
  std::string record;
  tensorboard::Event event;
  for (;;) {
    uint64_t offset = records_->offset();
    StatusOr<bool> got = records_->ReadRecord(&record);
    if (!got.ok()) {
      if (got.status().code() == StatusCode::kOutOfRange) {
        out->truncated_at = offset;
        return OkStatus();
      }
      return got.status();
    }
    if (!*got) {
      out->truncated_at.reset();
      return OkStatus();
    }
    if (!event.ParseFromString(record)) {
      return DataLoss(path() + ": record at offset " + std::to_string(offset) +
                      ": not a tensorboard.Event (" + std::to_string(record.size()) + " bytes)");
    }
    ++out->events;
    switch (event.what_case()) {
      case tensorboard::Event::kFileVersion:
        out->file_version = event.file_version();
        break;
      case tensorboard::Event::kSummary:
        for (const tensorboard::Summary::Value& v : event.summary().value()) {
          if (v.value_case() != tensorboard::Summary::Value::kSimpleValue) continue;
          out->scalars.push_back({event.wall_time(), event.step(), v.tag(), v.simple_value()});
        }
        break;
      default:
        break;
    }
  }
}

StatusOr<EventFileContents> ReadEventFile(const std::string& path) {
  LOOM_ASSIGN_OR_RETURN(std::unique_ptr<EventReader> reader, EventReader::Open(path));
  EventFileContents contents;
  LOOM_RETURN_IF_ERROR(reader->ReadAvailable(&contents));
  return contents;
}

}  // namespace loom::tboard
