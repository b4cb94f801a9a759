// What expr_lang.cc's evaluator shares with its functions (expr_functions.cc): the functions an
// expression may call (expr-lang's builtins, Argo's asInt/asFloat/toJson/jsonpath, sprig.*) and
// the value operations both use (expr-lang's Equal and Less, Go's type names).
#pragma once

#include <string>
#include <vector>

#include "core/json.h"
#include "core/status.h"

namespace loom::workflow::expr_internal {

// Go's name of a value's type, as expr-lang's messages print it: "int", "float64", "string",
// "bool", "<nil>", "[]interface {}", "map[string]interface {}".
std::string GoTypeName(const Json& v);
bool IsNumber(const Json& v);
bool IsInt(const Json& v);
double AsDouble(const Json& v);
// expr-lang's == (numbers compare by value across int and float; arrays and maps deeply).
bool Equal(const Json& a, const Json& b);
// expr-lang's < on numbers and strings; other pairs are "invalid operation: <op> (mismatched
// types X and Y)" naming `op`.
StatusOr<bool> Less(const Json& a, const Json& b, const char* op);
// A numeric result as expr-lang keeps it: ints stay int64, others become float64.
Json Int(int64_t v);
Json Float(double v);

// Functions called by name with evaluated arguments. The predicate builtins (filter, map, ...)
// take closures and live in the evaluator.
bool IsFunction(const std::string& name);
// Why a name expr-lang or sprig has is refused here, or "" when it is not refused.
std::string RefusedFunction(const std::string& name);
StatusOr<Json> CallFunction(const std::string& name, const std::vector<Json>& args);

bool IsSprigFunction(const std::string& name);
StatusOr<Json> CallSprig(const std::string& name, const std::vector<Json>& args);

// Argo's jsonpath(json, path) (the JSONPath subset Argo's examples use: $, .key, ['key'], [n],
// [a:b], [*], .*, [?(@.field op value && ...)]).
StatusOr<Json> JsonPath(const std::string& json, const std::string& path);

}  // namespace loom::workflow::expr_internal
