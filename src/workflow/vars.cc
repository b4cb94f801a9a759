#include "workflow/vars.h"

#include <optional>

#include "workflow/expr_lang.h"

namespace loom::workflow {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The one scanner of {{...}}: calls on_variable(name, begin, end) for each variable of `text` in
// order, `name` trimmed, [begin, end) the variable with its braces. An unclosed "{{" ends the
// scan. Stops at the first error on_variable returns.
template <typename OnVariable>
Status ScanVariables(std::string_view text, OnVariable&& on_variable) {
  size_t pos = 0;
  while (true) {
    size_t open = text.find("{{", pos);
    if (open == std::string_view::npos) return OkStatus();
    size_t close = text.find("}}", open + 2);
    if (close == std::string_view::npos) return OkStatus();
    LOOM_RETURN_IF_ERROR(on_variable(Trim(text.substr(open + 2, close - open - 2)), open, close + 2));
    pos = close + 2;
  }
}

StatusOr<Expression> ParseTag(std::string_view expression) {
  StatusOr<Expression> e = Expression::Parse(expression);
  if (!e.ok()) return InvalidArgument("expression \"" + std::string(expression) + "\": " + e.status().message());
  return e;
}

// Whether `var` is an output (outputs.result, outputs.parameters.P) of a step or task that was
// Skipped or Omitted: Argo's absent optional, nil to an expression (so `??` gives its fallback).
bool AbsentOutput(const std::string& var, const Scope& scope) {
  for (const std::string prefix : {"steps.", "tasks."}) {
    if (var.rfind(prefix, 0) != 0) continue;
    const size_t outputs = var.find(".outputs.", prefix.size());
    if (outputs == std::string::npos) return false;
    const std::string what = var.substr(outputs + 9);
    if (what != "result" && (what.rfind("parameters.", 0) != 0 || what.size() == 11)) return false;
    auto status = scope.find(var.substr(0, outputs) + ".status");
    return status != scope.end() && (status->second == "Skipped" || status->second == "Omitted");
  }
  return false;
}

// Puts null at `path` ("a.b.c") of `env`, making the objects on the way.
void SetNull(Json& env, const std::string& path) {
  Json* cur = &env;
  size_t start = 0;
  while (true) {
    if (!cur->is_object()) return;
    size_t dot = path.find('.', start);
    Json& next = (*cur)[path.substr(start, dot == std::string::npos ? std::string::npos : dot - start)];
    if (dot == std::string::npos) return;
    if (next.is_null()) next = Json::object();
    cur = &next;
    start = dot + 1;
  }
}

// The value of an expression over `scope`, or nullopt when it reads a variable not in scope yet
// that `keep_unresolved` keeps for later.
StatusOr<std::optional<Json>> EvaluateInScope(std::string_view expression, const Scope& scope,
                                              bool (*keep_unresolved)(std::string_view)) {
  LOOM_ASSIGN_OR_RETURN(Expression e, ParseTag(expression));
  Json env = ExprEnv(scope);
  const std::string quoted = "\"" + std::string(expression) + "\"";
  for (const std::string& var : e.RequiredVariables(/*guarded_too=*/true)) {
    if (!HasExprVariable(env, var) && AbsentOutput(var, scope)) SetNull(env, var);
  }
  for (const std::string& var : e.RequiredVariables()) {
    if (HasExprVariable(env, var)) continue;
    if (keep_unresolved && keep_unresolved(var)) return std::optional<Json>();
    return InvalidArgument("failed to evaluate expression " + quoted + ": " + var + " is missing");
  }
  StatusOr<Json> v = e.Evaluate(env);
  if (!v.ok()) return InvalidArgument("failed to evaluate expression " + quoted + ": " + v.status().message());
  return std::optional<Json>(std::move(*v));
}

// An expression tag's text, or nullopt to leave the tag as it is.
StatusOr<std::optional<std::string>> ExpressionTag(std::string_view expression, const Scope& scope,
                                                  bool (*keep_unresolved)(std::string_view)) {
  LOOM_ASSIGN_OR_RETURN(std::optional<Json> v, EvaluateInScope(expression, scope, keep_unresolved));
  if (!v) return std::optional<std::string>();
  if (v->is_null()) {
    return InvalidArgument("failed to evaluate expression \"" + std::string(expression) + "\": it evaluated to nil");
  }
  return std::optional<std::string>(ExprResultString(*v));
}

}  // namespace

