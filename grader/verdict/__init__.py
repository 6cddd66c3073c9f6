"""Code that decides points: parse logs, check hidden-test outputs, score a rubric. Never imports the
sandbox, the steps or the batch."""
