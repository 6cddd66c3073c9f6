"""Code that runs inside the sandbox, beside student code. Imports nothing of the host side of grader."""
