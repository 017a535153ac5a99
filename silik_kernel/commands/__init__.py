"""The command language of silik cells: each command declared once (parser,
help, completion, help.md), the built-in commands, plugins and fan-out."""
