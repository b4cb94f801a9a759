// A PyTorchJob (kubeflow.org/v1, as the Kubeflow Training Operator defines it) read into the
// job the local controller runs: a Master (exactly one; its exit decides the job) and Workers,
// each running its `pytorch` container's command and args. Every field either acts or is refused
// with its path and why: `spec.elasticPolicy: not supported on one machine: ...`.
//
// ParseJob and ReadJob are where the kinds meet: they dispatch on `kind`, so `loom job` runs a
// TFJob, a PyTorchJob or a TrainJob (job/trainjob.h) from the same file argument.
#pragma once

#include <string>

#include "core/json.h"
#include "core/status.h"
#include "job/tfjob.h"

namespace loom::job {

StatusOr<TfJob> ParsePyTorchJob(const Json& document, const std::string& source);

// A TFJob, a PyTorchJob or a TrainJob (resolved against the runtimes in
// RuntimeStore::DefaultDir()), by its kind; any other kind is an error naming `kind`.
StatusOr<TfJob> ParseJob(const Json& document, const std::string& source);
// Reads the file; its errors name the field's line: "<path>:<line>: <field>: why".
StatusOr<TfJob> ReadJob(const std::string& path);

}  // namespace loom::job
