// expr-lang: lexer, Pratt parser (expr-lang's precedences and associativity) and a tree-walking
// evaluator. The grammar follows expr-lang's parser: `not in` and friends are a negated binary
// operator, chained comparisons (a < b < c) become &&, `??` may not be mixed with other binary
// operators without parentheses, the ternary binds loosest.
#include "workflow/expr_lang.h"

#include <cmath>
#include <cstring>
#include <map>
#include <optional>
#include <regex>

#include "workflow/expr_functions.h"

namespace loom::workflow {

using namespace expr_internal;

enum class NodeKind {
  kLiteral, kIdent, kPointer, kMember, kSlice, kUnary, kBinary, kConditional, kArray, kMap,
  kCall, kPredicateCall, kSprig, kPredicate, kLet, kSequence
};

struct ExprNode {
  NodeKind kind;
  size_t pos = 0;        // byte offset in the source
  std::string text;      // identifier, operator, function or pointer name
  Json value;            // a literal
  bool optional = false; // ?. access
  std::vector<std::unique_ptr<ExprNode>> kids;
};

namespace {

using NodePtr = std::unique_ptr<ExprNode>;

// ---- lexer ----

enum class Kind { kIdentifier, kNumber, kString, kOperator, kBracket, kEof };

struct Token {
  Kind kind;
  std::string value;
  size_t pos;
};

bool IsAlnum(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$' ||
         static_cast<unsigned char>(c) >= 0x80;
}

struct SyntaxError {
  size_t pos;
  std::string message;
};

// Appends the UTF-8 encoding of `cp`.
void AppendUtf8(uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

class Lexer {
 public:
  explicit Lexer(std::string_view s) : s_(s) {}

  std::optional<SyntaxError> Run(std::vector<Token>& out) {
    while (true) {
      while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
      if (i_ >= s_.size()) {
        out.push_back({Kind::kEof, "", s_.empty() ? 0 : s_.size() - 1});
        return std::nullopt;
      }
      const size_t start = i_;
      const char c = s_[i_];
      if (c == '/' && i_ + 1 < s_.size() && (s_[i_ + 1] == '/' || s_[i_ + 1] == '*')) {
        if (s_[i_ + 1] == '/') {
          while (i_ < s_.size() && s_[i_] != '\n') ++i_;
        } else {
          size_t end = s_.find("*/", i_ + 2);
          if (end == std::string_view::npos) return SyntaxError{start, "unclosed comment"};
          i_ = end + 2;
        }
        continue;
      }
      if (c == '\'' || c == '"') {
        std::string value;
        if (auto e = String(c, value)) return e;
        out.push_back({Kind::kString, value, start});
        continue;
      }
      if (c == '`') {
        size_t end = s_.find('`', i_ + 1);
        if (end == std::string_view::npos) return SyntaxError{start, "literal not terminated"};
        out.push_back({Kind::kString, std::string(s_.substr(i_ + 1, end - i_ - 1)), start});
        i_ = end + 1;
        continue;
      }
      if (std::isdigit(static_cast<unsigned char>(c)) ||
          (c == '.' && i_ + 1 < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_ + 1])))) {
        if (auto e = Number(out)) return e;
        continue;
      }
      if (IsAlnum(c)) {
        while (i_ < s_.size() && IsAlnum(s_[i_])) ++i_;
        std::string word(s_.substr(start, i_ - start));
        static const char* kWordOperators[] = {"not", "in", "or", "and", "matches", "contains",
                                               "startsWith", "endsWith", "let", "if", "else"};
        bool op = false;
        for (const char* w : kWordOperators) op = op || word == w;
        out.push_back({op ? Kind::kOperator : Kind::kIdentifier, word, start});
        continue;
      }
      if (c == '#') {
        ++i_;
        out.push_back({Kind::kOperator, "#", start});
        size_t name_start = i_;
        while (i_ < s_.size() && IsAlnum(s_[i_])) ++i_;
        if (i_ > name_start) out.push_back({Kind::kIdentifier, std::string(s_.substr(name_start, i_ - name_start)), name_start});
        continue;
      }
      if (std::strchr("([{)]}", c)) {
        out.push_back({Kind::kBracket, std::string(1, c), start});
        ++i_;
        continue;
      }
      static const char* kOperators[] = {"?.", "??", "||", "::", "&&", "==", "!=", "<=", ">=", "**", "..",
                                         "?", "|", ":", ",", ";", "%", "+", "-", "^", "&", "!",
                                         "=", "*", "<", ">", "/", "."};
      bool matched = false;
      for (const char* op : kOperators) {
        size_t n = std::strlen(op);
        if (s_.substr(i_, n) == op) {
          out.push_back({Kind::kOperator, op, start});
          i_ += n;
          matched = true;
          break;
        }
      }
      if (!matched) {
        std::string shown(1, c);
        return SyntaxError{start, "unrecognized character: '" + shown + "'"};
      }
    }
  }

 private:
  std::optional<SyntaxError> String(char quote, std::string& value) {
    const size_t start = i_++;
    while (true) {
      if (i_ >= s_.size() || s_[i_] == '\n') return SyntaxError{start, "literal not terminated"};
      char c = s_[i_];
      if (c == quote) {
        ++i_;
        return std::nullopt;
      }
      if (c != '\\') {
        value += c;
        ++i_;
        continue;
      }
      if (i_ + 1 >= s_.size()) return SyntaxError{start, "literal not terminated"};
      char e = s_[i_ + 1];
      i_ += 2;
      switch (e) {
        case 'n': value += '\n'; break;
        case 't': value += '\t'; break;
        case 'r': value += '\r'; break;
        case 'a': value += '\a'; break;
        case 'b': value += '\b'; break;
        case 'f': value += '\f'; break;
        case 'v': value += '\v'; break;
        case '\\': case '\'': case '"': case '`': value += e; break;
        case 'x': case 'u': case 'U': {
          size_t n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          if (i_ + n > s_.size()) return SyntaxError{i_ - 2, "invalid char escape"};
          uint32_t cp = 0;
          for (size_t k = 0; k < n; ++k) {
            char h = s_[i_ + k];
            if (!std::isxdigit(static_cast<unsigned char>(h))) return SyntaxError{i_ - 2, "invalid char escape"};
            cp = cp * 16 + (std::isdigit(static_cast<unsigned char>(h)) ? h - '0' : (std::tolower(h) - 'a' + 10));
          }
          i_ += n;
          if (e == 'x') value += static_cast<char>(cp);
          else AppendUtf8(cp, value);
          break;
        }
        default:
          return SyntaxError{i_ - 2, "invalid char escape"};
      }
    }
  }

