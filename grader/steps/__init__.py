"""One submission on the host: intake, workspace, assets, hidden tests' host side, the pipeline of steps."""
