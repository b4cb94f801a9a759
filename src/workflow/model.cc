// JSON <-> the typed model (model.h): the one place that reads a workflow's fields by name.
#include "workflow/model.h"

#include <cstdlib>
#include <iterator>
#include <set>

namespace loom::workflow {
namespace {

// Reads the fields of one JSON object, remembering which it took, so that what is left (the
// fields passed through as written) is `Rest()`.
class Fields {
 public:
  Fields(const Json& j, std::string path) : j_(j), path_(std::move(path)) {}

  Status Object() const {
    if (!j_.is_object()) return InvalidArgument(path_ + ": must be an object");
    return OkStatus();
  }
  bool Has(const char* key) const { return j_.contains(key); }
  const std::string& path() const { return path_; }
  std::string Path(const char* key) const { return JoinField(path_, key); }

  // The field as it is (absent: nullopt).
  std::optional<Json> Raw(const char* key) {
    taken_.insert(key);
    auto it = j_.find(key);
    if (it == j_.end()) return std::nullopt;
    return *it;
  }
  Status String(const char* key, std::string* out) {
    taken_.insert(key);
    auto it = j_.find(key);
    if (it == j_.end()) return OkStatus();
    if (!it->is_string()) return InvalidArgument(Path(key) + ": must be a string");
    *out = it->get<std::string>();
    return OkStatus();
  }
  Status OptString(const char* key, std::optional<std::string>* out) {
    if (!j_.contains(key)) {
      taken_.insert(key);
      return OkStatus();
    }
    std::string s;
    LOOM_RETURN_IF_ERROR(String(key, &s));
    *out = std::move(s);
    return OkStatus();
  }
  Status Bool(const char* key, bool* out) {
    taken_.insert(key);
    auto it = j_.find(key);
    if (it == j_.end()) return OkStatus();
    if (!it->is_boolean()) return InvalidArgument(Path(key) + ": must be true or false");
    *out = it->get<bool>();
    return OkStatus();
  }
  // A list of T read by `read(item, path)`.
  template <typename T, typename F>
  Status List(const char* key, std::vector<T>* out, F read) {
    taken_.insert(key);
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) return OkStatus();
    if (!it->is_array()) return InvalidArgument(Path(key) + ": must be a list");
    for (size_t i = 0; i < it->size(); ++i) {
      LOOM_ASSIGN_OR_RETURN(T v, read((*it)[i], JoinField(Path(key), i)));
      out->push_back(std::move(v));
    }
    return OkStatus();
  }
  Status Strings(const char* key, std::vector<std::string>* out) {
    return List(key, out, [](const Json& v, const std::string& p) -> StatusOr<std::string> {
      if (!v.is_string()) return InvalidArgument(p + ": must be a string");
      return v.get<std::string>();
    });
  }
  // Every field taken: a typed object has no fields of its own to pass on.
  Status NoOtherFields() const {
    Json rest = Rest();
    if (rest.empty()) return OkStatus();
    return InvalidArgument(JoinField(path_, rest.begin().key()) + ": unknown field");
  }
  // The fields not taken, in their order.
  Json Rest() const {
    Json rest = Json::object();
    for (auto it = j_.begin(); it != j_.end(); ++it) {
      if (!taken_.count(it.key())) rest[it.key()] = it.value();
    }
    return rest;
  }

