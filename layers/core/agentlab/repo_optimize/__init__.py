"""The repo_optimize workflow: connected repositories, their detected commands, checkout and the baseline."""
