"""LangGraph graphs wiring the agents: API synthesis, dialogue simulation, validation."""
