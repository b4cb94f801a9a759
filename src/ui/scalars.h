// TensorBoard's scalars data for the training page: runs are the directories under a logdir
// (the logdir itself included) that hold events.out.tfevents.* files, as TensorBoard finds them;
// a run's scalars are every such file's simple_value summaries, grouped by tag.
#pragma once

#include <string>
#include <vector>

#include "core/json.h"
#include "core/status.h"

namespace loom::ui {

// Run names relative to logdir ("." for logdir itself, "mnist/train"), sorted. Looks at most
// 6 directories deep. A logdir that does not exist has no runs.
StatusOr<std::vector<std::string>> ListRuns(const std::string& logdir);

// {"run": run, "tags": {"loss": [[step, wall_time, value], ...], ...}}, points in file order
// (files by name, i.e. by creation time). `run` goes through ResolveUnder: a run outside logdir
// is InvalidArgument. A file with a corrupt record is DataLoss naming it; a torn tail (a writer
// still appending) is not an error.
StatusOr<Json> ReadRunScalars(const std::string& logdir, const std::string& run);

}  // namespace loom::ui
