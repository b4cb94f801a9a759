// Bearer tokens for `loom server` (Argo server's --auth-mode client): one random token per
// $LOOM_HOME, created at the server's first start in a file only its owner may read, and read
// from there by the CLI. Requests carry it as "Authorization: Bearer <token>" (the CLI) or in a
// cookie set by the login page (the browser).
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace loom::net {

// Where a LOOM_HOME keeps its server's token: <home>/server.token.
std::string TokenPath(const std::string& home);

// Reads the token at `path`, first creating it when absent: 32 random bytes (getrandom) as 64
// hex digits, mode 0600, put in place whole (a reader never sees half of it; two servers
// starting at once agree on one). A token file that others may read or write is refused
// (as ssh refuses such a key): it would let anyone on the machine in.
StatusOr<std::string> LoadOrCreateToken(const std::string& path);
// Reads the token at `path` (NotFound when there is none); the same checks.
StatusOr<std::string> ReadToken(const std::string& path);

// True when `presented` equals `expected`, in a time that depends on expected's length only.
bool TokenMatches(std::string_view presented, std::string_view expected);

// The token of an Authorization header value "Bearer <token>" (scheme case-insensitive), or "".
std::string BearerToken(std::string_view authorization);

}  // namespace loom::net
