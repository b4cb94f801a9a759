// The two small expression languages of Argo workflows.
//
// `when`: evaluated as Argo does it, with govaluate after {{...}} substitution: comparison
// (== != < <= > >=), regex match (=~ !~), && || !, + - * / %, parentheses, numbers (float64),
// quoted strings, true/false. A bare word that is not a number is a string (Argo turns
// govaluate's variables into strings), so `heads == heads` is true; strings compare as strings,
// numbers as numbers, and a number never equals a string.
//
// `depends`: the DAG's dependency logic: `A && (B.Failed || C.Succeeded)`. A task name alone
// means (A.Succeeded || A.Skipped || A.Daemoned); results are Succeeded, Failed, Errored,
// Skipped, Omitted, Daemoned, AnySucceeded, AllFailed.
#pragma once

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "core/status.h"

namespace loom::workflow {

// Evaluates a `when` (already substituted). Errors are Argo's wording, e.g.
// "Invalid 'when' expression 'a ==': ...", "Expected boolean evaluation for '1 + 1'. Got 2".
StatusOr<bool> EvaluateWhen(std::string_view expression);
// Syntax only, for Lint: every {{...}} is replaced by a placeholder word first.
Status CheckWhenSyntax(std::string_view expression);

// Evaluates a `depends` expression. `result(task, what)` answers whether `task` is in state
// `what` ("Succeeded", "Failed", "Errored", "Skipped", "Omitted", "Daemoned", "AnySucceeded",
// "AllFailed"); it is only asked about tasks that have completed.
StatusOr<bool> EvaluateDepends(std::string_view expression,
                               const std::function<bool(const std::string& task,
                                                        const std::string& what)>& result);
// The task names a `depends` expression mentions, or an error naming what does not parse.
StatusOr<std::set<std::string>> DependsTasks(std::string_view expression);

}  // namespace loom::workflow
