"""The memory governor: probe, pure state machine, cleanup actions, and the supervisor
that applies them to a running consumer (pause, flush, commit, clean, resume)."""
