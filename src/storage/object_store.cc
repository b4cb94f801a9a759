#include "storage/object_store.h"

namespace loom::storage {

StatusOr<std::vector<ObjectInfo>> ObjectStore::ListAll(const std::string& prefix) {
  std::vector<ObjectInfo> out;
  ListOptions options;
  options.prefix = prefix;
  do {
    LOOM_ASSIGN_OR_RETURN(ListPage page, List(options));
    for (ObjectInfo& o : page.objects) out.push_back(std::move(o));
    options.continuation_token = page.next_token;
  } while (!options.continuation_token.empty());
  return out;
}

}  // namespace loom::storage