  std::optional<SyntaxError> Number(std::vector<Token>& out) {
    const size_t start = i_;
    std::string digits = "0123456789_";
    auto accept = [&](const char* set) {
      if (i_ < s_.size() && std::strchr(set, s_[i_])) {
        ++i_;
        return true;
      }
      return false;
    };
    auto run = [&](const std::string& set) {
      while (i_ < s_.size() && set.find(s_[i_]) != std::string::npos) ++i_;
    };
    if (accept("0")) {
      if (accept("xX")) digits = "0123456789abcdefABCDEF_";
      else if (accept("oO")) digits = "01234567_";
      else if (accept("bB")) digits = "01_";
    }
    run(digits);
    if (i_ < s_.size() && s_[i_] == '.') {
      if (i_ + 1 < s_.size() && s_[i_ + 1] == '.') {  // 1..3
        out.push_back({Kind::kNumber, std::string(s_.substr(start, i_ - start)), start});
        return std::nullopt;
      }
      ++i_;
      run(digits);
    }
    if (accept("eE")) {
      accept("+-");
      run(digits);
    }
    if (i_ < s_.size() && IsAlnum(s_[i_])) {
      ++i_;
      return SyntaxError{start, "bad number syntax: \"" + std::string(s_.substr(start, i_ - start)) + "\""};
    }
    out.push_back({Kind::kNumber, std::string(s_.substr(start, i_ - start)), start});
    return std::nullopt;
  }

  std::string_view s_;
  size_t i_ = 0;
};

// ---- parser ----

struct Op {
  int precedence;
  bool right;
};

const std::map<std::string, Op>& BinaryOps() {
  static const std::map<std::string, Op> ops = {
      {"|", {0, false}},        {"or", {10, false}},     {"||", {10, false}},      {"and", {15, false}},
      {"&&", {15, false}},      {"==", {20, false}},     {"!=", {20, false}},      {"<", {20, false}},
      {">", {20, false}},       {">=", {20, false}},     {"<=", {20, false}},      {"in", {20, false}},
      {"matches", {20, false}}, {"contains", {20, false}}, {"startsWith", {20, false}},
      {"endsWith", {20, false}}, {"..", {25, false}},    {"+", {30, false}},       {"-", {30, false}},
      {"*", {60, false}},       {"/", {60, false}},      {"%", {60, false}},       {"**", {100, true}},
      {"^", {100, true}},       {"??", {500, false}}};
  return ops;
}

int UnaryPrecedence(const std::string& op) {
  if (op == "not" || op == "!") return 50;
  if (op == "-" || op == "+") return 90;
  return -1;
}

bool IsComparison(const std::string& op) { return op == "<" || op == ">" || op == "<=" || op == ">="; }
bool NegatableOp(const std::string& op) {
  return op == "in" || op == "matches" || op == "contains" || op == "startsWith" || op == "endsWith";
}

// Predicate builtins: their second argument is a closure; `optional` ones may omit it, and
// sortBy/reduce take a third expression.
struct PredicateSpec {
  bool closure_optional = false;
  bool third = false;
};
const std::map<std::string, PredicateSpec>& Predicates() {
  static const std::map<std::string, PredicateSpec> p = {
      {"all", {}},           {"none", {}},          {"any", {}},          {"one", {}},
      {"filter", {}},        {"map", {}},           {"count", {true}},    {"sum", {true}},
      {"find", {}},          {"findIndex", {}},     {"findLast", {}},     {"findLastIndex", {}},
      {"groupBy", {}},       {"sortBy", {false, true}}, {"reduce", {false, true}}};
  return p;
}

std::string Describe(const Token& t) {
  if (t.kind == Kind::kEof) return "end of expression";
  static const char* kNames[] = {"Identifier", "Number", "String", "Operator", "Bracket", "EOF"};
  return std::string("token ") + kNames[static_cast<int>(t.kind)] + "(\"" + t.value + "\")";
}

