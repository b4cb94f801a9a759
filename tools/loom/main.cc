// loom: one binary, one subcommand per stage of the pipeline.
#include <cstdio>
#include <cstring>
#include <string>

#include "commands.h"

namespace {

struct Command {
  const char* name;
  int (*run)(const loom::cli::Args&);
  const char* summary;
};

constexpr Command kCommands[] = {
    {"train", loom::cli::RunTrain, "train a model (mnist_replica.py flags)"},
    {"export", loom::cli::RunExport, "export a checkpoint as a servable version"},
    {"eval", loom::cli::RunEval, "print an exported model's test accuracy"},
    {"data", loom::cli::RunData, "copy, list, delete and cache objects (paths, file://, s3://)"},
    {"serve", loom::cli::RunServe, "serve exported models (TF Serving's REST API)"},
    {"predict", loom::cli::RunPredict, "the mnist client: test images to a model server"},
    {"job", loom::cli::RunJob, "run a TFJob locally: run, get, list, logs, delete"},
#ifdef LOOM_HAVE_WORKFLOW
    {"workflow", loom::cli::RunWorkflow, "Argo workflows: submit, list, get, logs, wait, stop, retry... (alias wf)"},
    {"wf", loom::cli::RunWorkflow, "alias of workflow"},
    {"template", loom::cli::RunTemplate, "WorkflowTemplates: create, list, get, delete"},
    {"demo", loom::cli::RunDemo, "the seed's whole pipeline as one workflow, on embedded defaults"},
#endif
#ifdef LOOM_HAVE_SERVER
    {"server", loom::cli::RunServer, "the web UI and API (workflows, training curves, jobs, models)"},
#endif
};

void Usage(FILE* out) {
  fprintf(out, "usage: loom <command> [flags]\n\ncommands:\n");
  for (const Command& c : kCommands) fprintf(out, "  %-10s %s\n", c.name, c.summary);
  fprintf(out, "\n'loom <command> --help' lists a command's flags.\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    Usage(stderr);
    return 2;
  }
  std::string name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    Usage(stdout);
    return 0;
  }
  for (const Command& c : kCommands) {
    if (name == c.name) return c.run(loom::cli::Args(argv + 2, argv + argc));
  }
  fprintf(stderr, "loom: unknown command \"%s\"\n", name.c_str());
  Usage(stderr);
  return 2;
}
