#include "tboard/event_writer.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>

#include "core/file.h"
#include "core/logging.h"
#include "tensorboard/event.pb.h"

namespace loom::tboard {
namespace {

// How many later seconds Create tries when the file name is taken.
constexpr int kMaxNameAttempts = 1000;

std::string EventFileName(int64_t seconds, const EventWriterOptions& options) {
  char secs[32];
  std::snprintf(secs, sizeof(secs), "%010lld", static_cast<long long>(seconds));
  return std::string("events.out.tfevents.") + secs + "." + options.host + options.filename_suffix;
}

}  // namespace

std::string LocalHostName() {
  char name[256] = {0};
  if (::gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

double WallTimeNow() {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                std::chrono::system_clock::now().time_since_epoch())
                .count();
  return static_cast<double>(us) / 1e6;
}

StatusOr<std::unique_ptr<EventWriter>> EventWriter::Create(const EventWriterOptions& options) {
  if (options.dir.empty()) return InvalidArgument("EventWriterOptions.dir: empty");
  if (options.host.empty()) return InvalidArgument("EventWriterOptions.host: empty");
  if (options.host.find('/') != std::string::npos ||
      options.filename_suffix.find('/') != std::string::npos) {
    return InvalidArgument("EventWriterOptions: host \"" + options.host + "\" and suffix \"" +
                           options.filename_suffix + "\" must not contain '/'");
  }
  if (options.flush_interval_seconds < 0) {
    return InvalidArgument("EventWriterOptions.flush_interval_seconds: " +
                           std::to_string(options.flush_interval_seconds) + " is negative");
  }
  LOOM_RETURN_IF_ERROR(MakeDirs(options.dir));

  double wall_time = WallTimeNow();
  RecordWriterOptions record_options;
  record_options.buffer_bytes = options.buffer_bytes;
  std::unique_ptr<RecordWriter> records;
  auto seconds = static_cast<int64_t>(wall_time);
  for (int attempt = 0; attempt < kMaxNameAttempts && !records; ++attempt) {
    std::string path = JoinPath(options.dir, EventFileName(seconds + attempt, options));
    auto created = RecordWriter::Create(path, record_options);
    if (created.ok()) {
      records = std::move(created).value();
    } else if (created.status().code() != StatusCode::kAlreadyExists) {
      return created.status();
    }
  }
  if (!records) {
    return AlreadyExists(options.dir + ": " + std::to_string(kMaxNameAttempts) +
                         " event file names from " + EventFileName(seconds, options) +
                         " on are all taken");
  }

  tensorboard::Event version;
  version.set_wall_time(wall_time);
  version.set_step(0);
  version.set_file_version(kEventFileVersion);
  LOOM_RETURN_IF_ERROR(records->WriteRecord(version.SerializeAsString()));
  // The header goes out at once, so TensorBoard sees the run as soon as it exists.
  LOOM_RETURN_IF_ERROR(records->Flush());
  return std::unique_ptr<EventWriter>(new EventWriter(std::move(records), options));
}

EventWriter::EventWriter(std::unique_ptr<RecordWriter> records, const EventWriterOptions& options)
    : path_(records->path()),
      flush_interval_seconds_(options.flush_interval_seconds),
      records_(std::move(records)) {
  if (flush_interval_seconds_ > 0) flusher_ = std::thread([this] { FlushLoop(); });
}

EventWriter::~EventWriter() {
  bool open;
  {
    std::lock_guard<std::mutex> lock(mu_);
    open = records_ != nullptr;
  }
  if (open) {
    Status s = Close();
    if (!s.ok()) LOOM_LOG(WARNING) << "closing event file: " << s.ToString();
  }
}

void EventWriter::FlushLoop() {
  const auto interval = std::chrono::duration<double>(flush_interval_seconds_);
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    wake_flusher_.wait_for(lock, interval);
    if (stopping_ || records_ == nullptr) break;
    if (!records_->has_buffered_data()) continue;
    Status s = records_->Flush();
    // The error stays visible: the data is kept buffered and the next Flush/Close reports it.
    if (!s.ok()) LOOM_LOG(WARNING) << "periodic flush of event file: " << s.ToString();
  }
}

Status EventWriter::WriteSerialized(const std::string& bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  if (records_ == nullptr) return FailedPrecondition(path_ + ": event writer is closed");
  return records_->WriteRecord(bytes);
}

Status EventWriter::WriteEvent(const tensorboard::Event& event) {
  return WriteSerialized(event.SerializeAsString());
}

Status EventWriter::WriteScalar(const std::string& tag, double value, int64_t step,
                                double wall_time) {
  return WriteScalars({{tag, value}}, step, wall_time);
}

Status EventWriter::WriteScalars(const std::vector<std::pair<std::string, double>>& values,
                                 int64_t step, double wall_time) {
  if (values.empty()) return InvalidArgument(path_ + ": WriteScalars: no values");
  tensorboard::Event event;
  event.set_wall_time(wall_time);
  event.set_step(step);
  tensorboard::Summary* summary = event.mutable_summary();
  for (size_t i = 0; i < values.size(); ++i) {
    if (values[i].first.empty()) {
      return InvalidArgument(path_ + ": scalar " + std::to_string(i) + " at step " +
                             std::to_string(step) + ": empty tag");
    }
    tensorboard::Summary::Value* v = summary->add_value();
    v->set_tag(values[i].first);
    v->set_simple_value(static_cast<float>(values[i].second));
  }
  return WriteSerialized(event.SerializeAsString());
}

Status EventWriter::Flush() {
  std::lock_guard<std::mutex> lock(mu_);
  if (records_ == nullptr) return FailedPrecondition(path_ + ": event writer is closed");
  return records_->Flush();
}

Status EventWriter::Close() {
  std::unique_ptr<RecordWriter> records;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (records_ == nullptr) return FailedPrecondition(path_ + ": event writer is closed");
    records = std::move(records_);
    stopping_ = true;
  }
  wake_flusher_.notify_all();
  if (flusher_.joinable()) flusher_.join();
  return records->Close();
}

}  // namespace loom::tboard
