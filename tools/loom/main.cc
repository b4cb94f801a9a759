// loom: one binary, one subcommand per stage of the pipeline.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "commands.h"

namespace {

struct Command {
  const char* name;
  int (*run)(const loom::cli::Args&);
  const char* summary;
  const char* verbs = "";  // its subcommands, each with its own flags (for `loom help --markdown`)
  bool alias = false;      // another name of the command before it (left out of the reference)
};

constexpr Command kCommands[] = {
    {"train", loom::cli::RunTrain, "train a model (mnist_replica.py flags)"},
    {"export", loom::cli::RunExport, "export a checkpoint as a servable version"},
    {"eval", loom::cli::RunEval, "print an exported model's test accuracy"},
    {"data", loom::cli::RunData, "copy, list, delete and cache objects (paths, file://, s3://)"},
    {"serve", loom::cli::RunServe, "serve exported models (TF Serving's gRPC and REST APIs)"},
    {"predict", loom::cli::RunPredict, "the mnist client: test images to a model server"},
    {"job", loom::cli::RunJob, "run a TFJob, PyTorchJob or TrainJob locally: run, get, list, logs, delete",
     "run get list logs delete"},
    {"runtime", loom::cli::RunRuntime, "Trainer's TrainingRuntimes for TrainJobs: apply, list, get, delete",
     "apply list get delete"},
    {"image", loom::cli::RunImage, "build loom:latest offline (buildah: this binary, its libraries, busybox)", "build"},
    {"secret", loom::cli::RunSecret, "Secrets for pods' secretKeyRef and envFrom: create, list, get, delete",
     "create list get delete"},
    {"configmap", loom::cli::RunConfigMap, "ConfigMaps for configMapKeyRef and envFrom: create, list, get, delete",
     "create list get delete"},
    {"apply", loom::cli::RunApply, "create or update the objects of a file (kubectl apply -f): any kind Loom keeps"},
    {"delete", loom::cli::RunDelete, "delete the objects of a file (kubectl delete -f)"},
#ifdef LOOM_HAVE_WORKFLOW
    {"workflow", loom::cli::RunWorkflow, "Argo workflows: submit, list, get, logs, wait, stop, retry... (alias wf)",
     "submit list get logs wait stop terminate suspend resume retry resubmit delete lint run"},
    {"wf", loom::cli::RunWorkflow, "alias of workflow", "", true},
    {"template", loom::cli::RunTemplate, "WorkflowTemplates: create, list, get, delete", "create list get delete"},
    {"cron", loom::cli::RunCron, "CronWorkflows, run by loom server: create, list, get, delete, suspend, resume",
     "create list get delete suspend resume"},
    {"cluster-template", loom::cli::RunClusterTemplate, "ClusterWorkflowTemplates: create, list, get, delete",
     "create list get delete"},
    {"demo", loom::cli::RunDemo, "Kubeflow's MNIST pipeline end to end as one workflow, on embedded defaults"},
#endif
#ifdef LOOM_HAVE_SERVER
    {"server", loom::cli::RunServer, "the web UI and API (workflows, training curves, jobs, models)"},
#endif
    {"version", loom::cli::RunVersion, "print the version, commit, build type and libraries (also --version)"},
};

void Usage(FILE* out) {
  fprintf(out, "usage: loom <command> [flags]\n\ncommands:\n");
  for (const Command& c : kCommands) fprintf(out, "  %-16s %s\n", c.name, c.summary);
  fprintf(out, "\n'loom <command> --help' lists a command's flags; 'loom help --markdown' all of them.\n");
}

// `loom help --markdown`: docs/cli.md, every command's flag table as its --help gives it.
// Defaults that come from the environment are shown by where they come from, not by this
// machine's values, so the reference is the same wherever it is generated.
int MarkdownReference() {
  loom::cli::SetHelpMarkdown(true);
  setenv("LOOM_HOME", "$LOOM_HOME", 1);
  setenv("LOOM_MNIST_DIR", "$LOOM_MNIST_DIR", 1);
  unsetenv("LOOM_JOBS_DIR");
  unsetenv("TF_CONFIG");
  printf("# loom command reference\n\n"
         "Generated from the flag tables by `loom help --markdown` (regenerate with\n"
         "`build/loom help --markdown > docs/cli.md`; a test fails when this file is not current).\n"
         "Every command also takes `--help`. Exit codes: 0 success, 1 failure, 2 bad usage.\n");
  for (const Command& c : kCommands) {
    if (c.alias) continue;
    printf("\n## loom %s\n\n%s.\n\n", c.name, c.summary);
    fflush(stdout);
    if (*c.verbs == '\0') {
      c.run({"--help"});
      continue;
    }
    printf("```text\n");
    fflush(stdout);
    c.run({"--help"});
    printf("```\n");
    std::string verbs = c.verbs;
    for (size_t start = 0; start < verbs.size();) {
      size_t end = verbs.find(' ', start);
      if (end == std::string::npos) end = verbs.size();
      const std::string verb = verbs.substr(start, end - start);
      printf("\n### loom %s %s\n\n", c.name, verb.c_str());
      fflush(stdout);
      c.run({verb, "--help"});
      start = end + 1;
    }
  }
  fflush(stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    Usage(stderr);
    return 2;
  }
  std::string name = argv[1];
  if (name == "help" && argc == 3 && std::strcmp(argv[2], "--markdown") == 0) return MarkdownReference();
  if (name == "--help" || name == "-h" || name == "help") {
    Usage(stdout);
    return 0;
  }
  if (name == "--version") return loom::cli::RunVersion(loom::cli::Args(argv + 2, argv + argc));
  for (const Command& c : kCommands) {
    if (name == c.name) return c.run(loom::cli::Args(argv + 2, argv + argc));
  }
  fprintf(stderr, "loom: unknown command \"%s\"\n", name.c_str());
  Usage(stderr);
  return 2;
}
