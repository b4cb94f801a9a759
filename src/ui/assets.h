// The web UI's files (src/ui/assets/), compiled into the binary by embed_assets.cmake so that
// `loom server` needs nothing beside it and nothing from a CDN.
#pragma once

#include <cstddef>
#include <string_view>

namespace loom::ui {

struct Asset {
  std::string_view path;          // "/index.html", "/app.js"
  std::string_view content_type;  // "text/html; charset=utf-8"
  std::string_view body;
};

extern const Asset kAssets[];
extern const size_t kAssetCount;

// The asset served at `path` ("/" is "/index.html"), or null.
const Asset* FindAsset(std::string_view path);

}  // namespace loom::ui