NodePtr MakeNode(NodeKind kind, size_t pos, std::string text = "") {
  auto n = std::make_unique<ExprNode>();
  n->kind = kind;
  n->pos = pos;
  n->text = std::move(text);
  return n;
}

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : t_(std::move(tokens)) {}

  NodePtr ParseAll() {
    NodePtr n = Sequence();
    if (!err_ && Cur().kind != Kind::kEof) Fail("unexpected " + Describe(Cur()));
    return err_ ? nullptr : std::move(n);
  }
  const std::optional<SyntaxError>& error() const { return err_; }

 private:
  const Token& Cur() const { return t_[i_]; }
  bool Is(Kind k, const char* v = nullptr) const {
    return Cur().kind == k && (v == nullptr || Cur().value == v);
  }
  void Next() {
    if (i_ + 1 < t_.size()) ++i_;
  }
  void Fail(const std::string& m) { FailAt(Cur(), m); }
  void FailAt(const Token& t, const std::string& m) {
    if (!err_) err_ = SyntaxError{t.pos, m};
  }
  void Expect(Kind k, const char* v) {
    if (Is(k, v)) {
      Next();
      return;
    }
    Fail("unexpected " + Describe(Cur()) + (v ? std::string(", expected \"") + v + "\"" : ""));
  }

  NodePtr Sequence() {
    size_t pos = Cur().pos;
    std::vector<NodePtr> nodes;
    nodes.push_back(Expression(0));
    while (!err_ && Is(Kind::kOperator, ";")) {
      Next();
      if (Is(Kind::kEof)) break;
      nodes.push_back(Expression(0));
    }
    if (nodes.size() == 1) return std::move(nodes[0]);
    NodePtr n = MakeNode(NodeKind::kSequence, pos);
    n->kids = std::move(nodes);
    return n;
  }

  NodePtr Expression(int precedence) {
    if (err_) return nullptr;
    if (precedence == 0 && Is(Kind::kOperator, "let")) return Let();
    if (precedence == 0 && Is(Kind::kOperator, "if")) return If();
    NodePtr left = Primary();
    std::string prev;
    while (!err_ && Is(Kind::kOperator)) {
      Token op_token = Cur();
      bool negate = false;
      if (op_token.value == "not") {
        const size_t backup = i_;
        Next();
        auto it = BinaryOps().find(Cur().value);
        if (!(Cur().kind == Kind::kOperator && NegatableOp(Cur().value))) {
          Fail("unexpected " + Describe(Cur()));
          break;
        }
        if (it->second.precedence < precedence) {
          i_ = backup;
          break;
        }
        negate = true;
        op_token = Cur();
      }
      auto it = BinaryOps().find(op_token.value);
      if (it == BinaryOps().end() || it->second.precedence < precedence) break;
      Next();
      if (op_token.value == "|") {
        Token name = Cur();
        Expect(Kind::kIdentifier, nullptr);
        std::vector<NodePtr> args;
        args.push_back(std::move(left));
        left = Call(name, std::move(args));
        prev = "|";
        continue;
      }
      if (prev == "??" && op_token.value != "??") {
        FailAt(op_token, "Operator (" + op_token.value +
                             ") and coalesce expressions (?\?) cannot be mixed. Wrap either by parentheses.");
        break;
      }
      if (IsComparison(op_token.value)) {
        left = Comparison(std::move(left), op_token, it->second.precedence);
        prev = op_token.value;
        continue;
      }
      NodePtr right = Expression(it->second.right ? it->second.precedence : it->second.precedence + 1);
      NodePtr bin = MakeNode(NodeKind::kBinary, op_token.pos, op_token.value);
      bin->kids.push_back(std::move(left));
      bin->kids.push_back(std::move(right));
      left = std::move(bin);
      if (negate) {
        NodePtr n = MakeNode(NodeKind::kUnary, op_token.pos, "not");
        n->kids.push_back(std::move(left));
        left = std::move(n);
      }
      prev = op_token.value;
    }
    if (precedence == 0) left = Conditional(std::move(left));
    return left;
  }

  NodePtr Comparison(NodePtr left, Token op, int precedence) {
    NodePtr root;
    while (true) {
      NodePtr right = Expression(precedence + 1);
      if (err_) return nullptr;
      NodePtr cmp = MakeNode(NodeKind::kBinary, op.pos, op.value);
      // a < b < c is (a < b) && (b < c): b is parsed once and compared twice.
      cmp->kids.push_back(std::move(left));
      cmp->kids.push_back(std::move(right));
      const ExprNode* shared = cmp->kids[1].get();
      if (!root) {
        root = std::move(cmp);
      } else {
        NodePtr both = MakeNode(NodeKind::kBinary, op.pos, "&&");
        both->kids.push_back(std::move(root));
        both->kids.push_back(std::move(cmp));
        root = std::move(both);
      }
      if (!(Is(Kind::kOperator) && IsComparison(Cur().value))) break;
      op = Cur();
      Next();
      left = Clone(*shared);
    }
    return root;
  }

  static NodePtr Clone(const ExprNode& n) {
    NodePtr c = MakeNode(n.kind, n.pos, n.text);
    c->value = n.value;
    c->optional = n.optional;
    for (const auto& k : n.kids) c->kids.push_back(Clone(*k));
    return c;
  }

  NodePtr Conditional(NodePtr node) {
    while (!err_ && Is(Kind::kOperator, "?")) {
      size_t pos = Cur().pos;
      Next();
      NodePtr a, b;
      if (!Is(Kind::kOperator, ":")) {
        a = Expression(0);
        Expect(Kind::kOperator, ":");
        b = Expression(0);
      } else {  // a ?: b
        Next();
        a = Clone(*node);
        b = Expression(0);
      }
      NodePtr c = MakeNode(NodeKind::kConditional, pos);
      c->kids.push_back(std::move(node));
      c->kids.push_back(std::move(a));
      c->kids.push_back(std::move(b));
      node = std::move(c);
    }
    return node;
  }

  NodePtr Let() {
    size_t pos = Cur().pos;
    Next();
    Token name = Cur();
    Expect(Kind::kIdentifier, nullptr);
    Expect(Kind::kOperator, "=");
    NodePtr value = Expression(0);
    Expect(Kind::kOperator, ";");
    lets_.push_back(name.value);
    NodePtr body = Sequence();
    lets_.pop_back();
    NodePtr n = MakeNode(NodeKind::kLet, pos, name.value);
    n->kids.push_back(std::move(value));
    n->kids.push_back(std::move(body));
    return n;
  }

  NodePtr If() {
    size_t pos = Cur().pos;
    Next();
    NodePtr cond = Expression(0);
    Expect(Kind::kBracket, "{");
    NodePtr a = Sequence();
    Expect(Kind::kBracket, "}");
    Expect(Kind::kOperator, "else");
    NodePtr b;
    if (Is(Kind::kOperator, "if")) {
      b = If();
    } else {
      Expect(Kind::kBracket, "{");
      b = Sequence();
      Expect(Kind::kBracket, "}");
    }
    NodePtr c = MakeNode(NodeKind::kConditional, pos);
    c->kids.push_back(std::move(cond));
    c->kids.push_back(std::move(a));
    c->kids.push_back(std::move(b));
    return c;
  }

  NodePtr Primary() {
    const Token t = Cur();
    if (t.kind == Kind::kOperator) {
      int p = UnaryPrecedence(t.value);
      if (p >= 0) {
        Next();
        NodePtr operand = Expression(p);
        NodePtr n = MakeNode(NodeKind::kUnary, t.pos, t.value);
        n->kids.push_back(std::move(operand));
        return Postfix(std::move(n));
      }
    }
    if (t.kind == Kind::kBracket && t.value == "(") {
      Next();
      NodePtr n = Sequence();
      Expect(Kind::kBracket, ")");
      return Postfix(std::move(n));
    }
    if (depth_ > 0 && t.kind == Kind::kOperator && (t.value == "#" || t.value == ".")) {
      std::string name;
      if (t.value == "#") {
        Next();
        if (Is(Kind::kIdentifier)) {
          name = Cur().value;
          if (name != "index" && name != "acc") {
            Fail("unknown pointer #" + name);
            return nullptr;
          }
          Next();
        }
      }
      // `.field` in a closure is `#.field`: the dot stays for Postfix to read.
      return Postfix(MakeNode(NodeKind::kPointer, t.pos, name));
    }
    return Secondary();
  }

  NodePtr Secondary() {
    const Token t = Cur();
    NodePtr node;
    switch (t.kind) {
      case Kind::kIdentifier:
        Next();
        if (t.value == "true" || t.value == "false") {
          node = MakeNode(NodeKind::kLiteral, t.pos);
          node->value = t.value == "true";
          return node;
        }
        if (t.value == "nil") {
          node = MakeNode(NodeKind::kLiteral, t.pos);
          return node;
        }
        if (Is(Kind::kBracket, "(")) {
          node = Call(t, {});
        } else {
          node = MakeNode(NodeKind::kIdent, t.pos, t.value);
        }
        break;
      case Kind::kNumber: {
        Next();
        node = MakeNode(NodeKind::kLiteral, t.pos);
        std::string v;
        for (char c : t.value) {
          if (c != '_') v += c;
        }
        std::string lower = v;
        for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        errno = 0;
        char* end = nullptr;
        const bool prefixed = lower.size() > 1 && lower[0] == '0' && std::strchr("xob", lower[1]);
        if (!prefixed && lower.find_first_of(".e") != std::string::npos) {
          double d = std::strtod(v.c_str(), &end);
          if (*end != '\0' || errno == ERANGE) FailAt(t, "invalid float literal: " + t.value);
          node->value = d;
        } else {
          int base = 10;
          std::string digits = v;
          if (prefixed) {
            base = lower[1] == 'x' ? 16 : lower[1] == 'o' ? 8 : 2;
            digits = v.substr(2);
          }
          long long n = std::strtoll(digits.c_str(), &end, base);
          if (digits.empty() || *end != '\0' || errno == ERANGE) FailAt(t, "invalid integer literal: " + t.value);
          node->value = static_cast<int64_t>(n);
        }
        return node;
      }
      case Kind::kString:
        Next();
        node = MakeNode(NodeKind::kLiteral, t.pos);
        node->value = t.value;
        break;
      default:
        if (t.kind == Kind::kBracket && t.value == "[") {
          node = Array();
        } else if (t.kind == Kind::kBracket && t.value == "{") {
          node = MapLiteral();
        } else {
          Fail("unexpected " + Describe(t));
          return nullptr;
        }
    }
    return Postfix(std::move(node));
  }

  NodePtr Call(const Token& name, std::vector<NodePtr> args) {
    auto pred = Predicates().find(name.value);
    if (pred != Predicates().end() && !IsLet(name.value)) {
      Expect(Kind::kBracket, "(");
      const size_t total = pred->second.third ? 3 : 2;
      const size_t piped = args.size();  // x | map(...): x is the first argument
      for (size_t k = piped; k < total && !err_; ++k) {
        const bool optional = (k == 1 && pred->second.closure_optional) || k == 2;
        if (Is(Kind::kBracket, ")")) {
          if (!optional) Fail("expected at least " + std::to_string(k + 1) + " arguments");
          break;
        }
        if (k > piped) Expect(Kind::kOperator, ",");
        args.push_back(k == 1 ? Closure() : Expression(0));
      }
      if (Is(Kind::kOperator, ",")) Next();
      Expect(Kind::kBracket, ")");
      NodePtr n = MakeNode(NodeKind::kPredicateCall, name.pos, name.value);
      n->kids = std::move(args);
      return n;
    }
    if (IsLet(name.value)) {
      FailAt(name, name.value + " is a variable, not a function");
      return nullptr;
    }
    std::string refused = RefusedFunction(name.value);
    if (!refused.empty()) {
      FailAt(name, refused);
      return nullptr;
    }
    if (!IsFunction(name.value)) {
      FailAt(name, "unknown function " + name.value);
      return nullptr;
    }
    NodePtr n = MakeNode(NodeKind::kCall, name.pos, name.value);
    n->kids = std::move(args);
    Arguments(n->kids);
    return n;
  }

  void Arguments(std::vector<NodePtr>& args) {
    const size_t offset = args.size();
    Expect(Kind::kBracket, "(");
    while (!err_ && !Is(Kind::kBracket, ")")) {
      if (args.size() > offset) Expect(Kind::kOperator, ",");
      if (Is(Kind::kBracket, ")")) break;
      args.push_back(Expression(0));
    }
    Expect(Kind::kBracket, ")");
  }

  NodePtr Closure() {
    size_t pos = Cur().pos;
    bool braces = Is(Kind::kBracket, "{");
    if (braces) Next();
    ++depth_;
    NodePtr body;
    if (braces) {
      body = Sequence();
    } else {
      body = Expression(0);
      if (Is(Kind::kOperator, ";")) Fail("wrap predicate with brackets { and }");
    }
    --depth_;
    if (braces) Expect(Kind::kBracket, "}");
    NodePtr n = MakeNode(NodeKind::kPredicate, pos);
    n->kids.push_back(std::move(body));
    return n;
  }

  NodePtr Array() {
    NodePtr n = MakeNode(NodeKind::kArray, Cur().pos);
    Expect(Kind::kBracket, "[");
    while (!err_ && !Is(Kind::kBracket, "]")) {
      if (!n->kids.empty()) {
        Expect(Kind::kOperator, ",");
        if (Is(Kind::kBracket, "]")) break;
      }
      n->kids.push_back(Expression(0));
    }
    Expect(Kind::kBracket, "]");
    return n;
  }

  NodePtr MapLiteral() {
    NodePtr n = MakeNode(NodeKind::kMap, Cur().pos);
    Expect(Kind::kBracket, "{");
    while (!err_ && !Is(Kind::kBracket, "}")) {
      if (!n->kids.empty()) {
        Expect(Kind::kOperator, ",");
        if (Is(Kind::kBracket, "}")) break;
      }
      NodePtr key;
      if (Is(Kind::kNumber) || Is(Kind::kString) || Is(Kind::kIdentifier)) {
        key = MakeNode(NodeKind::kLiteral, Cur().pos);
        key->value = Cur().value;
        Next();
      } else if (Is(Kind::kBracket, "(")) {
        key = Expression(0);
      } else {
        Fail("a map key must be a quoted string, a number, a identifier, or an expression enclosed in "
             "parentheses (unexpected " + Describe(Cur()) + ")");
        return nullptr;
      }
      Expect(Kind::kOperator, ":");
      n->kids.push_back(std::move(key));
      n->kids.push_back(Expression(0));
    }
    Expect(Kind::kBracket, "}");
    return n;
  }

  NodePtr Postfix(NodePtr node) {
    while (!err_ && node) {
      const Token t = Cur();
      const bool optional = t.kind == Kind::kOperator && t.value == "?.";
      if (t.kind == Kind::kOperator && (t.value == "." || optional)) {
        Next();
        if (optional && Is(Kind::kBracket, "[")) {
          node = Index(std::move(node), true);
          continue;
        }
        Token prop = Cur();
        Next();
        const bool word = prop.kind == Kind::kIdentifier ||
                          (prop.kind == Kind::kOperator && !prop.value.empty() && std::isalpha(static_cast<unsigned char>(prop.value[0])));
        if (!word) {
          FailAt(prop, "expected name");
          return nullptr;
        }
        if (Is(Kind::kBracket, "(")) {
          if (node->kind == NodeKind::kIdent && node->text == "sprig") {
            if (!IsSprigFunction(prop.value)) {
              FailAt(prop, "sprig." + prop.value + " is not supported (the sprig functions here: see the "
                               "expressions section of the workflow documentation)");
              return nullptr;
            }
            NodePtr call = MakeNode(NodeKind::kSprig, prop.pos, prop.value);
            Arguments(call->kids);
            node = std::move(call);
            continue;
          }
          FailAt(prop, "method " + prop.value + " is not supported: values here have no methods");
          return nullptr;
        }
        NodePtr m = MakeNode(NodeKind::kMember, prop.pos);
        m->optional = optional;
        NodePtr key = MakeNode(NodeKind::kLiteral, prop.pos);
        key->value = prop.value;
        m->kids.push_back(std::move(node));
        m->kids.push_back(std::move(key));
        node = std::move(m);
      } else if (t.kind == Kind::kBracket && t.value == "[") {
        node = Index(std::move(node), false);
      } else {
        break;
      }
    }
    return node;
  }

  NodePtr Index(NodePtr node, bool optional) {
    size_t pos = Cur().pos;
    Next();  // [
    if (Is(Kind::kOperator, ":")) {
      Next();
      NodePtr s = MakeNode(NodeKind::kSlice, pos);
      s->kids.push_back(std::move(node));
      s->kids.push_back(nullptr);
      s->kids.push_back(Is(Kind::kBracket, "]") ? nullptr : Expression(0));
      Expect(Kind::kBracket, "]");
      return s;
    }
    NodePtr from = Expression(0);
    if (Is(Kind::kOperator, ":")) {
      Next();
      NodePtr s = MakeNode(NodeKind::kSlice, pos);
      s->kids.push_back(std::move(node));
      s->kids.push_back(std::move(from));
      s->kids.push_back(Is(Kind::kBracket, "]") ? nullptr : Expression(0));
      Expect(Kind::kBracket, "]");
      return s;
    }
    NodePtr m = MakeNode(NodeKind::kMember, pos);
    m->optional = optional;
    m->kids.push_back(std::move(node));
    m->kids.push_back(std::move(from));
    Expect(Kind::kBracket, "]");
    return m;
  }

  bool IsLet(const std::string& name) const {
    for (const std::string& l : lets_) {
      if (l == name) return true;
    }
    return false;
  }

  std::vector<Token> t_;
  size_t i_ = 0;
  int depth_ = 0;
  std::vector<std::string> lets_;
  std::optional<SyntaxError> err_;
};

