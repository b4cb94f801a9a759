#include "workflow/engine.h"

namespace loom::workflow {

class Engine::Impl {};

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;

StatusOr<std::unique_ptr<Engine>> Engine::Create(const EngineOptions& options) {
  return Unimplemented("workflow engine: being written (issue 6)");
}
StatusOr<std::string> Engine::Submit(const Json&, const SubmitOptions&) { return Unimplemented("Submit"); }
Status Engine::Run(const std::string&) { return Unimplemented("Run"); }
void Engine::RequestShutdown() {}
Status Engine::Stop(const std::string&) { return Unimplemented("Stop"); }
Status Engine::Terminate(const std::string&) { return Unimplemented("Terminate"); }
Status Engine::Resume(const std::string&) { return Unimplemented("Resume"); }
Status Engine::Suspend(const std::string&) { return Unimplemented("Suspend"); }
StatusOr<std::string> Engine::Retry(const std::string&) { return Unimplemented("Retry"); }
StatusOr<std::string> Engine::Resubmit(const std::string&) { return Unimplemented("Resubmit"); }

std::string NodeId(const std::string& workflow, const std::string& node_name) {
  if (node_name == workflow) return workflow;
  uint32_t h = 2166136261u;
  for (unsigned char c : node_name) {
    h ^= c;
    h *= 16777619u;
  }
  return workflow + "-" + std::to_string(h);
}

bool IsCompletedPhase(const std::string& phase) {
  return phase == "Succeeded" || phase == "Failed" || phase == "Error" || phase == "Skipped" ||
         phase == "Omitted";
}

}  // namespace loom::workflow
