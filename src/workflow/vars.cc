#include "workflow/vars.h"

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

}  // namespace

StatusOr<std::string> SubstituteString(std::string_view text, const Scope& scope,
                                       bool (*keep_unresolved)(std::string_view)) {
  std::string out;
  size_t pos = 0;
  LOOM_RETURN_IF_ERROR(ScanVariables(text, [&](std::string_view name, size_t begin, size_t end) -> Status {
    out.append(text, pos, begin - pos);
    auto it = scope.find(std::string(name));
    if (it != scope.end()) {
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
