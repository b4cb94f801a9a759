#include "serving/version_policy.h"

#include <algorithm>
#include <sstream>

namespace loom::serving {

std::vector<int64_t> ApplyVersionPolicy(const VersionPolicy& policy,
                                        std::vector<int64_t> available) {
  std::sort(available.begin(), available.end());
  available.erase(std::unique(available.begin(), available.end()), available.end());
  switch (policy.kind) {
    case VersionPolicy::Kind::kAll:
      return available;
    case VersionPolicy::Kind::kLatest: {
      size_t n = static_cast<size_t>(std::max(policy.num_versions, 0));
      if (available.size() > n) available.erase(available.begin(), available.end() - n);
      return available;
    }
    case VersionPolicy::Kind::kSpecific: {
      std::vector<int64_t> out;
      for (int64_t v : available) {
        if (std::find(policy.versions.begin(), policy.versions.end(), v) != policy.versions.end())
          out.push_back(v);
      }
      return out;
    }
  }
  return {};
}

StatusOr<VersionPolicy> ParseVersionPolicy(const std::string& text, const std::string& field) {
  std::istringstream in(text);
  std::string kind, rest;
  in >> kind;
  std::getline(in, rest);
  rest.erase(0, rest.find_first_not_of(' '));
  VersionPolicy policy;
  auto parse_int = [&](const std::string& s, int64_t* out) -> Status {
    size_t used = 0;
    try {
      *out = std::stoll(s, &used);
    } catch (...) {
      used = 0;
    }
    if (used == 0 || used != s.size() || *out < 1)
      return InvalidArgument(field + ": \"" + s + "\" is not a positive integer");
    return OkStatus();
  };
  if (kind == "all" && rest.empty()) {
    policy.kind = VersionPolicy::Kind::kAll;
  } else if (kind == "latest") {
    policy.kind = VersionPolicy::Kind::kLatest;
    int64_t n = 1;
    if (!rest.empty()) LOOM_RETURN_IF_ERROR(parse_int(rest, &n));
    policy.num_versions = static_cast<int>(n);
  } else if (kind == "specific" && !rest.empty()) {
    policy.kind = VersionPolicy::Kind::kSpecific;
    std::istringstream list(rest);
    std::string item;
    while (std::getline(list, item, ',')) {
      item.erase(0, item.find_first_not_of(' '));
      item.erase(item.find_last_not_of(' ') + 1);
      int64_t v = 0;
      LOOM_RETURN_IF_ERROR(parse_int(item, &v));
      policy.versions.push_back(v);
    }
  } else {
    return InvalidArgument(field + ": \"" + text +
                           "\" is not a version policy (latest [N], all, specific V[,V...])");
  }
  return policy;
}

}  // namespace loom::serving
