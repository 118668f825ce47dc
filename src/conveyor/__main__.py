"""``python -m conveyor``: the command line without relying on the installed script.

Worker supervisors start their children this way, so a child always runs the
same interpreter and package as its parent.
"""

from conveyor.cli import main

if __name__ == "__main__":
    main()
