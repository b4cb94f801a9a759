#include "workflow/resource.h"

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <random>
#include <thread>
#include <vector>

#include "core/file.h"
#include "job/local_job.h"
#include "job/pytorchjob.h"
#include "job/tfjob.h"

namespace loom::workflow {
namespace {

std::string Trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t' || s[b] == '\n')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\n')) --e;
  return std::string(s.substr(b, e - b));
}

// Splits at commas outside parentheses (so `x in (a,b), y > 1` is two requirements).
std::vector<std::string> SplitRequirements(std::string_view text) {
  std::vector<std::string> out;
  int depth = 0;
  size_t start = 0;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || (text[i] == ',' && depth == 0)) {
      std::string part = Trim(text.substr(start, i - start));
      if (!part.empty()) out.push_back(part);
      start = i + 1;
    } else if (text[i] == '(') {
      ++depth;
    } else if (text[i] == ')') {
      --depth;
    }
  }
  return out;
}

// The value at a dotted path ("status.replicaStatuses.Worker.succeeded"); numbers index arrays.
const Json* Lookup(const Json& object, std::string_view path) {
  const Json* at = &object;
  size_t start = 0;
  while (start <= path.size()) {
    size_t dot = path.find('.', start);
    if (dot == std::string_view::npos) dot = path.size();
    const std::string seg(path.substr(start, dot - start));
    if (seg.empty()) return nullptr;
    if (at->is_object()) {
      auto it = at->find(seg);
      if (it == at->end()) return nullptr;
      at = &*it;
    } else if (at->is_array()) {
      char* end = nullptr;
      long index = std::strtol(seg.c_str(), &end, 10);
      if (*end != '\0' || index < 0 || static_cast<size_t>(index) >= at->size()) return nullptr;
      at = &(*at)[static_cast<size_t>(index)];
    } else {
      return nullptr;
    }
    start = dot + 1;
  }
  return at;
}

std::string ValueText(const Json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

bool ParseNumber(const std::string& text, double* out) {
  char* end = nullptr;
  *out = std::strtod(text.c_str(), &end);
  return !text.empty() && *end == '\0';
}

StatusOr<bool> EvaluateRequirement(const std::string& req, const Json& object) {
  if (req[0] == '!') {
    const std::string key = Trim(req.substr(1));
    return Lookup(object, key) == nullptr;
  }
  static const char* kOps[] = {"==", "!=", ">=", "<=", "=", ">", "<"};
  for (const char* op : kOps) {
    size_t at = req.find(op);
    if (at == std::string::npos) continue;
    const std::string key = Trim(req.substr(0, at));
    const std::string want = Trim(req.substr(at + std::string(op).size()));
    if (key.empty()) return InvalidArgument("\"" + req + "\": no field before " + op);
    const Json* got = Lookup(object, key);
    const std::string o = op;
    if (o == "!=") return got == nullptr || ValueText(*got) != want;
    if (got == nullptr) return false;
    if (o == "=" || o == "==") return ValueText(*got) == want;
    double a, b;
    if (!ParseNumber(want, &b)) return InvalidArgument("\"" + req + "\": " + want + " is not a number");
    if (!ParseNumber(ValueText(*got), &a)) return false;
    if (o == ">") return a > b;
    if (o == "<") return a < b;
    if (o == ">=") return a >= b;
    return a <= b;
  }
  for (const char* op : {" notin ", " in "}) {
    size_t at = req.find(op);
    if (at == std::string::npos) continue;
    const std::string key = Trim(req.substr(0, at));
    std::string set = Trim(req.substr(at + std::string(op).size()));
    if (set.size() < 2 || set.front() != '(' || set.back() != ')') {
      return InvalidArgument("\"" + req + "\": expected a set in parentheses after" + std::string(op));
    }
    bool found = false;
    const Json* got = Lookup(object, key);
    for (const std::string& v : SplitRequirements(set.substr(1, set.size() - 2))) {
      if (got != nullptr && ValueText(*got) == v) found = true;
    }
    return std::string(op) == " in " ? found : !found;
  }
  if (req.find_first_of(" ()") != std::string::npos) return InvalidArgument("\"" + req + "\": not a requirement");
  return Lookup(object, req) != nullptr;
}

std::string RandomSuffix() {
  static const char kChars[] = "bcdfghjklmnpqrstvwxz2456789";
  thread_local std::mt19937 rng(std::random_device{}());
  std::string out;
  for (int i = 0; i < 5; ++i) out += kChars[rng() % (sizeof(kChars) - 1)];
  return out;
}

ResourceResult Result(std::string phase, std::string message, Json object = Json::object()) {
  return {std::move(phase), std::move(message), std::move(object)};
}

}  // namespace

