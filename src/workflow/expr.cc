#include "workflow/expr.h"

#include <cmath>
#include <cstring>
#include <regex>
#include <sstream>
#include <variant>
#include <vector>

namespace loom::workflow {
namespace {

// ---- tokens (govaluate's lexer, the subset Argo workflows use) ----

enum class Tok { kNumber, kString, kWord, kBool, kOp, kOpen, kClose, kEnd };

struct Token {
  Tok kind;
  std::string text;
  double number = 0;
};

bool IsWordChar(char c, bool depends) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' ||
         (depends && c == '-');
}

StatusOr<std::vector<Token>> Lex(std::string_view s, bool depends) {
  std::vector<Token> out;
  size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
      continue;
    }
    if (c == '(') { out.push_back({Tok::kOpen, "("}); ++i; continue; }
    if (c == ')') { out.push_back({Tok::kClose, ")"}); ++i; continue; }
    if (c == '"' || c == '\'') {
      size_t j = i + 1;
      std::string text;
      while (j < s.size() && s[j] != c) {
        if (s[j] == '\\' && j + 1 < s.size()) ++j;
        text += s[j++];
      }
      if (j >= s.size()) return InvalidArgument("Unclosed string literal");
      out.push_back({Tok::kString, text});
      i = j + 1;
      continue;
    }
    if (!depends && (std::isdigit(static_cast<unsigned char>(c)) ||
                     (c == '.' && i + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[i + 1]))))) {
      size_t j = i;
      while (j < s.size() && (std::isdigit(static_cast<unsigned char>(s[j])) || s[j] == '.')) ++j;
      // A word that starts with digits ("3rd", "1.2.3") is a word, as govaluate's variables.
      if (j < s.size() && IsWordChar(s[j], false)) {
        while (j < s.size() && IsWordChar(s[j], false)) ++j;
        out.push_back({Tok::kWord, std::string(s.substr(i, j - i))});
        i = j;
        continue;
      }
      std::string text(s.substr(i, j - i));
      char* end = nullptr;
      double v = std::strtod(text.c_str(), &end);
      if (*end != '\0') {
        out.push_back({Tok::kWord, text});
      } else {
        Token t{Tok::kNumber, text};
        t.number = v;
        out.push_back(t);
      }
      i = j;
      continue;
    }
    if (IsWordChar(c, depends)) {
      size_t j = i;
      while (j < s.size() && IsWordChar(s[j], depends)) ++j;
      std::string text(s.substr(i, j - i));
      if (text == "true" || text == "false") {
        out.push_back({Tok::kBool, text});
      } else {
        out.push_back({Tok::kWord, text});
      }
      i = j;
      continue;
    }
    static const char* kOps[] = {"&&", "||", "==", "!=", ">=", "<=", "=~", "!~",
                                 ">", "<", "!", "+", "-", "*", "/", "%"};
    bool matched = false;
    for (const char* op : kOps) {
      size_t n = std::strlen(op);
      if (s.substr(i, n) == op) {
        out.push_back({Tok::kOp, op});
        i += n;
        matched = true;
        break;
      }
    }
    if (!matched) {
      return InvalidArgument(std::string("Invalid token: '") + c + "'");
    }
  }
  out.push_back({Tok::kEnd, ""});
  return out;
}

// ---- values and evaluation ----

using Value = std::variant<double, std::string, bool>;

std::string Show(const Value& v) {
  if (const double* d = std::get_if<double>(&v)) {
    std::ostringstream os;
    os << *d;
    return os.str();
  }
  if (const bool* b = std::get_if<bool>(&v)) return *b ? "true" : "false";
  return std::get<std::string>(v);
}

// A recursive-descent parser that evaluates as it goes (expressions are tiny). In depends mode
// words are task results looked up through `lookup`.
class Evaluator {
 public:
  Evaluator(std::vector<Token> tokens, const std::function<StatusOr<Value>(const std::string&)>& word)
      : tokens_(std::move(tokens)), word_(word) {}

