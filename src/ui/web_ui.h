// WebUi: the handler behind `loom server`: the embedded pages at "/" and the JSON API under
// /api/v1/ for training scalars (TensorBoard's scalars view), TFJobs and their replica logs,
// and served models (a proxy to a TF-Serving-compatible REST server). The workflow API is
// plugged in as `extra_routes` (workflow_api.h), so this part builds without the engine.
//
// Every request passes three checks before routing:
//  - Host must name this server (127.0.0.1:<port>, localhost:<port>, [::1]:<port> or the bound
//    address) unless it was bound to a wildcard address: a DNS-rebinding page cannot read it;
//  - a request that changes something (not GET/HEAD/OPTIONS) must carry an Origin equal to this
//    server's own, or no Origin with a JSON Content-Type and no "Sec-Fetch-Site: cross-site":
//    a form or fetch from another page cannot submit or delete (403);
//  - unless `token` is empty (--auth-mode server), it carries the server's token (Argo server's
//    --auth-mode client): "Authorization: Bearer <token>" (the CLI, argo's clients) or the
//    cookie the login page sets (the browser), compared in constant time; an API request without
//    it gets 401, a page a redirect to /login. /login takes the token once (a form, or
//    Jupyter's token URL: any page with ?token=<token>) and sets an HttpOnly, SameSite=Strict
//    cookie named after the port; only the login page, its style sheet and the icon are public.
// Names taken from URLs (runs, jobs, replicas) go through safe_path.h.
// Thread-safe: Handle runs on every HTTP event thread at once.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "net/http_server.h"

namespace loom::ui {

using Routes = std::function<bool(const net::HttpServerRequest&, net::HttpServerResponse*)>;

struct WebUiOptions {
  // The address the server is bound to (for the Host and Origin checks).
  std::string address = "127.0.0.1";
  // TensorBoard's --logdir: runs are the directories under it holding event files.
  std::string logdir;
  // The local TFJob controller's state directory (loom job --jobs_dir).
  std::string jobs_dir;
  // host:port of the model server (loom serve / TF Serving REST); empty hides the models page.
  std::string model_server = "127.0.0.1:8501";
  // The models the models page asks the model server about (TF Serving has no list call).
  std::vector<std::string> models = {"mnist"};
  // Tried before the built-in routes; returns true when it answered.
  Routes extra_routes;
  // Shown by /api/v1/info: whether the workflow API is there.
  bool workflows_enabled = false;
  // The token every request must carry; empty: no authentication (--auth-mode server).
  std::string token;
  // Served over TLS: the page's origin is https://, the login cookie is Secure.
  bool secure = false;
};

// The largest request body each endpoint takes (HttpServerOptions::body_limit): a manifest or
// template 4 MiB, a predict 32 MiB (a batch of images), the login form 4 KiB, anything else 64 KiB.
size_t BodyLimit(const std::string& method, const std::string& path);

class WebUi {
 public:
  static StatusOr<std::unique_ptr<WebUi>> Create(const WebUiOptions& options);

  // The port the HTTP server got: call once it is bound, before its address is handed out.
  void set_port(int port) { port_.store(port); }

  void Handle(const net::HttpServerRequest& request, net::HttpServerResponse* response) const;

 private:
  explicit WebUi(WebUiOptions options) : options_(std::move(options)) {}
  // PermissionDenied when the request fails the Host or cross-origin checks above.
  Status CheckRequestAllowed(const net::HttpServerRequest& request) const;
  // True when the request carries the token (or none is needed); otherwise answers it (401, a
  // redirect to the login page, or the login itself) and returns false.
  bool Authenticate(const net::HttpServerRequest& request, net::HttpServerResponse* response) const;
  // GET/POST /login.
  void Login(const net::HttpServerRequest& request, net::HttpServerResponse* response) const;
  std::string CookieName() const;
  // "Set-Cookie" logging the browser in (or out, when token is empty).
  std::pair<std::string, std::string> LoginCookie(const std::string& token) const;
  void Route(const net::HttpServerRequest& request, net::HttpServerResponse* response) const;
  void Jobs(const std::vector<std::string>& parts, const net::HttpServerRequest& request,
            net::HttpServerResponse* response) const;
  void Models(const std::vector<std::string>& parts, const net::HttpServerRequest& request,
              net::HttpServerResponse* response) const;

  WebUiOptions options_;
  std::atomic<int> port_{0};
};

// Starts an HttpServer whose handler is `ui` and tells `ui` its port.
// REQUIRES: ui outlives the server.
StatusOr<std::unique_ptr<net::HttpServer>> ServeWebUi(WebUi* ui, const net::HttpServerOptions& options);

}  // namespace loom::ui
