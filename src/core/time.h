// Times as Kubernetes and Argo write them in objects (creationTimestamp, startedAt,
// completionTime): RFC 3339 in UTC, to the second, "2026-11-29T01:08:13Z".
#pragma once

#include <string>

namespace loom {

// `epoch_seconds` (fractions dropped) as "YYYY-MM-DDTHH:MM:SSZ".
std::string Rfc3339(double epoch_seconds);

// Seconds since the epoch of a time written as Rfc3339 writes it; 0 when `text` is not one.
double ParseRfc3339(const std::string& text);

}  // namespace loom