  StatusOr<Value> Parse() {
    LOOM_ASSIGN_OR_RETURN(Value v, Or());
    if (Peek().kind != Tok::kEnd) return InvalidArgument("Unexpected token '" + Peek().text + "'");
    return v;
  }

 private:
  const Token& Peek() const { return tokens_[pos_]; }
  bool TakeOp(const char* op) {
    if (Peek().kind == Tok::kOp && Peek().text == op) {
      ++pos_;
      return true;
    }
    return false;
  }

  static StatusOr<bool> AsBool(const Value& v, const char* op) {
    if (const bool* b = std::get_if<bool>(&v)) return *b;
    return InvalidArgument("Value '" + Show(v) + "' cannot be used with the logical operator '" +
                           op + "', it is not a bool");
  }

  StatusOr<Value> Or() {
    LOOM_ASSIGN_OR_RETURN(Value left, And());
    while (TakeOp("||")) {
      LOOM_ASSIGN_OR_RETURN(Value right, And());
      LOOM_ASSIGN_OR_RETURN(bool l, AsBool(left, "||"));
      LOOM_ASSIGN_OR_RETURN(bool r, AsBool(right, "||"));
      left = l || r;
    }
    return left;
  }

  StatusOr<Value> And() {
    LOOM_ASSIGN_OR_RETURN(Value left, Compare());
    while (TakeOp("&&")) {
      LOOM_ASSIGN_OR_RETURN(Value right, Compare());
      LOOM_ASSIGN_OR_RETURN(bool l, AsBool(left, "&&"));
      LOOM_ASSIGN_OR_RETURN(bool r, AsBool(right, "&&"));
      left = l && r;
    }
    return left;
  }

  StatusOr<Value> Compare() {
    LOOM_ASSIGN_OR_RETURN(Value left, Additive());
    for (const char* op : {"==", "!=", ">=", "<=", ">", "<", "=~", "!~"}) {
      if (!TakeOp(op)) continue;
      LOOM_ASSIGN_OR_RETURN(Value right, Additive());
      std::string o = op;
      if (o == "==") return Value(left == right);
      if (o == "!=") return Value(left != right);
      if (o == "=~" || o == "!~") {
        const std::string* l = std::get_if<std::string>(&left);
        const std::string* r = std::get_if<std::string>(&right);
        if (!l || !r) {
          return InvalidArgument("Value '" + Show(l ? right : left) +
                                 "' cannot be used with the comparator '" + o + "', it is not a string");
        }
        try {
          bool m = std::regex_search(*l, std::regex(*r, std::regex::ECMAScript));
          return Value(o == "=~" ? m : !m);
        } catch (const std::regex_error&) {
          return InvalidArgument("Unable to compile regexp pattern '" + *r + "'");
        }
      }
      const double* ld = std::get_if<double>(&left);
      const double* rd = std::get_if<double>(&right);
      const std::string* ls = std::get_if<std::string>(&left);
      const std::string* rs = std::get_if<std::string>(&right);
      if (ld && rd) {
        if (o == ">") return Value(*ld > *rd);
        if (o == "<") return Value(*ld < *rd);
        if (o == ">=") return Value(*ld >= *rd);
        return Value(*ld <= *rd);
      }
      if (ls && rs) {
        if (o == ">") return Value(*ls > *rs);
        if (o == "<") return Value(*ls < *rs);
        if (o == ">=") return Value(*ls >= *rs);
        return Value(*ls <= *rs);
      }
      const Value& bad = ld ? right : left;
      return InvalidArgument("Value '" + Show(bad) + "' cannot be used with the comparator '" + o +
                             "', it is not a number");
    }
    return left;
  }