 private:
  const Json& j_;
  std::string path_;
  std::set<std::string> taken_;
};

void PutString(Json& j, const char* key, const std::string& v) {
  if (!v.empty()) j[key] = v;
}
template <typename T>
void PutOpt(Json& j, const char* key, const std::optional<T>& v) {
  if (v) j[key] = *v;
}
void Merge(Json& j, const Json& rest) {
  for (auto it = rest.begin(); it != rest.end(); ++it) j[it.key()] = it.value();
}
template <typename T>
void PutList(Json& j, const char* key, const std::vector<T>& list) {
  if (list.empty()) return;
  Json a = Json::array();
  for (const T& v : list) a.push_back(ToJson(v));
  j[key] = std::move(a);
}

StatusOr<ValueFrom> ValueFromFromJson(const Json& j, const std::string& path) {
  Fields f(j, path);
  LOOM_RETURN_IF_ERROR(f.Object());
  ValueFrom v;
  LOOM_RETURN_IF_ERROR(f.OptString("path", &v.path));
  if (auto p = f.Raw("parameter")) v.parameter = p->is_string() ? p->get<std::string>() : p->dump();
  LOOM_RETURN_IF_ERROR(f.OptString("jsonPath", &v.json_path));
  v.default_value = f.Raw("default");
  LOOM_RETURN_IF_ERROR(f.OptString("expression", &v.expression));
  v.config_map_key_ref = f.Raw("configMapKeyRef");
  v.other = f.Rest();
  return v;
}

Json ToJson(const ValueFrom& v) {
  Json j = Json::object();
  PutOpt(j, "path", v.path);
  PutOpt(j, "parameter", v.parameter);
  PutOpt(j, "jsonPath", v.json_path);
  PutOpt(j, "default", v.default_value);
  PutOpt(j, "expression", v.expression);
  PutOpt(j, "configMapKeyRef", v.config_map_key_ref);
  Merge(j, v.other);
  return j;
}

StatusOr<Parameter> ParameterFromJson(const Json& j, const std::string& path) {
  Fields f(j, path);
  LOOM_RETURN_IF_ERROR(f.Object());
  Parameter p;
  LOOM_RETURN_IF_ERROR(f.String("name", &p.name));
  p.value = f.Raw("value");
  p.default_value = f.Raw("default");
  p.enum_values = f.Raw("enum");
  if (auto vf = f.Raw("valueFrom")) {
    LOOM_ASSIGN_OR_RETURN(ValueFrom v, ValueFromFromJson(*vf, f.Path("valueFrom")));
    p.value_from = std::move(v);
  }
  LOOM_RETURN_IF_ERROR(f.String("globalName", &p.global_name));
  LOOM_RETURN_IF_ERROR(f.String("description", &p.description));
  LOOM_RETURN_IF_ERROR(f.NoOtherFields());
  return p;
}

StatusOr<S3Location> S3FromJson(const Json& j, const std::string& path) {
  Fields f(j, path);
  LOOM_RETURN_IF_ERROR(f.Object());
  S3Location s3;
  LOOM_RETURN_IF_ERROR(f.String("endpoint", &s3.endpoint));
  LOOM_RETURN_IF_ERROR(f.String("bucket", &s3.bucket));
  LOOM_RETURN_IF_ERROR(f.String("key", &s3.key));
  LOOM_RETURN_IF_ERROR(f.String("region", &s3.region));
  LOOM_RETURN_IF_ERROR(f.Bool("insecure", &s3.insecure));
  s3.other = f.Rest();
  return s3;
}

Json ToJson(const S3Location& s3) {
  Json j = Json::object();
  PutString(j, "endpoint", s3.endpoint);
  PutString(j, "bucket", s3.bucket);
  PutString(j, "key", s3.key);
  PutString(j, "region", s3.region);
  if (s3.insecure) j["insecure"] = true;
  Merge(j, s3.other);
  return j;
}

// The location fields of an artifact (Fields `f`, its name and path taken).
Status LocationFromJson(Fields& f, ArtifactLocation* loc) {
  if (auto s3 = f.Raw("s3")) {
    LOOM_ASSIGN_OR_RETURN(S3Location l, S3FromJson(*s3, f.Path("s3")));
    loc->s3 = std::move(l);
  }
  if (auto http = f.Raw("http")) {
    Fields hf(*http, f.Path("http"));
    LOOM_RETURN_IF_ERROR(hf.Object());
    HttpLocation h;
    LOOM_RETURN_IF_ERROR(hf.String("url", &h.url));
    h.other = hf.Rest();
    loc->http = std::move(h);
  }
  if (auto raw = f.Raw("raw")) {
    Fields rf(*raw, f.Path("raw"));
    LOOM_RETURN_IF_ERROR(rf.Object());
    std::string data;
    LOOM_RETURN_IF_ERROR(rf.String("data", &data));
    LOOM_RETURN_IF_ERROR(rf.NoOtherFields());
    loc->raw = std::move(data);
  }
  loc->archive = f.Raw("archive");
  loc->other = f.Rest();
  return OkStatus();
}

void PutLocation(Json& j, const ArtifactLocation& loc) {
  if (loc.s3) j["s3"] = ToJson(*loc.s3);
  if (loc.http) {
    Json h = Json::object();
    PutString(h, "url", loc.http->url);
    Merge(h, loc.http->other);
    j["http"] = std::move(h);
  }
  if (loc.raw) j["raw"] = {{"data", *loc.raw}};
  PutOpt(j, "archive", loc.archive);
  Merge(j, loc.other);
}

}  // namespace

StatusOr<Artifact> ArtifactFromJson(const Json& j, const std::string& path) {
  Fields f(j, path);
  LOOM_RETURN_IF_ERROR(f.Object());
  Artifact a;
  LOOM_RETURN_IF_ERROR(f.String("name", &a.name));
  LOOM_RETURN_IF_ERROR(f.OptString("path", &a.path));
  if (auto from = f.Raw("from")) a.from = from->is_string() ? from->get<std::string>() : from->dump();
  LOOM_RETURN_IF_ERROR(f.Bool("optional", &a.optional));
  LOOM_RETURN_IF_ERROR(f.String("globalName", &a.global_name));
  if (auto sub = f.Raw("subPath")) a.sub_path = sub->is_string() ? sub->get<std::string>() : sub->dump();
  LOOM_RETURN_IF_ERROR(LocationFromJson(f, &a.location));
  return a;
}