Json ExprEnv(const Scope& scope) {
  Json env = Json::object();
  for (auto it = scope.begin(); it != scope.end(); ++it) {
    const std::string children = it->first + ".";
    auto child = scope.lower_bound(children);
    if (child != scope.end() && child->first.compare(0, children.size(), children) == 0) continue;
    Json* cur = &env;
    size_t start = 0;
    while (true) {
      size_t dot = it->first.find('.', start);
      std::string part = it->first.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      if (!cur->is_object()) *cur = Json::object();  // a value and a deeper name: the deeper wins
      if (dot == std::string::npos) {
        (*cur)[part] = it->second;
        break;
      }
      cur = &(*cur)[part];
      start = dot + 1;
    }
  }
  return env;
}

StatusOr<std::string> EvaluateExpressionTag(std::string_view expression, const Scope& scope) {
  LOOM_ASSIGN_OR_RETURN(std::optional<std::string> v, ExpressionTag(expression, scope, nullptr));
  return *v;
}

StatusOr<Json> EvaluateExpression(std::string_view expression, const Scope& scope) {
  LOOM_ASSIGN_OR_RETURN(std::optional<Json> v, EvaluateInScope(expression, scope, nullptr));
  return std::move(*v);
}

Status CheckExpressionTags(std::string_view text) {
  return ScanVariables(text, [&](std::string_view name, size_t, size_t) -> Status {
    if (name.empty() || name[0] != '=') return OkStatus();
    return ParseTag(name.substr(1)).status();
  });
}

Status CheckExpression(std::string_view text) {
  std::string operands;
  size_t pos = 0;
  (void)ScanVariables(text, [&](std::string_view, size_t begin, size_t end) {  // never fails
    operands.append(text, pos, begin - pos);
    operands.append(end - begin, '_');  // an identifier as long as the tag: columns stay right
    pos = end;
    return OkStatus();
  });
  operands.append(text, pos, std::string_view::npos);
  StatusOr<Expression> e = Expression::Parse(operands);
  if (!e.ok()) return InvalidArgument("expression \"" + std::string(text) + "\": " + e.status().message());
  return OkStatus();
}

StatusOr<std::string> SubstituteString(std::string_view text, const Scope& scope,
                                       bool (*keep_unresolved)(std::string_view)) {
  std::string out;
  size_t pos = 0;
  LOOM_RETURN_IF_ERROR(ScanVariables(text, [&](std::string_view name, size_t begin, size_t end) -> Status {
    out.append(text, pos, begin - pos);
    auto it = scope.find(std::string(name));
    if (!name.empty() && name[0] == '=') {
      LOOM_ASSIGN_OR_RETURN(std::optional<std::string> v, ExpressionTag(name.substr(1), scope, keep_unresolved));
      if (v) out += *v;
      else out.append(text, begin, end - begin);
    } else if (it != scope.end()) {
      out += it->second;
    } else if (keep_unresolved && keep_unresolved(name)) {
      out.append(text, begin, end - begin);
    } else {
      return InvalidArgument("failed to resolve {{" + std::string(name) + "}}");
    }
    pos = end;
    return OkStatus();
  }));
  out.append(text, pos, std::string_view::npos);
  return out;
}

StatusOr<Json> SubstituteJson(const Json& value, const Scope& scope,
                              bool (*keep_unresolved)(std::string_view)) {
  if (value.is_string()) {
    const std::string& s = value.get_ref<const std::string&>();
    if (s.find("{{") == std::string::npos) return value;
    LOOM_ASSIGN_OR_RETURN(std::string r, SubstituteString(s, scope, keep_unresolved));
    return Json(std::move(r));
  }
  if (value.is_array()) {
    Json out = Json::array();
    for (const Json& v : value) {
      LOOM_ASSIGN_OR_RETURN(Json r, SubstituteJson(v, scope, keep_unresolved));
      out.push_back(std::move(r));
    }
    return out;
  }
  if (value.is_object()) {
    Json out = Json::object();
    for (auto it = value.begin(); it != value.end(); ++it) {
      LOOM_ASSIGN_OR_RETURN(Json r, SubstituteJson(it.value(), scope, keep_unresolved));
      out[it.key()] = std::move(r);
    }
    return out;
  }
  return value;
}

std::set<std::string> VariablesIn(std::string_view text) {
  std::set<std::string> out;
  (void)ScanVariables(text, [&](std::string_view name, size_t, size_t) {  // never fails
    out.insert(std::string(name));
    return OkStatus();
  });
  return out;
}

std::string ParameterString(const Json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_null()) return "";
  return value.dump();
}

void AddItem(const Json& item, Scope& scope) {
  scope["item"] = ParameterString(item);
  if (item.is_object()) {
    for (auto it = item.begin(); it != item.end(); ++it) {
      scope["item." + it.key()] = ParameterString(it.value());
    }
  }
}

}  // namespace loom::workflow