  StatusOr<Value> Additive() {
    LOOM_ASSIGN_OR_RETURN(Value left, Multiplicative());
    while (true) {
      bool plus = TakeOp("+");
      if (!plus && !TakeOp("-")) return left;
      LOOM_ASSIGN_OR_RETURN(Value right, Multiplicative());
      const double* l = std::get_if<double>(&left);
      const double* r = std::get_if<double>(&right);
      if (l && r) {
        left = plus ? *l + *r : *l - *r;
      } else if (plus && (std::holds_alternative<std::string>(left) ||
                          std::holds_alternative<std::string>(right))) {
        left = Show(left) + Show(right);
      } else {
        return InvalidArgument("Value '" + Show(l ? right : left) +
                               "' cannot be used with the modifier '" + (plus ? "+" : "-") +
                               "', it is not a number");
      }
    }
  }

  StatusOr<Value> Multiplicative() {
    LOOM_ASSIGN_OR_RETURN(Value left, Unary());
    while (true) {
      std::string op;
      for (const char* o : {"*", "/", "%"}) {
        if (TakeOp(o)) {
          op = o;
          break;
        }
      }
      if (op.empty()) return left;
      LOOM_ASSIGN_OR_RETURN(Value right, Unary());
      const double* l = std::get_if<double>(&left);
      const double* r = std::get_if<double>(&right);
      if (!l || !r) {
        return InvalidArgument("Value '" + Show(l ? right : left) +
                               "' cannot be used with the modifier '" + op + "', it is not a number");
      }
      if (op == "*") left = *l * *r;
      else if (op == "/") left = *l / *r;
      else left = std::fmod(*l, *r);
    }
  }

  StatusOr<Value> Unary() {
    if (TakeOp("!")) {
      LOOM_ASSIGN_OR_RETURN(Value v, Unary());
      LOOM_ASSIGN_OR_RETURN(bool b, AsBool(v, "!"));
      return Value(!b);
    }
    if (TakeOp("-")) {
      LOOM_ASSIGN_OR_RETURN(Value v, Unary());
      const double* d = std::get_if<double>(&v);
      if (!d) return InvalidArgument("Value '" + Show(v) + "' cannot be negated, it is not a number");
      return Value(-*d);
    }
    return Primary();
  }

  StatusOr<Value> Primary() {
    const Token t = Peek();
    switch (t.kind) {
      case Tok::kOpen: {
        ++pos_;
        LOOM_ASSIGN_OR_RETURN(Value v, Or());
        if (Peek().kind != Tok::kClose) return InvalidArgument("Unbalanced parenthesis");
        ++pos_;
        return v;
      }
      case Tok::kNumber: ++pos_; return Value(t.number);
      case Tok::kString: ++pos_; return Value(t.text);
      case Tok::kBool: ++pos_; return Value(t.text == "true");
      case Tok::kWord: ++pos_; return word_(t.text);
      case Tok::kEnd: return InvalidArgument("Unexpected end of expression");
      default: return InvalidArgument("Unexpected token '" + t.text + "'");
    }
  }

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  const std::function<StatusOr<Value>(const std::string&)>& word_;
};

StatusOr<Value> EvaluateWhenValue(std::string_view expression) {
  auto lexed = Lex(expression, /*depends=*/false);
  if (!lexed.ok()) return lexed.status();
  std::function<StatusOr<Value>(const std::string&)> word = [](const std::string& w) -> StatusOr<Value> {
    return Value(w);
  };
  Evaluator e(std::move(lexed).value(), word);
  return e.Parse();
}

constexpr const char* kResults[] = {"Succeeded", "Failed",   "Errored",      "Skipped",
                                    "Omitted",   "Daemoned", "AnySucceeded", "AllFailed"};

// "A.Succeeded" -> ("A", "Succeeded"); "A" -> ("A", "").
StatusOr<std::pair<std::string, std::string>> SplitDependsWord(const std::string& w) {
  size_t dot = w.rfind('.');
  if (dot == std::string::npos) return std::make_pair(w, std::string());
  std::string what = w.substr(dot + 1);
  for (const char* r : kResults) {
    if (what == r) return std::make_pair(w.substr(0, dot), what);
  }
  return InvalidArgument("'" + what + "' in '" + w +
                         "' is not a task result (Succeeded, Failed, Errored, Skipped, Omitted, "
                         "Daemoned, AnySucceeded, AllFailed)");
}

}  // namespace