namespace {

template <typename T>
StatusOr<T> ParametersAndArtifacts(const Json& j, const std::string& path) {
  Fields f(j, path);
  LOOM_RETURN_IF_ERROR(f.Object());
  T t;
  LOOM_RETURN_IF_ERROR(f.List("parameters", &t.parameters, ParameterFromJson));
  LOOM_RETURN_IF_ERROR(f.List("artifacts", &t.artifacts, ArtifactFromJson));
  LOOM_RETURN_IF_ERROR(f.NoOtherFields());
  return t;
}

StatusOr<RetryStrategy> RetryFromJson(const Json& j, const std::string& path) {
  Fields f(j, path);
  LOOM_RETURN_IF_ERROR(f.Object());
  RetryStrategy r;
  r.limit = f.Raw("limit");
  LOOM_RETURN_IF_ERROR(f.String("retryPolicy", &r.retry_policy));
  if (auto b = f.Raw("backoff")) {
    Fields bf(*b, f.Path("backoff"));
    LOOM_RETURN_IF_ERROR(bf.Object());
    Backoff backoff;
    backoff.duration = bf.Raw("duration");
    backoff.factor = bf.Raw("factor");
    backoff.max_duration = bf.Raw("maxDuration");
    backoff.cap = bf.Raw("cap");
    r.backoff = std::move(backoff);
  }
  LOOM_RETURN_IF_ERROR(f.OptString("expression", &r.expression));
  r.other = f.Rest();
  return r;
}

Json ToJson(const RetryStrategy& r) {
  Json j = Json::object();
  PutOpt(j, "limit", r.limit);
  PutString(j, "retryPolicy", r.retry_policy);
  if (r.backoff) {
    Json b = Json::object();
    PutOpt(b, "duration", r.backoff->duration);
    PutOpt(b, "factor", r.backoff->factor);
    PutOpt(b, "maxDuration", r.backoff->max_duration);
    PutOpt(b, "cap", r.backoff->cap);
    j["backoff"] = std::move(b);
  }
  PutOpt(j, "expression", r.expression);
  Merge(j, r.other);
  return j;
}

StatusOr<TemplateRef> TemplateRefFromJson(const Json& j, const std::string& path) {
  Fields f(j, path);
  LOOM_RETURN_IF_ERROR(f.Object());
  TemplateRef r;
  LOOM_RETURN_IF_ERROR(f.String("name", &r.name));
  LOOM_RETURN_IF_ERROR(f.String("template", &r.template_name));
  if (auto c = f.Raw("clusterScope")) {
    if (!c->is_boolean()) return InvalidArgument(f.Path("clusterScope") + ": must be true or false");
    r.cluster_scope = c->get<bool>();
  }
  return r;
}

Json ToJson(const TemplateRef& r) {
  Json j = Json::object();
  PutString(j, "name", r.name);
  PutString(j, "template", r.template_name);
  PutOpt(j, "clusterScope", r.cluster_scope);
  return j;
}

StatusOr<LifecycleHook> HookFromJson(const Json& j, const std::string& path) {
  Fields f(j, path);
  LOOM_RETURN_IF_ERROR(f.Object());
  LifecycleHook h;
  LOOM_RETURN_IF_ERROR(f.String("template", &h.template_name));
  if (auto r = f.Raw("templateRef")) {
    LOOM_ASSIGN_OR_RETURN(TemplateRef ref, TemplateRefFromJson(*r, f.Path("templateRef")));
    h.template_ref = std::move(ref);
  }
  if (auto a = f.Raw("arguments")) {
    LOOM_ASSIGN_OR_RETURN(h.arguments, ArgumentsFromJson(*a, f.Path("arguments")));
  }
  LOOM_RETURN_IF_ERROR(f.String("expression", &h.expression));
  LOOM_RETURN_IF_ERROR(f.NoOtherFields());
  return h;
}

// The order Argo's (and Loom's) manifests write a template's fields in does not matter to the
// engine; ToJson writes the typed fields first, then the pod's.
constexpr const char* kKindFields[] = {"container", "script", "resource", "steps", "dag", "suspend", "http", "containerSet"};

}  // namespace

// ---------------------------------------------------------------- enums

const char* ToString(NodePhase phase) {
  switch (phase) {
    case NodePhase::kPending: return "Pending";
    case NodePhase::kRunning: return "Running";
    case NodePhase::kSucceeded: return "Succeeded";
    case NodePhase::kFailed: return "Failed";
    case NodePhase::kError: return "Error";
    case NodePhase::kSkipped: return "Skipped";
    case NodePhase::kOmitted: return "Omitted";
  }
  return "Error";
}

StatusOr<NodePhase> ParseNodePhase(std::string_view text) {
  for (NodePhase p : {NodePhase::kPending, NodePhase::kRunning, NodePhase::kSucceeded, NodePhase::kFailed,
                      NodePhase::kError, NodePhase::kSkipped, NodePhase::kOmitted}) {
    if (text == ToString(p)) return p;
  }
  return InvalidArgument("unknown phase \"" + std::string(text) + "\"");
}

bool IsCompleted(NodePhase phase) {
  return phase == NodePhase::kSucceeded || phase == NodePhase::kFailed || phase == NodePhase::kError ||
         phase == NodePhase::kSkipped || phase == NodePhase::kOmitted;
}

const char* ToString(NodeType type) {
  switch (type) {
    case NodeType::kPod: return "Pod";
    case NodeType::kSteps: return "Steps";
    case NodeType::kStepGroup: return "StepGroup";
    case NodeType::kDAG: return "DAG";
    case NodeType::kTaskGroup: return "TaskGroup";
    case NodeType::kRetry: return "Retry";
    case NodeType::kSkipped: return "Skipped";
    case NodeType::kSuspend: return "Suspend";
    case NodeType::kContainer: return "Container";
  }
  return "Pod";
}

StatusOr<NodeType> ParseNodeType(std::string_view text) {
  for (NodeType t : {NodeType::kPod, NodeType::kSteps, NodeType::kStepGroup, NodeType::kDAG, NodeType::kTaskGroup,
                     NodeType::kRetry, NodeType::kSkipped, NodeType::kSuspend, NodeType::kContainer}) {
    if (text == ToString(t)) return t;
  }
  return InvalidArgument("unknown node type \"" + std::string(text) + "\"");
}

const char* ToString(TemplateKind kind) { return kKindFields[static_cast<int>(kind)]; }

// ---------------------------------------------------------------- helpers of the structs

bool ArtifactLocation::ArchiveNone() const {
  return archive && archive->is_object() && archive->contains("none");
}

const char* ArtifactLocation::UnsupportedSource() const {
  for (const char* k : {"git", "gcs", "hdfs", "oss", "azure", "artifactory"}) {
    if (other.contains(k)) return k;
  }
  return nullptr;
}

void ArtifactLocation::Override(const ArtifactLocation& over) {
  if (over.s3) s3 = over.s3;
  if (over.http) http = over.http;
  if (over.raw) raw = over.raw;
  if (over.archive) archive = over.archive;
  for (auto it = over.other.begin(); it != over.other.end(); ++it) other[it.key()] = it.value();
}

