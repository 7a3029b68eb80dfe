"""The builtin, offline, deterministic implementation of the four stages."""
