#include "ui/web_ui.h"

#include <strings.h>

#include "core/file.h"
#include "core/json.h"
#include "core/logging.h"
#include "job/local_job.h"
#include "net/auth_token.h"
#include "net/http_client.h"
#include "ui/api_util.h"
#include "ui/assets.h"
#include "ui/safe_path.h"
#include "ui/scalars.h"

namespace loom::ui {

const Asset* FindAsset(std::string_view path) {
  if (path == "/") path = "/index.html";
  if (path == "/favicon.ico") path = "/favicon.svg";  // what browsers ask for by themselves
  for (size_t i = 0; i < kAssetCount; ++i) {
    if (kAssets[i].path == path) return &kAssets[i];
  }
  return nullptr;
}

namespace {

bool IsWildcard(const std::string& address) {
  return address == "0.0.0.0" || address == "::" || address == "[::]";
}

bool IsReadOnly(const std::string& method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS";
}

// "a:b" -> true when the Content-Type's media type is JSON.
bool IsJsonContentType(const std::string& value) {
  return strncasecmp(value.c_str(), "application/json", 16) == 0 &&
         (value.size() == 16 || value[16] == ';' || value[16] == ' ');
}

// The value of cookie `name` in a Cookie header ("a=1; b=2"), or "".
std::string CookieValue(const std::string& header, const std::string& name) {
  size_t start = 0;
  while (start < header.size()) {
    size_t end = header.find(';', start);
    if (end == std::string::npos) end = header.size();
    size_t b = header.find_first_not_of(' ', start);
    if (b != std::string::npos && b < end && header.compare(b, name.size(), name) == 0 &&
        b + name.size() < end && header[b + name.size()] == '=')
      return header.substr(b + name.size() + 1, end - b - name.size() - 1);
    start = end + 1;
  }
  return "";
}

// application/x-www-form-urlencoded: the value of field `name`, decoded, or "".
std::string FormValue(const std::string& body, const std::string& name) {
  size_t start = 0;
  while (start <= body.size()) {
    size_t end = body.find('&', start);
    if (end == std::string::npos) end = body.size();
    if (body.compare(start, name.size() + 1, name + "=") == 0) {
      auto hex = [](char c) {
        return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
      };
      std::string out;
      for (size_t i = start + name.size() + 1; i < end; ++i) {
        if (body[i] == '+') {
          out += ' ';
        } else if (body[i] == '%' && i + 2 < end && hex(body[i + 1]) >= 0 && hex(body[i + 2]) >= 0) {
          out += static_cast<char>(hex(body[i + 1]) * 16 + hex(body[i + 2]));
          i += 2;
        } else {
          out += body[i];
        }
      }
      return out;
    }
    start = end + 1;
  }
  return "";
}

// Paths the browser needs before it has logged in: the login page and what it shows.
bool IsPublicAsset(const std::string& path) {
  return path == "/style.css" || path == "/favicon.svg" || path == "/favicon.ico";
}

bool IsApiPath(const std::string& path) {
  return path.rfind("/api/", 0) == 0 || path.rfind("/artifacts/", 0) == 0;
}

void ServeAsset(const Asset& asset, net::HttpServerResponse* response) {
  response->status = 200;
  response->content_type = std::string(asset.content_type);
  response->body = std::string(asset.body);
  // Nothing but this server's own files: no inline script, no CDN, no framing by other pages.
  response->headers = {
      {"Content-Security-Policy",
       "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "connect-src 'self'; frame-ancestors 'none'"},
      {"X-Content-Type-Options", "nosniff"},
      {"Cache-Control", "no-cache"},
  };
}

}  // namespace

size_t BodyLimit(const std::string& method, const std::string& path) {
  if (method == "GET" || method == "HEAD" || method == "DELETE") return 0;
  if (path == "/login") return 4 << 10;
  if (path.rfind("/api/v1/models/", 0) == 0) return 32u << 20;
  if (path.rfind("/api/v1/workflows/", 0) == 0 || path.rfind("/api/v1/workflow-templates/", 0) == 0) {
    // A manifest; the PUT actions take Argo's small request objects.
    return method == "POST" ? 4u << 20 : 64u << 10;
  }
  return 64u << 10;
}

StatusOr<std::unique_ptr<WebUi>> WebUi::Create(const WebUiOptions& options) {
  if (options.logdir.empty()) return InvalidArgument("--logdir: must not be empty");
  if (options.jobs_dir.empty()) return InvalidArgument("--jobs_dir: must not be empty");
  for (const std::string& m : options.models) {
    if (!IsSafeName(m) || m.find(':') != std::string::npos)
      return InvalidArgument("--models: \"" + m + "\" is not a model name");
  }
  return std::unique_ptr<WebUi>(new WebUi(options));
}

Status WebUi::CheckRequestAllowed(const net::HttpServerRequest& request) const {
  const std::string port = std::to_string(port_.load());
  const std::string scheme = options_.secure ? "https://" : "http://";
  std::vector<std::string> hosts = {"127.0.0.1:" + port, "localhost:" + port, "[::1]:" + port};
  if (options_.address.find(':') != std::string::npos)
    hosts.push_back("[" + options_.address + "]:" + port);
  else
    hosts.push_back(options_.address + ":" + port);
  if (!IsWildcard(options_.address)) {
    const std::string host = request.Header("Host");
    bool known = false;
    for (const std::string& h : hosts) known = known || strcasecmp(h.c_str(), host.c_str()) == 0;
    if (!known) return PermissionDenied("Host \"" + host + "\" is not this server");
  }
  if (IsReadOnly(request.method)) return OkStatus();
  const std::string origin = request.Header("Origin");
  if (!origin.empty()) {
    if (IsWildcard(options_.address)) {
      // Bound to every interface: the page's own origin is whatever host the browser used.
      if (strcasecmp(origin.c_str(), (scheme + request.Header("Host")).c_str()) == 0)
        return OkStatus();
    }
    for (const std::string& h : hosts) {
      if (strcasecmp(origin.c_str(), (scheme + h).c_str()) == 0) return OkStatus();
    }
    return PermissionDenied("cross-origin request from " + origin + " refused");
  }
  if (strcasecmp(request.Header("Sec-Fetch-Site").c_str(), "cross-site") == 0)
    return PermissionDenied("cross-site request refused");
  if (!IsJsonContentType(request.Header("Content-Type")))
    return PermissionDenied(request.method +
                            " without an Origin needs Content-Type: application/json");
  return OkStatus();
}

void WebUi::Handle(const net::HttpServerRequest& request, net::HttpServerResponse* response) const {
  if (Status allowed = CheckRequestAllowed(request); !allowed.ok()) {
    SetError(allowed, response);
    return;
  }
  if (!options_.token.empty() && !Authenticate(request, response)) return;
  // An exception here would end the server (an event thread cannot pass it on): it is a bug,
  // answered 500 and logged, while every other client goes on being served.
  try {
    Route(request, response);
  } catch (const std::exception& e) {
    LOOM_LOG(ERROR) << request.method << " " << request.path << ": " << e.what();
    *response = net::HttpServerResponse();
    SetError(Internal(request.method + " " + request.path + ": " + e.what()), response);
  }
}

std::string WebUi::CookieName() const { return "loom-token-" + std::to_string(port_.load()); }

std::pair<std::string, std::string> WebUi::LoginCookie(const std::string& token) const {
  // HttpOnly: no script reads it; SameSite=Strict: no other site's page sends it.
  std::string cookie = CookieName() + "=" + token + "; Path=/; HttpOnly; SameSite=Strict" +
                       (token.empty() ? "; Max-Age=0" : "; Max-Age=2592000");
  if (options_.secure) cookie += "; Secure";
  return {"Set-Cookie", cookie};
}

namespace {

void Redirect(const std::string& location, net::HttpServerResponse* response) {
  response->status = 303;
  response->content_type = "text/plain; charset=utf-8";
  response->body = "See " + location + "\n";
  response->headers.push_back({"Location", location});
  response->headers.push_back({"Cache-Control", "no-store"});
}

// The login page, with `error` (plain text) shown under the form.
void LoginPage(int status, const std::string& error, net::HttpServerResponse* response) {
  const Asset* asset = FindAsset("/login.html");
  ServeAsset(*asset, response);
  response->status = status;
  std::string escaped;
  for (char c : error) {
    if (c == '<') escaped += "&lt;";
    else if (c == '>') escaped += "&gt;";
    else if (c == '&') escaped += "&amp;";
    else escaped += c;
  }
  if (size_t at = response->body.find("<!--error-->"); at != std::string::npos)
    response->body.replace(at, 12, escaped);
  response->headers.push_back({"Cache-Control", "no-store"});
}

}  // namespace

void WebUi::Login(const net::HttpServerRequest& request, net::HttpServerResponse* response) const {
  if (request.method == "GET" || request.method == "HEAD") return LoginPage(200, "", response);
  if (request.method != "POST") return SetError(InvalidArgument(request.method + " is not allowed here"), response);
  const std::string token = FormValue(request.body, "token");
  if (!net::TokenMatches(token, options_.token))
    return LoginPage(401, token.empty() ? "No token given." : "That is not this server's token.", response);
  Redirect("/", response);
  response->headers.push_back(LoginCookie(options_.token));
}

bool WebUi::Authenticate(const net::HttpServerRequest& request, net::HttpServerResponse* response) const {
  const std::string& path = request.path;
  const bool read = request.method == "GET" || request.method == "HEAD";
  if (path == "/login") {
    Login(request, response);
    return false;
  }
  // Logging out changes state, so it is a POST (the page's button): a GET that did it would
  // let any page log a user out with an <img> (CSRF). No token is needed to drop one's own.
  if (path == "/logout") {
    if (request.method != "POST") {
      SetError(InvalidArgument(request.method + " /logout: log out with POST"), response);
      response->status = 405;  // Method Not Allowed
      response->headers.push_back({"Allow", "POST"});
      return false;
    }
    Redirect("/login", response);
    response->headers.push_back(LoginCookie(""));
    return false;
  }
  if (read && IsPublicAsset(path)) return true;
  // Jupyter's token URL: a page opened with ?token=<token> logs the browser in, and the token
  // leaves the address bar (and the history) at once.
  if (const std::string token = request.Query("token"); !token.empty() && read && !IsApiPath(path)) {
    if (!net::TokenMatches(token, options_.token)) {
      LoginPage(401, "The token in that address is not this server's.", response);
      return false;
    }
    Redirect(path, response);
    response->headers.push_back(LoginCookie(options_.token));
    return false;
  }
  std::string presented = net::BearerToken(request.Header("Authorization"));
  if (presented.empty()) presented = CookieValue(request.Header("Cookie"), CookieName());
  if (net::TokenMatches(presented, options_.token)) return true;
  if (read && !IsApiPath(path)) {
    Redirect("/login", response);
    return false;
  }
  // Argo server's answer: gRPC's Unauthenticated (16) as HTTP 401.
  const std::string message = presented.empty()
                                  ? "no token: send \"Authorization: Bearer <token>\" (the token is $LOOM_HOME/server.token)"
                                  : "token not valid for this server";
  SetJson({{"error", message}, {"code", 16}, {"message", message}}, response, 401);
  response->headers.push_back({"WWW-Authenticate", "Bearer realm=\"loom server\""});
  return false;
}

void WebUi::Route(const net::HttpServerRequest& request, net::HttpServerResponse* response) const {
  const std::string& path = request.path;
  if (options_.extra_routes && options_.extra_routes(request, response)) return;
  if (path.rfind("/api/", 0) != 0) {
    const Asset* asset = request.method == "GET" || request.method == "HEAD" ? FindAsset(path) : nullptr;
    if (asset == nullptr) {
      SetError(NotFound("no page at " + path), response);
      return;
    }
    ServeAsset(*asset, response);
    return;
  }
  std::vector<std::string> parts = SplitPath(path);
  if (parts.size() < 3 || parts[1] != "v1") {
    SetError(NotFound("no API at " + path), response);
    return;
  }
  const std::string& what = parts[2];
  if (what == "info" && parts.size() == 3 && request.method == "GET") {
    SetJson({{"logdir", options_.logdir},
             {"jobsDir", options_.jobs_dir},
             {"modelServer", options_.model_server},
             {"models", options_.models},
             {"workflows", options_.workflows_enabled},
             {"authMode", options_.token.empty() ? "server" : "client"}},
            response);
    return;
  }
  if (what == "runs" && parts.size() == 3 && request.method == "GET") {
    auto runs = ListRuns(options_.logdir);
    if (!runs.ok()) return SetError(runs.status(), response);
    SetJson({{"logdir", options_.logdir}, {"runs", *runs}}, response);
    return;
  }
  if (what == "scalars" && parts.size() == 3 && request.method == "GET") {
    std::string run = request.Query("run");
    if (run.empty()) return SetError(InvalidArgument("run: missing"), response);
    auto scalars = ReadRunScalars(options_.logdir, run);
    if (!scalars.ok()) return SetError(scalars.status(), response);
    SetJson(*scalars, response);
    return;
  }
  if (what == "jobs") return Jobs(parts, request, response);
  if (what == "models") return Models(parts, request, response);
  SetError(NotFound("no API at " + path), response);
}

// GET /api/v1/jobs                              {"items": [{"name", "kind", "phase", "status"}]}
// GET /api/v1/jobs/{name}                       {"name", "phase", "manifest", "status"}
// GET /api/v1/jobs/{name}/logs/{replica}?offset=&limit=   a log page (api_util.h)
void WebUi::Jobs(const std::vector<std::string>& parts, const net::HttpServerRequest& request,
                 net::HttpServerResponse* response) const {
  if (request.method != "GET") return SetError(InvalidArgument("jobs are read-only here"), response);
  if (parts.size() == 3) {
    Json items = Json::array();
    if (IsDirectory(options_.jobs_dir)) {
      auto names = job::ListJobs(options_.jobs_dir);
      if (!names.ok()) return SetError(names.status(), response);
      for (const std::string& name : *names) {
        auto status = job::ReadJobStatus(options_.jobs_dir, name);
        Json item = {{"name", name}};
        // The kind (TFJob, PyTorchJob, TrainJob) from the manifest the controller kept.
        if (auto manifest = ReadFile(JoinPath(JoinPath(options_.jobs_dir, name), "tfjob.json")); manifest.ok())
          if (auto parsed = ParseJson(*manifest, "tfjob.json"); parsed.ok() && parsed->is_object())
            item["kind"] = parsed->value("kind", "");
        if (status.ok()) {
          item["phase"] = job::JobPhase(*status);
          item["status"] = *status;
        } else {
          item["phase"] = "Unknown";
          item["error"] = status.status().message();
        }
        items.push_back(std::move(item));
      }
    }
    SetJson({{"items", std::move(items)}}, response);
    return;
  }
  const std::string& name = parts[3];
  auto dir = ResolveUnder(options_.jobs_dir, name, "job");
  if (!dir.ok()) return SetError(dir.status(), response);
  if (parts.size() == 4) {
    auto status = job::ReadJobStatus(options_.jobs_dir, name);
    if (!status.ok()) return SetError(status.status(), response);
    Json body = {{"name", name}, {"phase", job::JobPhase(*status)}, {"status", *status}};
    if (auto manifest = ReadFile(JoinPath(*dir, "tfjob.json")); manifest.ok()) {
      if (auto parsed = ParseJson(*manifest, "tfjob.json"); parsed.ok()) body["manifest"] = *parsed;
    }
    SetJson(body, response);
    return;
  }
  if (parts.size() == 6 && parts[4] == "logs") {
    if (!IsSafeName(parts[5]))
      return SetError(InvalidArgument("replica: \"" + parts[5] + "\" is not a valid name"), response);
    auto log = ResolveUnder(*dir, "logs/" + parts[5] + ".log", "replica log");
    if (!log.ok()) return SetError(log.status(), response);
    auto offset = QueryInt(request, "offset", 0);
    auto limit = QueryInt(request, "limit", kDefaultLogPage);
    if (!offset.ok()) return SetError(offset.status(), response);
    if (!limit.ok()) return SetError(limit.status(), response);
    auto page = ReadLogPage(*offset, *limit, [&](int64_t o, int64_t l, int64_t* total) {
      return ReadFileRange(*log, o, l, total);
    });
    if (!page.ok()) return SetError(page.status(), response);
    SetJson(*page, response);
    return;
  }
  SetError(NotFound("no API at " + request.path), response);
}

// GET  /api/v1/models                 {"modelServer", "items": [{"name", <GET /v1/models/{m}> | "error"}]}
// GET  /api/v1/models/{m}             the model server's GET /v1/models/{m}
// GET  /api/v1/models/{m}/metadata    its GET /v1/models/{m}/metadata
// POST /api/v1/models/{m}:predict     its POST /v1/models/{m}:predict, body passed through
void WebUi::Models(const std::vector<std::string>& parts, const net::HttpServerRequest& request,
                   net::HttpServerResponse* response) const {
  if (options_.model_server.empty())
    return SetError(FailedPrecondition("no --model_server given"), response);
  auto forward = [&](const std::string& method, const std::string& path,
                     const std::string& body) -> StatusOr<net::HttpResponse> {
    net::HttpClientOptions client_options;
    client_options.connect_timeout_seconds = 2;
    client_options.stall_timeout_seconds = 10;
    LOOM_ASSIGN_OR_RETURN(auto client, net::HttpClient::Create(client_options));
    net::HttpRequest r;
    r.method = method;
    r.url = "http://" + options_.model_server + path;
    r.body = body;
    if (method == "POST") r.headers.push_back({"Content-Type", "application/json"});
    auto answer = client->Send(r);
    if (!answer.ok())
      return Unavailable("model server " + options_.model_server + ": " + answer.status().message());
    return answer;
  };
  auto pass_through = [&](const StatusOr<net::HttpResponse>& answer) {
    if (!answer.ok()) return SetError(answer.status(), response);
    response->status = static_cast<int>(answer->status);
    response->content_type = "application/json";
    response->body = answer->body;
  };
  if (parts.size() == 3 && request.method == "GET") {
    Json items = Json::array();
    for (const std::string& m : options_.models) {
      auto answer = forward("GET", "/v1/models/" + m, "");
      Json item = {{"name", m}};
      if (!answer.ok()) {
        item["error"] = answer.status().message();
      } else if (auto parsed = ParseJson(answer->body, "model server"); parsed.ok()) {
        item.update(*parsed);
      } else {
        item["error"] = parsed.status().message();
      }
      items.push_back(std::move(item));
    }
    SetJson({{"modelServer", options_.model_server}, {"items", std::move(items)}}, response);
    return;
  }
  std::string model = parts.size() >= 4 ? parts[3] : "";
  bool predict = false;
  if (size_t colon = model.find(':'); colon != std::string::npos) {
    predict = model.substr(colon) == ":predict";
    model = model.substr(0, colon);
    if (!predict) return SetError(NotFound("no API at " + request.path), response);
  }
  if (!IsSafeName(model))
    return SetError(InvalidArgument("model: \"" + model + "\" is not a model name"), response);
  const std::string base = "/v1/models/" + net::UrlEncode(model, false);
  if (predict && parts.size() == 4 && request.method == "POST")
    return pass_through(forward("POST", base + ":predict", request.body));
  if (!predict && parts.size() == 4 && request.method == "GET")
    return pass_through(forward("GET", base, ""));
  if (!predict && parts.size() == 5 && parts[4] == "metadata" && request.method == "GET")
    return pass_through(forward("GET", base + "/metadata", ""));
  SetError(NotFound("no API at " + request.path), response);
}

StatusOr<std::unique_ptr<net::HttpServer>> ServeWebUi(WebUi* ui, const net::HttpServerOptions& options) {
  LOOM_ASSIGN_OR_RETURN(
      std::unique_ptr<net::HttpServer> server,
      net::HttpServer::Create(options, [ui](const net::HttpServerRequest& request,
                                            net::HttpServerResponse* response) { ui->Handle(request, response); }));
  ui->set_port(server->port());
  return server;
}

}  // namespace loom::ui
