"""One module per CLI verb; cli.py only parses options and calls these."""
