// Small helpers shared by the web UI's JSON handlers: JSON and error responses, integer query
// arguments, and the one shape every paged log takes.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "core/json.h"
#include "core/status.h"
#include "net/http_server.h"

namespace loom::ui {

// 200 (or `status`) with the JSON body; invalid UTF-8 (a log cut mid-character) is replaced.
void SetJson(const Json& body, net::HttpServerResponse* response, int status = 200);
// {"error": message, "code": <grpc code>, "message": message} (Argo's error shape plus TF
// Serving's "error") with the HTTP code of status.code().
void SetError(const Status& status, net::HttpServerResponse* response);

// Query argument `name` as an integer, or `fallback` when absent. InvalidArgument names it.
StatusOr<int64_t> QueryInt(const net::HttpServerRequest& request, const std::string& name,
                           int64_t fallback);

// Reads one page of a log: read(offset, limit, &total) returns up to limit bytes at offset.
// offset < 0 means that many bytes before the end (the tail); limit is clamped to
// [1, kMaxLogPage]. The page ends on a UTF-8 character boundary unless it reaches the end.
// Answers {"content", "offset", "nextOffset", "totalSize"}: nextOffset is where the next page
// starts; a follower polls with offset=nextOffset.
inline constexpr int64_t kDefaultLogPage = 64 << 10;
inline constexpr int64_t kMaxLogPage = 1 << 20;
using LogReadFn = std::function<StatusOr<std::string>(int64_t offset, int64_t limit, int64_t* total)>;
StatusOr<Json> ReadLogPage(int64_t offset, int64_t limit, const LogReadFn& read);
// A LogReadFn over a file (pread); a missing file is an empty log.
StatusOr<std::string> ReadFileRange(const std::string& path, int64_t offset, int64_t limit,
                                    int64_t* total);

// Splits "/a/b/c" into {"a", "b", "c"} (empty components dropped).
std::vector<std::string> SplitPath(const std::string& path);

}  // namespace loom::ui
