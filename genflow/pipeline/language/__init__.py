"""The builtin requirements language: how a prompt in plain words becomes a spec. Its
modules are numbered as parts in their docstrings, from words to readings applied."""