int RetryStrategy::Limit() const {
  if (!limit) return -1;
  if (limit->is_number_integer()) return limit->get<int>();
  if (limit->is_string()) return std::atoi(limit->get<std::string>().c_str());
  return -1;
}

int Template::Parallelism() const {
  if (!parallelism) return 0;
  if (parallelism->is_number_integer()) return parallelism->get<int>();
  if (parallelism->is_string()) return std::atoi(parallelism->get<std::string>().c_str());
  return 0;
}

const Parameter* Template::OutputParameter(const std::string& name) const {
  if (!outputs) return nullptr;
  for (const Parameter& p : outputs->parameters) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

const Template* WorkflowSpec::FindTemplate(const std::string& name) const {
  for (const Template& t : templates) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

bool NodeStatus::HasChild(const std::string& child) const {
  for (const std::string& c : children) {
    if (c == child) return true;
  }
  return false;
}

// ---------------------------------------------------------------- from JSON

StatusOr<LifecycleHooks> HooksFromJson(const Json& j, const std::string& path) {
  if (!j.is_object()) return InvalidArgument(path + ": must be an object");
  LifecycleHooks hooks;
  for (auto it = j.begin(); it != j.end(); ++it) {
    LOOM_ASSIGN_OR_RETURN(hooks[it.key()], HookFromJson(it.value(), JoinField(path, it.key())));
  }
  return hooks;
}

Json ToJson(const LifecycleHooks& hooks) {
  Json j = Json::object();
  for (const auto& [name, h] : hooks) {
    Json e = Json::object();
    PutString(e, "template", h.template_name);
    if (h.template_ref) e["templateRef"] = ToJson(*h.template_ref);
    if (Json a = ToJson(h.arguments); !a.empty()) e["arguments"] = std::move(a);
    PutString(e, "expression", h.expression);
    j[name] = std::move(e);
  }
  return j;
}

StatusOr<Arguments> ArgumentsFromJson(const Json& j, const std::string& path) {
  return ParametersAndArtifacts<Arguments>(j, path);
}

StatusOr<Outputs> OutputsFromJson(const Json& j, const std::string& path) {
  Fields f(j, path);
  LOOM_RETURN_IF_ERROR(f.Object());
  Outputs o;
  LOOM_RETURN_IF_ERROR(f.List("parameters", &o.parameters, ParameterFromJson));
  LOOM_RETURN_IF_ERROR(f.List("artifacts", &o.artifacts, ArtifactFromJson));
  o.result = f.Raw("result");
  o.exit_code = f.Raw("exitCode");
  LOOM_RETURN_IF_ERROR(f.NoOtherFields());
  return o;
}

StatusOr<Step> StepFromJson(const Json& j, const std::string& path) {
  Fields f(j, path);
  LOOM_RETURN_IF_ERROR(f.Object());
  Step s;
  LOOM_RETURN_IF_ERROR(f.String("name", &s.name));
  LOOM_RETURN_IF_ERROR(f.String("template", &s.template_name));
  if (auto r = f.Raw("templateRef")) {
    LOOM_ASSIGN_OR_RETURN(TemplateRef ref, TemplateRefFromJson(*r, f.Path("templateRef")));
    s.template_ref = std::move(ref);
  }
  if (auto t = f.Raw("inline")) {
    LOOM_ASSIGN_OR_RETURN(Template inl, TemplateFromJson(*t, f.Path("inline")));
    s.inline_template = std::make_shared<const Template>(std::move(inl));
  }
  if (auto a = f.Raw("arguments")) {
    LOOM_ASSIGN_OR_RETURN(s.arguments, ArgumentsFromJson(*a, f.Path("arguments")));
  }
  if (auto w = f.Raw("when")) s.when = w->is_string() ? w->get<std::string>() : w->dump();
  s.with_items = f.Raw("withItems");
  s.with_param = f.Raw("withParam");
  if (auto q = f.Raw("withSequence")) {
    Fields qf(*q, f.Path("withSequence"));
    LOOM_RETURN_IF_ERROR(qf.Object());
    Sequence seq;
    seq.count = qf.Raw("count");
    seq.start = qf.Raw("start");
    seq.end = qf.Raw("end");
    LOOM_RETURN_IF_ERROR(qf.String("format", &seq.format));
    s.with_sequence = std::move(seq);
  }
  if (auto c = f.Raw("continueOn")) {
    Fields cf(*c, f.Path("continueOn"));
    LOOM_RETURN_IF_ERROR(cf.Object());
    ContinueOn on;
    LOOM_RETURN_IF_ERROR(cf.Bool("failed", &on.failed));
    LOOM_RETURN_IF_ERROR(cf.Bool("error", &on.error));
    s.continue_on = on;
  }
  LOOM_RETURN_IF_ERROR(f.String("onExit", &s.on_exit));
  if (auto h = f.Raw("hooks")) {
    LOOM_ASSIGN_OR_RETURN(s.hooks, HooksFromJson(*h, f.Path("hooks")));
  }
  if (f.Has("dependencies")) {
    std::vector<std::string> deps;
    LOOM_RETURN_IF_ERROR(f.Strings("dependencies", &deps));
    s.dependencies = std::move(deps);
  }
  if (auto d = f.Raw("depends")) s.depends = d->is_string() ? d->get<std::string>() : d->dump();
  LOOM_RETURN_IF_ERROR(f.NoOtherFields());
  return s;
}

StatusOr<Template> TemplateFromJson(const Json& j, const std::string& path) {
  Fields f(j, path);
  LOOM_RETURN_IF_ERROR(f.Object());
  Template t;
  LOOM_RETURN_IF_ERROR(f.String("name", &t.name));
  int kinds = 0;
  for (int k = 0; k < static_cast<int>(std::size(kKindFields)); ++k) {
    if (f.Has(kKindFields[k])) {
      t.kind = static_cast<TemplateKind>(k);
      ++kinds;
    }
  }
  if (kinds != 1) {
    return InvalidArgument(path + ": needs exactly one of container, script, resource, steps, dag, suspend, http or containerSet");
  }
  if (auto in = f.Raw("inputs")) {
    LOOM_ASSIGN_OR_RETURN(t.inputs, ParametersAndArtifacts<Inputs>(*in, f.Path("inputs")));
  }
  if (auto out = f.Raw("outputs")) {
    LOOM_ASSIGN_OR_RETURN(Outputs o, OutputsFromJson(*out, f.Path("outputs")));
    t.outputs = std::move(o);
  }
  const char* kind = ToString(t.kind);
  Json body = *f.Raw(kind);
  const std::string kp = f.Path(kind);
  switch (t.kind) {
    case TemplateKind::kContainer:
    case TemplateKind::kScript:
    case TemplateKind::kContainerSet:
      if (!body.is_object()) return InvalidArgument(kp + ": must be an object");
      t.container = std::move(body);
      break;
    case TemplateKind::kResource: {
      Fields rf(body, kp);
      LOOM_RETURN_IF_ERROR(rf.Object());
      LOOM_RETURN_IF_ERROR(rf.String("action", &t.resource.action));
      LOOM_RETURN_IF_ERROR(rf.String("manifest", &t.resource.manifest));
      LOOM_RETURN_IF_ERROR(rf.String("successCondition", &t.resource.success_condition));
      LOOM_RETURN_IF_ERROR(rf.String("failureCondition", &t.resource.failure_condition));
      t.resource.other = rf.Rest();
      break;
    }
    case TemplateKind::kHttp:
      if (!body.is_object()) return InvalidArgument(kp + ": must be an object");
      t.http = std::move(body);
      break;
    case TemplateKind::kSteps: {
      if (!body.is_array()) return InvalidArgument(kp + ": must be a list");
      for (size_t g = 0; g < body.size(); ++g) {
        const std::string gp = JoinField(kp, g);
        if (!body[g].is_array()) return InvalidArgument(gp + ": must be a list");
        std::vector<Step> group;
        for (size_t i = 0; i < body[g].size(); ++i) {
          LOOM_ASSIGN_OR_RETURN(Step s, StepFromJson(body[g][i], JoinField(gp, i)));
          group.push_back(std::move(s));
        }
        t.steps.push_back(std::move(group));
      }
      break;
    }
    case TemplateKind::kDag: {
      Fields df(body, kp);
      LOOM_RETURN_IF_ERROR(df.Object());
      LOOM_RETURN_IF_ERROR(df.List("tasks", &t.dag.tasks, StepFromJson));
      if (auto target = df.Raw("target")) {
        t.dag.target = target->is_string() ? target->get<std::string>() : target->dump();
      }
      t.dag.fail_fast = df.Raw("failFast");
      break;
    }
    case TemplateKind::kSuspend: {
      Fields sf(body, kp);
      LOOM_RETURN_IF_ERROR(sf.Object());
      t.suspend_duration = sf.Raw("duration");
      break;
    }
  }
  if (auto r = f.Raw("retryStrategy")) {
    LOOM_ASSIGN_OR_RETURN(RetryStrategy rs, RetryFromJson(*r, f.Path("retryStrategy")));
    t.retry_strategy = std::move(rs);
  }
  t.daemon = f.Raw("daemon");
  t.parallelism = f.Raw("parallelism");
  t.active_deadline_seconds = f.Raw("activeDeadlineSeconds");
  t.timeout = f.Raw("timeout");
  t.fail_fast = f.Raw("failFast");
  for (const char* key : {"initContainers", "sidecars"}) {
    auto list = f.Raw(key);
    if (!list || list->is_null()) continue;
    if (!list->is_array()) return InvalidArgument(f.Path(key) + ": must be a list");
    std::vector<Json>& into = std::string(key) == "sidecars" ? t.sidecars : t.init_containers;
    for (const Json& c : *list) into.push_back(c);
  }
  t.security_context = f.Raw("securityContext");
  t.pod_spec_patch = f.Raw("podSpecPatch");
  t.pod = f.Rest();
  return t;
}

StatusOr<WorkflowSpec> WorkflowSpecFromJson(const Json& j, const std::string& path) {
  Fields f(j, path);
  LOOM_RETURN_IF_ERROR(f.Object());
  WorkflowSpec s;
  LOOM_RETURN_IF_ERROR(f.String("entrypoint", &s.entrypoint));
  if (auto a = f.Raw("arguments")) {
    LOOM_ASSIGN_OR_RETURN(s.arguments, ArgumentsFromJson(*a, f.Path("arguments")));
  }
  LOOM_RETURN_IF_ERROR(f.List("templates", &s.templates, TemplateFromJson));
  LOOM_RETURN_IF_ERROR(f.String("onExit", &s.on_exit));
  if (auto p = f.Raw("parallelism")) {
    if (!p->is_number_integer()) return InvalidArgument(f.Path("parallelism") + ": must be an integer");
    s.parallelism = p->get<int>();
  }
  if (auto a = f.Raw("activeDeadlineSeconds")) {
    if (!a->is_number_integer()) return InvalidArgument(f.Path("activeDeadlineSeconds") + ": must be an integer");
    s.active_deadline_seconds = a->get<int64_t>();
  }
  LOOM_RETURN_IF_ERROR(f.String("serviceAccountName", &s.service_account_name));
  s.volumes = f.Raw("volumes");
  s.volume_claim_templates = f.Raw("volumeClaimTemplates");
  if (auto sus = f.Raw("suspend")) s.suspend = sus->is_boolean() && sus->get<bool>();
  LOOM_RETURN_IF_ERROR(f.String("shutdown", &s.shutdown));
  if (auto r = f.Raw("workflowTemplateRef")) {
    LOOM_ASSIGN_OR_RETURN(TemplateRef ref, TemplateRefFromJson(*r, f.Path("workflowTemplateRef")));
    s.workflow_template_ref = std::move(ref);
  }
  if (auto r = f.Raw("retryStrategy")) {
    LOOM_ASSIGN_OR_RETURN(RetryStrategy rs, RetryFromJson(*r, f.Path("retryStrategy")));
    s.retry_strategy = std::move(rs);
  }
  if (auto h = f.Raw("hooks")) {
    LOOM_ASSIGN_OR_RETURN(s.hooks, HooksFromJson(*h, f.Path("hooks")));
  }
  s.other = f.Rest();
  return s;
}

StatusOr<Workflow> WorkflowFromJson(const Json& j) {
  Fields f(j, "");
  LOOM_RETURN_IF_ERROR(f.Object());
  Workflow wf;
  LOOM_RETURN_IF_ERROR(f.String("apiVersion", &wf.api_version));
  LOOM_RETURN_IF_ERROR(f.String("kind", &wf.kind));
  if (auto m = f.Raw("metadata")) {
    Fields mf(*m, "metadata");
    LOOM_RETURN_IF_ERROR(mf.Object());
    LOOM_RETURN_IF_ERROR(mf.String("name", &wf.metadata.name));
    LOOM_RETURN_IF_ERROR(mf.String("generateName", &wf.metadata.generate_name));
    LOOM_RETURN_IF_ERROR(mf.String("namespace", &wf.metadata.namespace_name));
    LOOM_RETURN_IF_ERROR(mf.String("uid", &wf.metadata.uid));
    LOOM_RETURN_IF_ERROR(mf.String("creationTimestamp", &wf.metadata.creation_timestamp));
    if (auto l = mf.Raw("labels"); l && !l->is_null()) wf.metadata.labels = *l;
    if (auto a = mf.Raw("annotations"); a && !a->is_null()) wf.metadata.annotations = *a;
    wf.metadata.other = mf.Rest();
  }
  if (auto s = f.Raw("spec")) {
    LOOM_ASSIGN_OR_RETURN(wf.spec, WorkflowSpecFromJson(*s, "spec"));
  }
  return wf;
}

StatusOr<NodeStatus> NodeStatusFromJson(const Json& j) {
  Fields f(j, "node");
  LOOM_RETURN_IF_ERROR(f.Object());
  NodeStatus n;
  LOOM_RETURN_IF_ERROR(f.String("id", &n.id));
  LOOM_RETURN_IF_ERROR(f.String("name", &n.name));
  LOOM_RETURN_IF_ERROR(f.String("displayName", &n.display_name));
  std::string type, phase;
  LOOM_RETURN_IF_ERROR(f.String("type", &type));
  LOOM_RETURN_IF_ERROR(f.String("phase", &phase));
  LOOM_ASSIGN_OR_RETURN(n.type, ParseNodeType(type));
  if (!phase.empty()) {
    LOOM_ASSIGN_OR_RETURN(n.phase, ParseNodePhase(phase));
  }
  LOOM_RETURN_IF_ERROR(f.String("templateName", &n.template_name));
  LOOM_RETURN_IF_ERROR(f.String("templateScope", &n.template_scope));
  LOOM_RETURN_IF_ERROR(f.String("boundaryID", &n.boundary_id));
  LOOM_RETURN_IF_ERROR(f.String("message", &n.message));
  LOOM_RETURN_IF_ERROR(f.String("startedAt", &n.started_at));
  LOOM_RETURN_IF_ERROR(f.String("finishedAt", &n.finished_at));
  LOOM_RETURN_IF_ERROR(f.String("progress", &n.progress));
  LOOM_RETURN_IF_ERROR(f.Bool("daemoned", &n.daemoned));
  LOOM_RETURN_IF_ERROR(f.String("podIP", &n.pod_ip));
  LOOM_RETURN_IF_ERROR(f.String("podRuntime", &n.pod_runtime));
  if (auto in = f.Raw("inputs")) {
    LOOM_ASSIGN_OR_RETURN(Inputs inputs, ParametersAndArtifacts<Inputs>(*in, "node.inputs"));
    n.inputs = std::move(inputs);
  }
  if (auto out = f.Raw("outputs")) {
    LOOM_ASSIGN_OR_RETURN(Outputs outputs, OutputsFromJson(*out, "node.outputs"));
    n.outputs = std::move(outputs);
  }
  LOOM_RETURN_IF_ERROR(f.Strings("children", &n.children));
  LOOM_RETURN_IF_ERROR(f.Strings("outboundNodes", &n.outbound_nodes));
  if (auto m = f.Raw("memoizationStatus")) {
    Fields mf(*m, "node.memoizationStatus");
    LOOM_RETURN_IF_ERROR(mf.Object());
    MemoizationStatus ms;
    LOOM_RETURN_IF_ERROR(mf.Bool("hit", &ms.hit));
    LOOM_RETURN_IF_ERROR(mf.String("key", &ms.key));
    LOOM_RETURN_IF_ERROR(mf.String("cacheName", &ms.cache_name));
    n.memoization_status = std::move(ms);
  }
  n.other = f.Rest();
  return n;
}

StatusOr<WorkflowStatus> WorkflowStatusFromJson(const Json& j) {
  Fields f(j, "status");
  LOOM_RETURN_IF_ERROR(f.Object());
  WorkflowStatus s;
  LOOM_RETURN_IF_ERROR(f.String("phase", &s.phase));
  LOOM_RETURN_IF_ERROR(f.String("message", &s.message));
  LOOM_RETURN_IF_ERROR(f.String("startedAt", &s.started_at));
  LOOM_RETURN_IF_ERROR(f.String("finishedAt", &s.finished_at));
  LOOM_RETURN_IF_ERROR(f.String("progress", &s.progress));
  if (auto out = f.Raw("outputs")) {
    LOOM_ASSIGN_OR_RETURN(Outputs outputs, OutputsFromJson(*out, "status.outputs"));
    s.outputs = std::move(outputs);
  }
  if (auto stored = f.Raw("storedTemplates")) {
    if (!stored->is_object()) return InvalidArgument("status.storedTemplates: must be an object");
    for (auto it = stored->begin(); it != stored->end(); ++it) {
      LOOM_ASSIGN_OR_RETURN(Template t, TemplateFromJson(it.value(), "status.storedTemplates." + it.key()));
      s.stored_templates.emplace(it.key(), std::move(t));
    }
  }
  f.Raw("nodes");
  s.other = f.Rest();
  return s;
}

// ---------------------------------------------------------------- to JSON

Json ToJson(const Parameter& p) {
  Json j = Json::object();
  j["name"] = p.name;
  PutOpt(j, "value", p.value);
  PutOpt(j, "default", p.default_value);
  PutOpt(j, "enum", p.enum_values);
  if (p.value_from) j["valueFrom"] = ToJson(*p.value_from);
  PutString(j, "globalName", p.global_name);
  PutString(j, "description", p.description);
  return j;
}

Json ToJson(const Artifact& a) {
  Json j = Json::object();
  j["name"] = a.name;
  PutOpt(j, "path", a.path);
  PutOpt(j, "from", a.from);
  if (a.optional) j["optional"] = true;
  PutString(j, "globalName", a.global_name);
  PutOpt(j, "subPath", a.sub_path);
  PutLocation(j, a.location);
  return j;
}

Json ToJson(const Arguments& args) {
  Json j = Json::object();
  PutList(j, "parameters", args.parameters);
  PutList(j, "artifacts", args.artifacts);
  return j;
}

Json ToJson(const Inputs& inputs) {
  Json j = Json::object();
  PutList(j, "parameters", inputs.parameters);
  PutList(j, "artifacts", inputs.artifacts);
  return j;
}

Json ToJson(const Outputs& o) {
  Json j = Json::object();
  PutList(j, "parameters", o.parameters);
  PutList(j, "artifacts", o.artifacts);
  PutOpt(j, "result", o.result);
  PutOpt(j, "exitCode", o.exit_code);
  return j;
}

Json ToJson(const Step& s) {
  Json j = Json::object();
  j["name"] = s.name;
  PutString(j, "template", s.template_name);
  if (s.template_ref) j["templateRef"] = ToJson(*s.template_ref);
  if (s.inline_template) j["inline"] = ToJson(*s.inline_template);
  if (Json a = ToJson(s.arguments); !a.empty()) j["arguments"] = std::move(a);
  PutOpt(j, "when", s.when);
  PutOpt(j, "withItems", s.with_items);
  PutOpt(j, "withParam", s.with_param);
  if (s.with_sequence) {
    Json q = Json::object();
    PutOpt(q, "count", s.with_sequence->count);
    PutOpt(q, "start", s.with_sequence->start);
    PutOpt(q, "end", s.with_sequence->end);
    PutString(q, "format", s.with_sequence->format);
    j["withSequence"] = std::move(q);
  }
  if (s.continue_on) {
    Json c = Json::object();
    if (s.continue_on->failed) c["failed"] = true;
    if (s.continue_on->error) c["error"] = true;
    j["continueOn"] = std::move(c);
  }
  PutString(j, "onExit", s.on_exit);
  if (!s.hooks.empty()) j["hooks"] = ToJson(s.hooks);
  PutOpt(j, "dependencies", s.dependencies);
  PutOpt(j, "depends", s.depends);
  return j;
}

Json ToJson(const Template& t) {
  Json j = Json::object();
  PutString(j, "name", t.name);
  if (Json in = ToJson(t.inputs); !in.empty()) j["inputs"] = std::move(in);
  if (t.outputs) j["outputs"] = ToJson(*t.outputs);
  const char* kind = ToString(t.kind);
  switch (t.kind) {
    case TemplateKind::kContainer:
    case TemplateKind::kScript:
    case TemplateKind::kContainerSet:
      j[kind] = t.container;
      break;
    case TemplateKind::kResource: {
      Json r = Json::object();
      PutString(r, "action", t.resource.action);
      PutString(r, "manifest", t.resource.manifest);
      PutString(r, "successCondition", t.resource.success_condition);
      PutString(r, "failureCondition", t.resource.failure_condition);
      Merge(r, t.resource.other);
      j[kind] = std::move(r);
      break;
    }
    case TemplateKind::kHttp:
      j[kind] = t.http;
      break;
    case TemplateKind::kSteps: {
      Json groups = Json::array();
      for (const auto& g : t.steps) {
        Json group = Json::array();
        for (const Step& s : g) group.push_back(ToJson(s));
        groups.push_back(std::move(group));
      }
      j[kind] = std::move(groups);
      break;
    }
    case TemplateKind::kDag: {
      Json dag = Json::object();
      Json tasks = Json::array();
      for (const Step& s : t.dag.tasks) tasks.push_back(ToJson(s));
      dag["tasks"] = std::move(tasks);
      PutOpt(dag, "target", t.dag.target);
      PutOpt(dag, "failFast", t.dag.fail_fast);
      j[kind] = std::move(dag);
      break;
    }
    case TemplateKind::kSuspend: {
      Json s = Json::object();
      PutOpt(s, "duration", t.suspend_duration);
      j[kind] = std::move(s);
      break;
    }
  }
  if (t.retry_strategy) j["retryStrategy"] = ToJson(*t.retry_strategy);
  PutOpt(j, "daemon", t.daemon);
  PutOpt(j, "parallelism", t.parallelism);
  PutOpt(j, "activeDeadlineSeconds", t.active_deadline_seconds);
  PutOpt(j, "timeout", t.timeout);
  PutOpt(j, "failFast", t.fail_fast);
  if (!t.init_containers.empty()) j["initContainers"] = t.init_containers;
  if (!t.sidecars.empty()) j["sidecars"] = t.sidecars;
  PutOpt(j, "securityContext", t.security_context);
  PutOpt(j, "podSpecPatch", t.pod_spec_patch);
  Merge(j, t.pod);
  return j;
}

Json ToJson(const WorkflowSpec& s) {
  Json j = Json::object();
  PutString(j, "entrypoint", s.entrypoint);
  if (Json a = ToJson(s.arguments); !a.empty()) j["arguments"] = std::move(a);
  if (!s.templates.empty()) {
    Json list = Json::array();
    for (const Template& t : s.templates) list.push_back(ToJson(t));
    j["templates"] = std::move(list);
  }
  PutString(j, "onExit", s.on_exit);
  if (s.parallelism) j["parallelism"] = s.parallelism;
  PutOpt(j, "activeDeadlineSeconds", s.active_deadline_seconds);
  PutString(j, "serviceAccountName", s.service_account_name);
  PutOpt(j, "volumes", s.volumes);
  PutOpt(j, "volumeClaimTemplates", s.volume_claim_templates);
  if (s.suspend) j["suspend"] = true;
  PutString(j, "shutdown", s.shutdown);
  if (s.workflow_template_ref) j["workflowTemplateRef"] = ToJson(*s.workflow_template_ref);
  if (s.retry_strategy) j["retryStrategy"] = ToJson(*s.retry_strategy);
  if (!s.hooks.empty()) j["hooks"] = ToJson(s.hooks);
  Merge(j, s.other);
  return j;
}

Json ToJson(const Workflow& wf) {
  Json j = Json::object();
  PutString(j, "apiVersion", wf.api_version);
  PutString(j, "kind", wf.kind);
  Json m = Json::object();
  PutString(m, "name", wf.metadata.name);
  PutString(m, "generateName", wf.metadata.generate_name);
  PutString(m, "namespace", wf.metadata.namespace_name);
  PutString(m, "uid", wf.metadata.uid);
  PutString(m, "creationTimestamp", wf.metadata.creation_timestamp);
  if (!wf.metadata.labels.empty()) m["labels"] = wf.metadata.labels;
  if (!wf.metadata.annotations.empty()) m["annotations"] = wf.metadata.annotations;
  Merge(m, wf.metadata.other);
  j["metadata"] = std::move(m);
  j["spec"] = ToJson(wf.spec);
  return j;
}

Json ToJson(const NodeStatus& n) {
  // Argo's NodeStatus field order (as Go marshals it), empty fields left out (omitempty).
  Json j = Json::object();
  j["id"] = n.id;
  j["name"] = n.name;
  j["displayName"] = n.display_name;
  j["type"] = ToString(n.type);
  PutString(j, "templateName", n.template_name);
  PutString(j, "templateScope", n.template_scope);
  j["phase"] = ToString(n.phase);
  PutString(j, "boundaryID", n.boundary_id);
  PutString(j, "message", n.message);
  PutString(j, "startedAt", n.started_at);
  PutString(j, "finishedAt", n.finished_at);
  PutString(j, "progress", n.progress);
  if (n.daemoned) j["daemoned"] = true;
  PutString(j, "podIP", n.pod_ip);
  PutString(j, "podRuntime", n.pod_runtime);
  if (n.inputs) j["inputs"] = ToJson(*n.inputs);
  if (n.outputs) j["outputs"] = ToJson(*n.outputs);
  if (!n.children.empty()) j["children"] = n.children;
  if (!n.outbound_nodes.empty()) j["outboundNodes"] = n.outbound_nodes;
  if (n.memoization_status) {
    j["memoizationStatus"] = {{"hit", n.memoization_status->hit}, {"key", n.memoization_status->key},
                              {"cacheName", n.memoization_status->cache_name}};
  }
  Merge(j, n.other);
  return j;
}

Json ToJson(const WorkflowStatus& s) {
  Json j = Json::object();
  PutString(j, "phase", s.phase);
  PutString(j, "message", s.message);
  PutString(j, "startedAt", s.started_at);
  PutString(j, "finishedAt", s.finished_at);
  PutString(j, "progress", s.progress);
  if (s.outputs) j["outputs"] = ToJson(*s.outputs);
  if (!s.stored_templates.empty()) {
    Json stored = Json::object();
    for (const auto& [key, t] : s.stored_templates) stored[key] = ToJson(t);
    j["storedTemplates"] = std::move(stored);
  }
  Merge(j, s.other);
  return j;
}

}  // namespace loom::workflow
