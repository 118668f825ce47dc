"""The ``conveyor demo`` showcase: a small shop's background work on the embedded store.

`conveyor.demo.tasks` holds the tasks (import it to run them yourself);
`conveyor.demo.run` drives the show. Nothing here is imported by the library.
"""

#: Where the demo keeps its jobs unless told otherwise (relative to the cwd).
DEFAULT_DB = "conveyor-demo.db"
DEFAULT_URL = f"sqlite://{DEFAULT_DB}"
#: The app the demo's workers import.
APP = "conveyor.demo.tasks:app"
