// loom export: the latest checkpoint of a training run as a servable version directory
// (model.json, weights.safetensors, model.onnx), or with --format onnx as one ONNX file, from a
// checkpoint or from an exported bundle.
#include <iostream>

#include "commands.h"
#include "export/bundle.h"
#include "export/onnx.h"
#include "nn/model.h"
#include "train/checkpoint.h"

namespace loom::cli {

int RunExport(const Args& args) {
  std::string checkpoint_dir, checkpoint, format = "bundle", output, bundle_path;
  exporter::ExportOptions options;
  FlagSet flags(
      "loom export --checkpoint_dir DIR --export_dir BASE [--version N]\n"
      "       loom export --format onnx (--checkpoint_dir DIR | --bundle BASE[/VERSION]) --output FILE.onnx");
  flags.String("checkpoint_dir", &checkpoint_dir, "a --train_dir; its latest checkpoint is exported");
  flags.String("checkpoint", &checkpoint, "a checkpoint file to export instead of the latest");
  flags.String("format", &format, "bundle (a version directory, with model.onnx in it) or onnx (one file)");
  flags.String("export_dir", &options.base_path, "base path: the model goes to <export_dir>/<version>");
  flags.Int("version", &options.version, "version number (default: one more than the largest)");
  flags.String("model_name", &options.model_name, "the model's name in model.json");
  flags.String("output", &output, "--format onnx: the file to write");
  flags.String("bundle", &bundle_path, "--format onnx: an exported version (or base path: its latest) to convert");
  std::vector<std::string> positional;
  int code = 0;
  if (!ParseFlagsOrExit(flags, args, &positional, "export", &code)) return code;
  if (!flags.IsSet("version")) options.version = -1;
  if (format != "bundle" && format != "onnx")
    return Fail("export", InvalidArgument("--format: want bundle or onnx, got \"" + format + "\""));
  const bool onnx = format == "onnx";
  if (onnx && output.empty()) return Fail("export", InvalidArgument("--output: must be set with --format onnx"));
  if (!onnx && options.base_path.empty()) return Fail("export", InvalidArgument("--export_dir: must be set"));
  if (!onnx && !bundle_path.empty())
    return Fail("export", InvalidArgument("--bundle: only with --format onnx (a bundle already has model.onnx)"));

  nn::ModelSpec spec;
  std::vector<nn::NamedTensor> weights;
  exporter::OnnxOptions onnx_options;
  onnx_options.graph_name = options.model_name;
  if (!bundle_path.empty()) {
    if (!checkpoint.empty() || !checkpoint_dir.empty())
      return Fail("export", InvalidArgument("--bundle: give it or a checkpoint, not both"));
    auto bundle = exporter::ReadBundle(bundle_path);
    if (!bundle.ok()) return Fail("export", bundle.status());
    spec = std::move(bundle->spec);
    weights = std::move(bundle->weights);
    onnx_options.model_version = bundle->version;
    onnx_options.global_step = bundle->model_json.value("global_step", int64_t{0});
    onnx_options.graph_name = bundle->model_json.value("name", options.model_name);
    checkpoint = bundle->path;
  } else {
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
    spec = std::move(ckpt->spec);
    weights = std::move(ckpt->variables);
    options.global_step = onnx_options.global_step = ckpt->global_step;
  }
  if (onnx) {
    if (Status s = exporter::WriteOnnx(output, spec, weights, onnx_options); !s.ok()) return Fail("export", s);
    std::cout << "Exported " << checkpoint << " (global step " << onnx_options.global_step << ") to " << output
              << " (ONNX, opset " << exporter::kOnnxOpset << ")" << std::endl;
    return 0;
  }
  auto dir = exporter::WriteBundle(options, spec, weights);
  if (!dir.ok()) return Fail("export", dir.status());
  std::cout << "Exported " << checkpoint << " (global step " << options.global_step << ") to " << *dir
            << std::endl;
  return 0;
}

}  // namespace loom::cli
