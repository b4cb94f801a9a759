// http templates (Argo's HTTP template): one HTTP request whose response body is the node's
// `result`. Argo runs them in an agent pod; here the pod runner runs them in the engine's
// process, with libcurl through net::HttpClient.
//
// Fields: url (required), method (GET), headers (name, value or valueFrom.secretKeyRef read from
// Loom's Secret store, never the engine's environment), body (sent with POST, PUT and PATCH),
// timeoutSeconds (the whole request), insecureSkipVerify, successCondition (expr-lang over
// `request` {method, url, body, headers} and `response` {statusCode, body, headers}; without
// one, a 2xx status succeeds). Outcomes are Argo's: Failed with "received non-2xx response code:
// 404", "successCondition '...' evaluated false", or the transport's error.
#pragma once

#include "container/config_store.h"
#include "core/json.h"
#include "core/status.h"
#include "workflow/pod.h"

namespace loom::workflow {

// Runs the request of `http` (every {{...}} already filled). Secrets come from `secrets`.
PodResult RunHttpTemplate(const Json& http, const container::ConfigStore& secrets);

}  // namespace loom::workflow