// "column C" or "line L, column C" of byte offset `pos`, counting characters from 1.
std::string Where(std::string_view s, size_t pos) {
  size_t line = 1, column = 1;
  bool multiline = s.find('\n') != std::string_view::npos;
  for (size_t i = 0; i < pos && i < s.size(); ++i) {
    if (s[i] == '\n') {
      ++line;
      column = 1;
    } else if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) {
      ++column;
    }
  }
  if (!multiline) return "column " + std::to_string(column);
  return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

// ---- evaluation ----

Status Invalid(const std::string& op, const Json& a, const Json& b) {
  return InvalidArgument("invalid operation: " + op + " (mismatched types " + GoTypeName(a) + " and " +
                         GoTypeName(b) + ")");
}

struct Frame {
  const Json* element;
  int64_t index;
  Json acc;
};

class Evaluator {
 public:
  explicit Evaluator(const Json& env) : env_(env) {}

  StatusOr<Json> Eval(const ExprNode& n) {
    switch (n.kind) {
      case NodeKind::kLiteral:
        return n.value;
      case NodeKind::kIdent: {
        for (auto it = lets_.rbegin(); it != lets_.rend(); ++it) {
          if (it->first == n.text) return it->second;
        }
        if (env_.is_object()) {
          auto it = env_.find(n.text);
          if (it != env_.end()) return *it;
        }
        return InvalidArgument("unknown name " + n.text);
      }
      case NodeKind::kPointer: {
        if (frames_.empty()) return InvalidArgument("# used outside a predicate");
        const Frame& f = frames_.back();
        if (n.text == "index") return Int(f.index);
        if (n.text == "acc") return f.acc;
        return *f.element;
      }
      case NodeKind::kMember:
      case NodeKind::kSlice: {
        LOOM_ASSIGN_OR_RETURN(std::optional<Json> v, Access(n));
        return v ? std::move(*v) : Json();
      }
      case NodeKind::kUnary:
        return Unary(n);
      case NodeKind::kBinary:
        return Binary(n);
      case NodeKind::kConditional: {
        LOOM_ASSIGN_OR_RETURN(Json c, Eval(*n.kids[0]));
        if (!c.is_boolean()) return InvalidArgument("non-bool expression (type " + GoTypeName(c) + ") used as condition");
        return Eval(*n.kids[c.get<bool>() ? 1 : 2]);
      }
      case NodeKind::kArray: {
        Json out = Json::array();
        for (const auto& k : n.kids) {
          LOOM_ASSIGN_OR_RETURN(Json v, Eval(*k));
          out.push_back(std::move(v));
        }
        return out;
      }
      case NodeKind::kMap: {
        Json out = Json::object();
        for (size_t i = 0; i + 1 < n.kids.size(); i += 2) {
          LOOM_ASSIGN_OR_RETURN(Json k, Eval(*n.kids[i]));
          LOOM_ASSIGN_OR_RETURN(Json v, Eval(*n.kids[i + 1]));
          out[k.is_string() ? k.get<std::string>() : GoString(k)] = std::move(v);
        }
        return out;
      }
      case NodeKind::kCall:
      case NodeKind::kSprig: {
        std::vector<Json> args;
        for (const auto& k : n.kids) {
          LOOM_ASSIGN_OR_RETURN(Json v, Eval(*k));
          args.push_back(std::move(v));
        }
        return n.kind == NodeKind::kCall ? CallFunction(n.text, args) : CallSprig(n.text, args);
      }
      case NodeKind::kPredicateCall:
        return Predicate(n);
      case NodeKind::kPredicate:
        return Eval(*n.kids[0]);
      case NodeKind::kLet: {
        LOOM_ASSIGN_OR_RETURN(Json v, Eval(*n.kids[0]));
        lets_.emplace_back(n.text, std::move(v));
        StatusOr<Json> r = Eval(*n.kids[1]);
        lets_.pop_back();
        return r;
      }
      case NodeKind::kSequence: {
        Json last;
        for (const auto& k : n.kids) {
          LOOM_ASSIGN_OR_RETURN(last, Eval(*k));
        }
        return last;
      }
    }
    return InvalidArgument("unknown node");
  }

