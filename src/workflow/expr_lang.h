// Argo's `{{=...}}` expressions: the expr-lang language (github.com/expr-lang/expr) with the
// functions Argo adds (asInt, asFloat, toJson, jsonpath, sprig.*), evaluated as Argo does.
//
// An expression is parsed once into a tree (`Expression::Parse`: a lexer and a Pratt parser
// with expr-lang's precedences) and evaluated over an environment of nested maps (`ExprEnv`
// turns a flat {{...}} scope into one: "inputs.parameters.x" becomes inputs -> parameters -> x).
// Values are JSON values: null (expr-lang's nil), bool, integer (int), float (float64), string,
// array, object (map). Runtime errors use expr-lang's wording ("invalid operation: + (mismatched
// types string and int)", "cannot fetch x from <nil>").
//
// Supported: literals (ints, hex/octal/binary, floats, strings in ' " or `, arrays, maps, nil),
// + - * / % ** ^, == != < <= > >=, and or not && || !, ?: , ??, in, not in, matches, contains,
// startsWith, endsWith (and their `not` forms), .., member/index/slice access with ?., |, let,
// closures with # (#index, #acc), and expr-lang's builtins except those on times and durations
// (now, date, duration, timezone), which are refused by name, as are sprig functions outside
// the set listed in expr_functions.cc.
#pragma once

#include <ctime>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"
#include "core/status.h"

namespace loom::workflow {

struct ExprNode;

class Expression {
 public:
  // Parses `source`. Errors are "column C: what" (C counts characters from 1; an expression of
  // several lines says "line L, column C"), e.g. "column 10: unexpected end of expression".
  // Unknown function names are errors here, so lint sees them before anything runs.
  static StatusOr<Expression> Parse(std::string_view source);

  Expression(Expression&&) noexcept;
  Expression& operator=(Expression&&) noexcept;
  ~Expression();

  // Evaluates over `env` (an object). Errors are expr-lang's runtime messages.
  StatusOr<Json> Evaluate(const Json& env) const;

  // The variables the expression reads as Argo lists them: a bare identifier ("item") or a
  // member path of constant names ("inputs.parameters.x", "steps.a-b.outputs.result"). Paths
  // on the left of ?? or after ?. are left out (they may be absent) unless `guarded_too`.
  std::vector<std::string> RequiredVariables(bool guarded_too = false) const;

  const std::string& source() const { return source_; }

 private:
  Expression() = default;
  std::string source_;
  std::unique_ptr<ExprNode> root_;
};

// Whether `path` ("a.b.c") is present in `env`, walking nested objects (a present null counts).
bool HasExprVariable(const Json& env, const std::string& path);

// A value as Argo writes it into the string that held the {{=...}}: a string as it is,
// anything else as Go's json.Marshal writes it ("[1,2]", "2.5", "true").
std::string ExprResultString(const Json& value);

// Go's json.Marshal of a value (keys sorted, <>& escaped as \u003c..., floats as Go writes them).
std::string GoJson(const Json& value);
// Go's time.Format of `when` (unix seconds) with a Go layout ("2006-01-02", "Jan", "Z07:00"), in
// UTC or the local zone; sprig.date and Argo's {{workflow.creationTimestamp.<strftime char>}}.
std::string GoTimeFormat(const std::string& layout, time_t when, bool utc);
// Go's fmt.Sprint of a value ("1e+06", "map[a:1]", "[1 2]", "<nil>").
std::string GoString(const Json& value);

}  // namespace loom::workflow
