"""One module per command of ``python -m checks``; none of them imports the CLI."""

# command name -> (module in this package, function); a module loads only when its command runs
COMMANDS = {
    "list": ("status", "list_command"),
    "hint": ("status", "hint_command"),
    "watch": ("watch", "watch_command"),
    "reset": ("reset", "reset_command"),
    "db": ("db", "db_command"),
    "grade": ("grade", "grade_command"),
    "gradescope-bundle": ("gradescope", "bundle_command"),
}