 private:
  // A member, index or slice; nullopt when an optional (?.) access met nil, which ends the chain.
  StatusOr<std::optional<Json>> Access(const ExprNode& n) {
    const ExprNode& base = *n.kids[0];
    Json from;
    if (base.kind == NodeKind::kMember || base.kind == NodeKind::kSlice) {
      LOOM_ASSIGN_OR_RETURN(std::optional<Json> b, Access(base));
      if (!b) return std::optional<Json>();
      from = std::move(*b);
    } else {
      LOOM_ASSIGN_OR_RETURN(from, Eval(base));
    }
    if (from.is_null() && n.optional) return std::optional<Json>();
    if (n.kind == NodeKind::kSlice) {
      LOOM_ASSIGN_OR_RETURN(Json v, Slice(n, from));
      return std::optional<Json>(std::move(v));
    }
    LOOM_ASSIGN_OR_RETURN(Json key, Eval(*n.kids[1]));
    if (from.is_object()) {
      if (!key.is_string()) return InvalidArgument("cannot fetch " + GoString(key) + " from " + GoTypeName(from));
      auto it = from.find(key.get<std::string>());
      return std::optional<Json>(it == from.end() ? Json() : *it);
    }
    if (from.is_array() || from.is_string()) {
      if (!IsInt(key)) return InvalidArgument("cannot fetch " + GoString(key) + " from " + GoTypeName(from));
      const int64_t len = from.is_array() ? static_cast<int64_t>(from.size())
                                          : static_cast<int64_t>(from.get_ref<const std::string&>().size());
      int64_t i = key.get<int64_t>();
      if (i < 0) i += len;
      if (i < 0 || i >= len) {
        return InvalidArgument("index out of range: " + std::to_string(i) + " (array length is " +
                               std::to_string(len) + ")");
      }
      if (from.is_array()) return std::optional<Json>(from[static_cast<size_t>(i)]);
      return std::optional<Json>(Json(std::string(1, from.get_ref<const std::string&>()[static_cast<size_t>(i)])));
    }
    return InvalidArgument("cannot fetch " + GoString(key) + " from " + GoTypeName(from));
  }

