// Runs one data-driven workflow case (tests/workflow/cases/<case>.yaml) on the real engine and
// LocalPodRunner, and compares the result with <case>.expected.yaml:
//
//   phase: Succeeded            # the workflow's phase
//   message: "..."              # optional: the workflow's message
//   parameters: {name: value}   # optional: -p overrides; "$SCRATCH" becomes a scratch directory
//   templates: [x.wftmpl.yaml]  # optional: WorkflowTemplates stored before submitting
//   configmaps: [x.cm.yaml]     # optional: ConfigMaps stored before submitting (loom apply's)
//   labels: {k: v}              # optional: labels the workflow must have at the end
//   actions:                    # optional: done from another thread while the workflow runs
//     - {when: "<node name> Running", do: resume|stop|terminate}
//   outputs: {parameters: [...]} # optional: the workflow's outputs
//   nodes:                      # every node of the tree, no more, no fewer
//     "<node name>": {type: Pod, phase: Succeeded, message: "...", result: "...",
//                     parameters: {p: v}, inputs: {p: v},
//                     memoizationStatus: {hit: true, key: k, cacheName: c}}
//   configmaps_after:           # optional: data the ConfigMaps hold at the end, by name and key;
//     "<name>": {"<key>": {nodeID: "{{id:<node name>}}", outputs: {...}}}   # subset of the entry's JSON
//
// Node names are written with the workflow's name, which is the case's name. In messages,
// {{id:<node name>}} stands for that node's id, and anywhere {{param:<name>}} for a parameter
// the test passes in CaseOptions (a server's address).
#pragma once

#include <map>
#include <string>

#include "storage/s3_store.h"

namespace loom::workflow::testing {

struct CaseOptions {
  std::map<std::string, std::string> parameters;  // more -p overrides (e.g. an S3 endpoint)
  storage::S3Options s3;                          // credentials for s3 artifacts (from the environment)
};

// Runs the case `name` from `cases_dir` with state under `home`; returns "" when the result is as
// expected, else what differs (one line per difference).
std::string RunCase(const std::string& cases_dir, const std::string& name, const std::string& home,
                    const CaseOptions& options = {});

// Checks the bad-input case `name` (<name>.yaml beside <name>.expected, the error line): "" when
// LoadManifest fails with exactly that line and nothing was stored.
std::string RunBadCase(const std::string& cases_dir, const std::string& name, const std::string& home);

}  // namespace loom::workflow::testing
