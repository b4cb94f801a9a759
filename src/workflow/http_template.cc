// http templates: the request, its secrets, its success condition (http_template.h).
#include "workflow/http_template.h"

#include <set>

#include "container/pod_spec.h"
#include "net/http_client.h"
#include "workflow/expr_lang.h"
#include "workflow/spec.h"
#include "workflow/vars.h"

namespace loom::workflow {
namespace {

PodResult Outcome(const std::string& phase, const std::string& message, Json outputs = Json::object()) {
  PodResult r;
  r.phase = phase;
  r.message = message;
  r.outputs = std::move(outputs);
  return r;
}

}  // namespace

PodResult RunHttpTemplate(const Json& http, const container::ConfigStore& secrets) {
  if (Status ok = CheckHttpTemplate(http, "http"); !ok.ok()) return Outcome("Error", ok.message());
  net::HttpRequest request;
  request.method = http.value("method", "GET");
  request.url = http["url"].get<std::string>();
  request.body = http.value("body", "");
  Json request_headers = Json::object();
  const Json headers = http.value("headers", Json::array());
  for (size_t i = 0; i < headers.size(); ++i) {
    const Json& h = headers[i];
    std::string value = h.contains("value") ? ParameterString(h["value"]) : "";
    if (h.contains("valueFrom")) {
      const std::string field = "http.headers[" + std::to_string(i) + "].valueFrom.secretKeyRef";
      StatusOr<std::optional<std::string>> secret =
          container::ResolveKeyRef(secrets, container::ConfigKind::kSecret, h["valueFrom"]["secretKeyRef"], field);
      if (!secret.ok()) return Outcome("Failed", secret.status().message());
      if (!*secret) continue;  // optional and missing
      value = **secret;
    }
    const std::string name = h["name"].get<std::string>();
    request.headers.emplace_back(name, value);
    request_headers[name].push_back(value);
  }
  net::HttpClientOptions options;
  options.verify_tls = !http.value("insecureSkipVerify", false);
  if (http.contains("timeoutSeconds")) {
    options.timeout_seconds = http["timeoutSeconds"].get<long>();
    options.connect_timeout_seconds = std::min(options.connect_timeout_seconds, options.timeout_seconds);
  }
  StatusOr<std::unique_ptr<net::HttpClient>> client = net::HttpClient::Create(options);
  if (!client.ok()) return Outcome("Failed", client.status().message());
  StatusOr<net::HttpResponse> response = (*client)->Send(request);
  if (!response.ok()) return Outcome("Failed", response.status().message());
  Json outputs = {{"result", response->body}};
  const std::string condition = http.value("successCondition", "");
  if (condition.empty()) {
    if (response->status < 200 || response->status >= 300) {
      return Outcome("Failed", "received non-2xx response code: " + std::to_string(response->status), outputs);
    }
    return Outcome("Succeeded", "", outputs);
  }
  Json response_headers = Json::object();
  for (const auto& [k, v] : response->headers) response_headers[k].push_back(v);
  const Json env = {
      {"request", {{"method", request.method}, {"url", request.url}, {"body", request.body}, {"headers", request_headers}}},
      {"response", {{"statusCode", response->status}, {"body", response->body}, {"headers", response_headers}}}};
  StatusOr<Expression> parsed = Expression::Parse(condition);
  StatusOr<Json> holds = parsed.ok() ? parsed->Evaluate(env) : StatusOr<Json>(parsed.status());
  if (!holds.ok()) return Outcome("Failed", holds.status().message(), outputs);
  if (!holds->is_boolean()) return Outcome("Failed", "expected bool, but got " + GoString(*holds), outputs);
  if (!holds->get<bool>()) return Outcome("Failed", "successCondition '" + condition + "' evaluated false", outputs);
  return Outcome("Succeeded", "", outputs);
}

}  // namespace loom::workflow
