"""Exit codes a step uses to tell the host why it stopped itself: the contract between code
that runs in the sandbox and the host that reads its result."""

# A step that stops itself at a limit of its own (the notebook executor at a cell's CPU-time
# limit) exits with this code: the pipeline reports it as a timeout, like `timeout(1)` does.
STEP_LIMIT_EXIT = 124
# ... and with this one when only its wall-clock backstop fired: worth one more run.
STEP_BACKSTOP_EXIT = 75
