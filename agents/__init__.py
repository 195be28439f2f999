"""Agent roles, their prompts and structured outputs, tool backends, and the LLM client
factory (:mod:`agents.llm`) every role uses to reach its OpenAI-compatible server."""
