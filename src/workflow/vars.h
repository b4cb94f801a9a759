// {{...}} variables in templates: the values in scope for one node and the substitution.
//
// A scope is a flat map from a variable's name ("inputs.parameters.x", "steps.gen.outputs.result",
// "tasks.A.outputs.parameters.p", "item", "item.field", "workflow.name", "workflow.status"...) to
// its string value, as Argo keeps it. Substitution replaces every {{name}} (spaces inside the
// braces allowed) in every string of a JSON value; a name not in scope is Argo's error
// "failed to resolve {{name}}". A {{=...}} tag is an expression (expr_lang.h) evaluated over the
// same scope, seen as nested maps (ExprEnv), its value written as Argo writes it.
#pragma once

#include <map>
#include <set>
#include <string>
#include <string_view>

#include "core/json.h"
#include "core/status.h"

namespace loom::workflow {

using Scope = std::map<std::string, std::string>;

// Replaces the variables of `text`. A name for which `keep_unresolved(name)` holds is left as
// it is (e.g. outputs.* while inputs are substituted); others not in scope fail. An expression
// tag that reads such a name is left as it is too.
StatusOr<std::string> SubstituteString(std::string_view text, const Scope& scope,
                                       bool (*keep_unresolved)(std::string_view) = nullptr);
// The same over every string (not keys) of a JSON value.
StatusOr<Json> SubstituteJson(const Json& value, const Scope& scope,
                              bool (*keep_unresolved)(std::string_view) = nullptr);

// The names of the {{...}} variables used in `text` (trimmed), for Lint. An expression tag is
// its text with the leading "=".
std::set<std::string> VariablesIn(std::string_view text);

// The environment an expression sees: the scope as nested maps, as Argo expands it
// ("inputs.parameters.x" is inputs -> parameters -> x; a name that also has children, such as
// "item" beside "item.a", is dropped for them).
Json ExprEnv(const Scope& scope);
// Evaluates the expression of a {{=...}} tag (without the "=") over `scope` and gives the text
// Argo writes in its place. Errors: `expression "E": column C: ...` for syntax,
// `failed to evaluate expression "E": ...` for the rest.
StatusOr<std::string> EvaluateExpressionTag(std::string_view expression, const Scope& scope);
// Evaluates a bare expression (retryStrategy.expression, valueFrom.expression) over `scope`.
StatusOr<Json> EvaluateExpression(std::string_view expression, const Scope& scope);
// Syntax (and function names) of every {{=...}} tag of `text`, for Lint.
Status CheckExpressionTags(std::string_view text);
// Syntax of a bare expression (retryStrategy.expression) whose {{...}} are substituted before it
// runs: each counts as one operand here.
Status CheckExpression(std::string_view text);

// A parameter value as Argo keeps it: strings as they are, anything else as compact JSON.
std::string ParameterString(const Json& value);

// Adds "item" (and "item.<key>" for each key of an object item) to `scope`.
void AddItem(const Json& item, Scope& scope);

}  // namespace loom::workflow
