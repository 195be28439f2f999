"""Agent roles, their prompts and structured outputs, tool backends, and the LLM client
factory (:mod:`agents.chat_models`) every role uses to reach its OpenAI-compatible server."""
