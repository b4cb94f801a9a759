#include "ui/scalars.h"

#include <algorithm>
#include <functional>

#include "core/file.h"
#include "tboard/event_reader.h"
#include "ui/safe_path.h"

namespace loom::ui {

namespace {

constexpr int kMaxDepth = 6;

bool IsEventFile(const std::string& name) {
  return name.rfind("events.out.tfevents.", 0) == 0;
}

}  // namespace

StatusOr<std::vector<std::string>> ListRuns(const std::string& logdir) {
  std::vector<std::string> runs;
  if (!IsDirectory(logdir)) return runs;
  std::function<Status(const std::string&, const std::string&, int)> walk =
      [&](const std::string& dir, const std::string& relative, int depth) -> Status {
    LOOM_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(dir));
    bool has_events = false;
    for (const std::string& name : names) {
      std::string path = JoinPath(dir, name);
      if (IsDirectory(path)) {
        if (depth < kMaxDepth)
          LOOM_RETURN_IF_ERROR(walk(path, relative == "." ? name : relative + "/" + name, depth + 1));
      } else if (IsEventFile(name)) {
        has_events = true;
      }
    }
    if (has_events) runs.push_back(relative);
    return OkStatus();
  };
  LOOM_RETURN_IF_ERROR(walk(logdir, ".", 0));
  std::sort(runs.begin(), runs.end());
  return runs;
}

StatusOr<Json> ReadRunScalars(const std::string& logdir, const std::string& run) {
  std::string dir = logdir;
  if (run != ".") {
    LOOM_ASSIGN_OR_RETURN(dir, ResolveUnder(logdir, run, "run"));
  }
  if (!IsDirectory(dir)) return NotFound("run \"" + run + "\" not found");
  LOOM_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(dir));
  Json tags = Json::object();
  for (const std::string& name : names) {
    if (!IsEventFile(name) || IsDirectory(JoinPath(dir, name))) continue;
    LOOM_ASSIGN_OR_RETURN(tboard::EventFileContents contents,
                          tboard::ReadEventFile(JoinPath(dir, name)));
    for (const tboard::ScalarEvent& e : contents.scalars) {
      tags[e.tag].push_back(Json::array({e.step, e.wall_time, e.value}));
    }
  }
  return Json{{"run", run}, {"tags", std::move(tags)}};
}

}  // namespace loom::ui