  StatusOr<Json> Slice(const ExprNode& n, const Json& from) {
    if (!from.is_array() && !from.is_string()) return InvalidArgument("cannot slice " + GoTypeName(from));
    const int64_t len = from.is_array() ? static_cast<int64_t>(from.size())
                                        : static_cast<int64_t>(from.get_ref<const std::string&>().size());
    int64_t bounds[2] = {0, len};
    for (int k = 0; k < 2; ++k) {
      if (!n.kids[k + 1]) continue;
      LOOM_ASSIGN_OR_RETURN(Json v, Eval(*n.kids[k + 1]));
      if (!IsInt(v)) return InvalidArgument("invalid slice index (type " + GoTypeName(v) + ")");
      int64_t b = v.get<int64_t>();
      if (b < 0) b += len;
      bounds[k] = std::clamp<int64_t>(b, 0, len);
    }
    if (bounds[1] < bounds[0]) bounds[1] = bounds[0];
    if (from.is_string()) {
      return Json(from.get_ref<const std::string&>().substr(static_cast<size_t>(bounds[0]),
                                                           static_cast<size_t>(bounds[1] - bounds[0])));
    }
    Json out = Json::array();
    for (int64_t i = bounds[0]; i < bounds[1]; ++i) out.push_back(from[static_cast<size_t>(i)]);
    return out;
  }

  StatusOr<Json> Unary(const ExprNode& n) {
    LOOM_ASSIGN_OR_RETURN(Json v, Eval(*n.kids[0]));
    if (n.text == "not" || n.text == "!") {
      if (!v.is_boolean()) return InvalidArgument("invalid operation: " + n.text + " (mismatched type " + GoTypeName(v) + ")");
      return Json(!v.get<bool>());
    }
    if (!IsNumber(v)) return InvalidArgument("invalid operation: " + n.text + " (mismatched type " + GoTypeName(v) + ")");
    if (n.text == "+") return v;
    return IsInt(v) ? Int(-v.get<int64_t>()) : Float(-AsDouble(v));
  }