StatusOr<bool> EvaluateCondition(std::string_view condition, const Json& object) {
  std::vector<std::string> reqs = SplitRequirements(condition);
  if (reqs.empty()) return false;
  for (const std::string& req : reqs) {
    auto holds = EvaluateRequirement(req, object);
    if (!holds.ok()) return holds.status();
    if (!*holds) return false;
  }
  return true;
}

StatusOr<std::string> JsonPathValue(std::string_view path, const Json& object) {
  std::string p = Trim(path);
  if (p.size() >= 2 && p.front() == '{' && p.back() == '}') p = p.substr(1, p.size() - 2);
  if (!p.empty() && p.front() == '.') p = p.substr(1);
  if (p.empty()) return object.dump();
  const Json* v = Lookup(object, p);
  if (v == nullptr) return NotFound("jsonPath " + std::string(path) + ": no such field");
  return ValueText(*v);
}

ResourceResult RunResource(const ResourceTemplate& resource, const ResourceOptions& options,
                           const std::atomic<bool>* cancel,
                           const std::function<void(std::string_view)>& log) {
  const std::string& action = resource.action;
  if (action.empty()) return Result("Error", "resource.action: expected a string");
  if (resource.manifest.empty()) return Result("Error", "resource.manifest: expected the manifest as a string");
  auto manifest = ParseYaml(resource.manifest, "resource.manifest");
  if (!manifest.ok()) return Result("Error", manifest.status().message());
  Json object = *manifest;
  // A patch (mergeStrategy json: a list of operations) has nothing to patch here.
  if (!object.is_object())
    return Result("Error", std::string("resource.manifest: expected a Kubernetes object (a kubeflow.org TFJob or PyTorchJob, "
                                       "a trainer.kubeflow.org TrainJob), got ") +
                               (object.is_array() ? "a list (a JSON patch?)" : object.type_name()));
  auto text_of = [&](const char* key) {
    return object.contains(key) && object[key].is_string() ? object[key].get<std::string>() : std::string();
  };
  const std::string kind = text_of("kind");
  const std::string api = text_of("apiVersion");
  if (((kind != "TFJob" && kind != "PyTorchJob") || api.rfind("kubeflow.org/", 0) != 0) &&
      (kind != "TrainJob" || api.rfind("trainer.kubeflow.org/", 0) != 0)) {
    return Result("Error", (kind.empty() ? std::string("untyped") : kind) +
                               " resources are not supported on one machine (only kubeflow.org TFJob and PyTorchJob, "
                               "trainer.kubeflow.org TrainJob)");
  }
  if (!object.contains("metadata") || !object["metadata"].is_object()) object["metadata"] = Json::object();
  Json& meta = object["metadata"];
  if (!meta.contains("name") && meta.contains("generateName") && meta["generateName"].is_string()) {
    meta["name"] = meta["generateName"].get<std::string>() + RandomSuffix();
  }
  // The name is given now, as the API server gives it on create; the job parsers, which read
  // `loom job run`'s files too, know no generateName.
  Json named = object;
  named["metadata"].erase("generateName");
  auto spec = job::ParseJob(named, "resource.manifest");
  if (!spec.ok()) return Result("Error", spec.status().message());
  // As kubectl names it: tfjob.kubeflow.org/<name>, trainjob.trainer.kubeflow.org/<name>.
  const std::string ref = job::KubectlResource(kind) + "/" + spec->name;

  if (action == "delete") {
    Status s = job::DeleteJob(options.jobs_dir, spec->name);
    if (!s.ok() && s.code() != StatusCode::kNotFound) return Result("Error", s.message(), object);
    log(ref + " deleted\n");
    return Result("Succeeded", "", object);
  }
  if (action == "get") {
    auto status = job::ReadJobStatus(options.jobs_dir, spec->name);
    if (!status.ok()) return Result("Error", status.status().message(), object);
    object["status"] = *status;
  } else if (action == "create" || action == "apply") {
    job::LocalJobOptions job_options;
    job_options.jobs_dir = options.jobs_dir;
    job_options.kill_grace_secs = options.kill_grace_secs;
    job_options.loom_binary = options.loom_binary;
    job_options.runtime = options.runtime;
    job_options.podman = options.podman;
    std::atomic<bool> failed_early{false};
    job_options.should_stop = [&] { return failed_early.load() || (cancel != nullptr && cancel->load()); };
    // A job of this name still "running" belongs to an earlier attempt of this node whose
    // controller died with its engine (kill -9, then resume): its replicas go, and the new job
    // resumes from the checkpoints they left in the train_dir.
    auto old = job::ReadJobStatus(options.jobs_dir, spec->name);
    if (old.ok() && job::JobPhase(*old) != "Succeeded" && job::JobPhase(*old) != "Failed") {
      log(ref + " is left from an earlier attempt (" + job::JobPhase(*old) + "): deleting it\n");
      Status deleted = job::DeleteJob(options.jobs_dir, spec->name);
      if (!deleted.ok()) return Result("Error", deleted.message(), object);
    }
    auto local = job::LocalJob::Create(*spec, job_options);
    if (!local.ok()) return Result("Error", local.status().message(), object);
    log(ref + " created; state in " + (*local)->dir() + "\n");
    // A failureCondition that holds while the job runs stops it at once, as Argo stops waiting.
    std::atomic<bool> done{false};
    std::thread watcher;
    const std::string& failure = resource.failure_condition;
    if (!failure.empty()) {
      watcher = std::thread([&] {
        while (!done) {
          std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int>(options.poll_secs * 1000)));
          auto status = job::ReadJobStatus(options.jobs_dir, spec->name);
          if (!status.ok()) continue;
          Json current = object;
          current["status"] = *status;
          auto holds = EvaluateCondition(failure, current);
          if (holds.ok() && *holds) failed_early = true;
        }
      });
    }
    auto status = (*local)->Run();
    done = true;
    if (watcher.joinable()) watcher.join();
    if (!status.ok()) return Result("Error", status.status().message(), object);
    object["status"] = *status;
    const Json& conditions = (*status)["conditions"];
    std::string last = conditions.is_array() && !conditions.empty() ? conditions.back().value("message", "") : "";
    log(ref + ": " + job::JobPhase(*status) + (last.empty() ? "" : ": " + last) + "\n");
    if (cancel != nullptr && cancel->load()) return Result("Failed", "the " + kind + " was stopped", object);
  } else {
    return Result("Error", "resource.action: \"" + action + "\" is not supported on one machine (create, apply, get, delete)");
  }

  const std::string& success = resource.success_condition;
  const std::string& failure = resource.failure_condition;
  if (!failure.empty()) {
    auto holds = EvaluateCondition(failure, object);
    if (!holds.ok()) return Result("Error", "failureCondition: " + holds.status().message(), object);
    if (*holds) return Result("Failed", "failure condition '" + failure + "' matched", object);
  }
  if (!success.empty()) {
    auto holds = EvaluateCondition(success, object);
    if (!holds.ok()) return Result("Error", "successCondition: " + holds.status().message(), object);
    if (!*holds) return Result("Failed", "success condition '" + success + "' not met when the " + kind + " ended", object);
    return Result("Succeeded", "", object);
  }
  // No conditions: the job's own outcome decides (Argo would succeed once created; locally the
  // job has run to its end, and a failed job should not pass silently).
  if (object.contains("status") && job::JobPhase(object["status"]) == "Failed") {
    return Result("Failed", kind + " " + spec->name + " failed", object);
  }
  return Result("Succeeded", "", object);
}

}  // namespace loom::workflow
