"""The run lifecycle and the logic behind each step of the state machines."""