  StatusOr<Json> Binary(const ExprNode& n) {
    const std::string& op = n.text;
    LOOM_ASSIGN_OR_RETURN(Json a, Eval(*n.kids[0]));
    if (op == "&&" || op == "and" || op == "||" || op == "or") {
      const bool is_and = op == "&&" || op == "and";
      if (!a.is_boolean()) return Invalid(op, a, Json(true));
      if (a.get<bool>() != is_and) return a;  // short circuit
      LOOM_ASSIGN_OR_RETURN(Json b, Eval(*n.kids[1]));
      if (!b.is_boolean()) return Invalid(op, a, b);
      return b;
    }
    if (op == "??") {
      if (!a.is_null()) return a;
      return Eval(*n.kids[1]);
    }
    LOOM_ASSIGN_OR_RETURN(Json b, Eval(*n.kids[1]));
    if (op == "==") return Json(Equal(a, b));
    if (op == "!=") return Json(!Equal(a, b));
    if (op == "<" || op == ">" || op == "<=" || op == ">=") {
      // Checked in the written order so that a mismatch names the types as written.
      LOOM_RETURN_IF_ERROR(Less(a, b, op.c_str()).status());
      LOOM_ASSIGN_OR_RETURN(bool a_less, Less(a, b, op.c_str()));
      LOOM_ASSIGN_OR_RETURN(bool b_less, Less(b, a, op.c_str()));
      if (op == "<") return Json(a_less);
      if (op == ">") return Json(b_less);
      if (op == "<=") return Json(!b_less);
      return Json(!a_less);
    }
    if (op == "+" && a.is_string() && b.is_string()) return Json(a.get<std::string>() + b.get<std::string>());
    if (op == "+" || op == "-" || op == "*") {
      if (!IsNumber(a) || !IsNumber(b)) return Invalid(op, a, b);
      if (IsInt(a) && IsInt(b)) {
        // Go's int arithmetic wraps on overflow; so does this, through unsigned arithmetic.
        uint64_t x = static_cast<uint64_t>(a.get<int64_t>()), y = static_cast<uint64_t>(b.get<int64_t>());
        uint64_t r = op == "+" ? x + y : op == "-" ? x - y : x * y;
        return Int(static_cast<int64_t>(r));
      }
      double x = AsDouble(a), y = AsDouble(b);
      return Float(op == "+" ? x + y : op == "-" ? x - y : x * y);
    }
    if (op == "/") {
      if (!IsNumber(a) || !IsNumber(b)) return Invalid(op, a, b);
      return Float(AsDouble(a) / AsDouble(b));
    }
    if (op == "%") {
      if (!IsInt(a) || !IsInt(b)) return Invalid(op, a, b);
      if (b.get<int64_t>() == 0) return InvalidArgument("integer divide by zero");
      return Int(a.get<int64_t>() % b.get<int64_t>());
    }
    if (op == "**" || op == "^") {
      if (!IsNumber(a) || !IsNumber(b)) return Invalid(op, a, b);
      return Float(std::pow(AsDouble(a), AsDouble(b)));
    }
    if (op == "..") {
      if (!IsInt(a) || !IsInt(b)) return Invalid(op, a, b);
      const int64_t from = a.get<int64_t>(), to = b.get<int64_t>();
      if (to - from > 1000000) return InvalidArgument("range " + GoString(a) + ".." + GoString(b) + " is too large");
      Json out = Json::array();
      for (int64_t i = from; i <= to; ++i) out.push_back(Int(i));
      return out;
    }
    if (op == "in") {
      if (b.is_array()) {
        for (const Json& e : b) {
          if (Equal(a, e)) return Json(true);
        }
        return Json(false);
      }
      if (b.is_object()) {
        if (!a.is_string()) return Json(false);
        return Json(b.contains(a.get<std::string>()));
      }
      return InvalidArgument("operator \"in\" not defined on " + GoTypeName(b));
    }
    if (!a.is_string() || !b.is_string()) return Invalid(op, a, b);
    const std::string& x = a.get_ref<const std::string&>();
    const std::string& y = b.get_ref<const std::string&>();
    if (op == "contains") return Json(x.find(y) != std::string::npos);
    if (op == "startsWith") return Json(x.rfind(y, 0) == 0);
    if (op == "endsWith") return Json(x.size() >= y.size() && x.compare(x.size() - y.size(), y.size(), y) == 0);
    if (op == "matches") return Matches(x, y);
    return InvalidArgument("unknown operator " + op);
  }

  StatusOr<Json> Matches(const std::string& text, std::string pattern) {
    // Go's regexp (RE2) syntax; ECMAScript shares what patterns use, and RE2's leading (?i)
    // becomes the icase flag.
    auto flags = std::regex::ECMAScript;
    if (pattern.rfind("(?i)", 0) == 0) {
      pattern = pattern.substr(4);
      flags |= std::regex::icase;
    }
    try {
      return Json(std::regex_search(text, std::regex(pattern, flags)));
    } catch (const std::regex_error& e) {
      return InvalidArgument("error parsing regexp: " + std::string(e.what()) + ": `" + pattern + "`");
    }
  }

  // Runs the closure kids[1] on `element`.
  StatusOr<Json> Apply(const ExprNode& closure, const Json& element, int64_t index, Json acc = Json()) {
    frames_.push_back({&element, index, std::move(acc)});
    StatusOr<Json> r = Eval(closure);
    frames_.pop_back();
    return r;
  }

  StatusOr<bool> Test(const ExprNode& n, const Json& element, int64_t index) {
    LOOM_ASSIGN_OR_RETURN(Json v, Apply(*n.kids[1], element, index));
    if (!v.is_boolean()) return InvalidArgument(n.text + ": the predicate gave " + GoTypeName(v) + ", not bool");
    return v.get<bool>();
  }

  StatusOr<Json> Predicate(const ExprNode& n) {
    const std::string& f = n.text;
    LOOM_ASSIGN_OR_RETURN(Json in, Eval(*n.kids[0]));
    if (in.is_object() && (f == "map" || f == "filter" || f == "all" || f == "any" || f == "none" ||
                           f == "one" || f == "count")) {
      Json values = Json::array();  // expr-lang iterates a map's values
      for (auto& [k, v] : in.items()) values.push_back(v);
      in = std::move(values);
    }
    if (!in.is_array()) return InvalidArgument("cannot iterate over " + GoTypeName(in));
    const int64_t size = static_cast<int64_t>(in.size());
    const bool has_closure = n.kids.size() > 1 && n.kids[1];
    if (f == "all" || f == "any" || f == "none" || f == "one" || f == "count") {
      int64_t hits = 0;
      for (int64_t i = 0; i < size; ++i) {
        bool hit = false;
        if (has_closure) {
          LOOM_ASSIGN_OR_RETURN(hit, Test(n, in[i], i));
        } else {
          if (!in[i].is_boolean()) return InvalidArgument("count: " + GoTypeName(in[i]) + " is not bool");
          hit = in[i].get<bool>();
        }
        if (hit) ++hits;
        if (f == "all" && !hit) return Json(false);
        if (f == "any" && hit) return Json(true);
        if (f == "none" && hit) return Json(false);
      }
      if (f == "all" || f == "none") return Json(true);
      if (f == "any") return Json(false);
      if (f == "one") return Json(hits == 1);
      return Int(hits);
    }
    if (f == "filter" || f == "map") {
      Json out = Json::array();
      for (int64_t i = 0; i < size; ++i) {
        if (f == "filter") {
          LOOM_ASSIGN_OR_RETURN(bool keep, Test(n, in[i], i));
          if (keep) out.push_back(in[i]);
        } else {
          LOOM_ASSIGN_OR_RETURN(Json v, Apply(*n.kids[1], in[i], i));
          out.push_back(std::move(v));
        }
      }
      return out;
    }
    if (f == "find" || f == "findIndex" || f == "findLast" || f == "findLastIndex") {
      const bool last = f == "findLast" || f == "findLastIndex";
      const bool index = f == "findIndex" || f == "findLastIndex";
      for (int64_t k = 0; k < size; ++k) {
        const int64_t i = last ? size - 1 - k : k;
        LOOM_ASSIGN_OR_RETURN(bool hit, Test(n, in[i], i));
        if (hit) return index ? Int(i) : in[i];
      }
      return index ? Int(-1) : Json();
    }
    if (f == "sum") {
      Json total = Int(0);
      for (int64_t i = 0; i < size; ++i) {
        Json v = in[i];
        if (has_closure) {
          LOOM_ASSIGN_OR_RETURN(v, Apply(*n.kids[1], in[i], i));
        }
        if (!IsNumber(v)) return Invalid("+", total, v);
        total = IsInt(total) && IsInt(v) ? Int(total.get<int64_t>() + v.get<int64_t>()) : Float(AsDouble(total) + AsDouble(v));
      }
      return total;
    }
    if (f == "groupBy") {
      Json out = Json::object();
      for (int64_t i = 0; i < size; ++i) {
        LOOM_ASSIGN_OR_RETURN(Json key, Apply(*n.kids[1], in[i], i));
        std::string k = key.is_string() ? key.get<std::string>() : GoString(key);
        if (!out.contains(k)) out[k] = Json::array();
        out[k].push_back(in[i]);
      }
      return out;
    }
    if (f == "reduce") {
      if (size == 0) {
        if (n.kids.size() > 2 && n.kids[2]) return Eval(*n.kids[2]);
        return InvalidArgument("reduce of empty array with no initial value");
      }
      Json acc;
      int64_t start = 0;
      if (n.kids.size() > 2 && n.kids[2]) {
        LOOM_ASSIGN_OR_RETURN(acc, Eval(*n.kids[2]));
      } else {
        acc = in[0];
        start = 1;
      }
      for (int64_t i = start; i < size; ++i) {
        LOOM_ASSIGN_OR_RETURN(acc, Apply(*n.kids[1], in[i], i, acc));
      }
      return acc;
    }
    if (f == "sortBy") {
      std::string order = "asc";
      if (n.kids.size() > 2 && n.kids[2]) {
        LOOM_ASSIGN_OR_RETURN(Json o, Eval(*n.kids[2]));
        if (!o.is_string() || (o != "asc" && o != "desc")) return InvalidArgument("sortBy: unknown order " + GoString(o));
        order = o.get<std::string>();
      }
      std::vector<std::pair<Json, Json>> keyed;
      for (int64_t i = 0; i < size; ++i) {
        LOOM_ASSIGN_OR_RETURN(Json key, Apply(*n.kids[1], in[i], i));
        keyed.emplace_back(std::move(key), in[i]);
      }
      Status bad = OkStatus();
      std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& x, const auto& y) {
        StatusOr<bool> l = order == "asc" ? Less(x.first, y.first, "<") : Less(y.first, x.first, "<");
        if (!l.ok()) {
          bad = l.status();
          return false;
        }
        return *l;
      });
      LOOM_RETURN_IF_ERROR(bad);
      Json out = Json::array();
      for (auto& [k, v] : keyed) out.push_back(std::move(v));
      return out;
    }
    return InvalidArgument("unknown function " + f);
  }

  const Json& env_;
  std::vector<Frame> frames_;
  std::vector<std::pair<std::string, Json>> lets_;
};