StatusOr<bool> EvaluateWhen(std::string_view expression) {
  std::string when(expression);
  StatusOr<Value> v = EvaluateWhenValue(expression);
  if (!v.ok()) {
    return InvalidArgument("Invalid 'when' expression '" + when + "': " + v.status().message());
  }
  if (const bool* b = std::get_if<bool>(&*v)) return *b;
  return InvalidArgument("Expected boolean evaluation for '" + when + "'. Got " + Show(*v));
}

Status CheckWhenSyntax(std::string_view expression) {
  // Each {{...}} becomes a word: the expression's shape is what is checked.
  std::string text;
  size_t pos = 0;
  while (true) {
    size_t open = expression.find("{{", pos);
    size_t close = open == std::string_view::npos ? open : expression.find("}}", open);
    if (close == std::string_view::npos) break;
    text.append(expression, pos, open - pos);
    text += "placeholder";
    pos = close + 2;
  }
  text.append(expression, pos, std::string_view::npos);
  auto lexed = Lex(text, false);
  if (!lexed.ok()) {
    return InvalidArgument("Invalid 'when' expression '" + std::string(expression) +
                           "': " + lexed.status().message());
  }
  // Evaluate with every word as a string: type errors are not syntax errors, parse errors are.
  StatusOr<Value> v = EvaluateWhenValue(text);
  if (!v.ok()) {
    const std::string m = v.status().message();
    if (m.find("cannot be") == std::string::npos && m.find("regexp") == std::string::npos) {
      return InvalidArgument("Invalid 'when' expression '" + std::string(expression) + "': " + m);
    }
  }
  return OkStatus();
}

StatusOr<bool> EvaluateDepends(std::string_view expression,
                               const std::function<bool(const std::string&, const std::string&)>& result) {
  auto lexed = Lex(expression, /*depends=*/true);
  if (!lexed.ok()) {
    return InvalidArgument("invalid depends '" + std::string(expression) + "': " + lexed.status().message());
  }
  std::function<StatusOr<Value>(const std::string&)> word = [&](const std::string& w) -> StatusOr<Value> {
    LOOM_ASSIGN_OR_RETURN(auto split, SplitDependsWord(w));
    if (split.second.empty()) {
      return Value(result(split.first, "Succeeded") || result(split.first, "Skipped") ||
                   result(split.first, "Daemoned"));
    }
    return Value(result(split.first, split.second));
  };
  Evaluator e(std::move(lexed).value(), word);
  StatusOr<Value> v = e.Parse();
  if (!v.ok()) {
    return InvalidArgument("invalid depends '" + std::string(expression) + "': " + v.status().message());
  }
  if (const bool* b = std::get_if<bool>(&*v)) return *b;
  return InvalidArgument("invalid depends '" + std::string(expression) + "': not a boolean");
}

StatusOr<std::set<std::string>> DependsTasks(std::string_view expression) {
  auto lexed = Lex(expression, /*depends=*/true);
  if (!lexed.ok()) {
    return InvalidArgument("invalid depends '" + std::string(expression) + "': " + lexed.status().message());
  }
  std::set<std::string> tasks;
  for (const Token& t : *lexed) {
    if (t.kind == Tok::kNumber || t.kind == Tok::kString || t.kind == Tok::kBool) {
      return InvalidArgument("invalid depends '" + std::string(expression) + "': unexpected '" + t.text + "'");
    }
    if (t.kind != Tok::kWord) continue;
    auto split = SplitDependsWord(t.text);
    if (!split.ok()) {
      return InvalidArgument("invalid depends '" + std::string(expression) + "': " + split.status().message());
    }
    tasks.insert(split->first);
  }
  // Shape check: every task answers true.
  auto shape = EvaluateDepends(expression, [](const std::string&, const std::string&) { return true; });
  if (!shape.ok()) return shape.status();
  return tasks;
}

}  // namespace loom::workflow
