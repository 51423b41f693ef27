"""The `p2c` command line: `main` (the parser and the sub-command dispatch) and one module per sub-command.

Command modules parse arguments, call the package and print; the work itself lives in the package.
"""