// The constant member path of `n` ("a.b.c"), or nullopt when a part is computed or optional.
std::optional<std::string> MemberPath(const ExprNode& n) {
  if (n.kind == NodeKind::kIdent) return n.text;
  if (n.kind != NodeKind::kMember || n.optional) return std::nullopt;
  const ExprNode& key = *n.kids[1];
  if (key.kind != NodeKind::kLiteral || !key.value.is_string()) return std::nullopt;
  auto base = MemberPath(*n.kids[0]);
  if (!base) return std::nullopt;
  return *base + "." + key.value.get<std::string>();
}

void CollectVariables(const ExprNode& n, bool guarded, bool guarded_too, std::vector<std::string>& lets,
                      std::vector<std::string>& out) {
  auto add = [&](const std::string& v) {
    for (const std::string& l : lets) {
      if (v == l || v.rfind(l + ".", 0) == 0) return;
    }
    if (std::find(out.begin(), out.end(), v) == out.end()) out.push_back(v);
  };
  if (n.kind == NodeKind::kIdent) {
    add(n.text);
    return;
  }
  if (n.kind == NodeKind::kMember) {
    // a.b?.c: a.b may be absent; the left of ?? likewise (its identifiers are still needed).
    const bool guard_base = n.optional && n.kids[0]->kind == NodeKind::kMember;
    if (!guarded || guarded_too) {
      if (auto path = MemberPath(n)) add(*path);
    }
    CollectVariables(*n.kids[0], guarded || guard_base, guarded_too, lets, out);
    CollectVariables(*n.kids[1], guarded, guarded_too, lets, out);
    return;
  }
  if (n.kind == NodeKind::kLet) {
    CollectVariables(*n.kids[0], guarded, guarded_too, lets, out);
    lets.push_back(n.text);
    CollectVariables(*n.kids[1], guarded, guarded_too, lets, out);
    lets.pop_back();
    return;
  }
  if (n.kind == NodeKind::kSprig) {
    for (const auto& k : n.kids) CollectVariables(*k, guarded, guarded_too, lets, out);
    return;
  }
  const bool coalesce = n.kind == NodeKind::kBinary && n.text == "??";
  for (size_t i = 0; i < n.kids.size(); ++i) {
    if (n.kids[i]) CollectVariables(*n.kids[i], guarded || (coalesce && i == 0), guarded_too, lets, out);
  }
}

}  // namespace

StatusOr<Expression> Expression::Parse(std::string_view source) {
  std::vector<Token> tokens;
  Lexer lexer(source);
  if (auto e = lexer.Run(tokens)) return InvalidArgument(Where(source, e->pos) + ": " + e->message);
  Parser parser(std::move(tokens));
  NodePtr root = parser.ParseAll();
  if (parser.error()) return InvalidArgument(Where(source, parser.error()->pos) + ": " + parser.error()->message);
  Expression e;
  e.source_ = std::string(source);
  e.root_ = std::move(root);
  return e;
}

Expression::Expression(Expression&&) noexcept = default;
Expression& Expression::operator=(Expression&&) noexcept = default;
Expression::~Expression() = default;

StatusOr<Json> Expression::Evaluate(const Json& env) const {
  Evaluator e(env);
  return e.Eval(*root_);
}

std::vector<std::string> Expression::RequiredVariables(bool guarded_too) const {
  std::vector<std::string> out, lets;
  CollectVariables(*root_, false, guarded_too, lets, out);
  return out;
}

bool HasExprVariable(const Json& env, const std::string& path) {
  const Json* cur = &env;
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!cur->is_object()) return false;
    auto it = cur->find(part);
    if (it == cur->end()) return false;
    cur = &*it;
    if (dot == std::string::npos) return true;
    start = dot + 1;
  }
}

std::string ExprResultString(const Json& value) {
  if (value.is_string()) return value.get<std::string>();
  return GoJson(value);
}

}  // namespace loom::workflow
