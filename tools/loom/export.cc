// loom export: the latest checkpoint of a training run as a servable version directory.
#include <iostream>

#include "commands.h"
#include "export/bundle.h"
#include "nn/model.h"
#include "train/checkpoint.h"

namespace loom::cli {

int RunExport(const Args& args) {
  std::string checkpoint_dir, checkpoint;
  exporter::ExportOptions options;
  FlagSet flags("loom export --checkpoint_dir DIR --export_dir BASE [--version N]");
  flags.String("checkpoint_dir", &checkpoint_dir, "a --train_dir; its latest checkpoint is exported");
  flags.String("checkpoint", &checkpoint, "a checkpoint file to export instead of the latest");
  flags.String("export_dir", &options.base_path, "base path: the model goes to <export_dir>/<version>");
  flags.Int("version", &options.version, "version number (default: one more than the largest)");
  flags.String("model_name", &options.model_name, "the model's name in model.json");
  std::vector<std::string> positional;
  int code = 0;
  if (!ParseFlagsOrExit(flags, args, &positional, "export", &code)) return code;
  if (!flags.IsSet("version")) options.version = -1;
  if (options.base_path.empty()) return Fail("export", InvalidArgument("--export_dir: must be set"));
  if (checkpoint.empty()) {
    if (checkpoint_dir.empty())
      return Fail("export", InvalidArgument("--checkpoint_dir or --checkpoint: one must be set"));
    auto latest = train::LatestCheckpoint(checkpoint_dir);
    if (!latest.ok()) return Fail("export", latest.status());
    if (!*latest) return Fail("export", NotFound(checkpoint_dir + ": no checkpoint"));
    checkpoint = **latest;
  }
  auto ckpt = train::LoadCheckpoint(checkpoint);
  if (!ckpt.ok()) return Fail("export", ckpt.status());
  // The variables must fit the architecture the checkpoint names.
  auto model = nn::Model::Create(ckpt->spec, nn::ModelOptions{});
  if (!model.ok()) return Fail("export", model.status());
  if (Status s = (*model)->LoadParameters(ckpt->variables, checkpoint); !s.ok()) return Fail("export", s);
  options.global_step = ckpt->global_step;
  auto dir = exporter::WriteBundle(options, ckpt->spec, ckpt->variables);
  if (!dir.ok()) return Fail("export", dir.status());
  std::cout << "Exported " << checkpoint << " (global step " << ckpt->global_step << ") to " << *dir
            << std::endl;
  return 0;
}

}  // namespace loom::cli
